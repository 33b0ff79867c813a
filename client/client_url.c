/*
 * ws:// and wss:// URLs: scheme, host (a name, IPv4 or bracketed IPv6),
 * optional port, path and query.  No user information: a URL that carries
 * a password is refused rather than sent in the clear.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client.h"

static int	url_host_char(char);
static int	url_authority(const char *, size_t, struct url *,
		    const char **);

static int
url_host_char(char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_');
}

static int
url_authority(const char *a, size_t len, struct url *u, const char **err)
{
	const char	*port = NULL, *end = a + len;
	size_t		 hlen, i;
	unsigned long	 pn;
	struct in6_addr	 in6;

	if (len == 0) {
		*err = "no host in URL";
		return (-1);
	}
	if (memchr(a, '@', len) != NULL) {
		*err = "user information in URL is not supported";
		return (-1);
	}
	if (a[0] == '[') {
		const char *rb = memchr(a, ']', len);

		if (rb == NULL || (hlen = rb - a - 1) == 0 ||
		    hlen >= sizeof(u->u_host)) {
			*err = "bad IPv6 address in URL";
			return (-1);
		}
		memcpy(u->u_host, a + 1, hlen);
		u->u_host[hlen] = '\0';
		if (inet_pton(AF_INET6, u->u_host, &in6) != 1) {
			*err = "bad IPv6 address in URL";
			return (-1);
		}
		if (rb + 1 != end) {
			if (rb[1] != ':') {
				*err = "bad host in URL";
				return (-1);
			}
			port = rb + 2;
		}
	} else {
		const char *colon = memchr(a, ':', len);

		hlen = colon != NULL ? (size_t)(colon - a) : len;
		if (hlen == 0 || hlen >= sizeof(u->u_host)) {
			*err = "bad host in URL";
			return (-1);
		}
		for (i = 0; i < hlen; i++)
			if (!url_host_char(a[i])) {
				*err = "bad host in URL";
				return (-1);
			}
		memcpy(u->u_host, a, hlen);
		u->u_host[hlen] = '\0';
		if (colon != NULL)
			port = colon + 1;
	}

	if (port == NULL)
		strlcpy(u->u_port, u->u_tls ? "443" : "80", sizeof(u->u_port));
	else {
		hlen = end - port;
		if (hlen == 0 || hlen > 5 || strspn(port, "0123456789") < hlen) {
			*err = "bad port in URL";
			return (-1);
		}
		memcpy(u->u_port, port, hlen);
		u->u_port[hlen] = '\0';
		pn = strtoul(u->u_port, NULL, 10);
		if (pn == 0 || pn > 65535) {
			*err = "bad port in URL";
			return (-1);
		}
	}

	/* Host header: brackets for IPv6, the port only if not the default. */
	snprintf(u->u_hostport, sizeof(u->u_hostport), "%s%s%s%s%s",
	    strchr(u->u_host, ':') != NULL ? "[" : "", u->u_host,
	    strchr(u->u_host, ':') != NULL ? "]" : "",
	    port != NULL ? ":" : "", port != NULL ? u->u_port : "");
	return (0);
}

int
url_parse(const char *s, struct url *u, const char **err)
{
	const char	*a, *p;
	size_t		 len;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(s, "wss://", 6) == 0) {
		u->u_tls = 1;
		a = s + 6;
	} else if (strncasecmp(s, "ws://", 5) == 0)
		a = s + 5;
	else {
		*err = "URL must start with ws:// or wss://";
		return (-1);
	}
	len = strcspn(a, "/?#");
	if (url_authority(a, len, u, err) == -1)
		return (-1);

	p = a + len;
	len = strcspn(p, "#");
	if (len == 0)
		strlcpy(u->u_path, "/", sizeof(u->u_path));
	else {
		if (len + 2 > sizeof(u->u_path)) {
			*err = "URL path too long";
			return (-1);
		}
		/* "ws://h?x" has an empty path: the request line needs "/". */
		snprintf(u->u_path, sizeof(u->u_path), "%s%.*s",
		    *p == '?' ? "/" : "", (int)len, p);
	}
	for (p = u->u_path; *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7e) {
			*err = "URL path must be printable ASCII";
			return (-1);
		}
	return (0);
}

/* Before resolving: names that can only mean this machine. */
int
url_host_loopback(const char *host)
{
	struct in_addr	 in;
	struct in6_addr	 in6;

	if (strcasecmp(host, "localhost") == 0)
		return (1);
	if (inet_pton(AF_INET, host, &in) == 1)
		return ((ntohl(in.s_addr) >> 24) == 127);
	if (inet_pton(AF_INET6, host, &in6) == 1)
		return (IN6_IS_ADDR_LOOPBACK(&in6));
	return (0);
}

/* After resolving: what the connection would really reach. */
int
url_addr_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	const uint8_t			*b;

	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)sa;
		return ((ntohl(sin->sin_addr.s_addr) >> 24) == 127);
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return (1);
		b = sin6->sin6_addr.s6_addr;
		return (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && b[12] == 127);
	}
	return (0);
}
