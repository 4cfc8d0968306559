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
 * The authorization code grant with PKCE:
 * a person visits the permission URL; the provider redirects the browser
 * to redirect_uri, where redirect.c (or a URL pasted into emailproxyctl)
 * hands us the code, matched to this flight by its random state.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emailproxy.h"
#include "log.h"
#include "authd.h"

void
grant_code_start(struct flight *f)
{
	struct grant_conf	*gc = &f->gc;
	struct form		 q;
	char			*challenge = NULL, *url;
	const char		*sep;
	size_t			 n;

	/* Refused before without them (account_gap()); never built. */
	if (gc->permission_url == NULL || gc->redirect_uri == NULL) {
		flight_fail(f, AUTH_FAIL_PERMANENT, "Login failed for account "
		    "%s: no permission_url or redirect_uri", gc->account);
		return;
	}
	if ((f->oauth_state = random_b64url(STATE_BYTES)) == NULL)
		fatal("%s", __func__);
	if (gc->use_pkce) {
		if ((f->verifier = random_b64url(PKCE_VERIFIER_BYTES)) ==
		    NULL || (challenge = pkce_challenge(f->verifier)) == NULL)
			fatal("%s", __func__);
	}
	form_init(&q);
	form_add(&q, "client_id", gc->client_id);
	form_add(&q, "redirect_uri", gc->redirect_uri);
	form_add(&q, "scope", gc->scope);
	form_add(&q, "response_type", "code");
	form_add(&q, "access_type", "offline");
	form_add(&q, "login_hint", gc->account);
	form_add(&q, "state", f->oauth_state);
	if (challenge != NULL) {
		form_add(&q, "code_challenge", challenge);
		form_add(&q, "code_challenge_method", "S256");
	}
	free(challenge);
	if (q.error) {
		form_clear(&q);
		flight_fail(f, AUTH_FAIL_PERMANENT, "Login failed for account "
		    "%s: the permission URL would be too long", gc->account);
		return;
	}
	/* A URL with a query already gets '&'. */
	n = strlen(gc->permission_url);
	if (n > 0 && (gc->permission_url[n - 1] == '?' ||
	    gc->permission_url[n - 1] == '&'))
		sep = "";
	else
		sep = strchr(gc->permission_url, '?') != NULL ? "&" : "?";
	if (asprintf(&url, "%s%s%s", gc->permission_url, sep, q.buf) == -1)
		fatal("%s", __func__);
	form_clear(&q);
	f->state = FL_REDIRECT;
	f->what = "authorization code";
	pending_start(f, url, NULL, time(NULL) + authd_auth_timeout());
	free(url);
}

/* The browser came back (redirect.c): exchange the code for tokens. */
void
grant_code_redirect(struct flight *f, const char *code, const char *error,
    const char *desc)
{
	struct grant_conf	*gc = &f->gc;
	struct form		 form;

	authd_stats.redirects++;
	if (error != NULL) {
		flight_fail(f, AUTH_FAIL_PERMANENT, "Login failed for account "
		    "%s: OAuth 2.0 authorisation error for account %s: %s; %s",
		    gc->account, gc->account, error,
		    desc != NULL ? desc : "");
		return;
	}
	if (code == NULL || *code == '\0') {
		flight_fail(f, AUTH_FAIL_PERMANENT, "Login failed for account "
		    "%s: OAuth 2.0 authorisation response for account %s has "
		    "neither code nor error message", gc->account,
		    gc->account);
		return;
	}
	log_info("account %s: authorisation received; requesting tokens",
	    gc->account);
	pending_stop(f);
	form_init(&form);
	form_add(&form, "client_id", gc->client_id);
	if (grant_client_auth(f, &form, 0) == -1) {
		form_clear(&form);
		return;
	}
	form_add(&form, "code", code);
	form_add(&form, "redirect_uri", gc->redirect_uri);
	form_add(&form, "grant_type", "authorization_code");
	form_add(&form, "code_verifier", f->verifier);
	grant_post(f, "authorization code", gc->token_url, &form,
	    grant_token_done);
}
