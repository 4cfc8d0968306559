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
 * The trust stores upstream chains are verified against: one per CA
 * source, built once from the bundle in memory and shared by reference
 * by every server context that uses it (tls_ossl.c).  Parsing the
 * system bundle for each connection, as libtls did, cost about 870 KiB
 * and 25 ms per connection.
 */

#include <sys/types.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <limits.h>
#include <stdio.h>

#include "log.h"
#include "tlsverify.h"

/* libtls's default verification depth. */
#define TLSVERIFY_DEPTH		6

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
