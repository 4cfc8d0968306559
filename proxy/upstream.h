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

#ifndef UPSTREAM_H
#define UPSTREAM_H

#include <stdint.h>

struct event_base;
struct upstream_req;

/* Seconds one connect() may take before the next address is tried. */
#define UPSTREAM_CONNECT_TIMEOUT	15

/* The resolver, set up before the chroot (it reads resolv.conf, hosts). */
int	 upstream_dns_init(struct event_base *);
void	 upstream_dns_free(void);

/*
 * Resolve host (AF_UNSPEC) and connect to each address in turn.  The
 * callback always runs later from the event loop, never from inside
 * this call: with a connected non-blocking socket, or fd -1 and a
 * reason.  NULL if the request could not be started.
 */
struct upstream_req *upstream_connect(const char *host, uint16_t port,
	    void (*)(int fd, const char *error, void *), void *);
/* Forget a request; its callback will not run. */
void	 upstream_cancel(struct upstream_req *);

#endif /* UPSTREAM_H */
