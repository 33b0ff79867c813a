/*
 * Client identity (PROTOCOL.md section 2): the key per-IP limits and bans
 * use.  An IPv4-mapped IPv6 address is its IPv4 address; other IPv6
 * addresses key on their /64, since one host commonly holds a whole /64.
 * Unused bytes of a key are always zero, so keys compare and hash as
 * plain bytes.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

#define ADDR_V6_PREFIX	8		/* bytes of a /64 */

static int	addr_zone_valid(const char *, size_t);
static void	addr_set4(struct ipkey *, const struct in_addr *);
static void	addr_set6(struct ipkey *, const struct in6_addr *);
static uint64_t	addr_le64(const uint8_t *, size_t);
static uint64_t	addr_siphash(const uint8_t *, const uint8_t *, size_t);

/*
 * inet_pton() does the strict part: dotted quads without leading zeros,
 * no shorthand, no brackets or ports.  An IPv6 zone ("%eth0") names the
 * link the address was seen on and says nothing about the client, so it is
 * dropped once checked.
 */
int
addr_parse(const char *s, size_t len, struct ipkey *ik)
{
	char		 buf[INET6_ADDRSTRLEN];
	const char	*pct;
	struct in_addr	 a4;
	struct in6_addr	 a6;

	if (len == 0)
		return (-1);
	if ((pct = memchr(s, '%', len)) != NULL) {
		if (!addr_zone_valid(pct + 1, len - (size_t)(pct - s) - 1))
			return (-1);
		len = (size_t)(pct - s);
	}
	if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len) != NULL)
		return (-1);
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (pct == NULL && inet_pton(AF_INET, buf, &a4) == 1) {
		addr_set4(ik, &a4);
		return (0);
	}
	if (inet_pton(AF_INET6, buf, &a6) == 1) {
		addr_set6(ik, &a6);
		return (0);
	}
	return (-1);
}

/* Anything but IPv4 and IPv6 gets the all-zero key, family 0. */
void
addr_from_sockaddr(const struct sockaddr *sa, struct ipkey *ik)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)sa;
		addr_set4(ik, &sin->sin_addr);
		break;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		addr_set6(ik, &sin6->sin6_addr);
		break;
	default:
		memset(ik, 0, sizeof(*ik));
		break;
	}
}

/*
 * The N-th X-Forwarded-For entry from the right: the rightmost N - 1 were
 * added by our own proxies, the N-th by the first of them, which saw the
 * client.  Anything to its left the client could have written.  Every
 * doubt falls back to the TCP peer.
 */
void
addr_client(const struct ipkey *peer, const char *xff, size_t xfflen,
    int has_xff, uint32_t hops, struct ipkey *out)
{
	struct ipkey	 ik;
	const char	*start, *end;
	uint32_t	 n;

	ik = *peer;
	if (hops == 0 || !has_xff) {
		*out = ik;
		return;
	}
	end = xff + xfflen;
	for (n = 1;; n++) {
		for (start = end; start > xff && start[-1] != ','; start--)
			;
		if (n == hops)
			break;
		if (start == xff) {
			*out = ik;	/* fewer entries than hops */
			return;
		}
		end = start - 1;
	}
	while (start < end && (*start == ' ' || *start == '\t'))
		start++;
	while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (addr_parse(start, (size_t)(end - start), &ik) == -1)
		ik = *peer;
	*out = ik;
}

int
addr_equal(const struct ipkey *a, const struct ipkey *b)
{
	return (a->ik_family == b->ik_family &&
	    memcmp(a->ik_addr, b->ik_addr, sizeof(a->ik_addr)) == 0);
}

/*
 * Keyed with a per-process random key, so a client that picks its
 * addresses (any IPv6 /48 holder can) cannot aim them all at one bucket.
 */
uint32_t
addr_hash(const struct ipkey *ik)
{
	static uint8_t	 key[16];
	static int	 keyed;
	uint8_t		 m[1 + sizeof(ik->ik_addr)];
	uint64_t	 h;

	if (!keyed) {
		arc4random_buf(key, sizeof(key));
		keyed = 1;
	}
	m[0] = ik->ik_family;
	memcpy(m + 1, ik->ik_addr, sizeof(ik->ik_addr));
	h = addr_siphash(key, m, sizeof(m));
	return ((uint32_t)(h ^ (h >> 32)));
}

/*
 * The owner of an address among n fronts (OWNER_OF, D43): the same answer
 * in every front and in the kernel's steering program.
 */
uint32_t
addr_owner(const struct ipkey *ik, uint32_t mul, uint32_t n)
{
	const uint8_t	*a = ik->ik_addr;
	uint32_t	 fold;

	fold = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 |
	    (uint32_t)a[2] << 8 | a[3];
	if (ik->ik_family == AF_INET6)
		fold ^= (uint32_t)a[4] << 24 | (uint32_t)a[5] << 16 |
		    (uint32_t)a[6] << 8 | a[7];
	return (OWNER_OF(fold, mul, n));
}

/* 1-15 characters, as an interface name or index can be. */
static int
addr_zone_valid(const char *z, size_t len)
{
	size_t	 i;
	char	 c;

	if (len == 0 || len >= IF_NAMESIZE)
		return (0);
	for (i = 0; i < len; i++) {
		c = z[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || c == '.' || c == '_' ||
		    c == '-'))
			return (0);
	}
	return (1);
}

static void
addr_set4(struct ipkey *ik, const struct in_addr *a)
{
	memset(ik, 0, sizeof(*ik));
	ik->ik_family = AF_INET;
	memcpy(ik->ik_addr, &a->s_addr, sizeof(a->s_addr));
}

static void
addr_set6(struct ipkey *ik, const struct in6_addr *a)
{
	struct in_addr	 a4;

	if (IN6_IS_ADDR_V4MAPPED(a)) {
		memcpy(&a4.s_addr, &a->s6_addr[12], sizeof(a4.s_addr));
		addr_set4(ik, &a4);
		return;
	}
	memset(ik, 0, sizeof(*ik));
	ik->ik_family = AF_INET6;
	memcpy(ik->ik_addr, a->s6_addr, ADDR_V6_PREFIX);
}

#define ROTL64(x, b)	(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND(v0, v1, v2, v3) do {					\
	v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32);	\
	v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;			\
	v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;			\
	v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32);	\
} while (0)

static uint64_t
addr_le64(const uint8_t *p, size_t n)
{
	uint64_t	 w = 0;

	while (n-- > 0)
		w = (w << 8) | p[n];
	return (w);
}

/* SipHash-2-4 (Aumasson and Bernstein, 2012). */
static uint64_t
addr_siphash(const uint8_t *key, const uint8_t *m, size_t len)
{
	uint64_t	 k0, k1, v0, v1, v2, v3, w;
	size_t		 i;

	k0 = addr_le64(key, 8);
	k1 = addr_le64(key + 8, 8);
	v0 = k0 ^ 0x736f6d6570736575ULL;
	v1 = k1 ^ 0x646f72616e646f6dULL;
	v2 = k0 ^ 0x6c7967656e657261ULL;
	v3 = k1 ^ 0x7465646279746573ULL;
	for (i = 0; i + 8 <= len; i += 8) {
		w = addr_le64(m + i, 8);
		v3 ^= w;
		SIPROUND(v0, v1, v2, v3);
		SIPROUND(v0, v1, v2, v3);
		v0 ^= w;
	}
	w = addr_le64(m + i, len - i) | ((uint64_t)len << 56);
	v3 ^= w;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	v0 ^= w;
	v2 ^= 0xff;
	for (i = 0; i < 4; i++)
		SIPROUND(v0, v1, v2, v3);
	return (v0 ^ v1 ^ v2 ^ v3);
}
