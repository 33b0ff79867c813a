/*
 * TLS for wss://, with OpenSSL driven through memory BIOs: the connection's
 * bufferevent moves ciphertext, OpenSSL never touches the socket, so TCP
 * and TLS share one read path.  The certificate is checked against the
 * system store (or the file named by DEVROULETTE_CA) and the URL's host.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "client.h"

#define TLS_CHUNK	16384

static void	tls_flush(struct conn *);
static void	tls_reason(struct conn *, char *, size_t);

/* Errors go into err, so they can be printed before the screen starts. */
SSL_CTX *
tls_ctx_new(char *err, size_t errlen)
{
	SSL_CTX		*ctx;
	const char	*ca;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "cannot set up TLS");
		return (NULL);
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	ca = getenv("DEVROULETTE_CA");
	if (ca != NULL && *ca != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
			snprintf(err, errlen, "cannot load CA file %s "
			    "(DEVROULETTE_CA)", ca);
			SSL_CTX_free(ctx);
			return (NULL);
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, errlen, "cannot load the system's CA store");
		SSL_CTX_free(ctx);
		return (NULL);
	}
	return (ctx);
}

int
tls_start(struct conn *c)
{
	static const unsigned char	alpn[] = "\x08http/1.1";
	struct in_addr			in;
	struct in6_addr			in6;
	int				literal;

	ERR_clear_error();
	if ((c->c_ssl = SSL_new(c->c_sslctx)) == NULL ||
	    (c->c_rbio = BIO_new(BIO_s_mem())) == NULL ||
	    (c->c_wbio = BIO_new(BIO_s_mem())) == NULL)
		return (-1);
	/* SSL_set_bio hands both BIOs to the SSL object. */
	SSL_set_bio(c->c_ssl, c->c_rbio, c->c_wbio);
	SSL_set_connect_state(c->c_ssl);
	SSL_set_alpn_protos(c->c_ssl, alpn, sizeof(alpn) - 1);

	literal = inet_pton(AF_INET, c->c_url.u_host, &in) == 1 ||
	    inet_pton(AF_INET6, c->c_url.u_host, &in6) == 1;
	if (literal) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->c_ssl),
		    c->c_url.u_host) != 1)
			return (-1);
	} else {
		if (SSL_set_tlsext_host_name(c->c_ssl, c->c_url.u_host) != 1 ||
		    SSL_set1_host(c->c_ssl, c->c_url.u_host) != 1)
			return (-1);
	}
	SSL_do_handshake(c->c_ssl);
	tls_flush(c);
	return (0);
}

static void
tls_flush(struct conn *c)
{
	char	buf[TLS_CHUNK];
	int	n;

	while ((n = BIO_read(c->c_wbio, buf, sizeof(buf))) > 0)
		bufferevent_write(c->c_bev, buf, n);
}

/* Why the handshake failed, in words a user can act on. */
static void
tls_reason(struct conn *c, char *out, size_t len)
{
	unsigned long	e;
	long		v;

	v = SSL_get_verify_result(c->c_ssl);
	if (v != X509_V_OK) {
		/* An unknown issuer is what a private server looks like. */
		snprintf(out, len, "certificate not accepted: %s%s",
		    X509_verify_cert_error_string(v),
		    v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
		    v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
		    v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ?
		    " (a private server? set DEVROULETTE_CA to its CA file)" :
		    "");
		return;
	}
	if ((e = ERR_peek_last_error()) != 0) {
		const char *r = ERR_reason_error_string(e);

		snprintf(out, len, "%s", r != NULL ? r : "handshake failed");
		return;
	}
	snprintf(out, len, "handshake failed");
}

/*
 * Ciphertext from the network in, plaintext to c_in out.  Returns 1 once
 * the handshake is done, 0 while it goes on, -1 after conn_fail (also for
 * a close_notify, which ends the stream like a TCP close).
 */
int
tls_input(struct conn *c, struct evbuffer *in)
{
	char	buf[TLS_CHUNK], why[192];
	int	n, r, e;

	while ((n = evbuffer_remove(in, buf, sizeof(buf))) > 0)
		if (BIO_write(c->c_rbio, buf, n) != n) {
			conn_fail(c, CONN_TLSFAIL, 0, "TLS buffer failure");
			return (-1);
		}
	if (c->c_state == CONN_TLS) {
		ERR_clear_error();
		r = SSL_do_handshake(c->c_ssl);
		tls_flush(c);
		if (r != 1) {
			e = SSL_get_error(c->c_ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return (0);
			tls_reason(c, why, sizeof(why));
			conn_fail(c, CONN_TLSFAIL, 0, "TLS with %s failed: %s",
			    c->c_url.u_host, why);
			return (-1);
		}
		conn_upgrade(c);
		if (c->c_state == CONN_DEAD)
			return (-1);
	}
	for (;;) {
		ERR_clear_error();
		n = SSL_read(c->c_ssl, buf, sizeof(buf));
		if (n > 0) {
			evbuffer_add(c->c_in, buf, n);
			continue;
		}
		e = SSL_get_error(c->c_ssl, n);
		tls_flush(c);
		if (e == SSL_ERROR_WANT_READ)
			return (1);
		if (e == SSL_ERROR_ZERO_RETURN)
			return (-2);
		conn_fail(c, CONN_LOST, 0, "TLS stream from %s broken",
		    c->c_url.u_host);
		return (-1);
	}
}

void
tls_write(struct conn *c, const void *p, size_t len)
{
	/* Memory BIOs grow: a write takes everything at once. */
	if (len > 0 && SSL_write(c->c_ssl, p, len) <= 0) {
		conn_fail(c, CONN_LOST, 0, "TLS write to %s failed",
		    c->c_url.u_host);
		return;
	}
	tls_flush(c);
}

void
tls_free(struct conn *c)
{
	if (c->c_ssl != NULL)
		SSL_free(c->c_ssl);	/* and both BIOs */
	c->c_ssl = NULL;
	c->c_rbio = c->c_wbio = NULL;
}
