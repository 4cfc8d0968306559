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
 * Pending authorisations: when a grant needs a person, say
 * so at notice level with the URL (and code) to use, tell the parent
 * (which runs notify_command), repeat it while nobody acts, and give up
 * after auth_timeout.  authd alone holds them: emailproxyctl show
 * pending reads them here (ctl.c), relayed by the parent.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event.h>

#include "emailproxy.h"
#include "log.h"
#include "authd.h"

unsigned int	 pending_announce_secs = AUTHD_ANNOUNCE_SECS;

static void
announce(struct flight *f, const char *still)
{
	/* The page's URL holds the state: it goes to the browser alone. */
	if (f->page)
		log_notice("account %s %sneeds authorisation: the person "
		    "was sent to the provider from the authorisation page",
		    f->gc.account, still);
	else if (f->pend_code != NULL)
		log_notice("account %s %sneeds authorisation: visit %s and "
		    "enter code %s", f->gc.account, still, f->pend_url,
		    f->pend_code);
	else
		log_notice("account %s %sneeds authorisation: visit %s",
		    f->gc.account, still, f->pend_url);
}

static void
announce_schedule(struct flight *f)
{
	struct timeval	 tv = { pending_announce_secs, 0 };

	evtimer_add(&f->announce_ev, &tv);
}

void
pending_start(struct flight *f, const char *url, const char *code,
    time_t expiry)
{
	struct timeval	 tv;
	struct waiter	*w;
	time_t		 now = time(NULL);

	pending_stop(f);
	if ((f->pend_url = strdup(url)) == NULL ||
	    (code != NULL && (f->pend_code = strdup(code)) == NULL))
		fatal("%s", __func__);
	f->pend_expiry = expiry;
	f->pending = 1;
	announce(f, "");
	if (f->page) {
		/* The person is at the page: it shows them, nobody else. */
		TAILQ_FOREACH(w, &f->waiters, entry)
			authd_send_consent(w->id, url, f->oauth_state, code,
			    (uint64_t)expiry);
	} else
		authd_send_pending(f->gc.account, url, code,
		    (uint64_t)expiry);
	/* emailproxyctl authorise waits for these details. */
	ctl_flight_pending(f);
	announce_schedule(f);
	tv.tv_sec = expiry > now ? expiry - now : 0;
	tv.tv_usec = 0;
	evtimer_add(&f->expire_ev, &tv);
}

void
pending_announce(int fd, short event, void *arg)
{
	struct flight	*f = arg;

	if (!f->pending)
		return;
	announce(f, "still ");
	announce_schedule(f);
}

/* Authorised, failed or expired: no longer shown. */
void
pending_stop(struct flight *f)
{
	if (!f->pending)
		return;
	f->pending = 0;
	evtimer_del(&f->announce_ev);
	evtimer_del(&f->expire_ev);
	free(f->pend_url);
	free(f->pend_code);
	f->pend_url = f->pend_code = NULL;
}
