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

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "crypto.h"

unsigned long	tk_kdf_runs;

int
tk_kdf(const char *password, size_t passlen, const uint8_t *salt,
    size_t saltlen, unsigned int iterations, uint8_t *out, size_t outlen)
{
	if (passlen > INT_MAX || saltlen > INT_MAX || outlen > INT_MAX ||
	    iterations == 0 || iterations > INT_MAX)
		return (-1);
	tk_kdf_runs++;
	if (PKCS5_PBKDF2_HMAC(password, (int)passlen, salt, (int)saltlen,
	    (int)iterations, EVP_sha256(), (int)outlen, out) != 1)
		return (-1);
	return (0);
}

int
tk_hmac(const uint8_t *key, size_t keylen, const void *a, size_t alen,
    const void *b, size_t blen, uint8_t out[TK_MACLEN])
{
	EVP_MAC		*mac;
	EVP_MAC_CTX	*ctx = NULL;
	OSSL_PARAM	 params[2];
	size_t		 len = 0;
	int		 ok = 0;

	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return (-1);
	params[0] = OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_MAC_CTX_new(mac)) != NULL)
		ok = EVP_MAC_init(ctx, key, keylen, params) == 1 &&
		    EVP_MAC_update(ctx, a, alen) == 1 &&
		    (blen == 0 || EVP_MAC_update(ctx, b, blen) == 1) &&
		    EVP_MAC_final(ctx, out, &len, TK_MACLEN) == 1 &&
		    len == TK_MACLEN;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return (ok ? 0 : -1);
}

static int
gcm(int enc, const uint8_t *key, const uint8_t *nonce, const void *aad,
    size_t aadlen, const uint8_t *in, size_t inlen, uint8_t *out,
    uint8_t *tag)
{
	EVP_CIPHER_CTX	*ctx;
	int		 len, ok;

	if (inlen > INT_MAX || aadlen > INT_MAX)
		return (-1);
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return (-1);
	ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL,
	    enc) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, TK_NONCELEN,
	    NULL) == 1 &&
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) == 1 &&
	    (aadlen == 0 || EVP_CipherUpdate(ctx, NULL, &len, aad,
	    (int)aadlen) == 1) &&
	    (inlen == 0 || EVP_CipherUpdate(ctx, out, &len, in,
	    (int)inlen) == 1);
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TK_TAGLEN,
		    tag) == 1;
	/* GCM produces no bytes here; the tag check happens now. */
	if (ok)
		ok = EVP_CipherFinal_ex(ctx, out + inlen, &len) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TK_TAGLEN,
		    tag) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return (ok ? 0 : -1);
}

int
tk_seal(const uint8_t key[TK_KEYLEN], const uint8_t nonce[TK_NONCELEN],
    const void *aad, size_t aadlen, const void *pt, size_t ptlen,
    uint8_t *out)
{
	return (gcm(1, key, nonce, aad, aadlen, pt, ptlen, out, out + ptlen));
}

int
tk_open(const uint8_t key[TK_KEYLEN], const uint8_t nonce[TK_NONCELEN],
    const void *aad, size_t aadlen, const uint8_t *ct, size_t ctlen,
    uint8_t *out)
{
	uint8_t	tag[TK_TAGLEN];
	size_t	len;

	if (ctlen < TK_TAGLEN)
		return (-1);
	len = ctlen - TK_TAGLEN;
	memcpy(tag, ct + len, TK_TAGLEN);
	if (gcm(0, key, nonce, aad, aadlen, ct, len, out, tag) == -1) {
		explicit_bzero(out, len);
		return (-1);
	}
	return (0);
}

int
tk_equal(const void *a, const void *b, size_t len)
{
	return (CRYPTO_memcmp(a, b, len) == 0);
}

int
tk_strequal(const char *a, const char *b)
{
	size_t	alen, blen;

	if (a == NULL || b == NULL)
		return (a == b);
	alen = strlen(a);
	blen = strlen(b);
	/* The lengths of tokens are not secret; their bytes are. */
	if (alen != blen)
		return (0);
	return (tk_equal(a, b, alen));
}

void
tk_random(void *buf, size_t len)
{
	arc4random_buf(buf, len);
}



