/*
 * json.c: the quotes, the escapes of " \ every C0 control and DEL, UTF-8
 * passed through, invalid UTF-8 refused with nothing written, the evbuffer
 * and char-buffer forms agreeing, exact-fit bounds, and every literal
 * read back by yajl to the bytes that went in.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <yajl_parse.h>

#include "common.h"
#include "unit.h"

struct readback {
	uint8_t	rb_buf[256];
	size_t	rb_len;
	int	rb_n;
};

static int	esc_ev(const char *, size_t, char *, size_t);
static int	rb_string(void *, const unsigned char *, size_t);
static int	readback(const char *, size_t, struct readback *);
static void	test_literals(void);
static void	test_controls(void);
static void	test_invalid(void);
static void	test_bounds(void);
static void	test_readback(void);

/* Escape into a fresh evbuffer and copy the result out as a C string. */
static int
esc_ev(const char *s, size_t len, char *out, size_t outlen)
{
	struct evbuffer	*b;
	size_t		 n;
	int		 r;

	if ((b = evbuffer_new()) == NULL)
		return (-1);
	r = json_escape(b, (const uint8_t *)s, len);
	n = evbuffer_get_length(b);
	if (r == 0 && n < outlen) {
		evbuffer_remove(b, out, n);
		out[n] = '\0';
		r = (int)n;
	} else if (r == 0)
		r = -2;
	else if (n != 0)
		r = -3;		/* a refusal must write nothing */
	evbuffer_free(b);
	return (r);
}

static int
rb_string(void *arg, const unsigned char *s, size_t len)
{
	struct readback	*rb = arg;

	if (len > sizeof(rb->rb_buf))
		return (0);
	memcpy(rb->rb_buf, s, len);
	rb->rb_len = len;
	rb->rb_n++;
	return (1);
}

/* Parse a literal with yajl; 0 if it is exactly one string. */
static int
readback(const char *lit, size_t len, struct readback *rb)
{
	static const yajl_callbacks	cb = { .yajl_string = rb_string };
	yajl_handle			h;
	int				ok;

	memset(rb, 0, sizeof(*rb));
	if ((h = yajl_alloc(&cb, NULL, rb)) == NULL)
		return (-1);
	ok = yajl_parse(h, (const unsigned char *)lit, len) == yajl_status_ok &&
	    yajl_complete_parse(h) == yajl_status_ok && rb->rb_n == 1;
	yajl_free(h);
	return (ok ? 0 : -1);
}

static void
test_literals(void)
{
	static const struct {
		const char	*in;
		const char	*want;
	} t[] = {
		{ "", "\"\"" },
		{ "hello", "\"hello\"" },
		{ "\"", "\"\\\"\"" },
		{ "\\", "\"\\\\\"" },
		{ "a\"b\\c\x01" "d", "\"a\\\"b\\\\c\\u0001d\"" },
		{ "/ ' < > &", "\"/ ' < > &\"" },
		{ "\n\r\t\x1b[31m", "\"\\u000a\\u000d\\u0009\\u001b[31m\"" },
		{ "\x7f~", "\"\\u007f~\"" },
		{ "h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		    "\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"" },
		{ "\xe2\x80\xa8\xe2\x80\xa9\xc2\x85",
		    "\"\xe2\x80\xa8\xe2\x80\xa9\xc2\x85\"" },
	};
	char	a[256], b[256];
	size_t	i;
	int	na, nb;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		na = esc_ev(t[i].in, strlen(t[i].in), a, sizeof(a));
		nb = json_escape_buf(b, sizeof(b), (const uint8_t *)t[i].in,
		    strlen(t[i].in));
		CHECK(na == (int)strlen(t[i].want) &&
		    strcmp(a, t[i].want) == 0 && nb == na &&
		    strcmp(b, a) == 0, "literal %zu: %s", i, t[i].want);
	}
}

/* Every C0 control and DEL as \u00xx, everything else ASCII as is. */
static void
test_controls(void)
{
	char		in[1], out[16], want[16];
	unsigned int	c;
	int		bad = 0;

	for (c = 0; c < 0x80; c++) {
		in[0] = (char)c;
		if (c < 0x20 || c == 0x7f)
			snprintf(want, sizeof(want), "\"\\u%04x\"", c);
		else if (c == '"' || c == '\\')
			snprintf(want, sizeof(want), "\"\\%c\"", c);
		else
			snprintf(want, sizeof(want), "\"%c\"", c);
		if (esc_ev(in, 1, out, sizeof(out)) != (int)strlen(want) ||
		    strcmp(out, want) != 0)
			bad++;
		if (json_escape_buf(out, sizeof(out), (const uint8_t *)in,
		    1) != (int)strlen(want) || strcmp(out, want) != 0)
			bad++;
	}
	CHECK(bad == 0, "every ASCII byte escaped as it should be");
	CHECK(esc_ev("a\0b", 3, out, sizeof(out)) == 10 &&
	    strcmp(out, "\"a\\u0000b\"") == 0, "NUL is \\u0000");
}

static void
test_invalid(void)
{
	static const char	*bad[] = { "\xff", "ok\xc0\x80", "\xed\xa0\x80",
	    "\xf4\x90\x80\x80", "trunc\xe2\x82" };
	char			out[64];
	size_t			i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(esc_ev(bad[i], strlen(bad[i]), out, sizeof(out)) == -1,
		    "invalid UTF-8 %zu refused, nothing written", i);
		CHECK(json_escape_buf(out, sizeof(out),
		    (const uint8_t *)bad[i], strlen(bad[i])) == -1,
		    "invalid UTF-8 %zu refused by the buffer form", i);
	}
}

static void
test_bounds(void)
{
	char	buf[32];

	memset(buf, 'x', sizeof(buf));
	CHECK(json_escape_buf(buf, 8, (const uint8_t *)"abcde", 5) == 7 &&
	    strcmp(buf, "\"abcde\"") == 0, "exact fit with the NUL");
	CHECK(json_escape_buf(buf, 7, (const uint8_t *)"abcde", 5) == -1,
	    "one byte short: -1");
	CHECK(json_escape_buf(buf, 3, (const uint8_t *)"", 0) == 2 &&
	    strcmp(buf, "\"\"") == 0, "empty string in 3 bytes");
	CHECK(json_escape_buf(buf, 2, (const uint8_t *)"", 0) == -1,
	    "empty string in 2 bytes: -1");
	CHECK(json_escape_buf(buf, 0, (const uint8_t *)"", 0) == -1,
	    "no room at all: -1");
	CHECK(json_escape_buf(buf, 9, (const uint8_t *)"\x01", 1) == 8 &&
	    strcmp(buf, "\"\\u0001\"") == 0, "escape fits exactly");
	CHECK(json_escape_buf(buf, 8, (const uint8_t *)"\x01", 1) == -1,
	    "escape one byte short: -1");
	CHECK(json_escape_buf(buf, 6, (const uint8_t *)"\xe2\x82\xac", 3) ==
	    5, "3-byte character fits exactly");
	memset(buf, 'x', sizeof(buf));
	CHECK(json_escape_buf(buf, 5, (const uint8_t *)"\xe2\x82\xac", 3) ==
	    -1 && buf[5] == 'x', "no write past the size given");
}

/* yajl reads every literal back to exactly the bytes that went in. */
static void
test_readback(void)
{
	static const char	*atoms[] = { "\"", "\\", "\x01", "\x1f",
	    "\x7f", "\0", "\n", "a", " ", "/", "\xc3\xa9",
	    "\xe2\x80\xa8", "\xf0\x9f\x98\x80", "\\u0000" };
	struct readback		 rb;
	uint8_t			 in[200];
	char			 lit[1024];
	size_t			 i, len, k, alen;
	int			 n, bad = 0;

	for (i = 0; i < 5000; i++) {
		for (len = 0; len < sizeof(in) - 8;) {
			k = arc4random_uniform(sizeof(atoms) /
			    sizeof(atoms[0]));
			/* The NUL atom is one byte long. */
			alen = atoms[k][0] == '\0' ? 1 : strlen(atoms[k]);
			memcpy(in + len, atoms[k], alen);
			len += alen;
			if (arc4random_uniform(20) == 0)
				break;
		}
		n = json_escape_buf(lit, sizeof(lit), in, len);
		if (n < 0 || readback(lit, n, &rb) == -1 ||
		    rb.rb_len != len || memcmp(rb.rb_buf, in, len) != 0)
			bad++;
	}
	CHECK(bad == 0, "yajl reads 5000 random literals back exactly");
}

int
main(void)
{
	test_literals();
	test_controls();
	test_invalid();
	test_bounds();
	test_readback();
	return (unit_done());
}
