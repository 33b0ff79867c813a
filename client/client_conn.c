/*
 * One WebSocket to the server: resolve, connect to each address in turn,
 * TLS for wss://, the HTTP upgrade with a fresh key, then RFC 6455 frames
 * (masked from us, unmasked from the server).  Every way it can end goes
 * through conn_fail(), which tells the session once, in words of our own.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <openssl/evp.h>

#include "client.h"

static void	conn_resolved(int, struct evutil_addrinfo *, void *);
static void	conn_connect_next(struct conn *);
static void	conn_readcb(struct bufferevent *, void *);
static void	conn_eventcb(struct bufferevent *, short, void *);
static void	conn_timeout(evutil_socket_t, short, void *);
static void	conn_reap(evutil_socket_t, short, void *);
static void	conn_teardown(struct conn *);
static void	conn_process(struct conn *);
static int	conn_head(struct conn *);
static int	conn_head_check(struct conn *, char *);
static int	conn_token(const char *, const char *);
static int	conn_frame(struct conn *);
static void	conn_control(struct conn *, int, uint8_t *, size_t);
static void	conn_data(struct conn *, int, int, const uint8_t *, size_t);
static void	conn_send_frame(struct conn *, int, const void *, size_t);
static void	conn_arm(struct conn *, int);

struct conn *
conn_new(struct event_base *base, struct evdns_base *dns,
    const struct url *u, int insecure, struct ssl_ctx_st *ctx, const struct conn_cb *cb)
{
	struct conn	*c;

	c = xcalloc(1, sizeof(*c));
	c->c_base = base;
	c->c_dns = dns;
	c->c_url = *u;
	c->c_insecure = insecure;
	c->c_sslctx = ctx;
	c->c_cb = *cb;
	c->c_in = evbuffer_new();
	c->c_msg = evbuffer_new();
	c->c_timer = evtimer_new(base, conn_timeout, c);
	c->c_reaper = evtimer_new(base, conn_reap, c);
	if (c->c_in == NULL || c->c_msg == NULL || c->c_timer == NULL ||
	    c->c_reaper == NULL)
		fatalx("%s: out of memory", __func__);

	return (c);
}

void
conn_start(struct conn *c)
{
	struct evutil_addrinfo			 hints;
	struct evdns_getaddrinfo_request	*req;

	c->c_state = CONN_RESOLVING;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
	/* Numeric hosts may answer at once, inside this call. */
	req = evdns_getaddrinfo(c->c_dns, c->c_url.u_host, c->c_url.u_port,
	    &hints, conn_resolved, c);
	if (c->c_state == CONN_RESOLVING)
		c->c_req = req;
}

/* Safe from inside any callback: the memory goes on the next loop turn. */
void
conn_free(struct conn *c)
{
	struct timeval	tv = { 0, 0 };

	if (c == NULL)
		return;
	if (c->c_state != CONN_DEAD) {
		/* A last, best-effort write: the close frame, if any. */
		if (c->c_bev != NULL)
			evbuffer_write(bufferevent_get_output(c->c_bev),
			    bufferevent_getfd(c->c_bev));
		c->c_state = CONN_DEAD;
		conn_teardown(c);
	}
	c->c_cb.cc_end = NULL;
	evtimer_add(c->c_reaper, &tv);
}

static void
conn_reap(evutil_socket_t fd, short ev, void *arg)
{
	struct conn	*c = arg;

	event_free(c->c_reaper);
	event_free(c->c_timer);
	evbuffer_free(c->c_in);
	evbuffer_free(c->c_msg);
	free(c);
}

static void
conn_teardown(struct conn *c)
{
	evtimer_del(c->c_timer);
	if (c->c_req != NULL) {
		struct evdns_getaddrinfo_request *req = c->c_req;

		c->c_req = NULL;
		evdns_getaddrinfo_cancel(req);
	}
	if (c->c_ai != NULL)
		evutil_freeaddrinfo(c->c_ai);
	c->c_ai = c->c_next = NULL;
	tls_free(c);
	if (c->c_bev != NULL)
		bufferevent_free(c->c_bev);
	c->c_bev = NULL;
}

void
conn_fail(struct conn *c, enum conn_error e, int code, const char *fmt, ...)
{
	struct conn_result	 r;
	va_list			 ap;

	if (c->c_state == CONN_DEAD)
		return;
	c->c_state = CONN_DEAD;
	conn_teardown(c);
	memset(&r, 0, sizeof(r));
	r.cr_error = e;
	if (e == CONN_HTTP)
		r.cr_status = code;
	else
		r.cr_code = code;
	va_start(ap, fmt);
	vsnprintf(r.cr_why, sizeof(r.cr_why), fmt, ap);
	va_end(ap);
	if (c->c_cb.cc_end != NULL)
		c->c_cb.cc_end(c->c_cb.cc_arg, &r);
}

static void
conn_arm(struct conn *c, int ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->c_timer, &tv);
}

static void
conn_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct conn	*c = arg;

	switch (c->c_state) {
	case CONN_CONNECTING:
		snprintf(c->c_lasterr, sizeof(c->c_lasterr),
		    "connection timed out");
		if (c->c_bev != NULL)
			bufferevent_free(c->c_bev);
		c->c_bev = NULL;
		conn_connect_next(c);
		break;
	case CONN_TLS:
		conn_fail(c, CONN_TIMEOUT, 0, "TLS with %s timed out",
		    c->c_url.u_host);
		break;
	default:
		conn_fail(c, CONN_TIMEOUT, 0, "%s did not answer the upgrade",
		    c->c_url.u_host);
		break;
	}
}

static void
conn_resolved(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct conn	*c = arg;

	if (result == EVUTIL_EAI_CANCEL)
		return;
	c->c_req = NULL;
	if (result != 0 || ai == NULL) {
		conn_fail(c, CONN_RESOLVE, 0, "cannot resolve %s: %s",
		    c->c_url.u_host, evutil_gai_strerror(result));
		return;
	}
	c->c_ai = c->c_next = ai;
	c->c_state = CONN_CONNECTING;
	conn_connect_next(c);
}

/* Plain ws:// reaches only this machine unless --insecure says so. */
static void
conn_connect_next(struct conn *c)
{
	struct evutil_addrinfo	*ai;
	int			 plain_remote = 0;

	while ((ai = c->c_next) != NULL) {
		c->c_next = ai->ai_next;
		if (!c->c_url.u_tls && !c->c_insecure &&
		    !url_addr_loopback(ai->ai_addr)) {
			plain_remote = 1;
			continue;
		}
		c->c_tried++;
		c->c_bev = bufferevent_socket_new(c->c_base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
		if (c->c_bev == NULL)
			fatalx("%s: out of memory", __func__);
		bufferevent_setcb(c->c_bev, conn_readcb, NULL, conn_eventcb, c);
		if (bufferevent_socket_connect(c->c_bev, ai->ai_addr,
		    ai->ai_addrlen) == 0) {
			conn_arm(c, CONNECT_TIMEOUT_MS);
			return;
		}
		snprintf(c->c_lasterr, sizeof(c->c_lasterr), "%s",
		    strerror(errno));
		bufferevent_free(c->c_bev);
		c->c_bev = NULL;
	}
	if (c->c_tried == 0 && plain_remote)
		conn_fail(c, CONN_NOTLOOPBACK, 0, "%s is not this machine: "
		    "use wss:// (or --insecure to send in the clear)",
		    c->c_url.u_host);
	else
		conn_fail(c, CONN_UNREACHABLE, 0, "cannot reach %s port %s: %s",
		    c->c_url.u_host, c->c_url.u_port, c->c_lasterr);
}

static void
conn_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	int		 err;

	if (c->c_state == CONN_CONNECTING) {
		if (what & BEV_EVENT_CONNECTED) {
			evtimer_del(c->c_timer);
			bufferevent_enable(bev, EV_READ);
			conn_arm(c, UPGRADE_TIMEOUT_MS);
			if (c->c_url.u_tls) {
				c->c_state = CONN_TLS;
				if (tls_start(c) == -1)
					conn_fail(c, CONN_TLSFAIL, 0,
					    "cannot start TLS with %s",
					    c->c_url.u_host);
			} else
				conn_upgrade(c);
			return;
		}
		err = EVUTIL_SOCKET_ERROR();
		snprintf(c->c_lasterr, sizeof(c->c_lasterr), "%s",
		    err != 0 ? evutil_socket_error_to_string(err) :
		    "connection failed");
		bufferevent_free(c->c_bev);
		c->c_bev = NULL;
		evtimer_del(c->c_timer);
		conn_connect_next(c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (c->c_state == CONN_TLS)
			conn_fail(c, CONN_TLSFAIL, 0, "TLS with %s failed: "
			    "connection closed during the handshake "
			    "(not a TLS server?)", c->c_url.u_host);
		else
			conn_fail(c, CONN_LOST, 0, "connection to %s lost",
			    c->c_url.u_host);
	}
}

void
conn_output(struct conn *c, const void *p, size_t len)
{
	if (c->c_state == CONN_DEAD || c->c_bev == NULL)
		return;
	if (c->c_ssl != NULL)
		tls_write(c, p, len);
	else
		bufferevent_write(c->c_bev, p, len);
}

void
conn_upgrade(struct conn *c)
{
	uint8_t	raw[16];
	char	req[2048];
	int	n;

	arc4random_buf(raw, sizeof(raw));
	EVP_EncodeBlock((unsigned char *)c->c_key, raw, sizeof(raw));
	n = snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Protocol: " CLIENT_SUBPROTOCOL "\r\n"
	    "User-Agent: devroulette/" CLIENT_VERSION "\r\n"
	    "\r\n", c->c_url.u_path, c->c_url.u_hostport, c->c_key);
	if (n < 0 || (size_t)n >= sizeof(req)) {
		conn_fail(c, CONN_HANDSHAKE, 0, "request too long");
		return;
	}
	c->c_state = CONN_UPGRADE;
	conn_output(c, req, n);
}

static void
conn_readcb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;
	int		 r;

	if (c->c_ssl != NULL) {
		r = tls_input(c, bufferevent_get_input(bev));
		if (r == -1 || c->c_state == CONN_DEAD)
			return;
		if (r == 0)
			return;
		conn_process(c);
		/* close_notify: like a TCP close, after what came before. */
		if (r == -2 && c->c_state != CONN_DEAD)
			conn_fail(c, CONN_LOST, 0, "connection to %s lost",
			    c->c_url.u_host);
		return;
	}
	evbuffer_add_buffer(c->c_in, bufferevent_get_input(bev));
	conn_process(c);
}

static void
conn_process(struct conn *c)
{
	if (c->c_state == CONN_UPGRADE && conn_head(c) != 1)
		return;
	while (c->c_state == CONN_OPEN && conn_frame(c) == 1)
		;
}

/* 1: upgraded; 0: need more; -1: failed. */
static int
conn_head(struct conn *c)
{
	struct evbuffer_ptr	 end;
	char			 head[HTTP_HEAD_MAX + 1];
	size_t			 len;

	end = evbuffer_search(c->c_in, "\r\n\r\n", 4, NULL);
	if (end.pos == -1) {
		if (evbuffer_get_length(c->c_in) > HTTP_HEAD_MAX) {
			conn_fail(c, CONN_HANDSHAKE, 0, "%s answered with an "
			    "oversized header", c->c_url.u_host);
			return (-1);
		}
		return (0);
	}
	len = end.pos + 2;	/* keep the last header's CRLF */
	if (len > HTTP_HEAD_MAX) {
		conn_fail(c, CONN_HANDSHAKE, 0, "%s answered with an "
		    "oversized header", c->c_url.u_host);
		return (-1);
	}
	evbuffer_remove(c->c_in, head, len);
	evbuffer_drain(c->c_in, 2);
	head[len] = '\0';
	if (conn_head_check(c, head) == -1)
		return (-1);
	evtimer_del(c->c_timer);
	c->c_state = CONN_OPEN;
	c->c_cb.cc_open(c->c_cb.cc_arg);
	return (c->c_state == CONN_OPEN);
}

/* Is tok one of the comma-separated tokens of v (case-insensitive)? */
static int
conn_token(const char *v, const char *tok)
{
	size_t	n, tl = strlen(tok);

	while (*v != '\0') {
		v += strspn(v, " \t,");
		n = strcspn(v, " \t,");
		if (n == tl && strncasecmp(v, tok, n) == 0)
			return (1);
		v += n;
	}
	return (0);
}

static int
conn_head_check(struct conn *c, char *head)
{
	char	 want[WS_ACCEPT_LEN + 1], *line, *next, *v, *end;
	int	 status, up = 0, conn = 0, accept = 0;

	if (strncmp(head, "HTTP/1.", 7) != 0 || strlen(head) < 12 ||
	    head[8] != ' ' || sscanf(head + 9, "%3d", &status) != 1) {
		conn_fail(c, CONN_HANDSHAKE, 0, "%s did not answer in HTTP",
		    c->c_url.u_host);
		return (-1);
	}
	if (status != 101) {
		conn_fail(c, CONN_HTTP, status, "%s answered HTTP %d",
		    c->c_url.u_host, status);
		return (-1);
	}
	if (ws_accept_key(c->c_key, WS_KEY_LEN, want) == -1)
		fatalx("%s: SHA-1 failed", __func__);

	for (line = strstr(head, "\r\n"); line != NULL; line = next) {
		line += 2;
		if ((next = strstr(line, "\r\n")) == NULL)
			break;
		*next = '\0';
		if ((v = strchr(line, ':')) == NULL)
			continue;
		*v++ = '\0';
		v += strspn(v, " \t");
		for (end = v + strlen(v); end > v &&
		    (end[-1] == ' ' || end[-1] == '\t'); end--)
			;
		*end = '\0';
		if (strcasecmp(line, "Upgrade") == 0)
			up = strcasecmp(v, "websocket") == 0;
		else if (strcasecmp(line, "Connection") == 0)
			conn = conn_token(v, "upgrade");
		else if (strcasecmp(line, "Sec-WebSocket-Accept") == 0)
			accept = strcmp(v, want) == 0;
		else if (strcasecmp(line, "Sec-WebSocket-Extensions") == 0 ||
		    (strcasecmp(line, "Sec-WebSocket-Protocol") == 0 &&
		    strcmp(v, CLIENT_SUBPROTOCOL) != 0)) {
			conn_fail(c, CONN_HANDSHAKE, 0, "%s chose a WebSocket "
			    "option we did not offer", c->c_url.u_host);
			return (-1);
		}
	}
	if (!up || !conn || !accept) {
		conn_fail(c, CONN_HANDSHAKE, 0, "%s sent a bad WebSocket "
		    "upgrade (%s)", c->c_url.u_host, !accept ?
		    "wrong Sec-WebSocket-Accept" : "missing Upgrade headers");
		return (-1);
	}
	return (0);
}

/* 1: a frame was handled; 0: need more or the connection ended. */
static int
conn_frame(struct conn *c)
{
	struct ws_frame	 wf;
	uint8_t		*p, ctl[WS_CONTROL_MAX];
	size_t		 have, want;
	int		 r;

	have = evbuffer_get_length(c->c_in);
	want = have < WS_HDR_MAX ? have : WS_HDR_MAX;
	if (want == 0)
		return (0);
	p = evbuffer_pullup(c->c_in, want);
	if ((r = ws_frame_parse(p, want, &wf)) == 0)
		return (0);
	if (r == -1 || wf.wf_rsv != 0 || wf.wf_masked ||
	    !ws_opcode_known(wf.wf_opcode) || (wf.wf_opcode >= WS_OP_CLOSE &&
	    (!wf.wf_fin || wf.wf_len > WS_CONTROL_MAX))) {
		conn_send_close(c, 1002);
		conn_fail(c, CONN_PROTOCOL, 1002, "%s broke the WebSocket "
		    "protocol", c->c_url.u_host);
		return (0);
	}
	if (wf.wf_len > WS_MSG_MAX) {
		conn_send_close(c, 1009);
		conn_fail(c, CONN_PROTOCOL, 1009, "%s sent an oversized "
		    "message", c->c_url.u_host);
		return (0);
	}
	if (have < wf.wf_hdrlen + wf.wf_len)
		return (0);
	p = evbuffer_pullup(c->c_in, wf.wf_hdrlen + wf.wf_len);
	if (wf.wf_opcode >= WS_OP_CLOSE) {
		memcpy(ctl, p + wf.wf_hdrlen, wf.wf_len);
		evbuffer_drain(c->c_in, wf.wf_hdrlen + wf.wf_len);
		conn_control(c, wf.wf_opcode, ctl, wf.wf_len);
	} else {
		conn_data(c, wf.wf_opcode, wf.wf_fin, p + wf.wf_hdrlen,
		    wf.wf_len);
		if (c->c_state != CONN_DEAD)
			evbuffer_drain(c->c_in, wf.wf_hdrlen + wf.wf_len);
	}
	return (c->c_state == CONN_OPEN);
}

static void
conn_control(struct conn *c, int op, uint8_t *p, size_t len)
{
	int	code;

	switch (op) {
	case WS_OP_PING:
		conn_send_frame(c, WS_OP_PONG, p, len);
		return;
	case WS_OP_PONG:
		return;
	}
	code = len >= 2 ? (p[0] << 8) | p[1] : 1005;
	if (len == 1 || (len >= 2 && !ws_close_code_valid(code))) {
		conn_send_close(c, 1002);
		conn_fail(c, CONN_PROTOCOL, 1002, "%s sent a bad close frame",
		    c->c_url.u_host);
		return;
	}
	/* Answer the close; the reason text is the server's, not shown. */
	conn_send_close(c, code == 1005 ? 1000 : code);
	if (c->c_bev != NULL)
		evbuffer_write(bufferevent_get_output(c->c_bev),
		    bufferevent_getfd(c->c_bev));
	conn_fail(c, CONN_CLOSED, code, "%s closed the connection (%d)",
	    c->c_url.u_host, code);
}

static void
conn_data(struct conn *c, int op, int fin, const uint8_t *p, size_t len)
{
	uint8_t	*msg;
	size_t	 mlen;

	if (op == WS_OP_BINARY) {
		conn_send_close(c, 1003);
		conn_fail(c, CONN_PROTOCOL, 1003, "%s sent binary data",
		    c->c_url.u_host);
		return;
	}
	if ((op == WS_OP_TEXT) == (c->c_msgop != 0)) {
		conn_send_close(c, 1002);
		conn_fail(c, CONN_PROTOCOL, 1002, "%s broke WebSocket "
		    "fragmentation", c->c_url.u_host);
		return;
	}
	if (evbuffer_get_length(c->c_msg) + len > WS_MSG_MAX) {
		conn_send_close(c, 1009);
		conn_fail(c, CONN_PROTOCOL, 1009, "%s sent an oversized "
		    "message", c->c_url.u_host);
		return;
	}
	evbuffer_add(c->c_msg, p, len);
	c->c_msgop = WS_OP_TEXT;
	if (!fin)
		return;
	c->c_msgop = 0;
	mlen = evbuffer_get_length(c->c_msg);
	msg = xmalloc(mlen + 1);
	evbuffer_remove(c->c_msg, msg, mlen);
	msg[mlen] = '\0';
	if (!utf8_valid(msg, mlen)) {
		free(msg);
		conn_send_close(c, 1007);
		conn_fail(c, CONN_PROTOCOL, 1007, "%s sent text that is not "
		    "UTF-8", c->c_url.u_host);
		return;
	}
	c->c_cb.cc_text(c->c_cb.cc_arg, msg, mlen);
	free(msg);
}

/* Client frames are masked with a fresh random key (RFC 6455 5.3). */
static void
conn_send_frame(struct conn *c, int op, const void *p, size_t len)
{
	uint8_t	 hdr[WS_HDR_MAX], mask[4], *buf;
	size_t	 hlen;

	if (c->c_state != CONN_OPEN || c->c_close_sent)
		return;
	arc4random_buf(mask, sizeof(mask));
	hlen = ws_frame_header(hdr, 1, op, len, mask);
	buf = xmalloc(hlen + len + 1);
	memcpy(buf, hdr, hlen);
	memcpy(buf + hlen, p, len);
	ws_unmask(buf + hlen, len, mask, 0);
	conn_output(c, buf, hlen + len);
	free(buf);
	if (op == WS_OP_CLOSE)
		c->c_close_sent = 1;
}

int
conn_send_text(struct conn *c, const char *p, size_t len)
{
	if (c == NULL || c->c_state != CONN_OPEN || c->c_close_sent)
		return (-1);
	conn_send_frame(c, WS_OP_TEXT, p, len);
	return (0);
}

void
conn_send_close(struct conn *c, int code)
{
	uint8_t	p[2];

	p[0] = code >> 8;
	p[1] = code & 0xff;
	conn_send_frame(c, WS_OP_CLOSE, p, sizeof(p));
}
