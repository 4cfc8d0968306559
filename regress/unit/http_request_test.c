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
 * The HTTP request parser (common/http_request.c): request line, path
 * and query, headers (any case, blanks trimmed), a body by
 * Content-Length, incomplete requests at every cut, the limits (413),
 * malformed requests (400), Transfer-Encoding (501), other HTTP versions
 * (505), and the Accept q-values that choose a media type.
 *
 * DEPS: common/http_request.c
 */

#include <sys/types.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_request.h"

static int	failures;

static void
check(int ok, const char *fmt, ...)
{
	va_list	ap;

	printf(ok ? "PASS: " : "FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok)
		failures++;
}

static const struct http_limits	lim = { 1024, 64 };

static int
parse(const char *s, struct http_request *req, size_t *used)
{
	return (http_request_parse(s, strlen(s), &lim, req, used));
}

static int
streq(const char *a, const char *b)
{
	return (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
test_get(void)
{
	struct http_request	 req;
	const char		*s = "GET /metrics?a=1&b=2#frag HTTP/1.1\r\n"
	    "Host: 127.0.0.1:9100\r\n"
	    "accept:   application/openmetrics-text;version=1.0.0  \r\n"
	    "X-Empty:\r\n"
	    "Cookie: sid=abc\r\n\r\nNEXT";
	size_t			 used;
	int			 r;

	r = parse(s, &req, &used);
	check(r == HTTP_REQ_DONE, "GET: complete (got %d)", r);
	if (r != HTTP_REQ_DONE)
		return;
	check(used == strlen(s) - 4, "GET: the request's bytes are taken, "
	    "not what follows (used %zu)", used);
	check(streq(req.method, "GET") && req.minor == 1,
	    "GET: method and version");
	check(streq(req.target, "/metrics?a=1&b=2"),
	    "GET: target without the fragment (%s)", req.target);
	check(streq(req.path, "/metrics") && streq(req.query, "a=1&b=2"),
	    "GET: path and query split");
	check(streq(req.host, "127.0.0.1:9100"), "GET: Host");
	check(streq(req.accept, "application/openmetrics-text;version=1.0.0"),
	    "GET: Accept found in any case, blanks trimmed (%s)", req.accept);
	check(streq(req.cookie, "sid=abc"), "GET: Cookie");
	check(streq(http_request_header(&req, "x-empty"), ""),
	    "GET: an empty header value");
	check(req.content_type == NULL && req.content_length == 0 &&
	    req.body != NULL && req.body[0] == '\0', "GET: no body");
	check(http_request_header(&req, "Missing") == NULL,
	    "GET: a missing header is NULL");
	http_request_clear(&req);
	check(req.method == NULL && req.head == NULL, "clear empties it");

	r = parse("GET / HTTP/1.0\n\n", &req, &used);
	check(r == HTTP_REQ_DONE && req.minor == 0 && streq(req.path, "/") &&
	    req.query == NULL, "HTTP/1.0 with bare LF line ends, no query");
	if (r == HTTP_REQ_DONE)
		http_request_clear(&req);
	s = "\r\n\r\nGET /x? HTTP/1.1\r\n\r\n";
	r = parse(s, &req, &used);
	check(r == HTTP_REQ_DONE && streq(req.query, "") && used == strlen(s),
	    "blank lines before the request line are skipped; an empty query "
	    "is \"\" (used %zu)", used);
	if (r == HTTP_REQ_DONE)
		http_request_clear(&req);
}

static void
test_post(void)
{
	struct http_request	 req;
	const char		*s = "POST /authorise HTTP/1.1\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n"
	    "Content-Length: 13\r\n"
	    "content-length: 13\r\n\r\n"
	    "a=1&password=x";
	size_t			 used, i, n;
	int			 r;

	r = parse(s, &req, &used);
	check(r == HTTP_REQ_DONE, "POST: complete (got %d)", r);
	if (r != HTTP_REQ_DONE)
		return;
	check(req.content_length == 13 && streq(req.body, "a=1&password=") &&
	    used == strlen(s) - 1, "POST: the body is Content-Length bytes "
	    "(%s)", req.body);
	check(streq(req.content_type, "application/x-www-form-urlencoded"),
	    "POST: Content-Type");
	http_request_clear(&req);

	/* Every cut of a complete request is incomplete, never an error. */
	n = strlen(s) - 1;
	for (i = 0; i < n; i++) {
		r = http_request_parse(s, i, &lim, &req, &used);
		if (r != HTTP_REQ_MORE)
			break;
	}
	check(i == n, "POST: every prefix up to %zu bytes is incomplete "
	    "(stopped at %zu, %d)", n, i, r);
	if (r == HTTP_REQ_DONE)
		http_request_clear(&req);
}

static void
refused(const char *what, const char *s, size_t len, int want)
{
	struct http_request	 req;
	size_t			 used = 99;
	int			 r;

	r = http_request_parse(s, len, &lim, &req, &used);
	check(r == want && used == 0 && req.head == NULL,
	    "%s: %d (got %d)", what, want, r);
	if (r == HTTP_REQ_DONE)
		http_request_clear(&req);
}

#define R(what, s, want)	refused(what, s, sizeof(s) - 1, want)

static void
test_refused(void)
{
	char	 big[2048];

	R("no target", "GET\r\n\r\n", 400);
	R("absolute-form target", "GET http://x/ HTTP/1.1\r\n\r\n", 400);
	R("asterisk target", "OPTIONS * HTTP/1.1\r\n\r\n", 400);
	R("no version", "GET /\r\n\r\n", 400);
	R("two spaces", "GET  / HTTP/1.1\r\n\r\n", 400);
	R("lower-case version", "GET / http/1.1\r\n\r\n", 400);
	R("HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505);
	R("HTTP/1.10", "GET / HTTP/1.10\r\n\r\n", 400);
	R("method with a slash", "G/ET / HTTP/1.1\r\n\r\n", 400);
	R("control byte in the target", "GET /\x01 HTTP/1.1\r\n\r\n", 400);
	R("8-bit byte in the target", "GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 400);
	R("NUL in the head", "GET / HTTP/1.1\r\nA: \0\r\n\r\n", 400);
	R("header without colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", 400);
	R("blank before the colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400);
	R("folded header", "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400);
	R("bare CR in a value", "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400);
	R("two Content-Lengths", "POST / HTTP/1.1\r\nContent-Length: 1\r\n"
	    "Content-Length: 2\r\n\r\nab", 400);
	R("signed Content-Length", "POST / HTTP/1.1\r\nContent-Length: +1\r\n"
	    "\r\na", 400);
	R("huge Content-Length", "POST / HTTP/1.1\r\nContent-Length: "
	    "99999999999999999999999999\r\n\r\n", 400);
	R("Content-Length over the body limit", "POST / HTTP/1.1\r\n"
	    "Content-Length: 65\r\n\r\n", 413);
	R("Transfer-Encoding", "POST / HTTP/1.1\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n", 501);
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	refused("a head over the limit without its end", big, 1025, 413);
	refused("a head within the limit without its end", big, 1024,
	    HTTP_REQ_MORE);
	memcpy(big + 1020, " HTTP/1.1\r\n\r\n", 13);
	refused("a complete head over the limit", big, 1033, 413);
	refused("only blank lines: incomplete", "\r\n\r\n\r\n\r\n", 8,
	    HTTP_REQ_MORE);
}

static void
test_headers_max(void)
{
	char	 buf[1024];
	size_t	 off;
	int	 i;

	off = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n");
	for (i = 0; i < HTTP_HEADERS_MAX + 1; i++)
		off += snprintf(buf + off, sizeof(buf) - off, "h%d: v\r\n", i);
	off += snprintf(buf + off, sizeof(buf) - off, "\r\n");
	refused("one header more than HTTP_HEADERS_MAX", buf, off, 413);
}

static void
test_accept(void)
{
	const char	*om = "application/openmetrics-text";
	const char	*txt = "text/plain";
	const char	*prom = "application/openmetrics-text;version=1.0.0,"
	    "application/openmetrics-text;version=0.0.1;q=0.75,"
	    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

	check(http_accept_quality(NULL, txt) == 1000, "Accept: none: 1000");
	check(http_accept_quality("", txt) == 1000, "Accept: empty: 1000");
	check(http_accept_quality(prom, om) == 1000 &&
	    http_accept_quality(prom, txt) == 500,
	    "Accept: Prometheus's header: openmetrics 1000, text 500");
	check(http_accept_quality("text/plain;q=0.9, application/"
	    "openmetrics-text; q=0.3", om) == 300,
	    "Accept: q with a blank before it");
	check(http_accept_quality("*/*", om) == 1000, "Accept: */* matches");
	check(http_accept_quality("application/*;q=0.2", om) == 200 &&
	    http_accept_quality("application/*;q=0.2", txt) == 0,
	    "Accept: type/* matches its type only");
	check(http_accept_quality("*/*;q=0.8, application/openmetrics-text;"
	    "q=0", om) == 0, "Accept: q=0 on the exact type refuses it "
	    "though */* allows");
	check(http_accept_quality("APPLICATION/OpenMetrics-Text", om) == 1000,
	    "Accept: case-insensitive");
	check(http_accept_quality("application/openmetrics-text;q=2", om) == 0,
	    "Accept: q=2 is malformed: skipped");
	check(http_accept_quality("application/openmetrics-text;q=0.1234",
	    om) == 0, "Accept: four decimals are malformed");
	check(http_accept_quality("application/openmetrics-text;q=1.000",
	    om) == 1000, "Accept: q=1.000");
	check(http_accept_quality("application/openmetrics-text;q=0.05",
	    om) == 50, "Accept: q=0.05 is 50");
	check(http_accept_quality("application/openmetrics-textx", om) == 0,
	    "Accept: a longer type does not match");
	check(http_accept_quality("text/html", om) == 0,
	    "Accept: another type: 0");
	check(http_accept_quality(" , ,", om) == 1000,
	    "Accept: only commas and blanks: everything");
}

int
main(void)
{
	test_get();
	test_post();
	test_refused();
	test_headers_max();
	test_accept();
	check(strcmp(http_status_text(413), "Content Too Large") == 0 &&
	    strcmp(http_status_text(999), "Error") == 0, "status texts");
	return (failures != 0);
}
