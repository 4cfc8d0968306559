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
 * A bounded HTTP/1.x request parser for the daemon's small HTTP
 * servers, all in the proxy (proxy/http.c: the redirect listeners, the
 * authorisation page, the metrics listener).  It reads from memory, so
 * it serves an evbuffer or an iobuf alike, and treats every byte as
 * hostile: the request line must be "METHOD SP origin-form SP
 * HTTP/1.x", header names must be tokens, values free of control
 * characters, no folded lines, one Content-Length; the head and the
 * body have limits.  Lines may end in CRLF or a bare LF.  A request
 * with a Transfer-Encoding, chunked included, is refused with 501:
 * the only bodies these servers take are the page's small forms, which
 * browsers send with a Content-Length.
 */

#ifndef HTTP_REQUEST_H
#define HTTP_REQUEST_H

#include <sys/types.h>

#define HTTP_HEAD_MAX		8192	/* request line and headers */
#define HTTP_HEADERS_MAX	64

/* What http_request_parse() returns besides an error status. */
#define HTTP_REQ_MORE		0	/* incomplete: call again with more */
#define HTTP_REQ_DONE		1	/* req is filled */

struct http_limits {
	size_t		 head_max;	/* bytes up to the blank line */
	size_t		 body_max;	/* Content-Length at most */
};

struct http_header {
	const char	*name;		/* as sent */
	const char	*value;		/* without surrounding blanks */
};

/*
 * One request.  Every string points into storage the request owns and is
 * wiped by http_request_clear() (a query may hold an authorisation code,
 * a body a password).
 */
struct http_request {
	const char		*method;	/* "GET" */
	const char		*target;	/* "/p?q", fragment removed */
	const char		*path;		/* "/p", not decoded */
	const char		*query;		/* "q", NULL without '?' */
	int			 minor;		/* HTTP/1.<minor> */
	struct http_header	*headers;
	size_t			 nheaders;
	/* Headers the servers use; NULL when absent. */
	const char		*host;
	const char		*accept;
	const char		*cookie;
	const char		*content_type;
	size_t			 content_length;
	char			*body;		/* content_length bytes + NUL */
	/* Storage. */
	char			*head;
	size_t			 headlen;
	char			*target_copy;
	size_t			 target_len;
};

/*
 * Parse the request at the start of buf (len bytes).  HTTP_REQ_MORE while
 * it is incomplete but within the limits; HTTP_REQ_DONE with req filled
 * and *used set to the bytes it took (head and body); or the HTTP status
 * to refuse it with: 400 malformed, 413 head or body over its limit, 501
 * a Transfer-Encoding, 505 not HTTP/1.x.  req needs http_request_clear()
 * after HTTP_REQ_DONE only; it is left empty otherwise.
 */
int		 http_request_parse(const char *buf, size_t len,
		    const struct http_limits *, struct http_request *req,
		    size_t *used);
void		 http_request_clear(struct http_request *);
/* The value of the first header of that name (any case), or NULL. */
const char	*http_request_header(const struct http_request *,
		    const char *);
/*
 * The quality (0 to 1000) an Accept value gives the media type "type/sub"
 * (lower case): the most specific range that matches it wins (type/sub,
 * then type/, then any), its q= parameter in thousandths; 0 when
 * nothing matches or it is refused with q=0.  A NULL or empty Accept
 * accepts everything (1000).  A malformed element is skipped.
 */
int		 http_accept_quality(const char *accept, const char *type);
/* The reason phrase of a status ("Not Found"), "Error" if unknown. */
const char	*http_status_text(int);

#endif /* HTTP_REQUEST_H */
