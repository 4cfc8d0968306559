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
 * The proxy's own upstream chain check (proxy/tlsverify.c): stores from
 * PEM bundles (none: trusts nothing; garbage refused; the system
 * bundle), and a real libtls handshake over a socket pair with libtls's
 * chain check off, then tlsverify_peer against the right CA, another
 * CA, an empty store, and with an expired leaf and an intermediate.
 *
 * DEPS: proxy/tlsverify.c common/log.c
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
 * Handshake a libtls client (chain check off, name check on) with a
 * server presenting chain; then tlsverify_peer against store.
 */
static int
handshake_verify(const char *chain, size_t chainlen, const char *key,
    size_t keylen, X509_STORE *store, char *err, size_t errlen)
{
	struct tls_config	*scfg, *ccfg;
	struct tls		*srv, *sconn = NULL, *cli;
	int			 sv[2], i, cr = -2, sr = -2, rv;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		die("socketpair");
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	scfg = tls_config_new();
	ccfg = tls_config_new();
	if (tls_config_set_keypair_mem(scfg, (const uint8_t *)chain,
	    chainlen, (const uint8_t *)key, keylen) == -1)
		die(tls_config_error(scfg));
	tls_config_insecure_noverifycert(ccfg);
	srv = tls_server();
	cli = tls_client();
	if (tls_configure(srv, scfg) == -1 ||
	    tls_configure(cli, ccfg) == -1 ||
	    tls_accept_socket(srv, &sconn, sv[1]) == -1 ||
	    tls_connect_socket(cli, sv[0], "localhost") == -1)
		die("libtls setup");
	/* Both ends in one thread: bounded alternation. */
	for (i = 0; i < 100 && (cr != 0 || sr != 0); i++) {
		if (cr != 0)
			cr = tls_handshake(cli);
		if (sr != 0)
			sr = tls_handshake(sconn);
		if (cr == -1 || sr == -1)
			break;
	}
	if (cr != 0) {
		snprintf(err, errlen, "handshake: %s", tls_error(cli));
		rv = -2;
	} else
		rv = tlsverify_peer(cli, store, err, errlen);
	tls_free(cli);
	tls_free(sconn);
	tls_free(srv);
	tls_config_free(scfg);
	tls_config_free(ccfg);
	close(sv[0]);
	close(sv[1]);
	return rv;
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

	/* libtls's name check still runs with its chain check off. */
	wrong = mkcert("other.example", leafkey, ca, cakey, 0, -3600, 86400);
	list[0] = wrong;
	chain = pem(list, NULL, &chainlen);
	r = handshake_verify(chain, chainlen, key, keylen, good, err,
	    sizeof(err));
	check(r == -2 && strstr(err, "name `localhost' not present") != NULL,
	    "libtls refuses a leaf for another name: %s", err);
	free(chain);
	X509_free(wrong);

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
