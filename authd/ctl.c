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
 * Control requests the control process sends authd (peerid = the
 * control connection): emailproxyctl authorise, show pending and show
 * stats.  Each answer is CTL_DATA* then CTL_END, or a single CTL_FAIL.
 * An authorise request may wait on a flight (its ctl_waiters) for a
 * pending authorisation's details or for the end of the code exchange;
 * if the tool has gone by then, the control process drops the answer.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "emailproxy.h"
#include "log.h"
#include "proc.h"
#include "ctl_answer.h"
#include "authd.h"

static void
ctl_data(struct imsgev *iev, uint32_t id, json_t *obj)
{
	ctl_answer_data(&iev->ibuf, id, obj);
	imsg_event_add(iev);
	json_decref(obj);
}

static void
ctl_fail(struct imsgev *iev, uint32_t id, const char *why)
{
	ctl_answer_end(&iev->ibuf, id, why);
	imsg_event_add(iev);
}

static void
ctl_end(struct imsgev *iev, uint32_t id)
{
	ctl_answer_end(&iev->ibuf, id, NULL);
	imsg_event_add(iev);
}

static void
ctl_failf(struct imsgev *iev, uint32_t id, const char *fmt, ...)
{
	va_list	 ap;
	char	*why;

	va_start(ap, fmt);
	if (vasprintf(&why, fmt, ap) == -1)
		fatal("%s", __func__);
	va_end(ap);
	ctl_fail(iev, id, why);
	free(why);
}

static json_t *
pending_obj(struct flight *f)
{
	return (json_pack("{s:s, s:s, s:s?, s:I}", "account", f->gc.account,
	    "url", f->pend_url, "user_code", f->pend_code,
	    "expires", (json_int_t)f->pend_expiry));
}

/* logins: how many waiting logins got the tokens; 0: they are kept. */
static json_t *
authorised_obj(struct flight *f, int logins)
{
	json_t	*o;

	o = json_pack("{s:s, s:b, s:i}", "account", f->gc.account,
	    "authorised", 1, "logins", logins);
	if (o != NULL && f->state == FL_PARKED)
		json_object_set_new(o, "kept_until",
		    json_integer((json_int_t)f->park_until));
	return (o);
}

/* The flight's authorisation waits for a person: tell who asked. */
void
ctl_flight_pending(struct flight *f)
{
	struct waiter	*w;

	while ((w = TAILQ_FIRST(&f->ctl_waiters)) != NULL) {
		TAILQ_REMOVE(&f->ctl_waiters, w, entry);
		ctl_data(iev_control, w->id, pending_obj(f));
		ctl_end(iev_control, w->id);
		free(w);
	}
}

void
ctl_flight_authorised(struct flight *f, int logins)
{
	struct waiter	*w;

	while ((w = TAILQ_FIRST(&f->ctl_waiters)) != NULL) {
		TAILQ_REMOVE(&f->ctl_waiters, w, entry);
		ctl_data(iev_control, w->id, authorised_obj(f, logins));
		ctl_end(iev_control, w->id);
		free(w);
	}
}

/* why is a login's failure message: the tool hears "account X: ...". */
void
ctl_flight_fail(struct flight *f, const char *why)
{
	struct waiter	*w;
	const char	*lf = "Login failed for account ", *rest = why;
	size_t		 n = strlen(lf), an = strlen(f->gc.account);

	if (TAILQ_EMPTY(&f->ctl_waiters))
		return;
	if (strncmp(why, lf, n) == 0 &&
	    strncmp(why + n, f->gc.account, an) == 0 &&
	    (strncmp(why + n + an, ": ", 2) == 0 ||
	    strncmp(why + n + an, " - ", 3) == 0))
		rest = why + n + an + (why[n + an] == ':' ? 2 : 3);
	while ((w = TAILQ_FIRST(&f->ctl_waiters)) != NULL) {
		TAILQ_REMOVE(&f->ctl_waiters, w, entry);
		if (rest != why)
			ctl_failf(iev_control, w->id, "account %s: %s",
			    f->gc.account, rest);
		else
			ctl_fail(iev_control, w->id, why);
		free(w);
	}
}

static int
person_needed(enum oauth2_flow flow)
{
	return (flow == FLOW_AUTHORIZATION_CODE || flow == FLOW_DEVICE ||
	    flow == FLOW_UNSET);
}

/*
 * authorise account: join the account's authorisation (its details, or
 * "authorised" if its tokens wait for a login), or start one.
 */
static void
ctl_authorise_start(struct imsgev *iev, uint32_t id, const char *account,
    const struct account_view *v)
{
	struct flight	*f;
	char		*why;

	if ((f = flight_interactive(account)) != NULL) {
		if (f->state == FL_PARKED) {
			ctl_data(iev, id, authorised_obj(f, 0));
			ctl_end(iev, id);
		} else if (f->pending) {
			/* A person has the URL now: it stays pending. */
			f->ctl_told = 1;
			ctl_data(iev, id, pending_obj(f));
			ctl_end(iev, id);
		} else	/* not pending yet, or exchanging the code */
			flight_ctl_wait(f, id);
		return;
	}
	if (!person_needed(v->flow)) {
		ctl_failf(iev, id, "%s uses the %s grant: nothing to "
		    "authorise, a login obtains its token", account,
		    flow_name(v->flow));
		return;
	}
	/* Only a login's password decrypts it (tokend). */
	if (v->client_secret == NULL && v->client_secret_encrypted != NULL) {
		ctl_failf(iev, id, "%s has an encrypted client secret that "
		    "only its login password unlocks: a login must start the "
		    "authorisation", account);
		return;
	}
	if (flight_authorise(id, account, &why) == -1) {
		ctl_fail(iev, id, why);
		free(why);
	}
}

/*
 * authorise account url: hand the redirect to the pending authorisation
 * (matched by its state); the answer comes when the code exchange is
 * over: authorised, or the provider's reason.
 */
static void
ctl_authorise_url(struct imsgev *iev, uint32_t id, const char *account,
    const struct account_view *v, const char *url)
{
	struct flight	*f;
	enum oauth2_flow flow;
	const char	*err;

	f = flight_pending(account);
	flow = f != NULL ? f->gc.flow : v->flow;
	if (flow == FLOW_DEVICE) {
		ctl_fail(iev, id, "this account uses the device grant: enter "
		    "the code at the URL shown instead");
		return;
	}
	if (!person_needed(flow)) {
		ctl_failf(iev, id, "%s uses the %s grant: nothing to "
		    "authorise, a login obtains its token", account,
		    flow_name(flow));
		return;
	}
	if (f == NULL || f->state != FL_REDIRECT) {
		ctl_failf(iev, id, "no authorisation is pending for %s",
		    account);
		return;
	}
	if (!redirect_paste(account, url, &id, &err)) {
		log_warnx("account %s: pasted authorisation URL refused: %s",
		    account, err);
		ctl_failf(iev, id, "account %s: %s", account, err);
		return;
	}
	/* The flight answers id. */
	if (err != NULL)
		log_warnx("account %s: pasted authorisation URL refused: %s",
		    account, err);
	else
		log_info("account %s: authorisation URL accepted from "
		    "emailproxyctl", account);
}

static void
ctl_authorise(struct imsgev *iev, uint32_t id, struct imsg *imsg)
{
	struct msgr		 m;
	struct account_view	 v;
	const char		*account, *url;

	msg_read_init(&m, imsg);
	account = msg_get_str(&m);
	url = msg_get_str(&m);
	if (msg_read_end(&m) == -1 || account == NULL || *account == '\0') {
		ctl_fail(iev, id, "malformed request");
		return;
	}
	if (account_resolve(authd_conf, account, &v) == -1) {
		ctl_failf(iev, id, "unknown account %s", account);
		return;
	}
	/* The section's spelling, whatever case was typed. */
	if (v.section != NULL)
		account = v.section->name;
	if (url == NULL)
		ctl_authorise_start(iev, id, account, &v);
	else
		ctl_authorise_url(iev, id, account, &v, url);
}

/* show pending: every authorisation that waits for a person. */
static void
ctl_show_pending(struct imsgev *iev, uint32_t id)
{
	struct flight	*f = NULL;

	while ((f = flight_next_pending(f)) != NULL)
		ctl_data(iev, id, pending_obj(f));
	ctl_end(iev, id);
}

void
ctl_stats(struct imsgev *iev, uint32_t id)
{
	ctl_data(iev, id, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:i}",
	    "authd_requests_total", (json_int_t)authd_stats.requests,
	    "authd_requests_joined_total", (json_int_t)authd_stats.joined,
	    "authd_grants_ok_total", (json_int_t)authd_stats.tokens,
	    "authd_grants_failed_total", (json_int_t)authd_stats.failures,
	    "authd_http_requests_total", (json_int_t)authd_stats.http,
	    "authd_redirects_total", (json_int_t)authd_stats.redirects,
	    "authd_pending_authorisations", flight_count_pending()));
	ctl_end(iev, id);
}

/* The control process's handler: DISPATCH_UNKNOWN for any other type. */
int
authd_ctl(struct imsgev *iev, struct imsg *imsg)
{
	uint32_t	 id = imsg_get_id(imsg);

	switch (imsg_get_type(imsg)) {
	case IMSG_CTL_AUTHORISE:
		ctl_authorise(iev, id, imsg);
		/* A pasted URL carries a code. */
		if (imsg->data != NULL)
			explicit_bzero(imsg->data, imsg_get_len(imsg));
		break;
	case IMSG_CTL_SHOW_PENDING:
		ctl_show_pending(iev, id);
		break;
	case IMSG_CTL_SHOW_STATS:
		ctl_stats(iev, id);
		break;
	default:
		return (DISPATCH_UNKNOWN);
	}
	return (DISPATCH_OK);
}
