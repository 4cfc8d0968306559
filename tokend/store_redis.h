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


/* The Redis backend of the token store (store_redis.c). */

#ifndef TOKEND_STORE_REDIS_H
#define TOKEND_STORE_REDIS_H

#include <stdint.h>

#include <hiredis.h>

#include "store.h"

/*
 * Make st (opened by store_init) keep its records in Redis; ask() has
 * the parent open a connection, whose answer goes to store_redis_fd.
 */
int	 store_redis_init(struct store *, const char *prefix,
	    void (*ask)(void));
void	 store_redis_fd(struct store *, int fd, const char *why);
/* NULL when not Redis or available, else why not and since when. */
const char *store_redis_state(struct store *, int64_t *since);
/* Every record key (at most 100000), then a record's text by key. */
void	 store_redis_scan(struct store *, void (*)(const char *, size_t,
	    void *), void *);
char	*store_redis_get(struct store *, const char *key, size_t keylen,
	    size_t *len);

/* Write text as an account's record, whatever is there; 0 or -1. */
int	 store_redis_put(struct store *, const char *account,
	    const char *text, size_t len);
/* 1 if key is the record key of account. */
int	 store_redis_key_is(struct store *, const char *key, size_t keylen,
	    const char *account);

/*
 * Reply checks, also for the tests: a version (a decimal string or a
 * non-negative integer), 0 or -1; the answer to HMGET v d: 1 and rec
 * filled, 0 no record, -1 with *why (account NULL: any account).
 */
int	 store_redis_version(const redisReply *, uint64_t *);
int	 store_redis_record_reply(const redisReply *, const char *account,
	    struct record *, const char **why);

#endif /* TOKEND_STORE_REDIS_H */
