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

#ifndef BASE64_H
#define BASE64_H

#include <stddef.h>
#include <stdint.h>

#define B64_URL		0x01	/* alphabet -_ instead of +/ */
#define B64_NOPAD	0x02	/* encode: no '=' */
#define B64_LENIENT	0x04	/* decode: skip bytes outside the alphabet */
#define B64_PADDED	0x08	/* decode: the padding must be there */

/* NUL-terminated text, or NULL on allocation failure. */
char	*b64_encode(const void *, size_t, int flags);
/*
 * Decoded bytes (NUL-terminated for convenience), or NULL if malformed:
 * padding is optional unless B64_PADDED, must be right when present, and
 * the trailing bits must be zero.
 */
uint8_t	*b64_decode(const char *, size_t *outlen, int flags);
uint8_t	*b64_decode_len(const char *, size_t len, size_t *outlen, int flags);

#endif /* BASE64_H */
