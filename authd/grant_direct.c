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
 * Grants that need no person: client credentials, resource owner
 * password, Google service account and refresh.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "emailproxy.h"
#include "log.h"
#include "authd.h"

#define JWT_BEARER	"urn:ietf:params:oauth:grant-type:jwt-bearer"

void
grant_client_credentials(struct flight *f)
{
	struct grant_conf	*gc = &f->gc;
	struct form		 form;

	form_init(&form);
	form_add(&form, "client_id", gc->client_id);
	if (grant_client_auth(f, &form, 1) == -1) {
		form_clear(&form);
		return;
	}
	form_add(&form, "grant_type", "client_credentials");
	form_add(&form, "scope", gc->scope);
	form_add(&form, "redirect_uri", gc->redirect_uri);
	grant_post(f, "client credentials", gc->token_url, &form,
	    grant_token_done);
}

void
grant_password(struct flight *f)
{
	struct grant_conf	*gc = &f->gc;
	struct form		 form;

	if (gc->password == NULL || *gc->password == '\0') {
		flight_fail(f, AUTH_FAIL_PERMANENT, "Login failed - no "
		    "password provided for account %s", gc->account);
		return;
	}
	form_init(&form);
	form_add(&form, "client_id", gc->client_id);
	if (grant_client_auth(f, &form, 0) == -1) {
		form_clear(&form);
		return;
	}
	form_add(&form, "grant_type", "password");
	/* No scope with only a resource (Entra's older endpoints). */
	form_add(&form, "scope", gc->scope);
	form_add(&form, "username", gc->account);
	form_add(&form, "password", gc->password);
	form_add(&form, "resource", gc->resource);
	form_add(&form, "redirect_uri", gc->redirect_uri);
	grant_post(f, "password", gc->token_url, &form, grant_token_done);
}

void
grant_service_account(struct flight *f)
{
	struct grant_conf	*gc = &f->gc;
	struct form		 form;
	json_t			*key;
	json_error_t		 jerr;
	const char		*keyjson, *email, *pem, *kid, *uri;
	char			*jwt;

	if (strcmp(gc->client_id, "file") == 0) {
		if ((keyjson = gc->sa_key) == NULL) {
			flight_fail(f, AUTH_FAIL_PERMANENT, "Unable to open "
			    "service account key file %s for account %s",
			    gc->sa_key_path != NULL ? gc->sa_key_path : "",
			    gc->account);
			return;
		}
	} else if (strcmp(gc->client_id, "key") == 0) {
		keyjson = gc->client_secret;
	} else {
		flight_fail(f, AUTH_FAIL_PERMANENT, "Service account key type "
		    "not specified for account %s - `client_id` must be set "
		    "to `file` or `key`", gc->account);
		return;
	}
	key = keyjson != NULL ? json_loads(keyjson, 0, &jerr) : NULL;
	email = json_string_value(json_object_get(key, "client_email"));
	pem = json_string_value(json_object_get(key, "private_key"));
	kid = json_string_value(json_object_get(key, "private_key_id"));
	if ((uri = json_string_value(json_object_get(key, "token_uri"))) ==
	    NULL || *uri == '\0')
		uri = GOOGLE_TOKEN_URI;
	if (email == NULL || pem == NULL) {
		json_decref(key);
		flight_fail(f, AUTH_FAIL_PERMANENT, "Unable to load the "
		    "service account key for account %s - it needs "
		    "client_email and private_key", gc->account);
		return;
	}
	jwt = jwt_google_assertion(pem, kid, email, gc->scope, gc->account,
	    uri, time(NULL));
	if (jwt == NULL) {
		json_decref(key);
		flight_fail(f, AUTH_FAIL_PERMANENT, "Unable to sign with the "
		    "service account key for account %s - please check its "
		    "private_key", gc->account);
		return;
	}
	form_init(&form);
	form_add(&form, "grant_type", JWT_BEARER);
	form_add(&form, "assertion", jwt);
	str_wipe(&jwt);
	grant_post(f, "service account", uri, &form, grant_token_done);
	json_decref(key);
}

void
grant_refresh(struct flight *f)
{
	struct grant_conf	*gc = &f->gc;
	struct form		 form;

	if (gc->refresh_token == NULL || *gc->refresh_token == '\0') {
		flight_fail(f, AUTH_FAIL_INVALID_GRANT, "Login failed for "
		    "account %s: no refresh token", gc->account);
		return;
	}
	form_init(&form);
	form_add(&form, "client_id", gc->client_id);
	if (grant_client_auth(f, &form, 0) == -1) {
		form_clear(&form);
		return;
	}
	form_add(&form, "refresh_token", gc->refresh_token);
	form_add(&form, "grant_type", "refresh_token");
	grant_post(f, "refresh", gc->token_url, &form, grant_token_done);
}
