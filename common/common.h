/*
 * Code shared by devrouletted, devroulettectl and devroulette: logging,
 * allocation, UTF-8, the section 5 sanitiser, proof of work, RFC 6455
 * framing, JSON string output and the imsg-shaped IPC layer.
 */

#ifndef DR_COMMON_H
#define DR_COMMON_H

#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct event;
struct event_base;
struct bufferevent;

#define DR_PROTO_VERSION	1

/* log.c */
void	 log_init(int, int);		/* debug (stderr), syslog facility */
void	 log_procinit(const char *);
void	 log_setverbose(int);
int	 log_getverbose(void);
/* A sandboxed child hands its records to this function instead. */
void	 log_setsink(void (*)(int, const char *));
void	 log_warn(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	 log_warnx(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	 log_info(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	 log_debug(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	 logit(int, const char *, ...)
	    __attribute__((__format__ (printf, 2, 3)));
void	 log_record(int, const char *);
void	 vlog(int, const char *, va_list)
	    __attribute__((__format__ (printf, 2, 0)));
__attribute__((__noreturn__))
void	 fatal(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
__attribute__((__noreturn__))
void	 fatalx(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));

/* xmalloc.c: allocation that dies on failure */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);

/* utf8.c: strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF) */
struct utf8_stream {
	uint32_t	 us_need;	/* continuation bytes still expected */
	uint32_t	 us_cp;		/* code point being built */
	uint32_t	 us_min;	/* smallest legal value of us_cp */
};
/* Decode one code point; returns bytes used, or -1 if invalid/short. */
int	 utf8_decode(const uint8_t *, size_t, uint32_t *);
int	 utf8_valid(const uint8_t *, size_t);
size_t	 utf8_encode(uint32_t, uint8_t *);	/* out: 4 bytes; 0 if bad */
size_t	 utf8_count(const uint8_t *, size_t);	/* code points, valid input */
void	 utf8_stream_init(struct utf8_stream *);
/* Feed bytes of a fragmented message; -1 as soon as they are invalid. */
int	 utf8_stream_feed(struct utf8_stream *, const uint8_t *, size_t);
int	 utf8_stream_complete(const struct utf8_stream *);

/* sanitise.c: PROTOCOL.md section 5 */
/*
 * Input is valid UTF-8; output is never longer than input, so an output
 * buffer of inlen bytes suffices.  Returns the output length and stores the
 * number of code points in *ncp (if not NULL).
 */
size_t	 sanitise(const uint8_t *, size_t, uint8_t *, size_t *);
int	 sanitise_empty(const uint8_t *, size_t);	/* only U+0020 left */

/* pow.c: proof of work */
#define POW_CHALLENGE_LEN	32	/* lowercase hex characters */
#define POW_NONCE_MAX		32
void	 pow_init(void);		/* before a sandbox */
void	 pow_challenge(char *);		/* POW_CHALLENGE_LEN + 1 bytes */
int	 pow_nonce_valid(const char *, size_t);
int	 pow_check(const char *, const char *, size_t, int);
/* Find a nonce; returns its length or -1.  For clients and tests. */
int	 pow_solve(const char *, int, char *, size_t);
int	 pow_leading_zeros(const uint8_t *, size_t);

/* ws.c: RFC 6455 framing, shared by the front and the client */
#define WS_OP_CONT	0x0
#define WS_OP_TEXT	0x1
#define WS_OP_BINARY	0x2
#define WS_OP_CLOSE	0x8
#define WS_OP_PING	0x9
#define WS_OP_PONG	0xa
#define WS_HDR_MAX	14
#define WS_CONTROL_MAX	125
#define WS_KEY_LEN	24		/* base64 of 16 bytes */
#define WS_ACCEPT_LEN	28
struct ws_frame {
	int		 wf_fin;
	int		 wf_rsv;	/* the three reserved bits */
	int		 wf_opcode;
	int		 wf_masked;
	uint64_t	 wf_len;
	uint8_t		 wf_mask[4];
	size_t		 wf_hdrlen;
};
/* 0: need more bytes; > 0: header length; -1: malformed length */
int	 ws_frame_parse(const uint8_t *, size_t, struct ws_frame *);
void	 ws_unmask(uint8_t *, size_t, const uint8_t *, uint64_t);
size_t	 ws_frame_header(uint8_t *, int, int, uint64_t, const uint8_t *);
int	 ws_opcode_known(int);
int	 ws_accept_key(const char *, size_t, char *);	/* out: 29 bytes */
int	 ws_key_valid(const char *, size_t);
int	 ws_close_code_valid(int);

/* json.c: output helpers (input is parsed with yajl where needed) */
int	 json_escape(struct evbuffer *, const uint8_t *, size_t);
int	 json_escape_buf(char *, size_t, const uint8_t *, size_t);

/* ipc.c: imsg-shaped messages over socketpairs */
struct ipc_hdr {
	uint32_t	 ih_type;
	uint32_t	 ih_len;	/* payload bytes after the header */
	uint64_t	 ih_peerid;	/* a socket id, or 0 */
};
#define IPC_HDR_SIZE		16
#define IPC_MAX_PAYLOAD		(128 * 1024)
#define IPC_READ_MAX		(16 * 1024)	/* one read(2), batching */
struct ipc_peer;
typedef void (*ipc_dispatch_fn)(struct ipc_peer *, struct ipc_hdr *,
    uint8_t *, void *);
struct ipc_peer {
	struct bufferevent	*ip_bev;
	const char		*ip_name;	/* for log lines */
	ipc_dispatch_fn		 ip_dispatch;
	void			*ip_arg;
	void			(*ip_lost)(struct ipc_peer *, void *);
	int			 ip_untrusted;	/* drop, not die, on garbage */
	uint8_t			*ip_buf;	/* IPC_MAX_PAYLOAD bytes */
	struct event		*ip_flushev;	/* batching: end of the turn */
	int			 ip_flushq;	/* ip_flushev is active */
	struct event		*ip_readev;	/* batching: our own reads */
	struct evbuffer		*ip_in;		/* batching: a partial message */
	uint8_t			*ip_rbuf;	/* batching: IPC_READ_MAX bytes */
};
/* Pure decoder: 1 message, 0 need more, -1 malformed. */
int	 ipc_decode(const uint8_t *, size_t, struct ipc_hdr *);
void	 ipc_encode_hdr(uint8_t *, uint32_t, uint32_t, uint64_t);
void	 ipc_peer_init(struct ipc_peer *, struct event_base *, int,
	    const char *, ipc_dispatch_fn, void *);
void	 ipc_peer_free(struct ipc_peer *);
void	 ipc_peer_batch(struct ipc_peer *);
int	 ipc_send(struct ipc_peer *, uint32_t, uint64_t, const void *, size_t);
int	 ipc_sendv(struct ipc_peer *, uint32_t, uint64_t, const void *, size_t,
	    const void *, size_t);
void	 ipc_flush(struct ipc_peer *);
void	 ipc_lost_exit(struct ipc_peer *, void *);

/* util.c */
uint64_t mono_ms(void);			/* CLOCK_MONOTONIC milliseconds */
int	 str_to_u64(const char *, uint64_t, uint64_t, uint64_t *);

#endif /* DR_COMMON_H */
