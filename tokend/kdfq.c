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
 * The KDF queue.  A login that must derive a key (or check a crypt(3)
 * hash) waits here; one such login is decided per turn of the event
 * loop, so between two of them tokend reads the proxy again and
 * answers every login that costs no KDF (an unlocked account's warm
 * login) at once.  The queue is bounded: TK_KDFQ_MAX logins in all,
 * TK_KDFQ_PER_ADDR from one client address and TK_KDFQ_PER_ACCOUNT
 * for one account; a login beyond a bound is refused at once as
 * throttled.  Turns go round the client addresses, so one address
 * with many logins delays another's by at most one KDF per login of
 * its own.  A login with the same account and password as one queued
 * follows it without a place of its own and is decided right after
 * it, mostly from what it unlocked.
 */

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tokend.h"

/* The logins of one client address, oldest first. */
struct kdfq_src {
	TAILQ_ENTRY(kdfq_src) entry;
	char		*client;
	struct tk_reqlist reqs;
	unsigned int	 n;
};
TAILQ_HEAD(kdfq_srclist, kdfq_src);

static struct kdfq_srclist	 srcs = TAILQ_HEAD_INITIALIZER(srcs);
static unsigned int		 nqueued;
static struct event		 turn_ev;
static int			 turn_armed, turn_set;

static void	 kdfq_turn(int, short, void *);

static void
kdfq_arm(void)
{
	struct timeval	tv;

	if (turn_armed || nqueued == 0)
		return;
	if (!turn_set) {
		evtimer_set(&turn_ev, kdfq_turn, NULL);
		turn_set = 1;
	}
	timerclear(&tv);
	evtimer_add(&turn_ev, &tv);
	turn_armed = 1;
}

static struct kdfq_src *
src_find(const char *client)
{
	struct kdfq_src	*s;

	TAILQ_FOREACH(s, &srcs, entry)
		if (strcmp(s->client, client) == 0)
			return (s);
	return (NULL);
}

static void
src_free(struct kdfq_src *s)
{
	TAILQ_REMOVE(&srcs, s, entry);
	free(s->client);
	free(s);
}

/* Logins queued for this account (the queue is short: a walk). */
static unsigned int
account_queued(const char *account)
{
	struct kdfq_src	*s;
	struct tk_req	*req;
	unsigned int	 n = 0;

	TAILQ_FOREACH(s, &srcs, entry)
		TAILQ_FOREACH(req, &s->reqs, entry)
			n += strcmp(req->qaccount, account) == 0;
	return (n);
}

/* A queued login with the same account and password, or NULL. */
static struct tk_req *
leader_find(const struct tk_req *req, const char *account)
{
	struct kdfq_src	*s;
	struct tk_req	*q;

	TAILQ_FOREACH(s, &srcs, entry)
		TAILQ_FOREACH(q, &s->reqs, entry)
			if (strcmp(q->qaccount, account) == 0 &&
			    tk_equal(q->verifier, req->verifier, TK_MACLEN))
				return (q);
	return (NULL);
}

static void
followers_free(struct tk_req *req, int answer)
{
	struct tk_req	*f;

	while ((f = TAILQ_FIRST(&req->followers)) != NULL) {
		TAILQ_REMOVE(&req->followers, f, entry);
		if (answer)
			reply_fail(f, TOKEN_FAIL_PROVIDER, "emailproxy is "
			    "shutting down");
		req_free(f);
	}
}

/*
 * Queue req for its turn; 0, or -1 when a bound refused it (req is
 * answered and freed then).
 */
int
kdfq_add(struct tk_req *req, const char *account)
{
	struct kdfq_src	*s;
	struct tk_req	*leader;
	const char	*why = NULL;

	TAILQ_INIT(&req->followers);
	if ((leader = leader_find(req, account)) != NULL) {
		TAILQ_INSERT_TAIL(&leader->followers, req, entry);
		return (0);
	}
	s = src_find(req->client);
	if (nqueued >= TK_KDFQ_MAX)
		why = "too many logins are being checked";
	else if (s != NULL && s->n >= TK_KDFQ_PER_ADDR)
		why = "too many logins from this address are being checked";
	else if (account_queued(account) >= TK_KDFQ_PER_ACCOUNT)
		why = "too many logins for this account are being checked";
	if (why != NULL) {
		tk.stats.kdfq_refused++;
		log_info("%s: %s (from %s) - refusing login", req->logname,
		    why, req->client);
		reply_fail(req, TOKEN_FAIL_THROTTLED, "%s; try again in a "
		    "moment", why);
		req_free(req);
		return (-1);
	}
	if ((req->qaccount = strdup(account)) == NULL)
		fatal(NULL);
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL ||
		    (s->client = strdup(req->client)) == NULL)
			fatal(NULL);
		TAILQ_INIT(&s->reqs);
		TAILQ_INSERT_TAIL(&srcs, s, entry);
	}
	TAILQ_INSERT_TAIL(&s->reqs, req, entry);
	s->n++;
	nqueued++;
	kdfq_arm();
	return (0);
}

/* The next login in turn, or NULL. */
static struct tk_req *
kdfq_next(void)
{
	struct kdfq_src	*s;
	struct tk_req	*req;

	if ((s = TAILQ_FIRST(&srcs)) == NULL)
		return (NULL);
	req = TAILQ_FIRST(&s->reqs);
	TAILQ_REMOVE(&s->reqs, req, entry);
	s->n--;
	nqueued--;
	/* The address goes to the back of the round. */
	TAILQ_REMOVE(&srcs, s, entry);
	if (s->n > 0)
		TAILQ_INSERT_TAIL(&srcs, s, entry);
	else {
		free(s->client);
		free(s);
	}
	free(req->qaccount);
	req->qaccount = NULL;
	return (req);
}

/* Decide one queued login, then yield to the event loop. */
static void
kdfq_turn(int fd, short ev, void *arg)
{
	turn_armed = 0;
	kdfq_run_one();
	kdfq_arm();
}

/* 1 if a login was decided. */
int
kdfq_run_one(void)
{
	struct tk_reqlist	 followers;
	struct tk_req		*req;

	if ((req = kdfq_next()) == NULL)
		return (0);
	TAILQ_INIT(&followers);
	TAILQ_CONCAT(&followers, &req->followers, entry);
	req->kdf_turn = 1;
	login_run(req);
	/* Decided afresh: most find the account unlocked now. */
	while ((req = TAILQ_FIRST(&followers)) != NULL) {
		TAILQ_REMOVE(&followers, req, entry);
		login_run(req);
	}
	return (1);
}

unsigned int
kdfq_len(void)
{
	return (nqueued);
}

/* The session is gone: its queued login goes nowhere. */
void
kdfq_cancel_session(uint32_t sid, int page)
{
	struct kdfq_src	*s, *snext;
	struct tk_req	*req, *rnext, *f, *fnext;

	TAILQ_FOREACH_SAFE(s, &srcs, entry, snext) {
		TAILQ_FOREACH_SAFE(req, &s->reqs, entry, rnext) {
			TAILQ_FOREACH_SAFE(f, &req->followers, entry, fnext)
				if (f->sid == sid && !f->ctl &&
				    f->page == page) {
					TAILQ_REMOVE(&req->followers, f,
					    entry);
					req_free(f);
				}
			if (req->sid != sid || req->ctl ||
			    req->page != page)
				continue;
			/* The first follower takes the place. */
			TAILQ_REMOVE(&s->reqs, req, entry);
			if ((f = TAILQ_FIRST(&req->followers)) != NULL) {
				TAILQ_REMOVE(&req->followers, f, entry);
				TAILQ_INIT(&f->followers);
				TAILQ_CONCAT(&f->followers, &req->followers,
				    entry);
				f->qaccount = req->qaccount;
				req->qaccount = NULL;
				if (rnext != NULL)
					TAILQ_INSERT_BEFORE(rnext, f, entry);
				else
					TAILQ_INSERT_TAIL(&s->reqs, f, entry);
			} else {
				s->n--;
				nqueued--;
			}
			req_free(req);
		}
		if (s->n == 0)
			src_free(s);
	}
}

/* Shutdown: every queued login hears that it will not be decided. */
void
kdfq_shutdown(void)
{
	struct kdfq_src	*s;
	struct tk_req	*req;

	while ((s = TAILQ_FIRST(&srcs)) != NULL) {
		while ((req = TAILQ_FIRST(&s->reqs)) != NULL) {
			TAILQ_REMOVE(&s->reqs, req, entry);
			reply_fail(req, TOKEN_FAIL_PROVIDER, "emailproxy is "
			    "shutting down");
			followers_free(req, 1);
			req_free(req);
		}
		src_free(s);
	}
	nqueued = 0;
	if (turn_armed)
		evtimer_del(&turn_ev);
	turn_armed = 0;
}
