/*
 * utf8.c: boundaries of every sequence length, overlongs, surrogates,
 * values above U+10FFFF, truncation, and the streaming validator split at
 * every byte, checked against Unicode's table of well-formed sequences
 * (Table 3-7) over every string of up to three bytes.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "unit.h"

struct vec {
	const char	*v_name;
	const char	*v_bytes;
	int		 v_len;		/* -1: invalid */
	uint32_t	 v_cp;
};

static const struct vec	vecs[] = {
	{ "U+0000", "\x00", 1, 0x0 },
	{ "U+007F", "\x7f", 1, 0x7f },
	{ "U+0080", "\xc2\x80", 2, 0x80 },
	{ "U+07FF", "\xdf\xbf", 2, 0x7ff },
	{ "U+0800", "\xe0\xa0\x80", 3, 0x800 },
	{ "U+D7FF", "\xed\x9f\xbf", 3, 0xd7ff },
	{ "U+E000", "\xee\x80\x80", 3, 0xe000 },
	{ "U+FFFF", "\xef\xbf\xbf", 3, 0xffff },
	{ "U+10000", "\xf0\x90\x80\x80", 4, 0x10000 },
	{ "U+10FFFF", "\xf4\x8f\xbf\xbf", 4, 0x10ffff },
	{ "overlong C0 80", "\xc0\x80", -1, 0 },
	{ "overlong C1 BF", "\xc1\xbf", -1, 0 },
	{ "overlong E0 80 80", "\xe0\x80\x80", -1, 0 },
	{ "overlong E0 9F BF", "\xe0\x9f\xbf", -1, 0 },
	{ "overlong F0 80 80 80", "\xf0\x80\x80\x80", -1, 0 },
	{ "overlong F0 8F BF BF", "\xf0\x8f\xbf\xbf", -1, 0 },
	{ "surrogate ED A0 80", "\xed\xa0\x80", -1, 0 },
	{ "surrogate ED BF BF", "\xed\xbf\xbf", -1, 0 },
	{ "above max F4 90 80 80", "\xf4\x90\x80\x80", -1, 0 },
	{ "above max F5 80 80 80", "\xf5\x80\x80\x80", -1, 0 },
	{ "lead F8", "\xf8\x88\x80\x80", -1, 0 },
	{ "lead FF", "\xff", -1, 0 },
	{ "lone continuation", "\x80", -1, 0 },
	{ "truncated C2", "\xc2", -1, 0 },
	{ "truncated E2 82", "\xe2\x82", -1, 0 },
	{ "truncated F0 9F 98", "\xf0\x9f\x98", -1, 0 },
	{ "ASCII for continuation", "\xc2\x41", -1, 0 },
	{ "lead for continuation", "\xe2\xc2\xa2", -1, 0 },
};

static int	ref_scan(const uint8_t *, size_t, int *);
static void	test_vectors(void);
static void	test_encode(void);
static void	test_count(void);
static void	test_stream_split(void);
static void	test_stream_early(void);
static void	test_exhaustive(void);
static int	stream_first_error(const uint8_t *, size_t, int *);

/*
 * Reference from Unicode Table 3-7.  Returns the index of the first byte
 * that no well-formed string can have there, or -1 if there is none;
 * *complete says whether the string is well-formed as it stands.
 */
static int
ref_scan(const uint8_t *p, size_t len, int *complete)
{
	static const uint8_t	rows[][5] = {
		/* lead lo, lead hi, second lo, second hi, length */
		{ 0x00, 0x7f, 0, 0, 1 },
		{ 0xc2, 0xdf, 0x80, 0xbf, 2 },
		{ 0xe0, 0xe0, 0xa0, 0xbf, 3 },
		{ 0xe1, 0xec, 0x80, 0xbf, 3 },
		{ 0xed, 0xed, 0x80, 0x9f, 3 },
		{ 0xee, 0xef, 0x80, 0xbf, 3 },
		{ 0xf0, 0xf0, 0x90, 0xbf, 4 },
		{ 0xf1, 0xf3, 0x80, 0xbf, 4 },
		{ 0xf4, 0xf4, 0x80, 0x8f, 4 },
	};
	size_t	i, j, r, n;

	*complete = 0;
	for (i = 0; i < len; i += n) {
		for (r = 0; r < sizeof(rows) / sizeof(rows[0]); r++)
			if (p[i] >= rows[r][0] && p[i] <= rows[r][1])
				break;
		if (r == sizeof(rows) / sizeof(rows[0]))
			return ((int)i);
		n = rows[r][4];
		for (j = 1; j < n; j++) {
			if (i + j >= len)
				return (-1);
			if (j == 1 && (p[i + 1] < rows[r][2] ||
			    p[i + 1] > rows[r][3]))
				return ((int)i + 1);
			if (j > 1 && (p[i + j] & 0xc0) != 0x80)
				return ((int)(i + j));
		}
	}
	*complete = 1;
	return (-1);
}

/* Feed byte by byte: index of the first -1, or -1; and completeness. */
static int
stream_first_error(const uint8_t *p, size_t len, int *complete)
{
	struct utf8_stream	us;
	size_t			i;

	utf8_stream_init(&us);
	for (i = 0; i < len; i++)
		if (utf8_stream_feed(&us, p + i, 1) == -1) {
			*complete = 0;
			return ((int)i);
		}
	*complete = utf8_stream_complete(&us);
	return (-1);
}

static void
test_vectors(void)
{
	const struct vec	*v;
	const uint8_t		*p;
	uint32_t		 cp;
	size_t			 i, len;
	int			 r;

	for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		v = &vecs[i];
		p = (const uint8_t *)v->v_bytes;
		len = v->v_len > 0 ? (size_t)v->v_len : strlen(v->v_bytes);
		cp = 0xdeadbeef;
		r = utf8_decode(p, len, &cp);
		if (v->v_len > 0) {
			CHECK(r == v->v_len && cp == v->v_cp,
			    "decode %s", v->v_name);
			CHECK(utf8_valid(p, len), "valid %s", v->v_name);
		} else {
			CHECK(r == -1, "decode rejects %s", v->v_name);
			CHECK(!utf8_valid(p, len), "invalid %s", v->v_name);
		}
	}
	CHECK(utf8_decode((const uint8_t *)"", 0, &cp) == -1,
	    "decode of nothing is -1");
	CHECK(utf8_decode((const uint8_t *)"\xc3\xa9x", 3, &cp) == 2 &&
	    cp == 0xe9, "decode stops after one code point");
	CHECK(utf8_decode((const uint8_t *)"\xe2\x82\xac", 2, &cp) == -1,
	    "decode with a short length is -1");
	CHECK(utf8_valid((const uint8_t *)"", 0), "empty string is valid");
	CHECK(utf8_valid((const uint8_t *)"h\xc3\xa9llo \xf0\x9f\x98\x80",
	    11), "mixed lengths valid");
	CHECK(!utf8_valid((const uint8_t *)"ok\xed\xa0\x80ok", 7),
	    "surrogate inside text invalid");
	CHECK(!utf8_valid((const uint8_t *)"ok\xe2\x82", 4),
	    "truncated at the end invalid");
}

static void
test_encode(void)
{
	uint8_t		buf[4];
	uint32_t	cp, back;
	size_t		n;
	int		bad = 0;

	for (cp = 0; cp <= 0x10ffff; cp++) {
		n = utf8_encode(cp, buf);
		if (cp >= 0xd800 && cp <= 0xdfff) {
			if (n != 0)
				bad++;
			continue;
		}
		if (n == 0 || utf8_decode(buf, n, &back) != (int)n ||
		    back != cp)
			bad++;
	}
	CHECK(bad == 0, "encode/decode round trip of every scalar value");
	CHECK(utf8_encode(0xd800, buf) == 0 && utf8_encode(0xdfff, buf) == 0,
	    "encode refuses surrogates");
	CHECK(utf8_encode(0x110000, buf) == 0 &&
	    utf8_encode(0xffffffff, buf) == 0, "encode refuses > U+10FFFF");
	CHECK(utf8_encode(0x20ac, buf) == 3 &&
	    memcmp(buf, "\xe2\x82\xac", 3) == 0, "encode U+20AC");
}

static void
test_count(void)
{
	CHECK(utf8_count((const uint8_t *)"", 0) == 0, "count empty");
	CHECK(utf8_count((const uint8_t *)"abc", 3) == 3, "count ASCII");
	CHECK(utf8_count((const uint8_t *)"h\xc3\xa9\xe2\x82\xac"
	    "\xf0\x9f\x98\x80", 10) == 4, "count one of each length");
}

/* Every valid and invalid vector, split in two at every byte. */
static void
test_stream_split(void)
{
	static const char	*texts[] = {
		"plain ascii",
		"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80!",
		"\xf4\x8f\xbf\xbf\xef\xbf\xbf",
		"a\xed\xa0\x80z",
		"a\xe0\x80\x80z",
		"a\xf4\x90\x80\x80z",
		"a\xc0\x80z",
		"\xf0\x9f\x98",
		"end \xe2\x82",
	};
	struct utf8_stream	us;
	const uint8_t		*p;
	size_t			 i, cut, len;
	int			 want, got, bad;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		p = (const uint8_t *)texts[i];
		len = strlen(texts[i]);
		want = utf8_valid(p, len);
		for (bad = 0, cut = 0; cut <= len; cut++) {
			utf8_stream_init(&us);
			got = utf8_stream_feed(&us, p, cut) == 0 &&
			    utf8_stream_feed(&us, p + cut, len - cut) == 0 &&
			    utf8_stream_complete(&us);
			if (got != want)
				bad++;
		}
		CHECK(bad == 0, "stream split at every byte of text %zu "
		    "agrees with utf8_valid (%d)", i, want);
	}
}

/* The stream fails on the very byte that decides, and stays failed. */
static void
test_stream_early(void)
{
	struct utf8_stream	us;

	utf8_stream_init(&us);
	CHECK(utf8_stream_feed(&us, (const uint8_t *)"\xed", 1) == 0 &&
	    utf8_stream_feed(&us, (const uint8_t *)"\xa0", 1) == -1,
	    "ED then A0 fails on A0");
	utf8_stream_init(&us);
	CHECK(utf8_stream_feed(&us, (const uint8_t *)"\xe0", 1) == 0 &&
	    utf8_stream_feed(&us, (const uint8_t *)"\x80", 1) == -1,
	    "E0 then 80 fails on 80");
	utf8_stream_init(&us);
	CHECK(utf8_stream_feed(&us, (const uint8_t *)"\xf4", 1) == 0 &&
	    utf8_stream_feed(&us, (const uint8_t *)"\x90", 1) == -1,
	    "F4 then 90 fails on 90");
	utf8_stream_init(&us);
	CHECK(utf8_stream_feed(&us, (const uint8_t *)"\xc0", 1) == -1,
	    "C0 fails at once");
	utf8_stream_init(&us);
	CHECK(utf8_stream_feed(&us, (const uint8_t *)"\xf5", 1) == -1,
	    "F5 fails at once");
	CHECK(utf8_stream_feed(&us, (const uint8_t *)"a", 1) == -1 &&
	    !utf8_stream_complete(&us), "failure is sticky");
	utf8_stream_init(&us);
	CHECK(utf8_stream_feed(&us, (const uint8_t *)"\xe2\x82", 2) == 0 &&
	    !utf8_stream_complete(&us), "open sequence is not complete");
	CHECK(utf8_stream_feed(&us, (const uint8_t *)"\xac", 1) == 0 &&
	    utf8_stream_complete(&us), "closed sequence is complete");
	CHECK(utf8_stream_feed(&us, NULL, 0) == 0 &&
	    utf8_stream_complete(&us), "empty fragment is harmless");
}

/*
 * Every string of 1 and 2 bytes, every 3-byte string that starts with a
 * lead byte, and 4-byte strings over the interesting continuation values:
 * the stream fails exactly where the table says, decode agrees.
 */
static void
test_exhaustive(void)
{
	static const uint8_t	tail[] = { 0x00, 0x41, 0x7f, 0x80, 0x8f,
	    0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xf4, 0xff };
	uint8_t			b[4];
	uint32_t		cp;
	unsigned int		x, y, z;
	int			rc, sc, bad = 0, n;

	for (x = 0; x < 0x10000; x++) {
		b[0] = x >> 8;
		b[1] = x & 0xff;
		for (n = 1; n <= 2; n++)
			if (ref_scan(b, n, &rc) != stream_first_error(b, n,
			    &sc) || rc != sc)
				bad++;
		if (x >= 0xc000)
			for (z = 0; z < 0x100; z++) {
				b[2] = z;
				if (ref_scan(b, 3, &rc) !=
				    stream_first_error(b, 3, &sc) || rc != sc)
					bad++;
			}
	}
	CHECK(bad == 0, "stream matches Table 3-7 on all short strings");
	for (bad = 0, x = 0xf0; x <= 0xf7; x++)
		for (y = 0; y < 0x100; y++)
			for (z = 0; z < sizeof(tail) * sizeof(tail); z++) {
				b[0] = x;
				b[1] = y;
				b[2] = tail[z / sizeof(tail)];
				b[3] = tail[z % sizeof(tail)];
				if (ref_scan(b, 4, &rc) !=
				    stream_first_error(b, 4, &sc) || rc != sc)
					bad++;
				n = utf8_decode(b, 4, &cp);
				if ((n == 4) != (ref_scan(b, 4, &rc) == -1 &&
				    rc))
					bad++;
			}
	CHECK(bad == 0, "4-byte leads match Table 3-7");
}

int
main(void)
{
	test_vectors();
	test_encode();
	test_count();
	test_stream_split();
	test_stream_early();
	test_exhaustive();
	return (unit_done());
}
