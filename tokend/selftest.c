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

#include <stdlib.h>
#include <string.h>

#include "crypto.h"

/*
 * Run every primitive once, on known answers where there are some:
 * libcrypto loads its providers now, while files can still be read,
 * and a broken library stops tokend before it guards any token.
 */
int
tk_crypto_init(void)
{
	static const uint8_t	 want[] = { 0x12, 0x0f, 0xb6, 0xcf };
	static const char	 ftok[] = "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0OD"
	    "y021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4Iwq"
	    "DA==";
	uint8_t			 key[TK_KEYLEN], nonce[TK_NONCELEN];
	uint8_t			 ct[4 + TK_TAGLEN], pt[4], mac[TK_MACLEN];
	uint8_t			*fkey, *fpt;
	size_t			 len;
	int			 ok;

	tk_random(nonce, sizeof(nonce));
	ok = tk_kdf("password", 8, (const uint8_t *)"salt", 4, 1, key,
	    sizeof(key)) == 0 && memcmp(key, want, sizeof(want)) == 0 &&
	    tk_hmac(key, sizeof(key), "a", 1, "b", 1, mac) == 0 &&
	    tk_seal(key, nonce, "", 0, "test", 4, ct) == 0 &&
	    tk_open(key, nonce, "", 0, ct, sizeof(ct), pt) == 0 &&
	    memcmp(pt, "test", 4) == 0;
	tk_kdf_runs = 0;
	if (!ok)
		return (-1);
	if ((fkey = b64_decode("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF"
	    "4e4=", &len, B64_URL)) == NULL)
		return (-1);
	fpt = len == TK_KEYLEN ? tk_fernet_decrypt(fkey, ftok, &len) : NULL;
	ok = fpt != NULL && len == 5 && memcmp(fpt, "hello", 5) == 0;
	free(fpt);
	free(fkey);
	return (ok ? 0 : -1);
}
