/*
 * The request head (relay/relay_http.c) and what the front does with it:
 * find its end as relay_http_input() does, also when the bytes come in two
 * reads; judge it; build the answer for the verdict; take the client's
 * address from the X-Forwarded-For list (relay/relay_addr.c).  The input
 * is the bytes a client sends, so real handshakes make the seeds.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"
#include "fuzz.h"

#define ANSWER_MAX	512	/* relay_http_answer()'s buffer */

static void	 check_end(const uint8_t *, size_t, ssize_t);
static void	 check_answer(const char *, size_t, int);
static void	 check_addr(const struct http_req *);

/* Over 8 KiB: static, as in relay_http_head(). */
static struct http_req	 req;

static void
check_end(const uint8_t *p, size_t len, ssize_t end)
{
	size_t	 e;

	if (end < 0) {
		FUZZ_CHECK(len >= HTTP_HEAD_MAX, "-1 for %zu bytes", len);
		return;
	}
	if (end == 0)
		return;
	e = (size_t)end;
	FUZZ_CHECK(e <= len && e <= HTTP_HEAD_MAX, "end %zu of %zu", e, len);
	FUZZ_CHECK(e >= 2 && p[e - 1] == '\n' && (p[e - 2] == '\n' ||
	    (e >= 3 && p[e - 2] == '\r' && p[e - 3] == '\n')),
	    "end %zu is not after an empty line", e);
	/* The first empty line, not a later one. */
	FUZZ_CHECK(http_head_end(p, e - 1) == 0, "an earlier end exists");
}

/* "HTTP/1.1 <code> ...", a blank line, then Content-Length bytes. */
static void
check_answer(const char *buf, size_t n, int code)
{
	char		 start[16];
	const char	*body, *cl;
	unsigned long	 clen;

	FUZZ_CHECK(n > 0 && n < ANSWER_MAX && strlen(buf) == n,
	    "answer %d: length %zu", code, n);
	snprintf(start, sizeof(start), "HTTP/1.1 %d ", code);
	FUZZ_CHECK(strncmp(buf, start, strlen(start)) == 0,
	    "answer %d: status line", code);
	body = strstr(buf, "\r\n\r\n");
	FUZZ_CHECK(body != NULL, "answer %d: no end of head", code);
	body += 4;
	if (code == 101) {
		FUZZ_CHECK(*body == '\0', "101 with a body");
		return;
	}
	cl = strstr(buf, "\r\nContent-Length: ");
	FUZZ_CHECK(cl != NULL && cl < body, "answer %d: no length", code);
	clen = strtoul(cl + 18, NULL, 10);
	FUZZ_CHECK(clen == strlen(body), "answer %d: length %lu, body %zu",
	    code, clen, strlen(body));
}

/* Whatever the list says, the key is a well-formed one. */
static void
check_addr(const struct http_req *r)
{
	struct ipkey	 peer, ik;
	uint32_t	 hops;
	size_t		 i, used;

	memset(&peer, 0, sizeof(peer));
	peer.ik_family = AF_INET;
	peer.ik_addr[0] = 192;
	peer.ik_addr[2] = 2;
	peer.ik_addr[3] = 1;
	for (hops = 0; hops <= 4; hops++) {
		addr_client(&peer, r->hr_xff, r->hr_xfflen, r->hr_has_xff,
		    hops, &ik);
		FUZZ_CHECK(ik.ik_family == AF_INET || ik.ik_family == AF_INET6,
		    "family %d", ik.ik_family);
		used = ik.ik_family == AF_INET ? 4 : 8;
		for (i = used; i < sizeof(ik.ik_addr); i++)
			FUZZ_CHECK(ik.ik_addr[i] == 0, "unused byte %zu set", i);
		if (hops == 0 || !r->hr_has_xff)
			FUZZ_CHECK(addr_equal(&ik, &peer), "not the peer");
		(void)addr_hash(&ik);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int	 codes[] = { 200, 400, 403, 426, 429, 431, 503 };
	char			 buf[ANSWER_MAX];
	ssize_t			 end, part;
	size_t			 split, head, n, i;
	int			 code;

	end = http_head_end(data, size);
	check_end(data, size, end);

	/* A first read of any length finds the same end, or none yet. */
	for (split = i = 0; i < size && i < 64; i++)
		split = split * 31 + data[i];
	split = size > 0 ? split % size : 0;
	part = http_head_end(data, split);
	check_end(data, split, part);
	FUZZ_CHECK(part == 0 || part == end, "split at %zu: %zd, whole: %zd",
	    split, part, end);

	/* The front parses only a found head; any bytes must be safe too. */
	head = end > 0 ? (size_t)end : size;
	http_parse(data, head, &req);
	FUZZ_CHECK(req.hr_verdict >= HTTP_UPGRADE &&
	    req.hr_verdict <= HTTP_TOO_LARGE, "verdict %d", req.hr_verdict);
	FUZZ_CHECK((req.hr_verdict == HTTP_TOO_LARGE) == (head > HTTP_HEAD_MAX),
	    "431 for a %zu byte head", head);
	FUZZ_CHECK(req.hr_xfflen <= HTTP_XFF_MAX &&
	    strlen(req.hr_xff) == req.hr_xfflen &&
	    (req.hr_has_xff || req.hr_xfflen == 0), "X-Forwarded-For copy");

	n = http_switching(buf, sizeof(buf), &req);
	if (req.hr_verdict == HTTP_UPGRADE) {
		FUZZ_CHECK(ws_key_valid(req.hr_key, strlen(req.hr_key)),
		    "an upgrade with a bad key");
		check_answer(buf, n, 101);
	} else
		FUZZ_CHECK(n == 0, "101 for verdict %d", req.hr_verdict);

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		code = codes[i];
		check_answer(buf, http_response(buf, sizeof(buf), code, &req),
		    code);
	}
	FUZZ_CHECK(http_response(buf, sizeof(buf), 101, &req) == 0,
	    "an answer for 101");

	check_addr(&req);
	return (0);
}
