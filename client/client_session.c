/*
 * The protocol on top of the WebSocket: hello, proof of work, ready, join,
 * beats, the room, and what to do when any of it ends.  The client keeps
 * below every server limit by itself (message pacing, skip, insights and
 * join clocks), so a user can never earn a violation by typing.
 */

#include <sys/types.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <yajl/yajl_tree.h>

#include "client.h"

#define POW_SLICE	4096	/* hashes per event loop turn */
#define POW_TRIES_MAX	3
#define JSON_MAX	(WS_MSG_MAX)

struct session_msg {
	const char	*sm_type;
	void		(*sm_fn)(struct session *, yajl_val);
};

static void	session_connect(struct session *);
static void	session_open(void *);
static void	session_text(void *, const uint8_t *, size_t);
static void	session_end(void *, const struct conn_result *);
static void	session_retry(struct session *, int, const char *, ...)
		    __attribute__((__format__ (printf, 3, 4)));
static void	session_retry_cb(evutil_socket_t, short, void *);
static void	session_lost_room(struct session *, const char *);
static void	session_send(struct session *, const char *);
static void	session_send_cb(evutil_socket_t, short, void *);
static void	session_pump(struct session *);
static void	session_drop_pending(struct session *);
static void	session_beat_cb(evutil_socket_t, short, void *);
static void	session_pow_cb(evutil_socket_t, short, void *);
static void	session_join(struct session *);
static void	session_join_cb(evutil_socket_t, short, void *);
static void	session_quit_cb(evutil_socket_t, short, void *);
static void	session_finish(struct session *);
static void	session_arm(struct event *, uint64_t);
static void	session_new_key(struct session *);
static const char *session_str(yajl_val, const char *);
static int	session_int(yajl_val, const char *, long long, long long,
		    long long *);
static int	session_handle_ok(const char *);

static void	session_msg_hello(struct session *, yajl_val);
static void	session_msg_ready(struct session *, yajl_val);
static void	session_msg_queued(struct session *, yajl_val);
static void	session_msg_matched(struct session *, yajl_val);
static void	session_msg_msg(struct session *, yajl_val);
static void	session_msg_ended(struct session *, yajl_val);
static void	session_msg_insights(struct session *, yajl_val);
static void	session_msg_error(struct session *, yajl_val);

static const struct session_msg session_msgs[] = {
	{ "hello",	session_msg_hello },
	{ "ready",	session_msg_ready },
	{ "queued",	session_msg_queued },
	{ "matched",	session_msg_matched },
	{ "msg",	session_msg_msg },
	{ "ended",	session_msg_ended },
	{ "insights",	session_msg_insights },
	{ "error",	session_msg_error },
};

void
session_init(struct session *s, struct event_base *base,
    struct evdns_base *dns, struct ssl_ctx_st *ctx, const struct url *u, int insecure,
    int debug)
{
	memset(s, 0, sizeof(*s));
	s->s_base = base;
	s->s_dns = dns;
	s->s_sslctx = ctx;
	s->s_url = *u;
	s->s_insecure = insecure;
	s->s_debug = debug;
	s->s_backoff_ms = BACKOFF_MIN_MS;
	s->s_beat_ms = BEAT_INTERVAL_MS;
	TAILQ_INIT(&s->s_outq);
	s->s_pow_ev = evtimer_new(base, session_pow_cb, s);
	s->s_beat_ev = event_new(base, -1, EV_PERSIST, session_beat_cb, s);
	s->s_retry_ev = evtimer_new(base, session_retry_cb, s);
	s->s_join_ev = evtimer_new(base, session_join_cb, s);
	s->s_send_ev = evtimer_new(base, session_send_cb, s);
	s->s_quit_ev = evtimer_new(base, session_quit_cb, s);
	if (s->s_pow_ev == NULL || s->s_beat_ev == NULL ||
	    s->s_retry_ev == NULL || s->s_join_ev == NULL ||
	    s->s_send_ev == NULL || s->s_quit_ev == NULL)
		fatalx("%s: out of memory", __func__);
}

void
session_free(struct session *s)
{
	session_drop_pending(s);
	if (s->s_conn != NULL)
		conn_free(s->s_conn);
	s->s_conn = NULL;
	event_free(s->s_pow_ev);
	event_free(s->s_beat_ev);
	event_free(s->s_retry_ev);
	event_free(s->s_join_ev);
	event_free(s->s_send_ev);
	event_free(s->s_quit_ev);
}

void
session_start(struct session *s)
{
	session_connect(s);
}

static void
session_arm(struct event *ev, uint64_t ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

/* A fresh match key for every connection: an old one may still be held. */
static void
session_new_key(struct session *s)
{
	static const char	hex[] = "0123456789abcdef";
	uint8_t			raw[MATCH_KEY_HEX / 2];
	size_t			i;

	arc4random_buf(raw, sizeof(raw));
	for (i = 0; i < sizeof(raw); i++) {
		s->s_key[2 * i] = hex[raw[i] >> 4];
		s->s_key[2 * i + 1] = hex[raw[i] & 0xf];
	}
	s->s_key[MATCH_KEY_HEX] = '\0';
}

static void
session_connect(struct session *s)
{
	struct conn_cb	cb;

	cb.cc_open = session_open;
	cb.cc_text = session_text;
	cb.cc_end = session_end;
	cb.cc_arg = s;
	s->s_state = S_CONNECTING;
	s->s_pow_tries = 0;
	s->s_key_tries = 0;
	if (!s->s_task)
		session_new_key(s);
	session_status(s);
	s->s_conn = conn_new(s->s_base, s->s_dns, &s->s_url, s->s_insecure,
	    s->s_sslctx, &cb);
	conn_start(s->s_conn);
}

static void
session_open(void *arg)
{
	struct session	*s = arg;

	s->s_state = S_HELLO;
	session_status(s);
}

void
session_fatal(struct session *s, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(s->s_fatal, sizeof(s->s_fatal), fmt, ap);
	va_end(ap);
	s->s_exit = 1;
	s->s_state = S_QUITTING;
	if (s->s_conn != NULL) {
		conn_send_close(s->s_conn, 1000);
		conn_free(s->s_conn);
		s->s_conn = NULL;
	}
	session_finish(s);
}

/* The session is over: its owner decides what that means. */
static void
session_finish(struct session *s)
{
	event_del(s->s_beat_ev);
	event_del(s->s_quit_ev);
	if (s->s_finished++)
		return;
	if (s->s_hook == NULL || !s->s_hook(s, SE_FINISHED))
		event_base_loopexit(s->s_base, NULL);
}

static void
session_retry(struct session *s, int reset, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(s->s_why, sizeof(s->s_why), fmt, ap);
	va_end(ap);
	if (s->s_hook != NULL && s->s_hook(s, SE_LOST))
		return;
	if (reset)
		s->s_backoff_ms = BACKOFF_MIN_MS;
	s->s_state = S_RETRY;
	s->s_retry_at = mono_ms() + s->s_backoff_ms;
	ui_addf(LINE_ERROR, "%s; trying again in %d s.", s->s_why,
	    s->s_backoff_ms / 1000);
	session_arm(s->s_retry_ev, s->s_backoff_ms);
	s->s_backoff_ms *= 2;
	if (s->s_backoff_ms > BACKOFF_MAX_MS)
		s->s_backoff_ms = BACKOFF_MAX_MS;
	session_status(s);
}

static void
session_retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	session_connect(arg);
}

static void
session_lost_room(struct session *s, const char *why)
{
	if (s->s_peer[0] != '\0' && why != NULL)
		ui_addf(LINE_SYSTEM, "Your chat with %s ended: %s.", s->s_peer,
		    why);
	s->s_peer[0] = s->s_you[0] = '\0';
	s->s_leaving = 0;
	session_drop_pending(s);
}

/*
 * The connection is gone: say why in our own words, then decide.  What
 * will pass by itself (a full server, too many connections, a missed
 * heartbeat, a slow proof of work) is tried again; what will not (a ban,
 * debug mode refused, a newer protocol) ends the program with status 1.
 * The server does not say how long a ban lasts: only its default is
 * known.
 */
static void
session_end(void *arg, const struct conn_result *r)
{
	struct session	*s = arg;
	const char	*h = s->s_url.u_host;

	conn_free(s->s_conn);
	s->s_conn = NULL;
	event_del(s->s_beat_ev);
	event_del(s->s_pow_ev);
	event_del(s->s_join_ev);
	if (s->s_state == S_QUITTING) {
		session_finish(s);
		return;
	}
	session_lost_room(s, "the connection was lost");

	switch (r->cr_error) {
	case CONN_NOTLOOPBACK:
	case CONN_TLSFAIL:
	case CONN_HANDSHAKE:
		session_fatal(s, "%s", r->cr_why);
		return;
	case CONN_HTTP:
		switch (r->cr_status) {
		case 403:
			session_fatal(s, "%s refuses your address: it is "
			    "banned for a while (the server's BAN_MS, 15 "
			    "minutes by default) after too many refused "
			    "messages from it; try again later", h);
			return;
		case 503:
			session_retry(s, 0, "%s is full: it holds all the "
			    "connections it takes (the server's "
			    "MAX_TOTAL_SOCKETS)", h);
			return;
		case 429:
			session_retry(s, 0, "too many connections from your "
			    "address to %s (the server's MAX_SOCKETS_PER_IP, "
			    "3 by default)", h);
			return;
		}
		session_fatal(s, "%s answered HTTP %d instead of a WebSocket "
		    "upgrade: is the URL right?", h, r->cr_status);
		return;
	case CONN_CLOSED:
		break;
	default:
		session_retry(s, 0, "%s", r->cr_why);
		return;
	}

	switch (r->cr_code) {
	case 1001:
		session_retry(s, 1, "%s is restarting", h);
		break;
	case 4000:
		session_retry(s, 0, "%s closed the connection: our heartbeat "
		    "did not reach it in time", h);
		break;
	case 4001:
		session_retry(s, 0, "%s closed the connection: the proof of "
		    "work took longer than it allows", h);
		break;
	case 4002:
		session_fatal(s, "%s has just banned your address after too "
		    "many refused messages from it, for a while (the server's "
		    "BAN_MS, 15 minutes by default); try again later", h);
		break;
	case 4003:
		session_fatal(s, "%s does not allow debug mode (its "
		    "DEVROULETTE_ALLOW_DEBUG is not 1)", h);
		break;
	case 4005:
		session_fatal(s, "%s speaks a newer protocol: please upgrade "
		    "devroulette", h);
		break;
	case 1002:
	case 1003:
	case 1007:
	case 1009:
		session_retry(s, 0, "%s reported a protocol error (%d)", h,
		    r->cr_code);
		break;
	default:
		session_retry(s, 0, "%s closed the connection (%d)", h,
		    r->cr_code);
		break;
	}
}

/* Member name of type string, or NULL. */
static const char *
session_str(yajl_val v, const char *name)
{
	const char	*path[2] = { name, NULL };
	yajl_val	 m;

	m = yajl_tree_get(v, path, yajl_t_string);
	return (m != NULL ? YAJL_GET_STRING(m) : NULL);
}

static int
session_int(yajl_val v, const char *name, long long min, long long max,
    long long *out)
{
	const char	*path[2] = { name, NULL };
	yajl_val	 m;

	m = yajl_tree_get(v, path, yajl_t_number);
	if (m == NULL || !YAJL_IS_INTEGER(m))
		return (-1);
	*out = YAJL_GET_INTEGER(m);
	return (*out >= min && *out <= max ? 0 : -1);
}

static int
session_handle_ok(const char *h)
{
	size_t	len;

	if (h == NULL)
		return (0);
	len = strlen(h);
	return (len >= 3 && len <= HANDLE_MAX &&
	    strspn(h, "abcdefghijklmnopqrstuvwxyz-") == len);
}

/* One server message: unknown types and malformed members are ignored. */
static void
session_text(void *arg, const uint8_t *p, size_t len)
{
	struct session	*s = arg;
	yajl_val	 v;
	const char	*t;
	char		 err[128];
	size_t		 i;

	if (len > JSON_MAX || memchr(p, '\0', len) != NULL)
		return;
	if ((v = yajl_tree_parse((const char *)p, err, sizeof(err))) == NULL)
		return;
	if (YAJL_IS_OBJECT(v) && (t = session_str(v, "t")) != NULL) {
		for (i = 0; i < sizeof(session_msgs) /
		    sizeof(session_msgs[0]); i++)
			if (strcmp(t, session_msgs[i].sm_type) == 0) {
				session_msgs[i].sm_fn(s, v);
				break;
			}
	}
	yajl_tree_free(v);
}

static void
session_send(struct session *s, const char *json)
{
	if (s->s_conn != NULL)
		conn_send_text(s->s_conn, json, strlen(json));
}

static void
session_msg_hello(struct session *s, yajl_val v)
{
	const char	*c;
	long long	 ver, bits, deadline;

	if (s->s_state != S_HELLO)
		return;
	if (session_int(v, "v", 0, 1LL << 40, &ver) == -1)
		return;
	if (ver != DR_PROTO_VERSION) {
		session_fatal(s, "%s speaks protocol version %lld, this "
		    "devroulette speaks %d: please upgrade devroulette",
		    s->s_url.u_host, ver, DR_PROTO_VERSION);
		return;
	}
	c = session_str(v, "challenge");
	if (c == NULL || strlen(c) != POW_CHALLENGE_LEN ||
	    strspn(c, "0123456789abcdef") != POW_CHALLENGE_LEN ||
	    session_int(v, "bits", 0, 256, &bits) == -1 ||
	    session_int(v, "deadline_ms", 0, 1LL << 40, &deadline) == -1)
		return;
	if (bits > POW_BITS_LIMIT) {
		session_fatal(s, "%s asks for a proof of work of %lld bits, "
		    "more than this client will do (%d)", s->s_url.u_host,
		    bits, POW_BITS_LIMIT);
		return;
	}
	strlcpy(s->s_challenge, c, sizeof(s->s_challenge));
	s->s_bits = (int)bits;
	s->s_pow_deadline = mono_ms() + deadline;
	arc4random_buf(&s->s_pow_next, sizeof(s->s_pow_next));
	s->s_state = S_POW;
	session_status(s);
	session_arm(s->s_pow_ev, 0);
}

/* Solve in slices, so the screen and Ctrl-C stay alive meanwhile. */
static void
session_pow_cb(evutil_socket_t fd, short ev, void *arg)
{
	static const char	 digits[] =
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	struct session		*s = arg;
	char			 nonce[16], json[64];
	uint64_t		 v;
	size_t			 n;
	int			 i;

	for (i = 0; i < POW_SLICE; i++) {
		v = s->s_pow_next++;
		n = 0;
		do {
			nonce[n++] = digits[v % 62];
			v /= 62;
		} while (v != 0);
		nonce[n] = '\0';
		if (pow_check(s->s_challenge, nonce, n, s->s_bits)) {
			snprintf(json, sizeof(json),
			    "{\"t\":\"pow\",\"nonce\":\"%s\"}", nonce);
			session_send(s, json);
			return;
		}
	}
	session_arm(s->s_pow_ev, 0);
}

static void
session_msg_ready(struct session *s, yajl_val v)
{
	struct timeval	tv;

	if (s->s_state != S_POW)
		return;
	tv.tv_sec = s->s_beat_ms / 1000;
	tv.tv_usec = (s->s_beat_ms % 1000) * 1000;
	s->s_backoff_ms = BACKOFF_MIN_MS;
	event_add(s->s_beat_ev, &tv);
	s->s_state = S_READY;
	session_join(s);
}

/* The owner may hold beats back (a task whose transcript stopped). */
static void
session_beat_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct session	*s = arg;

	if (s->s_beat_ok == NULL || s->s_beat_ok(s))
		session_send(s, "{\"t\":\"beat\"}");
}

/* Joins are paced locally so a run of skips never meets join_rate. */
static void
session_join(struct session *s)
{
	uint64_t	now = mono_ms(), oldest;
	char		json[160];

	oldest = s->s_joins[s->s_njoins % JOINS_PER_WINDOW];
	if (oldest != 0 && now - oldest < JOIN_WINDOW_MS) {
		s->s_state = S_READY;
		ui_addf(LINE_SYSTEM, "Pausing %llu s before looking again "
		    "(the server allows %d new partners a minute).",
		    (unsigned long long)(JOIN_WINDOW_MS - (now - oldest) +
		    999) / 1000, JOINS_PER_WINDOW);
		session_arm(s->s_join_ev, JOIN_WINDOW_MS - (now - oldest) + 50);
		session_status(s);
		return;
	}
	s->s_joins[s->s_njoins++ % JOINS_PER_WINDOW] = now;
	snprintf(json, sizeof(json), "{\"t\":\"join\",\"v\":%d,\"key\":\"%s\","
	    "\"mode\":\"%s\"}", DR_PROTO_VERSION, s->s_key,
	    s->s_task ? "task" : s->s_debug ? "debug" : "open");
	session_send(s, json);
	s->s_state = S_QUEUED;
	s->s_waiting = 0;
	session_status(s);
}

static void
session_join_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct session	*s = arg;

	if (s->s_state == S_READY)
		session_join(s);
}

static void
session_msg_queued(struct session *s, yajl_val v)
{
	long long	n;

	if (s->s_state != S_QUEUED ||
	    session_int(v, "waiting", 0, 1LL << 40, &n) == -1)
		return;
	s->s_waiting = (int)(n > 1000000 ? 1000000 : n);
	session_status(s);
}

static void
session_msg_matched(struct session *s, yajl_val v)
{
	const char	*you, *peer;

	you = session_str(v, "you");
	peer = session_str(v, "peer");
	if (s->s_state != S_QUEUED)
		return;
	strlcpy(s->s_you, session_handle_ok(you) ? you : "you",
	    sizeof(s->s_you));
	strlcpy(s->s_peer, session_handle_ok(peer) ? peer : "stranger",
	    sizeof(s->s_peer));
	s->s_state = S_ROOM;
	if (s->s_hook != NULL)
		s->s_hook(s, SE_MATCHED);
	s->s_leaving = 0;
	s->s_note[0] = '\0';
	ui_addf(LINE_SYSTEM, "You are now chatting with %s (you are %s). "
	    "Say hi!", s->s_peer, s->s_you);
	session_status(s);
}

/* The server sanitised it already; the screen does not take its word. */
static void
session_msg_msg(struct session *s, yajl_val v)
{
	const char	*text;
	uint8_t		*clean;
	size_t		 len, n;

	if (s->s_peer[0] == '\0' || (text = session_str(v, "text")) == NULL)
		return;
	len = strlen(text);
	if (len == 0 || !utf8_valid((const uint8_t *)text, len))
		return;
	clean = xmalloc(len);
	n = sanitise((const uint8_t *)text, len, clean, NULL);
	if (!sanitise_empty(clean, n))
		ui_add(LINE_PEER, s->s_peer, clean, n, 0);
	free(clean);
}

static void
session_msg_ended(struct session *s, yajl_val v)
{
	const char	*r, *peer;

	if ((r = session_str(v, "reason")) == NULL || s->s_peer[0] == '\0')
		return;
	peer = s->s_peer;
	if (strcmp(r, "skip") == 0)
		ui_addf(LINE_SYSTEM, "You skipped %s.", peer);
	else if (strcmp(r, "report") == 0)
		ui_addf(LINE_SYSTEM, "You reported and left %s. Thank you.",
		    peer);
	else if (strcmp(r, "peer_left") == 0) {
		ui_addf(LINE_SYSTEM, "%s left the chat.", peer);
		strlcpy(s->s_note, "partner left", sizeof(s->s_note));
	} else if (strcmp(r, "idle") == 0)
		ui_addf(LINE_SYSTEM, "The chat with %s ended after a long "
		    "silence.", peer);
	else if (strcmp(r, "limit") == 0)
		ui_addf(LINE_SYSTEM, "The chat with %s reached the server's "
		    "message limit.", peer);
	else
		ui_addf(LINE_SYSTEM, "The chat with %s ended.", peer);
	if (s->s_npending > 0)
		ui_addf(LINE_ERROR, "%zu pending line%s not sent.",
		    s->s_npending, s->s_npending == 1 ? " was" : "s were");
	session_lost_room(s, NULL);
	if (strcmp(r, "idle") == 0 || strcmp(r, "limit") == 0) {
		s->s_state = S_ASK;
		ui_addf(LINE_SYSTEM, "Press Enter for a new partner, or type "
		    "/quit to leave.");
		session_status(s);
		return;
	}
	ui_addf(LINE_SYSTEM, "Looking for a new partner...");
	s->s_state = S_READY;
	session_join(s);
}

static void
session_msg_insights(struct session *s, yajl_val v)
{
	long long	on, wait, rooms, convos, msgs, rm, rs;

	if (session_int(v, "online", 0, 1LL << 53, &on) == -1 ||
	    session_int(v, "waiting", 0, 1LL << 53, &wait) == -1 ||
	    session_int(v, "rooms", 0, 1LL << 53, &rooms) == -1 ||
	    session_int(v, "convos", 0, 1LL << 53, &convos) == -1 ||
	    session_int(v, "messages", 0, 1LL << 53, &msgs) == -1)
		return;
	ui_addf(LINE_SYSTEM, "Now: %lld online, %lld waiting, %lld chats. "
	    "All time: %lld chats, %lld messages.", on, wait, rooms, convos,
	    msgs);
	if (session_int(v, "room_messages", 0, 1LL << 53, &rm) == 0 &&
	    session_int(v, "room_seconds", 0, 1LL << 53, &rs) == 0)
		ui_addf(LINE_SYSTEM, "This chat: %lld message%s in %lldm%02llds.",
		    rm, rm == 1 ? "" : "s", rs / 60, rs % 60);
}

/* Only our own words: the server's sentence is not needed to explain. */
static void
session_msg_error(struct session *s, yajl_val v)
{
	const char	*k;

	if ((k = session_str(v, "code")) == NULL)
		return;
	if (strcmp(k, "state") == 0)
		return;		/* a message crossed an ended room */
	if (strcmp(k, "pow") == 0) {
		if (s->s_state == S_POW && ++s->s_pow_tries < POW_TRIES_MAX)
			session_arm(s->s_pow_ev, 0);
		else
			session_fatal(s, "%s refused our proof of work",
			    s->s_url.u_host);
		return;
	}
	if (strcmp(k, "key_in_use") == 0 && s->s_state == S_QUEUED) {
		s->s_state = S_READY;
		if (!s->s_task) {
			session_new_key(s);
			session_join(s);
			return;
		}
		/* Our last socket with this key may still be closing. */
		if (++s->s_key_tries > KEY_TRIES_MAX)
			session_fatal(s, "this task already waits for a "
			    "partner elsewhere");
		else
			session_arm(s->s_join_ev, KEY_RETRY_MS);
		return;
	}
	if (strcmp(k, "join_rate") == 0 && s->s_state == S_QUEUED) {
		ui_addf(LINE_ERROR, "Too many new partners from your address "
		    "this minute; waiting before looking again.");
		s->s_state = S_READY;
		session_arm(s->s_join_ev, JOIN_WINDOW_MS / 4);
		session_status(s);
		return;
	}
	if (strcmp(k, "rate") == 0)
		ui_addf(LINE_ERROR, "A line was not delivered: sent too fast.");
	else if (strcmp(k, "too_long") == 0)
		ui_addf(LINE_ERROR, "A line was not delivered: too long.");
	else if (strcmp(k, "empty") == 0)
		ui_addf(LINE_ERROR, "A line was not delivered: nothing left "
		    "after cleaning.");
	else if (strcmp(k, "skip_rate") == 0)
		ui_addf(LINE_ERROR, "Skipping too fast; try again.");
	else if (strcmp(k, "insights_rate") == 0)
		ui_addf(LINE_ERROR, "Insights asked too often; try again.");
	else
		ui_addf(LINE_ERROR, "The server refused a message (%s).",
		    strcmp(k, "bad_frame") == 0 ? "bad_frame" : "other");
}

/* A line the user typed: checked here, queued, sent at the pace. */
void
session_say(struct session *s, const uint8_t *text, size_t len)
{
	struct outmsg	*om;
	size_t		 ncp;

	if (s->s_state != S_ROOM || s->s_leaving) {
		ui_addf(LINE_ERROR, "%s", s->s_state == S_ASK ?
		    "The chat is over: press Enter for a new partner." :
		    "Not in a chat yet: the line was not sent.");
		return;
	}
	ncp = utf8_count(text, len);
	if (ncp > MSG_MAX_CP) {
		ui_addf(LINE_ERROR, "Line too long: %zu characters, the limit "
		    "is %d. Not sent.", ncp, MSG_MAX_CP);
		return;
	}
	if (s->s_npending >= PENDING_MAX) {
		ui_addf(LINE_ERROR, "Too many lines waiting to be sent. Not "
		    "sent.");
		return;
	}
	om = xcalloc(1, sizeof(*om));
	om->om_text = xmalloc(len);
	memcpy(om->om_text, text, len);
	om->om_len = len;
	om->om_id = ui_add(LINE_SELF, "you", text, len, 1);
	TAILQ_INSERT_TAIL(&s->s_outq, om, om_entry);
	s->s_npending++;
	session_pump(s);
}

static void
session_pump(struct session *s)
{
	struct outmsg	*om;
	uint64_t	 now = mono_ms();
	char		*json;
	size_t		 jlen;
	int		 n;

	if ((om = TAILQ_FIRST(&s->s_outq)) == NULL ||
	    evtimer_pending(s->s_send_ev, NULL))
		return;
	if (s->s_last_send != 0 && now - s->s_last_send < SEND_INTERVAL_MS) {
		session_arm(s->s_send_ev, SEND_INTERVAL_MS -
		    (now - s->s_last_send));
		session_status(s);
		return;
	}
	jlen = om->om_len * 6 + 32;
	json = xmalloc(jlen);
	memcpy(json, "{\"t\":\"msg\",\"text\":", 18);
	n = json_escape_buf(json + 18, jlen - 18, (const uint8_t *)om->om_text,
	    om->om_len);
	if (n >= 0) {
		strlcpy(json + 18 + n, "}", jlen - 18 - n);
		session_send(s, json);
		ui_sent(om->om_id);
	} else
		ui_drop(om->om_id);
	free(json);
	s->s_last_send = now;
	TAILQ_REMOVE(&s->s_outq, om, om_entry);
	s->s_npending--;
	free(om->om_text);
	free(om);
	if (!TAILQ_EMPTY(&s->s_outq))
		session_arm(s->s_send_ev, SEND_INTERVAL_MS);
	session_status(s);
}

static void
session_send_cb(evutil_socket_t fd, short ev, void *arg)
{
	session_pump(arg);
}

static void
session_drop_pending(struct session *s)
{
	struct outmsg	*om;

	evtimer_del(s->s_send_ev);
	while ((om = TAILQ_FIRST(&s->s_outq)) != NULL) {
		TAILQ_REMOVE(&s->s_outq, om, om_entry);
		ui_drop(om->om_id);
		free(om->om_text);
		free(om);
	}
	s->s_npending = 0;
}

void
session_skip(struct session *s, int report)
{
	uint64_t	now = mono_ms();

	if (s->s_state != S_ROOM || s->s_leaving) {
		ui_addf(LINE_ERROR, "Not in a chat: nothing to %s.",
		    report ? "report" : "skip");
		return;
	}
	if (s->s_last_skip != 0 && now - s->s_last_skip < SKIP_GAP_MS) {
		ui_addf(LINE_ERROR, "Too fast: try again in a moment.");
		return;
	}
	s->s_last_skip = now;
	s->s_leaving = 1;
	session_send(s, report ? "{\"t\":\"report\"}" : "{\"t\":\"skip\"}");
}

void
session_insights(struct session *s)
{
	uint64_t	now = mono_ms();

	if (s->s_state < S_READY || s->s_state > S_ASK) {
		ui_addf(LINE_ERROR, "Not connected yet.");
		return;
	}
	if (s->s_last_insights != 0 &&
	    now - s->s_last_insights < INSIGHTS_GAP_MS) {
		ui_addf(LINE_ERROR, "Too fast: try again in a moment.");
		return;
	}
	s->s_last_insights = now;
	session_send(s, "{\"t\":\"insights\"}");
}

/* Enter after an idle or limit end. */
void
session_again(struct session *s)
{
	if (s->s_state != S_ASK)
		return;
	ui_addf(LINE_SYSTEM, "Looking for a new partner...");
	s->s_state = S_READY;
	session_join(s);
}

/* done, then wait a little for the server's close; twice: at once. */
void
session_quit(struct session *s)
{
	if (s->s_state == S_QUITTING || s->s_conn == NULL ||
	    s->s_state < S_READY || s->s_state > S_ASK) {
		s->s_state = S_QUITTING;
		session_finish(s);
		return;
	}
	session_send(s, "{\"t\":\"done\"}");
	s->s_state = S_QUITTING;
	session_status(s);
	session_arm(s->s_quit_ev, DONE_WAIT_MS);
}

static void
session_quit_cb(evutil_socket_t fd, short ev, void *arg)
{
	session_finish(arg);
}

/* The terminal is gone: nobody to say goodbye to. */
void
session_hangup(struct session *s)
{
	s->s_state = S_QUITTING;
	event_base_loopexit(s->s_base, NULL);
}

void
session_status(struct session *s)
{
	const char	*h = s->s_url.u_host;
	const char	*sep = s->s_note[0] != '\0' ? " - " : "";
	uint64_t	 now = mono_ms();

	switch (s->s_state) {
	case S_CONNECTING:
		ui_status("connecting to %s...", h);
		break;
	case S_HELLO:
		ui_status("connected to %s, waiting for the server...", h);
		break;
	case S_POW:
		ui_status("solving the proof of work (%d bits)...", s->s_bits);
		break;
	case S_READY:
		ui_status("%s%slooking for a dev...", s->s_note, sep);
		break;
	case S_QUEUED:
		if (s->s_waiting > 0)
			ui_status("%s%swaiting for a dev (%d waiting)",
			    s->s_note, sep, s->s_waiting);
		else
			ui_status("%s%swaiting for a dev", s->s_note, sep);
		break;
	case S_ROOM:
		if (s->s_npending > 0)
			ui_status("chatting with %s (%zu pending)", s->s_peer,
			    s->s_npending);
		else
			ui_status("chatting with %s", s->s_peer);
		break;
	case S_ASK:
		ui_status("chat ended - Enter: new partner, /quit: leave");
		break;
	case S_RETRY:
		ui_status("%s - retrying in %llu s", s->s_why,
		    (unsigned long long)(s->s_retry_at > now ?
		    (s->s_retry_at - now + 999) / 1000 : 0));
		break;
	case S_QUITTING:
		ui_status("leaving...");
		break;
	}
}
