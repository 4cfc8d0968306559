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
 * The proxy's HTTP server (proxy/http.c) on a loopback listener: a
 * handler that answers at once, one that answers later through
 * http_conn_find (and one whose connection is gone by then), a POST
 * with a body and Set-Cookie, HEAD, the server's own 400/404/405/413/505
 * answers, the safe default headers, a handler that never answers (503
 * at handler_timeout), a client that never sends (closed at timeout),
 * the connection limit, and a header that would split the response.
 *
 * DEPS: proxy/http.c proxy/io.c proxy/iobuf.c proxy/tls_ossl.c proxy/tlsverify.c common/http_request.c common/log.c
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "http_request.h"
#include "log.h"
#include "http.h"

static int		failures;
static struct sockaddr_in sin_srv;
static uint32_t		later_id;
static int		later_gone;
static char		posted[128];
static int		header_refused = -1;

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

static void
spin(int ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	event_loopexit(&tv);
	event_dispatch();
}

static void
h_now(struct http_conn *c, const struct http_request *req, void *arg)
{
	http_reply_printf(c, "hello %s", req->query ? req->query : "-");
	header_refused = http_reply_header(c, "X-Bad", "a\r\nInjected: 1");
	http_reply(c, 200, "text/plain; charset=utf-8");
}

static void
h_later(struct http_conn *c, const struct http_request *req, void *arg)
{
	later_id = http_conn_id(c);
}

static void
h_post(struct http_conn *c, const struct http_request *req, void *arg)
{
	(void)snprintf(posted, sizeof(posted), "%s|%s", req->body,
	    req->content_type ? req->content_type : "");
	http_reply_header(c, "Set-Cookie", "sid=1; HttpOnly");
	http_reply_header(c, "Set-Cookie", "csrf=2");
	http_reply(c, 303, "text/html");
}

static void
h_never(struct http_conn *c, const struct http_request *req, void *arg)
{
}

static const struct http_route routes[] = {
	{ "/now", HTTP_M_GET, h_now, NULL },
	{ "/later", HTTP_M_GET, h_later, NULL },
	{ "/form", HTTP_M_GET | HTTP_M_POST, h_post, NULL },
	{ "/post", HTTP_M_POST, h_post, NULL },
	{ "/never", HTTP_M_GET, h_never, NULL },
};

static int
client(void)
{
	int	s;

	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		abort();
	if (connect(s, (struct sockaddr *)&sin_srv, sizeof(sin_srv)) == -1 &&
	    errno != EINPROGRESS)
		abort();
	return (s);
}

/*
 * Read what the server sends until it closes, running the loop; at most
 * ms milliseconds.  The length, or -1 if it did not close in time.
 */
static ssize_t
collect(int s, char *buf, size_t size, int ms)
{
	size_t	 len = 0;
	ssize_t	 n;
	int	 i;

	for (i = 0; i < ms / 10; i++) {
		spin(10);
		while ((n = read(s, buf + len, size - 1 - len)) > 0)
			len += n;
		if (n == 0 || (n == -1 && errno != EAGAIN)) {
			buf[len] = '\0';
			return (len);
		}
	}
	buf[len] = '\0';
	return (-1);
}

static ssize_t
ask(const char *req, size_t reqlen, char *buf, size_t size)
{
	ssize_t	 n;
	int	 s;

	s = client();
	spin(10);
	if (write(s, req, reqlen) != (ssize_t)reqlen)
		abort();
	n = collect(s, buf, size, 3000);
	close(s);
	return (n);
}

#define ASK(r, b)	ask(r, sizeof(r) - 1, b, sizeof(b))

static int
status_of(const char *resp)
{
	int	 st;

	if (sscanf(resp, "HTTP/1.1 %d ", &st) != 1)
		return (-1);
	return (st);
}

static void
test_answers(void)
{
	char		 buf[8192];
	const char	*body;
	ssize_t		 n;

	n = ASK("GET /now?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", buf);
	check(n > 0 && status_of(buf) == 200, "GET /now: 200 (%.12s)", buf);
	body = strstr(buf, "\r\n\r\n");
	check(body != NULL && strcmp(body + 4, "hello x=1") == 0,
	    "GET /now: the handler's body");
	check(strstr(buf, "\r\nContent-Length: 9\r\n") != NULL &&
	    strstr(buf, "\r\nContent-Type: text/plain; charset=utf-8\r\n") !=
	    NULL, "GET /now: Content-Length and Content-Type");
	check(strstr(buf, "\r\nCache-Control: no-store\r\n") != NULL &&
	    strstr(buf, "\r\nX-Content-Type-Options: nosniff\r\n") != NULL &&
	    strstr(buf, "\r\nConnection: close\r\n") != NULL,
	    "GET /now: no-store, nosniff, Connection: close");
	check(header_refused == -1 && strstr(buf, "Injected") == NULL,
	    "a header value with CRLF is refused, nothing injected");

	n = ASK("HEAD /now HTTP/1.1\r\n\r\n", buf);
	check(n > 0 && status_of(buf) == 200 &&
	    strstr(buf, "\r\nContent-Length: 7\r\n") != NULL &&
	    strstr(buf, "hello") == NULL, "HEAD /now: 200, length, no body");

	n = ASK("POST /post HTTP/1.1\r\nContent-Type: application/"
	    "x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=b&c=d", buf);
	check(n > 0 && status_of(buf) == 303 &&
	    strcmp(posted, "a=b&c=d|application/x-www-form-urlencoded") == 0,
	    "POST /post: the handler gets the body (%s)", posted);
	check(strstr(buf, "\r\nSet-Cookie: sid=1; HttpOnly\r\n") != NULL &&
	    strstr(buf, "\r\nSet-Cookie: csrf=2\r\n") != NULL,
	    "POST /post: two Set-Cookie headers");

	n = ASK("GET /nothing HTTP/1.1\r\n\r\n", buf);
	check(n > 0 && status_of(buf) == 404, "unknown path: 404");
	n = ASK("POST /now HTTP/1.1\r\nContent-Length: 0\r\n\r\n", buf);
	check(n > 0 && status_of(buf) == 405 &&
	    strstr(buf, "\r\nAllow: GET, HEAD\r\n") != NULL,
	    "POST to a GET route: 405 with Allow");
	n = ASK("GET /post HTTP/1.1\r\n\r\n", buf);
	check(n > 0 && status_of(buf) == 405 &&
	    strstr(buf, "\r\nAllow: POST\r\n") != NULL,
	    "GET to a POST route: 405 with Allow: POST");
	n = ASK("DELETE /form HTTP/1.1\r\n\r\n", buf);
	check(n > 0 && status_of(buf) == 405 &&
	    strstr(buf, "\r\nAllow: GET, HEAD, POST\r\n") != NULL,
	    "DELETE: 405");
	n = ASK("GARBAGE\r\n\r\n", buf);
	check(n > 0 && status_of(buf) == 400, "malformed request: 400");
	n = ASK("GET / HTTP/2.0\r\n\r\n", buf);
	check(n > 0 && status_of(buf) == 505, "HTTP/2.0: 505");
	n = ASK("POST /post HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", buf);
	check(n > 0 && status_of(buf) == 413, "a body over the limit: 413");
}

static void
test_head_limit(void)
{
	char	 req[4096], buf[1024];
	ssize_t	 n;

	memset(req, 'a', sizeof(req));
	memcpy(req, "GET /", 5);
	n = ask(req, sizeof(req), buf, sizeof(buf));
	check(n > 0 && status_of(buf) == 413,
	    "a head over the limit, unfinished: 413 (%.12s)", buf);
}

static void
test_later(void)
{
	struct http_conn	*c;
	char			 buf[2048];
	ssize_t			 n;
	int			 s;

	later_id = 0;
	s = client();
	spin(10);
	(void)write(s, "GET /later HTTP/1.1\r\n\r\n", 23);
	spin(100);
	check(later_id != 0, "later: the handler ran and kept an id");
	c = http_conn_find(later_id);
	check(c != NULL, "later: http_conn_find gives the connection back");
	if (c != NULL) {
		http_reply_printf(c, "answered later");
		http_reply(c, 200, "text/plain");
	}
	check(http_conn_find(later_id) == NULL,
	    "later: once answered it is no longer found");
	n = collect(s, buf, sizeof(buf), 3000);
	check(n > 0 && status_of(buf) == 200 &&
	    strstr(buf, "\r\n\r\nanswered later") != NULL,
	    "later: the client gets the later answer");
	close(s);

	/* The client goes; the wait ends at handler_timeout, id unknown. */
	later_id = 0;
	s = client();
	spin(10);
	(void)write(s, "GET /later HTTP/1.1\r\n\r\n", 23);
	spin(100);
	close(s);
	spin(2200);
	later_gone = later_id != 0 && http_conn_find(later_id) == NULL;
	check(later_gone, "later: after the client left and the wait ended, "
	    "the id finds nothing");
}

static void
test_timeouts(struct http_server *srv)
{
	char	 buf[2048];
	ssize_t	 n;
	int	 s;

	n = ASK("GET /never HTTP/1.1\r\n\r\n", buf);
	check(n > 0 && status_of(buf) == 503,
	    "a handler that never answers: 503 at handler_timeout");

	s = client();
	(void)write(s, "GET /now HT", 11);
	n = collect(s, buf, sizeof(buf), 3500);
	check(n == 0, "a request never finished: closed at the timeout, "
	    "nothing sent (%zd)", n);
	close(s);
	spin(50);
	check(http_server_nconns(srv) == 0, "no connection left open");
}

static void
test_limit(struct http_server *srv)
{
	char	 buf[256];
	ssize_t	 n;
	int	 s[4], i;

	for (i = 0; i < 3; i++) {
		s[i] = client();
		spin(20);
	}
	check(http_server_nconns(srv) == 2, "limit: 2 of 3 connections kept "
	    "(%u)", http_server_nconns(srv));
	n = collect(s[2], buf, sizeof(buf), 500);
	check(n == 0, "limit: the third is closed at once");
	for (i = 0; i < 3; i++)
		close(s[i]);
	spin(50);
	s[3] = client();
	spin(20);
	(void)write(s[3], "GET /now HTTP/1.1\r\n\r\n", 21);
	n = collect(s[3], buf, sizeof(buf), 3000);
	check(n > 0 && status_of(buf) == 200,
	    "limit: after they left, a new one is served");
	close(s[3]);
}

/* A connection to srv from the loopback address src. */
static int
client_from(const struct sockaddr_in *srv, const char *src)
{
	struct sockaddr_in	 a;
	int			 s;

	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		abort();
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	if (inet_pton(AF_INET, src, &a.sin_addr) != 1 ||
	    bind(s, (struct sockaddr *)&a, sizeof(a)) == -1)
		abort();
	if (connect(s, (const struct sockaddr *)srv, sizeof(*srv)) == -1 &&
	    errno != EINPROGRESS)
		abort();
	return (s);
}

/*
 * A route without a path takes every path (the redirect listeners);
 * max_conns_per_addr closes one more connection from an address at once
 * while another address is still served.
 */
static void
test_any_path_per_addr(void)
{
	static const struct http_route	 any[] = {
		{ NULL, HTTP_M_GET, h_now, NULL }
	};
	static const char		 req1[] =
	    "GET /some/path?x=1 HTTP/1.1\r\n\r\n";
	static const char		 req2[] = "GET / HTTP/1.1\r\n\r\n";
	struct http_server_conf		 conf;
	struct http_server		*srv;
	struct sockaddr_in		 sa;
	socklen_t			 len = sizeof(sa);
	char				 buf[512];
	ssize_t				 n;
	int				 fd, s[4], i;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		abort();
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(fd, 16) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1)
		abort();
	memset(&conf, 0, sizeof(conf));
	conf.name = "any";
	conf.routes = any;
	conf.nroutes = 1;
	conf.max_conns = 8;
	conf.max_conns_per_addr = 2;
	conf.timeout = 3;
	conf.handler_timeout = 2;
	conf.head_max = 1024;
	if ((srv = http_server_start(fd, &conf)) == NULL)
		abort();
	s[0] = client_from(&sa, "127.0.0.1");
	spin(10);
	(void)write(s[0], req1, strlen(req1));
	n = collect(s[0], buf, sizeof(buf), 3000);
	check(n > 0 && status_of(buf) == 200, "any path: a route without a "
	    "path answers /some/path");
	close(s[0]);
	spin(50);
	for (i = 0; i < 3; i++) {
		s[i] = client_from(&sa, "127.0.0.1");
		spin(20);
	}
	n = collect(s[2], buf, sizeof(buf), 500);
	check(http_server_nconns(srv) == 2 && n == 0, "per address: the "
	    "third connection from 127.0.0.1 is closed at once (%u open)",
	    http_server_nconns(srv));
	s[3] = client_from(&sa, "127.0.0.2");
	spin(20);
	(void)write(s[3], req2, strlen(req2));
	n = collect(s[3], buf, sizeof(buf), 3000);
	check(n > 0 && status_of(buf) == 200, "per address: meanwhile "
	    "127.0.0.2 is served");
	for (i = 0; i < 4; i++)
		close(s[i]);
	http_server_stop(srv);
}

int
main(void)
{
	struct http_server_conf	 conf;
	struct http_server	*srv;
	socklen_t		 len = sizeof(sin_srv);
	int			 fd, one = 1;

	log_init(1, LOG_DAEMON);
	event_init();
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		abort();
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin_srv, 0, sizeof(sin_srv));
	sin_srv.sin_family = AF_INET;
	sin_srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin_srv, sizeof(sin_srv)) == -1 ||
	    listen(fd, 16) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin_srv, &len) == -1)
		abort();
	memset(&conf, 0, sizeof(conf));
	conf.name = "test";
	conf.routes = routes;
	conf.nroutes = sizeof(routes) / sizeof(routes[0]);
	conf.max_conns = 2;
	conf.timeout = 3;
	conf.handler_timeout = 2;
	conf.head_max = 1024;
	conf.body_max = 64;
	if ((srv = http_server_start(fd, &conf)) == NULL)
		abort();
	test_answers();
	test_head_limit();
	test_later();
	test_timeouts(srv);
	test_limit(srv);
	http_server_stop(srv);
	test_any_path_per_addr();
	return (failures != 0);
}
