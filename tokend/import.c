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
 * Import of the Python proxy's cache: the Fernet
 * values it kept in the configuration or its --cache-store file are
 * decrypted with the client's password on the first successful unlock.
 * The configuration stays as it is; the caller writes our record.
 */

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tokend.h"

/* Cached tokens live only in the account's own section. */
int
import_available(const struct account_view *v)
{
	return (v->section != NULL && (v->section->access_token != NULL ||
	    v->section->refresh_token != NULL));
}

/*
 * A client_secret_encrypted from the configuration must be decrypted
 * with the login password unless a plain secret is there (which wins)
 * or the record already holds the secret.
 */
int
needs_config_secret(const struct account_view *v,
    const struct record_secrets *s)
{
	return (v->client_secret_encrypted != NULL &&
	    v->client_secret == NULL &&
	    (s == NULL || s->client_secret == NULL));
}

/* 0 and *out (NULL when none is needed), or -1: wrong password. */
int
import_client_secret(const struct account_view *v, const char *password,
    char **out)
{
	struct tk_multifernet	mf;

	*out = NULL;
	if (!needs_config_secret(v, NULL))
		return (0);
	if (tk_multifernet_init(&mf, password, v->token_salt,
	    v->token_iterations) == -1)
		return (-1);
	*out = tk_multifernet_decrypt(&mf, v->client_secret_encrypted);
	tk_multifernet_clear(&mf);
	return (*out != NULL ? 0 : -1);
}

/*
 * 0 and the secrets and access token expiry, or -1 when the password
 * does not decrypt the cached tokens (a wrong password), or -2
 * when it does not decrypt client_secret_encrypted (always a wrong
 * password, never a reason to discard anything).
 */
int
import_python(const struct account_view *v, const char *account,
    const char *password, struct record_secrets *s, int64_t *expiry)
{
	const struct account_conf	*sec = v->section;
	struct tk_multifernet		 mf;
	const char			*errstr;
	int				 rv = -1;

	memset(s, 0, sizeof(*s));
	*expiry = 0;
	/*
	 * An unusable salt makes the Python proxy start a new one, after
	 * which nothing decrypts: the same as a wrong password.
	 */
	if (tk_multifernet_init(&mf, password, v->token_salt,
	    v->token_iterations) == -1) {
		log_info("%s: the Python proxy's token_salt or "
		    "token_iterations is unusable; cannot import", account);
		return (needs_config_secret(v, NULL) ? -2 : -1);
	}
	if (needs_config_secret(v, NULL) && (s->client_secret =
	    tk_multifernet_decrypt(&mf, v->client_secret_encrypted)) ==
	    NULL) {
		rv = -2;
		goto done;
	}
	if (sec->access_token != NULL && (s->access_token =
	    tk_multifernet_decrypt(&mf, sec->access_token)) == NULL)
		goto done;
	if (sec->refresh_token != NULL && (s->refresh_token =
	    tk_multifernet_decrypt(&mf, sec->refresh_token)) == NULL)
		goto done;
	/* A missing or unreadable expiry means "expires now". */
	if (sec->access_token_expiry != NULL) {
		*expiry = strtonum(sec->access_token_expiry, 0, INT64_MAX,
		    &errstr);
		if (errstr != NULL)
			*expiry = 0;
	}
	rv = 0;
 done:
	tk_multifernet_clear(&mf);
	if (rv != 0)
		record_secrets_clear(s);
	return (rv);
}
