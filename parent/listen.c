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
 * that are new or changed get a socket; SO_REUSEPORT lets a changed
 * server bind its port while the proxy still holds the old socket.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emailproxy.h"
#include "config.h"
#include "log.h"
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

/*
 * An IPv6 socket unless the address has none, then IPv4; an
 * IPv6 socket accepts IPv4 too (IPV6_V6ONLY off), so "::" is dual stack.
 */
static int
listener_bind(const struct server_conf *srv)
{
	struct addrinfo	 hints, *res = NULL;
	char		 port[8];
	int		 fd, on = 1, off = 0, error;

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
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1 ||
	    (res->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &off, sizeof(off)) == -1)) {
		log_warn("%s: setsockopt", srv->name);
		goto fail;
	}
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1) {
		log_warn("%s: cannot listen on %s port %s - is another "
		    "emailproxy running?", srv->name, srv->local_address,
		    port);
		goto fail;
	}
	if (listen(fd, SOMAXCONN) == -1) {
		log_warn("%s: listen", srv->name);
		goto fail;
	}
	freeaddrinfo(res);
	return (fd);
 fail:
	close(fd);
	freeaddrinfo(res);
	return (-1);
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
}

/*
 * Open a socket for every server of newconf that oldconf (NULL at start)
 * does not have unchanged.  All or nothing: -1 leaves none open.
 */
int
listeners_prepare(const struct emailproxy_conf *newconf,
    const struct emailproxy_conf *oldconf)
{
	struct server_conf	*srv, *old;
	struct pending_listener	*pl;
	int			 fd;

	TAILQ_FOREACH(srv, &newconf->servers, entry) {
		if (oldconf != NULL &&
		    (old = server_find(oldconf, srv->name)) != NULL &&
		    server_equal(old, srv))
			continue;
		if ((fd = listener_bind(srv)) == -1) {
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
}
