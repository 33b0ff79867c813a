/*
 * What Linux, macOS and the BSDs spell differently, for the agent and its
 * hooks: a socket or pipe that is close-on-exec from the start, accepting
 * without blocking, who is at the other end of a local socket, where this
 * program is installed, going into the background.  Linux takes the first
 * branch of each; the others are what macOS needs (they are also what
 * DR_COMPAT_PORTABLE forces, so they can be built and run on Linux).
 */

#include <sys/types.h>
#include <sys/socket.h>
#ifdef __FreeBSD__
#include <sys/sysctl.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __APPLE__
#include <mach-o/dyld.h>
#endif

#include "client.h"

/*
 * Systems with SOCK_CLOEXEC (Linux, the BSDs) also have accept4() and
 * pipe2(); macOS has none of the three.
 */
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC) && \
    !defined(DR_COMPAT_PORTABLE)
#define COMPAT_ATOMIC_FLAGS	1
#endif

#ifndef COMPAT_ATOMIC_FLAGS
static int	compat_flags(int, int);

/* Close-on-exec, and non-blocking if asked; the fd is closed on failure. */
static int
compat_flags(int fd, int nonblock)
{
	int	fl;

	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 ||
	    (nonblock && ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1))) {
		close(fd);
		return (-1);
	}
	return (fd);
}
#endif

/* A local stream socket, non-blocking and close-on-exec. */
int
sock_local(void)
{
	int	fd;

#ifdef COMPAT_ATOMIC_FLAGS
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#else
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    (fd = compat_flags(fd, 1)) == -1)
		return (-1);
#endif
#ifdef SO_NOSIGPIPE
	{
		int	on = 1;

		/* Where send() has no MSG_NOSIGNAL. */
		setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof(on));
	}
#endif
	return (fd);
}

/* The next connection, non-blocking and close-on-exec; -1 if none. */
int
sock_accept(int lfd)
{
#ifdef COMPAT_ATOMIC_FLAGS
	return (accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
#else
	int	fd;

	/* Nothing runs a program between the two calls: no fd can leak. */
	if ((fd = accept(lfd, NULL, NULL)) == -1)
		return (-1);
	return (compat_flags(fd, 1));
#endif
}

/* The user at the other end of a local socket, as the kernel says. */
int
sock_peer_uid(int fd, uid_t *uid)
{
#if defined(__linux__) && defined(SO_PEERCRED) && \
    !defined(DR_COMPAT_PORTABLE)
	struct ucred	cred;
	socklen_t	len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return (-1);
	if (len != sizeof(cred)) {
		errno = EINVAL;
		return (-1);
	}
	*uid = cred.uid;
	return (0);
#else
	gid_t	gid;

	/* macOS, the BSDs; libbsd on Linux. */
	return (getpeereid(fd, uid, &gid));
#endif
}

int
pipe_cloexec(int p[2])
{
#ifdef COMPAT_ATOMIC_FLAGS
	return (pipe2(p, O_CLOEXEC));
#else
	if (pipe(p) == -1)
		return (-1);
	if (compat_flags(p[0], 0) == -1) {
		close(p[1]);
		return (-1);
	}
	if (compat_flags(p[1], 0) == -1) {
		close(p[0]);
		return (-1);
	}
	return (0);
#endif
}

/*
 * The absolute path of the running program, from the kernel; -1 where it
 * cannot say (OpenBSD, DR_COMPAT_PORTABLE): self_path() then follows
 * argv[0] and PATH.
 */
int
exe_path(char *buf, size_t len)
{
#if defined(__linux__) && !defined(DR_COMPAT_PORTABLE)
	char		tmp[PATH_MAX];
	ssize_t		n;

	if ((n = readlink("/proc/self/exe", tmp, sizeof(tmp) - 1)) <= 0)
		return (-1);
	tmp[n] = '\0';
	if (tmp[0] != '/' || strlcpy(buf, tmp, len) >= len)
		return (-1);
	return (0);
#elif defined(__APPLE__)
	char		tmp[PATH_MAX], real[PATH_MAX];
	uint32_t	size = sizeof(tmp);

	/* The path it was started by: links are resolved here. */
	if (_NSGetExecutablePath(tmp, &size) != 0 ||
	    realpath(tmp, real) == NULL || strlcpy(buf, real, len) >= len)
		return (-1);
	return (0);
#elif defined(__FreeBSD__)
	int	mib[4] = { CTL_KERN, KERN_PROC, KERN_PROC_PATHNAME, -1 };
	size_t	size = len;

	if (sysctl(mib, 4, buf, &size, NULL, 0) == -1 || buf[0] != '/')
		return (-1);
	return (0);
#else
	return (-1);
#endif
}

/* daemon(0, 0): macOS deprecates it, so it is spelled out there. */
int
detach(void)
{
#if !defined(__APPLE__) && !defined(DR_COMPAT_PORTABLE)
	return (daemon(0, 0));
#else
	int	fd;

	switch (fork()) {
	case -1:
		return (-1);
	case 0:
		break;
	default:
		_exit(0);
	}
	if (setsid() == -1 || chdir("/") == -1)
		return (-1);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return (0);
#endif
}

#ifdef __APPLE__
void
compat_closefrom(int lowfd)
{
	int	fd, max = getdtablesize();

	for (fd = lowfd; fd < max; fd++)
		close(fd);
}

/* A store through a volatile pointer is not optimised away. */
void
compat_explicit_bzero(void *p, size_t len)
{
	void	*(*volatile wipe)(void *, int, size_t) = memset;

	wipe(p, 0, len);
}
#endif
