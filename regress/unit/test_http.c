/*
 * relay_http.c: finding the head, judging it, and the answers.
 */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"
#include "unit.h"

#define HOST	"Host: x\r\n"
#define REQ(line, hdrs)	line "\r\n" HOST hdrs "\r\n"
#define KEY	"dGhlIHNhbXBsZSBub25jZQ=="	/* RFC 6455 1.3 */
#define ACCEPT	"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

#define GOOD_HEAD(line, extra)						\
	line "\r\n"							\
	"Host: example.com\r\n"						\
	"Upgrade: websocket\r\n"					\
	"Connection: Upgrade\r\n"					\
	"Sec-WebSocket-Key: " KEY "\r\n"				\
	"Sec-WebSocket-Version: 13\r\n"					\
	extra								\
	"\r\n"

static void	test_head_end(void);
static void	test_upgrade(void);
static void	test_bad(void);
static void	test_plain(void);
static void	test_xff(void);
static void	test_response(void);
static int	verdict(const char *);
static int	verdict_len(const char *, size_t);
static char	*head_of(size_t);

static struct http_req	req;

static int
verdict_len(const char *s, size_t len)
{
	http_parse((const uint8_t *)s, len, &req);
	return (req.hr_verdict);
}

static int
verdict(const char *s)
{
	return (verdict_len(s, strlen(s)));
}

/* A head of exactly n bytes: request line, one filler header, CRLFCRLF. */
static char *
head_of(size_t n)
{
	const char	*pre = "GET / HTTP/1.1\r\n" HOST "X-Pad: ";
	char		*h;
	size_t		 fill;

	fill = n - strlen(pre) - 4;
	h = malloc(n + 1);
	if (h == NULL)
		abort();
	memcpy(h, pre, strlen(pre));
	memset(h + strlen(pre), 'a', fill);
	memcpy(h + strlen(pre) + fill, "\r\n\r\n", 5);
	return (h);
}

static void
test_head_end(void)
{
	const char	*h = "GET / HTTP/1.1\r\nHost: x\r\n\r\nrest";
	char		*big;
	size_t		 i;
	ssize_t		 r;

	CHECK(http_head_end((const uint8_t *)h, strlen(h)) ==
	    (ssize_t)(strlen(h) - 4), "head end before the frame bytes");
	for (i = 0, r = 0; i < strlen(h) - 4 && r == 0; i++)
		r = http_head_end((const uint8_t *)h, i);
	CHECK(r == 0, "every truncated head needs more bytes");
	CHECK(http_head_end((const uint8_t *)"", 0) == 0, "empty buffer");
	CHECK(http_head_end((const uint8_t *)"GET / HTTP/1.1\n\n", 16) == 16,
	    "bare LF LF ends the head (for a quick 400)");
	CHECK(http_head_end((const uint8_t *)"A\r\n\r", 4) == 0,
	    "CRLF CR: more");
	CHECK(http_head_end((const uint8_t *)"A\r\n\r\n", 5) == 5,
	    "CRLFCRLF");
	CHECK(http_head_end((const uint8_t *)"A\r\r\n", 4) == 0,
	    "CR CR LF is no empty line");

	big = head_of(HTTP_HEAD_MAX);
	CHECK(http_head_end((const uint8_t *)big, HTTP_HEAD_MAX) ==
	    HTTP_HEAD_MAX, "a head of exactly 8192 bytes fits");
	CHECK(verdict_len(big, HTTP_HEAD_MAX) == HTTP_NOT_UPGRADE,
	    "and parses");
	CHECK(http_head_end((const uint8_t *)big, HTTP_HEAD_MAX - 1) == 0,
	    "8191 bytes of it need more");
	free(big);
	big = head_of(HTTP_HEAD_MAX + 1);
	CHECK(http_head_end((const uint8_t *)big, HTTP_HEAD_MAX + 1) == -1,
	    "a head of 8193 bytes does not fit");
	CHECK(http_head_end((const uint8_t *)big, HTTP_HEAD_MAX) == -1,
	    "known as soon as 8192 bytes have no end");
	CHECK(http_head_end((const uint8_t *)big, HTTP_HEAD_MAX - 1) == 0,
	    "not before");
	CHECK(verdict_len(big, HTTP_HEAD_MAX + 1) == HTTP_TOO_LARGE,
	    "http_parse refuses it too");
	free(big);
}

static void
test_upgrade(void)
{
	CHECK(verdict(GOOD_HEAD("GET / HTTP/1.1", "")) == HTTP_UPGRADE,
	    "plain handshake");
	CHECK(strcmp(req.hr_key, KEY) == 0, "key kept");
	CHECK(!req.hr_subproto && !req.hr_has_xff && !req.hr_bad_version,
	    "nothing else set");
	CHECK(verdict(GOOD_HEAD("GET /any/path?x=1 HTTP/1.1", "")) ==
	    HTTP_UPGRADE, "any path upgrades");
	CHECK(verdict(GOOD_HEAD("GET /healthz HTTP/1.1", "")) ==
	    HTTP_UPGRADE, "even /healthz");
	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "upgrade:WebSocket\r\n"
	    "CONNECTION: keep-alive, Upgrade\r\n"
	    "sec-websocket-key: \t" KEY " \r\n"
	    "SEC-WEBSOCKET-VERSION: 13\r\n\r\n") == HTTP_UPGRADE,
	    "names and values case-insensitive, OWS trimmed, token list");
	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Upgrade: websocket\r\n"
	    "Connection: keep-alive\r\n"
	    "Connection: upgrade\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n") == HTTP_UPGRADE,
	    "Connection tokens over several lines");
	CHECK(verdict(GOOD_HEAD("GET / HTTP/1.1",
	    "Sec-WebSocket-Protocol: chat, devroulette.v1\r\n")) ==
	    HTTP_UPGRADE && req.hr_subproto, "subprotocol in a list");
	CHECK(verdict(GOOD_HEAD("GET / HTTP/1.1",
	    "Sec-WebSocket-Protocol: chat\r\n"
	    "Sec-WebSocket-Protocol:devroulette.v1\r\n")) == HTTP_UPGRADE &&
	    req.hr_subproto, "subprotocol on a second line");
	CHECK(verdict(GOOD_HEAD("GET / HTTP/1.1",
	    "Sec-WebSocket-Protocol: chat, devroulette.v2\r\n")) ==
	    HTTP_UPGRADE && !req.hr_subproto, "other subprotocols ignored");
	CHECK(verdict(GOOD_HEAD("GET / HTTP/1.1",
	    "Sec-WebSocket-Protocol: Devroulette.V1\r\n")) ==
	    HTTP_UPGRADE && !req.hr_subproto, "subprotocol case-sensitive");
	CHECK(verdict(GOOD_HEAD("GET / HTTP/1.1",
	    "Sec-WebSocket-Extensions: permessage-deflate\r\n")) ==
	    HTTP_UPGRADE, "extensions offered, ignored");
	CHECK(verdict(GOOD_HEAD("GET / HTTP/1.1",
	    "X-Bin: \x80\xff caf\xc3\xa9\r\n")) == HTTP_UPGRADE,
	    "obs-text in a value");
}

static void
test_bad(void)
{
	CHECK(verdict(GOOD_HEAD("POST / HTTP/1.1", "")) == HTTP_BAD, "POST");
	CHECK(verdict(GOOD_HEAD("get / HTTP/1.1", "")) == HTTP_BAD,
	    "method is case-sensitive");
	CHECK(verdict(GOOD_HEAD("GET / HTTP/1.0", "")) == HTTP_BAD,
	    "HTTP/1.0 cannot upgrade");
	CHECK(verdict(GOOD_HEAD("GET / HTTP/2.0", "")) == HTTP_BAD,
	    "HTTP/2.0 request line");
	CHECK(verdict(GOOD_HEAD("GET  / HTTP/1.1", "")) == HTTP_BAD,
	    "two spaces in the request line");
	CHECK(verdict(GOOD_HEAD("GET / HTTP/1.1 ", "")) == HTTP_BAD,
	    "trailing space in the request line");
	CHECK(verdict(GOOD_HEAD("GET /", "")) == HTTP_BAD, "no version");
	CHECK(verdict(GOOD_HEAD("", "")) == HTTP_BAD, "empty request line");
	CHECK(verdict("\r\n" GOOD_HEAD("GET / HTTP/1.1", "")) == HTTP_BAD,
	    "leading empty line");

	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Upgrade: websocket\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n") == HTTP_BAD,
	    "no Connection header");
	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Upgrade: websocket\r\n"
	    "Connection: keep-alive\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n") == HTTP_BAD,
	    "no upgrade token");
	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Upgrade: websocket\r\n"
	    "Connection: upgrades, xupgrade\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n") == HTTP_BAD,
	    "tokens are whole words");
	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Upgrade: websocket2\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n") == HTTP_BAD,
	    "Upgrade: websocket2");
	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Upgrade: websocket, h2c\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n") == HTTP_BAD,
	    "Upgrade must be exactly websocket");
	CHECK(verdict(GOOD_HEAD("GET / HTTP/1.1", "Upgrade: websocket\r\n")) ==
	    HTTP_BAD, "two Upgrade lines");
	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n") == HTTP_BAD,
	    "no Upgrade header");

	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n") == HTTP_BAD, "no key");
	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n") == HTTP_BAD,
	    "key of 23 characters");
	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ===\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n") == HTTP_BAD,
	    "key of 25 characters");
	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQA\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n") == HTTP_BAD,
	    "key without padding");
	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j=Q==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n") == HTTP_BAD,
	    "padding inside the key");
	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j-Q==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n") == HTTP_BAD,
	    "key outside the base64 alphabet");
	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key:\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n") == HTTP_BAD, "empty key");
	CHECK(verdict(GOOD_HEAD("GET / HTTP/1.1",
	    "Sec-WebSocket-Key: " KEY "\r\n")) == HTTP_BAD,
	    "the key twice, even the same");
	CHECK(!req.hr_bad_version, "a key problem is no version problem");

	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Version: 8\r\n\r\n") == HTTP_BAD &&
	    req.hr_bad_version, "version 8, with Version: 13 in the 400");
	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\n\r\n") == HTTP_BAD &&
	    req.hr_bad_version, "no version");
	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Version: 013\r\n\r\n") == HTTP_BAD &&
	    req.hr_bad_version, "version 013");
	CHECK(verdict(GOOD_HEAD("GET / HTTP/1.1",
	    "Sec-WebSocket-Version: 13\r\n")) == HTTP_BAD &&
	    req.hr_bad_version, "the version twice");
	CHECK(verdict("GET / HTTP/1.1\r\n" HOST
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Version: 13, 8\r\n\r\n") == HTTP_BAD &&
	    req.hr_bad_version, "a version list");

	CHECK(verdict(REQ("GET / HTTP/1.1", "Host2 example.com\r\n")) ==
	    HTTP_BAD, "header without a colon");
	CHECK(verdict(REQ("GET / HTTP/1.1", "X-A : b\r\n")) == HTTP_BAD,
	    "space before the colon");
	CHECK(verdict(REQ("GET / HTTP/1.1", ": x\r\n")) == HTTP_BAD,
	    "empty header name");
	CHECK(verdict(REQ("GET / HTTP/1.1", "X(A): x\r\n")) == HTTP_BAD,
	    "separator in a header name");
	CHECK(verdict(REQ("GET / HTTP/1.1", "X-A: b\r\n c\r\n")) == HTTP_BAD,
	    "obs-fold");
	CHECK(verdict("GET / HTTP/1.1\nHost: x\n\n") == HTTP_BAD,
	    "bare LF line ends");
	CHECK(verdict("GET / HTTP/1.1\r\nHost: x\n\r\n") == HTTP_BAD,
	    "one bare LF");
	CHECK(verdict("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n") == HTTP_BAD,
	    "bare CR in a value");
	CHECK(verdict_len("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 29) ==
	    HTTP_BAD, "NUL in a value");
	CHECK(verdict_len(REQ("GET / HTTP/1.1", "X\0A: b\r\n"), 35) ==
	    HTTP_BAD, "NUL in a name");
	CHECK(verdict_len(REQ("GET /\0 HTTP/1.1", ""), 28) == HTTP_BAD,
	    "NUL in the target");
	CHECK(verdict(REQ("GET / HTTP/1.1", "X-A: \x01\r\n")) == HTTP_BAD,
	    "control character in a value");
	CHECK(verdict(REQ("GET / HTTP/1.1", "X-A: \x7f\r\n")) == HTTP_BAD,
	    "DEL in a value");
	CHECK(verdict("GET / HTTP/1.1\r\nHost: x\r\n") == HTTP_BAD,
	    "no empty line");
	CHECK(verdict("GET / HTTP/1.1\r\nHost: x\r\n\r") == HTTP_BAD,
	    "truncated final CRLF");
	CHECK(verdict("GET / HTTP/1.1") == HTTP_BAD, "request line alone");
	CHECK(verdict("") == HTTP_BAD, "nothing at all");
	CHECK(verdict(REQ("GET /healthz HTTP/1.1", "X-A b\r\n")) == HTTP_BAD,
	    "a malformed /healthz is 400 too");

	CHECK(verdict("GET /healthz HTTP/1.1\r\n\r\n") == HTTP_BAD,
	    "HTTP/1.1 without Host");
	CHECK(verdict(REQ("GET /healthz HTTP/1.1", HOST)) == HTTP_BAD,
	    "two Host lines");
	CHECK(verdict("GET / HTTP/1.1\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n") == HTTP_BAD,
	    "handshake without Host");
	CHECK(verdict(GOOD_HEAD("GET / HTTP/1.1", HOST)) == HTTP_BAD,
	    "handshake with two Host lines");
}

static void
test_plain(void)
{
	CHECK(verdict(REQ("GET /healthz HTTP/1.1", "")) == HTTP_HEALTHZ,
	    "/healthz");
	CHECK(verdict(REQ("GET /healthz?probe=1 HTTP/1.1", "")) ==
	    HTTP_HEALTHZ, "/healthz with a query");
	CHECK(verdict(REQ("GET /healthz? HTTP/1.1", "")) == HTTP_HEALTHZ,
	    "/healthz with an empty query");
	CHECK(verdict(REQ("GET /healthz HTTP/1.0", "")) == HTTP_HEALTHZ,
	    "/healthz over HTTP/1.0");
	CHECK(verdict("GET /healthz HTTP/1.0\r\n\r\n") == HTTP_HEALTHZ,
	    "HTTP/1.0 needs no Host");
	CHECK(verdict(REQ("GET /healthzz HTTP/1.1", "")) == HTTP_NOT_UPGRADE,
	    "/healthzz");
	CHECK(verdict(REQ("GET /healthz/ HTTP/1.1", "")) == HTTP_NOT_UPGRADE,
	    "/healthz/");
	CHECK(verdict(REQ("GET /x?/healthz HTTP/1.1", "")) ==
	    HTTP_NOT_UPGRADE, "/x?/healthz");
	CHECK(verdict(REQ("GET /HEALTHZ HTTP/1.1", "")) == HTTP_NOT_UPGRADE,
	    "path is case-sensitive");
	CHECK(verdict(REQ("HEAD /healthz HTTP/1.1", "")) == HTTP_NOT_UPGRADE,
	    "HEAD /healthz");
	CHECK(verdict(REQ("POST /healthz HTTP/1.1", "Content-Length: 0\r\n"))
	    == HTTP_NOT_UPGRADE, "POST /healthz");
	CHECK(verdict(REQ("GET / HTTP/1.1", "")) == HTTP_NOT_UPGRADE,
	    "plain GET");
	CHECK(verdict(REQ("GET / HTTP/1.1", "Connection: keep-alive\r\n")) ==
	    HTTP_NOT_UPGRADE, "keep-alive alone");
	CHECK(verdict(REQ("GET /healthz HTTP/1.1", "Connection: Upgrade\r\n"))
	    == HTTP_BAD, "/healthz with an upgrade token is an attempt");
	CHECK(verdict(REQ("GET /healthz HTTP/1.1", "Upgrade: h2c\r\n")) ==
	    HTTP_BAD, "any Upgrade header is an attempt");
	CHECK(verdict(REQ("GET / HTTP/1.1", "Sec-WebSocket-Version: 13\r\n"))
	    == HTTP_BAD && !req.hr_bad_version,
	    "a Version header is an attempt");
	CHECK(verdict(REQ("GET / HTTP/1.1", "Sec-WebSocket-Key: x\r\n")) ==
	    HTTP_BAD && req.hr_bad_version, "a Key header is an attempt");
}

static void
test_xff(void)
{
	CHECK(verdict(GOOD_HEAD("GET / HTTP/1.1",
	    "X-Forwarded-For: 1.2.3.4, 5.6.7.8\r\n")) == HTTP_UPGRADE &&
	    req.hr_has_xff && strcmp(req.hr_xff, "1.2.3.4, 5.6.7.8") == 0 &&
	    req.hr_xfflen == 16, "one XFF line");
	CHECK(verdict("GET / HTTP/1.1\r\n"
	    "X-Forwarded-For: a\r\n"
	    "Host: x\r\n"
	    "x-forwarded-for:  b , c \r\n"
	    "X-FORWARDED-FOR:\r\n\r\n") == HTTP_NOT_UPGRADE &&
	    strcmp(req.hr_xff, "a,b , c,") == 0 && req.hr_xfflen == 8,
	    "XFF lines joined in order, empty ones too");
	CHECK(verdict(REQ("GET / HTTP/1.1", "X-Forwarded-For:\r\n")) ==
	    HTTP_NOT_UPGRADE && req.hr_has_xff && req.hr_xfflen == 0,
	    "an empty XFF line is still there");
	CHECK(verdict(REQ("GET / HTTP/1.1", "X-Forwarded-Fo: a\r\n")) ==
	    HTTP_NOT_UPGRADE && !req.hr_has_xff, "other names are not XFF");
	CHECK(verdict(REQ("GET / HTTP/1.1", "X-Forwarded-For: a\0b\r\n")) ==
	    HTTP_BAD && !req.hr_has_xff, "nothing kept from a bad head");
}

static void
test_response(void)
{
	char		 buf[1024];
	struct http_req	 r;
	size_t		 n;
	static const int codes[] = { 200, 400, 403, 426, 429, 431, 503 };
	size_t		 i;
	const char	*body;

	memset(&r, 0, sizeof(r));
	n = http_response(buf, sizeof(buf), 200, NULL);
	CHECK(n == strlen(buf) && strcmp(buf, "HTTP/1.1 200 OK\r\n"
	    "Connection: close\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: 3\r\n\r\nok\n") == 0, "200 ok");
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		n = http_response(buf, sizeof(buf), codes[i], &r);
		body = strstr(buf, "\r\n\r\n");
		CHECK(n > 0 && n == strlen(buf) && body != NULL &&
		    strstr(buf, "Connection: close\r\n") != NULL &&
		    strncmp(buf, "HTTP/1.1 ", 9) == 0 &&
		    atoi(buf + 9) == codes[i], "status %d", codes[i]);
		CHECK(body != NULL && atoi(strstr(buf, "Content-Length: ") +
		    16) == (int)strlen(body + 4), "status %d length", codes[i]);
	}
	n = http_response(buf, sizeof(buf), 426, NULL);
	CHECK(n > 0 && strstr(buf, "\r\nUpgrade: websocket\r\n") != NULL,
	    "426 names websocket");
	n = http_response(buf, sizeof(buf), 400, &r);
	CHECK(n > 0 && strstr(buf, "Sec-WebSocket-Version") == NULL,
	    "plain 400");
	r.hr_bad_version = 1;
	n = http_response(buf, sizeof(buf), 400, &r);
	CHECK(n > 0 && strstr(buf, "\r\nSec-WebSocket-Version: 13\r\n") !=
	    NULL, "400 for a bad version names 13");
	CHECK(http_response(buf, sizeof(buf), 404, NULL) == 0,
	    "unknown status");
	CHECK(http_response(buf, 20, 200, NULL) == 0, "small buffer");
	n = http_response(buf, sizeof(buf), 200, NULL);
	CHECK(http_response(buf, n, 200, NULL) == 0 &&
	    http_response(buf, n + 1, 200, NULL) == n, "exact fit");

	CHECK(verdict(GOOD_HEAD("GET / HTTP/1.1", "")) == HTTP_UPGRADE,
	    "handshake for 101");
	n = http_switching(buf, sizeof(buf), &req);
	CHECK(n == strlen(buf) && strcmp(buf,
	    "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: " ACCEPT "\r\n\r\n") == 0,
	    "101 with the RFC 6455 example accept value");
	CHECK(verdict(GOOD_HEAD("GET / HTTP/1.1",
	    "Sec-WebSocket-Protocol: devroulette.v1\r\n")) == HTTP_UPGRADE,
	    "handshake with subprotocol");
	n = http_switching(buf, sizeof(buf), &req);
	CHECK(n > 0 && strstr(buf, "\r\nSec-WebSocket-Protocol: "
	    "devroulette.v1\r\n\r\n") != NULL, "101 selects devroulette.v1");
	CHECK(http_switching(buf, 50, &req) == 0, "101 into a small buffer");
	CHECK(verdict(GOOD_HEAD("POST / HTTP/1.1", "")) == HTTP_BAD &&
	    http_switching(buf, sizeof(buf), &req) == 0,
	    "no 101 for a bad handshake");
}

int
main(void)
{
	test_head_end();
	test_upgrade();
	test_bad();
	test_plain();
	test_xff();
	test_response();
	return (unit_done());
}
