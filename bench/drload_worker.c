/*
 * One drload worker: a libevent loop holding its share of the
 * connections.  Each connection is a client as PROTOCOL.md describes one:
 * TCP from its own 127.x.y.z address, the HTTP upgrade (the accept value
 * checked), hello, proof of work, then a beat every LOAD_BEAT_MS.
 * Chatters also join, send a message every LOAD_CHAT_MS while in a room
 * (its send time in the text, so the partner can tell the latency), skip
 * after a random number of messages and join again when the room ends.
 * The parent steps the worker through the phases of a run: ramp, join,
 * window, end, quit.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include <openssl/evp.h>

#include "common.h"
#include "drload.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT	24
#endif

#define HEAD_MAX	4096
#define TEXT_MAX	256
#define KEY_HEX		64	/* a match key */

enum lstate {
	LS_IDLE,
	LS_CONNECTING,
	LS_HTTP,	/* upgrade sent */
	LS_HELLO,	/* 101 received */
	LS_POW,		/* pow sent */
	LS_READY,
	LS_JOINING,	/* join sent */
	LS_ROOM,
	LS_SKIPPING,	/* skip sent */
	LS_CLOSED
};

enum lphase {
	PH_IDLE,
	PH_RAMP,
	PH_JOIN,
	PH_WINDOW,
	PH_END
};

struct lbuf {
	uint8_t		*lb_p;
	uint32_t	 lb_len;
	uint32_t	 lb_cap;
};

struct lconn {
	struct event	 lc_ev;		/* I/O */
	struct event	 lc_tev;	/* setup deadline, then beats */
	struct event	 lc_cev;	/* the next message, or a rejoin */
	struct lbuf	 lc_in;		/* a partial head or frame */
	struct lbuf	 lc_out;	/* what the kernel did not take */
	uint64_t	 lc_t0;		/* connect, then join sent */
	uint64_t	 lc_tmsg;	/* last msg sent */
	uint32_t	 lc_idx;	/* over all workers */
	uint32_t	 lc_sent;	/* messages sent in this room */
	uint32_t	 lc_skip;	/* skip after this many */
	int		 lc_fd;
	uint8_t		 lc_state;
	uint8_t		 lc_chatter;
	uint8_t		 lc_joins;	/* accepted joins, saturating */
	uint8_t		 lc_writing;
	char		 lc_key[WS_KEY_LEN + 1];
};

struct worker {
	const struct load_conf	*w_conf;
	struct event_base	*w_base;
	struct lconn		*w_conns;
	uint32_t		 w_n;
	uint32_t		 w_next;	/* next to open */
	uint32_t		 w_inflight;
	uint32_t		 w_ready;
	uint32_t		 w_failed;
	uint32_t		 w_chatters;	/* ready ones */
	uint32_t		 w_matched;	/* chatters matched once */
	int			 w_phase;
	int			 w_opening;	/* in w_open_more() */
	int			 w_ramped;	/* MSG_RAMPED sent */
	int			 w_said_matched;
	int			 w_cmdfd;
	int			 w_repfd;
	struct event		 w_cmdev;
	const struct timeval	*w_beat_tv;
	const struct timeval	*w_chat_tv;
	struct sockaddr_in	 w_srv;
	struct load_report	 w_rep;
	uint8_t			 w_rbuf[65536];
};

static struct worker	 wk;

static void	 w_cmd(evutil_socket_t, short, void *);
static void	 w_tell(uint32_t, const void *, size_t);
static void	 w_open_more(void);
static void	 w_ramp_check(void);
static void	 w_matched_check(void);
static void	 w_window_end(void);
static void	 lc_open(struct lconn *);
static void	 lc_io(evutil_socket_t, short, void *);
static void	 lc_timer(evutil_socket_t, short, void *);
static void	 lc_chat(evutil_socket_t, short, void *);
static void	 lc_connected(struct lconn *);
static void	 lc_read(struct lconn *);
static size_t	 lc_http(struct lconn *, const uint8_t *, size_t);
static size_t	 lc_frames(struct lconn *, uint8_t *, size_t);
static void	 lc_json(struct lconn *, const char *, size_t);
static void	 lc_hello(struct lconn *, const char *, size_t);
static void	 lc_join(struct lconn *);
static void	 lc_send(struct lconn *, int, const void *, size_t);
static void	 lc_flush(struct lconn *);
static void	 lc_close(struct lconn *, int);
static void	 lc_err(int);
static const char *json_str(const char *, size_t, const char *, size_t *);
static void	 lbuf_add(struct lbuf *, const void *, size_t);
static void	 lbuf_drain(struct lbuf *, size_t);

static void
lbuf_add(struct lbuf *b, const void *p, size_t n)
{
	uint32_t	 cap;

	if (n == 0)
		return;
	if (b->lb_len + n > b->lb_cap) {
		cap = b->lb_cap == 0 ? 256 : b->lb_cap;
		while (cap < b->lb_len + n)
			cap *= 2;
		b->lb_p = xreallocarray(b->lb_p, cap, 1);
		b->lb_cap = cap;
	}
	memcpy(b->lb_p + b->lb_len, p, n);
	b->lb_len += (uint32_t)n;
}

/* A buffer that empties is freed: most connections hold none. */
static void
lbuf_drain(struct lbuf *b, size_t n)
{
	if (n >= b->lb_len) {
		free(b->lb_p);
		memset(b, 0, sizeof(*b));
		return;
	}
	memmove(b->lb_p, b->lb_p + n, b->lb_len - n);
	b->lb_len -= (uint32_t)n;
}

static void
lc_err(int e)
{
	if (e < 0 || e >= LE_MAX)
		return;
	wk.w_rep.lr_err[e]++;
	if (wk.w_phase == PH_WINDOW)
		wk.w_rep.lr_err_win[e]++;
}

void
worker_main(const struct load_conf *conf, uint32_t first, uint32_t n,
    int cmdfd, int repfd)
{
	struct timeval	 tv;
	struct lconn	*lc;
	uint32_t	 i;
	double		 acc;

	wk.w_conf = conf;
	wk.w_n = n;
	wk.w_cmdfd = cmdfd;
	wk.w_repfd = repfd;
	wk.w_rep.lr_conns = n;
	wk.w_srv.sin_family = AF_INET;
	wk.w_srv.sin_port = htons(conf->lc_port);
	if (inet_pton(AF_INET, conf->lc_host, &wk.w_srv.sin_addr) != 1)
		fatalx("bad server address %s", conf->lc_host);
	if ((wk.w_base = event_base_new()) == NULL)
		fatalx("event_base_new");
	tv.tv_sec = LOAD_BEAT_MS / 1000;
	tv.tv_usec = (LOAD_BEAT_MS % 1000) * 1000;
	wk.w_beat_tv = event_base_init_common_timeout(wk.w_base, &tv);
	tv.tv_sec = LOAD_CHAT_MS / 1000;
	tv.tv_usec = (LOAD_CHAT_MS % 1000) * 1000;
	wk.w_chat_tv = event_base_init_common_timeout(wk.w_base, &tv);
	if (wk.w_beat_tv == NULL || wk.w_chat_tv == NULL)
		fatalx("event_base_init_common_timeout");

	wk.w_conns = xcalloc(n, sizeof(*wk.w_conns));
	for (i = 0; i < n; i++) {
		lc = &wk.w_conns[i];
		lc->lc_idx = first + i;
		lc->lc_fd = -1;
		/* Spread chatters evenly: the share of 0..idx that chats. */
		acc = conf->lc_chat * (double)lc->lc_idx;
		lc->lc_chatter = (uint32_t)(acc + conf->lc_chat) >
		    (uint32_t)acc;
		if (lc->lc_chatter)
			wk.w_rep.lr_chatters++;
	}

	event_assign(&wk.w_cmdev, wk.w_base, cmdfd, EV_READ | EV_PERSIST,
	    w_cmd, NULL);
	if (event_add(&wk.w_cmdev, NULL) == -1)
		fatalx("event_add");
	event_base_dispatch(wk.w_base);
	_exit(0);
}

static void
w_tell(uint32_t type, const void *p, size_t len)
{
	struct load_msg	 m;
	const uint8_t	*b = p;
	ssize_t		 r;
	size_t		 off;

	m.lm_type = type;
	m.lm_len = (uint32_t)len;
	for (off = 0; off < sizeof(m); off += (size_t)r)
		if ((r = write(wk.w_repfd, (uint8_t *)&m + off,
		    sizeof(m) - off)) <= 0)
			_exit(1);
	for (off = 0; off < len; off += (size_t)r)
		if ((r = write(wk.w_repfd, b + off, len - off)) <= 0)
			_exit(1);
}

static void
w_cmd(evutil_socket_t fd, short ev, void *arg)
{
	struct lconn	*lc;
	uint32_t	 i;
	char		 c;
	ssize_t		 r;

	r = read(fd, &c, 1);
	if (r == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r != 1)
		c = CMD_QUIT;
	switch (c) {
	case CMD_RAMP:
		wk.w_phase = PH_RAMP;
		w_open_more();
		w_ramp_check();
		break;
	case CMD_JOIN:
		wk.w_phase = PH_JOIN;
		for (i = 0; i < wk.w_n; i++) {
			lc = &wk.w_conns[i];
			if (lc->lc_chatter && lc->lc_state == LS_READY)
				lc_join(lc);
		}
		w_matched_check();
		break;
	case CMD_WINDOW:
		wk.w_phase = PH_WINDOW;
		wk.w_rep.lr_sent = wk.w_rep.lr_recv = wk.w_rep.lr_ended = 0;
		hist_reset(&wk.w_rep.lr_msg);
		hist_reset(&wk.w_rep.lr_rejoin);
		break;
	case CMD_END:
		w_window_end();
		break;
	default:
		/* The kernel closes the sockets. */
		_exit(0);
	}
}

static void
w_window_end(void)
{
	struct lconn	*lc;
	uint32_t	 i;

	wk.w_phase = PH_END;
	wk.w_rep.lr_ready = wk.w_ready;
	for (i = 0; i < wk.w_n; i++) {
		lc = &wk.w_conns[i];
		if (lc->lc_state >= LS_READY && lc->lc_state != LS_CLOSED)
			wk.w_rep.lr_held++;
		if (lc->lc_state == LS_ROOM || lc->lc_state == LS_SKIPPING)
			wk.w_rep.lr_matched++;
	}
	w_tell(MSG_REPORT, &wk.w_rep, sizeof(wk.w_rep));
}

static void
w_open_more(void)
{
	/* A failed open comes back here: the loop below goes on for it. */
	if (wk.w_opening)
		return;
	wk.w_opening = 1;
	while (wk.w_phase >= PH_RAMP && wk.w_inflight < LOAD_INFLIGHT &&
	    wk.w_next < wk.w_n) {
		wk.w_inflight++;
		lc_open(&wk.w_conns[wk.w_next++]);
	}
	wk.w_opening = 0;
}

static void
w_ramp_check(void)
{
	uint32_t	 v[2];

	if (wk.w_ramped || wk.w_ready + wk.w_failed < wk.w_n)
		return;
	wk.w_ramped = 1;
	v[0] = wk.w_ready;
	v[1] = wk.w_failed;
	w_tell(MSG_RAMPED, v, sizeof(v));
}

static void
w_matched_check(void)
{
	if (wk.w_said_matched || wk.w_phase < PH_JOIN ||
	    wk.w_matched < wk.w_chatters)
		return;
	wk.w_said_matched = 1;
	w_tell(MSG_MATCHED, NULL, 0);
}

/*
 * Source addresses 127.x.y.z with z in 1..254, lc_per_ip connections on
 * each: the server's per-IP limits hold without raising them.
 */
static void
lc_open(struct lconn *lc)
{
	const struct load_conf	*conf = wk.w_conf;
	struct sockaddr_in	 sin;
	struct timeval		 tv;
	uint32_t		 k, a;
	int			 on = 1, s;

	lc->lc_t0 = mono_us();
	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s == -1) {
		lc_close(lc, LE_CONNECT);
		return;
	}
	lc->lc_fd = s;
	lc->lc_state = LS_CONNECTING;
	event_assign(&lc->lc_ev, wk.w_base, s, EV_WRITE, lc_io, lc);
	event_assign(&lc->lc_tev, wk.w_base, -1, 0, lc_timer, lc);
	event_assign(&lc->lc_cev, wk.w_base, -1, 0, lc_chat, lc);
	(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	(void)setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on,
	    sizeof(on));
	k = lc->lc_idx / conf->lc_per_ip;
	a = conf->lc_ip_base + (k / 254) * 256 + 1 + k % 254;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(a);
	if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		lc_close(lc, LE_BIND);
		return;
	}
	tv.tv_sec = LOAD_SETUP_MS / 1000;
	tv.tv_usec = (LOAD_SETUP_MS % 1000) * 1000;
	if (event_add(&lc->lc_tev, &tv) == -1)
		fatalx("event_add");
	if (connect(s, (struct sockaddr *)&wk.w_srv, sizeof(wk.w_srv)) ==
	    -1 && errno != EINPROGRESS) {
		lc_close(lc, LE_CONNECT);
		return;
	}
	if (event_add(&lc->lc_ev, NULL) == -1)
		fatalx("event_add");
}

static void
lc_connected(struct lconn *lc)
{
	uint8_t		 rnd[16];
	char		 req[512];
	int		 err = 0, n;
	socklen_t	 len = sizeof(err);

	if (getsockopt(lc->lc_fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 ||
	    err != 0) {
		lc_close(lc, LE_CONNECT);
		return;
	}
	arc4random_buf(rnd, sizeof(rnd));
	if (EVP_EncodeBlock((unsigned char *)lc->lc_key, rnd, sizeof(rnd)) !=
	    WS_KEY_LEN)
		fatalx("EVP_EncodeBlock");
	n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\n"
	    "Host: %s:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
	    wk.w_conf->lc_host, wk.w_conf->lc_port, lc->lc_key);
	if (n <= 0 || (size_t)n >= sizeof(req))
		fatalx("request too long");
	lc->lc_state = LS_HTTP;
	event_assign(&lc->lc_ev, wk.w_base, lc->lc_fd, EV_READ | EV_PERSIST,
	    lc_io, lc);
	if (event_add(&lc->lc_ev, NULL) == -1)
		fatalx("event_add");
	lc_send(lc, -1, req, (size_t)n);
}

static void
lc_io(evutil_socket_t fd, short ev, void *arg)
{
	struct lconn	*lc = arg;

	if (lc->lc_state == LS_CONNECTING) {
		lc_connected(lc);
		return;
	}
	if ((ev & EV_WRITE) && lc->lc_writing) {
		lc_flush(lc);
		if (lc->lc_state == LS_CLOSED)
			return;
	}
	if (ev & EV_READ)
		lc_read(lc);
}

static void
lc_read(struct lconn *lc)
{
	uint8_t		*p;
	ssize_t		 r;
	size_t		 n, used;

	r = read(lc->lc_fd, wk.w_rbuf, sizeof(wk.w_rbuf));
	if (r == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		lc_close(lc, LE_RESET);
		return;
	}
	if (r == 0) {
		lc_close(lc, LE_EOF);
		return;
	}
	if (lc->lc_in.lb_len > 0) {
		lbuf_add(&lc->lc_in, wk.w_rbuf, (size_t)r);
		p = lc->lc_in.lb_p;
		n = lc->lc_in.lb_len;
	} else {
		p = wk.w_rbuf;
		n = (size_t)r;
	}
	used = 0;
	if (lc->lc_state == LS_HTTP) {
		used = lc_http(lc, p, n);
		if (lc->lc_state == LS_CLOSED)
			return;
	}
	if (lc->lc_state != LS_HTTP)
		used += lc_frames(lc, p + used, n - used);
	if (lc->lc_state == LS_CLOSED)
		return;
	if (p == wk.w_rbuf)
		lbuf_add(&lc->lc_in, p + used, n - used);
	else
		lbuf_drain(&lc->lc_in, used);
}

/* Returns the head's length once it is all in, else 0. */
static size_t
lc_http(struct lconn *lc, const uint8_t *p, size_t n)
{
	char		 head[HEAD_MAX + 1], want[WS_ACCEPT_LEN + 1], *a;
	const uint8_t	*end;
	size_t		 len;

	end = memmem(p, n, "\r\n\r\n", 4);
	if (end == NULL) {
		if (n > HEAD_MAX)
			lc_close(lc, LE_HTTP);
		return (0);
	}
	len = (size_t)(end - p) + 4;
	if (len > HEAD_MAX) {
		lc_close(lc, LE_HTTP);
		return (0);
	}
	memcpy(head, p, len);
	head[len] = '\0';
	if (strncmp(head, "HTTP/1.1 101 ", 13) != 0) {
		lc_close(lc, LE_HTTP);
		return (0);
	}
	if (ws_accept_key(lc->lc_key, WS_KEY_LEN, want) == -1 ||
	    (a = strcasestr(head, "\r\nSec-WebSocket-Accept:")) == NULL) {
		lc_close(lc, LE_ACCEPT);
		return (0);
	}
	a += 23;
	while (*a == ' ')
		a++;
	if (strncmp(a, want, WS_ACCEPT_LEN) != 0) {
		lc_close(lc, LE_ACCEPT);
		return (0);
	}
	lc->lc_state = LS_HELLO;
	return (len);
}

/* Handles the whole frames at p; returns their bytes. */
static size_t
lc_frames(struct lconn *lc, uint8_t *p, size_t n)
{
	struct ws_frame	 wf;
	size_t		 off = 0, flen;
	uint8_t		*pl;
	int		 code, r;

	while (off < n && lc->lc_state != LS_CLOSED) {
		if ((r = ws_frame_parse(p + off, n - off, &wf)) == 0)
			break;
		if (r < 0) {
			lc_close(lc, LE_BAD_FRAME);
			return (0);
		}
		if (wf.wf_masked || wf.wf_len > 65536 || !wf.wf_fin) {
			lc_close(lc, LE_BAD_FRAME);
			return (0);
		}
		flen = wf.wf_hdrlen + (size_t)wf.wf_len;
		if (n - off < flen)
			break;
		pl = p + off + wf.wf_hdrlen;
		switch (wf.wf_opcode) {
		case WS_OP_TEXT:
			lc_json(lc, (const char *)pl, (size_t)wf.wf_len);
			break;
		case WS_OP_PING:
			lc_send(lc, WS_OP_PONG, pl, (size_t)wf.wf_len);
			break;
		case WS_OP_PONG:
			break;
		case WS_OP_CLOSE:
			code = wf.wf_len >= 2 ? (pl[0] << 8 | pl[1]) : 1005;
			wk.w_rep.lr_lastclose = (uint32_t)code;
			lc_send(lc, WS_OP_CLOSE, pl, wf.wf_len >= 2 ? 2 : 0);
			lc_close(lc, LE_CLOSE);
			return (0);
		default:
			lc_close(lc, LE_BAD_FRAME);
			return (0);
		}
		off += flen;
	}
	return (off);
}

/*
 * The value of string member name in a flat JSON object the server
 * wrote: our texts hold no quotes or escapes, so the first closing quote
 * ends it.
 */
static const char *
json_str(const char *s, size_t n, const char *name, size_t *len)
{
	char		 pat[32];
	const char	*v, *e;
	int		 k;

	k = snprintf(pat, sizeof(pat), "\"%s\":\"", name);
	if (k <= 0 || (size_t)k >= sizeof(pat))
		return (NULL);
	if ((v = memmem(s, n, pat, (size_t)k)) == NULL)
		return (NULL);
	v += k;
	if ((e = memchr(v, '"', n - (size_t)(v - s))) == NULL)
		return (NULL);
	*len = (size_t)(e - v);
	return (v);
}

#define IS(v, l, w)	((l) == sizeof(w) - 1 && memcmp((v), (w), (l)) == 0)

static void
lc_json(struct lconn *lc, const char *s, size_t n)
{
	struct load_report	*rep = &wk.w_rep;
	struct timeval		 tv;
	const char		*t, *v;
	char			 num[24];
	size_t			 tl, vl;
	uint64_t		 now, d;

	if ((t = json_str(s, n, "t", &tl)) == NULL) {
		lc_err(LE_BAD_FRAME);
		return;
	}
	if (IS(t, tl, "msg")) {
		if ((v = json_str(s, n, "text", &vl)) == NULL) {
			lc_err(LE_BAD_FRAME);
			return;
		}
		now = mono_us();
		if (vl >= sizeof(num))
			vl = sizeof(num) - 1;
		memcpy(num, v, vl);
		num[vl] = '\0';
		if (wk.w_phase == PH_WINDOW) {
			rep->lr_recv++;
			hist_add(&rep->lr_msg, now - strtoull(num, NULL, 10));
		}
	} else if (IS(t, tl, "hello")) {
		lc_hello(lc, s, n);
	} else if (IS(t, tl, "ready")) {
		if (lc->lc_state != LS_POW)
			return;
		lc->lc_state = LS_READY;
		hist_add(&rep->lr_setup, mono_us() - lc->lc_t0);
		wk.w_ready++;
		wk.w_inflight--;
		if (lc->lc_chatter)
			wk.w_chatters++;
		/* Beats at a random phase: a ramp must not make a burst. */
		event_del(&lc->lc_tev);
		tv.tv_sec = 0;
		tv.tv_usec = (suseconds_t)arc4random_uniform(LOAD_BEAT_MS *
		    1000);
		tv.tv_sec = tv.tv_usec / 1000000;
		tv.tv_usec %= 1000000;
		if (event_add(&lc->lc_tev, &tv) == -1)
			fatalx("event_add");
		w_open_more();
		w_ramp_check();
	} else if (IS(t, tl, "matched")) {
		if (lc->lc_state != LS_JOINING)
			return;
		now = mono_us();
		if (lc->lc_joins == 0) {
			hist_add(&rep->lr_burst, now - lc->lc_t0);
			wk.w_matched++;
		} else if (wk.w_phase == PH_WINDOW)
			hist_add(&rep->lr_rejoin, now - lc->lc_t0);
		if (lc->lc_joins < UINT8_MAX)
			lc->lc_joins++;
		lc->lc_state = LS_ROOM;
		lc->lc_sent = 0;
		lc->lc_skip = LOAD_SKIP_MIN + arc4random_uniform(LOAD_SKIP_SPAN);
		/*
		 * The first message at a random phase, then every period;
		 * the server's rate clock runs across rooms.
		 */
		d = arc4random_uniform(LOAD_CHAT_MS * 1000);
		if (lc->lc_tmsg + LOAD_CHAT_MS * 1000 > now + d)
			d = lc->lc_tmsg + LOAD_CHAT_MS * 1000 - now;
		tv.tv_sec = (time_t)(d / 1000000);
		tv.tv_usec = (suseconds_t)(d % 1000000);
		if (event_add(&lc->lc_cev, &tv) == -1)
			fatalx("event_add");
		w_matched_check();
	} else if (IS(t, tl, "ended")) {
		if (lc->lc_state != LS_ROOM && lc->lc_state != LS_SKIPPING)
			return;
		event_del(&lc->lc_cev);
		lc->lc_state = LS_READY;
		if (wk.w_phase == PH_WINDOW)
			rep->lr_ended++;
		if (wk.w_phase >= PH_JOIN)
			lc_join(lc);
	} else if (IS(t, tl, "error")) {
		if ((v = json_str(s, n, "code", &vl)) == NULL)
			lc_err(LE_ERR_OTHER);
		else if (IS(v, vl, "pow"))
			lc_err(LE_ERR_POW);
		else if (IS(v, vl, "rate"))
			lc_err(LE_ERR_RATE);
		else if (IS(v, vl, "state"))
			lc_err(LE_ERR_STATE);
		else if (IS(v, vl, "join_rate")) {
			lc_err(LE_ERR_JOIN_RATE);
			if (lc->lc_state == LS_JOINING) {
				lc->lc_state = LS_READY;
				tv.tv_sec = LOAD_REJOIN_MS / 1000;
				tv.tv_usec = 0;
				if (event_add(&lc->lc_cev, &tv) == -1)
					fatalx("event_add");
			}
		} else
			lc_err(LE_ERR_OTHER);
	}
	/* queued and insights need nothing. */
}

static void
lc_hello(struct lconn *lc, const char *s, size_t n)
{
	char		 chal[POW_CHALLENGE_LEN + 1], nonce[POW_NONCE_MAX + 1];
	char		 out[128];
	const char	*v, *b;
	size_t		 vl;
	long		 bits;
	int		 k;

	if (lc->lc_state != LS_HELLO ||
	    (v = json_str(s, n, "challenge", &vl)) == NULL ||
	    vl != POW_CHALLENGE_LEN ||
	    (b = memmem(s, n, "\"bits\":", 7)) == NULL) {
		lc_close(lc, LE_BAD_FRAME);
		return;
	}
	memcpy(chal, v, vl);
	chal[vl] = '\0';
	bits = strtol(b + 7, NULL, 10);
	/* A benchmark asks the server for a low POW_BITS. */
	if (bits < 0 || bits > 24 ||
	    pow_solve(chal, (int)bits, nonce, sizeof(nonce)) < 0) {
		lc_close(lc, LE_ERR_POW);
		return;
	}
	k = snprintf(out, sizeof(out), "{\"t\":\"pow\",\"nonce\":\"%s\"}",
	    nonce);
	lc->lc_state = LS_POW;
	lc_send(lc, WS_OP_TEXT, out, (size_t)k);
}

static void
lc_join(struct lconn *lc)
{
	static const char	 hex[] = "0123456789abcdef";
	uint8_t			 rnd[KEY_HEX / 2];
	char			 key[KEY_HEX + 1], out[160];
	size_t			 i;
	int			 k;

	arc4random_buf(rnd, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++) {
		key[2 * i] = hex[rnd[i] >> 4];
		key[2 * i + 1] = hex[rnd[i] & 0xf];
	}
	key[KEY_HEX] = '\0';
	k = snprintf(out, sizeof(out), "{\"t\":\"join\",\"v\":1,\"key\":\"%s\","
	    "\"mode\":\"%s\"}", key, lc->lc_idx % 2 ? "open" : "task");
	lc->lc_state = LS_JOINING;
	lc->lc_t0 = mono_us();
	lc_send(lc, WS_OP_TEXT, out, (size_t)k);
}

/* Setup deadline before ready, the beat after. */
static void
lc_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct lconn	*lc = arg;
	static const char beat[] = "{\"t\":\"beat\"}";

	if (lc->lc_state < LS_READY) {
		lc_close(lc, LE_SETUP_TIMEOUT);
		return;
	}
	if (event_add(&lc->lc_tev, wk.w_beat_tv) == -1)
		fatalx("event_add");
	lc_send(lc, WS_OP_TEXT, beat, sizeof(beat) - 1);
}

static void
lc_chat(evutil_socket_t fd, short ev, void *arg)
{
	struct lconn	*lc = arg;
	static const char skip[] = "{\"t\":\"skip\"}";
	char		 out[TEXT_MAX];
	int		 k;

	if (lc->lc_state == LS_READY && wk.w_phase >= PH_JOIN) {
		lc_join(lc);		/* after join_rate */
		return;
	}
	if (lc->lc_state != LS_ROOM)
		return;
	if (lc->lc_sent >= lc->lc_skip) {
		lc->lc_state = LS_SKIPPING;
		lc_send(lc, WS_OP_TEXT, skip, sizeof(skip) - 1);
		return;
	}
	lc->lc_tmsg = mono_us();
	k = snprintf(out, sizeof(out), "{\"t\":\"msg\",\"text\":\"%llu drload "
	    "%u says hello, message %u\"}", (unsigned long long)lc->lc_tmsg,
	    lc->lc_idx, lc->lc_sent);
	lc->lc_sent++;
	if (wk.w_phase == PH_WINDOW)
		wk.w_rep.lr_sent++;
	if (event_add(&lc->lc_cev, wk.w_chat_tv) == -1)
		fatalx("event_add");
	lc_send(lc, WS_OP_TEXT, out, (size_t)k);
}

/* A masked frame (opcode -1: raw bytes), written now if the kernel takes it. */
static void
lc_send(struct lconn *lc, int op, const void *p, size_t n)
{
	uint8_t		 buf[WS_HDR_MAX + 1024], mask[4];
	size_t		 h = 0;
	ssize_t		 r;

	if (lc->lc_state == LS_CLOSED)
		return;
	if (n > 1024)
		fatalx("frame too long");
	if (op >= 0) {
		arc4random_buf(mask, sizeof(mask));
		h = ws_frame_header(buf, 1, op, n, mask);
		memcpy(buf + h, p, n);
		ws_unmask(buf + h, n, mask, 0);
	} else
		memcpy(buf, p, n);
	n += h;
	if (lc->lc_writing) {
		lbuf_add(&lc->lc_out, buf, n);
		return;
	}
	r = write(lc->lc_fd, buf, n);
	if (r == -1) {
		if (errno != EAGAIN && errno != EINTR) {
			lc_close(lc, LE_RESET);
			return;
		}
		r = 0;
	}
	if ((size_t)r == n)
		return;
	lbuf_add(&lc->lc_out, buf + r, n - (size_t)r);
	lc->lc_writing = 1;
	event_del(&lc->lc_ev);
	event_assign(&lc->lc_ev, wk.w_base, lc->lc_fd,
	    EV_READ | EV_WRITE | EV_PERSIST, lc_io, lc);
	if (event_add(&lc->lc_ev, NULL) == -1)
		fatalx("event_add");
}

static void
lc_flush(struct lconn *lc)
{
	ssize_t	 r;

	r = write(lc->lc_fd, lc->lc_out.lb_p, lc->lc_out.lb_len);
	if (r == -1) {
		if (errno != EAGAIN && errno != EINTR)
			lc_close(lc, LE_RESET);
		return;
	}
	lbuf_drain(&lc->lc_out, (size_t)r);
	if (lc->lc_out.lb_len > 0)
		return;
	lc->lc_writing = 0;
	event_del(&lc->lc_ev);
	event_assign(&lc->lc_ev, wk.w_base, lc->lc_fd, EV_READ | EV_PERSIST,
	    lc_io, lc);
	if (event_add(&lc->lc_ev, NULL) == -1)
		fatalx("event_add");
}

/* err -1: no error to count. */
static void
lc_close(struct lconn *lc, int err)
{
	int	 setup = lc->lc_state < LS_READY;

	if (lc->lc_state == LS_CLOSED)
		return;
	lc_err(err);
	if (lc->lc_fd != -1) {
		event_del(&lc->lc_ev);
		close(lc->lc_fd);
		lc->lc_fd = -1;
	}
	if (lc->lc_state != LS_IDLE) {
		event_del(&lc->lc_tev);
		event_del(&lc->lc_cev);
	}
	lbuf_drain(&lc->lc_in, lc->lc_in.lb_len);
	lbuf_drain(&lc->lc_out, lc->lc_out.lb_len);
	lc->lc_state = LS_CLOSED;
	if (setup) {
		wk.w_inflight--;
		wk.w_failed++;
		w_open_more();
		w_ramp_check();
	} else if (lc->lc_chatter && lc->lc_joins == 0) {
		/* It will never be matched: do not wait for it. */
		wk.w_chatters--;
		w_matched_check();
	}
}
