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
 * Fernet, read-only: enough to import the Python proxy's cached tokens
 * (Fernet and MultiFernet).  tokend never writes Fernet.
 */

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto.h"

#define FERNET_VERSION	0x80
#define FERNET_HDRLEN	(1 + 8 + 16)	/* version, timestamp, IV */
#define FERNET_BLOCK	16
#define PY_ITERATIONS	1200000		/* Cryptographer.ITERATIONS */
#define PY_LEGACY	100000		/* LEGACY_ITERATIONS */

static int
aes128cbc_decrypt(const uint8_t *key, const uint8_t *iv, const uint8_t *in,
    size_t inlen, uint8_t *out, size_t *outlen)
{
	EVP_CIPHER_CTX	*ctx;
	int		 len1 = 0, len2 = 0, ok;

	if (inlen > INT_MAX || (ctx = EVP_CIPHER_CTX_new()) == NULL)
		return (-1);
	/* EVP checks the PKCS#7 padding in DecryptFinal. */
	ok = EVP_DecryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, key, iv) == 1 &&
	    EVP_DecryptUpdate(ctx, out, &len1, in, (int)inlen) == 1 &&
	    EVP_DecryptFinal_ex(ctx, out + len1, &len2) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return (-1);
	*outlen = (size_t)len1 + (size_t)len2;
	return (0);
}

uint8_t *
tk_fernet_decrypt(const uint8_t key[TK_KEYLEN], const char *token,
    size_t *outlen)
{
	uint8_t		*raw, *pt = NULL, mac[TK_MACLEN];
	size_t		 rawlen, ctlen, ptlen;

	if ((raw = b64_decode(token, &rawlen, B64_URL)) == NULL)
		return (NULL);
	if (rawlen < FERNET_HDRLEN + FERNET_BLOCK + TK_MACLEN ||
	    (rawlen - FERNET_HDRLEN - TK_MACLEN) % FERNET_BLOCK != 0 ||
	    raw[0] != FERNET_VERSION)
		goto done;
	ctlen = rawlen - FERNET_HDRLEN - TK_MACLEN;
	/* The first half of the key signs, the second half encrypts. */
	if (tk_hmac(key, 16, raw, rawlen - TK_MACLEN, NULL, 0, mac) == -1 ||
	    !tk_equal(mac, raw + rawlen - TK_MACLEN, TK_MACLEN))
		goto done;
	if ((pt = malloc(ctlen + FERNET_BLOCK + 1)) == NULL)
		goto done;
	if (aes128cbc_decrypt(key + 16, raw + 9, raw + FERNET_HDRLEN, ctlen,
	    pt, &ptlen) == -1) {
		freezero(pt, ctlen + FERNET_BLOCK + 1);
		pt = NULL;
		goto done;
	}
	pt[ptlen] = '\0';
	*outlen = ptlen;
 done:
	explicit_bzero(mac, sizeof(mac));
	freezero(raw, rawlen);
	return (pt);
}

int
tk_multifernet_init(struct tk_multifernet *mf, const char *password,
    const char *token_salt, const char *token_iterations)
{
	uint8_t		*salt;
	size_t		 saltlen;
	long long	 stored = PY_LEGACY;
	const char	*errstr;
	unsigned int	 cand[3], t;
	int		 i, j, n;

	memset(mf, 0, sizeof(*mf));
	if (token_salt == NULL || *token_salt == '\0')
		return (-1);
	/* Python's non-strict decoder skips bytes outside the alphabet. */
	if ((salt = b64_decode(token_salt, &saltlen,
	    B64_LENIENT)) == NULL)
		return (-1);
	if (saltlen == 0 || saltlen > sizeof(mf->salt)) {
		freezero(salt, saltlen);
		return (-1);
	}
	memcpy(mf->salt, salt, saltlen);
	mf->saltlen = saltlen;
	freezero(salt, saltlen);
	if (token_iterations != NULL) {
		stored = strtonum(token_iterations, 1, INT_MAX, &errstr);
		if (errstr != NULL)
			return (-1);
	}
	/* Unique values of {1200000, stored, 100000}, highest first. */
	cand[0] = PY_ITERATIONS;
	cand[1] = (unsigned int)stored;
	cand[2] = PY_LEGACY;
	n = 0;
	for (i = 0; i < 3; i++) {
		for (j = 0; j < n; j++)
			if (mf->iterations[j] == cand[i])
				break;
		if (j == n)
			mf->iterations[n++] = cand[i];
	}
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && mf->iterations[j - 1] <
		    mf->iterations[j]; j--) {
			t = mf->iterations[j];
			mf->iterations[j] = mf->iterations[j - 1];
			mf->iterations[j - 1] = t;
		}
	mf->nkeys = n;
	mf->password = password;
	return (0);
}

char *
tk_multifernet_decrypt(struct tk_multifernet *mf, const char *token)
{
	uint8_t	*pt;
	size_t	 len;
	int	 i;

	for (i = 0; i < mf->nkeys; i++) {
		if (i == mf->derived) {
			if (tk_kdf(mf->password, strlen(mf->password),
			    mf->salt, mf->saltlen, mf->iterations[i],
			    mf->keys[i], TK_KEYLEN) == -1)
				return (NULL);
			mf->derived++;
		}
		if ((pt = tk_fernet_decrypt(mf->keys[i], token, &len)) == NULL)
			continue;
		/* A secret with a NUL in it cannot travel as a string. */
		if (memchr(pt, '\0', len) != NULL) {
			freezero(pt, len + 1);
			return (NULL);
		}
		return ((char *)pt);
	}
	return (NULL);
}

void
tk_multifernet_clear(struct tk_multifernet *mf)
{
	explicit_bzero(mf, sizeof(*mf));
}
