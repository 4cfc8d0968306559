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

/* The proxy's HTTP server (http.h). */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>
#include <tls.h>

#include "http_request.h"
#include "log.h"
#include "io.h"
#include "http.h"

#define HTTP_ACCEPT_BURST	16

enum http_phase {
	HTTP_READ,		/* reading the request */
	HTTP_WAIT,		/* a handler answers later */
	HTTP_WRITE,		/* the response is going out */
	HTTP_DONE		/* to be freed from the loop */
};

struct http_conn {
	TAILQ_ENTRY(http_conn)	 entry;		/* all connections */
	TAILQ_ENTRY(http_conn)	 sentry;	/* its server's */
	struct http_server	*srv;
	uint32_t		 id;
	enum http_phase		 phase;
	struct io		 io;
	struct event		 timer;
	int			 head;		/* HEAD: no body sent */
	char			 peer[NI_MAXHOST];
	struct iobuf		 hdrs;		/* extra header lines */
	struct iobuf		 body;
	void			*data;
	void			(*data_free)(void *);
};

struct http_server {
	struct http_server_conf	 conf;
	int			 fd;
	struct event		 ev;
	struct event		 pause;
	unsigned int		 nconns;
	TAILQ_HEAD(, http_conn)	 conns;
};

static TAILQ_HEAD(, http_conn)	http_conns = TAILQ_HEAD_INITIALIZER(http_conns);
static uint32_t			http_next_id;

static void	http_accept(int, short, void *);
static void	http_conn_io(struct io *, enum io_event, void *);

static void
http_conn_free(struct http_conn *c)
{
	evtimer_del(&c->timer);
	io_close(&c->io);
	iobuf_clear(&c->hdrs);
	iobuf_clear(&c->body);
	if (c->data_free != NULL)
		c->data_free(c->data);
	TAILQ_REMOVE(&http_conns, c, entry);
	TAILQ_REMOVE(&c->srv->conns, c, sentry);
	c->srv->nconns--;
	free(c);
}

/* Free from the event loop, outside any io callback. */
static void
http_conn_done(struct http_conn *c)
{
	struct timeval	tv = { 0, 0 };

	c->phase = HTTP_DONE;
	evtimer_del(&c->timer);
	evtimer_add(&c->timer, &tv);
}

static void
http_conn_arm(struct http_conn *c, unsigned int secs)
{
	struct timeval	tv = { secs, 0 };

	evtimer_del(&c->timer);
	evtimer_add(&c->timer, &tv);
}

static void
http_conn_timer(int fd, short event, void *arg)
{
	struct http_conn	*c = arg;

	switch (c->phase) {
	case HTTP_READ:
		log_debug("%s: %s: no request within %u s; closed",
		    c->srv->conf.name, c->peer, c->srv->conf.timeout);
		http_conn_free(c);
		break;
	case HTTP_WAIT:
		log_warnx("%s: %s: no answer within %u s",
		    c->srv->conf.name, c->peer,
		    c->srv->conf.handler_timeout);
		http_reply_error(c, 503);
		break;
	case HTTP_WRITE:
		log_debug("%s: %s: response not taken within %u s; closed",
		    c->srv->conf.name, c->peer, c->srv->conf.timeout);
		http_conn_free(c);
		break;
	case HTTP_DONE:
		http_conn_free(c);
		break;
	}
}

static const struct http_route *
http_route_find(const struct http_server *srv, const char *path)
{
	size_t	 i;

	for (i = 0; i < srv->conf.nroutes; i++)
		if (srv->conf.routes[i].path == NULL ||
		    strcmp(srv->conf.routes[i].path, path) == 0)
			return (&srv->conf.routes[i]);
	return (NULL);
}

static void
http_conn_request(struct http_conn *c)
{
	const struct http_route	*r;
	struct http_request	 req;
	struct http_limits	 lim;
	size_t			 used;
	unsigned int		 m;
	int			 status;

	lim.head_max = c->srv->conf.head_max;
	lim.body_max = c->srv->conf.body_max;
	status = http_request_parse((const char *)iobuf_data(&c->io.in),
	    iobuf_len(&c->io.in), &lim, &req, &used);
	if (status == HTTP_REQ_MORE)
		return;
	io_pause(&c->io);
	io_drain(&c->io, iobuf_len(&c->io.in));
	if (status != HTTP_REQ_DONE) {
		log_debug("%s: %s: request refused: %d", c->srv->conf.name,
		    c->peer, status);
		http_reply_error(c, status);
		return;
	}
	log_debug("%s: %s: %s %s", c->srv->conf.name, c->peer, req.method,
	    req.path);
	if (strcmp(req.method, "GET") == 0)
		m = HTTP_M_GET;
	else if (strcmp(req.method, "HEAD") == 0) {
		m = HTTP_M_GET;
		c->head = 1;
	} else if (strcmp(req.method, "POST") == 0)
		m = HTTP_M_POST;
	else
		m = 0;
	if ((r = http_route_find(c->srv, req.path)) == NULL)
		http_reply_error(c, 404);
	else if ((r->methods & m) == 0) {
		(void)http_reply_header(c, "Allow",
		    (r->methods & (HTTP_M_GET | HTTP_M_POST)) ==
		    (HTTP_M_GET | HTTP_M_POST) ? "GET, HEAD, POST" :
		    r->methods & HTTP_M_GET ? "GET, HEAD" : "POST");
		http_reply_error(c, 405);
	} else {
		c->phase = HTTP_WAIT;
		http_conn_arm(c, c->srv->conf.handler_timeout);
		r->handler(c, &req, r->arg);
	}
	http_request_clear(&req);
}

static void
http_conn_io(struct io *io, enum io_event ev, void *arg)
{
	struct http_conn	*c = arg;

	switch (ev) {
	case IO_TLSREADY:
	case IO_LOWAT:
		break;
	case IO_DATAIN:
		if (c->phase == HTTP_READ)
			http_conn_request(c);
		else
			io_drain(io, iobuf_len(&io->in));
		break;
	case IO_EOF:
		/* A client may close its side and still take the answer. */
		if (c->phase == HTTP_READ) {
			io_close(io);
			http_conn_done(c);
		}
		break;
	case IO_ERROR:
		log_debug("%s: %s: %s", c->srv->conf.name, c->peer,
		    io_error(io));
		io_close(io);
		http_conn_done(c);
		break;
	case IO_CLOSED:
		http_conn_done(c);
		break;
	}
}

uint32_t
http_conn_id(const struct http_conn *c)
{
	return (c->id);
}

struct http_conn *
http_conn_find(uint32_t id)
{
	struct http_conn	*c;

	TAILQ_FOREACH(c, &http_conns, entry)
		if (c->id == id)
			return (c->phase == HTTP_WAIT ? c : NULL);
	return (NULL);
}

const char *
http_conn_peer(const struct http_conn *c)
{
	return (c->peer);
}

void
http_conn_set_data(struct http_conn *c, void *data, void (*free_fn)(void *))
{
	if (c->data_free != NULL)
		c->data_free(c->data);
	c->data = data;
	c->data_free = free_fn;
}

void *
http_conn_data(const struct http_conn *c)
{
	return (c->data);
}

static int
http_token(const char *s)
{
	if (*s == '\0')
		return (0);
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)
		    != NULL))
			return (0);
	return (1);
}

int
http_reply_header(struct http_conn *c, const char *name, const char *value)
{
	const unsigned char	*p;

	if (!http_token(name))
		return (-1);
	for (p = (const unsigned char *)value; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return (-1);
	if (iobuf_add(&c->hdrs, name, strlen(name)) == -1 ||
	    iobuf_add(&c->hdrs, ": ", 2) == -1 ||
	    iobuf_add(&c->hdrs, value, strlen(value)) == -1 ||
	    iobuf_add(&c->hdrs, "\r\n", 2) == -1)
		return (-1);
	return (0);
}

int
http_reply_body(struct http_conn *c, const void *data, size_t len)
{
	return (iobuf_add(&c->body, data, len));
}

int
http_reply_printf(struct http_conn *c, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n, r;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n == -1)
		return (-1);
	r = iobuf_add(&c->body, s, n);
	freezero(s, n + 1);
	return (r);
}

void
http_reply(struct http_conn *c, int status, const char *content_type)
{
	char	 line[512];
	size_t	 blen;
	int	 n;

	if (c->phase != HTTP_READ && c->phase != HTTP_WAIT)
		return;
	if (status < 100 || status > 599)
		status = 500;
	blen = iobuf_len(&c->body);
	n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
	    "Connection: close\r\n", status, http_status_text(status),
	    content_type, blen);
	c->phase = HTTP_WRITE;
	http_conn_arm(c, c->srv->conf.timeout);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    io_write(&c->io, line, n) == -1 ||
	    (iobuf_len(&c->hdrs) > 0 && io_write(&c->io,
	    iobuf_data(&c->hdrs), iobuf_len(&c->hdrs)) == -1) ||
	    io_write(&c->io, "\r\n", 2) == -1 ||
	    (!c->head && blen > 0 && io_write(&c->io, iobuf_data(&c->body),
	    blen) == -1)) {
		log_warnx("%s: %s: response not sent", c->srv->conf.name,
		    c->peer);
		io_close(&c->io);
		http_conn_done(c);
	} else
		io_shutdown(&c->io);
	iobuf_clear(&c->hdrs);
	iobuf_clear(&c->body);
}

void
http_reply_error(struct http_conn *c, int status)
{
	iobuf_clear(&c->body);
	if (http_reply_printf(c, "%d %s\n", status,
	    http_status_text(status)) == -1)
		iobuf_clear(&c->body);
	http_reply(c, status, "text/plain; charset=utf-8");
}

static void
http_accept_pause(int fd, short event, void *arg)
{
	struct http_server	*srv = arg;

	event_add(&srv->ev, NULL);
}

/* The connections from one client address. */
static unsigned int
http_conns_from(const struct http_server *srv, const char *peer)
{
	const struct http_conn	*c;
	unsigned int		 n = 0;

	TAILQ_FOREACH(c, &srv->conns, sentry)
		if (strcmp(c->peer, peer) == 0)
			n++;
	return (n);
}

static void
http_accept_one(struct http_server *srv, int s, struct sockaddr *sa,
    socklen_t len)
{
	struct http_conn	*c;

	if (srv->nconns >= srv->conf.max_conns) {
		log_debug("%s: %u connections; one more closed",
		    srv->conf.name, srv->nconns);
		close(s);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("%s", __func__);
		close(s);
		return;
	}
	if (getnameinfo(sa, len, c->peer, sizeof(c->peer), NULL, 0,
	    NI_NUMERICHOST) != 0)
		(void)strlcpy(c->peer, "?", sizeof(c->peer));
	if (srv->conf.max_conns_per_addr > 0 &&
	    http_conns_from(srv, c->peer) >= srv->conf.max_conns_per_addr) {
		log_debug("%s: %u connections from %s; one more closed",
		    srv->conf.name, srv->conf.max_conns_per_addr, c->peer);
		free(c);
		close(s);
		return;
	}
	c->srv = srv;
	if (++http_next_id == 0)
		http_next_id = 1;
	c->id = http_next_id;
	c->phase = HTTP_READ;
	TAILQ_INSERT_TAIL(&http_conns, c, entry);
	TAILQ_INSERT_TAIL(&srv->conns, c, sentry);
	srv->nconns++;
	evtimer_set(&c->timer, http_conn_timer, c);
	/* From accept: bytes that trickle in do not move it. */
	http_conn_arm(c, srv->conf.timeout);
	io_init(&c->io, s, http_conn_io, c);
	if (srv->conf.tls != NULL &&
	    io_start_tls_server(&c->io, srv->conf.tls) == -1) {
		log_warnx("%s: %s: %s", srv->conf.name, c->peer,
		    io_error(&c->io));
		http_conn_free(c);
	}
}

static void
http_accept(int fd, short event, void *arg)
{
	struct http_server	*srv = arg;
	struct sockaddr_storage	 ss;
	struct timeval		 tv = { 1, 0 };
	socklen_t		 len;
	int			 s, i;

	for (i = 0; i < HTTP_ACCEPT_BURST; i++) {
		len = sizeof(ss);
		s = accept4(fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				log_warn("%s: accept", srv->conf.name);
				event_del(&srv->ev);
				evtimer_add(&srv->pause, &tv);
			} else if (errno == EINVAL) {
				log_warnx("%s: the listening socket no longer "
				    "listens: not accepting", srv->conf.name);
				event_del(&srv->ev);
			} else if (errno != EAGAIN)
				log_warn("%s: accept", srv->conf.name);
			return;
		}
		http_accept_one(srv, s, (struct sockaddr *)&ss, len);
	}
}

struct http_server *
http_server_start(int fd, const struct http_server_conf *conf)
{
	struct http_server	*srv;
	int			 flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		log_warn("%s listener", conf->name);
		close(fd);
		return (NULL);
	}
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		log_warn("%s", __func__);
		close(fd);
		return (NULL);
	}
	srv->conf = *conf;
	srv->fd = fd;
	TAILQ_INIT(&srv->conns);
	event_set(&srv->ev, fd, EV_READ | EV_PERSIST, http_accept, srv);
	evtimer_set(&srv->pause, http_accept_pause, srv);
	event_add(&srv->ev, NULL);
	log_debug("%s: accepting HTTP connections", conf->name);
	return (srv);
}

void
http_server_set_tls(struct http_server *srv, struct tlsx_ctx *tls)
{
	srv->conf.tls = tls;
}

void
http_server_stop(struct http_server *srv)
{
	struct http_conn	*c;

	if (srv == NULL)
		return;
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		http_conn_free(c);
	event_del(&srv->ev);
	evtimer_del(&srv->pause);
	close(srv->fd);
	free(srv);
}

unsigned int
http_server_nconns(const struct http_server *srv)
{
	return (srv->nconns);
}
