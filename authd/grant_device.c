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
 * The device authorisation grant (RFC 8628): a form POST to the device
 * endpoint, then polling the token endpoint every interval seconds, 5 s
 * more after each slow_down, until the person has entered the code or
 * the code expires.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event.h>
#include <jansson.h>

#include "emailproxy.h"
#include "log.h"
#include "authd.h"

#define DEVICE_GRANT	"urn:ietf:params:oauth:grant-type:device_code"

static void	device_code_done(struct http_result *, void *);
static void	device_poll_done(struct http_result *, void *);

void
grant_device_start(struct flight *f)
{
	struct grant_conf	*gc = &f->gc;
	struct form		 form;

	form_init(&form);
	form_add(&form, "client_id", gc->client_id);
	form_add(&form, "scope", gc->scope);
	form_add(&form, "login_hint", gc->account);
	grant_post(f, "device authorisation", gc->permission_url, &form,
	    device_code_done);
}

static void
device_schedule(struct flight *f, unsigned int secs)
{
	struct timeval	 tv = { secs, 0 };

	evtimer_add(&f->poll_ev, &tv);
}

static void
device_code_done(struct http_result *res, void *arg)
{
	struct flight	*f = arg;
	const char	*code, *user_code, *uri;
	long long	 expires, interval;
	time_t		 now = time(NULL), until;
	char		*reason;

	f->http = NULL;
	code = json_string_value(json_object_get(res->json, "device_code"));
	user_code = json_string_value(json_object_get(res->json,
	    "user_code"));
	uri = json_string_value(json_object_get(res->json,
	    "verification_uri"));
	if (uri == NULL)	/* Google's older name */
		uri = json_string_value(json_object_get(res->json,
		    "verification_url"));
	if (res->status < 200 || res->status >= 300 || code == NULL ||
	    user_code == NULL || uri == NULL) {
		if (res->status == 0 || http_classify(res, 0) ==
		    AUTH_FAIL_TRANSIENT) {
			grant_http_fail(f, res, 0);
			return;
		}
		/* The endpoint's error becomes the reason. */
		reason = grant_reason(res);
		flight_fail(f, AUTH_FAIL_PERMANENT, "Login failed for account "
		    "%s: device authorisation refused: %s", f->gc.account,
		    reason);
		free(reason);
		return;
	}
	expires = DEVICE_EXPIRES_IN;
	interval = DEVICE_INTERVAL;
	if (grant_seconds(json_object_get(res->json, "expires_in"),
	    &expires) == -1 || expires == 0 ||
	    grant_seconds(json_object_get(res->json, "interval"),
	    &interval) == -1) {
		flight_fail(f, AUTH_FAIL_TRANSIENT, "Login failed for account "
		    "%s: the OAuth 2.0 server sent an unusable device "
		    "authorisation answer (expires_in or interval is not a "
		    "whole number of seconds up to %lld); please retry later",
		    f->gc.account, (long long)GRANT_SECONDS_MAX);
		return;
	}
	/* Never poll in a busy loop, nor so rarely the person waits. */
	if (interval < 1)
		interval = 1;
	else if (interval > DEVICE_MAX_INTERVAL)
		interval = DEVICE_MAX_INTERVAL;
	f->interval = interval;
	if ((f->device_code = strdup(code)) == NULL)
		fatal("%s", __func__);
	f->deadline = now + expires;
	until = now + authd_auth_timeout();
	if (until > f->deadline)
		until = f->deadline;
	f->state = FL_DEVICE;
	f->what = "device code";
	pending_start(f, uri, user_code, until);
	device_schedule(f, f->interval);
}

void
grant_device_poll(int fd, short event, void *arg)
{
	struct flight		*f = arg;
	struct grant_conf	*gc = &f->gc;
	struct form		 form;

	if (time(NULL) >= f->deadline) {
		flight_fail(f, AUTH_FAIL_EXPIRED, "Login failed for account "
		    "%s: the device code expired before it was entered",
		    gc->account);
		return;
	}
	form_init(&form);
	form_add(&form, "client_id", gc->client_id);
	if (grant_client_auth(f, &form, 0) == -1) {
		form_clear(&form);
		return;
	}
	form_add(&form, "scope", gc->scope);
	form_add(&form, "grant_type", DEVICE_GRANT);
	form_add(&form, "device_code", f->device_code);
	form_add(&form, "redirect_uri", gc->redirect_uri);
	grant_post(f, "device code", gc->token_url, &form, device_poll_done);
}

static void
device_poll_done(struct http_result *res, void *arg)
{
	struct flight	*f = arg;
	const char	*acct = f->gc.account;
	char		*reason;
	long		 wait;

	f->http = NULL;
	if (res->status >= 200 && res->status < 300) {
		grant_token_done(res, arg);
		return;
	}
	if (res->error != NULL && res->status == 400) {
		if (strcmp(res->error, "authorization_pending") == 0) {
			log_debug("account %s: waiting for the device code "
			    "to be entered; next poll in %u s", acct,
			    f->interval);
			device_schedule(f, f->interval);
			return;
		}
		if (strcmp(res->error, "slow_down") == 0) {
			if (f->interval + DEVICE_SLOW_DOWN <=
			    DEVICE_MAX_INTERVAL)
				f->interval += DEVICE_SLOW_DOWN;
			log_debug("account %s: slow_down; polling every %u s",
			    acct, f->interval);
			device_schedule(f, f->interval);
			return;
		}
		if (strcmp(res->error, "expired_token") == 0) {
			flight_fail(f, AUTH_FAIL_EXPIRED, "Login failed for "
			    "account %s: the device code expired before it "
			    "was entered", acct);
			return;
		}
		if (strcmp(res->error, "access_denied") == 0) {
			reason = grant_reason(res);
			flight_fail(f, AUTH_FAIL_PERMANENT, "Login failed for "
			    "account %s: OAuth 2.0 authorisation error for "
			    "account %s: %s", acct, acct, reason);
			free(reason);
			return;
		}
	}
	if (http_classify(res, 0) == AUTH_FAIL_TRANSIENT) {
		/* The person may be typing the code: keep polling. */
		wait = res->retry_after > (long)f->interval ?
		    res->retry_after : (long)f->interval;
		reason = res->status == 0 ? strdup(res->errstr ?
		    res->errstr : "network error") : grant_reason(res);
		log_warnx("account %s: device code poll failed (%s); "
		    "retrying in %ld s", acct, reason ? reason : "?", wait);
		free(reason);
		device_schedule(f, wait);
		return;
	}
	grant_http_fail(f, res, 0);
}
