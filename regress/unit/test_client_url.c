/*
 * client_url.c: ws:// and wss:// URLs (scheme, host forms, ports, path and
 * query, what is refused) and the loopback checks that keep plain ws://
 * on this machine.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "client.h"
#include "unit.h"

struct url_case {
	const char	*uc_in;
	int		 uc_tls;
	const char	*uc_host;
	const char	*uc_port;
	const char	*uc_path;
	const char	*uc_hostport;
};

static const struct url_case good[] = {
	{ "ws://127.0.0.1:8787", 0, "127.0.0.1", "8787", "/", "127.0.0.1:8787" },
	{ "ws://localhost/", 0, "localhost", "80", "/", "localhost" },
	{ "WSS://Chat.Example.org/x/y?z=1#frag", 1, "Chat.Example.org", "443",
	    "/x/y?z=1", "Chat.Example.org" },
	{ "wss://[::1]:9443/", 1, "::1", "9443", "/", "[::1]:9443" },
	{ "ws://h?q", 0, "h", "80", "/?q", "h" },
	{ "wss://a-b_c.example:65535", 1, "a-b_c.example", "65535", "/",
	    "a-b_c.example:65535" },
};

static const char *const bad[] = {
	"http://example.org/", "ws:/x", "ws://", "ws://:80/", "ws://h:0/",
	"ws://h:65536/", "ws://h:8x/", "ws://user:pw@h/", "ws://[::1/",
	"ws://[nothex]/", "ws://h h/", "ws://h/a b", "ws://h/\x7f",
	"ws://[::1]x/", "ws://h:/",
};

static void
test_good(void)
{
	struct url	 u;
	const char	*err;
	size_t		 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const struct url_case *c = &good[i];
		int r = url_parse(c->uc_in, &u, &err);

		CHECK(r == 0 && u.u_tls == c->uc_tls &&
		    strcmp(u.u_host, c->uc_host) == 0 &&
		    strcmp(u.u_port, c->uc_port) == 0 &&
		    strcmp(u.u_path, c->uc_path) == 0 &&
		    strcmp(u.u_hostport, c->uc_hostport) == 0,
		    "url_parse accepts %s", c->uc_in);
	}
}

static void
test_bad(void)
{
	struct url	 u;
	const char	*err = NULL;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(url_parse(bad[i], &u, &err) == -1 && err != NULL,
		    "url_parse refuses bad URL %zu", i);
}

static void
test_loopback(void)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;

	CHECK(url_host_loopback("localhost"), "localhost is loopback");
	CHECK(url_host_loopback("127.1.2.3"), "127/8 is loopback");
	CHECK(url_host_loopback("::1"), "::1 is loopback");
	CHECK(!url_host_loopback("example.org"), "a name is not");
	CHECK(!url_host_loopback("10.0.0.1"), "10.0.0.1 is not");
	CHECK(!url_host_loopback("::2"), "::2 is not");

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	CHECK(url_addr_loopback((struct sockaddr *)&sin),
	    "resolved 127.0.0.1 is loopback");
	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	CHECK(!url_addr_loopback((struct sockaddr *)&sin),
	    "resolved 192.0.2.1 is not");
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6.sin6_addr);
	CHECK(url_addr_loopback((struct sockaddr *)&sin6),
	    "resolved ::ffff:127.0.0.1 is loopback");
	inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
	CHECK(!url_addr_loopback((struct sockaddr *)&sin6),
	    "resolved 2001:db8::1 is not");
}

int
main(void)
{
	test_good();
	test_bad();
	test_loopback();
	return (unit_done());
}
