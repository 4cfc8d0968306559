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
 * A record of the token store as tokend reads it from disk
 * (tokend/record.c): the JSON, its base64 fields and times.  A record
 * that decodes is encoded again and must decode to the same fields,
 * and its ciphertext is opened with a key (which fails unless the input
 * was sealed with it).
 *
 * DEPS: tokend/record.c tokend/crypto.c common/base64.c common/secret.c common/log.c
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init(0);
	record_init();
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t	 key[TK_KEYLEN];
	struct record		 r, r2;
	struct record_secrets	 s;
	const char		*why;
	char			*text;

	if (record_decode((const char *)data, size, &r, &why) == -1) {
		if (why == NULL)
			abort();
		return (0);
	}
	if ((text = record_encode(&r)) == NULL)
		abort();
	if (record_decode(text, strlen(text), &r2, &why) == -1 ||
	    strcmp(r.account, r2.account) != 0 ||
	    r.iterations != r2.iterations || r.ctlen != r2.ctlen ||
	    memcmp(r.ciphertext, r2.ciphertext, r.ctlen) != 0 ||
	    memcmp(r.salt, r2.salt, sizeof(r.salt)) != 0 ||
	    memcmp(r.nonce, r2.nonce, sizeof(r.nonce)) != 0 ||
	    r.access_token_expiry != r2.access_token_expiry ||
	    r.created != r2.created || r.last_refresh != r2.last_refresh ||
	    r.last_use != r2.last_use)
		abort();
	memset(&s, 0, sizeof(s));
	if (record_unseal(&r, key, &s) == 0)
		record_secrets_clear(&s);
	str_freezero(text);
	record_clear(&r);
	record_clear(&r2);
	return (0);
}
