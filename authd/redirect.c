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
 * The browser's redirect at the end of an authorisation, matched to its
 * flight by the random state, never by anything the browser could
 * guess.  The proxy receives the redirect (on a redirect listener or
 * the authorisation page's callback), parses its HTTP and sends only
 * its path, state, code and error here through tokend
 * (REDIRECT_RESPONSE); authd answers with a status and a line of text
 * the proxy shows (REDIRECT_RESULT).  URLs pasted into emailproxyctl
 * authorise take the same way in.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emailproxy.h"
#include "log.h"
#include "address.h"
#include "authd.h"

/* Split "scheme://authority/path?query#frag" (scheme optional). */
static void
url_split(const char *url, char **auth, char **path, char **query)
{
	const char	*p, *a, *q, *h;
	size_t		 n;

	*auth = *path = *query = NULL;
	a = (p = strstr(url, "://")) != NULL ? p + 3 : NULL;
	p = a != NULL ? a + strcspn(a, "/?#") : url;
	if (a != NULL)
		*auth = strndup(a, p - a);
	n = strcspn(p, "?#");
	*path = strndup(p, n);
	q = p + n;
	if (*q == '?') {
		q++;
		h = q + strcspn(q, "#");
		*query = strndup(q, h - q);
	}
}

static int
path_eq(const char *a, const char *b)
{
	size_t	 la = strlen(a), lb = strlen(b);

	while (la > 0 && a[la - 1] == '/')
		la--;
	while (lb > 0 && b[lb - 1] == '/')
		lb--;
	return (la == lb && strncmp(a, b, la) == 0);
}

/* The redirect matches redirect_uri: same path, same host:port if known. */
static int
redirect_matches(const char *redirect_uri, const char *auth,
    const char *path)
{
	char	*rauth, *rpath, *rquery;
	int	 ok;

	url_split(redirect_uri, &rauth, &rpath, &rquery);
	ok = rpath != NULL && path != NULL && path_eq(rpath, path) &&
	    (auth == NULL || (rauth != NULL && strcasecmp(rauth, auth) == 0));
	free(rauth);
	free(rpath);
	free(rquery);
	return (ok);
}

static char *
xprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		fatal("%s", __func__);
	va_end(ap);
	return (s);
}

/* The fields of one authorisation response (any may be NULL). */
struct redirect_fields {
	const char	*path;
	const char	*state;
	const char	*code;
	const char	*error;
	const char	*desc;
};

/*
 * One authorisation response.  account, if set, must be the flight's;
 * auth is the URL's host:port (NULL from a listener, which only knows
 * its own).  Sets *msg (heap, one line of plain text for the person)
 * and *acct (heap, the flight's account, or NULL) and returns an HTTP
 * status; *err says why it was refused.  *taken is set when the
 * response went to a flight, which then answers control request
 * *ctl_id (if not NULL) once it has tokens or has failed.
 */
static int
redirect_deliver(const char *account, const char *auth,
    const struct redirect_fields *rf, const uint32_t *ctl_id, char **msg,
    char **acct, const char **err, int *taken)
{
	struct flight	*f;
	char		*error, *desc;
	int		 status;

	*err = NULL;
	*taken = 0;
	*acct = NULL;
	f = rf->state != NULL ? flight_by_state(rf->state) : NULL;
	if (f == NULL || (account != NULL &&
	    !address_equal(account, f->gc.account))) {
		if (rf->state != NULL || rf->code != NULL ||
		    rf->error != NULL)
			log_warnx("authorisation response for %s with an "
			    "unknown state: ignored (expired, used already, "
			    "or not ours)", rf->path);
		*err = "this authorisation response does not match a pending "
		    "request (wrong state, expired, or used already)";
		*msg = xprintf("emailproxy: %s.", *err);
		return (rf->state != NULL || rf->code != NULL ||
		    rf->error != NULL ? 400 : 404);
	}
	/* From here on the flight ends or exchanges the code. */
	*taken = 1;
	if (ctl_id != NULL)
		flight_ctl_wait(f, *ctl_id);
	if ((*acct = strdup(f->gc.account)) == NULL)
		fatal("%s", __func__);
	if (!redirect_matches(f->gc.redirect_uri, auth, rf->path)) {
		*err = "the URL does not match the account's redirect_uri";
		*msg = xprintf("emailproxy: the authorisation response for "
		    "account %s does not match its redirect_uri.", *acct);
		flight_fail(f, AUTH_FAIL_PERMANENT, "Login failed for account "
		    "%s: OAuth 2.0 authorisation response for account %s is "
		    "missing or does not match`redirect_uri`", f->gc.account,
		    f->gc.account);
		return (400);
	}
	error = clean_text(rf->error, 100);
	desc = clean_text(rf->desc, 300);
	status = 200;
	if (error != NULL) {
		*err = "the provider refused the authorisation";
		*msg = xprintf("emailproxy: authorisation for account %s "
		    "failed: %s; %s", *acct, error, desc != NULL ? desc : "");
	} else if (rf->code == NULL || *rf->code == '\0') {
		*err = "the response has neither code nor error";
		*msg = xprintf("emailproxy: the authorisation response for "
		    "account %s has neither code nor error.", *acct);
		status = 400;
	} else
		*msg = xprintf("emailproxy received the authorisation for "
		    "account %s. You can close this window.", *acct);
	/* f may be gone after this. */
	grant_code_redirect(f, rf->code, error, desc);
	free(error);
	free(desc);
	return (status);
}

/*
 * A URL pasted into emailproxyctl authorise account.  1 if a flight took
 * it (see redirect_deliver), else 0; *err says why it was refused, NULL
 * if it was accepted.
 */
int
redirect_paste(const char *account, const char *url, const uint32_t *ctl_id,
    const char **err)
{
	struct redirect_fields	 rf;
	char			*auth, *path, *query, *msg = NULL, *acct = NULL;
	char			*state = NULL, *code = NULL, *error = NULL;
	char			*desc = NULL;
	int			 taken = 0;

	url_split(url, &auth, &path, &query);
	if (path == NULL)
		*err = "out of memory";
	else {
		if (query != NULL) {
			state = urlform_get(query, "state");
			code = urlform_get(query, "code");
			error = urlform_get(query, "error");
			desc = urlform_get(query, "error_description");
		}
		rf.path = path;
		rf.state = state;
		rf.code = code;
		rf.error = error;
		rf.desc = desc;
		(void)redirect_deliver(account, auth, &rf, ctl_id, &msg,
		    &acct, err, &taken);
	}
	free(msg);
	free(acct);
	free(auth);
	free(path);
	str_wipe(&query);
	str_wipe(&state);
	str_wipe(&code);
	free(error);
	free(desc);
	return (taken);
}

int
authd_redirect_url(const char *url)
{
	const char	*err;

	(void)redirect_paste(NULL, url, NULL, &err);
	if (err != NULL) {
		log_warnx("authorisation URL refused: %s", err);
		return (-1);
	}
	return (0);
}

/*
 * A browser's redirect the proxy received (REDIRECT_RESPONSE, relayed by
 * tokend): its path and the fields of its query, each NULL when absent.
 * Returns the HTTP status for the browser with *msg (heap, one line of
 * plain text) and *acct (heap, the flight's account, or NULL).
 */
int
redirect_take(const char *path, const char *state, const char *code,
    const char *error, const char *desc, char **msg, char **acct)
{
	struct redirect_fields	 rf;
	const char		*err;
	int			 taken;

	rf.path = path;
	rf.state = state;
	rf.code = code;
	rf.error = error;
	rf.desc = desc;
	log_debug("authorisation response for %s", path);
	return (redirect_deliver(NULL, NULL, &rf, NULL, msg, acct, &err,
	    &taken));
}
