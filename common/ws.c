/*
 * RFC 6455 pieces that are pure functions, shared by the front and the
 * client: the frame header parser and builder, masking, the handshake's
 * key check and accept value, and the close codes a peer may send.  What a
 * frame means (reserved bits, opcodes, sizes, masking direction) is the
 * caller's to judge from the parsed header.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "common.h"

#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_SHA1_LEN	20

static int	ws_b64_char(char);

/*
 * Lengths must use the shortest form (RFC 6455 5.2: "the minimal number
 * of bytes MUST be used"), and a 64-bit length must have its top bit
 * clear; both are reported as soon as the length bytes are in.
 */
int
ws_frame_parse(const uint8_t *p, size_t len, struct ws_frame *wf)
{
	size_t		hdrlen, lenbytes, i;
	uint64_t	plen;

	if (len < 2)
		return (0);
	plen = p[1] & 0x7f;
	lenbytes = plen == 126 ? 2 : plen == 127 ? 8 : 0;
	if (len < 2 + lenbytes)
		return (0);
	if (lenbytes != 0) {
		for (plen = 0, i = 0; i < lenbytes; i++)
			plen = (plen << 8) | p[2 + i];
		if (lenbytes == 2 && plen < 126)
			return (-1);
		if (lenbytes == 8 && (plen <= 0xffff || (plen >> 63) != 0))
			return (-1);
	}
	hdrlen = 2 + lenbytes + ((p[1] & 0x80) ? 4 : 0);
	if (len < hdrlen)
		return (0);
	memset(wf, 0, sizeof(*wf));
	wf->wf_fin = (p[0] & 0x80) != 0;
	wf->wf_rsv = (p[0] >> 4) & 0x7;
	wf->wf_opcode = p[0] & 0x0f;
	wf->wf_masked = (p[1] & 0x80) != 0;
	wf->wf_len = plen;
	if (wf->wf_masked)
		memcpy(wf->wf_mask, p + 2 + lenbytes, 4);
	wf->wf_hdrlen = hdrlen;
	return ((int)hdrlen);
}

/* offset: where buf starts within the payload, for partial payloads. */
void
ws_unmask(uint8_t *buf, size_t len, const uint8_t *mask, uint64_t offset)
{
	size_t	i;

	for (i = 0; i < len; i++)
		buf[i] ^= mask[(offset + i) & 3];
}

/*
 * Build a header into out (WS_HDR_MAX bytes) for a frame with the given
 * FIN bit, opcode and payload length; a server passes mask NULL, a client
 * its 4 mask bytes.  Returns the header length.
 */
size_t
ws_frame_header(uint8_t *out, int fin, int opcode, uint64_t len,
    const uint8_t *mask)
{
	size_t	n, i;
	uint8_t	mbit;

	mbit = mask != NULL ? 0x80 : 0;
	out[0] = (fin ? 0x80 : 0) | (opcode & 0x0f);
	if (len < 126) {
		out[1] = mbit | len;
		n = 2;
	} else if (len <= 0xffff) {
		out[1] = mbit | 126;
		out[2] = len >> 8;
		out[3] = len & 0xff;
		n = 4;
	} else {
		out[1] = mbit | 127;
		for (i = 0; i < 8; i++)
			out[2 + i] = (len >> (56 - 8 * i)) & 0xff;
		n = 10;
	}
	if (mask != NULL) {
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return (n);
}

int
ws_opcode_known(int op)
{
	switch (op) {
	case WS_OP_CONT:
	case WS_OP_TEXT:
	case WS_OP_BINARY:
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		return (1);
	}
	return (0);
}

/* out: WS_ACCEPT_LEN characters and a NUL.  Returns 0, or -1 on failure. */
int
ws_accept_key(const char *key, size_t keylen, char *out)
{
	EVP_MD_CTX	*ctx;
	uint8_t		 md[WS_SHA1_LEN];
	unsigned int	 mdlen;
	int		 ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return (-1);
	ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, key, keylen) == 1 &&
	    EVP_DigestUpdate(ctx, WS_GUID, sizeof(WS_GUID) - 1) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == WS_SHA1_LEN;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return (-1);
	if (EVP_EncodeBlock((unsigned char *)out, md, WS_SHA1_LEN) !=
	    WS_ACCEPT_LEN)
		return (-1);
	return (0);
}

static int
ws_b64_char(char c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/');
}

/*
 * Base64 of 16 bytes: 22 alphabet characters and "==".  Like the ws
 * library of the node peer and most servers, the 4 unused bits of the
 * last character are not required to be zero.
 */
int
ws_key_valid(const char *key, size_t len)
{
	size_t	i;

	if (len != WS_KEY_LEN)
		return (0);
	for (i = 0; i < WS_KEY_LEN - 2; i++)
		if (!ws_b64_char(key[i]))
			return (0);
	return (key[WS_KEY_LEN - 2] == '=' && key[WS_KEY_LEN - 1] == '=');
}

/*
 * Codes a peer may put in a close frame (RFC 6455 7.4): 1004 is
 * reserved, 1005, 1006 and 1015 must never be sent, 1012-1014 are
 * registered with IANA (restart, try again later, bad gateway) and the
 * node peer's ws accepts them too, the rest of 1000-2999 is unassigned,
 * 3000-4999 belong to libraries and applications.
 */
int
ws_close_code_valid(int code)
{
	if (code >= 1000 && code <= 1003)
		return (1);
	if (code >= 1007 && code <= 1014)
		return (1);
	return (code >= 3000 && code <= 4999);
}
