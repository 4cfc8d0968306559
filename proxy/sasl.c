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

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sasl.h"

enum sasl_plain_result
sasl_plain_decode(const char *in, size_t len, char **user, char **pass)
{
	uint8_t		*msg;
	size_t		 mlen, n1, n2;
	uint8_t		*p1, *p2;

	*user = *pass = NULL;
	if (len == 1 && in[0] == '=')
		len = 0;
	if ((msg = b64_decode_len(in, len, &mlen, B64_PADDED)) == NULL)
		return SASL_PLAIN_BADBASE64;
	/* Exactly two NULs: authzid NUL authcid NUL passwd. */
	if ((p1 = memchr(msg, '\0', mlen)) == NULL ||
	    (p2 = memchr(p1 + 1, '\0', mlen - (p1 + 1 - msg))) == NULL ||
	    memchr(p2 + 1, '\0', mlen - (p2 + 1 - msg)) != NULL) {
		freezero(msg, mlen + 1);
		return SASL_PLAIN_MALFORMED;
	}
	n1 = p2 - (p1 + 1);
	n2 = mlen - (p2 + 1 - msg);
	if ((*user = strndup((char *)p1 + 1, n1)) == NULL ||
	    (*pass = strndup((char *)p2 + 1, n2)) == NULL) {
		free(*user);
		*user = NULL;
		freezero(msg, mlen + 1);
		return SASL_PLAIN_MALFORMED;
	}
	freezero(msg, mlen + 1);
	return SASL_PLAIN_OK;
}

char *
sasl_xoauth2(const char *user, const char *token)
{
	char	*s, *b64;
	int	 n;

	if ((n = asprintf(&s, "user=%s\001auth=Bearer %s\001\001", user,
	    token)) == -1)
		return NULL;
	b64 = b64_encode(s, n, 0);
	freezero(s, n);
	return b64;
}
