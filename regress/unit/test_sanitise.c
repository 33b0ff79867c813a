/*
 * sanitise.c: every rule of PROTOCOL.md section 5 with hostile input (7-
 * and 8-bit CSI, OSC, DCS/SOS/PM/APC, their terminators, unterminated
 * sequences, ESC plus one code point, controls, bidi characters), the
 * code point count, "empty", in-place use, and invariants over random
 * strings built from the characters that matter.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "unit.h"

struct san_case {
	const char	*sc_name;
	const char	*sc_in;
	const char	*sc_want;
};

static const struct san_case	cases[] = {
	/* Nothing to do. */
	{ "plain text", "hello, world", "hello, world" },
	{ "empty", "", "" },
	{ "multi-byte kept", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80",
	    "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80" },
	{ "brackets alone kept", "[31m ]0; P X ^ _ \\",
	    "[31m ]0; P X ^ _ \\" },

	/* CSI */
	{ "CSI colour", "a\x1b[31mred\x1b[0m", "ared" },
	{ "CSI private", "\x1b[?25lx", "x" },
	{ "CSI intermediate", "\x1b[1;2 qx", "x" },
	{ "CSI final @", "\x1b[12@x", "x" },
	{ "CSI final ~", "\x1b[~x", "x" },
	{ "CSI eats controls", "\x1b[1\x07\x0a\x7fmX", "X" },
	{ "CSI eats multi-byte", "\x1b[\xc3\xa9\xe2\x82\xacmX", "X" },
	{ "CSI first final only", "\x1b[AB", "B" },
	{ "CSI eats ESC inside", "\x1b[1\x1b[2mX", "2mX" },
	{ "CSI unterminated", "ab\x1b[123;", "ab" },
	{ "CSI ESC [ at end", "ab\x1b[", "ab" },
	{ "CSI 8-bit", "a\xc2\x9b" "31mb", "ab" },
	{ "CSI 8-bit unterminated", "a\xc2\x9b" "31", "a" },
	{ "CSI ignores ST", "\x1b[1\xc2\x9c" "2mX", "X" },

	/* OSC */
	{ "OSC BEL", "\x1b]0;title\x07" "after", "after" },
	{ "OSC ST", "\x1b]8;;http://x/\x1b\\link\x1b]8;;\x1b\\", "link" },
	{ "OSC U+009C", "\x1b]0;t\xc2\x9c" "after", "after" },
	{ "OSC ESC not ST", "\x1b]0;a\x1b" "b\x07" "c", "c" },
	{ "OSC ESC at end", "x\x1b]0;a\x1b", "x" },
	{ "OSC unterminated", "x\x1b]0;title", "x" },
	{ "OSC first terminator", "\x1b]a\x07" "b\x07" "c", "b" "c" },
	{ "OSC 8-bit BEL", "a\xc2\x9d" "0;t\x07" "b", "ab" },
	{ "OSC 8-bit ESC \\", "a\xc2\x9d" "0;t\x1b\\b", "ab" },
	{ "OSC 8-bit U+009C", "a\xc2\x9d" "0;t\xc2\x9c" "b", "ab" },
	{ "OSC 8-bit unterminated", "a\xc2\x9dtitle", "a" },

	/* DCS, SOS, PM, APC */
	{ "DCS ST", "\x1bPq#0;2\x1b\\ok", "ok" },
	{ "DCS not ended by BEL", "\x1bPab\x07" "cd\x1b\\" "ef", "ef" },
	{ "DCS U+009C", "\x1bPx\xc2\x9cy", "y" },
	{ "DCS unterminated", "z\x1bPsixel\x07", "z" },
	{ "SOS", "\x1bXsos\x1b\\1", "1" },
	{ "PM", "\x1b^pm\x1b\\2", "2" },
	{ "APC", "\x1b_apc\x1b\\3", "3" },
	{ "APC unterminated", "4\x1b_apc", "4" },
	{ "DCS 8-bit", "\xc2\x90x\x07y\xc2\x9c" "A", "A" },
	{ "SOS 8-bit", "\xc2\x98x\x1b\\B", "B" },
	{ "PM 8-bit", "\xc2\x9ex\xc2\x9c" "C", "C" },
	{ "APC 8-bit", "\xc2\x9fx\xc2\x9c" "D", "D" },
	{ "APC 8-bit unterminated", "E\xc2\x9fxyz", "E" },
	{ "lone U+009C removed", "a\xc2\x9c" "b", "ab" },

	/* ESC and one code point */
	{ "ESC 7", "\x1b" "7x", "x" },
	{ "ESC ( B leaves B", "\x1b(B", "B" },
	{ "ESC c", "\x1b" "cX", "X" },
	{ "ESC \\ alone", "a\x1b\\b", "ab" },
	{ "ESC 2-byte", "\x1b\xc3\xa9z", "z" },
	{ "ESC 3-byte", "\x1b\xe2\x80\xaez", "z" },
	{ "ESC 4-byte", "\x1b\xf0\x9f\x98\x80z", "z" },
	{ "ESC ESC", "\x1b\x1b[31m", "[31m" },
	{ "ESC LF", "\x1b\nX", "X" },
	{ "ESC U+009B", "\x1b\xc2\x9b" "31mX", "31mX" },
	{ "ESC at end", "abc\x1b", "abc" },
	{ "ESC alone", "\x1b", "" },

	/* Controls */
	{ "TAB is a space", "a\tb", "a b" },
	{ "TABs", "\t\t", "  " },
	{ "CR LF removed", "line1\r\nline2\n", "line1line2" },
	{ "C0 removed", "\x01" "a\x08" "b\x1f" "c\x7f", "abc" },
	{ "C1 removed", "a\xc2\x80" "b\xc2\x85" "c\xc2\x8d" "d\xc2\x9a",
	    "abcd" },
	{ "U+00A0 kept", "\xc2\xa0", "\xc2\xa0" },

	/* Bidi */
	{ "bidi removed",
	    "<\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad\xe2\x80\xae"
	    "\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9"
	    "\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c>", "<>" },
	{ "bidi neighbours kept",
	    "\xe2\x80\xa9\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa\xe2\x80\x8d"
	    "\xe2\x80\x90\xd8\x9b",
	    "\xe2\x80\xa9\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa\xe2\x80\x8d"
	    "\xe2\x80\x90\xd8\x9b" },
	{ "U+200B kept", "a\xe2\x80\x8b" "b", "a\xe2\x80\x8b" "b" },
	{ "U+2028 U+FEFF kept", "\xe2\x80\xa8\xef\xbb\xbf",
	    "\xe2\x80\xa8\xef\xbb\xbf" },
};

static int	run_case(const char *, const uint8_t *, size_t, const char *);
static void	test_cases(void);
static void	test_nul_and_invalid(void);
static void	test_count(void);
static void	test_empty(void);
static void	test_random(void);
static int	has_forbidden(const uint8_t *, size_t);

/* Out of place and in place; output, count and validity. */
static int
run_case(const char *name, const uint8_t *in, size_t len, const char *want)
{
	uint8_t	out[256], inplace[256];
	size_t	olen, ilen, ncp, ncp2;
	int	ok;

	if (len > sizeof(out))
		return (0);
	memset(out, 0xaa, sizeof(out));
	olen = sanitise(in, len, out, &ncp);
	memcpy(inplace, in, len);
	ilen = sanitise(inplace, len, inplace, &ncp2);
	ok = olen == strlen(want) && memcmp(out, want, olen) == 0 &&
	    ncp == utf8_count(out, olen) && ilen == olen && ncp2 == ncp &&
	    memcmp(inplace, out, olen) == 0 && utf8_valid(out, olen);
	CHECK(ok, "sanitise: %s", name);
	return (ok);
}

static void
test_cases(void)
{
	const struct san_case	*c;
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = &cases[i];
		run_case(c->sc_name, (const uint8_t *)c->sc_in,
		    strlen(c->sc_in), c->sc_want);
	}
}

static void
test_nul_and_invalid(void)
{
	run_case("NUL removed", (const uint8_t *)"a\0b\0", 4, "ab");
	run_case("NUL ends nothing", (const uint8_t *)"\x1b]\0x\x07y", 6,
	    "y");
	/* Not valid input, but the output must still be valid UTF-8. */
	run_case("bad bytes dropped", (const uint8_t *)"a\xff" "b\xc3", 4,
	    "ab");
	run_case("bad bytes in CSI", (const uint8_t *)"\x1b[\xff\x80mZ", 6,
	    "Z");
}

static void
test_count(void)
{
	uint8_t		out[64];
	const char	*s = "h\xc3\xa9llo\t\xf0\x9f\x98\x80\x1b[1m!";
	size_t		n, ncp;

	n = sanitise((const uint8_t *)s, strlen(s), out, &ncp);
	CHECK(ncp == 8 && n == 12, "count: 8 code points in 12 bytes");
	n = sanitise((const uint8_t *)s, strlen(s), out, NULL);
	CHECK(n == 12, "count pointer may be NULL");
	n = sanitise((const uint8_t *)"", 0, out, &ncp);
	CHECK(n == 0 && ncp == 0, "count of nothing is 0");
}

static void
test_empty(void)
{
	uint8_t	out[64];
	size_t	n;

	CHECK(sanitise_empty((const uint8_t *)"", 0), "empty: nothing");
	CHECK(sanitise_empty((const uint8_t *)"   ", 3), "empty: spaces");
	n = sanitise((const uint8_t *)"\t \t", 3, out, NULL);
	CHECK(sanitise_empty(out, n), "empty: tabs become spaces");
	n = sanitise((const uint8_t *)"\x1b[31m\r\n\xe2\x80\xae", 10, out,
	    NULL);
	CHECK(n == 0 && sanitise_empty(out, n), "empty: only escapes");
	CHECK(!sanitise_empty((const uint8_t *)" a ", 3), "not empty: text");
	CHECK(!sanitise_empty((const uint8_t *)"\xc2\xa0", 2),
	    "not empty: U+00A0");
	CHECK(!sanitise_empty((const uint8_t *)"\xe3\x80\x80", 3),
	    "not empty: U+3000");
	CHECK(!sanitise_empty((const uint8_t *)"\xe2\x80\x8b", 3),
	    "not empty: U+200B");
}

/* Any code point the sanitiser must never let through. */
static int
has_forbidden(const uint8_t *p, size_t len)
{
	uint32_t	cp;
	size_t		i;
	int		n;

	for (i = 0; i < len; i += n) {
		if ((n = utf8_decode(p + i, len - i, &cp)) == -1)
			return (1);
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
		    cp == 0x061c || cp == 0x200e || cp == 0x200f ||
		    (cp >= 0x202a && cp <= 0x202e) ||
		    (cp >= 0x2066 && cp <= 0x2069))
			return (1);
	}
	return (0);
}

/*
 * Random strings of the characters that matter: the output is valid,
 * shorter, free of controls and bidi characters, counted right, and a
 * fixed point.
 */
static void
test_random(void)
{
	static const char	*atoms[] = {
		"\x1b", "[", "]", "P", "X", "^", "_", "\\", "\x07", "\t",
		"\r", "\n", "\x7f", "\xc2\x9b", "\xc2\x9c", "\xc2\x9d",
		"\xc2\x90", "\xc2\x85", "m", "@", "~", "a", " ", "0", ";",
		"\xc3\xa9", "\xe2\x80\xae", "\xe2\x81\xa6", "\xe2\x80\x8b",
		"\xf0\x9f\x98\x80", "\xd8\x9c",
	};
	uint8_t			in[128], out[128], again[128];
	size_t			i, k, len, olen, alen, ncp;
	int			bad = 0;

	for (i = 0; i < 20000; i++) {
		for (len = 0; len < sizeof(in) - 4;) {
			k = arc4random_uniform(sizeof(atoms) /
			    sizeof(atoms[0]));
			memcpy(in + len, atoms[k], strlen(atoms[k]));
			len += strlen(atoms[k]);
			if (arc4random_uniform(16) == 0)
				break;
		}
		olen = sanitise(in, len, out, &ncp);
		alen = sanitise(out, olen, again, NULL);
		if (olen > len || !utf8_valid(out, olen) ||
		    has_forbidden(out, olen) || ncp != utf8_count(out, olen) ||
		    alen != olen || memcmp(again, out, olen) != 0)
			bad++;
	}
	CHECK(bad == 0, "random hostile strings: valid, shorter, clean, "
	    "counted, idempotent");
}

int
main(void)
{
	test_cases();
	test_nul_and_invalid();
	test_count();
	test_empty();
	test_random();
	return (unit_done());
}
