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
 * Listening sockets.  The parent binds them (so ports below 1024 work)
 * and passes them to the proxy, keeping no copy.  On reload only servers
 * that are new or listen elsewhere get a socket; a changed server that
 * keeps its address keeps its socket in the proxy.  No SO_REUSEPORT: a
 * port one listener holds cannot be shared with another process (a
 * second daemon), which would take half of its connections.
 *
 * Whatever would stop a listener from serving fails the start, or the
 * reload, before anything changes: a port that cannot be bound, a
 * local certificate and key that libtls cannot use.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tls.h>

#include "emailproxy.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "proc.h"
#include "parent.h"

struct pending_listener {
	TAILQ_ENTRY(pending_listener)	 entry;
	char				*server;
	int				 fd;
};
static TAILQ_HEAD(, pending_listener) pending =
    TAILQ_HEAD_INITIALIZER(pending);
/* The metrics_listen socket, bound and not yet passed; its address. */
static int		 metrics_fd = -1;
static char		*metrics_addr;

/*
 * An IPv6 socket unless the address has none, then IPv4; an IPv6 socket
 * accepts IPv4 too (IPV6_V6ONLY off), so "::" is dual stack.  -1 with
 * errno EADDRINUSE when the port is taken (logged by the caller).
 */
static int
listener_bind(const struct server_conf *srv)
{
	struct addrinfo	 hints, *res = NULL;
	char		 port[8];
	int		 fd, on = 1, off = 0, error, saved;

	snprintf(port, sizeof(port), "%u", srv->local_port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	hints.ai_family = AF_INET6;
	if (getaddrinfo(srv->local_address, port, &hints, &res) != 0) {
		hints.ai_family = AF_INET;
		if ((error = getaddrinfo(srv->local_address, port, &hints,
		    &res)) != 0) {
			log_warnx("%s: local_address %s: %s", srv->name,
			    srv->local_address, gai_strerror(error));
			errno = EINVAL;
			return (-1);
		}
	}
	if ((fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, res->ai_protocol)) == -1) {
		log_warn("%s: socket", srv->name);
		freeaddrinfo(res);
		return (-1);
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    (res->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &off, sizeof(off)) == -1)) {
		log_warn("%s: setsockopt", srv->name);
		goto fail;
	}
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1) {
		if (errno != EADDRINUSE)
			log_warn("%s: cannot listen on %s port %s", srv->name,
			    srv->local_address, port);
		goto fail;
	}
	if (listen(fd, SOMAXCONN) == -1) {
		log_warn("%s: listen", srv->name);
		goto fail;
	}
	freeaddrinfo(res);
	return (fd);
 fail:
	saved = errno;
	close(fd);
	freeaddrinfo(res);
	errno = saved;
	return (-1);
}

/*
 * Bind, and while the port is taken retry until *deadline (a monotonic
 * time in ms; 0: no retry), as at start, when the previous daemon may
 * still be going away.
 */
int
bind_retry(int (*bindfn)(const void *), const void *arg,
    const char *what, const long long *deadline)
{
	struct timespec	 now, pause = { 0, 250 * 1000 * 1000 };
	long long	 ms;
	int		 fd, said = 0;

	for (;;) {
		if ((fd = bindfn(arg)) != -1 || errno != EADDRINUSE)
			return (fd);
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = now.tv_sec * 1000LL + now.tv_nsec / 1000000;
		if (*deadline == 0 || ms >= *deadline) {
			log_warnx("%s: address already in use - is another "
			    "emailproxy (or another program) listening "
			    "there?", what);
			return (-1);
		}
		if (!said++)
			log_info("%s: address in use, retrying for up to "
			    "%lld s", what, (*deadline - ms + 999) / 1000);
		nanosleep(&pause, NULL);
	}
}

static int
listener_bind_cb(const void *arg)
{
	return (listener_bind(arg));
}

/* metrics_listen (checked by the configuration): -1 as listener_bind. */
static int
metrics_bind(const void *arg)
{
	const char	*value = arg;
	struct addrinfo	 hints, *res = NULL;
	char		 host[256], port[8];
	int		 fd, on = 1, error, saved;

	if (metrics_listen_split(value, host, sizeof(host), port,
	    sizeof(port)) == -1) {
		log_warnx("metrics_listen %s: not address:port", value);
		errno = EINVAL;
		return (-1);
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((error = getaddrinfo(host, port, &hints, &res)) != 0) {
		log_warnx("metrics_listen %s: %s", value, gai_strerror(error));
		errno = EINVAL;
		return (-1);
	}
	if ((fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, res->ai_protocol)) == -1) {
		log_warn("metrics_listen %s: socket", value);
		freeaddrinfo(res);
		return (-1);
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1) {
		log_warn("metrics_listen %s: setsockopt", value);
		goto fail;
	}
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1) {
		if (errno != EADDRINUSE)
			log_warn("metrics_listen %s: cannot listen", value);
		goto fail;
	}
	if (listen(fd, 16) == -1) {
		log_warn("metrics_listen %s: listen", value);
		goto fail;
	}
	freeaddrinfo(res);
	return (fd);
 fail:
	saved = errno;
	close(fd);
	freeaddrinfo(res);
	errno = saved;
	return (-1);
}

/*
 * The proxy builds a libtls server context from the section's local
 * certificate and key: do the same here, so that a pair it could not
 * use stops the start (or the reload) with the reason.
 */
static int
listener_tls_check(const struct emailproxy_conf *conf,
    const struct server_conf *srv)
{
	struct tls_config	*cfg;
	struct tls		*ctx;
	const char		*err = NULL;
	int			 rv = -1;

	if (srv->local_certificate.data == NULL ||
	    srv->local_key.data == NULL)
		return (0);
	if ((cfg = tls_config_new()) == NULL)
		fatal("tls_config_new");
	if ((ctx = tls_server()) == NULL)
		fatal("tls_server");
	if (tls_config_set_keypair_mem(cfg,
	    (const uint8_t *)srv->local_certificate.data,
	    srv->local_certificate.len,
	    (const uint8_t *)srv->local_key.data, srv->local_key.len) == -1)
		err = tls_config_error(cfg);
	else if (tls_configure(ctx, cfg) == -1)
		err = tls_error(ctx);
	else
		rv = 0;
	if (rv == -1)
		log_warnx("%s:%d: [%s] local_certificate_path %s and "
		    "local_key_path %s cannot be used: %s",
		    srv->file != NULL ? srv->file : conf->path,
		    srv->local_certificate.line, srv->name,
		    srv->local_certificate.path, srv->local_key.path,
		    err != NULL ? err : "unknown error");
	tls_free(ctx);
	tls_config_free(cfg);
	return (rv);
}

void
listeners_discard(void)
{
	struct pending_listener	*pl;

	while ((pl = TAILQ_FIRST(&pending)) != NULL) {
		TAILQ_REMOVE(&pending, pl, entry);
		close(pl->fd);
		free(pl->server);
		free(pl);
	}
	if (metrics_fd != -1)
		close(metrics_fd);
	metrics_fd = -1;
	free(metrics_addr);
	metrics_addr = NULL;
}

/*
 * Open a socket for every server of newconf that oldconf (NULL at start)
 * does not already listen for, after checking every server's local
 * certificate and key.  All or nothing: -1 leaves none open.  deadline
 * as for bind_retry.
 */
int
listeners_prepare(const struct emailproxy_conf *newconf,
    const struct emailproxy_conf *oldconf, const long long *deadline)
{
	struct server_conf	*srv, *old;
	struct pending_listener	*pl;
	char			 what[512];
	int			 fd, errors = 0;

	TAILQ_FOREACH(srv, &newconf->servers, entry)
		if (listener_tls_check(newconf, srv) == -1)
			errors++;
	if (errors)
		return (-1);
	TAILQ_FOREACH(srv, &newconf->servers, entry) {
		if (oldconf != NULL &&
		    (old = server_find(oldconf, srv->name)) != NULL &&
		    server_same_listener(old, srv))
			continue;
		snprintf(what, sizeof(what), "%s: %s port %u", srv->name,
		    srv->local_address, srv->local_port);
		if ((fd = bind_retry(listener_bind_cb, srv, what,
		    deadline)) == -1) {
			listeners_discard();
			return (-1);
		}
		if ((pl = calloc(1, sizeof(*pl))) == NULL ||
		    (pl->server = strdup(srv->name)) == NULL)
			fatal(NULL);
		pl->fd = fd;
		TAILQ_INSERT_TAIL(&pending, pl, entry);
		log_info("listening for %s on %s port %u, proxying %s:%u",
		    srv->name, srv->local_address, srv->local_port,
		    srv->server_address, srv->server_port);
	}
	/* The proxy keeps serving /metrics where it already does. */
	if (newconf->metrics_listen != NULL && (oldconf == NULL ||
	    oldconf->metrics_listen == NULL ||
	    strcmp(oldconf->metrics_listen, newconf->metrics_listen) != 0)) {
		snprintf(what, sizeof(what), "metrics_listen %s",
		    newconf->metrics_listen);
		if ((metrics_fd = bind_retry(metrics_bind,
		    newconf->metrics_listen, what, deadline)) == -1) {
			listeners_discard();
			return (-1);
		}
		if ((metrics_addr = strdup(newconf->metrics_listen)) == NULL)
			fatal(NULL);
		log_info("serving /metrics on %s", metrics_addr);
	}
	return (0);
}

/* Hand the prepared sockets to the proxy (it closes our copies). */
void
listeners_send(struct imsgev *proxy)
{
	struct pending_listener	*pl;
	struct msgw		 w;

	while ((pl = TAILQ_FIRST(&pending)) != NULL) {
		TAILQ_REMOVE(&pending, pl, entry);
		msg_begin(&w, &proxy->ibuf, IMSG_LISTENER, 0, pl->fd);
		msg_put_str(&w, pl->server);
		if (imsgev_msg_end(proxy, &w) == -1)
			fatal("cannot pass the %s listener", pl->server);
		free(pl->server);
		free(pl);
	}
	if (metrics_fd != -1) {
		msg_begin(&w, &proxy->ibuf, IMSG_METRICS_LISTENER, 0,
		    metrics_fd);
		msg_put_str(&w, metrics_addr);
		if (imsgev_msg_end(proxy, &w) == -1)
			fatal("cannot pass the metrics_listen socket");
		metrics_fd = -1;
		free(metrics_addr);
		metrics_addr = NULL;
	}
}
