/*
 * The front process: HTTP upgrade, RFC 6455, proof of work, per-IP limits
 * and strict validation of every client message.  Nothing here is shared
 * with the matcher except through the IPC types in devrouletted.h.
 */

#ifndef DR_RELAY_H
#define DR_RELAY_H

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <stdint.h>

#include "devrouletted.h"

/*
 * relay_http.c: the request head, parsed from a complete head (request line
 * through the empty line).  Pure: no I/O, no allocation.
 */
#define HTTP_XFF_MAX	HTTP_HEAD_MAX

enum http_verdict {
	HTTP_UPGRADE = 1,	/* a valid WebSocket handshake: admission next */
	HTTP_HEALTHZ,		/* 200 "ok\n" */
	HTTP_NOT_UPGRADE,	/* 426 */
	HTTP_BAD,		/* 400 */
	HTTP_TOO_LARGE		/* 431 */
};

struct http_req {
	int		 hr_verdict;		/* enum http_verdict */
	char		 hr_key[WS_KEY_LEN + 1];	/* Sec-WebSocket-Key */
	int		 hr_subproto;	/* offered devroulette.v1 */
	int		 hr_bad_version;	/* 400 carries Version: 13 */
	/* every X-Forwarded-For value, joined with "," in order */
	char		 hr_xff[HTTP_XFF_MAX + 1];
	size_t		 hr_xfflen;
	int		 hr_has_xff;
};

/*
 * Find the end of the head in buf: returns the head length (including the
 * final CRLFCRLF or LFLF), 0 if more bytes are needed, -1 if it cannot fit in
 * HTTP_HEAD_MAX.
 */
ssize_t	 http_head_end(const uint8_t *, size_t);
void	 http_parse(const uint8_t *, size_t, struct http_req *);
/* Write a complete answer for a non-101 status; returns its length. */
size_t	 http_response(char *, size_t, int, const struct http_req *);
/* The 101 answer; returns its length, 0 if the key is bad. */
size_t	 http_switching(char *, size_t, const struct http_req *);

/*
 * relay_msg.c: one inbound JSON text message, validated strictly with yajl
 * (exact member set, exact types, formats, no duplicates, no lone
 * surrogates).  Pure.
 */
enum cmsg_type {
	CMSG_POW = 1,
	CMSG_JOIN,
	CMSG_BEAT,
	CMSG_MSG,
	CMSG_SKIP,
	CMSG_REPORT,
	CMSG_INSIGHTS,
	CMSG_DONE
};

struct client_msg {
	int		 cm_type;		/* enum cmsg_type */
	char		 cm_nonce[POW_NONCE_MAX + 1];
	size_t		 cm_noncelen;
	double		 cm_v;			/* join: the "v" number */
	uint8_t		 cm_key[MATCH_KEY_LEN];	/* join: decoded hex */
	int		 cm_mode;		/* join: enum dr_mode */
	uint8_t		*cm_text;		/* msg: points into caller's buf */
	size_t		 cm_textlen;		/* UTF-8 bytes */
};

/*
 * Returns 0 and fills the message, or -1 (bad_frame).  The text of a msg is
 * unescaped into the caller's buffer (textbuf, textsz >= input length).
 */
int	 cmsg_parse(const uint8_t *, size_t, struct client_msg *, uint8_t *,
	    size_t);

/*
 * relay_addr.c: client identity (PROTOCOL.md section 2).  An ipkey is what
 * per-IP limits and bans key on: an IPv4 address, or an IPv6 /64.
 */
struct ipkey {
	uint8_t		 ik_family;	/* AF_INET or AF_INET6 */
	uint8_t		 ik_addr[16];	/* v4: 4 bytes; v6: first 8 bytes */
};

/* Parse one textual address strictly (no port, no brackets). */
int	 addr_parse(const char *, size_t, struct ipkey *);
void	 addr_from_sockaddr(const struct sockaddr *, struct ipkey *);
/* The client's key, from the XFF list and the hop count, else the peer. */
void	 addr_client(const struct ipkey *, const char *, size_t, int,
	    uint32_t, struct ipkey *);
int	 addr_equal(const struct ipkey *, const struct ipkey *);
uint32_t addr_hash(const struct ipkey *);
/* Which front owns an address: the same answer in every front (D43). */
uint32_t addr_owner(const struct ipkey *, uint32_t, uint32_t);

/*
 * Everything below is the front's own machinery: relay.c (process, accept,
 * lifecycle, timers, IPC), relay_ws.c (RFC 6455 in and out), relay_client.c
 * (the state mirror and the client's messages), relay_out.c (every outbound
 * JSON message), relay_ip.c (per-IP limits), relay_buf.c (byte buffers).
 */
#include <sys/queue.h>

#include <event2/event_struct.h>

#define RELAY_READ_MAX		(64 * 1024)	/* one read(2) */
#define RELAY_GRACE_MS		1000	/* close handshake, lingering close */
#define RELAY_ACCEPT_PAUSE_MS	1000	/* after EMFILE/ENFILE */
#define RELAY_SWEEP_MS		10000	/* idle per-IP entries freed */
#define RELAY_IPS_SPARE		1024	/* per-IP entries beyond sockets */
#define RELAY_BUDGET_MS		1000	/* FRAME_BUDGET frames per this */
#define RELAY_CLOSE_REASON_MAX	(WS_CONTROL_MAX - 2)

/*
 * A byte buffer allocated only while it holds something: most sockets are
 * idle most of the time, and an idle socket should cost no buffer at all.
 */
struct rbuf {
	size_t		 rb_off;	/* consumed bytes at the front */
	size_t		 rb_len;	/* bytes held, after rb_off */
	size_t		 rb_size;	/* of rb_data */
	uint8_t		 rb_data[];
};

/*
 * Memory the front recycles itself (yajl's arena, cached output buffers)
 * is poisoned while unused, so that AddressSanitizer still sees misuse.
 */
#if defined(DR_SANITIZE) || defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#endif
#endif
#ifndef ASAN_POISON_MEMORY_REGION
#define ASAN_POISON_MEMORY_REGION(p, n)		((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n)	((void)(p), (void)(n))
#endif

/* relay_buf.c */
void	 rbuf_add(struct rbuf **, const void *, size_t);
void	 rbuf_drain(struct rbuf **, size_t);
void	 rbuf_free(struct rbuf **);
size_t	 rbuf_len(const struct rbuf *);
uint8_t	*rbuf_ptr(const struct rbuf *);

/*
 * The front's mirror of a socket's state (docs/DESIGN.md).  HELLO through
 * ROOM are open WebSockets; the mirror moves only on what the client has
 * been told.
 */
enum conn_state {
	CS_HTTP = 1,	/* reading the request head */
	CS_HELLO,	/* 101 and hello sent, no accepted pow yet */
	CS_READY,
	CS_JOINING,	/* IMSG_JOIN sent, no QUEUED or key_in_use yet */
	CS_QUEUED,
	CS_ROOM,
	CS_CLOSING,	/* our close frame is queued; awaiting the peer's */
	CS_DRAIN,	/* all said: flush, shut down, await EOF */
	CS_DEAD		/* torn down, freed at the end of the loop turn */
};

#define CS_ISOPEN(s)	((s) >= CS_HELLO && (s) <= CS_ROOM)

/* c_flags */
#define CF_FLUSHQ	0x01	/* on the flush list */
#define CF_WRITING	0x02	/* output blocked: EV_WRITE armed */
#define CF_SHUTWR	0x04	/* shutdown(SHUT_WR) done */
#define CF_EOF		0x08	/* the peer shut its side: no more reads */
#define CF_MSGDROP	0x10	/* a frame of this message was over budget */
#define CF_ADOPTED	0x20	/* handed over by another front: admit here */
#define CF_HSLIST	0x40	/* on f_hs: still reading the request head */
#define CF_HANDWAIT	0x80	/* waits for room to be handed to its owner */

/* The last FRAME_BUDGET frames within budget, as ms clock values. */
struct budget {
	uint32_t	 bu_t[FRAME_BUDGET];
	uint8_t		 bu_next;	/* the oldest */
};

struct ipent;

/*
 * One TCP connection, from accept to teardown.  Kept small on purpose:
 * buffers exist only while they hold bytes, and one timer event serves
 * every deadline of the connection (the earliest is armed).
 */
struct conn {
	struct event		 c_ev;		/* read, + write while blocked */
	struct event		 c_tev;		/* the earliest deadline */
	TAILQ_ENTRY(conn)	 c_entry;	/* all connections, or reaping */
	TAILQ_ENTRY(conn)	 c_flush;	/* output to write this turn */
	union {			/* never both: a head, then an open socket */
		TAILQ_ENTRY(conn) c_hsentry;	/* f_hs, while in CS_HTTP */
		LIST_ENTRY(conn) c_ipentry;	/* open WebSockets of c_ip */
	};
	struct conn		*c_idnext;	/* socket id hash chain */
	struct ipent		*c_ip;		/* while open */
	struct rbuf		*c_in;		/* a partial head or frame */
	struct rbuf		*c_msg;		/* fragments of a message */
	struct rbuf		*c_out;
	uint64_t		 c_id;		/* 0 until the 101 */
	uint64_t		 c_deadline;	/* handshake, pow, beat, grace */
	uint64_t		 c_seen;	/* last complete frame */
	uint64_t		 c_ping;	/* next ping */
	uint64_t		 c_timer;	/* c_tev fires then; 0: unarmed */
	struct utf8_stream	 c_utf8;	/* the text message so far */
	struct budget		 c_budget;
	union {
		struct {	/* an open WebSocket */
			uint32_t c_msglen;	/* payload bytes of message */
			uint32_t c_fed;		/* of a partial frame, seen */
		};
		struct {	/* CF_HANDWAIT: c_in holds the head and more */
			uint32_t c_handto;	/* the owner */
			uint32_t c_headlen;
		};
	};
	uint8_t			 c_challenge[POW_CHALLENGE_LEN / 2];
	struct ipkey		 c_peer;	/* TCP peer, for admission */
	uint8_t			 c_state;	/* enum conn_state */
	uint8_t			 c_flags;
	uint8_t			 c_nframes;	/* data frames of the message */
	int			 c_fd;
};

TAILQ_HEAD(conn_list, conn);
LIST_HEAD(conn_iplist, conn);

/* relay_ip.c: per client IP (section 6), pure: the caller passes the time */
struct tsring {			/* instants in a sliding window, oldest first */
	uint64_t	*ts_t;
	uint32_t	 ts_size;
	uint32_t	 ts_head;
	uint32_t	 ts_len;
};

struct ipent {
	struct ipkey		 ie_key;
	struct ipent		*ie_next;	/* hash chain */
	struct conn_iplist	 ie_socks;	/* open WebSockets */
	uint32_t		 ie_nsocks;
	uint32_t		 ie_pending;	/* joins awaiting the matcher */
	uint64_t		 ie_banned;	/* ban ends then; 0: none */
	struct tsring		 ie_viol;	/* violations, last WINDOW_MS */
	struct tsring		 ie_joins;	/* accepted joins, ditto */
};

struct iptable {
	struct ipent	**it_bucket;
	uint32_t	 it_size;	/* a power of two */
	uint32_t	 it_count;
	uint32_t	 it_max;	/* entries at most (D41) */
	uint32_t	 it_cursor;	/* where the next eviction starts */
};

void	 ip_table_init(struct iptable *);
void	 ip_table_free(struct iptable *);
struct ipent	*ip_find(struct iptable *, const struct ipkey *);
struct ipent	*ip_get(struct iptable *, const struct ipkey *);
int	 ip_banned(struct ipent *, uint64_t);
int	 ip_violation(struct ipent *, uint64_t, uint32_t, uint64_t);
int	 ip_join_allowed(struct ipent *, uint64_t, uint32_t);
void	 ip_join_pend(struct ipent *);
void	 ip_join_accept(struct ipent *, uint64_t);
void	 ip_join_release(struct ipent *);
int	 ip_idle(struct ipent *, uint64_t);
uint32_t ip_sweep(struct iptable *, uint64_t);
uint32_t ip_make_room(struct iptable *, uint64_t);
uint32_t ip_bans(struct iptable *, uint64_t, uint64_t *, uint32_t);

/* relay.c: the process */
struct front {
	const struct settings	*f_conf;
	struct event_base	*f_base;
	struct ipc_peer		 f_parent;
	struct ipc_peer		 f_matcher;
	uint32_t		 f_index;	/* which front, of PREFORK */
	struct front_shared	*f_shared;	/* the count all fronts keep */
	int			 f_lfd;		/* listening socket */
	int			 f_reserve;	/* spare fd for EMFILE */
	struct event		 f_lev;		/* accept */
	struct event		 f_pauseev;	/* accept paused */
	struct event		 f_flushev;	/* end of turn: write, reap */
	struct event		 f_sweepev;
	struct event		 f_downev;	/* shutdown grace */
	struct conn_list	 f_conns;
	struct conn_list	 f_flushq;
	struct conn_list	 f_reapq;
	struct conn_list	 f_hs;		/* in CS_HTTP, oldest first */
	uint32_t		 f_nhs;
	uint32_t		 f_hsmax;	/* D44 */
	uint64_t		 f_hsdropped;	/* since the last log line */
	uint64_t		 f_hslogged;
	struct conn		**f_ids;	/* socket id hash, open only */
	uint64_t		 f_idmask;
	uint64_t		 f_nextid;
	uint32_t		 f_nconns;	/* TCP connections */
	uint32_t		 f_nopen;	/* open WebSockets */
	struct iptable		 f_ips;
	int			 f_shutdown;
};

extern struct front	*front;

void	 relay_close(struct conn *, const char *);
struct conn	*relay_conn_make(int, const struct ipkey *, uint64_t);
void	 relay_http_head(struct conn *, uint8_t *, size_t, size_t);
void	 relay_http_answer(struct conn *, int, const struct http_req *);
int	 relay_queue_flush(struct conn *);
void	 relay_timer_arm(struct conn *);
void	 relay_detach(struct conn *);
void	 relay_violation(struct ipent *);
void	 relay_drain(struct conn *);
int	 relay_send_matcher(struct conn *, uint32_t, const void *, size_t);
int	 relay_send_stamped(struct conn *, uint32_t, uint64_t, const void *,
	    size_t);

/* relay_hand.c: connections handed to the front that owns the address */
void	 relay_hand_init(const struct front_setup *);
void	 relay_hand_shutdown(void);
void	 relay_hand_forget(struct conn *);
uint32_t relay_hand_owner(const struct ipkey *);
void	 relay_hand_off(struct conn *, uint32_t, const uint8_t *, size_t,
	    size_t);

/* relay_ws.c: RFC 6455 for the server side */
void	 relay_ws_input(struct conn *, uint8_t *, size_t);
int	 relay_ws_check(const struct ws_frame *, uint32_t, uint32_t);
int	 relay_budget_take(struct budget *, uint32_t);
void	 relay_budget_init(struct budget *, uint32_t);
int	 relay_ws_send(struct conn *, int, const void *, size_t);
void	 relay_ws_close(struct conn *, int, const char *);
void	 relay_ws_fail(struct conn *, int);
void	 relay_ws_ping(struct conn *);

/* relay_client.c: the client's messages against the state mirror */
void	 relay_client_message(struct conn *, const uint8_t *, size_t);
void	 relay_client_reply(struct conn *, uint32_t, const uint8_t *, size_t);
void	 relay_error(struct conn *, enum dr_error);
void	 relay_challenge_set(struct conn *, const char *);

/* relay_out.c: every outbound JSON message, formatted */
#define OUT_MAX		(6 * IPC_TEXT_MAX + 64)	/* msg, all escaped */
size_t	 out_hello(char *, size_t, const char *, uint32_t, uint32_t);
size_t	 out_ready(char *, size_t);
size_t	 out_queued(char *, size_t, uint32_t);
size_t	 out_matched(char *, size_t, const char *, const char *);
size_t	 out_msg(char *, size_t, const uint8_t *, size_t);
size_t	 out_ended(char *, size_t, enum dr_ended);
size_t	 out_insights(char *, size_t, const struct ipc_insights *);
size_t	 out_error(char *, size_t, enum dr_error);
int	 out_handle_valid(const char *, size_t);
int	 relay_out_hello(struct conn *, const char *);
int	 relay_out_ready(struct conn *);
int	 relay_out_queued(struct conn *, uint32_t);
int	 relay_out_matched(struct conn *, const struct ipc_matched *);
int	 relay_out_msg(struct conn *, const uint8_t *, size_t);
int	 relay_out_ended(struct conn *, enum dr_ended);
int	 relay_out_insights(struct conn *, const struct ipc_insights *);
int	 relay_out_error(struct conn *, enum dr_error);

#endif /* DR_RELAY_H */
