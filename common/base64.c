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

/* Base64 and base64url (RFC 4648), for every process. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *
b64_encode(const void *data, size_t len, int flags)
{
	const uint8_t	*p = data;
	const char	*alpha = (flags & B64_URL) ? b64_url : b64_std;
	char		*out, *o;
	uint32_t	 v;
	size_t		 i, rem;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return (NULL);
	if ((out = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return (NULL);
	o = out;
	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = alpha[v >> 18 & 63];
		*o++ = alpha[v >> 12 & 63];
		*o++ = alpha[v >> 6 & 63];
		*o++ = alpha[v & 63];
	}
	rem = len - i;
	if (rem > 0) {
		v = (uint32_t)p[i] << 16;
		if (rem == 2)
			v |= (uint32_t)p[i + 1] << 8;
		*o++ = alpha[v >> 18 & 63];
		*o++ = alpha[v >> 12 & 63];
		if (rem == 2)
			*o++ = alpha[v >> 6 & 63];
		if (!(flags & B64_NOPAD)) {
			if (rem == 1)
				*o++ = '=';
			*o++ = '=';
		}
	}
	*o = '\0';
	return (out);
}

static int
b64_value(int c, int url)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == (url ? '-' : '+'))
		return (62);
	if (c == (url ? '_' : '/'))
		return (63);
	return (-1);
}

/*
 * Padding is optional on input; when present it must be right.  Data
 * after the padding is malformed.
 */
uint8_t *
b64_decode_len(const char *s, size_t len, size_t *outlen, int flags)
{
	uint8_t		*out;
	uint32_t	 acc = 0;
	const char	*end = s + len;
	size_t		 n = 0, o = 0, pad = 0;
	int		 v, url = (flags & B64_URL) != 0;

	/* SASL wants the padding a strict decoder would insist on. */
	if ((flags & B64_PADDED) && len % 4 != 0)
		return (NULL);
	if ((out = malloc(len / 4 * 3 + 3 + 1)) == NULL)
		return (NULL);
	for (; s < end; s++) {
		if (*s == '=') {
			pad++;
			continue;
		}
		if ((v = b64_value((unsigned char)*s, url)) == -1) {
			if (flags & B64_LENIENT)
				continue;
			goto bad;
		}
		if (pad > 0)
			goto bad;
		acc = acc << 6 | (uint32_t)v;
		if (++n % 4 == 0) {
			out[o++] = acc >> 16;
			out[o++] = acc >> 8;
			out[o++] = acc;
			acc = 0;
		}
	}
	switch (n % 4) {
	case 0:
		break;
	case 1:
		goto bad;
	case 2:
		if (acc & 0xf)		/* non-canonical trailing bits */
			goto bad;
		out[o++] = acc >> 4;
		break;
	case 3:
		if (acc & 0x3)
			goto bad;
		out[o++] = acc >> 10;
		out[o++] = acc >> 2;
		break;
	}
	if (pad > 0 && (n + pad) % 4 != 0)
		goto bad;
	if (pad > 2)
		goto bad;
	out[o] = '\0';
	*outlen = o;
	return (out);
 bad:
	freezero(out, len / 4 * 3 + 3 + 1);
	return (NULL);
}

uint8_t *
b64_decode(const char *s, size_t *outlen, int flags)
{
	return (b64_decode_len(s, strlen(s), outlen, flags));
}
