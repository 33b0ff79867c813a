/*
 * The front process: accepts TCP connections, reads the HTTP head, admits
 * or refuses the upgrade, runs every connection's timers and talks to the
 * parent and the matcher (docs/DESIGN.md).  RFC 6455 is in relay_ws.c,
 * the client's messages in relay_client.c.
 *
 * Front-process discipline, as httpd's server.c: a spare descriptor so
 * that EMFILE never wedges accept, a deadline for every phase of a
 * connection, and one teardown, relay_close(), that every error path
 * ends in.  relay_close() only marks a connection dead; it is freed at the
 * end of the event-loop turn, so code deeper in the same turn never holds
 * a dangling pointer.  Output is written at the end of the turn too, so
 * frames queued together (101 and hello, queued and matched, an error and
 * a close) leave in one write(2).
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "relay.h"

#define RELAY_ACCEPT_BATCH	64	/* accept(2) calls per wakeup */
#define RELAY_IDS_MIN		1024
#define RELAY_HS_MIN		1024	/* heads in progress at least (D44) */
#define RELAY_HS_LOG_MS		10000

static void	 relay_limits_init(struct front *, uint32_t);
static void	 relay_accept(evutil_socket_t, short, void *);
static void	 relay_accept_pause(void);
static void	 relay_accept_resume(evutil_socket_t, short, void *);
static void	 relay_conn_new(int, const struct sockaddr_storage *);
static void	 relay_io(evutil_socket_t, short, void *);
static void	 relay_read(struct conn *);
static void	 relay_eof(struct conn *);
static int	 relay_write(struct conn *);
static void	 relay_events(struct conn *, int);
static void	 relay_drained(struct conn *);
static void	 relay_http_input(struct conn *, uint8_t *, size_t);
static void	 relay_admit(struct conn *, const struct http_req *,
		    const struct ipkey *);
static int	 relay_open_take(void);
static void	 relay_hs_evict(void);
static void	 relay_hs_leave(struct conn *);
static void	 relay_open_give(void);
static void	 relay_open(struct conn *, struct ipent *, const char *,
		    size_t);
static void	 relay_timeout(evutil_socket_t, short, void *);
static void	 relay_flush(evutil_socket_t, short, void *);
static void	 relay_sweep(evutil_socket_t, short, void *);
static void	 relay_id_insert(struct conn *);
static void	 relay_id_remove(struct conn *);
static struct conn *relay_id_find(uint64_t);
static void	 relay_dispatch_parent(struct ipc_peer *, struct ipc_hdr *,
		    uint8_t *, void *);
static void	 relay_dispatch_matcher(struct ipc_peer *, struct ipc_hdr *,
		    uint8_t *, void *);
static void	 relay_lost_matcher(struct ipc_peer *, void *);
static void	 relay_shutdown(void);
static void	 relay_down(evutil_socket_t, short, void *);
static void	 relay_exit(void) __attribute__((__noreturn__));
static void	 relay_ms_tv(uint64_t, struct timeval *);

static struct front	 relay_front;
struct front		*front = &relay_front;

/* Every read lands here first; only unfinished frames are copied out. */
static uint8_t		 relay_rbuf[RELAY_READ_MAX];

/* What the matcher may send, with the payload sizes it may have. */
static const struct relay_reply {
	uint32_t	 rr_type;
	const char	*rr_name;
	size_t		 rr_min;
	size_t		 rr_max;
} relay_replies[] = {
	{ IMSG_QUEUED, "QUEUED", sizeof(struct ipc_queued),
	    sizeof(struct ipc_queued) },
	{ IMSG_MATCHED, "MATCHED", sizeof(struct ipc_matched),
	    sizeof(struct ipc_matched) },
	{ IMSG_RELAY, "RELAY", 1, IPC_TEXT_MAX },
	{ IMSG_ENDED, "ENDED", sizeof(struct ipc_ended),
	    sizeof(struct ipc_ended) },
	{ IMSG_INSIGHTS_REPLY, "INSIGHTS_REPLY", sizeof(struct ipc_insights),
	    sizeof(struct ipc_insights) },
	{ IMSG_ERROR, "ERROR", sizeof(struct ipc_error),
	    sizeof(struct ipc_error) }
};

#define RELAY_NREPLIES	(sizeof(relay_replies) / sizeof(relay_replies[0]))

void
relay_main(const struct settings *conf, const struct front_setup *fu)
{
	struct front	*f = front;
	struct ipkey	 ik;
	struct timeval	 tv;
	int		 fd_listen = fu->fu_listen;

	f->f_conf = conf;
	f->f_lfd = fd_listen;
	f->f_index = fu->fu_index;
	f->f_shared = fu->fu_shared;
	TAILQ_INIT(&f->f_conns);
	TAILQ_INIT(&f->f_flushq);
	TAILQ_INIT(&f->f_reapq);
	TAILQ_INIT(&f->f_hs);

	if ((f->f_base = event_base_new()) == NULL)
		fatalx("%s: event_base_new", __func__);
	ipc_peer_init(&f->f_parent, f->f_base, fu->fu_parent, "parent",
	    relay_dispatch_parent, f);
	f->f_parent.ip_lost = ipc_lost_exit;
	ipc_peer_init(&f->f_matcher, f->f_base, fu->fu_matcher, "matcher",
	    relay_dispatch_matcher, f);
	f->f_matcher.ip_lost = relay_lost_matcher;
	ipc_peer_batch(&f->f_matcher);
	proc_log_to(&f->f_parent);

	proc_drop();

	relay_limits_init(f, fu->fu_count);
	f->f_idmask = RELAY_IDS_MIN - 1;
	f->f_ids = xcalloc(RELAY_IDS_MIN, sizeof(*f->f_ids));
	if ((f->f_reserve = dup(fd_listen)) == -1)
		fatal("%s: dup", __func__);

	event_assign(&f->f_lev, f->f_base, fd_listen, EV_READ | EV_PERSIST,
	    relay_accept, f);
	evtimer_assign(&f->f_pauseev, f->f_base, relay_accept_resume, f);
	event_assign(&f->f_flushev, f->f_base, -1, 0, relay_flush, f);
	event_assign(&f->f_sweepev, f->f_base, -1, EV_PERSIST, relay_sweep,
	    f);
	evtimer_assign(&f->f_downev, f->f_base, relay_down, f);
	relay_ms_tv(RELAY_SWEEP_MS, &tv);
	if (event_add(&f->f_lev, NULL) == -1 ||
	    event_add(&f->f_sweepev, &tv) == -1)
		fatalx("%s: event_add", __func__);
	relay_hand_init(fu);

	/* Key addr_hash() and seed the random stream before the sandbox. */
	memset(&ik, 0, sizeof(ik));
	(void)addr_hash(&ik);
	(void)arc4random();
	sandbox_front();
	log_debug("%s: started", __func__);

	event_base_dispatch(f->f_base);
	fatalx("%s: event loop ended", __func__);
}

/* The bounds of the per-address table and of heads in progress. */
static void
relay_limits_init(struct front *f, uint32_t fronts)
{
	uint32_t	 total = f->f_conf->s_max_total_sockets;

	ip_table_init(&f->f_ips);
	/*
	 * D41: room for every open WebSocket's address, and as many more;
	 * with PREFORK, each front holds its share of the addresses (D43).
	 * Entries with sockets are never evicted, so a share is no limit
	 * on sockets.
	 */
	f->f_ips.it_max = total + (total > RELAY_IPS_SPARE ? total :
	    RELAY_IPS_SPARE);
	f->f_ips.it_max = (f->f_ips.it_max + fronts - 1) / fronts;
	/* D44: as many heads in progress as open WebSockets, or 1024. */
	f->f_hsmax = total > RELAY_HS_MIN ? total : RELAY_HS_MIN;
}

static void
relay_ms_tv(uint64_t ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

static void
relay_accept(evutil_socket_t fd, short events, void *arg)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	int			 s, i;

	for (i = 0; i < RELAY_ACCEPT_BATCH; i++) {
		sslen = sizeof(ss);
		s = accept4(fd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s != -1) {
			relay_conn_new(s, &ss);
			continue;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
			continue;
		case EAGAIN:
#if EWOULDBLOCK != EAGAIN
		case EWOULDBLOCK:
#endif
			return;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			relay_accept_pause();
			return;
		default:
			log_warn("%s: accept4", __func__);
			return;
		}
	}
}

/*
 * Out of descriptors: the spare one lets us take the connection at the
 * head of the backlog and close it, rather than leave it hanging, and
 * accepting stops for a while so the loop does not spin on EMFILE.
 */
static void
relay_accept_pause(void)
{
	struct timeval	 tv;
	int		 s;

	log_warn("%s: accept4: pausing", __func__);
	if (front->f_reserve != -1) {
		close(front->f_reserve);
		front->f_reserve = -1;
	}
	if ((s = accept4(front->f_lfd, NULL, NULL, SOCK_CLOEXEC)) != -1)
		close(s);
	front->f_reserve = dup(front->f_lfd);
	event_del(&front->f_lev);
	relay_ms_tv(RELAY_ACCEPT_PAUSE_MS, &tv);
	evtimer_add(&front->f_pauseev, &tv);
}

static void
relay_accept_resume(evutil_socket_t fd, short events, void *arg)
{
	if (front->f_shutdown)
		return;
	if (front->f_reserve == -1)
		front->f_reserve = dup(front->f_lfd);
	if (event_add(&front->f_lev, NULL) == -1)
		fatalx("%s: event_add", __func__);
}

static void
relay_conn_new(int s, const struct sockaddr_storage *ss)
{
	struct ipkey	 peer;
	int		 on = 1;

	/* Frames are small and written whole: never wait for Nagle. */
	(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	addr_from_sockaddr((const struct sockaddr *)ss, &peer);
	(void)relay_conn_make(s, &peer,
	    mono_ms() + front->f_conf->s_handshake_timeout_ms);
}

/* A connection in CS_HTTP, accepted here or handed over by a front. */
struct conn *
relay_conn_make(int s, const struct ipkey *peer, uint64_t deadline)
{
	struct conn	*c;

	if (front->f_nhs >= front->f_hsmax)
		relay_hs_evict();
	c = xcalloc(1, sizeof(*c));
	c->c_fd = s;
	c->c_state = CS_HTTP;
	c->c_peer = *peer;
	event_assign(&c->c_ev, front->f_base, s, EV_READ | EV_PERSIST,
	    relay_io, c);
	evtimer_assign(&c->c_tev, front->f_base, relay_timeout, c);
	if (event_add(&c->c_ev, NULL) == -1)
		fatalx("%s: event_add", __func__);
	c->c_deadline = deadline;
	TAILQ_INSERT_TAIL(&front->f_conns, c, c_entry);
	front->f_nconns++;
	TAILQ_INSERT_TAIL(&front->f_hs, c, c_hsentry);
	c->c_flags |= CF_HSLIST;
	front->f_nhs++;
	relay_timer_arm(c);
	return (c);
}

/*
 * D44: the oldest head in progress makes way for a new connection, so
 * that slow or silent clients cannot hold more memory and descriptors
 * than open WebSockets may, nor keep newer clients out.
 */
static void
relay_hs_evict(void)
{
	struct conn	*old = TAILQ_FIRST(&front->f_hs);
	uint64_t	 now;

	if (old == NULL)
		return;
	relay_close(old, "oldest handshake dropped");
	front->f_hsdropped++;
	now = mono_ms();
	if (now - front->f_hslogged >= RELAY_HS_LOG_MS) {
		log_info("%llu unfinished handshakes dropped for newer "
		    "connections", (unsigned long long)front->f_hsdropped);
		front->f_hsdropped = 0;
		front->f_hslogged = now;
	}
}

/* The head is read (or the connection is gone): off the list. */
static void
relay_hs_leave(struct conn *c)
{
	if (!(c->c_flags & CF_HSLIST))
		return;
	if (c->c_flags & CF_HANDWAIT)
		relay_hand_forget(c);
	TAILQ_REMOVE(&front->f_hs, c, c_hsentry);
	c->c_flags &= ~CF_HSLIST;
	front->f_nhs--;
}

static void
relay_io(evutil_socket_t fd, short events, void *arg)
{
	struct conn	*c = arg;

	if ((events & EV_WRITE) && relay_write(c) == -1)
		return;
	if ((events & EV_READ) && c->c_state != CS_DEAD &&
	    !(c->c_flags & CF_EOF))
		relay_read(c);
}

static void
relay_read(struct conn *c)
{
	ssize_t	 n;

	n = read(c->c_fd, relay_rbuf, sizeof(relay_rbuf));
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		relay_close(c, "read error");
		return;
	}
	if (n == 0) {
		relay_eof(c);
		return;
	}
	switch (c->c_state) {
	case CS_HTTP:
		relay_http_input(c, relay_rbuf, n);
		break;
	case CS_DRAIN:
		break;		/* all said: input is only waited out */
	default:
		relay_ws_input(c, relay_rbuf, n);
		break;
	}
}

/*
 * The peer shut its side.  If our last words (an HTTP answer, a close
 * frame) are still going out, they are finished first; otherwise there is
 * nobody left to talk to.
 */
static void
relay_eof(struct conn *c)
{
	c->c_flags |= CF_EOF;
	if ((c->c_state == CS_DRAIN || c->c_state == CS_CLOSING) &&
	    rbuf_len(c->c_out) > 0) {
		relay_drain(c);
		if (c->c_state != CS_DEAD)
			relay_events(c, (c->c_flags & CF_WRITING) != 0);
		return;
	}
	relay_close(c, "eof");
}

/* Returns -1 if the connection is gone. */
static int
relay_write(struct conn *c)
{
	ssize_t	 n;

	while (rbuf_len(c->c_out) > 0) {
		n = write(c->c_fd, rbuf_ptr(c->c_out), rbuf_len(c->c_out));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				relay_events(c, 1);
				return (0);
			}
			relay_close(c, "write error");
			return (-1);
		}
		rbuf_drain(&c->c_out, n);
	}
	relay_events(c, 0);
	if (c->c_state == CS_DRAIN)
		relay_drained(c);
	return (c->c_state == CS_DEAD ? -1 : 0);
}

/* Read unless the peer is done; write while output is blocked. */
static void
relay_events(struct conn *c, int wantwrite)
{
	short	 want = 0, have;

	if (!(c->c_flags & CF_EOF))
		want |= EV_READ;
	if (wantwrite)
		want |= EV_WRITE;
	have = event_pending(&c->c_ev, EV_READ | EV_WRITE, NULL);
	if (wantwrite)
		c->c_flags |= CF_WRITING;
	else
		c->c_flags &= ~CF_WRITING;
	if (have == want)
		return;
	if (have != 0)
		event_del(&c->c_ev);
	if (want == 0)
		return;
	event_assign(&c->c_ev, front->f_base, c->c_fd, want | EV_PERSIST,
	    relay_io, c);
	if (event_add(&c->c_ev, NULL) == -1)
		fatalx("%s: event_add", __func__);
}

/*
 * Queue the connection's output for the end of this turn.  Past
 * MAX_OUTBUF (what the kernel will not take now) the reader is too slow
 * and is dropped.  Returns -1 if the connection is gone.
 */
int
relay_queue_flush(struct conn *c)
{
	uint64_t	 max = front->f_conf->s_max_outbuf;

	if (c->c_state == CS_DEAD)
		return (-1);
	if ((c->c_flags & (CF_FLUSHQ | CF_WRITING)) == 0) {
		TAILQ_INSERT_TAIL(&front->f_flushq, c, c_flush);
		c->c_flags |= CF_FLUSHQ;
		event_active(&front->f_flushev, EV_TIMEOUT, 0);
	}
	if (rbuf_len(c->c_out) <= max)
		return (0);
	if (!(c->c_flags & CF_WRITING) && relay_write(c) == -1)
		return (-1);
	if (rbuf_len(c->c_out) <= max)
		return (0);
	relay_close(c, "slow reader");
	return (-1);
}

/* End of the turn: write what was queued, free what was closed. */
static void
relay_flush(evutil_socket_t fd, short events, void *arg)
{
	struct conn	*c;

	while ((c = TAILQ_FIRST(&front->f_flushq)) != NULL) {
		TAILQ_REMOVE(&front->f_flushq, c, c_flush);
		c->c_flags &= ~CF_FLUSHQ;
		if (!(c->c_flags & CF_WRITING))
			(void)relay_write(c);
	}
	while ((c = TAILQ_FIRST(&front->f_reapq)) != NULL) {
		TAILQ_REMOVE(&front->f_reapq, c, c_entry);
		rbuf_free(&c->c_in);
		rbuf_free(&c->c_msg);
		rbuf_free(&c->c_out);
		free(c);
	}
	if (front->f_shutdown && front->f_nconns == 0)
		relay_exit();
}

/*
 * All said: once the output is out, shut our side down and wait (up to
 * the grace) for the peer to close, so that our last bytes are not lost
 * to a reset from unread input.
 */
void
relay_drain(struct conn *c)
{
	if (c->c_state == CS_DEAD || c->c_state == CS_DRAIN)
		return;
	relay_detach(c);
	relay_hs_leave(c);
	if (c->c_state == CS_HTTP)
		c->c_deadline = mono_ms() + RELAY_GRACE_MS;
	c->c_state = CS_DRAIN;
	if (rbuf_len(c->c_out) == 0)
		relay_drained(c);
	relay_timer_arm(c);
}

static void
relay_drained(struct conn *c)
{
	if (!(c->c_flags & CF_SHUTWR)) {
		(void)shutdown(c->c_fd, SHUT_WR);
		c->c_flags |= CF_SHUTWR;
	}
	if (c->c_flags & CF_EOF)
		relay_close(c, "closed");
}

/*
 * The socket stops being an open WebSocket (D6): it leaves the counts at
 * once and the matcher hears IMSG_SOCK_CLOSE, exactly once.  A join still
 * in flight is counted against the IP: the front cannot know whether the
 * matcher took it, and the limit is an abuse limit.
 */
void
relay_detach(struct conn *c)
{
	struct ipent	*ie = c->c_ip;
	uint64_t	 now;

	if (!CS_ISOPEN(c->c_state))
		return;
	now = mono_ms();
	if (c->c_state == CS_JOINING)
		ip_join_accept(ie, now);
	LIST_REMOVE(c, c_ipentry);
	ie->ie_nsocks--;
	c->c_ip = NULL;
	front->f_nopen--;
	relay_open_give();
	relay_id_remove(c);
	/*
	 * At shutdown the matcher is not told: it would end the room and
	 * send `ended' to a partner on another front that has not closed
	 * its sockets yet, and D29 promises 1001 and nothing before it.
	 */
	if (!front->f_shutdown)
		relay_send_matcher(c, IMSG_SOCK_CLOSE, NULL, 0);
	c->c_state = CS_CLOSING;
	c->c_deadline = now + RELAY_GRACE_MS;
}

/* The one teardown.  The memory goes at the end of the turn. */
void
relay_close(struct conn *c, const char *reason)
{
	if (c->c_state == CS_DEAD)
		return;
	if (c->c_id != 0)
		log_debug("%s: socket %llu: %s", __func__,
		    (unsigned long long)c->c_id, reason);
	relay_detach(c);
	relay_hs_leave(c);
	event_del(&c->c_ev);
	event_del(&c->c_tev);
	close(c->c_fd);
	c->c_fd = -1;
	TAILQ_REMOVE(&front->f_conns, c, c_entry);
	front->f_nconns--;
	if (c->c_flags & CF_FLUSHQ) {
		TAILQ_REMOVE(&front->f_flushq, c, c_flush);
		c->c_flags &= ~CF_FLUSHQ;
	}
	c->c_state = CS_DEAD;
	TAILQ_INSERT_TAIL(&front->f_reapq, c, c_entry);
	event_active(&front->f_flushev, EV_TIMEOUT, 0);
}

/*
 * The head is looked for where it was read; only a head that comes in
 * pieces is kept, and never more than HTTP_HEAD_MAX of it while it is
 * incomplete.  Bytes after the head are the client's first frames.
 */
static void
relay_http_input(struct conn *c, uint8_t *p, size_t n)
{
	struct rbuf	*h;
	ssize_t		 end;

	if (c->c_in == NULL) {
		end = http_head_end(p, n);
		if (end == 0) {
			rbuf_add(&c->c_in, p, n);
			return;
		}
		if (end < 0) {
			relay_http_answer(c, 431, NULL);
			return;
		}
		relay_http_head(c, p, end, n);
		return;
	}

	/* http_head_end looks at HTTP_HEAD_MAX bytes at most. */
	rbuf_add(&c->c_in, p, n);
	end = http_head_end(rbuf_ptr(c->c_in), rbuf_len(c->c_in));
	if (end == 0)
		return;
	if (end < 0) {
		rbuf_free(&c->c_in);
		relay_http_answer(c, 431, NULL);
		return;
	}
	h = c->c_in;
	c->c_in = NULL;
	relay_http_head(c, rbuf_ptr(h), end, rbuf_len(h));
	rbuf_free(&h);
}

/*
 * buf holds the head (headlen bytes), then whatever the client sent after
 * it (len in all).  An upgrade whose address another front owns goes
 * there, bytes and all (D43).
 */
void
relay_http_head(struct conn *c, uint8_t *buf, size_t headlen, size_t len)
{
	/* Over 8 KiB with the X-Forwarded-For copy: not on the stack. */
	static struct http_req	 req;
	struct ipkey		 ik;
	int			 handed = 0;

	http_parse(buf, headlen, &req);
	switch (req.hr_verdict) {
	case HTTP_UPGRADE:
		addr_client(&c->c_peer, req.hr_xff, req.hr_xfflen,
		    req.hr_has_xff, front->f_conf->s_trusted_proxy_hops, &ik);
		if (!(c->c_flags & CF_ADOPTED) &&
		    relay_hand_owner(&ik) != front->f_index) {
			handed = 1;
			relay_hand_off(c, relay_hand_owner(&ik), buf, headlen,
			    len);
			break;
		}
		relay_admit(c, &req, &ik);
		break;
	case HTTP_HEALTHZ:
		relay_http_answer(c, 200, &req);
		break;
	case HTTP_NOT_UPGRADE:
		relay_http_answer(c, 426, &req);
		break;
	case HTTP_BAD:
		relay_http_answer(c, 400, &req);
		break;
	case HTTP_TOO_LARGE:
		relay_http_answer(c, 431, &req);
		break;
	default:
		fatalx("%s: verdict %d", __func__, req.hr_verdict);
	}
	explicit_bzero(req.hr_xff, req.hr_xfflen);
	explicit_bzero(&ik, sizeof(ik));
	if (!handed && headlen < len && c->c_state != CS_DEAD)
		relay_ws_input(c, buf + headlen, len - headlen);
}

/* Every answer but 101 ends the connection once it is written (D5). */
void
relay_http_answer(struct conn *c, int code, const struct http_req *req)
{
	char	 buf[512];
	size_t	 n;

	if ((n = http_response(buf, sizeof(buf), code, req)) == 0)
		fatalx("%s: no answer for %d", __func__, code);
	rbuf_free(&c->c_in);
	rbuf_add(&c->c_out, buf, n);
	if (relay_queue_flush(c) == -1)
		return;
	relay_drain(c);
}

/*
 * D1: banned (403), then the global cap (503), then the IP's cap (429).
 * The global count is shared by the fronts: a place is taken first and
 * given back if the socket is refused after all, so that no two fronts
 * can both take the last one.
 */
static void
relay_admit(struct conn *c, const struct http_req *req,
    const struct ipkey *ik)
{
	const struct settings	*conf = front->f_conf;
	struct ipent		*ie;
	char			 buf[512];
	size_t			 n = 0;
	uint32_t		 evicted;
	int			 code = 0;

	ie = ip_find(&front->f_ips, ik);
	if (ie != NULL && ip_banned(ie, mono_ms())) {
		relay_http_answer(c, 403, req);
		return;
	}
	if (!relay_open_take()) {
		relay_http_answer(c, 503, req);
		return;
	}
	if (ie != NULL && ie->ie_nsocks >= conf->s_max_sockets_per_ip)
		code = 429;
	else if ((n = http_switching(buf, sizeof(buf), req)) == 0)
		code = 400;
	if (code != 0) {
		relay_open_give();
		relay_http_answer(c, code, req);
		return;
	}
	if (ie == NULL) {
		if ((evicted = ip_make_room(&front->f_ips, mono_ms())) > 0)
			log_info("per-address table full: %u addresses "
			    "without sockets forgotten", evicted);
		ie = ip_get(&front->f_ips, ik);
	}
	relay_open(c, ie, buf, n);
}

/* A place under MAX_TOTAL_SOCKETS, counted across the fronts. */
static int
relay_open_take(void)
{
	uint64_t	*open = &front->f_shared->sh_open;

	if (__atomic_add_fetch(open, 1, __ATOMIC_ACQ_REL) <=
	    front->f_conf->s_max_total_sockets)
		return (1);
	__atomic_sub_fetch(open, 1, __ATOMIC_ACQ_REL);
	return (0);
}

static void
relay_open_give(void)
{
	__atomic_sub_fetch(&front->f_shared->sh_open, 1, __ATOMIC_ACQ_REL);
}

/* 101, then the socket exists for the matcher, then hello. */
static void
relay_open(struct conn *c, struct ipent *ie, const char *answer, size_t len)
{
	const struct settings	*conf = front->f_conf;
	char			 challenge[POW_CHALLENGE_LEN + 1];
	uint64_t		 now = mono_ms();

	c->c_id = (++front->f_nextid << SOCKID_FRONT_BITS) | front->f_index;
	relay_hs_leave(c);
	c->c_state = CS_HELLO;
	c->c_ip = ie;
	LIST_INSERT_HEAD(&ie->ie_socks, c, c_ipentry);
	ie->ie_nsocks++;
	front->f_nopen++;
	relay_id_insert(c);
	rbuf_free(&c->c_in);

	pow_challenge(challenge);
	relay_challenge_set(c, challenge);
	c->c_deadline = now + conf->s_pow_deadline_ms;
	c->c_seen = now;
	/* Each socket pings on its own phase: no sweep, no burst. */
	c->c_ping = now + conf->s_ping_interval_ms;
	relay_budget_init(&c->c_budget, (uint32_t)now);
	utf8_stream_init(&c->c_utf8);

	log_debug("%s: socket %llu open (%u open)", __func__,
	    (unsigned long long)c->c_id, front->f_nopen);
	relay_send_matcher(c, IMSG_SOCK_OPEN, NULL, 0);
	rbuf_add(&c->c_out, answer, len);
	if (relay_out_hello(c, challenge) == -1)
		return;
	relay_timer_arm(c);
}

/*
 * One timer per connection, armed for its earliest deadline.  Deadlines
 * that move later (a frame arrives, a beat) leave it alone: it fires
 * early, finds nothing due and is armed again.  Only an earlier deadline
 * re-arms it at once.
 */
void
relay_timer_arm(struct conn *c)
{
	uint64_t	 next, t, now;
	struct timeval	 tv;

	if (c->c_state == CS_DEAD)
		return;
	next = c->c_deadline;
	if (CS_ISOPEN(c->c_state)) {
		t = c->c_seen + 2 * (uint64_t)front->f_conf->s_ping_interval_ms;
		if (t < next)
			next = t;
		if (c->c_ping < next)
			next = c->c_ping;
	}
	if (c->c_timer != 0 && c->c_timer <= next)
		return;
	now = mono_ms();
	relay_ms_tv(next > now ? next - now : 0, &tv);
	if (evtimer_add(&c->c_tev, &tv) == -1)
		fatalx("%s: evtimer_add", __func__);
	c->c_timer = next;
}

static void
relay_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct conn	*c = arg;
	uint64_t	 now = mono_ms(), ping;

	c->c_timer = 0;
	ping = front->f_conf->s_ping_interval_ms;
	switch (c->c_state) {
	case CS_HTTP:
		if (now >= c->c_deadline) {
			relay_close(c, "handshake timeout");
			return;
		}
		break;
	case CS_CLOSING:
	case CS_DRAIN:
		if (now >= c->c_deadline) {
			relay_close(c, "close timeout");
			return;
		}
		break;
	case CS_DEAD:
		return;
	default:
		/* Liveness first: a silent peer gets no close frame. */
		if (now - c->c_seen >= 2 * ping) {
			relay_close(c, "no frames");
			return;
		}
		if (now >= c->c_deadline) {
			relay_ws_close(c, c->c_state == CS_HELLO ? 4001 : 4000,
			    NULL);
			return;
		}
		if (now >= c->c_ping) {
			c->c_ping = now + ping;
			relay_ws_ping(c);
		}
		break;
	}
	relay_timer_arm(c);
}

/*
 * BAN_AFTER_VIOLATIONS within WINDOW_MS: every open socket of the IP is
 * closed 4002.  The caller has already queued the error frame of the
 * violation, so it goes first (D28).
 */
void
relay_violation(struct ipent *ie)
{
	const struct settings	*conf = front->f_conf;
	struct conn		*c;
	uint32_t		 n = 0;

	if (ie == NULL)
		return;
	if (!ip_violation(ie, mono_ms(), conf->s_ban_after_violations,
	    conf->s_ban_ms))
		return;
	while ((c = LIST_FIRST(&ie->ie_socks)) != NULL) {
		relay_ws_close(c, 4002, NULL);
		n++;
	}
	log_info("ban issued, %u open sockets closed", n);
}

static void
relay_sweep(evutil_socket_t fd, short events, void *arg)
{
	uint32_t	 n;

	if ((n = ip_sweep(&front->f_ips, mono_ms())) > 0)
		log_debug("%s: %u idle addresses forgotten, %u kept", __func__,
		    n, front->f_ips.it_count);
}

/*
 * Socket ids are sequential above the front's index: the bits above it
 * spread them evenly.
 */
#define RELAY_ID_HASH(id)	((id) >> SOCKID_FRONT_BITS)

static void
relay_id_insert(struct conn *c)
{
	struct conn	**ids, *x;
	uint64_t	  size, i, h;

	size = front->f_idmask + 1;
	if (front->f_nopen > size) {
		ids = xcalloc(size * 2, sizeof(*ids));
		for (i = 0; i < size; i++) {
			while ((x = front->f_ids[i]) != NULL) {
				front->f_ids[i] = x->c_idnext;
				h = RELAY_ID_HASH(x->c_id) & (size * 2 - 1);
				x->c_idnext = ids[h];
				ids[h] = x;
			}
		}
		free(front->f_ids);
		front->f_ids = ids;
		front->f_idmask = size * 2 - 1;
	}
	h = RELAY_ID_HASH(c->c_id) & front->f_idmask;
	c->c_idnext = front->f_ids[h];
	front->f_ids[h] = c;
}

static void
relay_id_remove(struct conn *c)
{
	struct conn	**cp;

	for (cp = &front->f_ids[RELAY_ID_HASH(c->c_id) & front->f_idmask];
	    *cp != c;
	    cp = &(*cp)->c_idnext)
		if (*cp == NULL)
			fatalx("%s: socket %llu not found", __func__,
			    (unsigned long long)c->c_id);
	*cp = c->c_idnext;
	c->c_idnext = NULL;
}

static struct conn *
relay_id_find(uint64_t id)
{
	struct conn	*c;

	for (c = front->f_ids[RELAY_ID_HASH(id) & front->f_idmask]; c != NULL;
	    c = c->c_idnext)
		if (c->c_id == id)
			return (c);
	return (NULL);
}

int
relay_send_matcher(struct conn *c, uint32_t type, const void *data,
    size_t len)
{
	return (ipc_send(&front->f_matcher, type, c->c_id, data, len));
}

/* IPC_STAMPED (D45): the time the frame was read, then the payload. */
int
relay_send_stamped(struct conn *c, uint32_t type, uint64_t now,
    const void *data, size_t len)
{
	return (ipc_sendv(&front->f_matcher, type, c->c_id, &now,
	    IPC_STAMP_LEN, data, len));
}

/* The operator's view: counts and remaining times, never addresses. */
static void
relay_stats(uint32_t type, uint64_t reqid)
{
	struct stats_front	 sf;
	uint64_t		*left;
	uint32_t		 n;

	if (type == IMSG_STATS_REQ) {
		sf.sf_open = front->f_nopen;
		sf.sf_bans = ip_bans(&front->f_ips, mono_ms(), NULL, 0);
		ipc_send(&front->f_parent, IMSG_STATS_FRONT, reqid, &sf,
		    sizeof(sf));
		return;
	}
	left = xcalloc(CTL_BANS_MAX, sizeof(*left));
	n = ip_bans(&front->f_ips, mono_ms(), left, CTL_BANS_MAX);
	if (n > CTL_BANS_MAX)
		n = CTL_BANS_MAX;
	ipc_send(&front->f_parent, IMSG_BANS_REPLY, reqid, left,
	    n * sizeof(*left));
	free(left);
}

static void
relay_dispatch_parent(struct ipc_peer *peer, struct ipc_hdr *hdr,
    uint8_t *data, void *arg)
{
	int32_t	 v;

	switch (hdr->ih_type) {
	case IMSG_STATS_REQ:
	case IMSG_BANS_REQ:
		if (hdr->ih_len != 0)
			break;
		relay_stats(hdr->ih_type, hdr->ih_peerid);
		return;
	case IMSG_SHUTDOWN:
		if (hdr->ih_len != 0)
			break;
		relay_shutdown();
		return;
	case IMSG_VERBOSE:
		if (hdr->ih_len != sizeof(v))
			break;
		memcpy(&v, data, sizeof(v));
		log_setverbose(v);
		return;
	default:
		break;
	}
	fatalx("parent sent message type %u with %u bytes", hdr->ih_type,
	    hdr->ih_len);
}

/* Replies for a socket that closed meanwhile are the normal race. */
static void
relay_dispatch_matcher(struct ipc_peer *peer, struct ipc_hdr *hdr,
    uint8_t *data, void *arg)
{
	const struct relay_reply	*rr = NULL;
	size_t				 i;

	for (i = 0; i < RELAY_NREPLIES; i++)
		if (relay_replies[i].rr_type == hdr->ih_type)
			rr = &relay_replies[i];
	if (rr == NULL)
		fatalx("matcher sent unknown message type %u (%u bytes)",
		    hdr->ih_type, hdr->ih_len);
	if (hdr->ih_len < rr->rr_min || hdr->ih_len > rr->rr_max)
		fatalx("matcher sent %s with %u bytes", rr->rr_name,
		    hdr->ih_len);
	if (hdr->ih_peerid == 0)
		fatalx("matcher sent %s for socket 0", rr->rr_name);
	relay_client_reply(relay_id_find(hdr->ih_peerid), hdr->ih_type, data,
	    hdr->ih_len);
}

static void
relay_lost_matcher(struct ipc_peer *peer, void *arg)
{
	ipc_peer_free(peer);
	if (!front->f_shutdown)
		fatalx("lost the matcher");
}

/*
 * D29: every WebSocket gets 1001 and nothing after it (its socket leaves
 * the matcher, so no ended follows), handshakes in progress are dropped,
 * and the process exits when the last connection is gone or after
 * DR_SHUTDOWN_GRACE_MS.
 */
static void
relay_shutdown(void)
{
	struct conn	*c, *t;
	struct timeval	 tv;

	if (front->f_shutdown)
		return;
	front->f_shutdown = 1;
	log_debug("%s: %u connections, %u open WebSockets", __func__,
	    front->f_nconns, front->f_nopen);
	/* New clients are refused at once rather than left in the backlog. */
	event_del(&front->f_lev);
	event_del(&front->f_pauseev);
	event_del(&front->f_sweepev);
	relay_hand_shutdown();
	close(front->f_lfd);
	if (front->f_reserve != -1)
		close(front->f_reserve);
	front->f_lfd = front->f_reserve = -1;
	for (c = TAILQ_FIRST(&front->f_conns); c != NULL; c = t) {
		/* Closing moves c to the reap list: step on first. */
		t = TAILQ_NEXT(c, c_entry);
		if (c->c_state == CS_HTTP)
			relay_close(c, "shutdown");
		else if (CS_ISOPEN(c->c_state))
			relay_ws_close(c, 1001, NULL);
	}
	relay_ms_tv(DR_SHUTDOWN_GRACE_MS, &tv);
	evtimer_add(&front->f_downev, &tv);
	event_active(&front->f_flushev, EV_TIMEOUT, 0);
}

static void
relay_down(evutil_socket_t fd, short events, void *arg)
{
	log_debug("%s: %u connections left at the end of the grace",
	    __func__, front->f_nconns);
	relay_exit();
}

static void
relay_exit(void)
{
	log_debug("%s: exiting", __func__);
	ipc_flush(&front->f_matcher);
	ipc_flush(&front->f_parent);
	exit(0);
}
