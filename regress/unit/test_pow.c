/*
 * pow.c: the challenge format, the nonce format, leading-zero counting,
 * pow_check against digests computed with sha256sum(1), the edges 0, 1,
 * 8, 9 and 256 bits, and pow_solve's answers passing pow_check.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "unit.h"

/*
 * printf %s "0123456789abcdef0123456789abcdef$nonce" | sha256sum
 * gives these digests; zeros is the count of leading zero bits.
 */
#define CHAL	"0123456789abcdef0123456789abcdef"
struct pow_vec {
	const char	*pv_nonce;
	int		 pv_zeros;
	const char	*pv_digest;	/* first bytes, for the record */
};
static const struct pow_vec	vecs[] = {
	{ "n1", 0, "88fe2c76" },
	{ "n0", 1, "5e52f005" },
	{ "n26", 7, "01d372e9" },
	{ "n348", 8, "00e97f71" },
	{ "n7128", 9, "006c2b8c" },
	{ "n1356", 12, "000befd2" },
	{ "n334843", 16, "0000cd87" },
	{ "n80864", 19, "0000187c" },
};

static void	test_challenge(void);
static void	test_nonce_valid(void);
static void	test_leading_zeros(void);
static void	test_vectors(void);
static void	test_solve(void);

static void
test_challenge(void)
{
	char	a[POW_CHALLENGE_LEN + 1], b[POW_CHALLENGE_LEN + 1];
	size_t	i;
	int	hex = 1;

	memset(a, 'x', sizeof(a));
	pow_challenge(a);
	pow_challenge(b);
	for (i = 0; i < POW_CHALLENGE_LEN; i++)
		if (!((a[i] >= '0' && a[i] <= '9') ||
		    (a[i] >= 'a' && a[i] <= 'f')))
			hex = 0;
	CHECK(hex && a[POW_CHALLENGE_LEN] == '\0' &&
	    strlen(a) == POW_CHALLENGE_LEN,
	    "challenge is 32 lowercase hex and a NUL");
	CHECK(strcmp(a, b) != 0, "two challenges differ");
}

static void
test_nonce_valid(void)
{
	char	big[POW_NONCE_MAX + 2];

	CHECK(pow_nonce_valid("a", 1), "nonce of 1 char");
	CHECK(pow_nonce_valid("09AZaz", 6), "nonce at range edges");
	memset(big, 'z', sizeof(big));
	CHECK(pow_nonce_valid(big, POW_NONCE_MAX), "nonce of 32 chars");
	CHECK(!pow_nonce_valid(big, POW_NONCE_MAX + 1),
	    "nonce of 33 chars refused");
	CHECK(!pow_nonce_valid("", 0), "empty nonce refused");
	CHECK(!pow_nonce_valid("a-b", 3), "nonce with - refused");
	CHECK(!pow_nonce_valid("a b", 3), "nonce with space refused");
	CHECK(!pow_nonce_valid("ab/", 3), "nonce with / refused");
	CHECK(!pow_nonce_valid("a:", 2), "nonce with : refused");
	CHECK(!pow_nonce_valid("@Z[", 3), "nonce with @ [ refused");
	CHECK(!pow_nonce_valid("`z{", 3), "nonce with ` { refused");
	CHECK(!pow_nonce_valid("a\0b", 3), "nonce with NUL refused");
	CHECK(!pow_nonce_valid("\xc3\xa9", 2), "non-ASCII nonce refused");
}

static void
test_leading_zeros(void)
{
	uint8_t	md[32];

	memset(md, 0, sizeof(md));
	CHECK(pow_leading_zeros(md, sizeof(md)) == 256, "all zero: 256");
	md[31] = 1;
	CHECK(pow_leading_zeros(md, sizeof(md)) == 255, "last bit: 255");
	md[0] = 0x80;
	CHECK(pow_leading_zeros(md, sizeof(md)) == 0, "top bit: 0");
	md[0] = 0x01;
	CHECK(pow_leading_zeros(md, sizeof(md)) == 7, "0x01: 7");
	md[0] = 0;
	md[1] = 0x40;
	CHECK(pow_leading_zeros(md, sizeof(md)) == 9, "00 40: 9");
	CHECK(pow_leading_zeros(md, 0) == 0, "no bytes: 0");
}

static void
test_vectors(void)
{
	const struct pow_vec	*v;
	size_t			 i, n;

	for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		v = &vecs[i];
		n = strlen(v->pv_nonce);
		CHECK(pow_check(CHAL, v->pv_nonce, n, v->pv_zeros),
		    "%s (%s...) has %d zero bits", v->pv_nonce, v->pv_digest,
		    v->pv_zeros);
		CHECK(!pow_check(CHAL, v->pv_nonce, n, v->pv_zeros + 1),
		    "%s has not %d zero bits", v->pv_nonce, v->pv_zeros + 1);
		CHECK(pow_check(CHAL, v->pv_nonce, n, 0),
		    "%s passes 0 bits", v->pv_nonce);
	}
	CHECK(pow_check(CHAL, "n348", 4, 1) && pow_check(CHAL, "n348", 4, 8) &&
	    !pow_check(CHAL, "n348", 4, 9), "8-bit vector at 1, 8, 9");
	CHECK(pow_check(CHAL, "n7128", 5, 9) &&
	    !pow_check(CHAL, "n7128", 5, 10), "9-bit vector at 9, 10");
	CHECK(!pow_check(CHAL, "n1", 2, 1), "0-bit vector fails 1");
	CHECK(!pow_check(CHAL, "n80864", 6, 256), "256 bits not met");
	CHECK(!pow_check(CHAL, "n0", 2, 257) && !pow_check(CHAL, "n0", 2, -1),
	    "bits outside 0..256 never pass");
	CHECK(!pow_check(CHAL, "n-1", 3, 0) && !pow_check(CHAL, "", 0, 0),
	    "malformed nonce never passes, even at 0 bits");
	CHECK(!pow_check(CHAL, "n348x", 4 + 1, 8),
	    "the length given is the nonce");
	CHECK(pow_check(CHAL, "n348x", 4, 8), "bytes past the length unused");
	CHECK(!pow_check(CHAL "0", "n1", 2, 0),
	    "over-long challenge refused");
	CHECK(!pow_check("0123456789abcdef0123456789abcdeF", "n348", 4, 8),
	    "challenge bytes are hashed as given");
}

static void
test_solve(void)
{
	char	chal[POW_CHALLENGE_LEN + 1], nonce[POW_NONCE_MAX + 1];
	int	bits[] = { 0, 1, 8, 9, 16 };
	size_t	i;
	int	n;

	pow_challenge(chal);
	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		n = pow_solve(chal, bits[i], nonce, sizeof(nonce));
		CHECK(n > 0 && (size_t)n == strlen(nonce) &&
		    pow_nonce_valid(nonce, n) &&
		    pow_check(chal, nonce, n, bits[i]),
		    "solve %d bits: \"%s\" passes", bits[i],
		    n > 0 ? nonce : "");
	}
	n = pow_solve(CHAL, 12, nonce, sizeof(nonce));
	CHECK(n > 0 && pow_check(CHAL, nonce, n, 12), "solve the fixed "
	    "challenge at 12 bits");
	CHECK(pow_solve(chal, 0, nonce, 11) == -1,
	    "solve with room for less than 11 chars and a NUL: -1");
	CHECK(pow_solve(chal, 0, nonce, 12) > 0, "solve with room for 12");
	CHECK(pow_solve(chal, 257, nonce, sizeof(nonce)) == -1 &&
	    pow_solve(chal, -1, nonce, sizeof(nonce)) == -1,
	    "solve with bits outside 0..256: -1");
}

int
main(void)
{
	test_challenge();
	test_nonce_valid();
	test_leading_zeros();
	test_vectors();
	test_solve();
	return (unit_done());
}
