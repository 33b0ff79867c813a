/*
 * ws.c: the RFC 6455 5.7 example frames, every length form (7, 16 and 64
 * bits) at its edges, non-minimal lengths and a 64-bit length with the top
 * bit set, truncation at every byte, header build/parse round trips,
 * unmasking in pieces, opcodes, the handshake key and accept value, and
 * close codes.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "unit.h"

static void	test_rfc_examples(void);
static void	test_lengths(void);
static void	test_malformed(void);
static void	test_truncation(void);
static void	test_roundtrip(void);
static void	test_unmask(void);
static void	test_opcodes(void);
static void	test_accept(void);
static void	test_key(void);
static void	test_close_codes(void);

static const uint8_t	mask_hello[] = { 0x37, 0xfa, 0x21, 0x3d };

static void
test_rfc_examples(void)
{
	/* RFC 6455 5.7: a masked "Hello" from a client. */
	static const uint8_t	masked[] = { 0x81, 0x85, 0x37, 0xfa, 0x21,
	    0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	static const uint8_t	frag[] = { 0x01, 0x03, 'H', 'e', 'l' };
	static const uint8_t	fin[] = { 0x80, 0x02, 'l', 'o' };
	static const uint8_t	ping[] = { 0x89, 0x05 };
	static const uint8_t	big[] = { 0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0 };
	struct ws_frame		wf;
	uint8_t			pay[5], hdr[WS_HDR_MAX];

	CHECK(ws_frame_parse((const uint8_t *)"\x81\x05Hello", 7, &wf) == 2 &&
	    wf.wf_fin && wf.wf_rsv == 0 && wf.wf_opcode == WS_OP_TEXT &&
	    !wf.wf_masked && wf.wf_len == 5 && wf.wf_hdrlen == 2,
	    "RFC unmasked Hello");
	CHECK(ws_frame_parse(masked, sizeof(masked), &wf) == 6 &&
	    wf.wf_masked && wf.wf_len == 5 &&
	    memcmp(wf.wf_mask, mask_hello, 4) == 0, "RFC masked Hello");
	memcpy(pay, masked + 6, 5);
	ws_unmask(pay, 5, wf.wf_mask, 0);
	CHECK(memcmp(pay, "Hello", 5) == 0, "RFC masked Hello unmasks");
	CHECK(ws_frame_parse(frag, sizeof(frag), &wf) == 2 && !wf.wf_fin &&
	    wf.wf_opcode == WS_OP_TEXT && wf.wf_len == 3, "RFC first fragment");
	CHECK(ws_frame_parse(fin, sizeof(fin), &wf) == 2 && wf.wf_fin &&
	    wf.wf_opcode == WS_OP_CONT && wf.wf_len == 2, "RFC last fragment");
	CHECK(ws_frame_parse(ping, sizeof(ping), &wf) == 2 &&
	    wf.wf_opcode == WS_OP_PING && wf.wf_len == 5, "RFC ping");
	CHECK(ws_frame_parse(big, sizeof(big), &wf) == 10 &&
	    wf.wf_opcode == WS_OP_BINARY && wf.wf_len == 65536,
	    "RFC 64 KiB binary");
	CHECK(ws_frame_header(hdr, 1, WS_OP_TEXT, 5, mask_hello) == 6 &&
	    memcmp(hdr, masked, 6) == 0, "build RFC masked Hello header");
	CHECK(ws_frame_header(hdr, 1, WS_OP_BINARY, 65536, NULL) == 10 &&
	    memcmp(hdr, big, 10) == 0, "build RFC 64 KiB header");
	CHECK(ws_frame_header(hdr, 0, WS_OP_TEXT, 3, NULL) == 2 &&
	    memcmp(hdr, frag, 2) == 0, "build RFC first fragment header");
}

/* Each length form at its edges, unmasked and masked. */
static void
test_lengths(void)
{
	static const struct {
		uint64_t	len;
		int		hdr;
	} t[] = {
		{ 0, 2 }, { 1, 2 }, { 125, 2 }, { 126, 4 }, { 127, 4 },
		{ 0xffff, 4 }, { 0x10000, 10 }, { 0xffffffffULL, 10 },
		{ 0x100000000ULL, 10 }, { 0x7fffffffffffffffULL, 10 },
	};
	struct ws_frame	wf;
	uint8_t		hdr[WS_HDR_MAX];
	size_t		i, n;
	int		m;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		for (m = 0; m <= 1; m++) {
			n = ws_frame_header(hdr, 1, WS_OP_TEXT, t[i].len,
			    m ? mask_hello : NULL);
			CHECK(n == (size_t)t[i].hdr + 4 * m &&
			    ws_frame_parse(hdr, n, &wf) == (int)n &&
			    wf.wf_len == t[i].len && wf.wf_masked == m &&
			    wf.wf_hdrlen == n,
			    "length %llu %s: %zu-byte header",
			    (unsigned long long)t[i].len,
			    m ? "masked" : "unmasked", n);
		}
}

static void
test_malformed(void)
{
	static const uint8_t	top[] = { 0x82, 0x7f, 0x80, 0, 0, 0, 0, 0,
	    0, 0 };
	static const uint8_t	allf[] = { 0x82, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4 };
	static const uint8_t	min16[] = { 0x81, 0x7e, 0x00, 0x7d };
	static const uint8_t	zero16[] = { 0x81, 0xfe, 0x00, 0x00, 1, 2, 3,
	    4 };
	static const uint8_t	min64[] = { 0x81, 0x7f, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };
	static const uint8_t	small64[] = { 0x81, 0x7f, 0, 0, 0, 0, 0, 0,
	    0, 5 };
	static const uint8_t	ok16[] = { 0x81, 0x7e, 0x00, 0x7e };
	struct ws_frame		wf;

	CHECK(ws_frame_parse(top, sizeof(top), &wf) == -1,
	    "64-bit length with top bit set: -1");
	CHECK(ws_frame_parse(allf, sizeof(allf), &wf) == -1,
	    "64-bit length of all ones: -1");
	CHECK(ws_frame_parse(allf, 10, &wf) == -1,
	    "bad 64-bit length reported before the mask arrives");
	CHECK(ws_frame_parse(min16, sizeof(min16), &wf) == -1,
	    "16-bit form for 125: -1");
	CHECK(ws_frame_parse(zero16, sizeof(zero16), &wf) == -1,
	    "16-bit form for 0: -1");
	CHECK(ws_frame_parse(min64, sizeof(min64), &wf) == -1,
	    "64-bit form for 65535: -1");
	CHECK(ws_frame_parse(small64, sizeof(small64), &wf) == -1,
	    "64-bit form for 5: -1");
	CHECK(ws_frame_parse(ok16, sizeof(ok16), &wf) == 4 &&
	    wf.wf_len == 126, "16-bit form for 126 is fine");
	CHECK(ws_frame_parse((const uint8_t *)"\xf3\x00", 2, &wf) == 2 &&
	    wf.wf_rsv == 7 && wf.wf_opcode == 3 && wf.wf_fin,
	    "reserved bits and opcode reported, not judged");
	CHECK(ws_frame_parse((const uint8_t *)"\x08\x7e\x00\x7e", 4,
	    &wf) == 4 && wf.wf_opcode == WS_OP_CLOSE && !wf.wf_fin &&
	    wf.wf_len == 126, "oversized fragmented close parsed for the "
	    "caller to refuse");
}

/* Every proper prefix of every header form needs more bytes. */
static void
test_truncation(void)
{
	static const uint64_t	lens[] = { 5, 300, 70000 };
	struct ws_frame		wf;
	uint8_t			hdr[WS_HDR_MAX];
	size_t			i, n, cut;
	int			m, bad;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (m = 0; m <= 1; m++) {
			n = ws_frame_header(hdr, 1, WS_OP_BINARY, lens[i],
			    m ? mask_hello : NULL);
			for (bad = 0, cut = 0; cut < n; cut++)
				if (ws_frame_parse(hdr, cut, &wf) != 0)
					bad++;
			CHECK(bad == 0, "length %llu %s: every prefix of the "
			    "%zu-byte header needs more",
			    (unsigned long long)lens[i],
			    m ? "masked" : "unmasked", n);
		}
	CHECK(ws_frame_parse(NULL, 0, &wf) == 0, "nothing needs more");
}

static void
test_roundtrip(void)
{
	static const int	ops[] = { WS_OP_CONT, WS_OP_TEXT, WS_OP_BINARY,
	    WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG };
	struct ws_frame		wf;
	uint8_t			hdr[WS_HDR_MAX];
	size_t			i, n;
	int			fin, bad = 0;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		for (fin = 0; fin <= 1; fin++) {
			n = ws_frame_header(hdr, fin, ops[i], 1000, NULL);
			if (ws_frame_parse(hdr, n, &wf) != (int)n ||
			    wf.wf_fin != fin || wf.wf_opcode != ops[i] ||
			    wf.wf_rsv != 0 || wf.wf_masked || wf.wf_len != 1000)
				bad++;
		}
	CHECK(bad == 0, "every opcode and FIN bit round-trips");
}

/* Unmasking in pieces at every split equals unmasking at once. */
static void
test_unmask(void)
{
	uint8_t	ref[37], buf[37];
	size_t	i, cut;
	int	bad = 0;

	for (i = 0; i < sizeof(ref); i++)
		ref[i] = (uint8_t)(i * 7 + 1);
	for (cut = 0; cut <= sizeof(buf); cut++) {
		memcpy(buf, ref, sizeof(buf));
		ws_unmask(buf, cut, mask_hello, 0);
		ws_unmask(buf + cut, sizeof(buf) - cut, mask_hello, cut);
		for (i = 0; i < sizeof(buf); i++)
			if (buf[i] != (ref[i] ^ mask_hello[i % 4]))
				bad++;
	}
	CHECK(bad == 0, "unmask split at every offset");
	memcpy(buf, ref, sizeof(buf));
	ws_unmask(buf, sizeof(buf), mask_hello, 0);
	ws_unmask(buf, sizeof(buf), mask_hello, 0);
	CHECK(memcmp(buf, ref, sizeof(buf)) == 0, "masking twice is identity");
	ws_unmask(buf, 3, mask_hello, 0x100000001ULL);
	CHECK(buf[0] == (ref[0] ^ mask_hello[1]), "64-bit offset uses its "
	    "low bits");
}

static void
test_opcodes(void)
{
	int	op, bad = 0;

	for (op = 0; op < 16; op++)
		if (ws_opcode_known(op) != (op <= 2 || (op >= 8 && op <= 10)))
			bad++;
	CHECK(bad == 0, "known opcodes are 0-2 and 8-10");
}

static void
test_accept(void)
{
	char	out[WS_ACCEPT_LEN + 1];

	memset(out, 'x', sizeof(out));
	CHECK(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out) == 0 &&
	    strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0,
	    "RFC 6455 accept example");
	/* printf %s "$key$guid" | openssl sha1 -binary | base64 */
	CHECK(ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", 24, out) == 0 &&
	    strcmp(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=") == 0,
	    "second accept vector");
	CHECK(ws_accept_key("AAAAAAAAAAAAAAAAAAAAAA==xyz", 24, out) == 0 &&
	    strcmp(out, "ICX+Yqv66kxgM0FcWaLWlFLwTAI=") == 0,
	    "accept uses only keylen bytes");
}

static void
test_key(void)
{
	static const struct {
		const char	*k;
		int		 ok;
		const char	*why;
	} t[] = {
		{ "dGhlIHNhbXBsZSBub25jZQ==", 1, "RFC sample" },
		{ "AAAAAAAAAAAAAAAAAAAAAA==", 1, "all zero bytes" },
		{ "+/+/+/+/+/+/+/+/+/+/+w==", 1, "+ and /" },
		{ "dGhlIHNhbXBsZSBub25jZR==", 1, "non-zero pad bits" },
		{ "dGhlIHNhbXBsZSBub25jZQ=", 0, "23 chars" },
		{ "dGhlIHNhbXBsZSBub25jZQ===", 0, "25 chars" },
		{ "dGhlIHNhbXBsZSBub25jZQAA", 0, "no padding" },
		{ "dGhlIHNhbXBsZSBub25jZ===", 0, "three =" },
		{ "AAAAAAAAAAAAAAAAAAAAAAA=", 0, "17 bytes" },
		{ "dGhlIHNhbXBsZSBub25j=Q==", 0, "= inside" },
		{ "dGhlIHNhbXBsZSBub25-_Q==", 0, "URL-safe alphabet" },
		{ "dGhlIHNhbXBsZSBub25 ZQ==", 0, "space" },
		{ "", 0, "empty" },
	};
	size_t	i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECK(ws_key_valid(t[i].k, strlen(t[i].k)) == t[i].ok,
		    "key %s: %s", t[i].why, t[i].ok ? "valid" : "invalid");
	CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 23),
	    "key length is the one given");
	CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub2\0jZQ==", 24), "key with NUL");
}

static void
test_close_codes(void)
{
	static const int	valid[] = { 1000, 1001, 1002, 1003, 1007, 1008,
	    1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4001, 4999 };
	static const int	invalid[] = { -1, 0, 999, 1004, 1005, 1006,
	    1015, 1016, 1100, 2000, 2999, 5000, 65535 };
	size_t			i;
	int			c, n;

	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		CHECK(ws_close_code_valid(valid[i]), "close %d valid",
		    valid[i]);
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		CHECK(!ws_close_code_valid(invalid[i]), "close %d invalid",
		    invalid[i]);
	for (n = 0, c = 0; c <= 65535; c++)
		n += ws_close_code_valid(c);
	CHECK(n == 4 + 8 + 2000, "2012 valid codes in 0..65535");
}

int
main(void)
{
	test_rfc_examples();
	test_lengths();
	test_malformed();
	test_truncation();
	test_roundtrip();
	test_unmask();
	test_opcodes();
	test_accept();
	test_key();
	test_close_codes();
	return (unit_done());
}
