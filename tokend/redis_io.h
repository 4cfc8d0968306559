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
 * Requests to Redis on a descriptor tokend did not open (see
 * redis_io.c for why the I/O is done here rather than by hiredis).
 */

#ifndef TOKEND_REDIS_IO_H
#define TOKEND_REDIS_IO_H

#include <stddef.h>

#include <hiredis.h>

#define REDIS_IO_TIMEOUT_MS	2000	/* one request, both ways */
#define REDIS_REPLY_MAX		(256 * 1024)	/* bytes of one reply */
#define REDIS_ARRAY_MAX		1024	/* elements of one array */

struct redis_conn {
	int		 fd;		/* -1: none */
	redisReader	*reader;
};

void	 redis_io_init(struct redis_conn *);
/* Take a connected descriptor (made non-blocking); 0 or -1. */
int	 redis_io_attach(struct redis_conn *, int fd);
void	 redis_io_close(struct redis_conn *);
/*
 * Send one command and wait for its reply: the reply (freeReplyObject)
 * or NULL when there is no connection, it failed, timed out or sent
 * something that is not a bounded reply; the connection is then
 * closed.  *why says what happened.
 */
redisReply *redis_io_command(struct redis_conn *, int argc,
	    const char **argv, const size_t *argvlen, const char **why);
/*
 * A reader that refuses arrays over REDIS_ARRAY_MAX elements and
 * strings over REDIS_REPLY_MAX bytes (hiredis 0.14 has no such bound).
 */
redisReader *redis_io_reader(void);

#endif /* TOKEND_REDIS_IO_H */
