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
 * The proxy's HTTP server (proxy/http.c) as a client drives it: one
 * connection to a listening unix socket, the request written in pieces
 * with the server's loop run in between, then the client's end closed
 * for writing.  The routes: /now (GET, answered at once), /later (GET,
 * answered after the handler returned, through http_conn_find), /form
 * (GET and POST: the body up to '=' becomes a response header's name,
 * the rest its value, as a page might echo a form field into a
 * header), /post (POST).  The first byte sets the piece size (bits
 * 0-5, plus one) and the limits (bit 6: a 64-byte head, else 1024;
 * bit 7: no body, else 256 bytes); the rest is what the client sends.
 *
 * The server must answer and close within the turns the harness gives
 * it, with one well-formed response: "HTTP/1.1 NNN reason", header
 * lines "Name: value" without control characters, Connection: close,
 * a body of Content-Length bytes (none for HEAD); and a header a
 * handler adds is only accepted when it is a token and a value
 * without control characters.
 *
 * DEPS: proxy/http.c proxy/io.c proxy/iobuf.c proxy/tls_ossl.c proxy/tlsverify.c common/http_request.c common/log.c regress/fuzz/http_check.c
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_request.h"
#include "http.h"
#include "fuzz.h"

#define TURNS		64	/* loop turns for the answer */
#define RESP_MAX	65536

static struct sockaddr_un	 sun_srv;
static char			 tmpdir[64];
static struct http_server	*srv[4];	/* by the limits bits */
static uint32_t			 later_id;
static int			 is_head;

static void
h_now(struct http_conn *c, const struct http_request *req, void *arg)
{
	is_head = strcmp(req->method, "HEAD") == 0;
	http_reply_printf(c, "now %s", req->query ? req->query : "-");
	http_reply(c, 200, "text/plain; charset=utf-8");
}

static void
h_later(struct http_conn *c, const struct http_request *req, void *arg)
{
	is_head = strcmp(req->method, "HEAD") == 0;
	later_id = http_conn_id(c);
}

static int
is_token(const char *s)
{
	if (*s == '\0')
		return (0);
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') ||
		    strchr("!#$%&'*+-.^_`|~", *s) != NULL))
			return (0);
	return (1);
}

static void
h_form(struct http_conn *c, const struct http_request *req, void *arg)
{
	char		*name, *value;
	const char	*p;
	int		 ctl = 0;

	is_head = strcmp(req->method, "HEAD") == 0;
	if ((name = strdup(req->body)) == NULL)
		abort();
	if ((value = strchr(name, '=')) != NULL)
		*value++ = '\0';
	else
		value = "";
	for (p = value; *p != '\0'; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			ctl = 1;
	if (http_reply_header(c, name, value) == 0 &&
	    (!is_token(name) || ctl))
		abort();
	free(name);
	http_reply_header(c, "Set-Cookie", "sid=1; HttpOnly");
	http_reply_body(c, req->body, strlen(req->body));
	http_reply(c, 303, "text/html");
}

static const struct http_route routes[] = {
	{ "/now", HTTP_M_GET, h_now, NULL },
	{ "/later", HTTP_M_GET, h_later, NULL },
	{ "/form", HTTP_M_GET | HTTP_M_POST, h_form, NULL },
	{ "/post", HTTP_M_POST, h_form, NULL },
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct http_server_conf	 conf;
	int			 fd, i;

	fuzz_log_init(0);
	/* The server closes after its answer: writing on is EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	event_init();
	strlcpy(tmpdir, "/tmp/http_server_fuzz.XXXXXX", sizeof(tmpdir));
	if (mkdtemp(tmpdir) == NULL)
		abort();
	for (i = 0; i < 4; i++) {
		memset(&sun_srv, 0, sizeof(sun_srv));
		sun_srv.sun_family = AF_UNIX;
		snprintf(sun_srv.sun_path, sizeof(sun_srv.sun_path),
		    "%s/s%d", tmpdir, i);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK,
		    0)) == -1 ||
		    bind(fd, (struct sockaddr *)&sun_srv,
		    sizeof(sun_srv)) == -1 || listen(fd, 16) == -1)
			abort();
		memset(&conf, 0, sizeof(conf));
		conf.name = "fuzz";
		conf.routes = routes;
		conf.nroutes = sizeof(routes) / sizeof(routes[0]);
		conf.max_conns = 4;
		conf.timeout = 30;
		conf.handler_timeout = 30;
		conf.head_max = i & 1 ? 64 : 1024;
		conf.body_max = i & 2 ? 0 : 256;
		if ((srv[i] = http_server_start(fd, &conf)) == NULL)
			abort();
	}
	return (0);
}

/* Run the server's loop once; answer /later once its handler ran. */
static void
turn(void)
{
	struct http_conn	*c;

	event_loop(EVLOOP_NONBLOCK);
	if (later_id != 0) {
		if ((c = http_conn_find(later_id)) != NULL) {
			http_reply_printf(c, "later");
			http_reply(c, 200, "text/plain");
		}
		later_id = 0;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char	 resp[RESP_MAX];
	size_t		 piece, off = 0, len = 0, n;
	ssize_t		 r;
	int		 s, i, which, eof = 0;

	if (size < 1)
		return (0);
	piece = (data[0] & 0x3f) + 1;
	which = (data[0] >> 6) & 3;
	data++;
	size--;
	/* Until a handler sees the method. */
	is_head = -1;
	later_id = 0;

	memset(&sun_srv, 0, sizeof(sun_srv));
	sun_srv.sun_family = AF_UNIX;
	snprintf(sun_srv.sun_path, sizeof(sun_srv.sun_path), "%s/s%d",
	    tmpdir, which);
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		abort();
	if (connect(s, (struct sockaddr *)&sun_srv, sizeof(sun_srv)) == -1)
		abort();
	turn();
	/* The request in pieces, while the server has not closed. */
	while (off < size && !eof) {
		n = size - off < piece ? size - off : piece;
		if ((r = write(s, data + off, n)) == -1) {
			if (errno != EAGAIN && errno != EPIPE &&
			    errno != ECONNRESET)
				abort();
			if (errno != EAGAIN)
				break;
			r = 0;
		}
		off += r;
		turn();
		while ((r = read(s, resp + len, sizeof(resp) - len)) > 0)
			len += r;
		if (r == 0)
			eof = 1;
		if (len == sizeof(resp))
			abort();
	}
	(void)shutdown(s, SHUT_WR);
	for (i = 0; i < TURNS && !eof; i++) {
		turn();
		while ((r = read(s, resp + len, sizeof(resp) - len)) > 0)
			len += r;
		if (r == 0)
			eof = 1;
		else if (r == -1 && errno != EAGAIN)
			eof = 1;
		if (len == sizeof(resp))
			abort();
	}
	if (!eof)
		abort();	/* the server neither answered nor closed */
	if (len > 0)
		(void)fuzz_http_response(resp, len, is_head);
	close(s);
	for (i = 0; i < TURNS && http_server_nconns(srv[which]) > 0; i++)
		turn();
	if (http_server_nconns(srv[which]) > 0)
		abort();	/* a connection the client left stays */
	return (0);
}
