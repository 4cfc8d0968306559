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
 * The redirect listener: a tiny HTTP server on each socket the parent
 * bound for a redirect_uri / redirect_listen_address.  It answers each
 * request with one small page and closes; a response is matched to its
 * flight by the random state, never by anything the browser could
 * guess.  emailproxyctl authorise feeds pasted URLs to the same code.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/queue.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "emailproxy.h"
#include "http_request.h"
#include "log.h"
#include "address.h"
#include "authd.h"

#define REDIRECT_MAX_REQUEST	8192
#define REDIRECT_MAX_CONNS	32	/* in all */
#define REDIRECT_MAX_PER_ADDR	8	/* from one client address */
#define REDIRECT_DEADLINE	10	/* s from accept to the answer sent */

struct redirect_listener {
	TAILQ_ENTRY(redirect_listener)	 entry;
	int				 fd;
	char				*hostport;
	struct event			 ev;
};
static TAILQ_HEAD(, redirect_listener) listeners =
    TAILQ_HEAD_INITIALIZER(listeners);

/*
 * A browser's connection.  Each has REDIRECT_DEADLINE seconds from accept
 * to read its request and take the answer, however it trickles bytes, and
 * one client address holds at most REDIRECT_MAX_PER_ADDR of the
 * REDIRECT_MAX_CONNS, so slow clients cannot keep a redirect out for long.
 */
struct redirect_conn {
	TAILQ_ENTRY(redirect_conn)	 entry;
	struct bufferevent		*bev;
	struct event			 deadline;
	struct sockaddr_storage		 ss;
	int				 done;
};
static TAILQ_HEAD(, redirect_conn) conns = TAILQ_HEAD_INITIALIZER(conns);
static int	 nconns;

static const char page_head[] = "<html><head><title>%s</title>"
    "<style type=\"text/css\">body{margin:20px auto;line-height:1.3;"
    "font-family:sans-serif;font-size:16px;color:#444;padding:0 24px}"
    "</style></head><body>";

static void	redirect_accept(int, short, void *);

static void
listener_free(struct redirect_listener *l)
{
	event_del(&l->ev);
	close(l->fd);
	free(l->hostport);
	free(l);
}

/* A socket from the parent (IMSG_REDIRECT_LISTENER); replaces its twin. */
void
redirect_listener_add(int fd, const char *hostport)
{
	struct redirect_listener	*l;
	int				 flags;

	TAILQ_FOREACH(l, &listeners, entry) {
		if (strcmp(l->hostport, hostport) == 0) {
			TAILQ_REMOVE(&listeners, l, entry);
			listener_free(l);
			break;
		}
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		log_warn("redirect listener %s", hostport);
		close(fd);
		return;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->hostport = strdup(hostport)) == NULL)
		fatal("%s", __func__);
	l->fd = fd;
	event_set(&l->ev, fd, EV_READ | EV_PERSIST, redirect_accept, l);
	event_add(&l->ev, NULL);
	TAILQ_INSERT_TAIL(&listeners, l, entry);
	log_debug("redirect listener on %s", hostport);
}

void
redirect_listeners_clear(void)
{
	struct redirect_listener	*l;

	while ((l = TAILQ_FIRST(&listeners)) != NULL) {
		TAILQ_REMOVE(&listeners, l, entry);
		listener_free(l);
	}
}

/* Split "scheme://authority/path?query#frag" (scheme optional). */
static void
url_split(const char *url, char **auth, char **path, char **query)
{
	const char	*p, *a, *q, *h;
	size_t		 n;

	*auth = *path = *query = NULL;
	a = (p = strstr(url, "://")) != NULL ? p + 3 : NULL;
	p = a != NULL ? a + strcspn(a, "/?#") : url;
	if (a != NULL)
		*auth = strndup(a, p - a);
	n = strcspn(p, "?#");
	*path = strndup(p, n);
	q = p + n;
	if (*q == '?') {
		q++;
		h = q + strcspn(q, "#");
		*query = strndup(q, h - q);
	}
}

static int
path_eq(const char *a, const char *b)
{
	size_t	 la = strlen(a), lb = strlen(b);

	while (la > 0 && a[la - 1] == '/')
		la--;
	while (lb > 0 && b[lb - 1] == '/')
		lb--;
	return (la == lb && strncmp(a, b, la) == 0);
}

/* The redirect matches redirect_uri: same path, same host:port if known. */
static int
redirect_matches(const char *redirect_uri, const char *auth,
    const char *path)
{
	char	*rauth, *rpath, *rquery;
	int	 ok;

	url_split(redirect_uri, &rauth, &rpath, &rquery);
	ok = rpath != NULL && path != NULL && path_eq(rpath, path) &&
	    (auth == NULL || (rauth != NULL && strcasecmp(rauth, auth) == 0));
	free(rauth);
	free(rpath);
	free(rquery);
	return (ok);
}

static char *
xprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		fatal("%s", __func__);
	va_end(ap);
	return (s);
}

/*
 * One authorisation response.  account, if set, must be the flight's;
 * auth is the URL's host:port (NULL from the listener, which only knows
 * its own).  Fills a page for the browser and returns an HTTP status;
 * *err says why it was refused.  *taken is set when the response went to
 * a flight, which then answers control request *ctl_id (if not NULL)
 * once it has tokens or has failed.
 */
static int
redirect_deliver(const char *account, const char *auth, const char *path,
    const char *query, const uint32_t *ctl_id, char **page,
    const char **err, int *taken)
{
	struct flight	*f;
	char		*state, *code, *error, *desc, *acct, *e, *d, *body;
	int		 status;

	*err = NULL;
	*taken = 0;
	state = query != NULL ? query_get(query, "state") : NULL;
	f = state != NULL ? flight_by_state(state) : NULL;
	str_wipe(&state);
	if (f == NULL || (account != NULL &&
	    !address_equal(account, f->gc.account))) {
		if (query != NULL && *query != '\0')
			log_warnx("authorisation response for %s with an "
			    "unknown state: ignored (expired, used already, "
			    "or not ours)", path);
		*err = "this authorisation response does not match a pending "
		    "request (wrong state, expired, or used already)";
		body = xprintf("<p>emailproxy: %s.</p>", *err);
		status = query != NULL && *query != '\0' ? 400 : 404;
		goto page;
	}
	/* From here on the flight ends or exchanges the code. */
	*taken = 1;
	if (ctl_id != NULL)
		flight_ctl_wait(f, *ctl_id);
	if ((acct = html_escape(f->gc.account)) == NULL)
		fatal("%s", __func__);
	if (!redirect_matches(f->gc.redirect_uri, auth, path)) {
		*err = "the URL does not match the account's redirect_uri";
		body = xprintf("<p>emailproxy: the authorisation response "
		    "for account %s does not match its redirect_uri.</p>",
		    acct);
		status = 400;
		flight_fail(f, AUTH_FAIL_PERMANENT, "Login failed for account "
		    "%s: OAuth 2.0 authorisation response for account %s is "
		    "missing or does not match`redirect_uri`", f->gc.account,
		    f->gc.account);
		free(acct);
		goto page;
	}
	code = query_get(query, "code");
	error = clean_text(e = query_get(query, "error"), 100);
	free(e);
	desc = clean_text(d = query_get(query, "error_description"), 300);
	free(d);
	status = 200;
	if (error != NULL) {
		*err = "the provider refused the authorisation";
		e = html_escape(error);
		d = html_escape(desc != NULL ? desc : "");
		if (e == NULL || d == NULL)
			fatal("%s", __func__);
		body = xprintf("<p>emailproxy: authorisation for account %s "
		    "failed: %s; %s</p>", acct, e, d);
		free(e);
		free(d);
	} else if (code == NULL || *code == '\0') {
		*err = "the response has neither code nor error";
		body = xprintf("<p>emailproxy: the authorisation response for "
		    "account %s has neither code nor error.</p>", acct);
		status = 400;
	} else
		body = xprintf("<p>emailproxy received the authorisation for "
		    "account %s.</p><p>You can close this window.</p>", acct);
	/* f may be gone after this. */
	grant_code_redirect(f, code, error, desc);
	str_wipe(&code);
	free(error);
	free(desc);
	free(acct);
 page:
	e = xprintf(page_head, "emailproxy authorisation");
	*page = xprintf("%s%s</body></html>\n", e, body);
	free(e);
	free(body);
	return (status);
}

/*
 * A URL pasted into emailproxyctl authorise account.  1 if a flight took
 * it (see redirect_deliver), else 0; *err says why it was refused, NULL
 * if it was accepted.
 */
int
redirect_paste(const char *account, const char *url, const uint32_t *ctl_id,
    const char **err)
{
	char	*auth, *path, *query, *page = NULL;
	int	 taken = 0;

	url_split(url, &auth, &path, &query);
	if (path == NULL)
		*err = "out of memory";
	else
		(void)redirect_deliver(account, auth, path, query, ctl_id,
		    &page, err, &taken);
	free(page);
	free(auth);
	free(path);
	str_wipe(&query);
	return (taken);
}

int
authd_redirect_url(const char *url)
{
	const char	*err;

	(void)redirect_paste(NULL, url, NULL, &err);
	if (err != NULL) {
		log_warnx("authorisation URL refused: %s", err);
		return (-1);
	}
	return (0);
}

static void
conn_free(struct redirect_conn *c)
{
	evtimer_del(&c->deadline);
	TAILQ_REMOVE(&conns, c, entry);
	bufferevent_free(c->bev);
	free(c);
	nconns--;
}

static void
conn_deadline(int fd, short event, void *arg)
{
	log_debug("redirect listener: request not done in %d s; closed",
	    REDIRECT_DEADLINE);
	conn_free(arg);
}

/* The client address without its port (IPv4 or IPv6). */
static int
addr_key(const struct sockaddr_storage *ss, const void **p, size_t *len)
{
	switch (ss->ss_family) {
	case AF_INET:
		*p = &((const struct sockaddr_in *)ss)->sin_addr;
		*len = sizeof(struct in_addr);
		return (0);
	case AF_INET6:
		*p = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		*len = sizeof(struct in6_addr);
		return (0);
	}
	return (-1);
}

static int
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const void	*pa, *pb;
	size_t		 la, lb;

	if (a->ss_family != b->ss_family || addr_key(a, &pa, &la) == -1 ||
	    addr_key(b, &pb, &lb) == -1)
		return (0);
	return (la == lb && memcmp(pa, pb, la) == 0);
}

static int
conns_from(const struct sockaddr_storage *ss)
{
	struct redirect_conn	*c;
	int			 n = 0;

	TAILQ_FOREACH(c, &conns, entry)
		if (same_addr(&c->ss, ss))
			n++;
	return (n);
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	conn_free(arg);
}

static void
conn_written(struct bufferevent *bev, void *arg)
{
	struct redirect_conn	*c = arg;

	if (c->done && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(c);
}

static void
conn_respond(struct redirect_conn *c, int status, const char *page)
{
	if (page == NULL)
		page = "";
	bufferevent_disable(c->bev, EV_READ);
	evbuffer_add_printf(bufferevent_get_output(c->bev),
	    "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n"
	    "Connection: close\r\n\r\n%s", status, http_status_text(status),
	    strlen(page), page);
	c->done = 1;
	bufferevent_setcb(c->bev, NULL, conn_written, conn_event, c);
	bufferevent_enable(c->bev, EV_WRITE);
}

/*
 * The browser's request in in: 0 while it is incomplete, else the HTTP
 * status to answer with and *page (heap).  What it delivered is taken
 * from in.  The method is not checked: whatever asks for the redirect
 * path with the right state delivers it.
 */
int
redirect_http_request(struct evbuffer *in, char **page)
{
	static const struct http_limits	 lim = { REDIRECT_MAX_REQUEST,
					    REDIRECT_MAX_REQUEST };
	struct http_request		 req;
	const char			*err;
	char				*buf;
	size_t				 len, used;
	int				 status, taken;

	*page = NULL;
	len = evbuffer_get_length(in);
	if (len > 2 * REDIRECT_MAX_REQUEST + 1)
		len = 2 * REDIRECT_MAX_REQUEST + 1;
	if ((buf = (char *)evbuffer_pullup(in, len)) == NULL && len > 0)
		fatal("%s", __func__);
	status = http_request_parse(buf, len, &lim, &req, &used);
	if (status == HTTP_REQ_MORE)
		return (0);
	evbuffer_drain(in, evbuffer_get_length(in));
	if (status != HTTP_REQ_DONE) {
		*page = xprintf("%s", http_status_text(status));
		return (status);
	}
	log_debug("redirect listener: request for %s", req.path);
	status = redirect_deliver(NULL, NULL, req.path, req.query, NULL, page,
	    &err, &taken);
	http_request_clear(&req);
	return (status);
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct redirect_conn	*c = arg;
	char			*page;
	int			 status;

	if ((status = redirect_http_request(bufferevent_get_input(bev),
	    &page)) == 0)
		return;
	conn_respond(c, status, page);
	free(page);
}

static void
redirect_accept(int fd, short event, void *arg)
{
	struct redirect_listener	*l = arg;
	struct redirect_conn		*c;
	struct sockaddr_storage		 ss;
	struct timeval			 tv = { REDIRECT_DEADLINE, 0 };
	socklen_t			 sslen = sizeof(ss);
	int				 s;

	memset(&ss, 0, sizeof(ss));
	if ((s = accept4(fd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("redirect listener %s: accept", l->hostport);
		return;
	}
	if (nconns >= REDIRECT_MAX_CONNS) {
		log_debug("redirect listener %s: %d connections; one more "
		    "refused", l->hostport, nconns);
		close(s);
		return;
	}
	if (conns_from(&ss) >= REDIRECT_MAX_PER_ADDR) {
		log_debug("redirect listener %s: %d connections from one "
		    "address; one more refused", l->hostport,
		    REDIRECT_MAX_PER_ADDR);
		close(s);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->bev = bufferevent_socket_new(event_get_base(&l->ev), s,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warn("%s", __func__);
		free(c);
		close(s);
		return;
	}
	c->ss = ss;
	TAILQ_INSERT_TAIL(&conns, c, entry);
	nconns++;
	/* Absolute: bytes that trickle in do not move it. */
	evtimer_set(&c->deadline, conn_deadline, c);
	evtimer_add(&c->deadline, &tv);
	bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
	bufferevent_enable(c->bev, EV_READ);
}
