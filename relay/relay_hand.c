/*
 * Handoff between fronts (D43).  With PREFORK fronts, the kernel spreads
 * connections over their listening sockets without regard to who the
 * client is, and behind a proxy it cannot know.  Per-IP limits are only
 * exact if one front sees every socket of an address, so each address has
 * an owner (OWNER_OF, which the kernel's steering program follows too, so
 * that direct connections rarely need this), and a front that reads an
 * upgrade for an address it does not own passes the connection there: the
 * descriptor, the bytes read so far and the handshake's deadline, in one
 * SOCK_SEQPACKET datagram.  The owner admits it as if it had accepted it.
 * Requests that are not upgrades are answered where they arrive.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "relay.h"

#define HAND_DATA_MAX	(HTTP_HEAD_MAX + RELAY_READ_MAX)
#define HAND_BATCH	64	/* datagrams per wakeup */

struct hand_msg {
	struct ipkey	 hm_peer;	/* the TCP peer, as accepted */
	uint8_t		 hm_pad[7];
	uint64_t	 hm_deadline;	/* the handshake's, mono_ms() */
	uint32_t	 hm_headlen;
	uint32_t	 hm_len;	/* head and what followed it */
};

/* Room for one descriptor, aligned for a cmsghdr. */
union hand_cmsg {
	struct cmsghdr	 hdr;
	uint8_t		 buf[CMSG_SPACE(sizeof(int))];
};

static int	 relay_hand_send(struct conn *, uint32_t, const uint8_t *,
		    size_t, size_t);
static ssize_t	 relay_hand_sendmsg(int, const struct msghdr *);
static void	 relay_hand_writable(evutil_socket_t, short, void *);
static void	 relay_hand_failed(uint32_t);
static void	 relay_hand_recv(evutil_socket_t, short, void *);
static ssize_t	 relay_hand_read(int, int *);
static int	 relay_hand_one(int);

/* Indexed by front; our own index has no socket (-1). */
static struct {
	uint32_t	 h_count;	/* fronts */
	uint32_t	 h_mul;		/* OWNER_OF()'s secret */
	int		 h_fd[PREFORK_MAX];
	struct event	 h_ev[PREFORK_MAX];	/* datagrams to read */
	struct event	 h_wev[PREFORK_MAX];	/* room to send, awaited */
	uint32_t	 h_waiting[PREFORK_MAX];	/* connections waiting */
	uint64_t	 h_failed;	/* since the last log line */
	uint64_t	 h_logged;	/* when that was, mono_ms() */
	int		 h_testfail;	/* regress: the owner is gone */
	uint32_t	 h_testagain;	/* regress: so many EAGAINs first */
} hand;

/* Datagrams land here; the head is parsed where it lies. */
static uint8_t	 hand_buf[sizeof(struct hand_msg) + HAND_DATA_MAX];

void
relay_hand_init(const struct front_setup *fu)
{
	uint32_t	 i;

	hand.h_count = fu->fu_count;
	hand.h_mul = fu->fu_ownermul;
#ifdef DR_TESTHOOKS
	hand.h_testfail = getenv("DR_TEST_HANDOFF_FAIL") != NULL;
	if (getenv("DR_TEST_HANDOFF_EAGAIN") != NULL)
		hand.h_testagain = strtoul(getenv("DR_TEST_HANDOFF_EAGAIN"),
		    NULL, 10);
#endif
	for (i = 0; i < PREFORK_MAX; i++) {
		hand.h_fd[i] = i < hand.h_count ? fu->fu_hand[i] : -1;
		if (hand.h_fd[i] == -1)
			continue;
		event_assign(&hand.h_ev[i], front->f_base, hand.h_fd[i],
		    EV_READ | EV_PERSIST, relay_hand_recv, NULL);
		event_assign(&hand.h_wev[i], front->f_base, hand.h_fd[i],
		    EV_WRITE, relay_hand_writable, (void *)(uintptr_t)i);
		if (event_add(&hand.h_ev[i], NULL) == -1)
			fatalx("%s: event_add", __func__);
	}
}

/* Handoffs that arrive from now on are dropped: we are leaving too. */
void
relay_hand_shutdown(void)
{
	uint32_t	 i;

	for (i = 0; i < PREFORK_MAX; i++) {
		if (hand.h_fd[i] == -1)
			continue;
		event_del(&hand.h_ev[i]);
		event_del(&hand.h_wev[i]);
	}
}

uint32_t
relay_hand_owner(const struct ipkey *ik)
{
	if (hand.h_count <= 1)
		return (0);
	return (addr_owner(ik, hand.h_mul, hand.h_count));
}

/*
 * Send c to front `to' and forget it here.  A full queue makes it wait
 * (unread, its bytes kept) until the owner's socket has room, in order
 * with any others waiting for that front; its handshake deadline still
 * runs.  If the datagram cannot go at all (the owner is gone), the client
 * hears 503: better than admitting it where its limits are not kept.
 */
void
relay_hand_off(struct conn *c, uint32_t to, const uint8_t *buf,
    size_t headlen, size_t len)
{
	if (to >= hand.h_count || hand.h_fd[to] == -1 || len > HAND_DATA_MAX ||
	    c->c_in != NULL)
		fatalx("%s: front %u, %zu bytes", __func__, to, len);
	if (hand.h_waiting[to] == 0) {
		switch (relay_hand_send(c, to, buf, headlen, len)) {
		case 0:
			relay_close(c, "handed over");
			return;
		case -1:
			relay_hand_failed(to);
			relay_http_answer(c, 503, NULL);
			return;
		}
	}
	rbuf_add(&c->c_in, buf, len);
	c->c_handto = to;
	c->c_headlen = headlen;
	c->c_flags |= CF_HANDWAIT;
	event_del(&c->c_ev);
	if (hand.h_waiting[to]++ == 0 && event_add(&hand.h_wev[to], NULL) == -1)
		fatalx("%s: event_add", __func__);
}

/* 0: sent; 1: no room now; -1: it cannot go. */
static int
relay_hand_send(struct conn *c, uint32_t to, const uint8_t *buf,
    size_t headlen, size_t len)
{
	struct hand_msg	 hm;
	struct msghdr	 msg;
	struct iovec	 iov[2];
	struct cmsghdr	*cm;
	union hand_cmsg	 cmsgbuf;
	ssize_t		 n;

	memset(&hm, 0, sizeof(hm));
	hm.hm_peer = c->c_peer;
	hm.hm_deadline = c->c_deadline;
	hm.hm_headlen = headlen;
	hm.hm_len = len;
	iov[0].iov_base = &hm;
	iov[0].iov_len = sizeof(hm);
	iov[1].iov_base = (void *)(uintptr_t)buf;
	iov[1].iov_len = len;
	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &c->c_fd, sizeof(int));

	do {
		n = relay_hand_sendmsg(hand.h_fd[to], &msg);
	} while (n == -1 && errno == EINTR);
	explicit_bzero(&hm, sizeof(hm));
	if (n != -1)
		return (0);
	return (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ?
	    1 : -1);
}

/* sendmsg(2), or what the test hooks make of it. */
static ssize_t
relay_hand_sendmsg(int fd, const struct msghdr *msg)
{
	if (hand.h_testfail) {
		errno = EPIPE;
		return (-1);
	}
	if (hand.h_testagain > 0) {
		hand.h_testagain--;
		errno = EAGAIN;
		return (-1);
	}
	return (sendmsg(fd, msg, MSG_DONTWAIT | MSG_NOSIGNAL));
}

/*
 * Front `to' has room: the connections waiting for it go, oldest first
 * (f_hs is in accept order), until its queue is full again.
 */
static void
relay_hand_writable(evutil_socket_t fd, short events, void *arg)
{
	struct conn	*c, *next;
	uint32_t	 to = (uint32_t)(uintptr_t)arg;
	int		 rv;

	for (c = TAILQ_FIRST(&front->f_hs); c != NULL &&
	    hand.h_waiting[to] > 0; c = next) {
		next = TAILQ_NEXT(c, c_hsentry);
		if (!(c->c_flags & CF_HANDWAIT) || c->c_handto != to)
			continue;
		rv = relay_hand_send(c, to, rbuf_ptr(c->c_in), c->c_headlen,
		    rbuf_len(c->c_in));
		if (rv == 1) {
			if (event_add(&hand.h_wev[to], NULL) == -1)
				fatalx("%s: event_add", __func__);
			return;
		}
		relay_hand_forget(c);
		rbuf_free(&c->c_in);
		if (rv == 0) {
			relay_close(c, "handed over");
			continue;
		}
		relay_hand_failed(to);
		if (event_add(&c->c_ev, NULL) == -1)
			fatalx("%s: event_add", __func__);
		relay_http_answer(c, 503, NULL);
	}
}

/* c no longer waits: handed over, timed out, dropped or shut down. */
void
relay_hand_forget(struct conn *c)
{
	uint32_t	 to = c->c_handto;

	if (!(c->c_flags & CF_HANDWAIT))
		return;
	c->c_flags &= ~CF_HANDWAIT;
	if (to >= hand.h_count || hand.h_waiting[to] == 0)
		fatalx("%s: front %u", __func__, to);
	if (--hand.h_waiting[to] == 0)
		event_del(&hand.h_wev[to]);
}

/* A burst of failures is one log line a second, with its count. */
static void
relay_hand_failed(uint32_t to)
{
	uint64_t	 now = mono_ms();
	int		 saved = errno;

	hand.h_failed++;
	if (now - hand.h_logged < 1000)
		return;
	errno = saved;
	log_warn("handoff to front%u failed (%llu since the last report), "
	    "answered 503", to, (unsigned long long)hand.h_failed);
	hand.h_failed = 0;
	hand.h_logged = now;
}

static void
relay_hand_recv(evutil_socket_t fd, short events, void *arg)
{
	int	 i;

	for (i = 0; i < HAND_BATCH; i++)
		if (relay_hand_one(fd) == -1)
			return;
}

/*
 * Receive one datagram into hand_buf and the descriptor it carries (-1 if
 * the kernel had to drop it).  Returns its length, 0 to try again, -1 when
 * there are no more.  Fronts are our own processes: a datagram of the
 * wrong shape is a bug, and fatal, as on any IPC.
 */
static ssize_t
relay_hand_read(int fd, int *s)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	union hand_cmsg	 cmsgbuf;
	ssize_t		 n;

	*s = -1;
	iov.iov_base = hand_buf;
	iov.iov_len = sizeof(hand_buf);
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	if ((n = recvmsg(fd, &msg, MSG_DONTWAIT)) == -1) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return (errno == EINTR ? 0 : -1);
		fatal("%s: recvmsg", __func__);
	}
	if (n == 0)
		fatalx("%s: a front closed its handoff socket", __func__);
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)) && *s == -1)
			memcpy(s, CMSG_DATA(cm), sizeof(int));
		else
			fatalx("%s: unexpected control message", __func__);
	if ((size_t)n < sizeof(struct hand_msg) || (msg.msg_flags & MSG_TRUNC))
		fatalx("%s: short or truncated datagram", __func__);
	if (*s == -1)
		log_warnx("%s: a handed connection was lost (%s)", __func__,
		    (msg.msg_flags & MSG_CTRUNC) ? "no descriptor left" :
		    "no descriptor");
	return (n);
}

/* One datagram: -1 when there are no more. */
static int
relay_hand_one(int fd)
{
	struct hand_msg	 hm;
	struct conn	*c;
	ssize_t		 n;
	int		 s;

	if ((n = relay_hand_read(fd, &s)) <= 0)
		return (n);
	memcpy(&hm, hand_buf, sizeof(hm));
	if (hm.hm_len != (size_t)n - sizeof(hm) || hm.hm_headlen == 0 ||
	    hm.hm_headlen > hm.hm_len || hm.hm_headlen > HTTP_HEAD_MAX ||
	    (hm.hm_peer.ik_family != AF_INET &&
	    hm.hm_peer.ik_family != AF_INET6))
		fatalx("%s: malformed handoff", __func__);
	if (s != -1 && front->f_shutdown)
		close(s);
	else if (s != -1) {
		c = relay_conn_make(s, &hm.hm_peer, hm.hm_deadline);
		c->c_flags |= CF_ADOPTED;
		relay_http_head(c, hand_buf + sizeof(hm), hm.hm_headlen,
		    hm.hm_len);
	}
	explicit_bzero(hand_buf, n);
	explicit_bzero(&hm, sizeof(hm));
	return (0);
}
