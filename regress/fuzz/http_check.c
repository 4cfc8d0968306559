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
 * What a response of proxy/http.c must look like (fuzz.h), for the
 * harnesses that drive it as a client would.
 */

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static int
is_tchar(char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL));
}

const char *
fuzz_http_response(const char *buf, size_t len, int head)
{
	const char	*p, *q, *v, *eol, *end = buf + len, *body = NULL;
	size_t		 clen = (size_t)-1;
	int		 close_seen = 0;

	if (len < 17 || memcmp(buf, "HTTP/1.1 ", 9) != 0 ||
	    buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' ||
	    buf[11] < '0' || buf[11] > '9' || buf[12] != ' ')
		abort();
	if ((eol = memmem(buf, len, "\r\n", 2)) == NULL)
		abort();
	for (p = eol + 2; p < end; p = eol + 2) {
		if ((eol = memmem(p, end - p, "\r\n", 2)) == NULL)
			abort();
		if (eol == p) {
			body = eol + 2;
			break;
		}
		/* A header line: a token, ": ", a value without controls. */
		if ((q = memchr(p, ':', eol - p)) == NULL || q == p ||
		    q + 1 == eol || q[1] != ' ')
			abort();
		for (v = p; v < q; v++)
			if (!is_tchar(*v))
				abort();
		for (v = q + 2; v < eol; v++)
			if (((unsigned char)*v < 0x20 && *v != '\t') ||
			    *v == 0x7f)
				abort();
		if (eol - p == 17 && memcmp(p, "Connection: close", 17) == 0)
			close_seen = 1;
		if (eol - p > 16 && memcmp(p, "Content-Length: ", 16) == 0) {
			if (clen != (size_t)-1)
				abort();
			clen = strtoul(p + 16, NULL, 10);
		}
	}
	if (body == NULL || !close_seen || clen == (size_t)-1)
		abort();
	/* head -1: the harness cannot tell (a HEAD the server refused). */
	if ((size_t)(end - body) != (head == 1 ? 0 : clen) &&
	    !(head == -1 && end == body))
		abort();
	return (body);
}
