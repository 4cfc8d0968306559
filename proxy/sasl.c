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

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

uint8_t *
base64_decode(const char *in, size_t len, size_t *outlen)
{
	uint8_t		*out;
	size_t		 i, o = 0, pad = 0;
	uint32_t	 v;
	int		 j, d;

	if (len % 4 != 0)
		return NULL;
	if (len > 0 && in[len - 1] == '=')
		pad++;
	if (len > 1 && in[len - 2] == '=')
		pad++;
	if ((out = malloc(len / 4 * 3 + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i += 4) {
		v = 0;
		for (j = 0; j < 4; j++) {
			if (i + 4 == len && j >= 4 - (int)pad) {
				v <<= 6;
				continue;
			}
			if ((d = b64val((unsigned char)in[i + j])) == -1) {
				freezero(out, len / 4 * 3 + 1);
				return NULL;
			}
			v = (v << 6) | (uint32_t)d;
		}
		out[o++] = v >> 16;
		if (i + 4 < len || pad < 2)
			out[o++] = (v >> 8) & 0xff;
		if (i + 4 < len || pad < 1)
			out[o++] = v & 0xff;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

char *
base64_encode(const uint8_t *in, size_t len)
{
	char		*out;
	size_t		 i, o = 0;
	uint32_t	 v;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	if ((out = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i += 3) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = b64chars[(v >> 18) & 0x3f];
		out[o++] = b64chars[(v >> 12) & 0x3f];
		out[o++] = i + 1 < len ? b64chars[(v >> 6) & 0x3f] : '=';
		out[o++] = i + 2 < len ? b64chars[v & 0x3f] : '=';
	}
	out[o] = '\0';
	return out;
}

enum sasl_plain_result
sasl_plain_decode(const char *in, size_t len, char **user, char **pass)
{
	uint8_t		*msg;
	size_t		 mlen, n1, n2;
	uint8_t		*p1, *p2;

	*user = *pass = NULL;
	if (len == 1 && in[0] == '=')
		len = 0;
	if ((msg = base64_decode(in, len, &mlen)) == NULL)
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
	b64 = base64_encode((uint8_t *)s, n);
	freezero(s, n);
	return b64;
}
