/*
 * Every JSON message the server sends (PROTOCOL.md section 3, "Server to
 * client").  The out_* functions only format, into a caller's buffer, and
 * return the length (0 if it does not fit); the relay_out_* ones format
 * into one shared buffer and queue the text frame.  Only the partner's
 * text needs escaping: everything else is numbers, fixed words, hex and
 * handles the matcher drew from [a-z-] (checked on arrival).
 */

#include <sys/types.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "relay.h"

#define OUT_PRE_MSG	"{\"t\":\"msg\",\"text\":"

static char	 out_buf[OUT_MAX];

static size_t	 out_fmt(char *, size_t, const char *, ...)
		    __attribute__((__format__ (printf, 3, 4)));
static int	 relay_out_send(struct conn *, size_t);

static size_t
out_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		return (0);
	return ((size_t)n);
}

size_t
out_hello(char *buf, size_t size, const char *challenge, uint32_t bits,
    uint32_t deadline)
{
	return (out_fmt(buf, size, "{\"t\":\"hello\",\"v\":%d,\"challenge\":"
	    "\"%s\",\"bits\":%u,\"deadline_ms\":%u}", DR_PROTO_VERSION,
	    challenge, bits, deadline));
}

size_t
out_ready(char *buf, size_t size)
{
	return (out_fmt(buf, size, "{\"t\":\"ready\"}"));
}

size_t
out_queued(char *buf, size_t size, uint32_t waiting)
{
	return (out_fmt(buf, size, "{\"t\":\"queued\",\"waiting\":%u}",
	    waiting));
}

size_t
out_matched(char *buf, size_t size, const char *you, const char *peer)
{
	return (out_fmt(buf, size, "{\"t\":\"matched\",\"you\":\"%s\","
	    "\"peer\":\"%s\"}", you, peer));
}

size_t
out_msg(char *buf, size_t size, const uint8_t *text, size_t len)
{
	size_t	 pre = sizeof(OUT_PRE_MSG) - 1;
	int	 n;

	if (size < pre + 3)
		return (0);
	memcpy(buf, OUT_PRE_MSG, pre);
	/* The literal with its quotes and a NUL, then room for "}". */
	n = json_escape_buf(buf + pre, size - pre - 1, text, len);
	if (n < 0)
		return (0);
	buf[pre + n] = '}';
	buf[pre + n + 1] = '\0';
	return (pre + n + 1);
}

size_t
out_ended(char *buf, size_t size, enum dr_ended reason)
{
	return (out_fmt(buf, size, "{\"t\":\"ended\",\"reason\":\"%s\"}",
	    dr_ended_reason(reason)));
}

size_t
out_insights(char *buf, size_t size, const struct ipc_insights *in)
{
	size_t	 n, m;

	n = out_fmt(buf, size, "{\"t\":\"insights\",\"online\":%llu,"
	    "\"waiting\":%llu,\"rooms\":%llu,\"convos\":%llu,"
	    "\"messages\":%llu", (unsigned long long)in->i_online,
	    (unsigned long long)in->i_waiting, (unsigned long long)in->i_rooms,
	    (unsigned long long)in->i_convos,
	    (unsigned long long)in->i_messages);
	if (n == 0)
		return (0);
	if (in->i_in_room)
		m = out_fmt(buf + n, size - n, ",\"room_messages\":%llu,"
		    "\"room_seconds\":%llu}",
		    (unsigned long long)in->i_room_messages,
		    (unsigned long long)in->i_room_seconds);
	else
		m = out_fmt(buf + n, size - n, "}");
	return (m == 0 ? 0 : n + m);
}

size_t
out_error(char *buf, size_t size, enum dr_error code)
{
	/* The sentences are ours: no quote or backslash in them. */
	return (out_fmt(buf, size, "{\"t\":\"error\",\"code\":\"%s\","
	    "\"msg\":\"%s\"}", dr_error_code(code), dr_error_text(code)));
}

/* [a-z-]{3,32}, NUL-terminated within len bytes. */
int
out_handle_valid(const char *h, size_t len)
{
	size_t	 n, i;

	n = strnlen(h, len);
	if (n == len || n < 3 || n > HANDLE_MAX)
		return (0);
	for (i = 0; i < n; i++)
		if (!((h[i] >= 'a' && h[i] <= 'z') || h[i] == '-'))
			return (0);
	return (1);
}

static int
relay_out_send(struct conn *c, size_t len)
{
	if (len == 0)
		fatalx("%s: message does not fit", __func__);
	return (relay_ws_send(c, WS_OP_TEXT, out_buf, len));
}

int
relay_out_hello(struct conn *c, const char *challenge)
{
	const struct settings	*conf = front->f_conf;

	return (relay_out_send(c, out_hello(out_buf, sizeof(out_buf),
	    challenge, conf->s_pow_bits, conf->s_pow_deadline_ms)));
}

int
relay_out_ready(struct conn *c)
{
	return (relay_out_send(c, out_ready(out_buf, sizeof(out_buf))));
}

int
relay_out_queued(struct conn *c, uint32_t waiting)
{
	return (relay_out_send(c, out_queued(out_buf, sizeof(out_buf),
	    waiting)));
}

int
relay_out_matched(struct conn *c, const struct ipc_matched *m)
{
	return (relay_out_send(c, out_matched(out_buf, sizeof(out_buf),
	    m->m_you, m->m_peer)));
}

int
relay_out_msg(struct conn *c, const uint8_t *text, size_t len)
{
	return (relay_out_send(c, out_msg(out_buf, sizeof(out_buf), text,
	    len)));
}

int
relay_out_ended(struct conn *c, enum dr_ended reason)
{
	return (relay_out_send(c, out_ended(out_buf, sizeof(out_buf),
	    reason)));
}

int
relay_out_insights(struct conn *c, const struct ipc_insights *in)
{
	return (relay_out_send(c, out_insights(out_buf, sizeof(out_buf),
	    in)));
}

int
relay_out_error(struct conn *c, enum dr_error code)
{
	return (relay_out_send(c, out_error(out_buf, sizeof(out_buf),
	    code)));
}
