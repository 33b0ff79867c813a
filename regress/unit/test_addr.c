/*
 * relay_addr.c: address parsing, /64 keying, X-Forwarded-For with trusted
 * hops (PROTOCOL.md section 2), key equality and hashing.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

#include "relay.h"
#include "unit.h"

static void	test_parse(void);
static void	test_sockaddr(void);
static void	test_client(void);
static void	test_hash(void);
static int	parses(const char *);
static int	is4(const struct ipkey *, const char *);
static int	is6(const struct ipkey *, const char *);
static int	client_is(const char *, uint32_t, const char *);

static struct ipkey	ik;

static int
parses(const char *s)
{
	return (addr_parse(s, strlen(s), &ik) == 0);
}

/* Whether k is the IPv4 key of s, with its unused bytes zero. */
static int
is4(const struct ipkey *k, const char *s)
{
	struct ipkey	 want;

	memset(&want, 0, sizeof(want));
	want.ik_family = AF_INET;
	if (inet_pton(AF_INET, s, want.ik_addr) != 1)
		return (0);
	return (memcmp(k, &want, sizeof(want)) == 0);
}

/* Whether k is the /64 key of the IPv6 address s. */
static int
is6(const struct ipkey *k, const char *s)
{
	struct ipkey	 want;

	memset(&want, 0, sizeof(want));
	want.ik_family = AF_INET6;
	if (inet_pton(AF_INET6, s, want.ik_addr) != 1)
		return (0);
	memset(want.ik_addr + 8, 0, 8);
	return (memcmp(k, &want, sizeof(want)) == 0);
}

static void
test_parse(void)
{
	static const char *const bad[] = {
		"", " ", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.04",
		"1.2.3.256", "0x1.2.3.4", "1.2.3.4:80", "1.2.3.4 ", " 1.2.3.4",
		"[::1]", "[::1]:80", "::1 ", "1::2::3", "1:2:3:4:5:6:7:8:9",
		"00001::1", "::g", "localhost", "1.2.3.4%eth0", "::1%",
		"::1%eth 0", "::1%a/b", "::1%0123456789abcdef", "%eth0",
		"1.2.3.4/32", "::1/128", "unknown", "-"
	};
	size_t	 i;

	CHECK(parses("1.2.3.4") && is4(&ik, "1.2.3.4"), "IPv4");
	CHECK(parses("0.0.0.0") && is4(&ik, "0.0.0.0"), "IPv4 zeros");
	CHECK(parses("255.255.255.255") && is4(&ik, "255.255.255.255"),
	    "IPv4 ones");
	CHECK(parses("::1") && is6(&ik, "::1"), "IPv6 loopback");
	CHECK(parses("2001:db8:1:2:3:4:5:6") && is6(&ik, "2001:db8:1:2::"),
	    "IPv6 keyed by /64");
	CHECK(parses("2001:DB8:1:2::ffff") && is6(&ik, "2001:db8:1:2::"),
	    "IPv6 uppercase");
	CHECK(parses("fe80::1%eth0") && is6(&ik, "fe80::"),
	    "zone accepted and ignored");
	CHECK(parses("fe80::1%3") && is6(&ik, "fe80::"), "numeric zone");
	CHECK(parses("::ffff:1.2.3.4") && is4(&ik, "1.2.3.4"),
	    "v4-mapped is IPv4");
	CHECK(parses("::FFFF:0102:0304") && is4(&ik, "1.2.3.4"),
	    "v4-mapped in hex is IPv4");
	CHECK(parses("::ffff:1.2.3.4%eth0") && is4(&ik, "1.2.3.4"),
	    "v4-mapped with a zone");
	CHECK(parses("::1.2.3.4") && ik.ik_family == AF_INET6,
	    "v4-compatible stays IPv6");
	CHECK(parses("64:ff9b::1.2.3.4") && ik.ik_family == AF_INET6,
	    "NAT64 stays IPv6");
	CHECK(parses("::1:80") && is6(&ik, "::"),
	    "::1:80 is an address, not a port");
	CHECK(parses("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255") &&
	    is6(&ik, "ffff:ffff:ffff:ffff::"), "longest text form");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!parses(bad[i]), "refuses \"%s\"", bad[i]);
	CHECK(addr_parse("1.2.3.4\0", 8, &ik) == -1, "trailing NUL");
	CHECK(addr_parse("1.2.3.4x", 7, &ik) == 0 && is4(&ik, "1.2.3.4"),
	    "length bounds the text");
	CHECK(addr_parse(NULL, 0, &ik) == -1, "nothing");
}

static void
test_sockaddr(void)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	struct sockaddr		 sa;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(1234);
	inet_pton(AF_INET, "10.1.2.3", &sin.sin_addr);
	addr_from_sockaddr((struct sockaddr *)&sin, &ik);
	CHECK(is4(&ik, "10.1.2.3"), "sockaddr_in");

	memset(&sin6, 0xff, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:aa:bb:cc:dd:ee:ff", &sin6.sin6_addr);
	addr_from_sockaddr((struct sockaddr *)&sin6, &ik);
	CHECK(is6(&ik, "2001:db8:aa:bb::"), "sockaddr_in6 keyed by /64");

	inet_pton(AF_INET6, "::ffff:10.9.8.7", &sin6.sin6_addr);
	addr_from_sockaddr((struct sockaddr *)&sin6, &ik);
	CHECK(is4(&ik, "10.9.8.7"), "v4-mapped sockaddr_in6 is IPv4");

	memset(&sa, 0xff, sizeof(sa));
	sa.sa_family = AF_UNIX;
	addr_from_sockaddr(&sa, &ik);
	CHECK(ik.ik_family == 0 && ik.ik_addr[0] == 0 && ik.ik_addr[15] == 0,
	    "other families get the zero key");
}

/* The client key for XFF value xff (NULL: no header) and hops. */
static int
client_is(const char *xff, uint32_t hops, const char *want)
{
	struct ipkey	 peer, out, w;

	if (addr_parse("192.0.2.1", 9, &peer) == -1 ||
	    addr_parse(want, strlen(want), &w) == -1)
		return (0);
	memset(&out, 0xee, sizeof(out));
	addr_client(&peer, xff == NULL ? "" : xff,
	    xff == NULL ? 0 : strlen(xff), xff != NULL, hops, &out);
	return (addr_equal(&out, &w) && memcmp(&out, &w, sizeof(w)) == 0);
}

static void
test_client(void)
{
	struct ipkey	 k;

	CHECK(client_is("1.1.1.1", 0, "192.0.2.1"), "hops 0: the peer");
	CHECK(client_is(NULL, 1, "192.0.2.1"), "no XFF: the peer");
	CHECK(client_is("1.1.1.1", 1, "1.1.1.1"), "one entry, one hop");
	CHECK(client_is("6.6.6.6, 1.1.1.1", 1, "1.1.1.1"),
	    "spoofed leftmost ignored");
	CHECK(client_is("6.6.6.6,1.1.1.1,10.0.0.1", 2, "1.1.1.1"),
	    "second from the right for two hops");
	CHECK(client_is("1.1.1.1, 10.0.0.1", 3, "192.0.2.1"),
	    "fewer entries than hops: the peer");
	CHECK(client_is("1.1.1.1,10.0.0.1", 2, "1.1.1.1"),
	    "exactly as many entries as hops");
	CHECK(client_is("", 1, "192.0.2.1"), "empty XFF: the peer");
	CHECK(client_is("1.1.1.1,", 1, "192.0.2.1"),
	    "empty rightmost entry: the peer");
	CHECK(client_is("1.1.1.1,,", 2, "192.0.2.1"),
	    "empty entries count as entries");
	CHECK(client_is(",1.1.1.1", 1, "1.1.1.1"),
	    "an empty entry to the left does not matter");
	CHECK(client_is("1.1.1.1 , \t", 2, "1.1.1.1"),
	    "blank entry counts");
	CHECK(client_is(" \t1.1.1.1\t ", 1, "1.1.1.1"), "entries trimmed");
	CHECK(client_is("1.1.1.1:443", 1, "192.0.2.1"),
	    "entry with a port: the peer");
	CHECK(client_is("[2001:db8::1]", 1, "192.0.2.1"),
	    "entry with brackets: the peer");
	CHECK(client_is("[2001:db8::1]:443", 1, "192.0.2.1"),
	    "entry with brackets and port: the peer");
	CHECK(client_is("unknown", 1, "192.0.2.1"), "garbage: the peer");
	CHECK(client_is("1.1.1.1 2.2.2.2", 1, "192.0.2.1"),
	    "space inside an entry: the peer");
	CHECK(client_is("2001:db8:1:2:aaaa::1", 1, "2001:db8:1:2::"),
	    "IPv6 from XFF keyed by /64");
	CHECK(client_is("2001:db8:1:2:aaaa::1", 1, "2001:db8:1:2:bbbb::9"),
	    "same /64, same key");
	CHECK(!client_is("2001:db8:1:3::1", 1, "2001:db8:1:2::"),
	    "another /64, another key");
	CHECK(client_is("::ffff:1.1.1.1", 1, "1.1.1.1"), "v4-mapped XFF");
	CHECK(client_is("fe80::1%eth0", 1, "fe80::"), "zone in XFF");
	CHECK(client_is("1.1.1.1", 4000000000U, "192.0.2.1"),
	    "absurd hop count: the peer");

	addr_parse("192.0.2.1", 9, &k);
	addr_client(&k, "1.1.1.1", 7, 1, 1, &k);
	CHECK(is4(&k, "1.1.1.1"), "out may be the peer");
	addr_client(&k, "x", 1, 1, 1, &k);
	CHECK(is4(&k, "1.1.1.1"), "out may be the peer, fallback");
}

static void
test_hash(void)
{
	struct ipkey	 a, b;
	uint32_t	 buckets[64], h;
	char		 s[64];
	size_t		 i, lo, hi;

	addr_parse("10.0.0.1", 8, &a);
	addr_parse("::ffff:10.0.0.1", 15, &b);
	CHECK(addr_equal(&a, &b) && addr_hash(&a) == addr_hash(&b),
	    "v4 and v4-mapped: equal, same hash");
	addr_parse("2001:db8::1", 11, &a);
	addr_parse("2001:db8::ffff:2", 16, &b);
	CHECK(addr_equal(&a, &b) && addr_hash(&a) == addr_hash(&b),
	    "same /64: equal, same hash");
	addr_parse("2001:db8:0:1::1", 15, &b);
	CHECK(!addr_equal(&a, &b), "another /64: not equal");
	addr_parse("0.0.0.0", 7, &a);
	addr_parse("::", 2, &b);
	CHECK(!addr_equal(&a, &b) && addr_hash(&a) != addr_hash(&b),
	    "family counts");
	CHECK(addr_hash(&a) == addr_hash(&a), "stable");

	/* A sequential /24 (an attacker's) still spreads over the buckets. */
	memset(buckets, 0, sizeof(buckets));
	for (i = 0; i < 64 * 64; i++) {
		snprintf(s, sizeof(s), "10.%zu.%zu.%zu", i >> 16,
		    (i >> 8) & 0xff, i & 0xff);
		addr_parse(s, strlen(s), &a);
		buckets[addr_hash(&a) % 64]++;
	}
	for (i = 0, lo = 64 * 64, hi = 0; i < 64; i++) {
		lo = buckets[i] < lo ? buckets[i] : lo;
		hi = buckets[i] > hi ? buckets[i] : hi;
	}
	CHECK(lo > 20 && hi < 120, "spread: %zu..%zu per bucket of 64", lo,
	    hi);
	for (i = 0, h = 0; i < 64 * 64; i++) {
		snprintf(s, sizeof(s), "2001:db8:%zx::", i);
		addr_parse(s, strlen(s), &a);
		h |= 1U << (addr_hash(&a) % 32);
	}
	CHECK(h == 0xffffffff, "IPv6 /64s reach every bucket of 32");
}

int
main(void)
{
	test_parse();
	test_sockaddr();
	test_client();
	test_hash();
	return (unit_done());
}
