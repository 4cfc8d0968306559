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
 * tokend's cryptography: password key derivation, the AEAD that seals
 * records, constant-time comparison, randomness, base64, and the Fernet
 * decoder used only to import the Python proxy's cached tokens.
 */

#ifndef TOKEND_CRYPTO_H
#define TOKEND_CRYPTO_H

#include "secret.h"
#include "base64.h"

#include <stddef.h>
#include <stdint.h>

#define TK_KEYLEN	32	/* AES-256-GCM key, PBKDF2 output */
#define TK_SALTLEN	16
#define TK_NONCELEN	12
#define TK_TAGLEN	16
#define TK_MACLEN	32	/* HMAC-SHA256 */

/* Known-answer checks that also load libcrypto's providers; 0 or -1. */
int	 tk_crypto_init(void);

/* Number of PBKDF2 runs so far (tests check a warm login runs none). */
extern unsigned long	 tk_kdf_runs;

/* PBKDF2-HMAC-SHA256; 0 or -1. */
int	 tk_kdf(const char *password, size_t passlen, const uint8_t *salt,
	    size_t saltlen, unsigned int iterations, uint8_t *out,
	    size_t outlen);
/* HMAC-SHA256 of (a, b) under key; 0 or -1. */
int	 tk_hmac(const uint8_t *key, size_t keylen, const void *a,
	    size_t alen, const void *b, size_t blen, uint8_t out[TK_MACLEN]);

/*
 * AES-256-GCM.  seal writes ptlen + TK_TAGLEN bytes to out; open writes
 * ctlen - TK_TAGLEN bytes and fails (-1) on any tampering.
 */
int	 tk_seal(const uint8_t key[TK_KEYLEN], const uint8_t nonce[TK_NONCELEN],
	    const void *aad, size_t aadlen, const void *pt, size_t ptlen,
	    uint8_t *out);
int	 tk_open(const uint8_t key[TK_KEYLEN], const uint8_t nonce[TK_NONCELEN],
	    const void *aad, size_t aadlen, const uint8_t *ct, size_t ctlen,
	    uint8_t *out);

/* 1 if equal, in time independent of the contents. */
int	 tk_equal(const void *, const void *, size_t);
/* 1 if both strings are equal; NULL equals only NULL. */
int	 tk_strequal(const char *, const char *);
void	 tk_random(void *, size_t);


/*
 * Fernet: key is the 32-byte PBKDF2 output (signing
 * key, then AES-128 key).  No TTL.  Returns the plaintext, NUL-terminated,
 * or NULL when the token is invalid for this key.
 */
uint8_t	*tk_fernet_decrypt(const uint8_t key[TK_KEYLEN], const char *token,
	    size_t *outlen);

/*
 * The Python proxy's MultiFernet: keys are derived lazily from the
 * password and salt for the iteration set {1200000, stored, 100000},
 * highest first, and each value is tried with each key in turn.
 */
#define TK_MF_MAXKEYS	3
struct tk_multifernet {
	const char	*password;
	uint8_t		 salt[TK_SALTLEN * 4];
	size_t		 saltlen;
	unsigned int	 iterations[TK_MF_MAXKEYS];
	int		 nkeys;
	int		 derived;	/* keys[0..derived-1] are valid */
	uint8_t		 keys[TK_MF_MAXKEYS][TK_KEYLEN];
};

/*
 * token_salt is the standard base64 text of the Python config,
 * token_iterations its decimal text (NULL: 100000).  -1 if the salt is
 * unusable (Python would make a new one, so nothing can decrypt).
 */
int	 tk_multifernet_init(struct tk_multifernet *, const char *password,
	    const char *token_salt, const char *token_iterations);
/* Plaintext string, or NULL if no key decrypts the token. */
char	*tk_multifernet_decrypt(struct tk_multifernet *, const char *token);
void	 tk_multifernet_clear(struct tk_multifernet *);

#endif /* TOKEND_CRYPTO_H */
