/*
 * Strict UTF-8: the one decoder every other piece of text handling uses.
 * Overlong forms, surrogates (U+D800-U+DFFF), values above U+10FFFF and
 * truncated sequences are all invalid.  The streaming validator checks a
 * text message across WebSocket fragments and fails on the first byte that
 * makes the input certainly invalid (RFC 6455 8.1: fail fast).
 */

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define UTF8_MAX	0x10ffffU
#define UTF8_BROKEN	4	/* us_need after an error: sticky */

static int	utf8_range_ok(uint32_t, uint32_t, uint32_t);
static int	utf8_step(struct utf8_stream *, uint8_t);

/*
 * Could a sequence whose known bits are cp, with need continuation bytes
 * still to come, end as a legal scalar value of at least min?  The ranges
 * that matter (min, the surrogates, the top) are aligned to 64 bits per
 * continuation byte, so "no" is exact: it is answered on the first byte
 * that decides it, e.g. on A0 of ED A0 80.
 */
static int
utf8_range_ok(uint32_t cp, uint32_t need, uint32_t min)
{
	uint32_t	lo, hi;

	lo = cp << (6 * need);
	hi = lo | ((1U << (6 * need)) - 1);
	if (hi < min || lo > UTF8_MAX)
		return (0);
	if (lo >= 0xd800 && hi <= 0xdfff)
		return (0);
	return (1);
}

/* One byte: -1 invalid, 0 inside a sequence, 1 a code point is complete. */
static int
utf8_step(struct utf8_stream *us, uint8_t b)
{
	if (us->us_need == UTF8_BROKEN)
		return (-1);
	if (us->us_need == 0) {
		if (b < 0x80) {
			us->us_cp = b;
			return (1);
		} else if (b >= 0xc0 && b < 0xe0) {
			us->us_cp = b & 0x1f;
			us->us_need = 1;
			us->us_min = 0x80;
		} else if (b >= 0xe0 && b < 0xf0) {
			us->us_cp = b & 0x0f;
			us->us_need = 2;
			us->us_min = 0x800;
		} else if (b >= 0xf0 && b < 0xf8) {
			us->us_cp = b & 0x07;
			us->us_need = 3;
			us->us_min = 0x10000;
		} else
			goto bad;	/* stray continuation or F8-FF */
	} else {
		if ((b & 0xc0) != 0x80)
			goto bad;
		us->us_cp = (us->us_cp << 6) | (b & 0x3f);
		us->us_need--;
	}
	if (!utf8_range_ok(us->us_cp, us->us_need, us->us_min))
		goto bad;
	return (us->us_need == 0 ? 1 : 0);
 bad:
	us->us_need = UTF8_BROKEN;
	return (-1);
}

int
utf8_decode(const uint8_t *p, size_t len, uint32_t *cp)
{
	struct utf8_stream	us;
	size_t			i;
	int			r;

	utf8_stream_init(&us);
	for (i = 0; i < len && i < 4; i++) {
		if ((r = utf8_step(&us, p[i])) == -1)
			return (-1);
		if (r == 1) {
			*cp = us.us_cp;
			return ((int)i + 1);
		}
	}
	return (-1);
}

int
utf8_valid(const uint8_t *p, size_t len)
{
	struct utf8_stream	us;

	utf8_stream_init(&us);
	if (utf8_stream_feed(&us, p, len) == -1)
		return (0);
	return (utf8_stream_complete(&us));
}

size_t
utf8_encode(uint32_t cp, uint8_t *out)
{
	if (cp > UTF8_MAX || (cp >= 0xd800 && cp <= 0xdfff))
		return (0);
	if (cp < 0x80) {
		out[0] = cp;
		return (1);
	}
	if (cp < 0x800) {
		out[0] = 0xc0 | (cp >> 6);
		out[1] = 0x80 | (cp & 0x3f);
		return (2);
	}
	if (cp < 0x10000) {
		out[0] = 0xe0 | (cp >> 12);
		out[1] = 0x80 | ((cp >> 6) & 0x3f);
		out[2] = 0x80 | (cp & 0x3f);
		return (3);
	}
	out[0] = 0xf0 | (cp >> 18);
	out[1] = 0x80 | ((cp >> 12) & 0x3f);
	out[2] = 0x80 | ((cp >> 6) & 0x3f);
	out[3] = 0x80 | (cp & 0x3f);
	return (4);
}

/* Valid input only: every byte that is not a continuation starts one. */
size_t
utf8_count(const uint8_t *p, size_t len)
{
	size_t	i, n;

	for (i = n = 0; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			n++;
	return (n);
}

void
utf8_stream_init(struct utf8_stream *us)
{
	us->us_need = 0;
	us->us_cp = 0;
	us->us_min = 0;
}

int
utf8_stream_feed(struct utf8_stream *us, const uint8_t *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		/* ASCII between code points needs no state machine. */
		if (p[i] < 0x80 && us->us_need == 0)
			continue;
		if (utf8_step(us, p[i]) == -1)
			return (-1);
	}
	return (0);
}

/* The message may end here: no error and no sequence left open. */
int
utf8_stream_complete(const struct utf8_stream *us)
{
	return (us->us_need == 0);
}
