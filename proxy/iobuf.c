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
 * A byte buffer for one direction of a connection.  Before login a
 * client's login line (password included) passes through, so bytes that
 * leave the buffer are wiped; after login it carries mail, which is not
 * worth the CPU (iobuf_nowipe).  An emptied buffer is given back at
 * once, so that an idle connection holds none; large ones go to a small
 * pool shared by all connections, so that a relay moving a stream of
 * bursts does not fault fresh pages in for each burst.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"

#define IOBUF_MIN		4096
#define IOBUF_POOL_MIN		IO_READ_CHUNK	/* pooled from this size */
#define IOBUF_POOL_SLOTS	16
#define IOBUF_POOL_BYTES	(4 * 1024 * 1024)

struct pooled {
	uint8_t	*buf;
	size_t	 size;
};

static struct pooled	 pool[IOBUF_POOL_SLOTS];
static size_t		 npool, pool_bytes;

/* A buffer of at least want bytes: the smallest pooled one that fits. */
static uint8_t *
buf_get(size_t want, size_t *size)
{
	size_t	 i, best = npool, nsize;
	uint8_t	*buf;

	if (want >= IOBUF_POOL_MIN / 2) {
		for (i = 0; i < npool; i++)
			if (pool[i].size >= want && (best == npool ||
			    pool[i].size < pool[best].size))
				best = i;
		if (best < npool) {
			buf = pool[best].buf;
			*size = pool[best].size;
			pool_bytes -= *size;
			pool[best] = pool[--npool];
			return buf;
		}
	}
	nsize = IOBUF_MIN;
	while (nsize < want) {
		if (nsize > SIZE_MAX / 2)
			return NULL;
		nsize *= 2;
	}
	if ((buf = malloc(nsize)) == NULL)
		return NULL;
	*size = nsize;
	return buf;
}

/* Its bytes were wiped already if they had to be. */
static void
buf_put(uint8_t *buf, size_t size)
{
	if (buf == NULL)
		return;
	if (size >= IOBUF_POOL_MIN && npool < IOBUF_POOL_SLOTS &&
	    pool_bytes + size <= IOBUF_POOL_BYTES) {
		pool[npool].buf = buf;
		pool[npool].size = size;
		npool++;
		pool_bytes += size;
		return;
	}
	free(buf);
}

void
iobuf_pool_flush(void)
{
	while (npool > 0) {
		npool--;
		free(pool[npool].buf);
		pool[npool].buf = NULL;
	}
	pool_bytes = 0;
}

void
iobuf_nowipe(struct iobuf *b)
{
	b->nowipe = 1;
}

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
		if (!b->nowipe)
			explicit_bzero(b->buf + len, b->wpos - len);
		b->rpos = 0;
		b->wpos = len;
		return b->buf + b->wpos;
	}
	if (len > SIZE_MAX / 2 - n)
		return NULL;
	if ((nbuf = buf_get(len + n, &nsize)) == NULL)
		return NULL;
	if (len > 0) {
		memcpy(nbuf, b->buf + b->rpos, len);
		if (!b->nowipe)
			explicit_bzero(b->buf + b->rpos, len);
	}
	buf_put(b->buf, b->size);
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
	if (!b->nowipe && n > 0)
		explicit_bzero(b->buf + b->rpos, n);
	b->rpos += n;
	if (b->rpos == b->wpos) {
		/* Empty: an idle connection keeps no buffer. */
		buf_put(b->buf, b->size);
		b->buf = NULL;
		b->size = b->rpos = b->wpos = 0;
	}
}

int
iobuf_move(struct iobuf *to, struct iobuf *from)
{
	size_t	len = iobuf_len(from);

	if (len == 0)
		return 0;
	if (iobuf_len(to) == 0 && to->nowipe == from->nowipe) {
		/* Hand the buffer over instead of copying its bytes. */
		buf_put(to->buf, to->size);
		to->buf = from->buf;
		to->size = from->size;
		to->rpos = from->rpos;
		to->wpos = from->wpos;
		from->buf = NULL;
		from->size = from->rpos = from->wpos = 0;
		return 0;
	}
	if (iobuf_add(to, iobuf_data(from), len) == -1)
		return -1;
	iobuf_drain(from, len);
	return 0;
}

void
iobuf_clear(struct iobuf *b)
{
	if (!b->nowipe && iobuf_len(b) > 0)
		explicit_bzero(b->buf + b->rpos, iobuf_len(b));
	buf_put(b->buf, b->size);
	b->buf = NULL;
	b->size = b->rpos = b->wpos = 0;
}
