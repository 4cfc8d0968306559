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
 * The HTTP request parser every HTTP listener uses (common/http_request.c:
 * authd's redirect listener, the proxy's HTTP listener): request line,
 * headers, Content-Length body, limits, and the Accept q-values.  The
 * first byte picks the limits (bit 0: a body may be 64 bytes, else
 * none; bit 1: a 256-byte head, else 8192); the rest is what a client
 * sent.  A complete request is checked for what the servers rely on:
 * it took no more than it was given, its path is where its target
 * starts, and the body is Content-Length bytes.  Each prefix of the
 * input is parsed too, as the bytes arrive piece by piece.
 *
 * DEPS: common/http_request.c common/log.c
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_request.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init(0);
	return (0);
}

static int
parse_one(const char *buf, size_t len, const struct http_limits *lim)
{
	struct http_request	 req;
	const char		*types[] = { "text/plain",
	    "application/openmetrics-text", "text/html" };
	size_t			 used, i;
	int			 r, q;

	r = http_request_parse(buf, len, lim, &req, &used);
	if (r != HTTP_REQ_DONE) {
		if (used != 0 || req.head != NULL)
			abort();
		return (r);
	}
	if (used == 0 || used > len || req.method == NULL ||
	    req.path == NULL || req.target == NULL ||
	    strncmp(req.target, req.path, strlen(req.path)) != 0 ||
	    req.body == NULL || strlen(req.body) > req.content_length ||
	    req.content_length > lim->body_max)
		abort();
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		q = http_accept_quality(req.accept, types[i]);
		if (q < 0 || q > 1000)
			abort();
	}
	http_request_clear(&req);
	return (r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_limits	 lim;
	const char		*buf;
	char			*s;
	size_t			 len, i;
	int			 r;

	if (size < 1)
		return (0);
	lim.body_max = data[0] & 1 ? 64 : 0;
	lim.head_max = data[0] & 2 ? 256 : HTTP_HEAD_MAX;
	buf = (const char *)data + 1;
	len = size - 1;
	r = parse_one(buf, len, &lim);
	/* A shorter prefix never completes when the whole is refused. */
	for (i = 0; i < len && len < 2048; i++)
		if (parse_one(buf, i, &lim) == HTTP_REQ_DONE &&
		    r != HTTP_REQ_DONE)
			abort();

	/* The input as an Accept value. */
	if ((s = malloc(len + 1)) == NULL)
		abort();
	memcpy(s, buf, len);
	s[len] = '\0';
	r = http_accept_quality(s, "application/openmetrics-text");
	if (r < 0 || r > 1000)
		abort();
	free(s);
	return (0);
}
