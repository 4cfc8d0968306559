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
 * The way to the mail server: evdns getaddrinfo (AF_UNSPEC), then a
 * non-blocking connect to each address in order until one answers.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <event.h>
#include <event2/dns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "upstream.h"

struct upstream_req {
	struct evdns_getaddrinfo_request *dnsreq;
	struct evutil_addrinfo	*res;
	struct evutil_addrinfo	*next;
	struct event		 ev;
	int			 fd;
	int			 cancelled;
	int			 resolving;
	char			 error[256];
	void			(*cb)(int, const char *, void *);
	void			*arg;
};

static struct evdns_base	*dns;

static void	upstream_try(struct upstream_req *);

int
upstream_dns_init(struct event_base *base)
{
	int	r;

	if ((dns = evdns_base_new(base,
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE)) == NULL)
		return -1;
	r = evdns_base_resolv_conf_parse(dns,
	    DNS_OPTIONS_ALL & ~DNS_OPTION_HOSTSFILE, "/etc/resolv.conf");
	if (r != 0)
		log_warnx("/etc/resolv.conf: cannot use it (error %d), "
		    "resolving with 127.0.0.1", r);
	if (evdns_base_load_hosts(dns, "/etc/hosts") != 0)
		log_warnx("/etc/hosts: cannot load it");
	return 0;
}

void
upstream_dns_free(void)
{
	if (dns != NULL)
		evdns_base_free(dns, 1);
	dns = NULL;
}

static void
upstream_free(struct upstream_req *r)
{
	if (event_initialized(&r->ev))
		event_del(&r->ev);
	if (r->fd != -1)
		close(r->fd);
	if (r->res != NULL)
		evutil_freeaddrinfo(r->res);
	free(r);
}

/* Tell the owner, from the event loop. */
static void
upstream_done(struct upstream_req *r, int fd)
{
	void	(*cb)(int, const char *, void *) = r->cb;
	void	*arg = r->arg;
	char	 error[sizeof(r->error)];

	strlcpy(error, r->error, sizeof(error));
	r->fd = -1;
	upstream_free(r);
	cb(fd, fd == -1 ? error : NULL, arg);
}

static void
upstream_connected(int fd, short event, void *arg)
{
	struct upstream_req	*r = arg;
	int			 err = 0;
	socklen_t		 len = sizeof(err);

	if (event == EV_TIMEOUT)
		err = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err == 0) {
		upstream_done(r, fd);
		return;
	}
	snprintf(r->error, sizeof(r->error), "connect: %s", strerror(err));
	log_debug("upstream: %s", r->error);
	close(r->fd);
	r->fd = -1;
	upstream_try(r);
}

static void
upstream_fail(int fd, short event, void *arg)
{
	upstream_done(arg, -1);
}

/* Start a connect to the next address, or report the failure. */
static void
upstream_try(struct upstream_req *r)
{
	struct evutil_addrinfo	*ai;
	struct timeval		 tv = { UPSTREAM_CONNECT_TIMEOUT, 0 };
	struct timeval		 now = { 0, 0 };
	int			 one = 1;

	while ((ai = r->next) != NULL) {
		r->next = ai->ai_next;
		r->fd = socket(ai->ai_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (r->fd == -1) {
			snprintf(r->error, sizeof(r->error), "socket: %s",
			    strerror(errno));
			continue;
		}
		/* Small commands go out at once (see server.c). */
		(void)setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		if (connect(r->fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
		    errno != EINPROGRESS) {
			snprintf(r->error, sizeof(r->error), "connect: %s",
			    strerror(errno));
			close(r->fd);
			r->fd = -1;
			continue;
		}
		event_set(&r->ev, r->fd, EV_WRITE, upstream_connected, r);
		event_add(&r->ev, &tv);
		return;
	}
	if (r->error[0] == '\0')
		strlcpy(r->error, "no address", sizeof(r->error));
	/* The Python proxy's words, then ours. */
	{
		char	reason[sizeof(r->error)];

		strlcpy(reason, r->error, sizeof(reason));
		snprintf(r->error, sizeof(r->error), "All socket creation "
		    "attempts failed - unable to resolve host (%.150s)",
		    reason);
	}
	evtimer_set(&r->ev, upstream_fail, r);
	evtimer_add(&r->ev, &now);
}

static void
upstream_start(int fd, short event, void *arg)
{
	upstream_try(arg);
}

static void
upstream_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct upstream_req	*r = arg;
	struct timeval		 now = { 0, 0 };

	r->dnsreq = NULL;
	r->resolving = 0;
	if (r->cancelled) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		upstream_free(r);
		return;
	}
	r->res = r->next = res;
	if (result != 0)
		snprintf(r->error, sizeof(r->error), "resolve: %s",
		    evutil_gai_strerror(result));
	/* May run inside evdns_getaddrinfo(): continue from the loop. */
	evtimer_set(&r->ev, upstream_start, r);
	evtimer_add(&r->ev, &now);
}

struct upstream_req *
upstream_connect(const char *host, uint16_t port,
    void (*cb)(int, const char *, void *), void *arg)
{
	struct upstream_req	*r;
	struct evutil_addrinfo	 hints;
	char			 serv[8];

	if (dns == NULL || (r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->fd = -1;
	r->cb = cb;
	r->arg = arg;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(serv, sizeof(serv), "%u", port);
	r->resolving = 1;
	r->dnsreq = evdns_getaddrinfo(dns, host, serv, &hints,
	    upstream_resolved, r);
	return r;
}

void
upstream_cancel(struct upstream_req *r)
{
	if (r == NULL)
		return;
	if (r->resolving) {
		/* The callback frees it, now or later. */
		r->cancelled = 1;
		if (r->dnsreq != NULL)
			evdns_getaddrinfo_cancel(r->dnsreq);
		return;
	}
	upstream_free(r);
}
