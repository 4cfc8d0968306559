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
 * A small HTTP/1.1 server for the proxy process, on a listening socket
 * the parent opened: one request per connection (read with a size
 * limit and a deadline, parsed by common/http_request.c), routed by its
 * exact path to a handler, one response with Connection: close.  Plain,
 * or TLS with a server context of proxy/tls_ossl.c.
 *
 * A handler gets the request and answers with http_reply() at once, or
 * keeps the connection's id (http_conn_id) and answers later, after an
 * imsg round trip, from whatever receives the answer: http_conn_find()
 * then gives the connection back, or NULL if it is gone meanwhile (the
 * client left, the wait timed out, the server stopped).  A connection
 * not answered within handler_timeout gets 503.
 *
 * The server answers by itself: 400 a malformed request, 404 a path no
 * route has, 405 a method its route does not take (with Allow), 413 a
 * head or body over its limit, 501 a Transfer-Encoding, 505 another
 * HTTP version.  Every response carries Cache-Control: no-store,
 * X-Content-Type-Options: nosniff and Connection: close; a HEAD request
 * to a GET route is answered like GET without the body.
 */

#ifndef PROXY_HTTP_H
#define PROXY_HTTP_H

#include <sys/types.h>

#include <stdint.h>

struct tlsx_ctx;
struct http_conn;
struct http_request;
struct http_server;

#define HTTP_M_GET	0x01		/* and HEAD */
#define HTTP_M_POST	0x02

struct http_route {
	const char	*path;		/* the exact path, "/metrics";
					   NULL: any path */
	unsigned int	 methods;	/* HTTP_M_* */
	/*
	 * The request is valid during the call only; copy what an answer
	 * given later needs.
	 */
	void		(*handler)(struct http_conn *,
			    const struct http_request *, void *);
	void		*arg;
};

struct http_server_conf {
	const char		*name;		/* for the logs: "metrics" */
	const struct http_route	*routes;	/* kept, not copied */
	size_t			 nroutes;
	struct tlsx_ctx		*tls;		/* server context, or NULL */
	unsigned int		 max_conns;	/* open at once */
	unsigned int		 max_conns_per_addr; /* ... from one
						   address; 0: no limit */
	unsigned int		 timeout;	/* s to read, and to write */
	unsigned int		 handler_timeout; /* s for a later answer */
	size_t			 head_max;	/* request line and headers */
	size_t			 body_max;	/* request body */
};

/* Serve the listening socket fd (taken over) until http_server_stop(). */
struct http_server *http_server_start(int fd, const struct http_server_conf *);
/*
 * The TLS context for connections accepted from now on (NULL: plain);
 * those accepted before keep theirs.
 */
void		 http_server_set_tls(struct http_server *, struct tlsx_ctx *);
/* Close the socket and every connection, answered or not. */
void		 http_server_stop(struct http_server *);
unsigned int	 http_server_nconns(const struct http_server *);

/* The connection's number, to find it again for a later answer. */
uint32_t	 http_conn_id(const struct http_conn *);
struct http_conn *http_conn_find(uint32_t);
/* The client's numeric address, for logs. */
const char	*http_conn_peer(const struct http_conn *);
/* What a handler keeps with the connection; free_fn runs when it ends. */
void		 http_conn_set_data(struct http_conn *, void *,
		    void (*free_fn)(void *));
void		*http_conn_data(const struct http_conn *);

/*
 * The response, built before http_reply(): extra header lines (a name
 * that is a token, a value without control characters: -1 otherwise;
 * Set-Cookie may repeat) and the body.  The body is wiped when sent.
 */
int		 http_reply_header(struct http_conn *, const char *name,
		    const char *value);
int		 http_reply_body(struct http_conn *, const void *, size_t);
int		 http_reply_printf(struct http_conn *, const char *, ...)
		    __attribute__((__format__(__printf__, 2, 3)));
/*
 * Send the response (status, Content-Type, the headers and body added)
 * and close the connection once it is written.  Only the first call of
 * a connection counts.
 */
void		 http_reply(struct http_conn *, int status,
		    const char *content_type);
/* A short text/plain page: the status and its reason phrase. */
void		 http_reply_error(struct http_conn *, int status);

#endif /* PROXY_HTTP_H */
