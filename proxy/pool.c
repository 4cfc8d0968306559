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
 * The upstream pool of a server section.  Each pooled connection goes
 * through: connect (upstream.c), the TLS handshake unless the section
 * has server_starttls, then the greeting.  It is ready once the whole
 * greeting is in its input buffer, unread, and begins with the
 * protocol's positive answer (IMAP "* OK", POP "+OK", SMTP "220 " after
 * any "220-" lines).  A ready connection stays until a session takes
 * it, the server closes it or says anything more (a BYE before a
 * timeout), or upstream_pool_lifetime runs out; each of these closes it
 * and starts a replacement.  A connection that fails before it is ready,
 * or dies within POOL_MIN_LIFE seconds of it, is a failure: while the
 * last attempt failed, one attempt at a time is made, after a wait that
 * doubles from 1 s up to POOL_BACKOFF_MAX.
 *
 * Connections are freed from a timer, never from inside their own io
 * callback.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config.h"
#include "io.h"
#include "log.h"
#include "pool.h"
#include "proxy.h"
#include "upstream.h"

struct pconn {
	TAILQ_ENTRY(pconn)	 entry;
	struct pool		*pool;
	struct upstream_req	*req;
	struct io		 io;
	int			 ready;
	time_t			 readyat;	/* monotonic seconds */
	struct event		 timer;		/* setup, then lifetime */
};

struct pool {
	struct pserver		*srv;
	TAILQ_HEAD(, pconn)	 conns;
	unsigned int		 n;		/* in conns */
	unsigned int		 nready;
	unsigned int		 failures;	/* in a row */
	struct event		 backoff;
	int			 waiting;	/* backoff is armed */
};

static struct pool_stats	 stats;

static void	 pool_fill(struct pool *);
static void	 pool_io(struct io *, enum io_event, void *);

static time_t
pool_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void
pool_reap(int fd, short event, void *arg)
{
	struct pconn	*c = arg;

	io_close(&c->io);
	free(c);
}

/*
 * Take c out of the pool and close it; freed from the loop.  failed: it
 * counts towards the back-off.
 */
static void
pool_drop(struct pconn *c, const char *why, int failed)
{
	struct pool	*pl = c->pool;
	struct timeval	 now = { 0, 0 };

	if (failed && c->ready && pool_now() - c->readyat >= POOL_MIN_LIFE)
		failed = 0;
	log_debug("%s: pooled connection to %s:%u closed: %s", pl->srv->name,
	    pl->srv->conf->server_address, pl->srv->conf->server_port, why);
	TAILQ_REMOVE(&pl->conns, c, entry);
	pl->n--;
	if (c->ready)
		pl->nready--;
	stats.discarded++;
	if (failed) {
		stats.failed++;
		pl->failures++;
	}
	upstream_cancel(c->req);
	c->req = NULL;
	io_close(&c->io);
	evtimer_del(&c->timer);
	evtimer_set(&c->timer, pool_reap, c);
	evtimer_add(&c->timer, &now);
}

static void
pool_backoff_done(int fd, short event, void *arg)
{
	struct pool	*pl = arg;

	pl->waiting = 0;
	pool_fill(pl);
}

/* After a failure: the next attempt waits. */
static void
pool_failed(struct pool *pl)
{
	struct timeval	tv = { 1, 0 };
	unsigned int	i;

	if (pl->waiting)
		return;
	for (i = 1; i < pl->failures && tv.tv_sec < POOL_BACKOFF_MAX; i++)
		tv.tv_sec *= 2;
	if (tv.tv_sec > POOL_BACKOFF_MAX)
		tv.tv_sec = POOL_BACKOFF_MAX;
	log_debug("%s: upstream pool: next attempt in %lld s",
	    pl->srv->name, (long long)tv.tv_sec);
	pl->waiting = 1;
	evtimer_add(&pl->backoff, &tv);
}

static void
pool_fail(struct pconn *c, const char *why)
{
	struct pool	*pl = c->pool;

	if (!c->ready)
		log_warnx("%s: pooled connection to %s:%u: %s", pl->srv->name,
		    pl->srv->conf->server_address, pl->srv->conf->server_port,
		    why);
	pool_drop(c, why, 1);
	if (pl->failures > 0)
		pool_failed(pl);
	pool_fill(pl);
}

static void
pool_timer(int fd, short event, void *arg)
{
	struct pconn	*c = arg;
	struct pool	*pl = c->pool;

	if (!c->ready) {
		pool_fail(c, "no greeting in time");
		return;
	}
	/* Recycled before the server's own idle timeout. */
	pool_drop(c, "lifetime over", 0);
	pool_fill(pl);
}

/*
 * Is the greeting in buf whole?  1 yes and positive, 0 not yet, -1 not
 * a positive greeting.
 */
static int
pool_greeting(enum proto proto, const uint8_t *buf, size_t len)
{
	const uint8_t	*p = buf, *eol;
	size_t		 left = len;

	if (len == 0)
		return 0;
	switch (proto) {
	case PROTO_IMAP:
		if (strncasecmp((const char *)buf, "* OK",
		    len < 4 ? len : 4) != 0)
			return -1;
		break;
	case PROTO_POP:
		if (strncasecmp((const char *)buf, "+OK",
		    len < 3 ? len : 3) != 0)
			return -1;
		break;
	case PROTO_SMTP:
		/* "220-" lines, then "220 " or "220" alone. */
		while (left > 0) {
			if (memcmp(p, "220", left < 3 ? left : 3) != 0)
				return -1;
			if ((eol = memchr(p, '\n', left)) == NULL)
				return 0;
			if (eol - p < 3 || (eol - p > 3 && p[3] != '-' &&
			    p[3] != ' ' && p[3] != '\r'))
				return -1;
			if (eol - p == 3 || p[3] != '-')
				return eol + 1 == buf + len ? 1 : -1;
			left -= eol + 1 - p;
			p = eol + 1;
		}
		return 0;
	default:
		return -1;
	}
	/* One line, and nothing after it. */
	if ((eol = memchr(buf, '\n', len)) == NULL)
		return 0;
	return eol + 1 == buf + len && len >= 5 ? 1 : -1;
}

static void
pool_io(struct io *io, enum io_event ev, void *arg)
{
	struct pconn	*c = arg;
	struct pool	*pl = c->pool;
	struct timeval	 tv;
	int		 r;

	switch (ev) {
	case IO_TLSREADY:
		break;
	case IO_DATAIN:
		if (c->ready) {
			/* Unasked: a BYE before a timeout, or worse. */
			pool_drop(c, "the server spoke unasked", 1);
			if (pl->failures > 0)
				pool_failed(pl);
			pool_fill(pl);
			break;
		}
		r = pool_greeting(pl->srv->conf->proto, iobuf_data(&io->in),
		    iobuf_len(&io->in));
		if (r == -1 || (r == 0 &&
		    iobuf_len(&io->in) >= POOL_GREETING_MAX)) {
			pool_fail(c, "not a greeting");
			break;
		}
		if (r == 0)
			break;
		c->ready = 1;
		c->readyat = pool_now();
		pl->nready++;
		pl->failures = 0;
		evtimer_del(&c->timer);
		tv.tv_sec = pl->srv->conf->upstream_pool_lifetime;
		tv.tv_usec = 0;
		evtimer_add(&c->timer, &tv);
		log_debug("%s: pooled connection to %s:%u ready (%u of %u)",
		    pl->srv->name, pl->srv->conf->server_address,
		    pl->srv->conf->server_port, pl->nready,
		    pl->srv->conf->upstream_pool);
		/* A success ends the back-off: fill up. */
		pool_fill(pl);
		break;
	case IO_LOWAT:
		break;
	case IO_EOF:
		pool_fail(c, "closed by the server");
		break;
	case IO_ERROR:
		pool_fail(c, io_error(io));
		break;
	case IO_CLOSED:
		pool_fail(c, "closed");
		break;
	}
}

static void
pool_connected(int fd, const char *error, void *arg)
{
	struct pconn	*c = arg;
	struct pserver	*p = c->pool->srv;

	c->req = NULL;
	if (fd == -1) {
		pool_fail(c, error);
		return;
	}
	io_init(&c->io, fd, pool_io, c);
	if (p->conf->server_starttls)
		return;
	if (io_start_tls_client(&c->io, p->upstream,
	    p->conf->server_address) == -1)
		pool_fail(c, io_error(&c->io));
}

/* Start connections up to the size; one at a time while failing. */
static void
pool_fill(struct pool *pl)
{
	struct pconn	*c;
	struct server_conf *sc = pl->srv->conf;
	struct timeval	 tv = { POOL_SETUP_TIMEOUT, 0 };

	while (!pl->waiting && pl->n < sc->upstream_pool &&
	    (pl->failures == 0 || pl->n == pl->nready)) {
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			log_warn("%s: upstream pool", pl->srv->name);
			return;
		}
		c->pool = pl;
		c->io.fd = -1;
		c->io.state = IO_S_IDLE;
		evtimer_set(&c->timer, pool_timer, c);
		evtimer_add(&c->timer, &tv);
		TAILQ_INSERT_TAIL(&pl->conns, c, entry);
		pl->n++;
		stats.opened++;
		if ((c->req = upstream_connect(sc->server_address,
		    sc->server_port, pool_connected, c)) == NULL) {
			pool_drop(c, "cannot start a connection", 1);
			pool_failed(pl);
			return;
		}
		if (pl->failures > 0)
			return;
	}
}

void
pool_configure(struct pserver *p)
{
	struct pool	*pl;
	struct pconn	*c, *t;
	struct timeval	 tv;
	time_t		 now;

	if ((pl = p->pool) == NULL) {
		if (p->conf->upstream_pool == 0)
			return;
		if ((pl = calloc(1, sizeof(*pl))) == NULL) {
			log_warn("%s: upstream pool", p->name);
			return;
		}
		pl->srv = p;
		TAILQ_INIT(&pl->conns);
		evtimer_set(&pl->backoff, pool_backoff_done, pl);
		p->pool = pl;
	}
	/* Over the size: the ones not ready go first. */
	TAILQ_FOREACH_SAFE(c, &pl->conns, entry, t)
		if (pl->n > p->conf->upstream_pool && !c->ready)
			pool_drop(c, "pool made smaller", 0);
	TAILQ_FOREACH_SAFE(c, &pl->conns, entry, t)
		if (pl->n > p->conf->upstream_pool)
			pool_drop(c, "pool made smaller", 0);
	if (p->conf->upstream_pool == 0) {
		pool_free(p);
		return;
	}
	/* A new lifetime counts from when each became ready. */
	now = pool_now();
	TAILQ_FOREACH_SAFE(c, &pl->conns, entry, t) {
		if (!c->ready)
			continue;
		if (now - c->readyat >= p->conf->upstream_pool_lifetime) {
			pool_drop(c, "lifetime over", 0);
			continue;
		}
		tv.tv_sec = p->conf->upstream_pool_lifetime -
		    (now - c->readyat);
		tv.tv_usec = 0;
		evtimer_del(&c->timer);
		evtimer_add(&c->timer, &tv);
	}
	log_debug("%s: upstream pool of %u", p->name,
	    p->conf->upstream_pool);
	/* From the loop: at start this runs before the sandbox. */
	if (!pl->waiting) {
		tv.tv_sec = tv.tv_usec = 0;
		pl->waiting = 1;
		evtimer_add(&pl->backoff, &tv);
	}
}

void
pool_free(struct pserver *p)
{
	struct pool	*pl = p->pool;
	struct pconn	*c;

	if (pl == NULL)
		return;
	while ((c = TAILQ_FIRST(&pl->conns)) != NULL)
		pool_drop(c, "server section closed", 0);
	evtimer_del(&pl->backoff);
	free(pl);
	p->pool = NULL;
}

int
pool_take(struct pserver *p, struct io *to,
    void (*cb)(struct io *, enum io_event, void *), void *arg)
{
	struct pool	*pl = p->pool;
	struct pconn	*c;

	if (pl == NULL)
		return -1;
	TAILQ_FOREACH(c, &pl->conns, entry)
		if (c->ready)
			break;
	if (c == NULL)
		return -1;
	TAILQ_REMOVE(&pl->conns, c, entry);
	pl->n--;
	pl->nready--;
	stats.taken++;
	evtimer_del(&c->timer);
	io_move(to, &c->io, cb, arg);
	free(c);
	pool_fill(pl);
	return 0;
}

void
pool_counts(struct pserver *p, unsigned int *limit, unsigned int *size,
    unsigned int *idle)
{
	*limit = p->conf->upstream_pool;
	*size = p->pool != NULL ? p->pool->n : 0;
	*idle = p->pool != NULL ? p->pool->nready : 0;
}

void
pool_stats_get(struct pool_stats *st)
{
	*st = stats;
}
