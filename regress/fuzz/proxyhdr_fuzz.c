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
 * The PROXY protocol header a trusted load balancer sends first, v1
 * text and v2 binary with TLVs (proxy/proxyhdr.c), given whole and in
 * every prefix a slow sender could leave in the buffer.
 *
 * DEPS: proxy/proxyhdr.c common/log.c
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxyhdr.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init(0);
	return (0);
}

static ssize_t
parse(const uint8_t *data, size_t size)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = 0;
	const char		*err = NULL;
	uint8_t			*copy;
	ssize_t			 n;

	/* An exact copy: reading past the bytes received is caught. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		abort();
	if (size > 0)
		memcpy(copy, data, size);
	memset(&ss, 0, sizeof(ss));
	n = proxyhdr_parse(copy, size, &ss, &sslen, &err);
	free(copy);
	if (n > (ssize_t)size || (n > 0 && (size_t)sslen > sizeof(ss)) ||
	    (n < 0 && err == NULL))
		abort();
	return (n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t	 i;
	ssize_t	 whole, n;

	whole = parse(data, size);
	/*
	 * As the header says: a prefix of a valid header needs more bytes,
	 * and a header complete in a prefix is the same in the whole.
	 */
	for (i = 0; i < size && i <= PROXYHDR_MAX; i++) {
		n = parse(data, i);
		if ((n > 0 && n != whole) ||
		    (whole > 0 && (ssize_t)i < whole && n != 0))
			abort();
	}
	return (0);
}
