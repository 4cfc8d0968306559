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
 * The one completeness rule.  emailproxy -n reports every gap of every
 * account section (file:line), tokend refuses a login before it asks for
 * tokens and authd before it talks to a provider, all from this list, so
 * an account the checker passes is one the daemons serve.
 *
 * A refresh needs token_url, client_id and a scope (or, for the password
 * grant, a resource instead); obtaining new tokens also needs what the
 * grant sends.  A value still holding the Python proxy's sample text
 * ("*** your client id here ***") is never sent to a provider.
 */

#include <stddef.h>
#include <string.h>

#include "emailproxy.h"
#include "config.h"
#include "account_complete.h"

static int
placeholder(const char *s)
{
	return (s != NULL && strstr(s, ACCOUNT_PLACEHOLDER) != NULL);
}

int
account_placeholder(const struct account_view *v)
{
	return (placeholder(v->client_id) || placeholder(v->client_secret) ||
	    placeholder(v->token_url) || placeholder(v->permission_url));
}

#define GAP(text) do {							\
	n++;								\
	if (fn != NULL)							\
		fn(arg, (text));					\
} while (0)

int
account_gaps(const struct account_view *v, enum account_need need,
    account_gap_fn *fn, void *arg)
{
	int	 n = 0, grant;

	/* Every token of a service account comes from a new grant. */
	grant = need == ACCOUNT_NEED_GRANT || v->flow == FLOW_SERVICE_ACCOUNT;

	if (placeholder(v->client_id))
		GAP("client_id still holds the sample text \""
		    ACCOUNT_PLACEHOLDER " ...\"; this account cannot log in "
		    "until it is filled in");
	if (placeholder(v->client_secret))
		GAP("client_secret still holds the sample text \""
		    ACCOUNT_PLACEHOLDER " ...\"; this account cannot log in "
		    "until it is filled in (or the line removed)");
	if (placeholder(v->token_url))
		GAP("token_url still holds the sample text \""
		    ACCOUNT_PLACEHOLDER " ...\"; this account cannot log in "
		    "until it is filled in");
	if (placeholder(v->permission_url))
		GAP("permission_url still holds the sample text \""
		    ACCOUNT_PLACEHOLDER " ...\"; this account cannot log in "
		    "until it is filled in");

	if (v->token_url == NULL)
		GAP("token_url is required");
	if (v->client_id == NULL)
		GAP("client_id is required");
	if (v->oauth2_scope == NULL && !(v->flow == FLOW_PASSWORD &&
	    v->oauth2_resource != NULL))
		GAP(v->flow == FLOW_PASSWORD ? "oauth2_scope is required (or "
		    "oauth2_resource for the password flow)" :
		    "oauth2_scope is required");
	if ((v->jwt_certificate == NULL) != (v->jwt_key == NULL))
		GAP("jwt_certificate_path and jwt_key_path must be given "
		    "together");
	if (!grant)
		return (n);

	switch (v->flow) {
	case FLOW_UNSET:
		GAP("oauth2_flow is required when there is no permission_url");
		break;
	case FLOW_AUTHORIZATION_CODE:
		if (v->permission_url == NULL)
			GAP("permission_url is required for the "
			    "authorization_code flow");
		if (v->redirect_uri == NULL)
			GAP("redirect_uri is required for the "
			    "authorization_code flow");
		break;
	case FLOW_DEVICE:
		if (v->permission_url == NULL)
			GAP("permission_url (the device authorization "
			    "endpoint) is required for the device flow");
		break;
	case FLOW_SERVICE_ACCOUNT:
		if (v->client_id != NULL &&
		    strcmp(v->client_id, "file") != 0 &&
		    strcmp(v->client_id, "key") != 0)
			GAP("client_id must be \"file\" or \"key\" for the "
			    "service_account flow");
		if (v->client_secret == NULL)
			GAP("client_secret (the key file's path, or the "
			    "pasted JSON key) is required for the "
			    "service_account flow");
		break;
	case FLOW_CLIENT_CREDENTIALS:
	case FLOW_PASSWORD:
		break;
	}
	return (n);
}

#undef GAP

static void
first_gap(void *arg, const char *text)
{
	const char	**first = arg;

	if (*first == NULL)
		*first = text;
}

const char *
account_gap(const struct account_view *v, enum account_need need)
{
	const char	*first = NULL;

	(void)account_gaps(v, need, first_gap, &first);
	return (first);
}
