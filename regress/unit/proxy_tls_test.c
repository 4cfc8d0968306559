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
 * The proxy's TLS (proxy/tls_ossl.c, proxy/tlsverify.c): stores from
 * PEM bundles (none: trusts nothing; garbage refused; the system
 * bundle); real handshakes over a socket pair, the server's chain
 * verified against the right CA, another CA, an empty store, with an
 * expired leaf, an intermediate, a leaf for another name; and session
 * resumption towards the same server.
 *
 * DEPS: proxy/tls_ossl.c proxy/tlsverify.c common/log.c
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tls.h>
#include <unistd.h>

#include "tls_ossl.h"
#include "tlsverify.h"

static int	failures;

static void	 check(int, const char *, ...)
		    __attribute__((__format__(__printf__, 2, 3)));

static void
check(int ok, const char *fmt, ...)
{
	va_list	ap;

	printf(ok ? "PASS: " : "FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok)
		failures++;
}

static void
die(const char *what)
{
	printf("FAIL: %s\n", what);
	exit(1);
}

static EVP_PKEY *
newkey(void)
{
	EVP_PKEY	*k;

	if ((k = EVP_EC_gen("P-256")) == NULL)
		die("EC key");
	return k;
}

static void
ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL ||
	    !X509_add_ext(x, e, -1))
		die("extension");
	X509_EXTENSION_free(e);
}

/* A certificate for cn signed by (issuer, ikey), or self-signed. */
static X509 *
mkcert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
    int ca, long from, long to)
{
	X509		*x;
	char		 san[128];
	static long	 serial = 1;

	if ((x = X509_new()) == NULL)
		die("X509_new");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) :
	    X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_set_pubkey(x, key);
	if (issuer == NULL)
		issuer = x;
	if (ca) {
		ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
		ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		ext(x, issuer, NID_ext_key_usage, "serverAuth");
		snprintf(san, sizeof(san), "DNS:%s", cn);
		ext(x, issuer, NID_subject_alt_name, san);
	}
	if (!X509_sign(x, ikey ? ikey : key, EVP_sha256()))
		die("X509_sign");
	return x;
}

/* PEM of certificates (NULL-terminated), or of a key. */
static char *
pem(X509 **certs, EVP_PKEY *key, size_t *len)
{
	BIO	*b = BIO_new(BIO_s_mem());
	char	*p, *out;
	long	 n;

	for (; certs != NULL && *certs != NULL; certs++)
		PEM_write_bio_X509(b, *certs);
	if (key != NULL)
		PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(b, &p);
	if ((out = malloc(n + 1)) == NULL)
		die("malloc");
	memcpy(out, p, n);
	out[n] = '\0';
	*len = n;
	BIO_free(b);
	return out;
}

/*
 * One TLS connection over a socket pair, both ends in this thread:
 * client context cctx (name servername) against server context sctx.
 * After the handshake the server sends one byte and the client reads
 * it, which is when a TLS 1.3 client takes the server's tickets.  0,
 * or -1 with the client's error in err; *resumed says whether the
 * client resumed a session.
 */
static int
connect_pair(struct tlsx_ctx *cctx, struct tlsx_ctx *sctx,
    const char *servername, char *err, size_t errlen, int *resumed)
{
	struct tlsx	*cli, *srv;
	int		 sv[2], i, cr = 1, sr = 1, rv = -1;
	char		 c = 0;
	ssize_t		 n = TLSX_WANT_POLLIN;

	*resumed = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		die("socketpair");
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	if ((cli = tlsx_connect(cctx, sv[0], servername, err,
	    errlen)) == NULL ||
	    (srv = tlsx_accept(sctx, sv[1], err, errlen)) == NULL)
		die(err);
	/* Bounded alternation. */
	for (i = 0; i < 100 && (cr != 0 || sr != 0); i++) {
		if (cr != 0)
			cr = tlsx_handshake(cli);
		if (sr != 0)
			sr = tlsx_handshake(srv);
		if (cr == -1 || sr == -1)
			break;
	}
	if (cr != 0) {
		snprintf(err, errlen, "%s", cr == -1 ? tlsx_error(cli) :
		    "handshake did not finish");
		goto done;
	}
	if (sr != 0 || tlsx_write(srv, "x", 1) != 1)
		die("server side");
	for (i = 0; i < 100 && n < 0; i++)
		n = tlsx_read(cli, &c, 1);
	if (n != 1 || c != 'x') {
		snprintf(err, errlen, "no byte after the handshake");
		goto done;
	}
	*resumed = tlsx_resumed(cli);
	rv = 0;
 done:
	tlsx_free(cli, 1);
	tlsx_free(srv, 1);
	close(sv[0]);
	close(sv[1]);
	return rv;
}

/* A server presenting chain; a fresh client context on store. */
static int
handshake_verify(const char *chain, size_t chainlen, const char *key,
    size_t keylen, X509_STORE *store, char *err, size_t errlen)
{
	struct tlsx_ctx	*sctx, *cctx;
	int		 rv, resumed;

	if ((sctx = tlsx_server_ctx("server", (const uint8_t *)chain,
	    chainlen, (const uint8_t *)key, keylen, 1)) == NULL ||
	    (cctx = tlsx_client_ctx("client", store)) == NULL)
		die("TLS contexts");
	rv = connect_pair(cctx, sctx, "localhost", err, errlen, &resumed);
	tlsx_ctx_unref(cctx);
	tlsx_ctx_unref(sctx);
	return rv;
}

/*
 * Sessions: a second connection to the same server resumes; one to a
 * server that does not know the ticket (another context: other ticket
 * keys, as a server restarted or another login process) works with a
 * full handshake; another client context (another server section)
 * never offers this one's sessions; the counters follow.
 */
static void
test_resume(const char *chain, size_t chainlen, const char *key,
    size_t keylen, X509_STORE *store)
{
	struct tlsx_ctx	*s1, *s2, *s3, *c1, *c2;
	uint64_t	 h0, r0, h1, r1;
	char		 err[256];
	int		 i, r, resumed, all;

	if ((s1 = tlsx_server_ctx("s1", (const uint8_t *)chain, chainlen,
	    (const uint8_t *)key, keylen, 1)) == NULL ||
	    (s2 = tlsx_server_ctx("s2", (const uint8_t *)chain, chainlen,
	    (const uint8_t *)key, keylen, 1)) == NULL ||
	    (s3 = tlsx_server_ctx("s3", (const uint8_t *)chain, chainlen,
	    (const uint8_t *)key, keylen, 0)) == NULL ||
	    (c1 = tlsx_client_ctx("c1", store)) == NULL ||
	    (c2 = tlsx_client_ctx("c2", store)) == NULL)
		die("TLS contexts");
	tlsx_counters(&h0, &r0);
	r = connect_pair(c1, s1, "localhost", err, sizeof(err), &resumed);
	check(r == 0 && resumed == 0, "first connection: a full handshake "
	    "(%s)", r ? err : "ok");
	r = connect_pair(c1, s1, "localhost", err, sizeof(err), &resumed);
	check(r == 0 && resumed == 1, "second connection to the same "
	    "server resumes the session (%s, resumed %d)", r ? err : "ok",
	    resumed);
	tlsx_counters(&h1, &r1);
	check(h1 - h0 == 2 && r1 - r0 == 1, "counters: %llu handshakes, "
	    "%llu resumed", (unsigned long long)(h1 - h0),
	    (unsigned long long)(r1 - r0));
	r = connect_pair(c2, s1, "localhost", err, sizeof(err), &resumed);
	check(r == 0 && resumed == 0, "another client context (another "
	    "server section) does not offer the first one's sessions");
	r = connect_pair(c1, s2, "localhost", err, sizeof(err), &resumed);
	check(r == 0 && resumed == 0, "a server that refuses the ticket: "
	    "a full handshake, the connection works (%s)", r ? err : "ok");
	/* A server that offers no tickets at all. */
	r = connect_pair(c2, s3, "localhost", err, sizeof(err), &resumed);
	i = connect_pair(c2, s3, "localhost", err, sizeof(err), &all);
	check(r == 0 && i == 0 && resumed == 0 && all == 0, "a server "
	    "that offers no session: every connection works, none resumes");
	/* Many connections: resumption keeps working, the cache bounded. */
	all = 1;
	for (i = 0; i < 3 * TLSX_SESSIONS; i++) {
		r = connect_pair(c1, s1, "localhost", err, sizeof(err),
		    &resumed);
		if (i > 0 && (r != 0 || resumed != 1))
			all = 0;
	}
	check(all, "%d more connections after the first each resume",
	    3 * TLSX_SESSIONS - 1);
	/* The certificate is checked on resumption too: a wrong name. */
	r = connect_pair(c1, s1, "other.example", err, sizeof(err),
	    &resumed);
	check(r == -1, "another name: no session offered, the certificate "
	    "is checked and refused: %s", err);
	tlsx_ctx_unref(c1);
	tlsx_ctx_unref(c2);
	tlsx_ctx_unref(s1);
	tlsx_ctx_unref(s2);
	tlsx_ctx_unref(s3);
}

static int
nobjs(X509_STORE *s)
{
	return sk_X509_OBJECT_num(X509_STORE_get0_objects(s));
}

int
main(void)
{
	EVP_PKEY	*cakey, *otherkey, *ikey, *leafkey;
	X509		*ca, *other, *inter, *leaf, *old, *viai, *wrong;
	X509		*list[3] = { NULL, NULL, NULL };
	X509_STORE	*good, *bad, *none, *sys;
	char		*capem, *otherpem, *chain, *key, err[256];
	size_t		 calen, otherlen, chainlen, keylen, len;
	uint8_t		*data;
	int		 r;

	none = tlsverify_store(NULL, 0, "none");
	check(none != NULL && nobjs(none) == 0, "no bundle: an empty store");
	check(tlsverify_store((const uint8_t *)"not PEM\n", 8, "junk") ==
	    NULL, "a bundle with no certificate is refused");
	if ((data = tls_load_file(tls_default_ca_cert_file(), &len,
	    NULL)) != NULL) {
		sys = tlsverify_store(data, len, "system");
		check(sys != NULL && nobjs(sys) > 0,
		    "the system bundle: %d certificates in one store",
		    sys ? nobjs(sys) : 0);
		X509_STORE_free(sys);
		tls_unload_file(data, len);
	} else
		printf("# no system CA bundle here: not loaded\n");

	cakey = newkey();
	otherkey = newkey();
	ikey = newkey();
	leafkey = newkey();
	ca = mkcert("Test CA", cakey, NULL, NULL, 1, -3600, 86400);
	other = mkcert("Other CA", otherkey, NULL, NULL, 1, -3600, 86400);
	list[0] = ca;
	capem = pem(list, NULL, &calen);
	list[0] = other;
	otherpem = pem(list, NULL, &otherlen);
	good = tlsverify_store((const uint8_t *)capem, calen, "good");
	bad = tlsverify_store((const uint8_t *)otherpem, otherlen, "bad");
	check(good != NULL && bad != NULL && nobjs(good) == 1,
	    "stores from one-CA bundles");
	key = pem(NULL, leafkey, &keylen);

	leaf = mkcert("localhost", leafkey, ca, cakey, 0, -3600, 86400);
	list[0] = leaf;
	chain = pem(list, NULL, &chainlen);
	r = handshake_verify(chain, chainlen, key, keylen, good, err,
	    sizeof(err));
	check(r == 0, "leaf from the trusted CA verifies (%s)",
	    r ? err : "ok");
	r = handshake_verify(chain, chainlen, key, keylen, bad, err,
	    sizeof(err));
	check(r == -1 && strstr(err, "certificate verification failed: "
	    "unable to get local issuer certificate") != NULL,
	    "another CA's store refuses it: %s", err);
	r = handshake_verify(chain, chainlen, key, keylen, none, err,
	    sizeof(err));
	check(r == -1, "the empty store refuses it: %s", err);
	free(chain);

	old = mkcert("localhost", leafkey, ca, cakey, 0, -30 * 86400,
	    -86400);
	list[0] = old;
	chain = pem(list, NULL, &chainlen);
	r = handshake_verify(chain, chainlen, key, keylen, good, err,
	    sizeof(err));
	check(r == -1 && strstr(err, "certificate has expired") != NULL,
	    "an expired leaf is refused: %s", err);
	free(chain);

	/* An intermediate sent by the server is used, not trusted. */
	inter = mkcert("Intermediate", ikey, ca, cakey, 1, -3600, 86400);
	viai = mkcert("localhost", leafkey, inter, ikey, 0, -3600, 86400);
	list[0] = viai;
	list[1] = inter;
	chain = pem(list, NULL, &chainlen);
	r = handshake_verify(chain, chainlen, key, keylen, good, err,
	    sizeof(err));
	check(r == 0, "leaf via an intermediate the server sends (%s)",
	    r ? err : "ok");
	free(chain);
	list[1] = NULL;
	chain = pem(list, NULL, &chainlen);
	r = handshake_verify(chain, chainlen, key, keylen, good, err,
	    sizeof(err));
	check(r == -1, "without the intermediate: refused: %s", err);
	free(chain);

	/* The name is checked with the chain. */
	wrong = mkcert("other.example", leafkey, ca, cakey, 0, -3600, 86400);
	list[0] = wrong;
	chain = pem(list, NULL, &chainlen);
	r = handshake_verify(chain, chainlen, key, keylen, good, err,
	    sizeof(err));
	check(r == -1 && strstr(err, "hostname mismatch") != NULL,
	    "a leaf for another name is refused: %s", err);
	free(chain);
	X509_free(wrong);

	list[0] = leaf;
	chain = pem(list, NULL, &chainlen);
	test_resume(chain, chainlen, key, keylen, good);
	free(chain);

	X509_free(ca);
	X509_free(other);
	X509_free(inter);
	X509_free(leaf);
	X509_free(old);
	X509_free(viai);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(otherkey);
	EVP_PKEY_free(ikey);
	EVP_PKEY_free(leafkey);
	X509_STORE_free(good);
	X509_STORE_free(bad);
	X509_STORE_free(none);
	free(capem);
	free(otherpem);
	free(key);
	return failures ? 1 : 0;
}
