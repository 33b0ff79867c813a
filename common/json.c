/*
 * JSON string output: every outbound message the front formats, and every
 * message the client sends, puts its text through here.  The literal gets
 * its quotes; ", \ and the controls U+0000-U+001F and DEL become escapes,
 * valid UTF-8 passes through unchanged, invalid UTF-8 is refused (nothing
 * is written) so that no frame we send can fail the peer's 1007 check.
 */

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#include "common.h"

#define JSON_ESC_MAX	6	/* \u00XX */

static size_t	json_esc(uint8_t, char *);

/* The escape for byte c into out, or 0 if c stands for itself. */
static size_t
json_esc(uint8_t c, char *out)
{
	static const char	hex[] = "0123456789abcdef";

	if (c == '"' || c == '\\') {
		out[0] = '\\';
		out[1] = c;
		return (2);
	}
	if (c < 0x20 || c == 0x7f) {
		memcpy(out, "\\u00", 4);
		out[4] = hex[c >> 4];
		out[5] = hex[c & 0xf];
		return (JSON_ESC_MAX);
	}
	return (0);
}

/*
 * Returns 0, or -1 if s is not valid UTF-8 (nothing written) or the buffer
 * cannot grow (part of the literal may be in it: the caller drops it).
 */
int
json_escape(struct evbuffer *b, const uint8_t *s, size_t len)
{
	char	esc[JSON_ESC_MAX];
	size_t	i, run, n;

	if (!utf8_valid(s, len))
		return (-1);
	if (evbuffer_add(b, "\"", 1) == -1)
		return (-1);
	/* Plain runs go in whole: one copy per run, not per byte. */
	for (i = run = 0; i < len; i++) {
		if ((n = json_esc(s[i], esc)) == 0)
			continue;
		if (evbuffer_add(b, s + run, i - run) == -1 ||
		    evbuffer_add(b, esc, n) == -1)
			return (-1);
		run = i + 1;
	}
	if (evbuffer_add(b, s + run, len - run) == -1 ||
	    evbuffer_add(b, "\"", 1) == -1)
		return (-1);
	return (0);
}

/*
 * The same literal into buf, NUL-terminated.  Returns its length (without
 * the NUL), or -1 if s is not valid UTF-8 or the literal and its NUL do not
 * fit in size bytes.
 */
int
json_escape_buf(char *buf, size_t size, const uint8_t *s, size_t len)
{
	char	esc[JSON_ESC_MAX];
	size_t	i, o, n;

	if (!utf8_valid(s, len) || size < 3)
		return (-1);
	o = 0;
	buf[o++] = '"';
	for (i = 0; i < len; i++) {
		if ((n = json_esc(s[i], esc)) == 0) {
			esc[0] = s[i];
			n = 1;
		}
		/* Room for this, the closing quote and the NUL. */
		if (n + 2 > size - o)
			return (-1);
		memcpy(buf + o, esc, n);
		o += n;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	if (o > INT_MAX)
		return (-1);
	return ((int)o);
}
