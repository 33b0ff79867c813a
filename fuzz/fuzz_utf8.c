/*
 * Strict UTF-8 (common/utf8.c), which decides 1007 on the wire across
 * fragments and which the sanitiser's promises rest on, against a
 * decoder written here from the table of well-formed byte sequences in
 * the Unicode Standard (3.9, table 3-7).  utf8_valid(), utf8_decode(),
 * utf8_count() and utf8_encode() must agree with it, and the streaming
 * form fed in pieces must refuse a message exactly when the bytes so far
 * can no longer begin valid text, as the front needs for partial frames.
 */

#include <string.h>

#include "common.h"
#include "fuzz.h"

/* The second byte's range for each lead byte; later ones are 80-BF. */
struct ref_lead {
	uint8_t	 rl_lo;		/* lead bytes rl_lo..rl_hi */
	uint8_t	 rl_hi;
	uint8_t	 rl_len;
	uint8_t	 rl_min2;
	uint8_t	 rl_max2;
};

static const struct ref_lead ref_leads[] = {
	{ 0x00, 0x7f, 1, 0, 0 },
	{ 0xc2, 0xdf, 2, 0x80, 0xbf },
	{ 0xe0, 0xe0, 3, 0xa0, 0xbf },
	{ 0xe1, 0xec, 3, 0x80, 0xbf },
	{ 0xed, 0xed, 3, 0x80, 0x9f },
	{ 0xee, 0xef, 3, 0x80, 0xbf },
	{ 0xf0, 0xf0, 4, 0x90, 0xbf },
	{ 0xf1, 0xf3, 4, 0x80, 0xbf },
	{ 0xf4, 0xf4, 4, 0x80, 0x8f }
};

static size_t	 ref_seq(const uint8_t *, size_t, int *);
static int	 ref_scan(const uint8_t *, size_t, size_t *);

/*
 * The well-formed sequence at p: its length, or 0 if the bytes there
 * are not one.  *cut is set when they are a valid start cut off by len.
 */
static size_t
ref_seq(const uint8_t *p, size_t len, int *cut)
{
	const struct ref_lead	*rl = NULL;
	size_t			 i;

	*cut = 0;
	for (i = 0; i < sizeof(ref_leads) / sizeof(ref_leads[0]); i++)
		if (p[0] >= ref_leads[i].rl_lo && p[0] <= ref_leads[i].rl_hi)
			rl = &ref_leads[i];
	if (rl == NULL)
		return (0);
	for (i = 1; i < rl->rl_len; i++) {
		if (i == len) {
			*cut = 1;
			return (0);
		}
		if (i == 1 ? p[1] < rl->rl_min2 || p[1] > rl->rl_max2 :
		    p[i] < 0x80 || p[i] > 0xbf)
			return (0);
	}
	return (rl->rl_len);
}

/*
 * 1 if p can begin valid text (*ncp: its complete code points), with
 * *ncp set to (size_t)-1 when it ends inside a sequence; 0 if not.
 */
static int
ref_scan(const uint8_t *p, size_t len, size_t *ncp)
{
	size_t	 i, n;
	int	 cut;

	*ncp = 0;
	for (i = 0; i < len; i += n) {
		if ((n = ref_seq(p + i, len - i, &cut)) == 0) {
			if (!cut)
				return (0);
			*ncp = (size_t)-1;
			return (1);
		}
		(*ncp)++;
	}
	return (1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct utf8_stream	 us;
	uint8_t			 enc[4];
	uint32_t		 cp, x;
	size_t			 ncp, n, off, piece, i;
	int			 ok, r, cut, failed;

	ok = ref_scan(data, size, &ncp) && ncp != (size_t)-1;
	FUZZ_CHECK(utf8_valid(data, size) == ok, "valid: %d, reference %d",
	    utf8_valid(data, size), ok);
	if (ok)
		FUZZ_CHECK(utf8_count(data, size) == ncp, "count");

	/* Each position: decode as the reference does, and encode back. */
	for (i = 0; i < size; i++) {
		n = ref_seq(data + i, size - i, &cut);
		r = utf8_decode(data + i, size - i, &cp);
		FUZZ_CHECK(n == 0 ? r == -1 : r == (int)n,
		    "decode at %zu: %d, reference %zu", i, r, n);
		if (r > 0)
			FUZZ_CHECK(utf8_encode(cp, enc) == n &&
			    memcmp(enc, data + i, n) == 0, "re-encode U+%04X",
			    cp);
	}

	/* Any 32-bit value: encodable exactly when it is a scalar value. */
	for (i = 0; i + 4 <= size && i < 64; i += 4) {
		memcpy(&cp, data + i, sizeof(cp));
		cp &= 0x1fffff;
		n = utf8_encode(cp, enc);
		FUZZ_CHECK((n != 0) == (cp <= 0x10ffff &&
		    (cp < 0xd800 || cp > 0xdfff)), "encode U+%04X", cp);
		if (n != 0)
			FUZZ_CHECK(utf8_decode(enc, n, &x) == (int)n && x == cp,
			    "decode of encoded U+%04X", cp);
	}

	/* In pieces, as frames and reads cut a message. */
	utf8_stream_init(&us);
	failed = 0;
	for (off = 0, x = size; off < size; off += piece) {
		x = x * 1103515245 + 12345;
		piece = 1 + (x >> 16) % 7;
		if (piece > size - off)
			piece = size - off;
		if (!failed && utf8_stream_feed(&us, data + off, piece) == -1)
			failed = 1;
		FUZZ_CHECK(failed == !ref_scan(data, off + piece, &ncp),
		    "stream %s after %zu bytes", failed ? "refused" :
		    "accepted", off + piece);
	}
	if (!failed)
		FUZZ_CHECK(utf8_stream_complete(&us) == ok, "stream complete");
	return (0);
}
