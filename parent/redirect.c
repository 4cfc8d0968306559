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
 * The sockets that serve browsers: one redirect listener per distinct
 * host:port of the authorization-code accounts (redirect_listen_address,
 * else redirect_uri, each resolved through the catch-all sections as a
 * login resolves it) and the authorisation page's listener
 * (authorisation_page_listen).  The parent binds them, so privileged
 * ports work, and passes each to the proxy once, which parses the HTTP
 * and keeps the socket for as long as it runs; only what a redirect
 * carries (state, code) goes on to authd, through tokend.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "emailproxy.h"
#include "config.h"
#include "config_parse.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "proc.h"
#include "parent.h"

struct bound {
	TAILQ_ENTRY(bound)	 entry;
	char			*hostport;
	int			 fd;		/* until passed to the proxy */
	int			 page;		/* the authorisation page's */
};
TAILQ_HEAD(boundq, bound);
/* Passed to the proxy, and bound but not yet passed. */
static struct boundq	bound = TAILQ_HEAD_INITIALIZER(bound);
static struct boundq	prepared = TAILQ_HEAD_INITIALIZER(prepared);

/*
 * "http://host[:port]/path" -> host and port (80 by default).  IPv6
 * hosts are bracketed.  Only http: a redirect listener does not serve
 * TLS; an https redirect needs a reverse proxy and
 * redirect_listen_address.
 */
int
redirect_hostport(const char *url, char *host, size_t hostsize,
    char *port, size_t portsize)
{
	const char	*p, *end, *colon;
	size_t		 len;

	if (strncasecmp(url, "http://", 7) != 0)
		return (-1);
	p = url + 7;
	end = p + strcspn(p, "/?#");
	if (*p == '[') {
		if ((colon = memchr(p, ']', end - p)) == NULL)
			return (-1);
		len = colon - p - 1;
		if (len == 0 || len >= hostsize)
			return (-1);
		memcpy(host, p + 1, len);
		host[len] = '\0';
		colon++;
		if (colon < end && *colon != ':')
			return (-1);
	} else {
		colon = memchr(p, ':', end - p);
		len = (colon != NULL ? colon : end) - p;
		if (len == 0 || len >= hostsize)
			return (-1);
		memcpy(host, p, len);
		host[len] = '\0';
	}
	if (colon != NULL && colon < end && *colon == ':') {
		len = end - colon - 1;
		if (len == 0 || len >= portsize ||
		    strspn(colon + 1, "0123456789") < len)
			return (-1);
		memcpy(port, colon + 1, len);
		port[len] = '\0';
	} else
		strlcpy(port, "80", portsize);
	return (0);
}

struct redirect_arg {
	const char	*host;
	const char	*port;
};

/* -1 with errno EADDRINUSE when the port is taken (logged by caller). */
static int
redirect_bind(const void *arg)
{
	const struct redirect_arg *ra = arg;
	struct addrinfo	 hints, *res, *ai;
	int		 fd = -1, on = 1, error, saved = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((error = getaddrinfo(ra->host, ra->port, &hints, &res)) != 0) {
		log_warnx("redirect listener %s:%s: %s", ra->host, ra->port,
		    gai_strerror(error));
		errno = EINVAL;
		return (-1);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype |
		    SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol)) == -1) {
			saved = errno;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
		    sizeof(on)) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 16) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		errno = saved;
		if (errno != EADDRINUSE)
			log_warn("redirect listener %s port %s", ra->host,
			    ra->port);
		errno = saved;
	}
	return (fd);
}

static struct bound *
redirect_find(struct boundq *q, const char *hostport, int page)
{
	struct bound	*b;

	TAILQ_FOREACH(b, q, entry)
		if (b->page == page && strcmp(b->hostport, hostport) == 0)
			return (b);
	return (NULL);
}

static int
redirect_add(const char *host, const char *port, const char *hostport,
    int page, const char *what, const long long *deadline)
{
	struct redirect_arg	 ra;
	struct bound		*b;
	int			 fd;

	ra.host = host;
	ra.port = port;
	if ((fd = bind_retry(redirect_bind, &ra, what, deadline)) == -1)
		return (-1);
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->hostport = strdup(hostport)) == NULL)
		fatal(NULL);
	b->fd = fd;
	b->page = page;
	TAILQ_INSERT_TAIL(&prepared, b, entry);
	return (0);
}

/*
 * The page's listener: kept while its address stays, else bound anew
 * (the proxy replaces its old one when the new one comes).
 */
static int
page_prepare(const struct emailproxy_conf *conf, const long long *deadline)
{
	struct bound	*b, *next;
	char		 host[256], port[8], hostport[300], what[400];

	host[0] = '\0';
	if (conf->authorisation_page_listen != NULL &&
	    metrics_listen_split(conf->authorisation_page_listen, host,
	    sizeof(host), port, sizeof(port)) == -1)
		return (-1);	/* config_check refused it already */
	snprintf(hostport, sizeof(hostport), strchr(host, ':') ?
	    "[%s]:%s" : "%s:%s", host, port);
	TAILQ_FOREACH_SAFE(b, &bound, entry, next) {
		if (!b->page || (host[0] != '\0' &&
		    strcmp(b->hostport, hostport) == 0))
			continue;
		TAILQ_REMOVE(&bound, b, entry);
		free(b->hostport);
		free(b);
	}
	if (host[0] == '\0' || redirect_find(&bound, hostport, 1) != NULL)
		return (0);
	snprintf(what, sizeof(what), "authorisation page listener %s",
	    hostport);
	return (redirect_add(host, port, hostport, 1, what, deadline));
}

void
redirect_discard(void)
{
	struct bound	*b;

	while ((b = TAILQ_FIRST(&prepared)) != NULL) {
		TAILQ_REMOVE(&prepared, b, entry);
		close(b->fd);
		free(b->hostport);
		free(b);
	}
}

/*
 * Bind what the configuration needs and is not bound yet.  A port that
 * cannot be bound fails the whole (start or reload): the browser's
 * redirect would find nobody there.  deadline as for bind_retry.
 */
int
redirect_prepare(const struct emailproxy_conf *conf,
    const long long *deadline)
{
	const struct account_conf *chain[3];
	struct account_view	 v;
	struct account_conf	*acct;
	const char		*url;
	char			 host[256], port[16], hostport[300];
	char			 what[512];

	TAILQ_FOREACH(acct, &conf->accounts, entry) {
		/* Each key may come from the section or its catch-alls. */
		account_merge(chain, account_section_chain(conf, acct, chain),
		    &v);
		if (v.flow != FLOW_AUTHORIZATION_CODE)
			continue;
		url = v.redirect_listen_address != NULL ?
		    v.redirect_listen_address : v.redirect_uri;
		if (url == NULL)
			continue;
		if (redirect_hostport(url, host, sizeof(host), port,
		    sizeof(port)) == -1) {
			log_info("%s: no redirect listener for %s (only "
			    "http://host:port URLs are served; use "
			    "emailproxyctl authorise)", acct->name, url);
			continue;
		}
		snprintf(hostport, sizeof(hostport), strchr(host, ':') ?
		    "[%s]:%s" : "%s:%s", host, port);
		if (redirect_find(&bound, hostport, 0) != NULL ||
		    redirect_find(&prepared, hostport, 0) != NULL)
			continue;
		snprintf(what, sizeof(what), "[%s] redirect listener %s",
		    acct->name, hostport);
		if (redirect_add(host, port, hostport, 0, what,
		    deadline) == -1) {
			redirect_discard();
			return (-1);
		}
	}
	if (page_prepare(conf, deadline) == -1) {
		redirect_discard();
		return (-1);
	}
	return (0);
}

/* Pass what redirect_prepare bound to the proxy; it keeps them. */
void
redirect_send(struct imsgev *proxy)
{
	struct bound	*b;
	struct msgw	 w;

	while ((b = TAILQ_FIRST(&prepared)) != NULL) {
		TAILQ_REMOVE(&prepared, b, entry);
		msg_begin(&w, &proxy->ibuf, b->page ? IMSG_PAGE_LISTENER :
		    IMSG_REDIRECT_LISTENER, 0, b->fd);
		msg_put_str(&w, b->hostport);
		if (imsgev_msg_end(proxy, &w) == -1)
			fatal("cannot pass the %s listener %s",
			    b->page ? "authorisation page" : "redirect",
			    b->hostport);
		log_debug("%s listener on %s", b->page ?
		    "authorisation page" : "redirect", b->hostport);
		b->fd = -1;
		TAILQ_INSERT_TAIL(&bound, b, entry);
	}
}
