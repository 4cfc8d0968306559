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
 * Single flight: an account has at most one request to authd at a
 * time, and every login that needs a token for it waits on that one
 * request.  A login joins only when its password matches the key the
 * request's answer will be stored under; any other password waits for
 * the request to end and is then decided afresh.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "msg.h"
#include "tokend.h"

#define FLIGHT_SLACK	30	/* beyond authd's own timeouts */
#define LOCK_POLL_FIRST	20	/* ms: first wait for another's refresh */
#define LOCK_POLL_MAX	500	/* ms: the longest wait between looks */
#define LOCK_WAIT_MORE	10000	/* ms: waited beyond the lock's expiry */

static void	 flight_send(struct tk_flight *);
static void	 flight_arm(struct tk_flight *);
static void	 flight_end(struct tk_flight *);
static void	 flight_timeout(int, short, void *);
static void	 flight_tokens(struct tk_flight *, const char *, uint64_t,
		    const char *);
static void	 flight_failed(struct tk_flight *, enum auth_fail,
		    const char *);
static void	 flight_fail_all(struct tk_reqlist *, enum token_fail,
		    const char *);
static int	 flight_shared(struct tk_flight *);
static void	 flight_lockwait(int, short, void *);

static void
flight_kick_authd(const struct tk_peer *p)
{
	if (p->kick != NULL)
		p->kick(p->arg);
}

const uint8_t *
flight_verifier(const struct tk_flight *f)
{
	return (f->newkeys != NULL ? f->newkeys->verifier :
	    f->acct->keys.verifier);
}

static struct tk_flight *
flight_by_id(uint32_t id)
{
	struct tk_account	*a;

	RB_FOREACH(a, tk_accounts, &tk.accounts)
		if (a->flight != NULL && a->flight->id == id)
			return (a->flight);
	return (NULL);
}

static uint32_t
flight_newid(void)
{
	if (++tk.next_id == 0)
		tk.next_id = 1;
	return (tk.next_id);
}

void
flight_start(struct tk_account *a, enum auth_op op, struct tk_keys *newkeys,
    char *client_secret, struct tk_req *req)
{
	struct tk_flight	*f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		fatal(NULL);
	f->acct = a;
	f->op = op;
	f->newkeys = newkeys;
	f->client_secret = client_secret;
	f->id = flight_newid();
	TAILQ_INIT(&f->waiters);
	evtimer_set(&f->timeout, flight_timeout, f);
	evtimer_set(&f->lockwait, flight_lockwait, f);
	a->flight = f;
	if (req != NULL)
		flight_join(f, req);
	else
		f->ahead = 1;
	flight_send(f);
}

/* Token requests of first logins (a new password) under way. */
int
flight_count_new(void)
{
	struct tk_account	*a;
	int			 n = 0;

	RB_FOREACH(a, tk_accounts, &tk.accounts)
		n += a->flight != NULL && a->flight->newkeys != NULL;
	return (n);
}

void
flight_join(struct tk_flight *f, struct tk_req *req)
{
	req->acct = f->acct;
	TAILQ_INSERT_TAIL(&f->waiters, req, entry);
	if (!req->page)
		return;
	/* A person at the page: tell them what to visit, now or later. */
	if (f->consent_url != NULL) {
		page_reply_consent(req, f);
		return;
	}
	if (f->page)
		return;
	f->page = 1;
	/*
	 * An authorisation already asked for elsewhere (its URL went to
	 * the log) starts again for the page, with its callback.
	 */
	if (f->sent && f->op == AUTH_OP_OBTAIN) {
		log_info("%s: the authorisation page takes over request %u",
		    f->acct->name, f->id);
		if (imsg_compose(tk.authd.ibuf, IMSG_AUTH_CANCEL, f->id, 0,
		    -1, NULL, 0) == -1)
			fatalx("cannot queue AUTH_CANCEL");
		f->id = flight_newid();
		evtimer_del(&f->timeout);
		flight_send(f);
	}
}

/* Does this grant (client credentials, password) need the client's password? */
static int
needs_password(const struct account_view *v, const char *secret)
{
	if (v->flow == FLOW_PASSWORD)
		return (1);
	return (v->flow == FLOW_CLIENT_CREDENTIALS &&
	    tk.conf->use_login_password_as_client_credentials_secret &&
	    secret == NULL && v->client_secret == NULL &&
	    v->client_secret_encrypted == NULL &&
	    (v->jwt_certificate == NULL || v->jwt_key == NULL));
}

int
flight_can_run_unattended(const struct account_view *v,
    const struct tk_account *a)
{
	if (a->secrets.refresh_token != NULL)
		return (1);
	return (v->permission_url == NULL &&
	    (v->flow == FLOW_CLIENT_CREDENTIALS ||
	    v->flow == FLOW_SERVICE_ACCOUNT) &&
	    !needs_password(v, a->secrets.client_secret));
}

static void
flight_arm(struct tk_flight *f)
{
	struct timeval	tv;
	unsigned int	t;

	t = tk.conf->http_timeout > 0 ? tk.conf->http_timeout : 60;
	if (f->op == AUTH_OP_OBTAIN)
		t += tk.conf->auth_timeout > 0 ? tk.conf->auth_timeout : 600;
	else
		t *= 2;
	timerclear(&tv);
	tv.tv_sec = t + FLIGHT_SLACK;
	evtimer_add(&f->timeout, &tv);
}

static void
flight_send(struct tk_flight *f)
{
	struct tk_account	*a = f->acct;
	struct account_view	 v;
	struct tk_req		*first;
	struct msgw		 w;
	const char		*secret, *refresh = NULL, *password = NULL;
	char			*text;

	if (account_resolve(tk.conf, a->name, &v) == -1) {
		log_info("%s: no config file entry found for this account",
		    a->name);
		if (asprintf(&text, TK_TEXT_REFUSED, a->name) == -1)
			fatal(NULL);
		flight_abort(f, TOKEN_FAIL_UNKNOWN_ACCOUNT, text);
		free(text);
		return;
	}
	/*
	 * A secret kept in the record was unlocked by this password; a new
	 * password gets only what it decrypted itself from the config.  A
	 * plain secret in the configuration wins over the one kept: it
	 * is how an administrator rotates it.  Without
	 * encrypt_client_secret_on_first_use tokend is told only that
	 * there is one (""): authd, which holds it, sends it.
	 */
	secret = f->newkeys != NULL ? f->client_secret :
	    a->secrets.client_secret;
	if (v.client_secret != NULL && secret != NULL)
		secret = *v.client_secret != '\0' ? v.client_secret : NULL;
	/*
	 * With a shared store, a refresh token is sent only under the
	 * account's lock and after reading the record again: another
	 * instance may have rotated it meanwhile.
	 */
	if (f->op == AUTH_OP_REFRESH && !f->locked &&
	    store_shared(&tk.store) && !flight_shared(f))
		return;
	if (f->op == AUTH_OP_REFRESH)
		refresh = a->secrets.refresh_token;
	else if (needs_password(&v, secret)) {
		/*
		 * Every waiter proved the same password, but a shared
		 * mailbox's login (login_key) proved only its own.
		 */
		TAILQ_FOREACH(first, &f->waiters, entry)
			if (first->login_key == NULL)
				break;
		if (first == NULL) {
			flight_abort(f, TOKEN_FAIL_NEEDS_AUTH,
			    "Login failed - the grant needs a login password");
			return;
		}
		password = first->password;
	}
	msg_begin(&w, tk.authd.ibuf, IMSG_AUTH_REQUEST, f->id, -1);
	msg_put_u32(&w, f->op == AUTH_OP_OBTAIN && f->page ? AUTH_OP_PAGE :
	    f->op);
	msg_put_str(&w, a->name);
	msg_put_str(&w, refresh);
	msg_put_str(&w, password);
	msg_put_str(&w, secret);
	if (msg_end(&w, tk.authd.ibuf) == -1)
		fatalx("cannot queue AUTH_REQUEST");
	f->sent = 1;
	flight_kick_authd(&tk.authd);
	if (f->op == AUTH_OP_REFRESH)
		tk.stats.token_refreshes++;
	else
		tk.stats.token_obtains++;
	log_debug("%s: %s request %u to authd%s", a->name,
	    f->op == AUTH_OP_REFRESH ? "refresh" : "token", f->id,
	    f->ahead ? " (ahead of expiry)" : "");
	flight_arm(f);
	login_wait(a);
}

static void
flight_end(struct tk_flight *f)
{
	evtimer_del(&f->timeout);
	evtimer_del(&f->lockwait);
	if (f->locked)
		store_unlock(&tk.store, f->acct->name);
	f->acct->flight = NULL;
	if (f->newkeys != NULL)
		freezero(f->newkeys, sizeof(*f->newkeys));
	str_freezero(f->client_secret);
	free(f->consent_url);
	str_freezero(f->consent_state);
	free(f->consent_code);
	free(f);
}

static void
flight_fail_all(struct tk_reqlist *list, enum token_fail reason,
    const char *text)
{
	struct tk_req	*req;

	while ((req = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, req, entry);
		reply_fail_text(req, reason, text);
		req_free(req);
	}
}

/* Answer every waiter with a failure and tell authd to stop. */
void
flight_abort(struct tk_flight *f, enum token_fail reason, const char *text)
{
	struct tk_account	*a = f->acct;
	struct tk_reqlist	 deferred;

	if (imsg_compose(tk.authd.ibuf, IMSG_AUTH_CANCEL, f->id, 0, -1,
	    NULL, 0) == -1)
		fatalx("cannot queue AUTH_CANCEL");
	flight_kick_authd(&tk.authd);
	flight_fail_all(&f->waiters, reason, text);
	flight_end(f);
	TAILQ_INIT(&deferred);
	TAILQ_CONCAT(&deferred, &a->deferred, entry);
	login_rerun(&deferred);
	acct_release(a);
}

static void
flight_timeout(int fd, short ev, void *arg)
{
	struct tk_flight	*f = arg;
	char			*text;

	log_warnx("%s: authd did not answer request %u in time",
	    f->acct->name, f->id);
	if (asprintf(&text, f->op == AUTH_OP_OBTAIN ?
	    "Login failed for account %s: Authorisation request timed out" :
	    "Login failed for account %s - please check your internet "
	    "connection and retry", f->acct->name) == -1)
		fatal(NULL);
	acct_set_error(f->acct, text);
	if (f->ahead)
		ahead_result(f->acct, 0, AUTH_FAIL_TRANSIENT);
	flight_abort(f, f->op == AUTH_OP_OBTAIN ? TOKEN_FAIL_NEEDS_AUTH :
	    TOKEN_FAIL_PROVIDER, text);
	free(text);
}

/* The session (or the page's request) went away: it waits no longer. */
void
flight_cancel_session(uint32_t sid, int page)
{
	struct tk_account	*a, *next;
	struct tk_req		*req, *rnext;
	struct tk_flight	*f;

	RB_FOREACH_SAFE(a, tk_accounts, &tk.accounts, next) {
		TAILQ_FOREACH_SAFE(req, &a->deferred, entry, rnext) {
			if (req->sid != sid || req->ctl ||
			    req->page != page)
				continue;
			TAILQ_REMOVE(&a->deferred, req, entry);
			req_free(req);
		}
		if ((f = a->flight) == NULL)
			continue;
		TAILQ_FOREACH_SAFE(req, &f->waiters, entry, rnext) {
			if (req->sid != sid || req->ctl ||
			    req->page != page)
				continue;
			TAILQ_REMOVE(&f->waiters, req, entry);
			req_free(req);
		}
		/*
		 * A refresh still pays off for the next login; an
		 * authorisation nobody waits for does not, nor one the page
		 * started once the page gave it up (authd drops it too).
		 */
		if (TAILQ_EMPTY(&f->waiters) && f->op == AUTH_OP_OBTAIN &&
		    !f->ahead && (!f->kept || f->page)) {
			log_debug("%s: nobody waits for request %u any more",
			    a->name, f->id);
			flight_abort(f, TOKEN_FAIL_NEEDS_AUTH, "cancelled");
		} else
			acct_release(a);
	}
}

static const char *
default_text(enum auth_fail cls)
{
	switch (cls) {
	case AUTH_FAIL_EXPIRED:
		return ("Login failed for account %s: Authorisation request "
		    "timed out");
	case AUTH_FAIL_CANCELLED:
		return ("Login failed for account %s: emailproxy is shutting "
		    "down");
	default:
		return ("Login failed for account %s - please check your "
		    "internet connection and retry");
	}
}

static enum token_fail
fail_reason(enum auth_fail cls)
{
	switch (cls) {
	case AUTH_FAIL_INVALID_GRANT:
	case AUTH_FAIL_EXPIRED:
		return (TOKEN_FAIL_NEEDS_AUTH);
	default:
		return (TOKEN_FAIL_PROVIDER);
	}
}

/* authd's tokens for request id, if a flight still waits for them. */
void
flight_tokens_for(uint32_t id, const char *access, uint64_t expiry,
    const char *refresh)
{
	struct tk_flight	*f;

	if ((f = flight_by_id(id)) == NULL) {
		log_debug("tokens for request %u that nobody waits for", id);
		return;
	}
	flight_tokens(f, access, expiry, refresh);
}

/*
 * What the person at the page must visit for request id: kept for
 * those who join later, and told to every page waiting now.
 */
void
flight_consent_for(uint32_t id, const char *url, const char *state,
    const char *code, uint64_t expiry)
{
	struct tk_flight	*f;
	struct tk_req		*req;

	if ((f = flight_by_id(id)) == NULL) {
		log_debug("consent for request %u that nobody waits for", id);
		return;
	}
	free(f->consent_url);
	str_freezero(f->consent_state);
	free(f->consent_code);
	f->consent_state = f->consent_code = NULL;
	if ((f->consent_url = strdup(url)) == NULL ||
	    (state != NULL && (f->consent_state = strdup(state)) == NULL) ||
	    (code != NULL && (f->consent_code = strdup(code)) == NULL))
		fatal(NULL);
	f->consent_expiry = expiry;
	TAILQ_FOREACH(req, &f->waiters, entry)
		if (req->page)
			page_reply_consent(req, f);
}

/* authd's failure of request id, if a flight still waits for it. */
void
flight_failed_for(uint32_t id, enum auth_fail cls, const char *text)
{
	struct tk_flight	*f;

	if ((f = flight_by_id(id)) == NULL) {
		log_debug("failure of request %u that nobody waits for", id);
		return;
	}
	flight_failed(f, cls, text);
}

/*
 * A person authorised the account (emailproxyctl authorise) while no
 * login waited: authd keeps the tokens until `until'.  They replace
 * the tokens held: at once when the account is unlocked, else at its
 * next login that proves the password.
 */
void
flight_authorised(const char *account, int64_t until)
{
	struct tk_account	*a;
	char			*key;

	if (account_key(account, &key) == -1)
		fatal(NULL);
	a = acct_get(key);
	free(key);
	a->authorised_until = until;
	if (a->unlocked && a->flight == NULL) {
		log_info("%s: a person authorised the account; its new tokens "
		    "replace the ones held", a->name);
		a->authorised_until = 0;
		flight_start(a, AUTH_OP_OBTAIN, NULL, NULL, NULL);
		return;
	}
	log_info("%s: a person authorised the account; its next login "
	    "takes the new tokens", a->name);
}

static void
flight_tokens(struct tk_flight *f, const char *access, uint64_t expiry,
    const char *refresh)
{
	struct tk_account	*a = f->acct;
	struct account_view	 v;
	struct record_secrets	 s;
	struct tk_reqlist	 waiters, deferred;
	struct tk_req		*req;
	int64_t			 now = time(NULL);
	int			 have_view, fresh_record = 0;

	have_view = account_resolve(tk.conf, a->name, &v) == 0;
	if (f->newkeys != NULL) {
		/* The first login's password now locks the new record. */
		memset(&s, 0, sizeof(s));
		if ((s.access_token = strdup(access)) == NULL ||
		    (refresh != NULL &&
		    (s.refresh_token = strdup(refresh)) == NULL))
			fatal(NULL);
		s.client_secret = f->client_secret;
		f->client_secret = NULL;
		acct_lock(a);
		acct_unlock(a, f->newkeys, &s, NULL);
		a->created = now;
		fresh_record = 1;
		if (refresh == NULL && have_view && v.permission_url != NULL)
			log_warnx("Warning: no refresh token returned for "
			    "account %s - you will need to re-authenticate "
			    "each time the access token expires (does your "
			    "`oauth2_scope` value allow `offline` use?)",
			    a->name);
	} else {
		str_freezero(a->secrets.access_token);
		if ((a->secrets.access_token = strdup(access)) == NULL)
			fatal(NULL);
		if (refresh != NULL) {
			/* Refresh token rotation (#50). */
			str_freezero(a->secrets.refresh_token);
			if ((a->secrets.refresh_token = strdup(refresh)) ==
			    NULL)
				fatal(NULL);
		}
	}
	if (f->op == AUTH_OP_OBTAIN)
		a->authorised_until = 0;
	a->expiry = expiry != 0 ? (int64_t)expiry :
	    now + TOKEN_DEFAULT_LIFETIME;
	a->last_refresh = now;
	if (!TAILQ_EMPTY(&f->waiters))
		a->last_use = now;
	if (have_view && tk.conf->encrypt_client_secret_on_first_use &&
	    v.client_secret != NULL &&
	    !tk_strequal(a->secrets.client_secret, v.client_secret)) {
		if (a->secrets.client_secret != NULL)
			log_notice("%s: the client secret in the configuration "
			    "replaces the one kept in the token store",
			    a->name);
		str_freezero(a->secrets.client_secret);
		if ((a->secrets.client_secret = strdup(v.client_secret)) ==
		    NULL)
			fatal(NULL);
		log_info("%s: client secret now kept encrypted in the token "
		    "store; it can be removed from the configuration",
		    a->name);
	}
	/* A new authorisation ends what forget started. */
	if (acct_save(a) == 0 && fresh_record)
		store_forget_clear(&tk.store, a->name);
	acct_set_error(a, NULL);
	log_info("%s: %s", a->name, fresh_record ? "tokens obtained" :
	    f->op == AUTH_OP_REFRESH ? "access token refreshed" :
	    "access token obtained");

	TAILQ_INIT(&waiters);
	TAILQ_CONCAT(&waiters, &f->waiters, entry);
	flight_end(f);
	while ((req = TAILQ_FIRST(&waiters)) != NULL) {
		TAILQ_REMOVE(&waiters, req, entry);
		reply_ok(req, a->secrets.access_token);
		req_free(req);
	}
	ahead_result(a, 1, 0);
	TAILQ_INIT(&deferred);
	TAILQ_CONCAT(&deferred, &a->deferred, entry);
	login_rerun(&deferred);
}

/* notify_command hears of it (tk.parent: none in tests). */
static void
flight_event(const struct tk_account *a, enum notify_event event)
{
	struct msgw	w;

	if (tk.parent.ibuf == NULL)
		return;
	msg_begin(&w, tk.parent.ibuf, IMSG_EVENT, 0, -1);
	msg_put_u32(&w, event);
	msg_put_str(&w, a->name);
	msg_put_str(&w, NULL);
	if (msg_end(&w, tk.parent.ibuf) == -1)
		fatalx("cannot queue EVENT");
	if (tk.parent.kick != NULL)
		tk.parent.kick(tk.parent.arg);
}

static void
flight_failed(struct tk_flight *f, enum auth_fail cls, const char *msg)
{
	struct tk_account	*a = f->acct;
	struct tk_reqlist	 waiters, deferred;
	struct tk_req		*req;
	char			*text;
	int64_t			 now = time(NULL);

	if (msg != NULL && *msg != '\0')
		text = reply_clean(msg);
	else if (asprintf(&text, default_text(cls), a->name) == -1)
		fatal(NULL);
	tk.stats.token_request_failures++;

	if (f->op == AUTH_OP_REFRESH && cls == AUTH_FAIL_INVALID_GRANT &&
	    a->unlocked) {
		log_notice("%s: the refresh token was refused "
		    "(invalid_grant) and is discarded", a->name);
		flight_event(a, NOTIFY_REFRESH_FAILED);
		str_freezero(a->secrets.refresh_token);
		a->secrets.refresh_token = NULL;
		/* Those waiting need a new token, not the old one. */
		if (!TAILQ_EMPTY(&f->waiters))
			acct_drop_access(a);
		acct_save(a);
		if (!TAILQ_EMPTY(&f->waiters) && !f->retried) {
			log_info("%s: requesting a new authorisation",
			    a->name);
			f->retried = 1;
			f->op = AUTH_OP_OBTAIN;
			f->id = flight_newid();
			evtimer_del(&f->timeout);
			free(text);
			flight_send(f);
			return;
		}
	} else
		log_info("%s: token request failed: %s", a->name, text);
	acct_set_error(a, text);

	TAILQ_INIT(&waiters);
	TAILQ_CONCAT(&waiters, &f->waiters, entry);
	while ((req = TAILQ_FIRST(&waiters)) != NULL) {
		TAILQ_REMOVE(&waiters, req, entry);
		/*
		 * A network failure while the current token still works
		 * must not fail the login (#123).
		 */
		if (cls == AUTH_FAIL_TRANSIENT && f->newkeys == NULL &&
		    a->unlocked && a->secrets.access_token != NULL &&
		    a->expiry > now)
			reply_ok(req, a->secrets.access_token);
		else
			reply_fail_text(req, fail_reason(cls), text);
		req_free(req);
	}
	free(text);
	flight_end(f);
	ahead_result(a, 0, cls);
	TAILQ_INIT(&deferred);
	TAILQ_CONCAT(&deferred, &a->deferred, entry);
	login_rerun(&deferred);
	acct_release(a);
}

/*
 * Cross-instance single flight (a shared store).  Before a refresh the
 * flight takes the account's lock in the store, for longer than the
 * refresh may take (flight_arm), then reads the record again.  A newer
 * record sealed with the same key replaces the memory (the other
 * instance rotated the refresh token): a fresh access token in it
 * answers the waiters with no request to authd.  While another instance
 * holds the lock, the flight looks again with a growing interval
 * (LOCK_POLL_FIRST to LOCK_POLL_MAX ms) for its record, or for the lock
 * to be free, until the lock's expiry and LOCK_WAIT_MORE: an instance
 * that died holding it delays the others by at most that.
 */

static int64_t
flight_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static unsigned int
flight_lock_ms(void)
{
	unsigned int	t;

	t = tk.conf->http_timeout > 0 ? tk.conf->http_timeout : 60;
	return ((t * 2 + FLIGHT_SLACK) * 1000);
}

/* What the waiters of a flight hear, and the flight ends. */
static void
flight_finish(struct tk_flight *f, int ok, enum token_fail reason,
    const char *text)
{
	struct tk_account	*a = f->acct;
	struct tk_reqlist	 waiters, deferred;
	struct tk_req		*req;
	int64_t			 now = time(NULL);
	int			 ahead = f->ahead;

	TAILQ_INIT(&waiters);
	TAILQ_CONCAT(&waiters, &f->waiters, entry);
	flight_end(f);
	while ((req = TAILQ_FIRST(&waiters)) != NULL) {
		TAILQ_REMOVE(&waiters, req, entry);
		/* A token that still works serves, as in flight_failed. */
		if (ok || (a->unlocked && a->secrets.access_token != NULL &&
		    a->expiry > now))
			reply_ok(req, a->secrets.access_token);
		else
			reply_fail_text(req, reason, text);
		req_free(req);
	}
	if (ok)
		ahead_result(a, 1, 0);
	else if (ahead)
		ahead_result(a, 0, AUTH_FAIL_TRANSIENT);
	TAILQ_INIT(&deferred);
	TAILQ_CONCAT(&deferred, &a->deferred, entry);
	login_rerun(&deferred);
	acct_release(a);
}

static void
flight_store_down(struct tk_flight *f)
{
	char	*text;

	tk.stats.store_unavailable++;
	if (asprintf(&text, "Login failed for account %s - the token store "
	    "is unavailable; try again later", f->acct->name) == -1)
		fatal(NULL);
	flight_finish(f, 0, TOKEN_FAIL_UNAVAILABLE, text);
	free(text);
}

/*
 * Read the record again: 1 its access token is fresh (taken), 0 refresh
 * with what memory holds now, -1 it is sealed with another password
 * (memory is stale), STORE_DOWN.
 */
static int
flight_reread(struct tk_flight *f)
{
	struct tk_account	*a = f->acct;
	struct record		 rec;
	struct record_secrets	 s;
	struct tk_keys		 k;
	int			 r;

	if ((r = store_load(&tk.store, a->name, &rec)) == STORE_DOWN)
		return (STORE_DOWN);
	if (r != 1)
		return (0);
	if (!a->unlocked || rec.version == a->version) {
		record_clear(&rec);
		return (0);
	}
	if (rec.iterations != a->keys.iterations ||
	    !tk_equal(rec.salt, a->keys.salt, sizeof(rec.salt)) ||
	    record_unseal(&rec, a->keys.key, &s) == -1) {
		record_clear(&rec);
		return (-1);
	}
	k = a->keys;
	acct_unlock(a, &k, &s, &rec);
	explicit_bzero(&k, sizeof(k));
	record_clear(&rec);
	log_debug("%s: read the record version %llu another instance wrote",
	    a->name, (unsigned long long)a->version);
	return (tk_fresh(a, time(NULL)) ? 1 : 0);
}

/* The record answers the flight, or its logins start again (-1). */
static int
flight_reread_done(struct tk_flight *f, int r)
{
	struct tk_account	*a = f->acct;
	struct tk_reqlist	 again;

	if (r == STORE_DOWN) {
		flight_store_down(f);
		return (1);
	}
	if (r == 1) {
		tk.stats.shared_refresh_adopted++;
		acct_set_error(a, NULL);
		log_info("%s: another instance refreshed the tokens; its "
		    "record is used", a->name);
		flight_finish(f, 1, 0, NULL);
		return (1);
	}
	if (r == -1) {
		/* A new password's record: each login proves it again. */
		log_info("%s: another instance wrote a record with another "
		    "password; the logins read it", a->name);
		TAILQ_INIT(&again);
		TAILQ_CONCAT(&again, &f->waiters, entry);
		TAILQ_CONCAT(&again, &a->deferred, entry);
		flight_end(f);
		acct_lock(a);
		login_rerun(&again);
		acct_release(a);
		return (1);
	}
	return (0);
}

/* 1: the lock is held and the refresh goes on; 0: the flight waits or
 * has ended. */
static int
flight_shared(struct tk_flight *f)
{
	struct timeval	tv;
	int		r;

	if ((r = store_lock(&tk.store, f->acct->name, flight_lock_ms())) ==
	    STORE_DOWN || r < 0) {
		flight_store_down(f);
		return (0);
	}
	if (r == 0) {
		if (f->poll_ms == 0) {
			tk.stats.shared_refresh_waits++;
			f->poll_ms = LOCK_POLL_FIRST;
			f->wait_until = flight_now_ms() + flight_lock_ms() +
			    LOCK_WAIT_MORE;
			log_debug("%s: another instance is refreshing; "
			    "waiting for its record", f->acct->name);
		}
		timerclear(&tv);
		tv.tv_usec = f->poll_ms * 1000;
		evtimer_add(&f->lockwait, &tv);
		f->poll_ms = f->poll_ms * 2 > LOCK_POLL_MAX ? LOCK_POLL_MAX :
		    f->poll_ms * 2;
		return (0);
	}
	f->locked = 1;
	if (flight_reread_done(f, flight_reread(f)))
		return (0);
	return (1);
}

static void
flight_lockwait(int fd, short ev, void *arg)
{
	struct tk_flight	*f = arg;

	if (flight_reread_done(f, flight_reread(f)))
		return;
	if (flight_now_ms() > f->wait_until) {
		log_warnx("%s: the refresh lock in the token store was not "
		    "released in time", f->acct->name);
		flight_store_down(f);
		return;
	}
	if (flight_shared(f))
		flight_send(f);
}
