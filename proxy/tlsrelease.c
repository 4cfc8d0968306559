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
 * libtls keeps OpenSSL's read and write buffers (about 34 KiB) for the
 * whole life of each connection, idle or not, and has no setting to
 * release them (neither tls_config_* nor access to its SSL_CTX).
 * OpenSSL can release them while a connection is idle,
 * SSL_MODE_RELEASE_BUFFERS, as haproxy and nginx ask it to.  libtls
 * makes every connection with SSL_new() from libssl, so this binary
 * defines SSL_new: libssl's, plus that mode.  With sessions held in
 * IDLE that is about 29 KiB less per session (bench/README, figure 3).
 * The binary is shared by every process: libcurl in authd (built on
 * OpenSSL too) gets the same mode, which OpenSSL supports for any
 * connection.  Should the dynamic linker ever not route a call here,
 * the connections merely keep their buffers.
 */

#include <dlfcn.h>
#include <stddef.h>

#include <openssl/ssl.h>

SSL *
SSL_new(SSL_CTX *ctx)
{
	static SSL	*(*real_new)(SSL_CTX *);
	static long	 (*real_ctrl)(SSL *, int, long, void *);
	SSL		*ssl;

	if (real_new == NULL) {
		real_new = (SSL *(*)(SSL_CTX *))dlsym(RTLD_NEXT, "SSL_new");
		real_ctrl = (long (*)(SSL *, int, long, void *))dlsym(
		    RTLD_NEXT, "SSL_ctrl");
		if (real_new == NULL)
			return NULL;
	}
	if ((ssl = real_new(ctx)) != NULL && real_ctrl != NULL)
		(void)real_ctrl(ssl, SSL_CTRL_MODE, SSL_MODE_RELEASE_BUFFERS,
		    NULL);
	return ssl;
}
