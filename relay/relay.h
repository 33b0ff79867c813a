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

#endif /* DR_RELAY_H */
