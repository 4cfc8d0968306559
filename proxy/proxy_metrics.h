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
 * The proxy's metrics: its counters (also per listener) as show stats
 * objects, and the /metrics endpoint on the metrics_listen socket, which
 * adds tokend's and authd's (asked through tokend) and prints them with
 * common/metrics.c.
 */

#ifndef PROXY_METRICS_H
#define PROXY_METRICS_H

#include <jansson.h>

#include "emailproxy.h"

struct emailproxy_conf;
struct imsg;

/* A session accepted by a listener, a login's audit result. */
void	 proxy_metrics_session(const char *listener, enum proto);
void	 proxy_metrics_login(const char *listener, enum proto,
	    const char *result);
/*
 * The proxy's show stats objects, each handed to fn (which owns it): the
 * counters, one per upstream pool ("server"), one per listener
 * ("listener", "protocol").
 */
void	 proxy_metrics_objects(void (*fn)(json_t *, void *), void *);

/* The metrics_listen socket (IMSG_METRICS_LISTENER): serve it. */
void	 proxy_metrics_listen(int fd, const char *address);
/* A new configuration: stop serving when metrics_listen is gone. */
void	 proxy_metrics_reconf(const struct emailproxy_conf *);
void	 proxy_metrics_stop(void);
/* tokend's CTL_DATA and CTL_END answering IMSG_METRICS_REQUEST. */
int	 proxy_metrics_answer(struct imsg *);

/* proxy.c: ask tokend for its and authd's stats. */
int	 proxy_metrics_request(uint32_t id);

#endif /* PROXY_METRICS_H */
