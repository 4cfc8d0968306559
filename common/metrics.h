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

#ifndef METRICS_H
#define METRICS_H

#include <stdio.h>

#include <jansson.h>

#define METRICS_TYPE_TEXT	"text/plain; version=0.0.4; charset=utf-8"
#define METRICS_TYPE_OM		"application/openmetrics-text; " \
				"version=1.0.0; charset=utf-8"

/*
 * The show stats answers (one JSON object each, in list) added up into
 * one object: the counters summed; the objects naming a server (the
 * proxy's upstream pools) kept as the array "upstream_pools", those
 * naming a listener (the proxy's per-listener counters) as
 * "listeners"; those naming an account (tokend's per-account state) left
 * out.  NULL when out of memory.
 */
json_t	*metrics_merge(json_t *list);
/*
 * The merged counters and the raw answers (for the per-account gauges)
 * as Prometheus text format 0.0.4, or as OpenMetrics 1.0 when om.  -1 on
 * a write or memory error.
 */
int	 metrics_write(FILE *, json_t *stats, json_t *list, int om);
/*
 * metrics_listen's "host:port" ("[v6]:port" for IPv6): host and port,
 * 0; or -1 when malformed.
 */
int	 metrics_listen_split(const char *, char *host, size_t,
	    char *port, size_t);

#endif /* METRICS_H */
