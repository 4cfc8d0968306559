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
 * What every grant shares: choosing the grant, client authentication
 * (secret or Entra assertion), posting to a token endpoint and turning
 * its answer into tokens or a classified failure.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "emailproxy.h"
#include "log.h"
#include "authd.h"

void
grant_start(struct flight *f)
{
	if (f->op == AUTH_OP_REFRESH && f->gc.flow != FLOW_SERVICE_ACCOUNT) {
		grant_refresh(f);
		return;
	}
	switch (f->gc.flow) {
	case FLOW_AUTHORIZATION_CODE:
		grant_code_start(f);
		break;
	case FLOW_DEVICE:
		grant_device_start(f);
		break;
	case FLOW_CLIENT_CREDENTIALS:
		grant_client_credentials(f);
		break;
	case FLOW_PASSWORD:
		grant_password(f);
		break;
	case FLOW_SERVICE_ACCOUNT:
		/* No refresh token: a new assertion each time. */
		grant_service_account(f);
		break;
	case FLOW_UNSET:
		/* Refused before: a grant needs a flow (account_gap()). */
		flight_fail(f, AUTH_FAIL_PERMANENT, "Login failed for account "
		    "%s: no grant to obtain tokens with", f->gc.account);
		break;
	}
}

/*
 * Client authentication for a token request: the client
 * secret, else an Entra certificate assertion, else (client credentials
 * only, when configured) the login password.  -1 when the flight failed.
 */
int
grant_client_auth(struct flight *f, struct form *form, int allow_password)
{
	struct grant_conf	*gc = &f->gc;
	char			*a;

	if (gc->client_secret != NULL && *gc->client_secret != '\0') {
		if (gc->jwt_configured)
			log_debug("account %s: a client secret is set; the "
			    "certificate credentials are not used",
			    gc->account);
		form_add(form, "client_secret", gc->client_secret);
		return (0);
	}
	if (gc->jwt_configured) {
		a = NULL;
		if (gc->jwt_cert != NULL && gc->jwt_key != NULL)
			a = jwt_entra_assertion(gc->jwt_cert, gc->jwt_key,
			    gc->client_id, gc->token_url, time(NULL));
		if (a == NULL) {
			flight_fail(f, AUTH_FAIL_PERMANENT, "Unable to create "
			    "credentials assertion for account %s - please "
			    "check that the config file entry's "
			    "`jwt_certificate_path` and `jwt_key_path` values "
			    "are correct", gc->account);
			return (-1);
		}
		form_add(form, "client_assertion_type", ASSERTION_TYPE);
		form_add(form, "client_assertion", a);
		str_wipe(&a);
		return (0);
	}
	if (allow_password && gc->login_password_secret &&
	    gc->password != NULL)
		form_add(form, "client_secret", gc->password);
	return (0);
}

/* POST form to url; the answer goes to cb.  -1 when the flight failed. */
int
grant_post(struct flight *f, const char *what, const char *url,
    struct form *form, http_cb cb)
{
	f->what = what;
	authd_stats.http++;
	if ((f->http = http_post(url, form, cb, f)) == NULL) {
		flight_fail(f, AUTH_FAIL_TRANSIENT, "Login failed for account "
		    "%s - out of memory", f->gc.account);
		return (-1);
	}
	if (f->state != FL_DEVICE)
		f->state = FL_HTTP;
	return (0);
}

/*
 * A duration in seconds from an OAuth answer (expires_in, interval): a
 * JSON integer, a real with an integral value, or a string of digits,
 * from 0 to GRANT_SECONDS_MAX.  0 and *secs set; 1 when the member is
 * absent (or null); -1 when it holds anything else: a negative, huge
 * (1e300), fractional or non-numeric value is the server's error, never
 * converted.
 */
int
grant_seconds(json_t *v, long long *secs)
{
	const char	*s;
	double		 d;
	long long	 n;
	size_t		 len;

	if (v == NULL || json_is_null(v))
		return (1);
	if (json_is_integer(v))
		n = json_integer_value(v);
	else if (json_is_real(v)) {
		d = json_real_value(v);
		/* Compared as doubles: the cast below is always defined. */
		if (!(d >= 0 && d <= GRANT_SECONDS_MAX) || d != (long long)d)
			return (-1);
		n = (long long)d;
	} else if ((s = json_string_value(v)) != NULL) {
		len = strlen(s);
		if (len == 0 || len > 10 || strspn(s, "0123456789") != len)
			return (-1);
		n = strtoll(s, NULL, 10);
	} else
		return (-1);
	if (n < 0 || n > GRANT_SECONDS_MAX)
		return (-1);
	*secs = n;
	return (0);
}

void
grant_token_done(struct http_result *res, void *arg)
{
	struct flight	*f = arg;
	json_t		*at, *rt;
	const char	*access;
	long long	 lifetime;

	f->http = NULL;
	if (res->status >= 200 && res->status < 300 && res->json != NULL &&
	    (at = json_object_get(res->json, "access_token")) != NULL &&
	    (access = json_string_value(at)) != NULL && *access != '\0') {
		switch (grant_seconds(json_object_get(res->json, "expires_in"),
		    &lifetime)) {
		case 1:
			lifetime = TOKEN_DEFAULT_LIFETIME;
			break;
		case -1:
			flight_fail(f, AUTH_FAIL_TRANSIENT, "Login failed for "
			    "account %s: the OAuth 2.0 server sent an unusable "
			    "answer (expires_in is not a number of seconds "
			    "from 0 to %lld); please retry later",
			    f->gc.account, (long long)GRANT_SECONDS_MAX);
			return;
		}
		rt = json_object_get(res->json, "refresh_token");
		flight_tokens(f, access, (uint64_t)time(NULL) + lifetime,
		    json_string_value(rt) != NULL &&
		    *json_string_value(rt) != '\0' ? json_string_value(rt) :
		    NULL);
		return;
	}
	grant_http_fail(f, res, f->op == AUTH_OP_REFRESH);
}

/* "error; description" from the provider, or the HTTP status. */
char *
grant_reason(const struct http_result *res)
{
	char	*e, *d, *s;
	int	 r;

	e = clean_text(res->error, 100);
	d = clean_text(res->error_description, 300);
	if (e != NULL && d != NULL && *d != '\0')
		r = asprintf(&s, "%s; %s", e, d);
	else if (e != NULL)
		r = asprintf(&s, "%s", e);
	else
		r = asprintf(&s, "HTTP %ld%s", res->status,
		    res->json == NULL ? " (not JSON)" : "");
	free(e);
	free(d);
	if (r == -1)
		fatal("%s", __func__);
	return (s);
}

/* A token endpoint answer that gave no tokens: say why, and classify. */
void
grant_http_fail(struct flight *f, struct http_result *res, int refresh)
{
	enum auth_fail	 class = http_classify(res, refresh);
	const char	*acct = f->gc.account, *what = f->what;
	char		*reason;

	if (res->status == 0) {
		log_warnx("account %s: %s request failed: %s", acct, what,
		    res->errstr != NULL ? res->errstr : "unknown error");
		flight_fail(f, class, "Login failed for account %s - please "
		    "check your internet connection and retry", acct);
		return;
	}
	reason = grant_reason(res);
	if (res->status >= 200 && res->status < 300)
		flight_fail(f, class, "Login failed for account %s: the "
		    "OAuth 2.0 server sent an unusable answer (%s); please "
		    "retry later", acct, reason);
	else if (res->status == 429 && res->retry_after > 0)
		flight_fail(f, class, "Login failed for account %s: the "
		    "OAuth 2.0 server is busy (HTTP 429, %s); retry after %ld "
		    "s", acct, reason, res->retry_after);
	else if (class == AUTH_FAIL_TRANSIENT)
		flight_fail(f, class, "Login failed for account %s: the "
		    "OAuth 2.0 server failed (HTTP %ld, %s); please retry "
		    "later", acct, res->status, reason);
	else
		flight_fail(f, class, "Login failed for account %s: %s "
		    "request refused (HTTP %ld): %s", acct, what, res->status,
		    reason);
	free(reason);
}
