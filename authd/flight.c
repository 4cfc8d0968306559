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
 * Flights: one grant in progress per account and operation.  tokend's
 * requests wait on a flight; a request for an account that already has
 * one joins it, so one person's authorisation answers
 * every login that waits for it.
 */

#include <sys/queue.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event.h>
#include <openssl/crypto.h>

#include "emailproxy.h"
#include "log.h"
#include "address.h"
#include "account_complete.h"
#include "authd.h"

static struct flight_list	 flights = TAILQ_HEAD_INITIALIZER(flights);

static void	 flight_free(struct flight *);

static char *
dupnull(const char *s)
{
	char	*d;

	if (s == NULL)
		return (NULL);
	if ((d = strdup(s)) == NULL)
		fatal("%s", __func__);
	return (d);
}

static char *
dupfile(const struct conf_file *f)
{
	return (f != NULL ? dupnull(f->data) : NULL);
}

/* Same secret input: both absent, or equal (compared in constant time). */
static int
secret_eq(const char *a, const char *b)
{
	size_t	 la, lb;

	if (a == NULL || b == NULL)
		return (a == b);
	la = strlen(a);
	lb = strlen(b);
	return (la == lb && CRYPTO_memcmp(a, b, la) == 0);
}

/* A person is involved: the flight outlives the logins that wait. */
static int
interactive(const struct flight *f)
{
	return (f->op == AUTH_OP_OBTAIN &&
	    (f->gc.flow == FLOW_AUTHORIZATION_CODE ||
	    f->gc.flow == FLOW_DEVICE));
}

/*
 * Nobody but the log heard of this authorisation: a name under a
 * catch-all section (any name will do there), no notify_command, no
 * emailproxyctl.  Once no login waits, nobody will complete it.
 */
static int
unclaimed(const struct flight *f)
{
	struct account_view	v;

	if (f->ctl_told || authd_conf->notify_command != NULL)
		return (0);
	return (account_resolve(authd_conf, f->gc.account, &v) == 0 &&
	    v.section == NULL);
}

/* Grants that wait for a person (not those parked). */
static int
person_grants(void)
{
	struct flight	*f;
	int		 n = 0;

	TAILQ_FOREACH(f, &flights, entry)
		n += interactive(f) && f->state != FL_PARKED;
	return (n);
}

static void
grant_conf_clear(struct grant_conf *gc)
{
	free(gc->account);
	free(gc->permission_url);
	free(gc->token_url);
	free(gc->scope);
	free(gc->resource);
	free(gc->redirect_uri);
	free(gc->client_id);
	free(gc->sa_key_path);
	str_wipe(&gc->client_secret);
	str_wipe(&gc->password);
	str_wipe(&gc->refresh_token);
	str_wipe(&gc->jwt_cert);
	str_wipe(&gc->jwt_key);
	str_wipe(&gc->sa_key);
	memset(gc, 0, sizeof(*gc));
}

/* Copy the account's settings; -1 and *why (to free) if unusable. */
static int
grant_conf_fill(struct grant_conf *gc, enum auth_op op, int page,
    const char *account, const char *secret, char **why)
{
	struct account_view	 v;
	const char		*gap;
	int			 r;

	if (account_resolve(authd_conf, account, &v) == -1) {
		log_warnx("account %s: no configuration section", account);
		r = asprintf(why, "No config file entry found for account %s "
		    "- please add a new section with values for "
		    "permission_url, token_url, oauth2_scope, redirect_uri, "
		    "client_id and client_secret", account);
		if (r == -1)
			fatal("%s", __func__);
		return (-1);
	}
	/* A grant needs more than a refresh (common/account_complete.c). */
	if ((gap = account_gap(&v, op == AUTH_OP_OBTAIN ?
	    ACCOUNT_NEED_GRANT : ACCOUNT_NEED_TOKENS)) != NULL) {
		log_warnx("account %s: %s", account, gap);
		if (asprintf(why, "Incomplete config file entry found for "
		    "account %s - %s", account, gap) == -1)
			fatal("%s", __func__);
		return (-1);
	}
	gc->account = dupnull(account);
	gc->flow = v.flow;
	gc->permission_url = dupnull(v.permission_url);
	gc->token_url = dupnull(v.token_url);
	gc->scope = dupnull(v.oauth2_scope);
	gc->resource = dupnull(v.oauth2_resource);
	gc->redirect_uri = dupnull(v.redirect_uri);
	gc->client_id = dupnull(v.client_id);
	/* The page's grants use PKCE unless use_pkce says no. */
	gc->use_pkce = v.use_pkce == 1 || (page && v.use_pkce == -1);
	gc->login_password_secret =
	    authd_conf->use_login_password_as_client_credentials_secret;
	/* tokend's (decrypted client_secret_encrypted) wins. */
	gc->client_secret = dupnull(secret != NULL ? secret :
	    v.client_secret);
	if (v.jwt_certificate != NULL && v.jwt_key != NULL) {
		gc->jwt_configured = 1;
		gc->jwt_cert = dupfile(v.jwt_certificate);
		gc->jwt_key = dupfile(v.jwt_key);
	}
	if (v.service_account_key != NULL) {
		gc->sa_key = dupfile(v.service_account_key);
		gc->sa_key_path = dupnull(v.service_account_key->path);
	} else if (v.client_secret != NULL)
		gc->sa_key_path = dupnull(v.client_secret);
	return (0);
}

static void
waiter_add(struct waiter_list *list, uint32_t id)
{
	struct waiter	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("%s", __func__);
	w->id = id;
	TAILQ_INSERT_TAIL(list, w, entry);
}

/*
 * The authorisation page's callback, <authorisation_page_url>/callback:
 * the redirect_uri of the code grants the page starts.
 */
static char *
page_callback(void)
{
	const char	*base = authd_conf->authorisation_page_url;
	char		*uri;
	size_t		 n;

	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	if (asprintf(&uri, "%.*s/callback", (int)n, base) == -1)
		fatal("%s", __func__);
	return (uri);
}

/*
 * A flight in the list, not started yet; NULL and *why if unusable.
 * page: for a person at the authorisation page.
 */
static struct flight *
flight_new(enum auth_op op, int page, const char *account,
    const char *refresh, const char *password, const char *secret,
    char **why)
{
	struct flight	*f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		fatal("%s", __func__);
	if (grant_conf_fill(&f->gc, op, page, account, secret, why) == -1) {
		grant_conf_clear(&f->gc);
		free(f);
		return (NULL);
	}
	f->page = page;
	if (page && f->gc.flow == FLOW_AUTHORIZATION_CODE) {
		free(f->gc.redirect_uri);
		f->gc.redirect_uri = page_callback();
	}
	f->op = op;
	f->state = FL_START;
	f->gc.refresh_token = dupnull(refresh);
	f->gc.password = dupnull(password);
	TAILQ_INIT(&f->waiters);
	TAILQ_INIT(&f->ctl_waiters);
	evtimer_set(&f->poll_ev, grant_device_poll, f);
	evtimer_set(&f->announce_ev, pending_announce, f);
	evtimer_set(&f->expire_ev, flight_expire, f);
	TAILQ_INSERT_TAIL(&flights, f, entry);
	return (f);
}

void
flight_request(uint32_t id, uint32_t op, const char *account,
    const char *refresh, const char *password, const char *secret)
{
	struct flight	*f;
	char		*why;
	int		 page = 0;

	authd_stats.requests++;
	if (op == AUTH_OP_PAGE) {
		page = 1;
		op = AUTH_OP_OBTAIN;
	}
	if (account == NULL || *account == '\0' ||
	    (op != AUTH_OP_REFRESH && op != AUTH_OP_OBTAIN)) {
		log_warnx("request %u from tokend is malformed", id);
		authd_send_fail(id, AUTH_FAIL_PERMANENT, MSG_PREFIX
		    "Login failed - malformed token request");
		return;
	}
	if (page && authd_conf->authorisation_page_url == NULL) {
		log_warnx("request %u for the authorisation page, which is "
		    "not configured", id);
		authd_send_fail(id, AUTH_FAIL_PERMANENT, MSG_PREFIX
		    "Login failed - no authorisation_page_url");
		return;
	}
	TAILQ_FOREACH(f, &flights, entry) {
		if (!address_equal(f->gc.account, account))
			continue;
		if (f->state == FL_PARKED && op == AUTH_OP_OBTAIN) {
			log_info("account %s: handing over the tokens "
			    "authorised earlier", account);
			authd_send_tokens(id, f->park_access, f->park_expiry,
			    f->park_refresh);
			flight_free(f);
			return;
		}
		if (f->state != FL_PARKED && f->op == op &&
		    f->page == page &&
		    secret_eq(f->gc.refresh_token, refresh) &&
		    secret_eq(f->gc.password, password) &&
		    (secret == NULL ||
		    secret_eq(f->gc.client_secret, secret))) {
			log_debug("account %s: request %u joins the running "
			    "one", account, id);
			authd_stats.joined++;
			waiter_add(&f->waiters, id);
			if (f->page && f->pending)
				authd_send_consent(id, f->pend_url,
				    f->oauth_state, f->pend_code,
				    (uint64_t)f->pend_expiry);
			return;
		}
	}

	if ((f = flight_new(op, page, account, refresh, password, secret,
	    &why)) == NULL) {
		authd_send_fail(id, AUTH_FAIL_PERMANENT, "%s%s", MSG_PREFIX,
		    why);
		free(why);
		return;
	}
	/* A bound on what waits for a person: any name may start one. */
	if (interactive(f) && person_grants() > AUTHD_MAX_PERSON) {
		log_warnx("account %s: %d authorisations already wait for a "
		    "person; request %u refused", account, AUTHD_MAX_PERSON,
		    id);
		flight_free(f);
		authd_send_fail(id, AUTH_FAIL_TRANSIENT, "%sLogin failed for "
		    "account %s - too many authorisations are pending; try "
		    "again later", MSG_PREFIX, account);
		return;
	}
	waiter_add(&f->waiters, id);
	log_debug("account %s: request %u starts a %s (%s)", account, id,
	    op == AUTH_OP_REFRESH ? "refresh" : "grant",
	    flow_name(f->gc.flow));
	/* f may be gone when this returns. */
	grant_start(f);
}

/*
 * emailproxyctl authorise ACCOUNT with nothing running: start the
 * account's interactive grant with nobody waiting.  Control request id
 * gets the pending authorisation's details, or the failure; the tokens
 * are kept for the account's next login (flight_tokens).  -1 and *why
 * (to free) when the account's section is unusable.
 */
int
flight_authorise(uint32_t id, const char *account, char **why)
{
	struct flight	*f;

	if ((f = flight_new(AUTH_OP_OBTAIN, 0, account, NULL, NULL, NULL,
	    why)) == NULL)
		return (-1);
	waiter_add(&f->ctl_waiters, id);
	f->ctl_told = 1;
	log_info("account %s: emailproxyctl starts an authorisation (%s)",
	    account, flow_name(f->gc.flow));
	/* f may be gone when this returns. */
	grant_start(f);
	return (0);
}

/* Control request id waits for the flight (see ctl_waiters). */
void
flight_ctl_wait(struct flight *f, uint32_t id)
{
	f->ctl_told = 1;
	waiter_add(&f->ctl_waiters, id);
}

void
flight_cancel(uint32_t id)
{
	struct flight	*f;
	struct waiter	*w;

	TAILQ_FOREACH(f, &flights, entry) {
		TAILQ_FOREACH(w, &f->waiters, entry)
			if (w->id == id)
				break;
		if (w == NULL)
			continue;
		TAILQ_REMOVE(&f->waiters, w, entry);
		free(w);
		/*
		 * A page's authorisation is for the person who proved the
		 * password there: nobody else takes its tokens.
		 */
		if (TAILQ_EMPTY(&f->waiters) && (!interactive(f) ||
		    f->page)) {
			log_debug("account %s: nobody waits any more; "
			    "request dropped", f->gc.account);
			flight_free(f);
		} else if (TAILQ_EMPTY(&f->waiters) && f->state !=
		    FL_PARKED && unclaimed(f)) {
			log_info("account %s: no login waits and no person "
			    "was told; the authorisation is dropped",
			    f->gc.account);
			flight_free(f);
		}
		return;
	}
}

void
flight_tokens(struct flight *f, const char *access, uint64_t expiry,
    const char *refresh)
{
	struct waiter	*w;
	int		 n = 0;

	authd_stats.tokens++;
	log_info("account %s: %s succeeded; the access token expires in "
	    "%lld s%s", f->gc.account, f->what != NULL ? f->what : "grant",
	    (long long)expiry - (long long)time(NULL),
	    refresh != NULL ? ", new refresh token" : "");
	pending_stop(f);
	/* A person's consent: notify_command hears of it. */
	if (interactive(f))
		authd_send_event(NOTIFY_AUTH_COMPLETED, f->gc.account);
	if (TAILQ_EMPTY(&f->waiters)) {
		struct timeval	 tv = { authd_auth_timeout(), 0 };

		/* A person authorised it: keep it for the next login. */
		if (!interactive(f)) {
			flight_free(f);
			return;
		}
		http_cancel(f->http);
		f->http = NULL;
		evtimer_del(&f->poll_ev);
		f->state = FL_PARKED;
		f->park_access = dupnull(access);
		f->park_refresh = dupnull(refresh);
		f->park_expiry = expiry;
		f->park_until = time(NULL) + tv.tv_sec;
		evtimer_add(&f->expire_ev, &tv);
		log_info("account %s: no login waits; the tokens are kept "
		    "for %lld s", f->gc.account, (long long)tv.tv_sec);
		/* tokend takes them in place of the tokens it holds. */
		authd_send_authorised(f->gc.account, (uint64_t)f->park_until);
		ctl_flight_authorised(f, 0);
		return;
	}
	TAILQ_FOREACH(w, &f->waiters, entry) {
		authd_send_tokens(w->id, access, expiry, refresh);
		n++;
	}
	ctl_flight_authorised(f, n);
	flight_free(f);
}

static const char *
fail_name(enum auth_fail class)
{
	switch (class) {
	case AUTH_FAIL_TRANSIENT:
		return ("transient");
	case AUTH_FAIL_INVALID_GRANT:
		return ("invalid grant");
	case AUTH_FAIL_PERMANENT:
		return ("permanent");
	case AUTH_FAIL_EXPIRED:
		return ("expired");
	case AUTH_FAIL_CANCELLED:
		return ("cancelled");
	}
	return ("?");
}

/* Answer every waiter with the message (one line, "emailproxy: " added). */
void
flight_fail(struct flight *f, enum auth_fail class, const char *fmt, ...)
{
	struct waiter	*w;
	va_list		 ap;
	char		*msg, *line;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("%s", __func__);
	va_end(ap);
	if ((line = clean_text(msg, 1000)) == NULL)
		fatal("%s", __func__);
	free(msg);
	authd_stats.failures++;
	log_warnx("%s (%s failure)", line, fail_name(class));
	TAILQ_FOREACH(w, &f->waiters, entry)
		authd_send_fail(w->id, class, "%s%s", MSG_PREFIX, line);
	ctl_flight_fail(f, line);
	free(line);
	flight_free(f);
}

/* The pending authorisation ran out, or parked tokens went unclaimed. */
void
flight_expire(int fd, short event, void *arg)
{
	struct flight	*f = arg;

	if (f->state == FL_PARKED) {
		log_info("account %s: tokens nobody asked for are dropped",
		    f->gc.account);
		flight_free(f);
		return;
	}
	flight_fail(f, AUTH_FAIL_EXPIRED, "Login failed for account %s: "
	    "Authorisation request timed out", f->gc.account);
}

void
flight_shutdown(void)
{
	struct flight	*f;

	while ((f = TAILQ_FIRST(&flights)) != NULL) {
		if (f->state == FL_PARKED)
			flight_free(f);
		else
			flight_fail(f, AUTH_FAIL_CANCELLED, "Login failed for "
			    "account %s: emailproxy is shutting down",
			    f->gc.account);
	}
}

/* The pending authorisation after f (the first when f is NULL). */
struct flight *
flight_next_pending(struct flight *f)
{
	for (f = f == NULL ? TAILQ_FIRST(&flights) : TAILQ_NEXT(f, entry);
	    f != NULL; f = TAILQ_NEXT(f, entry))
		if (f->pending)
			return (f);
	return (NULL);
}

struct flight *
flight_by_state(const char *state)
{
	struct flight	*f;

	TAILQ_FOREACH(f, &flights, entry)
		if (f->state == FL_REDIRECT && f->oauth_state != NULL &&
		    secret_eq(f->oauth_state, state))
			return (f);
	return (NULL);
}

/* The account's person-driven grant: running, pending or parked. */
struct flight *
flight_interactive(const char *account)
{
	struct flight	*f;

	TAILQ_FOREACH(f, &flights, entry)
		if (interactive(f) && address_equal(f->gc.account, account))
			return (f);
	return (NULL);
}

struct flight *
flight_pending(const char *account)
{
	struct flight	*f;

	TAILQ_FOREACH(f, &flights, entry)
		if (f->pending && address_equal(f->gc.account, account))
			return (f);
	return (NULL);
}

int
flight_count_pending(void)
{
	struct flight	*f;
	int		 n = 0;

	TAILQ_FOREACH(f, &flights, entry)
		if (f->pending)
			n++;
	return (n);
}

static void
flight_free(struct flight *f)
{
	struct waiter	*w;

	/* Every control request gets its one answer. */
	ctl_flight_fail(f, "the authorisation ended");
	TAILQ_REMOVE(&flights, f, entry);
	http_cancel(f->http);
	f->http = NULL;
	pending_stop(f);
	evtimer_del(&f->poll_ev);
	evtimer_del(&f->announce_ev);
	evtimer_del(&f->expire_ev);
	while ((w = TAILQ_FIRST(&f->waiters)) != NULL) {
		TAILQ_REMOVE(&f->waiters, w, entry);
		free(w);
	}
	grant_conf_clear(&f->gc);
	str_wipe(&f->oauth_state);
	str_wipe(&f->verifier);
	str_wipe(&f->device_code);
	str_wipe(&f->park_access);
	str_wipe(&f->park_refresh);
	free(f);
}
