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
 * Refresh ahead: an unlocked account whose token can be renewed without
 * a person (a refresh token, or a client-credentials or service-account
 * grant) is renewed before the login margin begins, so a login does not
 * wait for the OAuth server.  Transient failures are retried with
 * backoff until the token expires; invalid_grant and other permanent
 * failures stop it.  Accounts unused for TK_IDLE_AHEAD seconds are left
 * alone until their next login.  It starts max(refresh_ahead, the login
 * margin) before expiry, at most half the lifetime; refresh_ahead = 0
 * turns it off.
 */

#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "tokend.h"

static void	ahead_fire(int, short, void *);

void
ahead_stop(struct tk_account *a)
{
	if (a->ahead_armed)
		evtimer_del(&a->ahead_ev);
	a->ahead_armed = 0;
}

static void
ahead_arm(struct tk_account *a, int64_t delay)
{
	struct timeval	tv;

	ahead_stop(a);
	if (delay < 1)
		delay = 1;
	timerclear(&tv);
	tv.tv_sec = delay;
	evtimer_set(&a->ahead_ev, ahead_fire, a);
	evtimer_add(&a->ahead_ev, &tv);
	a->ahead_armed = 1;
	log_debug("%s: refresh ahead in %lld s", a->name, (long long)delay);
}

static int
ahead_possible(struct tk_account *a, int64_t now)
{
	struct account_view	v;

	/* refresh_ahead = 0 turns it off. */
	if (!a->unlocked || a->secrets.access_token == NULL ||
	    tk.conf->refresh_ahead == 0)
		return (0);
	if (account_resolve(tk.conf, a->name, &v) == -1 ||
	    !flight_can_run_unattended(&v, a))
		return (0);
	return (now - a->last_use <= TK_IDLE_AHEAD);
}

void
ahead_schedule(struct tk_account *a)
{
	int64_t		now = time(NULL), life, ahead, jitter, when;

	ahead_stop(a);
	if (!ahead_possible(a, now))
		return;
	life = a->expiry - a->last_refresh;
	if (a->last_refresh <= 0 || life <= 0)
		life = TOKEN_DEFAULT_LIFETIME;
	/* Before the login margin, but not more than half the lifetime. */
	ahead = tk.conf->refresh_ahead;
	if (ahead < tk_margin(a))
		ahead = tk_margin(a);
	if (ahead > life / 2)
		ahead = life / 2;
	/* Spread accounts that were unlocked together. */
	jitter = ahead / 10 < 60 ? ahead / 10 : 60;
	if (jitter > 0)
		jitter = arc4random_uniform(jitter + 1);
	when = a->expiry - ahead - jitter;
	ahead_arm(a, when - now);
}

/* The end of any flight of this account. */
void
ahead_result(struct tk_account *a, int ok, enum auth_fail cls)
{
	int64_t		now = time(NULL), delay;

	if (ok) {
		a->ahead_failures = 0;
		ahead_schedule(a);
		return;
	}
	ahead_stop(a);
	if (cls != AUTH_FAIL_TRANSIENT || !ahead_possible(a, now))
		return;
	delay = (int64_t)30 << (a->ahead_failures < 5 ? a->ahead_failures : 5);
	if (delay > TK_MAX_BACKOFF)
		delay = TK_MAX_BACKOFF;
	a->ahead_failures++;
	if (now + delay >= a->expiry)
		return;		/* the next login will try */
	ahead_arm(a, delay);
}

static void
ahead_fire(int fd, short ev, void *arg)
{
	struct tk_account	*a = arg;
	struct account_view	 v;

	a->ahead_armed = 0;
	if (a->flight != NULL || !ahead_possible(a, time(NULL)))
		return;
	if (account_resolve(tk.conf, a->name, &v) == -1)
		return;
	flight_start(a, a->secrets.refresh_token != NULL ? AUTH_OP_REFRESH :
	    AUTH_OP_OBTAIN, NULL, NULL, NULL);
}
