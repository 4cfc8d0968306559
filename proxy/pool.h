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
 * Pre-warmed upstream connections of a server section (upstream_pool):
 * connected, TLS done (in clear with server_starttls) and the server's
 * greeting received but not read.  A session takes one when its client
 * connects and reads that greeting exactly as from a fresh connection.
 * A connection leaves the pool only to serve one session; it is never
 * given back.
 */

#ifndef POOL_H
#define POOL_H

#include <stdint.h>

#include "io.h"

struct pserver;

/* Seconds to connect, finish TLS and receive the greeting. */
#define POOL_SETUP_TIMEOUT	30
/* Longest wait between attempts while the server keeps failing. */
#define POOL_BACKOFF_MAX	60
/* A pooled connection that ends sooner after its greeting failed. */
#define POOL_MIN_LIFE		5
/* A greeting longer than this is not one. */
#define POOL_GREETING_MAX	16384

/* Counters since start, for show stats. */
struct pool_stats {
	uint64_t	opened;		/* connections started */
	uint64_t	taken;		/* given to a session */
	uint64_t	discarded;	/* closed in the pool, for any reason */
	uint64_t	failed;		/* of those: never ready, or died young */
};

/*
 * Follow the section's upstream_pool and upstream_pool_lifetime: start
 * connections up to the size, close the ones above it.  At start and
 * after every reload that keeps the section.
 */
void	 pool_configure(struct pserver *);
/* Close every pooled connection (the section goes away). */
void	 pool_free(struct pserver *);
/*
 * Hand a ready connection to to (io_move, reporting to cb), and start
 * its replacement: 0, or -1 when none is ready.
 */
int	 pool_take(struct pserver *, struct io *to,
	    void (*)(struct io *, enum io_event, void *), void *);
/* limit, connections held (ready or being set up), ready ones. */
void	 pool_counts(struct pserver *, unsigned int *limit,
	    unsigned int *size, unsigned int *idle);
void	 pool_stats_get(struct pool_stats *);

#endif /* POOL_H */
