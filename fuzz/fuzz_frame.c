/*
 * The RFC 6455 frame header parser and masking (common/ws.c), shared by
 * the front and the client.  The input is a stream of frames as a client
 * sends them.  Each header parsed is rebuilt with ws_frame_header() and
 * must come out byte for byte the same, which holds because only shortest
 * lengths are accepted (D40); a shorter read of a good header must ask for
 * more bytes, and a bad length must be refused as soon as it is in.
 * Unmasking must undo itself and must not depend on where a read split
 * the payload.
 */

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "fuzz.h"

static size_t	 one_frame(const uint8_t *, size_t);
static void	 check_unmask(const uint8_t *, size_t, const uint8_t *);

static void
check_unmask(const uint8_t *p, size_t len, const uint8_t *mask)
{
	uint8_t	*a, *b;
	size_t	 split;

	if ((a = malloc(len + 1)) == NULL || (b = malloc(len + 1)) == NULL)
		abort();
	memcpy(a, p, len);
	memcpy(b, p, len);
	ws_unmask(a, len, mask, 0);
	split = len > 0 ? (p[0] * 7U) % len : 0;
	ws_unmask(b, split, mask, 0);
	ws_unmask(b + split, len - split, mask, split);
	FUZZ_CHECK(memcmp(a, b, len) == 0, "split at %zu differs", split);
	ws_unmask(a, len, mask, 0);
	FUZZ_CHECK(memcmp(a, p, len) == 0, "unmasking twice is not a no-op");
	free(a);
	free(b);
}

/* Judge the frame at p; returns the bytes it takes, 0 if it is the last. */
static size_t
one_frame(const uint8_t *p, size_t len)
{
	struct ws_frame	 wf;
	uint8_t		 hdr[WS_HDR_MAX];
	size_t		 k, lenin, avail;
	int		 r, rk;

	r = ws_frame_parse(p, len, &wf);
	FUZZ_CHECK(r >= -1 && r <= WS_HDR_MAX, "returned %d", r);
	if (r == 0)
		return (0);
	if (r == -1) {
		/* Refused as soon as the length bytes are in, not later. */
		lenin = 2 + ((p[1] & 0x7f) == 126 ? 2 : 8);
		FUZZ_CHECK((p[1] & 0x7f) >= 126 && len >= lenin &&
		    ws_frame_parse(p, lenin, &wf) == -1,
		    "refused late, or a 7-bit length refused");
		return (0);
	}
	FUZZ_CHECK((size_t)r == wf.wf_hdrlen && (size_t)r <= len,
	    "header length %d, %zu", r, wf.wf_hdrlen);
	FUZZ_CHECK(wf.wf_len >> 63 == 0, "length top bit set");
	FUZZ_CHECK(ws_frame_header(hdr, wf.wf_fin, wf.wf_opcode, wf.wf_len,
	    wf.wf_masked ? wf.wf_mask : NULL) == (size_t)r,
	    "rebuilt header has another length");
	hdr[0] |= (uint8_t)(wf.wf_rsv << 4);
	FUZZ_CHECK(memcmp(hdr, p, (size_t)r) == 0, "rebuilt header differs");
	for (k = 0; k < (size_t)r; k++) {
		rk = ws_frame_parse(p, k, &wf);
		FUZZ_CHECK(rk == 0, "%zu of %d header bytes: %d", k, r, rk);
	}
	(void)ws_frame_parse(p, len, &wf);

	avail = len - (size_t)r;
	if (wf.wf_len < avail)
		avail = (size_t)wf.wf_len;
	check_unmask(p + r, avail, wf.wf_mask);
	(void)ws_opcode_known(wf.wf_opcode);
	if (wf.wf_opcode == WS_OP_CLOSE && avail >= 2)
		(void)ws_close_code_valid((p[r] << 8) | p[r + 1]);
	if (avail < wf.wf_len)
		return (0);
	return ((size_t)r + avail);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t	 off, n;

	for (off = 0; off < size; off += n)
		if ((n = one_frame(data + off, size - off)) == 0)
			break;
	return (0);
}
