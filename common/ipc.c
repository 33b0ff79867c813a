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

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common.h"

static void	ipc_readcb(struct bufferevent *, void *);
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
	if (p->ip_bev != NULL)
		bufferevent_free(p->ip_bev);
	free(p->ip_buf);
	p->ip_flushev = NULL;
	p->ip_bev = NULL;
	p->ip_buf = NULL;
}

/*
 * The busy channel (front and matcher): what one event-loop turn queued
 * is written at the end of that turn, in one writev(2), from an active
 * event.  The bufferevent's own way, arming EV_WRITE for the next turn
 * and disarming it once drained, costs two epoll_ctl(2) and one more
 * epoll_wait(2) each time.  It still writes what the socket would not
 * take at once, and reports errors.
 */
void
ipc_peer_batch(struct ipc_peer *p)
{
	p->ip_flushev = event_new(bufferevent_get_base(p->ip_bev), -1, 0,
	    ipc_flushcb, p);
	if (p->ip_flushev == NULL)
		fatalx("%s: event_new", __func__);
	bufferevent_setcb(p->ip_bev, ipc_readcb, ipc_writecb, ipc_eventcb, p);
	if (bufferevent_disable(p->ip_bev, EV_WRITE) == -1)
		fatalx("%s: bufferevent_disable", __func__);
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
	struct ipc_peer		*p = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct ipc_hdr		 hdr;
	uint8_t			 raw[IPC_HDR_SIZE];
	int			 r;

	while (evbuffer_get_length(in) >= IPC_HDR_SIZE) {
		if (evbuffer_copyout(in, raw, sizeof(raw)) != sizeof(raw))
			fatalx("%s: %s: short copy", __func__, p->ip_name);
		/* Length check first, with only the header's bytes. */
		r = ipc_decode(raw, sizeof(raw), &hdr);
		if (r == -1 && p->ip_untrusted) {
			log_warnx("%s: malformed message from %s; dropped",
			    __func__, p->ip_name);
			p->ip_lost(p, p->ip_arg);
			return;
		}
		if (r == -1)
			fatalx("%s: malformed message from %s (type %u, "
			    "length %u)", __func__, p->ip_name,
			    hdr.ih_type, hdr.ih_len);
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
	struct ipc_peer	*p = arg;

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
