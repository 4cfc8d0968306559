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
 * The proxy's TLS connections, both sides: the only file of the
 * proxy that uses libssl (tls_ossl.c says why libtls is not used here).
 */

#ifndef TLS_OSSL_H
#define TLS_OSSL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct x509_store_st;

/* A context: one per server section and side, shared by connections. */
struct tlsx_ctx;
/* One connection. */
struct tlsx;

#define TLSX_WANT_POLLIN	-2
#define TLSX_WANT_POLLOUT	-3

/* Upstream TLS session tickets kept per server section. */
#define TLSX_SESSIONS		4

/*
 * Towards a server: TLS 1.2 or 1.3, the chain verified against store
 * (shared by reference), the name by the servername given to
 * tlsx_connect.  Sessions the server offers are kept (TLSX_SESSIONS)
 * and offered again by later connections of this context alone.  name
 * is for log lines.  NULL on failure (logged).
 */
struct tlsx_ctx	*tlsx_client_ctx(const char *name, struct x509_store_st *);
/*
 * Towards clients, from the PEM certificate chain and key; tickets: the
 * TLS session tickets sent per handshake (stateless, keys in this
 * context), 0 for none.
 */
struct tlsx_ctx	*tlsx_server_ctx(const char *name, const uint8_t *cert,
		    size_t certlen, const uint8_t *key, size_t keylen,
		    unsigned int tickets);
/* Every connection holds a reference; freed with the last one. */
struct tlsx_ctx	*tlsx_ctx_ref(struct tlsx_ctx *);
void		 tlsx_ctx_unref(struct tlsx_ctx *);

/*
 * A connection over a connected socket; nothing is sent yet.  NULL with
 * the reason in err.
 */
struct tlsx	*tlsx_connect(struct tlsx_ctx *, int fd, const char *servername,
		    char *err, size_t errlen);
struct tlsx	*tlsx_accept(struct tlsx_ctx *, int fd, char *err,
		    size_t errlen);
/* 0 when done, TLSX_WANT_POLLIN/POLLOUT, -1 (tlsx_error). */
int		 tlsx_handshake(struct tlsx *);
/*
 * Bytes read (0: the peer closed, with or without close_notify, as
 * libtls reports it), TLSX_WANT_POLLIN/POLLOUT, or -1.
 */
ssize_t		 tlsx_read(struct tlsx *, void *, size_t);
/* Bytes written (the buffer may move between retries), WANT_*, -1. */
ssize_t		 tlsx_write(struct tlsx *, const void *, size_t);
/* Best-effort close_notify, then free (the socket stays open). */
void		 tlsx_free(struct tlsx *, int notify);
const char	*tlsx_error(struct tlsx *);
const char	*tlsx_version(struct tlsx *);
const char	*tlsx_cipher(struct tlsx *);
/* The handshake resumed a session. */
int		 tlsx_resumed(struct tlsx *);

/* Upstream handshakes completed, and how many of them resumed. */
void		 tlsx_counters(uint64_t *handshakes, uint64_t *resumed);

#endif /* TLS_OSSL_H */
