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
 * What Redis answers tokend (tokend/redis_io.c's bounded reader) and
 * the checks of a record answer (tokend/store_redis.c): the input is a
 * byte stream from a hostile or broken Redis, fed in two pieces split
 * at its first byte's value; every reply parsed from it goes through
 * the record and version checks, which must either refuse it or give a
 * record naming the account asked for.
 *
 * DEPS: tokend/redis_io.c tokend/store_redis.c tokend/store.c tokend/record.c tokend/crypto.c common/log.c common/secret.c common/base64.c
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "redis_io.h"
#include "store_redis.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init(0);
	record_init();
	return (0);
}

static void
fuzz_reply(const redisReply *r)
{
	struct record	 rec;
	const char	*why;
	uint64_t	 v;
	size_t		 i;

	switch (store_redis_record_reply(r, "a@example.com", &rec, &why)) {
	case 1:
		if (strcmp(rec.account, "a@example.com") != 0)
			abort();
		record_clear(&rec);
		break;
	case 0:
		break;
	default:
		if (why == NULL)
			abort();
	}
	(void)store_redis_version(r, &v);
	if (r->type == REDIS_REPLY_ARRAY) {
		if (r->elements > REDIS_ARRAY_MAX)
			abort();
		for (i = 0; i < r->elements; i++)
			(void)store_redis_version(r->element[i], &v);
	}
	if (r->type == REDIS_REPLY_STRING && r->len > REDIS_REPLY_MAX)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	redisReader	*rd;
	void		*reply;
	size_t		 split;
	int		 n = 0;

	if ((rd = redis_io_reader()) == NULL)
		abort();
	split = size > 0 ? data[0] % (size + 1) : 0;
	if (redisReaderFeed(rd, (const char *)data, split) != REDIS_OK ||
	    redisReaderFeed(rd, (const char *)data + split, size - split) !=
	    REDIS_OK)
		abort();
	while (n++ < 64) {
		reply = NULL;
		if (redisReaderGetReply(rd, &reply) != REDIS_OK ||
		    reply == NULL)
			break;
		fuzz_reply(reply);
		freeReplyObject(reply);
	}
	redisReaderFree(rd);
	return (0);
}
