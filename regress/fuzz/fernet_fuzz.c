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
 * The Python proxy's encrypted cache as tokend imports it
 * (tokend/fernet.c): Fernet tokens, token_salt and token_iterations of
 * the MultiFernet.  The first byte picks what the rest is:
 *
 *	bit 0 clear	a token, decrypted with a fixed key
 *	bit 0 set	version, time, IV and ciphertext, signed here with
 *			the fixed key: the decryption and padding checks
 *			after a good MAC
 *	bit 1 set	also "salt NL iterations NL token" for the
 *			MultiFernet, its keys preset to the fixed key (the
 *			PBKDF2 runs of 1.2 million iterations are not
 *			fuzzed, only what is parsed around them)
 *
 * DEPS: tokend/fernet.c tokend/crypto.c common/base64.c common/secret.c common/log.c
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "fuzz.h"

/* The key of regress/fuzz/corpus/fernet, as Python's Fernet takes it. */
static const uint8_t	 key[TK_KEYLEN] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init(0);
	return (0);
}

static char *
str(const uint8_t *p, size_t n)
{
	char	*s;

	if ((s = malloc(n + 1)) == NULL)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return (s);
}

static void
decrypt(const char *token)
{
	uint8_t	*pt;
	size_t	 len;

	if ((pt = tk_fernet_decrypt(key, token, &len)) != NULL) {
		if (pt[len] != '\0')
			abort();
		freezero(pt, len + 1);
	}
}

static void
signed_token(const uint8_t *p, size_t n)
{
	uint8_t	*raw;
	char	*tok;

	if ((raw = malloc(n + TK_MACLEN)) == NULL)
		abort();
	memcpy(raw, p, n);
	if (tk_hmac(key, 16, raw, n, NULL, 0, raw + n) == -1)
		abort();
	if ((tok = b64_encode(raw, n + TK_MACLEN, B64_URL)) == NULL)
		abort();
	decrypt(tok);
	free(tok);
	free(raw);
}

static void
multifernet(const uint8_t *p, size_t n)
{
	struct tk_multifernet	 mf;
	const uint8_t		*nl1, *nl2;
	char			*salt, *iter, *tok, *pt;
	int			 i;

	if ((nl1 = memchr(p, '\n', n)) == NULL ||
	    (nl2 = memchr(nl1 + 1, '\n', n - (nl1 + 1 - p))) == NULL)
		return;
	salt = str(p, nl1 - p);
	iter = str(nl1 + 1, nl2 - (nl1 + 1));
	tok = str(nl2 + 1, n - (nl2 + 1 - p));
	if (tk_multifernet_init(&mf, "password", salt,
	    *iter != '\0' ? iter : NULL) == 0) {
		if (mf.nkeys < 1 || mf.nkeys > TK_MF_MAXKEYS ||
		    mf.saltlen == 0 || mf.saltlen > sizeof(mf.salt))
			abort();
		for (i = 0; i < mf.nkeys; i++) {
			if (mf.iterations[i] == 0)
				abort();
			memcpy(mf.keys[i], key, sizeof(key));
		}
		mf.derived = mf.nkeys;
		if ((pt = tk_multifernet_decrypt(&mf, tok)) != NULL)
			str_freezero(pt);
		tk_multifernet_clear(&mf);
	}
	free(salt);
	free(iter);
	free(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*tok;

	if (size < 1)
		return (0);
	if (data[0] & 2) {
		multifernet(data + 1, size - 1);
		return (0);
	}
	if (data[0] & 1)
		signed_token(data + 1, size - 1);
	else {
		tok = str(data + 1, size - 1);
		decrypt(tok);
		free(tok);
	}
	return (0);
}
