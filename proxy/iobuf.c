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
 * A byte buffer for one direction of a connection.  Bytes that leave it
 * are wiped, since a client's login line (password included) passes
 * through; an empty buffer that grew large is given back.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"

#define IOBUF_KEEP	(2 * IO_READ_CHUNK)

size_t
iobuf_len(const struct iobuf *b)
{
	return b->wpos - b->rpos;
}

uint8_t *
iobuf_data(const struct iobuf *b)
{
	return b->buf + b->rpos;
}

uint8_t *
iobuf_reserve(struct iobuf *b, size_t n)
{
	size_t	 len = iobuf_len(b), nsize;
	uint8_t	*nbuf;

	if (b->size - b->wpos >= n)
		return b->buf + b->wpos;
	if (b->rpos > 0 && b->size - len >= n) {
		/* Move the data to the front and wipe what it leaves. */
		memmove(b->buf, b->buf + b->rpos, len);
		explicit_bzero(b->buf + len, b->wpos - len);
		b->rpos = 0;
		b->wpos = len;
		return b->buf + b->wpos;
	}
	if (len > SIZE_MAX / 2 - n)
		return NULL;
	nsize = b->size ? b->size : 4096;
	while (nsize < len + n)
		nsize *= 2;
	if ((nbuf = malloc(nsize)) == NULL)
		return NULL;
	if (len > 0)
		memcpy(nbuf, b->buf + b->rpos, len);
	freezero(b->buf, b->size);
	b->buf = nbuf;
	b->size = nsize;
	b->rpos = 0;
	b->wpos = len;
	return b->buf + b->wpos;
}

void
iobuf_commit(struct iobuf *b, size_t n)
{
	b->wpos += n;
}

int
iobuf_add(struct iobuf *b, const void *data, size_t n)
{
	uint8_t	*p;

	if (n == 0)
		return 0;
	if ((p = iobuf_reserve(b, n)) == NULL)
		return -1;
	memcpy(p, data, n);
	b->wpos += n;
	return 0;
}

void
iobuf_drain(struct iobuf *b, size_t n)
{
	if (n > iobuf_len(b))
		n = iobuf_len(b);
	explicit_bzero(b->buf + b->rpos, n);
	b->rpos += n;
	if (b->rpos == b->wpos) {
		b->rpos = b->wpos = 0;
		if (b->size > IOBUF_KEEP) {
			free(b->buf);
			b->buf = NULL;
			b->size = 0;
		}
	}
}

void
iobuf_clear(struct iobuf *b)
{
	freezero(b->buf, b->size);
	b->buf = NULL;
	b->size = b->rpos = b->wpos = 0;
}
