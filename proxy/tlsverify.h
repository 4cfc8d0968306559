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

#ifndef TLSVERIFY_H
#define TLSVERIFY_H

#include <stddef.h>
#include <stdint.h>

struct x509_store_st;

/*
 * A trust store from a PEM CA bundle in memory, built once per CA
 * source and shared by reference (X509_STORE_up_ref) by the server
 * contexts of tls_ossl.c.
 * An empty store (data NULL) trusts nothing.  NULL on failure.
 */
struct x509_store_st *tlsverify_store(const uint8_t *data, size_t len,
	    const char *what);

#endif /* TLSVERIFY_H */
