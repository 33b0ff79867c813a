/*
 * The PROTOCOL.md section 5 sanitiser, shared by the matcher (before
 * counting and relay) and the client (before display).  One left-to-right
 * pass over code points: escape sequences are recognised on the original
 * text and removed whole, and controls and bidi formatting characters are
 * removed in the same pass, which gives the same result as running the
 * three rules one after the other.  The readings of the rules where the
 * protocol is loose (a CSI ends at the first 0x40-0x7E whatever precedes
 * it, ST is ESC \ or U+009C for every introducer, an unterminated sequence
 * eats the rest, ESC takes exactly one following code point, ESC at the
 * very end goes alone) are those of the node-ws peer, so both servers and
 * every client clean text alike.
 */

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define CP_ESC		0x1b
#define CP_BEL		0x07
#define CP_TAB		0x09
#define CP_ST		0x9c
#define CP_INVALID	0xffffffffU	/* a byte that starts no code point */

static size_t	san_next(const uint8_t *, size_t, size_t, uint32_t *);
static size_t	san_csi(const uint8_t *, size_t, size_t);
static size_t	san_string(const uint8_t *, size_t, size_t, int);
static size_t	san_esc(const uint8_t *, size_t, size_t);
static int	san_is_string(uint32_t);
static int	san_drop(uint32_t);

/*
 * Decode the code point at in[i] and return the index after it.  Input is
 * valid UTF-8 by contract; should it not be, a bad byte is one code point
 * that is removed, so the output is still valid UTF-8.
 */
static size_t
san_next(const uint8_t *in, size_t len, size_t i, uint32_t *cp)
{
	int	n;

	if ((n = utf8_decode(in + i, len - i, cp)) == -1) {
		*cp = CP_INVALID;
		return (i + 1);
	}
	return (i + n);
}

/* CSI body: up to and including the first code point in 0x40-0x7E. */
static size_t
san_csi(const uint8_t *in, size_t len, size_t i)
{
	uint32_t	cp;

	while (i < len) {
		i = san_next(in, len, i, &cp);
		if (cp >= 0x40 && cp <= 0x7e)
			return (i);
	}
	return (len);
}

/*
 * OSC (bel set) or DCS/SOS/PM/APC body: up to and including ST (ESC \ or
 * U+009C), or BEL for OSC.  An ESC not followed by \ is part of the body.
 */
static size_t
san_string(const uint8_t *in, size_t len, size_t i, int bel)
{
	uint32_t	cp;

	while (i < len) {
		i = san_next(in, len, i, &cp);
		if (cp == CP_ST || (bel && cp == CP_BEL))
			return (i);
		if (cp == CP_ESC && i < len && in[i] == '\\')
			return (i + 1);
	}
	return (len);
}

/* i is just after an ESC; return the index after the whole sequence. */
static size_t
san_esc(const uint8_t *in, size_t len, size_t i)
{
	uint32_t	cp;

	if (i >= len)
		return (len);
	switch (in[i]) {
	case '[':
		return (san_csi(in, len, i + 1));
	case ']':
		return (san_string(in, len, i + 1, 1));
	case 'P':
	case 'X':
	case '^':
	case '_':
		return (san_string(in, len, i + 1, 0));
	}
	/* The two-character form: ESC and any one code point. */
	return (san_next(in, len, i, &cp));
}

/* The 8-bit DCS, SOS, PM and APC. */
static int
san_is_string(uint32_t cp)
{
	return (cp == 0x90 || cp == 0x98 || cp == 0x9e || cp == 0x9f);
}

/* C0, DEL, C1, the bidi formatting characters and undecodable bytes. */
static int
san_drop(uint32_t cp)
{
	if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == CP_INVALID)
		return (1);
	if (cp == 0x061c || cp == 0x200e || cp == 0x200f)
		return (1);
	if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
		return (1);
	return (0);
}

size_t
sanitise(const uint8_t *in, size_t len, uint8_t *out, size_t *ncp)
{
	size_t		i, next, o, n;
	uint32_t	cp;

	i = o = n = 0;
	while (i < len) {
		if (in[i] >= 0x20 && in[i] < 0x7f) {
			out[o++] = in[i++];
			n++;
			continue;
		}
		next = san_next(in, len, i, &cp);
		if (cp == CP_ESC)
			next = san_esc(in, len, next);
		else if (cp == 0x9b)
			next = san_csi(in, len, next);
		else if (cp == 0x9d)
			next = san_string(in, len, next, 1);
		else if (san_is_string(cp))
			next = san_string(in, len, next, 0);
		else if (cp == CP_TAB) {
			out[o++] = ' ';
			n++;
		} else if (!san_drop(cp)) {
			/* Kept: copy its bytes (out never overtakes in). */
			while (i < next)
				out[o++] = in[i++];
			n++;
		}
		i = next;
	}
	if (ncp != NULL)
		*ncp = n;
	return (o);
}

int
sanitise_empty(const uint8_t *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (p[i] != ' ')
			return (0);
	return (1);
}
