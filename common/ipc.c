/*
 * imsg-shaped IPC between the daemon's processes: a fixed header (type,
 * payload length, peer id) and a bounded payload, over a socketpair driven
 * by a bufferevent.  Writes only append to the output buffer, so everything
 * sent in one event-loop turn leaves in one write(2).
 */

#include <sys/types.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common.h"

static void	ipc_input(struct ipc_peer *, struct evbuffer *);
static ssize_t	ipc_input_flat(struct ipc_peer *, const uint8_t *, size_t);
static void	ipc_malformed(struct ipc_peer *, const struct ipc_hdr *);
static void	ipc_gone(struct ipc_peer *, short);
static void	ipc_readcb(struct bufferevent *, void *);
static void	ipc_readev(evutil_socket_t, short, void *);
static void	ipc_writecb(struct bufferevent *, void *);
static void	ipc_eventcb(struct bufferevent *, short, void *);
static void	ipc_flushcb(evutil_socket_t, short, void *);

void
ipc_encode_hdr(uint8_t *buf, uint32_t type, uint32_t len, uint64_t peerid)
{
	memcpy(buf, &type, sizeof(type));
	memcpy(buf + 4, &len, sizeof(len));
	memcpy(buf + 8, &peerid, sizeof(peerid));
}

/*
 * Decode the header at the start of buf.  Returns 1 when a whole message
 * is there, 0 when more bytes are needed and -1 when the header cannot be
 * valid (type 0 or a payload over the maximum).
 */
int
ipc_decode(const uint8_t *buf, size_t len, struct ipc_hdr *hdr)
{
	if (len < IPC_HDR_SIZE)
		return (0);
	memcpy(&hdr->ih_type, buf, sizeof(hdr->ih_type));
	memcpy(&hdr->ih_len, buf + 4, sizeof(hdr->ih_len));
	memcpy(&hdr->ih_peerid, buf + 8, sizeof(hdr->ih_peerid));
	if (hdr->ih_type == 0 || hdr->ih_len > IPC_MAX_PAYLOAD)
		return (-1);
	if (len - IPC_HDR_SIZE < hdr->ih_len)
		return (0);
	return (1);
}

void
ipc_peer_init(struct ipc_peer *p, struct event_base *base, int fd,
    const char *name, ipc_dispatch_fn dispatch, void *arg)
{
	memset(p, 0, sizeof(*p));
	p->ip_name = name;
	p->ip_dispatch = dispatch;
	p->ip_arg = arg;
	p->ip_buf = xmalloc(IPC_MAX_PAYLOAD);
	if (evutil_make_socket_nonblocking(fd) == -1)
		fatal("%s: nonblocking", __func__);
	p->ip_bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (p->ip_bev == NULL)
		fatalx("%s: bufferevent_socket_new", __func__);
	bufferevent_setcb(p->ip_bev, ipc_readcb, NULL, ipc_eventcb, p);
	if (bufferevent_enable(p->ip_bev, EV_READ | EV_WRITE) == -1)
		fatalx("%s: bufferevent_enable", __func__);
}

void
ipc_peer_free(struct ipc_peer *p)
{
	if (p->ip_flushev != NULL)
		event_free(p->ip_flushev);
	if (p->ip_readev != NULL)
		event_free(p->ip_readev);
	if (p->ip_in != NULL)
		evbuffer_free(p->ip_in);
	if (p->ip_bev != NULL)
		bufferevent_free(p->ip_bev);
	free(p->ip_rbuf);
	free(p->ip_buf);
	p->ip_flushev = p->ip_readev = NULL;
	p->ip_in = NULL;
	p->ip_bev = NULL;
	p->ip_rbuf = p->ip_buf = NULL;
}

/*
 * The busy channel (front and matcher): what one event-loop turn queued
 * is written at the end of that turn, in one writev(2), from an active
 * event.  The bufferevent's own way, arming EV_WRITE for the next turn
 * and disarming it once drained, costs two epoll_ctl(2) and one more
 * epoll_wait(2) each time.  It still writes what the socket would not
 * take at once, and reports errors.  Reading is ours too: the
 * bufferevent asks ioctl(FIONREAD) before every read(2), and copies every
 * message through its buffer; we read into a fixed buffer and keep only
 * a message cut short by the end of a read.
 */
void
ipc_peer_batch(struct ipc_peer *p)
{
	struct event_base	*base = bufferevent_get_base(p->ip_bev);

	p->ip_flushev = event_new(base, -1, 0, ipc_flushcb, p);
	p->ip_readev = event_new(base, bufferevent_getfd(p->ip_bev),
	    EV_READ | EV_PERSIST, ipc_readev, p);
	if (p->ip_flushev == NULL || p->ip_readev == NULL)
		fatalx("%s: event_new", __func__);
	if ((p->ip_in = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	p->ip_rbuf = xmalloc(IPC_READ_MAX);
	bufferevent_setcb(p->ip_bev, ipc_readcb, ipc_writecb, ipc_eventcb, p);
	if (bufferevent_disable(p->ip_bev, EV_READ | EV_WRITE) == -1)
		fatalx("%s: bufferevent_disable", __func__);
	if (event_add(p->ip_readev, NULL) == -1)
		fatalx("%s: event_add", __func__);
}

static void
ipc_readev(evutil_socket_t fd, short events, void *arg)
{
	struct ipc_peer	*p = arg;
	ssize_t		 n, used;

	n = read(fd, p->ip_rbuf, IPC_READ_MAX);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		ipc_gone(p, n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR);
		return;
	}
	if (evbuffer_get_length(p->ip_in) > 0) {
		if (evbuffer_add(p->ip_in, p->ip_rbuf, (size_t)n) == -1)
			fatalx("%s: evbuffer_add", __func__);
		ipc_input(p, p->ip_in);
		return;
	}
	if ((used = ipc_input_flat(p, p->ip_rbuf, (size_t)n)) == -1 ||
	    used == n)
		return;
	if (evbuffer_add(p->ip_in, p->ip_rbuf + used, (size_t)(n - used)) ==
	    -1)
		fatalx("%s: evbuffer_add", __func__);
}

/*
 * Dispatch the whole messages at the start of buf.  Returns their bytes,
 * or -1 if the peer is gone (buf with it).
 */
static ssize_t
ipc_input_flat(struct ipc_peer *p, const uint8_t *buf, size_t len)
{
	struct ipc_hdr	 hdr;
	size_t		 off = 0;
	int		 r;

	while ((r = ipc_decode(buf + off, len - off, &hdr)) == 1) {
		memcpy(p->ip_buf, buf + off + IPC_HDR_SIZE, hdr.ih_len);
		off += IPC_HDR_SIZE + hdr.ih_len;
		p->ip_dispatch(p, &hdr, p->ip_buf, p->ip_arg);
		if (p->ip_bev == NULL)
			return (-1);
	}
	if (r == -1) {
		ipc_malformed(p, &hdr);
		return (-1);
	}
	return ((ssize_t)off);
}

static void
ipc_flushcb(evutil_socket_t fd, short events, void *arg)
{
	struct ipc_peer	*p = arg;
	struct evbuffer	*out;

	p->ip_flushq = 0;
	/* A write that blocked is being finished by the bufferevent. */
	if (p->ip_bev == NULL ||
	    (bufferevent_get_enabled(p->ip_bev) & EV_WRITE))
		return;
	out = bufferevent_get_output(p->ip_bev);
	if (evbuffer_get_length(out) == 0)
		return;
	/* A bufferevent keeps the start of its output frozen. */
	evbuffer_unfreeze(out, 1);
	(void)evbuffer_write(out, bufferevent_getfd(p->ip_bev));
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out) > 0 &&
	    bufferevent_enable(p->ip_bev, EV_WRITE) == -1)
		fatalx("%s: bufferevent_enable", __func__);
}

/* A batching peer's output has drained: back to ipc_flushcb(). */
static void
ipc_writecb(struct bufferevent *bev, void *arg)
{
	if (bufferevent_disable(bev, EV_WRITE) == -1)
		fatalx("%s: bufferevent_disable", __func__);
}

static void
ipc_readcb(struct bufferevent *bev, void *arg)
{
	ipc_input(arg, bufferevent_get_input(bev));
}

/* An untrusted peer is dropped; a sibling that sends garbage is fatal. */
static void
ipc_malformed(struct ipc_peer *p, const struct ipc_hdr *hdr)
{
	if (p->ip_untrusted) {
		log_warnx("%s: malformed message from %s; dropped",
		    __func__, p->ip_name);
		p->ip_lost(p, p->ip_arg);
		return;
	}
	fatalx("%s: malformed message from %s (type %u, length %u)",
	    __func__, p->ip_name, hdr->ih_type, hdr->ih_len);
}

static void
ipc_input(struct ipc_peer *p, struct evbuffer *in)
{
	struct ipc_hdr		 hdr;
	uint8_t			 raw[IPC_HDR_SIZE];
	int			 r;

	while (evbuffer_get_length(in) >= IPC_HDR_SIZE) {
		if (evbuffer_copyout(in, raw, sizeof(raw)) != sizeof(raw))
			fatalx("%s: %s: short copy", __func__, p->ip_name);
		/* Length check first, with only the header's bytes. */
		r = ipc_decode(raw, sizeof(raw), &hdr);
		if (r == -1) {
			ipc_malformed(p, &hdr);
			return;
		}
		if (evbuffer_get_length(in) < IPC_HDR_SIZE + hdr.ih_len)
			return;
		evbuffer_drain(in, IPC_HDR_SIZE);
		if (hdr.ih_len > 0 &&
		    evbuffer_remove(in, p->ip_buf, hdr.ih_len) !=
		    (int)hdr.ih_len)
			fatalx("%s: %s: short read", __func__, p->ip_name);
		p->ip_dispatch(p, &hdr, p->ip_buf, p->ip_arg);
		if (p->ip_bev == NULL)
			return;
	}
}

static void
ipc_eventcb(struct bufferevent *bev, short what, void *arg)
{
	ipc_gone(arg, what);
}

static void
ipc_gone(struct ipc_peer *p, short what)
{
	if (p->ip_lost != NULL) {
		p->ip_lost(p, p->ip_arg);
		return;
	}
	if (what & BEV_EVENT_EOF)
		fatalx("lost connection to %s", p->ip_name);
	fatal("error on the connection to %s", p->ip_name);
}

int
ipc_sendv(struct ipc_peer *p, uint32_t type, uint64_t peerid,
    const void *a, size_t alen, const void *b, size_t blen)
{
	struct evbuffer	*out;
	uint8_t		 hdr[IPC_HDR_SIZE];

	if (p->ip_bev == NULL)
		return (-1);
	if (alen > IPC_MAX_PAYLOAD || blen > IPC_MAX_PAYLOAD - alen)
		fatalx("%s: payload too large for %s (type %u)", __func__,
		    p->ip_name, type);
	out = bufferevent_get_output(p->ip_bev);
	ipc_encode_hdr(hdr, type, (uint32_t)(alen + blen), peerid);
	if (evbuffer_add(out, hdr, sizeof(hdr)) == -1 ||
	    (alen > 0 && evbuffer_add(out, a, alen) == -1) ||
	    (blen > 0 && evbuffer_add(out, b, blen) == -1))
		fatalx("%s: evbuffer_add", __func__);
	if (p->ip_flushev != NULL && !p->ip_flushq) {
		p->ip_flushq = 1;
		event_active(p->ip_flushev, EV_TIMEOUT, 0);
	}
	return (0);
}

int
ipc_send(struct ipc_peer *p, uint32_t type, uint64_t peerid,
    const void *data, size_t len)
{
	return (ipc_sendv(p, type, peerid, data, len, NULL, 0));
}

/* A child whose parent is gone: nobody is left to log to or save for. */
void
ipc_lost_exit(struct ipc_peer *p, void *arg)
{
	ipc_peer_free(p);
	exit(1);
}

/* Write out everything queued, blocking: used just before exiting. */
void
ipc_flush(struct ipc_peer *p)
{
	struct evbuffer	*out;
	struct pollfd	 pfd;
	int		 fd;

	if (p->ip_bev == NULL)
		return;
	out = bufferevent_get_output(p->ip_bev);
	fd = bufferevent_getfd(p->ip_bev);
	/* A bufferevent keeps the start of its output frozen. */
	evbuffer_unfreeze(out, 1);
	while (evbuffer_get_length(out) > 0) {
		if (evbuffer_write(out, fd) != -1)
			continue;
		if (errno != EAGAIN && errno != EINTR)
			break;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 1000) <= 0)
			break;
	}
	evbuffer_freeze(out, 1);
}
