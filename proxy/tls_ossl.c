/*
 * Copyright (c) 2026 The emailproxy authors
 *
 * Permission to use, copy, modify, and distribute this software for any
 * purpose with or without fee is hereby granted, provided that the above
 * copyright notice and this permission notice appear in all copies.
 *
 * THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
 * WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
 * MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
 * ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
 * WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
 * ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
 * OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
 */

/*
 * The proxy's TLS connections on libssl, behind tls_ossl.h.  Everything
 * else (the parent's check of a certificate and key, authd's HTTPS
 * through libcurl, the bench tools) uses libtls or its own library; this
 * is the one file of the daemon that calls libssl for connections.
 *
 * Why not libtls here: on Debian's libretls over OpenSSL 3, libtls
 *  - builds a new SSL_CTX for every client connection (tls_configure on
 *    each tls_client), and OpenSSL 3's SSL_CTX_new looks up every
 *    cipher, digest, group and signature algorithm through its
 *    providers: most of the proxy's CPU per login (bench/README,
 *    figure 1: 2.8 ms of proxy CPU per login with libtls, see there for
 *    the figures after);
 *  - offers no way to keep a TLS session for a later client connection
 *    (tls_config_set_session_fd is for servers), so every upstream
 *    connection paid a full handshake with the same server;
 *  - keeps OpenSSL's read and write buffers (about 34 KiB) for the whole
 *    life of a connection, idle or not, with no knob for
 *    SSL_MODE_RELEASE_BUFFERS (an IDLE session holds two connections).
 * Here one SSL_CTX per server section and side is built once and
 * shared, the upstream chain is verified by OpenSSL during the handshake
 * against one X509_STORE per CA source (tlsverify.c), sessions the
 * server offers are kept per section, and buffers are released while a
 * connection is idle.  The settings follow libtls's defaults: TLS 1.2
 * and 1.3, libtls's "secure" TLS 1.2 ciphers, X25519/P-256/P-384, no
 * compression, no renegotiation, SNI and the name check as libtls does
 * them (an address is checked against the certificate's addresses and
 * is not sent as SNI), and an EOF without close_notify after the
 * handshake is an end of stream, as libtls reports it.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "tls_ossl.h"

/*
 * libtls's "secure" TLS 1.2 ciphers (TLSv1.2+AEAD+ECDHE:TLSv1.2+AEAD+DHE,
 * which OpenSSL does not parse) and its curves.
 */
#define TLSX_CIPHERS	"ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:" \
			"DHE+CHACHA20:!aNULL"
#define TLSX_GROUPS	"X25519:P-256:P-384"
/* libtls's default verification depth. */
#define TLSX_DEPTH	6
/*
 * What OpenSSL's verification applies through Debian's default security
 * level 2: no RSA keys under 2048 bits, no SHA-1 signatures.
 */
#define TLSX_AUTH_LEVEL	2

struct tlsx_ctx {
	SSL_CTX		*ctx;
	unsigned int	 refs;
	int		 client;
	char		*name;
	SSL_SESSION	*sessions[TLSX_SESSIONS];	/* newest last */
	unsigned int	 nsessions;
	char		*peer;		/* the name the sessions are for */
	uintptr_t	 gen;		/* changes with peer */
};

struct tlsx {
	SSL		*ssl;
	struct tlsx_ctx	*c;
	int		 done;		/* handshake complete */
	char		 error[256];
};

static int	 ctx_index = -1;
static uint64_t	 nhandshakes, nresumed;

static void
tlsx_seterr(char *err, size_t errlen, const char *what, int sslerr,
    int ret)
{
	unsigned long	 e = ERR_peek_last_error();
	const char	*why;

	if (e != 0)
		why = ERR_reason_error_string(e);
	else if (sslerr == SSL_ERROR_SYSCALL && ret == -1 && errno != 0)
		why = strerror(errno);
	else if (sslerr == SSL_ERROR_SYSCALL || sslerr == SSL_ERROR_ZERO_RETURN)
		why = "unexpected EOF";
	else
		why = NULL;
	snprintf(err, errlen, "%s failed: %s", what, why ? why : "TLS error");
	ERR_clear_error();
}

/* Keep a session the server offered, for the next connection. */
static int
tlsx_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct tlsx_ctx	*c = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl),
			    ctx_index);

	/* Only from a connection to the name the cache is for. */
	if (c == NULL || (uintptr_t)SSL_get_app_data(ssl) != c->gen ||
	    !SSL_SESSION_is_resumable(sess))
		return 0;
	if (c->nsessions == TLSX_SESSIONS) {
		SSL_SESSION_free(c->sessions[0]);
		memmove(c->sessions, c->sessions + 1,
		    (TLSX_SESSIONS - 1) * sizeof(c->sessions[0]));
		c->nsessions--;
	}
	c->sessions[c->nsessions++] = sess;
	return 1;	/* the reference is ours */
}

/*
 * The newest session still valid; a TLS 1.3 ticket is used once (RFC
 * 8446 C.4), a TLS 1.2 session may serve again.  NULL when none.  A
 * resumed handshake does not verify the certificate again, so sessions
 * are offered only to the name they were verified for: another name
 * drops them.
 */
static SSL_SESSION *
tlsx_take_session(struct tlsx_ctx *c, const char *servername)
{
	SSL_SESSION	*s;
	time_t		 now = time(NULL);

	if (c->peer == NULL || strcmp(c->peer, servername) != 0) {
		while (c->nsessions > 0)
			SSL_SESSION_free(c->sessions[--c->nsessions]);
		free(c->peer);
		c->peer = strdup(servername);
		c->gen++;
		return NULL;
	}

	while (c->nsessions > 0) {
		s = c->sessions[--c->nsessions];
		if (SSL_SESSION_get_time(s) + SSL_SESSION_get_timeout(s) <=
		    now) {
			SSL_SESSION_free(s);
			continue;
		}
		if (SSL_SESSION_get_protocol_version(s) < TLS1_3_VERSION) {
			/* Kept for the next one too. */
			c->nsessions++;
			if (SSL_SESSION_up_ref(s) != 1)
				return NULL;
		}
		return s;
	}
	return NULL;
}

static struct tlsx_ctx *
tlsx_ctx_new(const char *name, int client)
{
	struct tlsx_ctx	*c;

	if (ctx_index == -1 && (ctx_index = SSL_CTX_get_ex_new_index(0, NULL,
	    NULL, NULL, NULL)) == -1)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->name = strdup(name)) == NULL) {
		free(c);
		return NULL;
	}
	c->refs = 1;
	c->client = client;
	if ((c->ctx = SSL_CTX_new(client ? TLS_client_method() :
	    TLS_server_method())) == NULL ||
	    !SSL_CTX_set_ex_data(c->ctx, ctx_index, c) ||
	    !SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(c->ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_cipher_list(c->ctx, TLSX_CIPHERS) ||
	    !SSL_CTX_set1_groups_list(c->ctx, TLSX_GROUPS)) {
		log_warnx("%s: TLS context: %s", name,
		    ERR_reason_error_string(ERR_peek_last_error()));
		ERR_clear_error();
		tlsx_ctx_unref(c);
		return NULL;
	}
	SSL_CTX_set_options(c->ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(c->ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* A whole record and what follows in one read(2), not two. */
	SSL_CTX_set_read_ahead(c->ctx, 1);
	return c;
}

struct tlsx_ctx *
tlsx_client_ctx(const char *name, X509_STORE *store)
{
	struct tlsx_ctx		*c;
	X509_VERIFY_PARAM	*param;

	if ((c = tlsx_ctx_new(name, 1)) == NULL)
		return NULL;
	SSL_CTX_set1_cert_store(c->ctx, store);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_verify_depth(c->ctx, TLSX_DEPTH);
	param = SSL_CTX_get0_param(c->ctx);
	X509_VERIFY_PARAM_set_auth_level(param, TLSX_AUTH_LEVEL);
	X509_VERIFY_PARAM_set_hostflags(param,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	/* Sessions come to tlsx_new_session; OpenSSL keeps none itself. */
	SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(c->ctx, tlsx_new_session);
	return c;
}

static int
tlsx_no_password(char *buf, int size, int rwflag, void *u)
{
	return 0;
}

struct tlsx_ctx *
tlsx_server_ctx(const char *name, const uint8_t *cert, size_t certlen,
    const uint8_t *key, size_t keylen, unsigned int tickets)
{
	struct tlsx_ctx	*c;
	BIO		*bio = NULL;
	X509		*x = NULL;
	EVP_PKEY	*pkey = NULL;
	const char	*why = NULL;

	if ((c = tlsx_ctx_new(name, 0)) == NULL)
		return NULL;
	if (certlen > INT_MAX || keylen > INT_MAX ||
	    (bio = BIO_new_mem_buf(cert, certlen)) == NULL ||
	    (x = PEM_read_bio_X509_AUX(bio, NULL, tlsx_no_password,
	    NULL)) == NULL || !SSL_CTX_use_certificate(c->ctx, x)) {
		why = "cannot load the certificate";
		goto fail;
	}
	X509_free(x);
	/* The rest of the file is the chain. */
	while ((x = PEM_read_bio_X509(bio, NULL, tlsx_no_password,
	    NULL)) != NULL) {
		if (!SSL_CTX_add0_chain_cert(c->ctx, x)) {
			why = "cannot load the certificate chain";
			goto fail;
		}
	}
	ERR_clear_error();
	BIO_free(bio);
	if ((bio = BIO_new_mem_buf(key, keylen)) == NULL ||
	    (pkey = PEM_read_bio_PrivateKey(bio, NULL, tlsx_no_password,
	    NULL)) == NULL || !SSL_CTX_use_PrivateKey(c->ctx, pkey) ||
	    !SSL_CTX_check_private_key(c->ctx)) {
		why = "cannot load the private key";
		goto fail;
	}
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	SSL_CTX_set_options(c->ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Stateless tickets: nothing kept per client here. */
	SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(c->ctx, tickets);
	if (tickets == 0)
		SSL_CTX_set_options(c->ctx, SSL_OP_NO_TICKET);
	return c;
 fail:
	log_warnx("%s: local TLS: %s", name, why);
	ERR_clear_error();
	X509_free(x);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	tlsx_ctx_unref(c);
	return NULL;
}

struct tlsx_ctx *
tlsx_ctx_ref(struct tlsx_ctx *c)
{
	if (c != NULL)
		c->refs++;
	return c;
}

void
tlsx_ctx_unref(struct tlsx_ctx *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	while (c->nsessions > 0)
		SSL_SESSION_free(c->sessions[--c->nsessions]);
	SSL_CTX_free(c->ctx);
	free(c->peer);
	free(c->name);
	free(c);
}

static struct tlsx *
tlsx_new(struct tlsx_ctx *c, int fd, char *err, size_t errlen)
{
	struct tlsx	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->ssl = SSL_new(c->ctx)) == NULL || !SSL_set_fd(t->ssl, fd)) {
		snprintf(err, errlen, "TLS: out of memory");
		if (t != NULL)
			SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return NULL;
	}
	t->c = tlsx_ctx_ref(c);
	return t;
}

struct tlsx *
tlsx_connect(struct tlsx_ctx *c, int fd, const char *servername, char *err,
    size_t errlen)
{
	struct tlsx	*t;
	SSL_SESSION	*sess;
	struct in6_addr	 a6;
	struct in_addr	 a4;
	int		 ok;

	if ((t = tlsx_new(c, fd, err, errlen)) == NULL)
		return NULL;
	SSL_set_connect_state(t->ssl);
	if (inet_pton(AF_INET, servername, &a4) == 1 ||
	    inet_pton(AF_INET6, servername, &a6) == 1)
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl),
		    servername);
	else
		ok = SSL_set_tlsext_host_name(t->ssl, servername) &&
		    SSL_set1_host(t->ssl, servername);
	if (!ok) {
		snprintf(err, errlen, "TLS: cannot use the name %s",
		    servername);
		tlsx_free(t, 0);
		ERR_clear_error();
		return NULL;
	}
	if ((sess = tlsx_take_session(c, servername)) != NULL) {
		(void)SSL_set_session(t->ssl, sess);
		SSL_SESSION_free(sess);
	}
	SSL_set_app_data(t->ssl, (void *)c->gen);
	return t;
}

struct tlsx *
tlsx_accept(struct tlsx_ctx *c, int fd, char *err, size_t errlen)
{
	struct tlsx	*t;

	if ((t = tlsx_new(c, fd, err, errlen)) == NULL)
		return NULL;
	SSL_set_accept_state(t->ssl);
	return t;
}

int
tlsx_handshake(struct tlsx *t)
{
	int	ret, e;
	long	vr;

	ERR_clear_error();
	if ((ret = SSL_do_handshake(t->ssl)) == 1) {
		t->done = 1;
		if (t->c->client) {
			nhandshakes++;
			if (SSL_session_reused(t->ssl))
				nresumed++;
		}
		return 0;
	}
	switch ((e = SSL_get_error(t->ssl, ret))) {
	case SSL_ERROR_WANT_READ:
		return TLSX_WANT_POLLIN;
	case SSL_ERROR_WANT_WRITE:
		return TLSX_WANT_POLLOUT;
	}
	if (t->c->client &&
	    (vr = SSL_get_verify_result(t->ssl)) != X509_V_OK) {
		snprintf(t->error, sizeof(t->error),
		    "certificate verification failed: %s",
		    X509_verify_cert_error_string(vr));
		ERR_clear_error();
	} else
		tlsx_seterr(t->error, sizeof(t->error), "handshake", e, ret);
	return -1;
}

ssize_t
tlsx_read(struct tlsx *t, void *buf, size_t len)
{
	size_t	n;
	int	ret, e;

	ERR_clear_error();
	if ((ret = SSL_read_ex(t->ssl, buf, len, &n)) == 1)
		return n;
	switch ((e = SSL_get_error(t->ssl, ret))) {
	case SSL_ERROR_WANT_READ:
		return TLSX_WANT_POLLIN;
	case SSL_ERROR_WANT_WRITE:
		return TLSX_WANT_POLLOUT;
	case SSL_ERROR_ZERO_RETURN:
		/* close_notify, or an EOF without it (IGNORE_UNEXPECTED_EOF) */
		return 0;
	}
	tlsx_seterr(t->error, sizeof(t->error), "read", e, ret);
	return -1;
}

ssize_t
tlsx_write(struct tlsx *t, const void *buf, size_t len)
{
	size_t	n;
	int	ret, e;

	ERR_clear_error();
	if ((ret = SSL_write_ex(t->ssl, buf, len, &n)) == 1)
		return n;
	switch ((e = SSL_get_error(t->ssl, ret))) {
	case SSL_ERROR_WANT_READ:
		return TLSX_WANT_POLLIN;
	case SSL_ERROR_WANT_WRITE:
		return TLSX_WANT_POLLOUT;
	}
	tlsx_seterr(t->error, sizeof(t->error), "write", e, ret);
	return -1;
}

void
tlsx_free(struct tlsx *t, int notify)
{
	if (t == NULL)
		return;
	if (notify && t->done)
		(void)SSL_shutdown(t->ssl);
	ERR_clear_error();
	SSL_free(t->ssl);
	tlsx_ctx_unref(t->c);
	free(t);
}

const char *
tlsx_error(struct tlsx *t)
{
	return t->error[0] ? t->error : "TLS error";
}

const char *
tlsx_version(struct tlsx *t)
{
	return SSL_get_version(t->ssl);
}

const char *
tlsx_cipher(struct tlsx *t)
{
	return SSL_get_cipher_name(t->ssl);
}

int
tlsx_resumed(struct tlsx *t)
{
	return SSL_session_reused(t->ssl);
}

void
tlsx_counters(uint64_t *handshakes, uint64_t *resumed)
{
	*handshakes = nhandshakes;
	*resumed = nresumed;
}
