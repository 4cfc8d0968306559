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
 * The upstream certificate chain is verified here and not by libtls:
 * libtls builds an SSL_CTX per connection and parses the whole CA bundle
 * into a fresh X509_STORE each time (about 870 KiB and 25 ms with the
 * system bundle), whereas one store per CA source serves them all.
 * libtls still sends SNI and checks the name (tls_handshake_client runs
 * tls_check_name whenever verify_name is set, whatever verify_cert is).
 */

#include <sys/types.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <limits.h>
#include <stdio.h>
#include <tls.h>

#include "log.h"
#include "tlsverify.h"

/* libtls's default verification depth. */
#define TLSVERIFY_DEPTH		6
/*
 * What OpenSSL's SSL verification would apply through the security
 * level (Debian's default, SECLEVEL=2): no RSA keys under 2048 bits,
 * no SHA-1 signatures in the chain.
 */
#define TLSVERIFY_AUTH_LEVEL	2

X509_STORE *
tlsverify_store(const uint8_t *data, size_t len, const char *what)
{
	X509_STORE		*store;
	STACK_OF(X509_INFO)	*xis = NULL;
	X509_INFO		*xi;
	BIO			*bio = NULL;
	int			 i, n = 0;

	if ((store = X509_STORE_new()) == NULL)
		goto fail;
	X509_STORE_set_depth(store, TLSVERIFY_DEPTH);
	if (data == NULL)
		return store;
	if (len > INT_MAX || (bio = BIO_new_mem_buf(data, len)) == NULL ||
	    (xis = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL)) == NULL) {
		log_warnx("%s: cannot parse the CA bundle", what);
		goto fail;
	}
	for (i = 0; i < sk_X509_INFO_num(xis); i++) {
		xi = sk_X509_INFO_value(xis, i);
		if (xi->x509 == NULL)
			continue;
		if (!X509_STORE_add_cert(store, xi->x509)) {
			log_warnx("%s: cannot add a CA certificate", what);
			goto fail;
		}
		n++;
	}
	if (n == 0) {
		log_warnx("%s: no certificate in the CA bundle", what);
		goto fail;
	}
	sk_X509_INFO_pop_free(xis, X509_INFO_free);
	BIO_free(bio);
	log_debug("%s: %d CA certificates", what, n);
	return store;
 fail:
	ERR_clear_error();
	sk_X509_INFO_pop_free(xis, X509_INFO_free);
	BIO_free(bio);
	X509_STORE_free(store);
	return NULL;
}

int
tlsverify_peer(struct tls *tls, X509_STORE *store, char *err, size_t errlen)
{
	const uint8_t	*pem;
	size_t		 len;
	BIO		*bio = NULL;
	X509		*leaf = NULL, *x;
	STACK_OF(X509)	*untrusted = NULL;
	X509_STORE_CTX	*xctx = NULL;
	X509_VERIFY_PARAM *param;
	const char	*why = "out of memory";
	int		 rv = -1;

	/* The leaf first, then what the server sent to chain it. */
	if ((pem = tls_peer_cert_chain_pem(tls, &len)) == NULL) {
		why = "no server certificate";
		goto done;
	}
	if (len > INT_MAX || (bio = BIO_new_mem_buf(pem, len)) == NULL ||
	    (untrusted = sk_X509_new_null()) == NULL)
		goto done;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (leaf == NULL)
			leaf = x;
		else if (!sk_X509_push(untrusted, x)) {
			X509_free(x);
			goto done;
		}
	}
	if (leaf == NULL) {
		why = "no server certificate";
		goto done;
	}
	if ((xctx = X509_STORE_CTX_new()) == NULL ||
	    !X509_STORE_CTX_init(xctx, store, leaf, untrusted))
		goto done;
	if (!X509_STORE_CTX_set_purpose(xctx, X509_PURPOSE_SSL_SERVER)) {
		why = "cannot set the verification purpose";
		goto done;
	}
	param = X509_STORE_CTX_get0_param(xctx);
	X509_VERIFY_PARAM_set_auth_level(param, TLSVERIFY_AUTH_LEVEL);
	if (X509_verify_cert(xctx) == 1) {
		rv = 0;
		goto done;
	}
	/* libtls's words for the same failure. */
	snprintf(err, errlen, "certificate verification failed: %s",
	    X509_verify_cert_error_string(X509_STORE_CTX_get_error(xctx)));
	why = NULL;
 done:
	if (rv == -1 && why != NULL)
		snprintf(err, errlen, "certificate verification failed: %s",
		    why);
	ERR_clear_error();
	X509_STORE_CTX_free(xctx);
	sk_X509_pop_free(untrusted, X509_free);
	X509_free(leaf);
	BIO_free(bio);
	return rv;
}
