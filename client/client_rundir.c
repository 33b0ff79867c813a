/*
 * Where the agent lives: a private directory (mode 0700, ours, not a
 * link) in $XDG_RUNTIME_DIR, else /tmp/devroulette-UID, holding its lock
 * (with its pid) and its socket (mode 0600).  And the blocking side of
 * the agent's messages, for the hooks and status, which have no event
 * loop: every call is bounded by a deadline.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

/* The directory, made if create is set; -1 if it is not safe to use. */
int
rundir(char *buf, size_t len, int create)
{
	struct stat	 st;
	const char	*xdg = getenv("XDG_RUNTIME_DIR");
	int		 n;

	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(buf, len, "%s/devroulette", xdg);
	else
		n = snprintf(buf, len, "/tmp/devroulette-%lu",
		    (unsigned long)getuid());
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	if (create && mkdir(buf, 0700) == -1 && errno != EEXIST)
		return (-1);
	if (lstat(buf, &st) == -1)
		return (-1);
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 077) != 0) {
		errno = EPERM;
		return (-1);
	}
	return (0);
}

/* name is "agent.sock" or "agent.lock". */
int
rundir_path(char *buf, size_t len, const char *name, int create)
{
	char	dir[PATH_MAX];

	if (rundir(dir, sizeof(dir), create) == -1)
		return (-1);
	if (snprintf(buf, len, "%s/%s", dir, name) >= (int)len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

int
agent_sockaddr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlcpy(sun->sun_path, path, sizeof(sun->sun_path)) >=
	    sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

/* A connected socket to the agent, or -1 (none running).  Never waits. */
int
agent_connect(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	if (agent_sockaddr(&sun, path) == -1)
		return (-1);
	if ((fd = sock_local()) == -1)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Header and payload of one message, in a buffer. */
size_t
agent_encode(uint8_t *buf, size_t len, uint32_t type, const void *data,
    size_t dlen)
{
	if (len < IPC_HDR_SIZE || dlen > len - IPC_HDR_SIZE)
		return (0);
	ipc_encode_hdr(buf, type, (uint32_t)dlen, AGENT_VERSION);
	if (dlen > 0)
		memcpy(buf + IPC_HDR_SIZE, data, dlen);
	return (IPC_HDR_SIZE + dlen);
}

static int
agent_wait(int fd, short events, uint64_t deadline)
{
	struct pollfd	pfd;
	uint64_t	now = mono_ms();
	int		r;

	if (now >= deadline)
		return (-1);
	pfd.fd = fd;
	pfd.events = events;
	r = poll(&pfd, 1, (int)(deadline - now));
	return (r > 0 ? 0 : -1);
}

/* Send all of buf before the deadline, or fail. */
int
agent_write(int fd, const uint8_t *buf, size_t len, uint64_t deadline)
{
	ssize_t	n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			if (agent_wait(fd, POLLOUT, deadline) == -1)
				return (-1);
			continue;
		}
		if (n <= 0)
			return (-1);
		buf += n;
		len -= n;
	}
	return (0);
}

static int
agent_read_all(int fd, uint8_t *buf, size_t len, uint64_t deadline)
{
	ssize_t	n;

	while (len > 0) {
		n = recv(fd, buf, len, MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			if (agent_wait(fd, POLLIN, deadline) == -1)
				return (-1);
			continue;
		}
		if (n <= 0)
			return (-1);
		buf += n;
		len -= n;
	}
	return (0);
}

/*
 * One message: its header in hdr and its payload, NUL-terminated, in buf
 * (len bytes, more than AGENT_MSG_MAX).  -1 on end, error, a message of
 * another version or size, or the deadline.
 */
int
agent_read(int fd, struct ipc_hdr *hdr, uint8_t *buf, size_t len,
    uint64_t deadline)
{
	uint8_t	raw[IPC_HDR_SIZE];

	if (agent_read_all(fd, raw, sizeof(raw), deadline) == -1 ||
	    ipc_decode(raw, sizeof(raw), hdr) == -1 ||
	    hdr->ih_peerid != AGENT_VERSION || hdr->ih_len > AGENT_MSG_MAX ||
	    hdr->ih_len >= len)
		return (-1);
	if (agent_read_all(fd, buf, hdr->ih_len, deadline) == -1)
		return (-1);
	buf[hdr->ih_len] = '\0';
	return (0);
}
