/*
 * Proof of work (PROTOCOL.md section 3, "pow"): the challenge the front
 * sends in "hello", the nonce format, the check, and a solver for the
 * client and the tests.  A solution is a nonce S such that SHA-256 of the
 * challenge's ASCII bytes followed by S's has at least B leading zero bits,
 * counted from the most significant bit of the first byte.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common.h"

#define POW_DIGEST_LEN	32
#define POW_BITS_MAX	(8 * POW_DIGEST_LEN)
#define POW_SOLVE_LEN	11	/* base 62 digits of a uint64_t */

static size_t	pow_nonce_fmt(uint64_t, char *);

/*
 * OpenSSL sets itself up on first use, and at exit, with system calls a
 * sandbox may not allow: a process about to be sandboxed does it now and
 * goes without the exit handler.
 */
void
pow_init(void)
{
	char	 challenge[POW_CHALLENGE_LEN + 1];

	if (OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL) != 1)
		fatalx("%s: OPENSSL_init_crypto", __func__);
	pow_challenge(challenge);
	(void)pow_check(challenge, "0", 1, 0);
	(void)pow_check(challenge, "0", 1, 1);
}

void
pow_challenge(char *out)
{
	static const char	hex[] = "0123456789abcdef";
	uint8_t			rnd[POW_CHALLENGE_LEN / 2];
	size_t			i;

	arc4random_buf(rnd, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++) {
		out[2 * i] = hex[rnd[i] >> 4];
		out[2 * i + 1] = hex[rnd[i] & 0xf];
	}
	out[POW_CHALLENGE_LEN] = '\0';
}

/* 1-32 of [0-9A-Za-z]; spelled out so the locale cannot widen it. */
int
pow_nonce_valid(const char *s, size_t len)
{
	size_t	i;
	char	c;

	if (len < 1 || len > POW_NONCE_MAX)
		return (0);
	for (i = 0; i < len; i++) {
		c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z')))
			return (0);
	}
	return (1);
}

int
pow_leading_zeros(const uint8_t *md, size_t len)
{
	size_t	i;
	int	n;
	uint8_t	b;

	for (i = n = 0; i < len; i++) {
		if (md[i] != 0)
			break;
		n += 8;
	}
	if (i < len)
		for (b = md[i]; (b & 0x80) == 0; b <<= 1)
			n++;
	return (n);
}

/*
 * The challenge is a NUL-terminated string of at most POW_CHALLENGE_LEN
 * characters; a malformed nonce or bits outside 0..256 never pass.
 */
int
pow_check(const char *challenge, const char *nonce, size_t noncelen,
    int bits)
{
	EVP_MD_CTX	*ctx;
	uint8_t		 md[POW_DIGEST_LEN];
	unsigned int	 mdlen;
	size_t		 clen;
	int		 ok;

	clen = strnlen(challenge, POW_CHALLENGE_LEN + 1);
	if (clen > POW_CHALLENGE_LEN || bits < 0 || bits > POW_BITS_MAX ||
	    !pow_nonce_valid(nonce, noncelen))
		return (0);
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return (0);
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, challenge, clen) == 1 &&
	    EVP_DigestUpdate(ctx, nonce, noncelen) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 &&
	    mdlen == POW_DIGEST_LEN;
	EVP_MD_CTX_free(ctx);
	return (ok && pow_leading_zeros(md, sizeof(md)) >= bits);
}

/* Base 62, least significant digit first. */
static size_t
pow_nonce_fmt(uint64_t v, char *out)
{
	static const char	digits[] =
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	size_t			n = 0;

	do {
		out[n++] = digits[v % 62];
		v /= 62;
	} while (v != 0);
	return (n);
}

/*
 * Count up from a random start so that clients sharing a challenge (they
 * never should) do not send the same nonce.  out gets the nonce and a NUL
 * and must have room for POW_SOLVE_LEN + 1 bytes (POW_NONCE_MAX + 1 does).
 * The search only ends with a solution: a client refuses a "bits" it
 * cannot afford before it calls this.  The challenge is hashed once and
 * its state copied for each try, which is several times faster on
 * OpenSSL 3 than starting each digest afresh.
 */
int
pow_solve(const char *challenge, int bits, char *out, size_t outlen)
{
	EVP_MD		*sha;
	EVP_MD_CTX	*base = NULL, *ctx = NULL;
	uint8_t		 md[POW_DIGEST_LEN];
	char		 nonce[POW_SOLVE_LEN];
	uint64_t	 v;
	size_t		 clen, n;
	int		 r = -1;

	clen = strnlen(challenge, POW_CHALLENGE_LEN + 1);
	if (clen > POW_CHALLENGE_LEN || bits < 0 || bits > POW_BITS_MAX ||
	    outlen < POW_SOLVE_LEN + 1)
		return (-1);
	if ((sha = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		return (-1);
	if ((base = EVP_MD_CTX_new()) == NULL ||
	    (ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex2(base, sha, NULL) != 1 ||
	    EVP_DigestUpdate(base, challenge, clen) != 1)
		goto done;
	arc4random_buf(&v, sizeof(v));
	for (;; v++) {
		n = pow_nonce_fmt(v, nonce);
		if (EVP_MD_CTX_copy_ex(ctx, base) != 1 ||
		    EVP_DigestUpdate(ctx, nonce, n) != 1 ||
		    EVP_DigestFinal_ex(ctx, md, NULL) != 1)
			break;
		if (pow_leading_zeros(md, sizeof(md)) >= bits) {
			memcpy(out, nonce, n);
			out[n] = '\0';
			r = (int)n;
			break;
		}
	}
 done:
	EVP_MD_CTX_free(ctx);
	EVP_MD_CTX_free(base);
	EVP_MD_free(sha);
	return (r);
}
