/*
 * The HTTP request head of PROTOCOL.md section 1: find its end, judge it,
 * and build the answers.  Pure functions on bounded buffers: the caller
 * reads, times out and writes.
 *
 * The grammar is RFC 9112's, taken strictly, because a front that guesses
 * at malformed heads is one that proxies and the daemon disagree about:
 * lines end in CRLF (a bare CR or LF anywhere is a bad head), the request
 * line is exactly "method SP target SP version", header names are tokens
 * followed at once by a colon, obs-fold is refused, values hold no
 * control characters, an HTTP/1.1 request has exactly one Host line (RFC
 * 9112 3.2; Node's server insists too).  Empty lines before the request
 * line are not skipped.  A malformed head is 400 whether or not it tried
 * to upgrade.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "relay.h"

#define HTTP_SUBPROTO		"devroulette.v1"
#define HTTP_HEALTHZ_PATH	"/healthz"

/* What the header lines say, gathered before any verdict. */
struct http_hdrs {
	int		 hh_nhost;
	int		 hh_nupgrade;	/* Upgrade lines */
	int		 hh_upgrade_ws;	/* the last one says "websocket" */
	int		 hh_conn_upgrade;	/* a Connection token "upgrade" */
	int		 hh_nkey;
	const uint8_t	*hh_key;
	size_t		 hh_keylen;
	int		 hh_nversion;
	int		 hh_version13;	/* the last one says "13" */
};

/* The request line, as pointers into the head. */
struct http_line {
	const uint8_t	*hl_method;
	size_t		 hl_methodlen;
	const uint8_t	*hl_target;
	size_t		 hl_targetlen;
	int		 hl_http11;
};

struct http_status {
	int		 hs_code;
	const char	*hs_reason;
	const char	*hs_body;
};

static const struct http_status http_statuses[] = {
	{ 200, "OK",				"ok\n" },
	{ 400, "Bad Request",			"bad request\n" },
	{ 403, "Forbidden",			"forbidden\n" },
	{ 426, "Upgrade Required",		"websocket upgrade required\n" },
	{ 429, "Too Many Requests",		"too many connections\n" },
	{ 431, "Request Header Fields Too Large", "request head too large\n" },
	{ 503, "Service Unavailable",		"server full\n" }
};

static int	http_tchar(uint8_t);
static int	http_getline(const uint8_t *, size_t, size_t *,
		    const uint8_t **, size_t *);
static int	http_reqline(const uint8_t *, size_t, struct http_line *);
static int	http_header(const uint8_t *, size_t, struct http_req *,
		    struct http_hdrs *);
static int	http_eq(const uint8_t *, size_t, const char *);
static int	http_caseeq(const uint8_t *, size_t, const char *);
static int	http_list_has(const uint8_t *, size_t, const char *, int);
static int	http_xff_add(struct http_req *, const uint8_t *, size_t);
static int	http_healthz(const uint8_t *, size_t);
static int	http_verdict(const struct http_line *,
		    const struct http_hdrs *, struct http_req *);

/*
 * The head ends at the first empty line.  A bare LF also ends it here, so
 * that a client using bare LFs gets its 400 at once rather than waiting for
 * the handshake timeout; http_parse() then refuses the bare LF.
 */
ssize_t
http_head_end(const uint8_t *buf, size_t len)
{
	const uint8_t	*p, *lf, *end;

	if (len == 0)
		return (0);
	end = buf + (len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX);
	for (p = buf; (lf = memchr(p, '\n', end - p)) != NULL; p = lf + 1) {
		if (end - lf > 1 && lf[1] == '\n')
			return (lf + 2 - buf);
		if (end - lf > 2 && lf[1] == '\r' && lf[2] == '\n')
			return (lf + 3 - buf);
	}
	return (len >= HTTP_HEAD_MAX ? -1 : 0);
}

void
http_parse(const uint8_t *buf, size_t len, struct http_req *req)
{
	struct http_line	 rl;
	struct http_hdrs	 hh;
	const uint8_t		*line;
	size_t			 off, linelen;

	memset(req, 0, sizeof(*req));
	memset(&hh, 0, sizeof(hh));
	if (len > HTTP_HEAD_MAX) {
		req->hr_verdict = HTTP_TOO_LARGE;
		return;
	}
	req->hr_verdict = HTTP_BAD;
	off = 0;
	if (http_getline(buf, len, &off, &line, &linelen) == -1 ||
	    http_reqline(line, linelen, &rl) == -1)
		return;
	for (;;) {
		if (http_getline(buf, len, &off, &line, &linelen) == -1)
			return;
		if (linelen == 0)
			break;
		if (http_header(line, linelen, req, &hh) == -1)
			return;
	}
	if (hh.hh_nhost > 1 || (rl.hl_http11 && hh.hh_nhost == 0))
		return;
	req->hr_verdict = http_verdict(&rl, &hh, req);
}

size_t
http_response(char *buf, size_t size, int code, const struct http_req *req)
{
	const struct http_status	*hs = NULL;
	const char			*extra = "";
	size_t				 i;
	int				 n;

	for (i = 0; i < sizeof(http_statuses) / sizeof(http_statuses[0]); i++)
		if (http_statuses[i].hs_code == code)
			hs = &http_statuses[i];
	if (hs == NULL)
		return (0);
	if (code == 400 && req != NULL && req->hr_bad_version)
		extra = "Sec-WebSocket-Version: 13\r\n";
	else if (code == 426)
		extra = "Upgrade: websocket\r\n";
	n = snprintf(buf, size, "HTTP/1.1 %d %s\r\n"
	    "Connection: close\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: %zu\r\n"
	    "%s"
	    "\r\n"
	    "%s", hs->hs_code, hs->hs_reason, strlen(hs->hs_body), extra,
	    hs->hs_body);
	if (n < 0 || (size_t)n >= size)
		return (0);
	return ((size_t)n);
}

size_t
http_switching(char *buf, size_t size, const struct http_req *req)
{
	char	 accept[WS_ACCEPT_LEN + 1];
	int	 n;

	if (req->hr_verdict != HTTP_UPGRADE ||
	    !ws_key_valid(req->hr_key, strlen(req->hr_key)) ||
	    ws_accept_key(req->hr_key, WS_KEY_LEN, accept) == -1)
		return (0);
	n = snprintf(buf, size, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n"
	    "%s"
	    "\r\n", accept,
	    req->hr_subproto ? "Sec-WebSocket-Protocol: " HTTP_SUBPROTO "\r\n" :
	    "");
	if (n < 0 || (size_t)n >= size)
		return (0);
	return ((size_t)n);
}

/* RFC 9110 token characters. */
static int
http_tchar(uint8_t c)
{
	if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	    (c >= 'a' && c <= 'z'))
		return (1);
	return (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * The next line from *off, without its CRLF.  A line with a bare CR or LF,
 * or one that does not end before len, is -1.
 */
static int
http_getline(const uint8_t *buf, size_t len, size_t *off,
    const uint8_t **line, size_t *linelen)
{
	size_t	 i;

	for (i = *off; i < len; i++) {
		if (buf[i] == '\n')
			return (-1);
		if (buf[i] == '\r') {
			if (i + 1 >= len || buf[i + 1] != '\n')
				return (-1);
			*line = buf + *off;
			*linelen = i - *off;
			*off = i + 2;
			return (0);
		}
	}
	return (-1);
}

/*
 * "method SP target SP version", single spaces.  HTTP/1.0 is parsed (a
 * /healthz probe may use it) but cannot upgrade.
 */
static int
http_reqline(const uint8_t *p, size_t len, struct http_line *rl)
{
	size_t	 i, start;

	memset(rl, 0, sizeof(*rl));
	for (i = 0; i < len && http_tchar(p[i]); i++)
		;
	if (i == 0 || i >= len || p[i] != ' ')
		return (-1);
	rl->hl_method = p;
	rl->hl_methodlen = i;
	start = ++i;
	for (; i < len && p[i] > 0x20 && p[i] < 0x7f; i++)
		;
	if (i == start || i >= len || p[i] != ' ')
		return (-1);
	rl->hl_target = p + start;
	rl->hl_targetlen = i - start;
	i++;
	if (http_eq(p + i, len - i, "HTTP/1.1"))
		rl->hl_http11 = 1;
	else if (!http_eq(p + i, len - i, "HTTP/1.0"))
		return (-1);
	return (0);
}

/* One "name: value" line; the value is checked and OWS-trimmed. */
static int
http_header(const uint8_t *p, size_t len, struct http_req *req,
    struct http_hdrs *hh)
{
	const uint8_t	*v;
	size_t		 namelen, i, vlen;

	for (namelen = 0; namelen < len && http_tchar(p[namelen]); namelen++)
		;
	/* This also refuses obs-fold and whitespace before the colon. */
	if (namelen == 0 || namelen >= len || p[namelen] != ':')
		return (-1);
	for (i = namelen + 1; i < len; i++)
		if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
			return (-1);
	v = p + namelen + 1;
	vlen = len - namelen - 1;
	while (vlen > 0 && (v[0] == ' ' || v[0] == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;

	if (http_caseeq(p, namelen, "Host"))
		hh->hh_nhost++;
	else if (http_caseeq(p, namelen, "Upgrade")) {
		hh->hh_nupgrade++;
		hh->hh_upgrade_ws = http_caseeq(v, vlen, "websocket");
	} else if (http_caseeq(p, namelen, "Connection")) {
		if (http_list_has(v, vlen, "upgrade", 1))
			hh->hh_conn_upgrade = 1;
	} else if (http_caseeq(p, namelen, "Sec-WebSocket-Key")) {
		hh->hh_nkey++;
		hh->hh_key = v;
		hh->hh_keylen = vlen;
	} else if (http_caseeq(p, namelen, "Sec-WebSocket-Version")) {
		hh->hh_nversion++;
		hh->hh_version13 = http_eq(v, vlen, "13");
	} else if (http_caseeq(p, namelen, "Sec-WebSocket-Protocol")) {
		if (http_list_has(v, vlen, HTTP_SUBPROTO, 0))
			req->hr_subproto = 1;
	} else if (http_caseeq(p, namelen, "X-Forwarded-For"))
		return (http_xff_add(req, v, vlen));
	return (0);
}

static int
http_eq(const uint8_t *p, size_t len, const char *s)
{
	return (len == strlen(s) && memcmp(p, s, len) == 0);
}

static int
http_caseeq(const uint8_t *p, size_t len, const char *s)
{
	return (len == strlen(s) && strncasecmp((const char *)p, s, len) == 0);
}

/* Whether a comma-separated list holds tok, each element OWS-trimmed. */
static int
http_list_has(const uint8_t *p, size_t len, const char *tok, int icase)
{
	size_t	 i, start, end;

	for (start = 0; start <= len; start = i + 1) {
		for (i = start; i < len && p[i] != ','; i++)
			;
		end = i;
		while (start < end && (p[start] == ' ' || p[start] == '\t'))
			start++;
		while (end > start && (p[end - 1] == ' ' || p[end - 1] == '\t'))
			end--;
		if (icase ? http_caseeq(p + start, end - start, tok) :
		    http_eq(p + start, end - start, tok))
			return (1);
	}
	return (0);
}

/*
 * Every X-Forwarded-For line counts, in order, as if one list: a proxy may
 * add its own line rather than extend the client's.  The joined list is
 * shorter than the head, so the bound is a guard, not a limit.
 */
static int
http_xff_add(struct http_req *req, const uint8_t *v, size_t vlen)
{
	size_t	 need;

	need = vlen + (req->hr_has_xff ? 1 : 0);
	if (need > sizeof(req->hr_xff) - 1 - req->hr_xfflen)
		return (-1);
	if (req->hr_has_xff)
		req->hr_xff[req->hr_xfflen++] = ',';
	memcpy(req->hr_xff + req->hr_xfflen, v, vlen);
	req->hr_xfflen += vlen;
	req->hr_xff[req->hr_xfflen] = '\0';
	req->hr_has_xff = 1;
	return (0);
}

/* "/healthz", with or without a query string. */
static int
http_healthz(const uint8_t *p, size_t len)
{
	size_t	 n = strlen(HTTP_HEALTHZ_PATH);

	return (len >= n && memcmp(p, HTTP_HEALTHZ_PATH, n) == 0 &&
	    (len == n || p[n] == '?'));
}

/*
 * An upgrade attempt is judged as a handshake (RFC 6455 4.2.1, HTTP/1.1
 * only); anything else is /healthz or 426.  Repeated Upgrade, Key or
 * Version lines make a bad handshake: which one would count is a guess.
 */
static int
http_verdict(const struct http_line *rl, const struct http_hdrs *hh,
    struct http_req *req)
{
	int	 get;

	get = http_eq(rl->hl_method, rl->hl_methodlen, "GET");
	if (hh->hh_nupgrade == 0 && hh->hh_nkey == 0 && hh->hh_nversion == 0 &&
	    !hh->hh_conn_upgrade) {
		if (get && http_healthz(rl->hl_target, rl->hl_targetlen))
			return (HTTP_HEALTHZ);
		return (HTTP_NOT_UPGRADE);
	}
	if (hh->hh_nversion != 1 || !hh->hh_version13)
		req->hr_bad_version = 1;
	if (!get || !rl->hl_http11 || req->hr_bad_version ||
	    hh->hh_nupgrade != 1 || !hh->hh_upgrade_ws ||
	    !hh->hh_conn_upgrade || hh->hh_nkey != 1 ||
	    !ws_key_valid((const char *)hh->hh_key, hh->hh_keylen))
		return (HTTP_BAD);
	memcpy(req->hr_key, hh->hh_key, WS_KEY_LEN);
	req->hr_key[WS_KEY_LEN] = '\0';
	return (HTTP_UPGRADE);
}
