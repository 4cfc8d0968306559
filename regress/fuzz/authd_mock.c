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
 * The parts of authd around its parsers, for the oauth_* and redirect
 * harnesses: HTTP requests are not sent but kept (the harness answers
 * them with its input), and a flight's outcome (tokens, failure, a
 * pending authorisation) is recorded.  Functions the harnesses never
 * reach abort.  Not a harness itself: listed on their DEPS lines.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event.h>
#include <jansson.h>

#include "emailproxy.h"
#include "../../authd/authd.h"
#include "authd_mock.h"

struct authd_stats	 authd_stats;
struct mock_authd	 mock_authd;

struct http_req *
http_post(const char *url, struct form *body, http_cb cb, void *arg)
{
	if (url == NULL || mock_authd.cb != NULL)
		abort();
	form_clear(body);
	mock_authd.cb = cb;
	mock_authd.arg = arg;
	/* Only compared with NULL by the caller. */
	return ((struct http_req *)&mock_authd);
}

void
flight_tokens(struct flight *f, const char *access, uint64_t expiry,
    const char *refresh)
{
	mock_authd.tokens++;
	mock_authd.expiry = expiry;
	if (access == NULL || *access == '\0')
		abort();
}

void
flight_fail(struct flight *f, enum auth_fail class, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	mock_authd.failures++;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		abort();
	va_end(ap);
	free(s);
}

void
pending_start(struct flight *f, const char *url, const char *code,
    time_t until)
{
	if (url == NULL)
		abort();
	mock_authd.pending++;
}

unsigned int
authd_auth_timeout(void)
{
	return (600);
}

void
flight_ctl_wait(struct flight *f, uint32_t id)
{
}

struct flight *
flight_by_state(const char *state)
{
	struct flight	*f = mock_authd.flight;

	if (f != NULL && f->oauth_state != NULL &&
	    strcmp(f->oauth_state, state) == 0)
		return (f);
	return (NULL);
}

void
grant_code_redirect(struct flight *f, const char *code, const char *error,
    const char *desc)
{
	mock_authd.redirects++;
}

/* Grants the harnesses do not start. */

void
grant_code_start(struct flight *f)
{
	abort();
}

void
grant_client_credentials(struct flight *f)
{
	abort();
}

void
grant_password(struct flight *f)
{
	abort();
}

void
grant_service_account(struct flight *f)
{
	abort();
}

void
grant_refresh(struct flight *f)
{
	abort();
}

char *
jwt_entra_assertion(const char *cert, const char *key, const char *client_id,
    const char *aud, time_t now)
{
	abort();
}
