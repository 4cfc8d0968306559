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
 * The login decision: for
 * each TOKEN_GET, find the account, apply the administrator's rules
 * (require_local_password, the account's allow_clients, throttling,
 * the local password), prove the password (in-memory verifier, else
 * the record's key), and answer with a fresh token or wait on the
 * account's one authd request.
 */

#include <sys/time.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "address.h"
#include "cidr.h"
#include "config_parse.h"
#include "msg.h"
#include "tokend.h"
#include "account_complete.h"

struct tk_env	tk;

static void	login_unlocked(struct tk_account *, struct tk_req *,
		    const struct account_view *);
static void	login_wrong(struct tk_account *, struct tk_req *,
		    const struct account_view *);
static void	login_import(struct tk_account *, struct tk_req *,
		    const struct account_view *);
static void	login_new_password(struct tk_account *, struct tk_req *,
		    const struct account_view *);
static int	login_new_allowed(struct tk_req *);
static struct tk_req *login_req_new(uint32_t, uint32_t, uint32_t,
		    const char *, const char *, const char *, const char *,
		    const char *);
static void	login_shared(struct tk_account *, struct tk_req *);

/* Whose login a TOKEN_GET is (login_account). */
enum login_kind {
	LOGIN_UNKNOWN = -2,	/* no section: refused */
	LOGIN_REFUSED = -1,	/* refused, the reason logged */
	LOGIN_OWN,		/* an account's own login */
	LOGIN_DELEGATED,	/* owner\shared: the owner's login */
	LOGIN_SHARED		/* a shared mailbox's own local_password */
};

int
tokend_login_init(const struct emailproxy_conf *conf, const char *dir,
    const struct tk_peer *proxy, const struct tk_peer *authd)
{
	memset(&tk, 0, sizeof(tk));
	tk.conf = conf;
	RB_INIT(&tk.accounts);
	tk_random(tk.vkey, sizeof(tk.vkey));
	tk.proxy = *proxy;
	tk.authd = *authd;
	tk.save_retry = TK_SAVE_RETRY;
	if (store_init(&tk.store, dir) == -1)
		return (-1);
	return (0);
}

static void
fail_deferred(struct tk_account *a, enum token_fail reason, const char *text)
{
	struct tk_req	*req;

	while ((req = TAILQ_FIRST(&a->deferred)) != NULL) {
		TAILQ_REMOVE(&a->deferred, req, entry);
		reply_fail_text(req, reason, text);
		req_free(req);
	}
}

/* A new configuration is in place; the old one is about to go. */
void
tokend_login_reconf(const struct emailproxy_conf *conf)
{
	struct tk_account	*a, *next;
	struct account_view	 v;
	char			*text;

	tk.conf = conf;
	RB_FOREACH_SAFE(a, tk_accounts, &tk.accounts, next) {
		if (account_resolve(conf, a->name, &v) == 0) {
			if (a->unlocked && a->flight == NULL)
				ahead_schedule(a);
			continue;
		}
		log_info("%s: no longer in the configuration; its unlocked "
		    "state is wiped", a->name);
		if (asprintf(&text, TK_TEXT_REFUSED, a->name) == -1)
			fatal(NULL);
		fail_deferred(a, TOKEN_FAIL_UNKNOWN_ACCOUNT, text);
		acct_lock(a);
		a->import_discarded = 0;
		acct_set_error(a, NULL);
		explicit_bzero(a->bad, sizeof(a->bad));
		a->nbad = a->badnext = 0;
		acct_forget_logins(a);
		/* Aborting the flight releases the account. */
		if (a->flight != NULL)
			flight_abort(a->flight, TOKEN_FAIL_UNKNOWN_ACCOUNT,
			    text);
		else
			acct_release(a);
		free(text);
	}
}

void
tokend_login_shutdown(void)
{
	struct tk_account	*a, *next;
	const char		*text = "emailproxy is shutting down";

	kdfq_shutdown();
	RB_FOREACH_SAFE(a, tk_accounts, &tk.accounts, next) {
		fail_deferred(a, TOKEN_FAIL_PROVIDER, text);
		if (a->flight != NULL)
			flight_abort(a->flight, TOKEN_FAIL_PROVIDER, text);
	}
	throttle_shutdown();
	/* The last chance for tokens that exist only in memory. */
	if (tk.save_armed)
		evtimer_del(&tk.save_ev);
	tk.save_armed = 0;
	acct_save_pending();
	RB_FOREACH(a, tk_accounts, &tk.accounts)
		if (a->unsaved && a->unlocked)
			log_warnx("%s: the token record could not be written; "
			    "the tokens obtained since its last write are "
			    "lost", a->name);
	if (tk.save_armed)
		evtimer_del(&tk.save_ev);
	tk.save_armed = 0;
	acct_free_all();
	store_close(&tk.store);
	explicit_bzero(tk.vkey, sizeof(tk.vkey));
}

void
req_free(struct tk_req *req)
{
	if (req == NULL)
		return;
	login_wait_stop(req);
	str_freezero(req->password);
	str_freezero(req->rejected);
	free(req->qaccount);
	free(req->server);
	free(req->client);
	free(req->username);
	free(req->upstream);
	free(req->owner);
	free(req->login_key);
	free(req->logname);
	freezero(req, sizeof(*req));
}

static char *
dupstr(const char *s)
{
	char	*d;

	if ((d = strdup(s != NULL ? s : "")) == NULL)
		fatal(NULL);
	return (d);
}

/*
 * A TOKEN_GET of session sid (dispatch.c read it): answer it, from the
 * store or through a login.
 */
void
login_request(uint32_t sid, uint32_t proto, uint32_t flags,
    const char *server, const char *client, const char *user,
    const char *pass, const char *rejected)
{
	login_run(login_req_new(sid, proto, flags, server, client, user, pass,
	    rejected));
}

/*
 * emailproxyctl token: the control process's connection id asks, for
 * the caller uid, as a login from the control socket would.  Its
 * client is "local": throttled as one address, refused by an account
 * that allows only some addresses.
 */
void
login_request_ctl(uint32_t id, const char *account, const char *pass,
    uint32_t uid)
{
	struct tk_req	*req;

	req = login_req_new(id, PROTO_IMAP, 0, "control", "local", account,
	    pass, NULL);
	req->ctl = 1;
	req->uid = uid;
	login_run(req);
}

static struct tk_req *
login_req_new(uint32_t sid, uint32_t proto, uint32_t flags,
    const char *server, const char *client, const char *user,
    const char *pass, const char *rejected)
{
	struct tk_req	*req;

	if ((req = calloc(1, sizeof(*req))) == NULL)
		fatal(NULL);
	req->sid = sid;
	req->proto = proto;
	req->flags = flags;
	req->server = dupstr(server);
	/* Only for rules and logs: one printable word. */
	req->client = reply_clean(client != NULL ? client : "");
	req->username = dupstr(user);
	req->logname = reply_clean(req->username);
	req->password = dupstr(pass);
	if (rejected != NULL)
		req->rejected = dupstr(rejected);
	return (req);
}

/*
 * The proxy's session sid is gone: drop what it waits for (not the
 * control process's requests, numbered apart).
 */
void
login_cancel_session(uint32_t sid)
{
	flight_cancel_session(sid, 0);
	throttle_cancel_session(sid, 0);
	kdfq_cancel_session(sid, 0);
}

/*
 * owner\shared (the Exchange form): a login of the owner, with the
 * owner's password and rules, to the shared mailbox whose token_owner
 * it is.  Anything else is refused as an unknown account would be.
 */
static int
login_delegated(struct tk_req *req, const char *bs, struct account_view *v,
    char **key)
{
	const struct account_conf	*sh, *own;
	char				*owner;

	if ((owner = strndup(req->username, bs - req->username)) == NULL)
		fatal(NULL);
	own = account_find(tk.conf, owner);
	sh = account_find(tk.conf, bs + 1);
	free(owner);
	if (sh == NULL || account_is_catchall(sh) || sh->token_owner == NULL) {
		log_info("login %s refused: %s is not a shared mailbox (an "
		    "account section with a token_owner)", req->logname,
		    bs + 1);
		return (LOGIN_REFUSED);
	}
	if (own == NULL || account_is_catchall(own) ||
	    !address_equal(own->name, sh->token_owner)) {
		log_info("login %s refused: the token_owner of %s is %s",
		    req->logname, sh->name, sh->token_owner);
		return (LOGIN_REFUSED);
	}
	if (account_resolve(tk.conf, own->name, v) == -1)
		return (LOGIN_UNKNOWN);
	if (account_key(own->name, key) == -1)
		fatal(NULL);
	req->upstream = dupstr(sh->name);
	req->owner = dupstr(own->name);
	return (LOGIN_DELEGATED);
}

/*
 * A login as a shared mailbox: with a local_password of the section's
 * own it is decided by that password (and the section's rules), then
 * takes the owner's tokens (login_shared).  Without one, only
 * owner\shared logs in to it.
 */
static int
login_shared_account(struct tk_req *req, struct account_view *v,
    char **key)
{
	const struct account_conf	*sh = v->section, *own;

	if (sh->local_password == NULL) {
		log_info("login %s refused: a shared mailbox without a "
		    "local_password of its own; log in as %s\\%s with the "
		    "password of %s", req->logname, sh->token_owner, sh->name,
		    sh->token_owner);
		return (LOGIN_REFUSED);
	}
	if ((own = account_find(tk.conf, sh->token_owner)) == NULL)
		return (LOGIN_UNKNOWN);
	if (account_key(sh->name, key) == -1)
		fatal(NULL);
	req->upstream = dupstr(sh->name);
	req->owner = dupstr(own->name);
	return (LOGIN_SHARED);
}

/*
 * The account a login is for: its merged view, its record key
 * (account_key) and the address sent upstream, the section's own
 * spelling whatever case the client typed (a login only a catch-all
 * covers goes as typed).  For a shared mailbox (token_owner), the
 * owner's or the mailbox's, see above.  A login_kind; a negative one
 * refuses the login.
 */
static int
login_account(struct tk_req *req, struct account_view *v, char **key)
{
	const char	*bs;

	free(req->upstream);
	free(req->owner);
	free(req->login_key);
	req->upstream = req->owner = req->login_key = NULL;
	if ((bs = strchr(req->username, '\\')) != NULL)
		return (login_delegated(req, bs, v, key));
	if (account_resolve(tk.conf, req->username, v) == -1)
		return (LOGIN_UNKNOWN);
	if (v->section != NULL && v->section->token_owner != NULL)
		return (login_shared_account(req, v, key));
	if (account_key(req->username, key) == -1)
		fatal(NULL);
	req->upstream = dupstr(v->section != NULL ? v->section->name :
	    req->username);
	return (LOGIN_OWN);
}

/* The account is complete for need (common/account_complete.c). */
static int
login_complete(struct tk_req *req, const struct account_view *v,
    enum account_need need)
{
	const char	*gap;

	if ((gap = account_gap(v, need)) == NULL)
		return (1);
	log_warnx("account %s: login refused: %s", req->logname, gap);
	reply_fail(req, TOKEN_FAIL_CONFIG, "Incomplete config file entry "
	    "found for account %s - %s", req->logname, gap);
	return (0);
}

/*
 * A wrong password discards the tokens and starts a new
 * authorisation, except for grants that need no person.
 */
static int
delete_on_wrong_password(const struct account_view *v)
{
	return (tk.conf->delete_account_token_on_password_error &&
	    (v->permission_url != NULL ||
	    (v->flow != FLOW_CLIENT_CREDENTIALS &&
	    v->flow != FLOW_SERVICE_ACCOUNT)));
}

static void
finish(struct tk_req *req, struct tk_account *a)
{
	req_free(req);
	if (a != NULL)
		acct_release(a);
}

/*
 * A wrong password.  The failure that starts a cool-off is answered
 * late (throttle.c); nothing stored is touched.
 */
static void
refuse_password(struct tk_account *a, struct tk_req *req,
    unsigned int delay)
{
	char	*text;

	if (asprintf(&text, TK_TEXT_REFUSED, req->logname) == -1)
		fatal(NULL);
	if (delay > 0) {
		throttle_hold(req, delay, TOKEN_FAIL_BAD_PASSWORD, text);
		if (a != NULL)
			acct_release(a);
	} else {
		reply_fail_text(req, TOKEN_FAIL_BAD_PASSWORD, text);
		finish(req, a);
	}
	free(text);
}

static void
bad_password(struct tk_account *a, struct tk_req *req)
{
	refuse_password(a, req, throttle_fail(a->name, req->client));
}

/*
 * The administrator's rules, before any password is looked at: no
 * crypt and no KDF for a login they refuse.
 */
static int
login_allowed(struct tk_req *req, const struct account_view *v,
    const char *key)
{
	int64_t	 wait;
	int	 by_address;

	if (tk.conf->require_local_password && v->local_password == NULL) {
		log_info("%s: no local password set by the administrator "
		    "(require_local_password) - aborting login",
		    req->logname);
		reply_fail(req, TOKEN_FAIL_CONFIG, "account %s has no local "
		    "password set by the administrator", req->logname);
		return (0);
	}
	if (v->allow_clients != NULL &&
	    !cidr_list_match_str(v->allow_clients, req->client)) {
		log_info("%s: logins from %s are not allowed - aborting "
		    "login", req->logname, req->client);
		reply_fail(req, TOKEN_FAIL_NOT_ALLOWED, "logins to %s are not "
		    "allowed from %s", req->logname, req->client);
		return (0);
	}
	if (throttle_check(key, req->client, &wait, &by_address)) {
		log_info("%s: too many failed logins %s %s; refused for %lld "
		    "more s", req->logname, by_address ? "from" : "for",
		    by_address ? req->client : "the account",
		    (long long)wait);
		if (by_address)
			reply_fail(req, TOKEN_FAIL_THROTTLED, "too many failed "
			    "logins from %s; try again in %lld s",
			    req->client, (long long)wait);
		else
			reply_fail(req, TOKEN_FAIL_THROTTLED, "too many failed "
			    "logins for %s; try again in %lld s",
			    req->logname, (long long)wait);
		return (0);
	}
	return (1);
}

/*
 * The login needs a KDF: it leaves the account (which may go away
 * meanwhile) and waits in the queue; its turn decides it afresh.
 */
static void
login_queue(struct tk_account *a, struct tk_req *req)
{
	req->acct = NULL;
	kdfq_add(req, a->name);
	acct_release(a);
}

/* Does this account have tokens a password could unlock? */
static int
login_has_tokens(struct tk_account *a, const struct account_view *v)
{
	if (a->unlocked || store_has(&tk.store, a->name))
		return (1);
	return (!a->import_discarded && import_available(v) &&
	    !store_forgotten(&tk.store, a->name));
}

/*
 * Before a KDF is queued for a login with no tokens to unlock (a first
 * login): it must be able to obtain tokens, a catch-all address must
 * not have had its share of first logins, and the first logins under
 * way must stay few.  0 when the login was refused.
 */
static int
login_precheck(struct tk_account *a, struct tk_req *req,
    const struct account_view *v)
{
	int64_t	wait;
	int	has = login_has_tokens(a, v);

	/* A shared store that is down: no KDF for a record nobody reads. */
	if (!a->unlocked && !store_available(&tk.store)) {
		tk.stats.store_unavailable++;
		reply_fail(req, TOKEN_FAIL_UNAVAILABLE, "Login failed for "
		    "account %s - the token store is unavailable; try again "
		    "later", req->logname);
		finish(req, a);
		return (0);
	}
	if (has)
		return (1);
	if (!login_complete(req, v, ACCOUNT_NEED_GRANT)) {
		finish(req, a);
		return (0);
	}
	if (v->section == NULL && throttle_first_check(req->client, &wait)) {
		log_info("%s: too many first logins under a catch-all section "
		    "from %s; refused for %lld more s", req->logname,
		    req->client, (long long)wait);
		reply_fail(req, TOKEN_FAIL_THROTTLED, "too many new accounts "
		    "from %s; try again in %lld s", req->client,
		    (long long)wait);
		finish(req, a);
		return (0);
	}
	if (!login_new_allowed(req)) {
		finish(req, a);
		return (0);
	}
	return (1);
}

void
login_run(struct tk_req *req)
{
	struct account_view	 v;
	struct tk_account	*a;
	struct record		 rec;
	struct record_secrets	 s;
	struct tk_keys		 k;
	char			*key;
	int			 r, kind = LOGIN_UNKNOWN;

	if (*req->username == '\0' || *req->password == '\0') {
		log_info("No password provided for account %s - aborting "
		    "login", req->logname);
		reply_fail(req, TOKEN_FAIL_NO_PASSWORD, "Login failed - no "
		    "password provided for account %s", req->logname);
		finish(req, NULL);
		return;
	}
	/* No mailbox name has control characters; logs must not get any. */
	if (strcmp(req->username, req->logname) != 0 ||
	    (kind = login_account(req, &v, &key)) < 0) {
		/*
		 * The client hears what a wrong password says, so that
		 * nobody learns from outside which accounts exist.
		 */
		if (strcmp(req->username, req->logname) != 0 ||
		    kind == LOGIN_UNKNOWN)
			log_info("No config file entry found for account %s - "
			    "please add a new section with values for "
			    "permission_url, token_url, oauth2_scope, "
			    "redirect_uri, client_id and client_secret",
			    req->logname);
		reply_fail(req, TOKEN_FAIL_UNKNOWN_ACCOUNT, TK_TEXT_REFUSED,
		    req->logname);
		finish(req, NULL);
		return;
	}
	if (!login_allowed(req, &v, key)) {
		free(key);
		finish(req, NULL);
		return;
	}
	a = acct_get(key);
	free(key);
	req->acct = a;
	tk_verifier(a->name, req->password, req->verifier);

	/*
	 * The administrator's password comes first; with one there is no
	 * trust on first use, and a wrong one destroys nothing.  A
	 * password not known to match costs a crypt(3): it waits its
	 * turn like a KDF.
	 */
	if (v.local_password != NULL) {
		if (!localpw_known(a, req, v.local_password)) {
			if (!req->kdf_turn) {
				login_queue(a, req);
				return;
			}
			if (!localpw_check(a, req, v.local_password)) {
				log_info("Login failed - the local password "
				    "for account %s is incorrect",
				    req->logname);
				bad_password(a, req);
				return;
			}
		}
		req->local_ok = 1;
	}
	if (kind == LOGIN_SHARED) {
		login_shared(a, req);
		return;
	}
	if (!login_complete(req, &v, ACCOUNT_NEED_TOKENS)) {
		finish(req, a);
		return;
	}

	/* One request at a time: the same password waits on it. */
	if (a->flight != NULL) {
		if (tk_equal(req->verifier, flight_verifier(a->flight),
		    TK_MACLEN))
			flight_join(a->flight, req);
		else
			TAILQ_INSERT_TAIL(&a->deferred, req, entry);
		login_wait(a);
		return;
	}
	/* Another instance wrote newer tokens: read them (a KDF). */
	if (a->unlocked && a->stale)
		acct_lock(a);
	/* The warm path: no KDF for a password we already know. */
	if (a->unlocked && tk_equal(req->verifier, a->keys.verifier,
	    TK_MACLEN)) {
		if (needs_config_secret(&v, &a->secrets) && !req->kdf_turn)
			login_queue(a, req);
		else
			login_unlocked(a, req, &v);
		return;
	}
	/* A known wrong password is refused at once, unless it gets a
	 * new authorisation (which derives a key). */
	if (acct_bad_known(a, req->verifier)) {
		if ((delete_on_wrong_password(&v) || req->local_ok) &&
		    !req->kdf_turn)
			login_queue(a, req);
		else
			login_wrong(a, req, &v);
		return;
	}
	/* Everything below derives a key: it waits its turn (kdfq.c). */
	if (!req->kdf_turn) {
		if (login_precheck(a, req, &v))
			login_queue(a, req);
		return;
	}
	if ((r = store_load(&tk.store, a->name, &rec)) == STORE_DOWN) {
		tk.stats.store_unavailable++;
		reply_fail(req, TOKEN_FAIL_UNAVAILABLE, "Login failed for "
		    "account %s - the token store is unavailable; try again "
		    "later", req->logname);
		finish(req, a);
		return;
	}
	if (r == -1) {
		reply_fail(req, TOKEN_FAIL_INTERNAL, "Login failed for "
		    "account %s - the token store cannot be read",
		    req->logname);
		finish(req, a);
		return;
	}
	if (r == 1) {
		if (tk_keys_derive(&k, a->name, req->password, &rec) == -1 ||
		    record_unseal(&rec, k.key, &s) == -1) {
			explicit_bzero(&k, sizeof(k));
			record_clear(&rec);
			acct_bad_add(a, req->verifier);
			login_wrong(a, req, &v);
			return;
		}
		acct_unlock(a, &k, &s, &rec);
		explicit_bzero(&k, sizeof(k));
		record_clear(&rec);
		log_debug("%s: unlocked", a->name);
		login_unlocked(a, req, &v);
		return;
	}
	/* No record (any more): whatever memory held is stale. */
	if (a->unlocked)
		acct_lock(a);
	/* Tokens the administrator deleted are not imported again. */
	if (!a->import_discarded && import_available(&v) &&
	    !store_forgotten(&tk.store, a->name)) {
		login_import(a, req, &v);
		return;
	}
	if (v.section == NULL)
		throttle_first_count(req->client);
	login_new_password(a, req, &v);
}

/*
 * The one rule for a login that waits for a person: while its account's
 * request to authd is an authorisation code or device grant, a login
 * waits at most auth_wait seconds, counted from when it first waited
 * (a login decided afresh keeps its deadline).  Then it is answered
 * TOKEN_FAIL_AUTH_PENDING, naming authorisation_page_url if there is
 * one.  The request to authd goes on (until auth_timeout) with nobody
 * waiting: the person's consent stores the tokens under the password
 * of the login that started it, and the next login with it succeeds.
 */
static int
login_waits_for_person(const struct tk_account *a)
{
	struct account_view	 v;

	return (a->flight != NULL && a->flight->op == AUTH_OP_OBTAIN &&
	    account_resolve(tk.conf, a->name, &v) == 0 &&
	    (v.flow == FLOW_AUTHORIZATION_CODE || v.flow == FLOW_DEVICE));
}

static void
login_wait_over(int fd, short ev, void *arg)
{
	struct tk_req		*req = arg, *r;
	struct tk_account	*a = req->acct;
	struct tk_flight	*f;
	int			 waiter = 0;

	req->wait_armed = 0;
	if (a == NULL)
		return;
	f = a->flight;
	TAILQ_FOREACH(r, &a->deferred, entry)
		if (r == req)
			break;
	if (r != NULL)
		TAILQ_REMOVE(&a->deferred, req, entry);
	else if (f != NULL) {
		TAILQ_FOREACH(r, &f->waiters, entry)
			if (r == req)
				break;
		if (r == NULL)
			return;
		TAILQ_REMOVE(&f->waiters, req, entry);
		waiter = 1;
	} else
		return;
	log_info("%s: nobody authorised the account within auth_wait "
	    "(%u s); the login is answered, the authorisation stays "
	    "pending", a->name, tk.conf->auth_wait);
	if (tk.conf->authorisation_page_url != NULL)
		reply_fail(req, TOKEN_FAIL_AUTH_PENDING, "account %s needs "
		    "authorisation: open %s to authorise it, then log in "
		    "again", req->logname, tk.conf->authorisation_page_url);
	else
		reply_fail(req, TOKEN_FAIL_AUTH_PENDING, "account %s needs "
		    "authorisation: your administrator has been notified; "
		    "log in again once it is authorised", req->logname);
	req_free(req);
	if (waiter && TAILQ_EMPTY(&f->waiters))
		f->kept = 1;
}

static void
login_wait_arm(struct tk_req *req)
{
	struct timespec	 now, left;
	struct timeval	 tv;

	/* The page shows the person what to do and waits for them. */
	if (req->wait_armed || req->page)
		return;
	if (clock_gettime(CLOCK_MONOTONIC, &now) == -1)
		fatal("clock_gettime");
	if (!req->wait_started) {
		req->wait_started = 1;
		req->wait_end = now;
		req->wait_end.tv_sec += tk.conf->auth_wait;
	}
	timespecsub(&req->wait_end, &now, &left);
	if (left.tv_sec < 0)
		timespecclear(&left);
	TIMESPEC_TO_TIMEVAL(&tv, &left);
	evtimer_set(&req->wait_ev, login_wait_over, req);
	evtimer_add(&req->wait_ev, &tv);
	req->wait_armed = 1;
}

/* The logins of a that wait for a person get their deadline. */
void
login_wait(struct tk_account *a)
{
	struct tk_req	*req;

	if (!login_waits_for_person(a))
		return;
	TAILQ_FOREACH(req, &a->flight->waiters, entry)
		login_wait_arm(req);
	TAILQ_FOREACH(req, &a->deferred, entry)
		login_wait_arm(req);
}

/* The login leaves the account's lists: no deadline until it waits again. */
void
login_wait_stop(struct tk_req *req)
{
	if (req->wait_armed)
		evtimer_del(&req->wait_ev);
	req->wait_armed = 0;
}

/* Re-decide logins that waited on a request with another password. */
void
login_rerun(struct tk_reqlist *list)
{
	struct tk_req	*req;

	while ((req = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, req, entry);
		login_wait_stop(req);
		req->acct = NULL;
		/* A KDF, if it needs one, waits for a new turn. */
		req->kdf_turn = 0;
		login_run(req);
	}
}

/* The password is proven: answer now or ask authd. */
static void
login_unlocked(struct tk_account *a, struct tk_req *req,
    const struct account_view *v)
{
	int64_t	 now = time(NULL);
	char	*secret;

	if (needs_config_secret(v, &a->secrets)) {
		if (import_client_secret(v, req->password, &secret) == -1) {
			log_info("Invalid password to decrypt "
			    "`client_secret_encrypted` for account %s - "
			    "aborting login", req->logname);
			bad_password(a, req);
			return;
		}
		a->secrets.client_secret = secret;
		acct_save(a);
	}
	/* Tokens a person authorised since replace the ones held. */
	if (a->authorised_until != 0) {
		if (a->authorised_until > now) {
			a->authorised_until = 0;
			log_info("%s: taking the tokens a person authorised",
			    a->name);
			flight_start(a, AUTH_OP_OBTAIN, NULL, NULL, req);
			return;
		}
		a->authorised_until = 0;
	}
	/* A token the server refused is not offered again. */
	if ((req->flags & TOKEN_F_REJECTED) && req->rejected != NULL &&
	    tk_strequal(req->rejected, a->secrets.access_token)) {
		log_info("%s: the server rejected the access token; getting "
		    "a new one", a->name);
		acct_drop_access(a);
		acct_save(a);
	}
	a->last_use = now;
	if (tk_fresh(a, now)) {
		if (now - a->last_use_saved >= TK_LASTUSE_SAVE)
			acct_save(a);
		reply_ok(req, a->secrets.access_token);
		finish(req, a);
		if (!a->ahead_armed)
			ahead_schedule(a);
		return;
	}
	if (a->secrets.refresh_token != NULL) {
		flight_start(a, AUTH_OP_REFRESH, NULL, NULL, req);
		return;
	}
	/*
	 * No refresh token: the password was verified above before the
	 * old token is dropped and a new one minted (GHSA-9wgg-m99q-hhfc).
	 */
	if (!login_complete(req, v, ACCOUNT_NEED_GRANT)) {
		finish(req, a);
		return;
	}
	acct_drop_access(a);
	flight_start(a, AUTH_OP_OBTAIN, NULL, NULL, req);
}

/*
 * The password does not open the tokens.  When it matched the local
 * password, the tokens were sealed under an older one: new tokens are
 * requested for it (the old record stays until they arrive).
 */
static int
login_local_changed(struct tk_account *a, struct tk_req *req,
    const struct account_view *v)
{
	if (!req->local_ok)
		return (0);
	log_notice("%s: the stored tokens were sealed with another password "
	    "than the local password; requesting new ones", a->name);
	login_new_password(a, req, v);
	return (1);
}

static void
login_wrong(struct tk_account *a, struct tk_req *req,
    const struct account_view *v)
{
	unsigned int	 delay;

	if (login_local_changed(a, req, v))
		return;
	if (!delete_on_wrong_password(v)) {
		log_info("Invalid password to decrypt credentials for account "
		    "%s - aborting login", req->logname);
		bad_password(a, req);
		return;
	}
	/* A failure all the same: guessing must not mint tokens freely. */
	if ((delay = throttle_fail(a->name, req->client)) > 0) {
		log_info("Invalid password to decrypt credentials for account "
		    "%s - too many failures, aborting login", req->logname);
		refuse_password(a, req, delay);
		return;
	}
	/*
	 * The tokens are replaced only once the new authorisation
	 * succeeds: a mistyped password alone destroys nothing.
	 */
	log_info("Retrying login due to exception while decrypting OAuth 2.0 "
	    "credentials for account %s (invalid password)", req->logname);
	login_new_password(a, req, v);
}

/* First unlock with tokens cached by the Python proxy. */
static void
login_import(struct tk_account *a, struct tk_req *req,
    const struct account_view *v)
{
	struct record_secrets	 s;
	struct tk_keys		 k;
	int64_t			 expiry, now = time(NULL);
	unsigned int		 iter, delay;

	switch (import_python(v, a->name, req->password, &s, &expiry)) {
	case -2:
		log_info("Invalid password to decrypt "
		    "`client_secret_encrypted` for account %s - aborting "
		    "login", req->logname);
		bad_password(a, req);
		return;
	case -1:
		if (req->local_ok) {
			a->import_discarded = 1;
			login_local_changed(a, req, v);
			return;
		}
		if (!delete_on_wrong_password(v)) {
			log_info("Invalid password to decrypt credentials for "
			    "account %s - aborting login", req->logname);
			bad_password(a, req);
			return;
		}
		if ((delay = throttle_fail(a->name, req->client)) > 0) {
			refuse_password(a, req, delay);
			return;
		}
		log_info("Retrying login due to exception while decrypting "
		    "OAuth 2.0 credentials for account %s (invalid password)",
		    req->logname);
		/* Python would delete them; we only stop offering them. */
		a->import_discarded = 1;
		login_new_password(a, req, v);
		return;
	}
	iter = tk.conf->kdf_iterations > 0 ? tk.conf->kdf_iterations :
	    1200000;
	if (tk_keys_new(&k, a->name, req->password, iter) == -1) {
		record_secrets_clear(&s);
		reply_fail(req, TOKEN_FAIL_INTERNAL, "Login failed for "
		    "account %s - key derivation failed", req->logname);
		finish(req, a);
		return;
	}
	acct_unlock(a, &k, &s, NULL);
	explicit_bzero(&k, sizeof(k));
	a->created = a->last_refresh = now;
	a->expiry = a->secrets.access_token != NULL ? expiry : 0;
	acct_save(a);
	tk.stats.imports++;
	log_notice("imported tokens of %s from the Python proxy's cache",
	    a->name);
	login_unlocked(a, req, v);
}

/*
 * No record this password opens: it becomes the password of the tokens
 * authd obtains now (trust on first use).
 */
static void
login_new_password(struct tk_account *a, struct tk_req *req,
    const struct account_view *v)
{
	struct tk_keys	*k;
	char		*secret;
	unsigned int	 iter;

	if (!login_complete(req, v, ACCOUNT_NEED_GRANT) ||
	    !login_new_allowed(req)) {
		finish(req, a);
		return;
	}
	if (import_client_secret(v, req->password, &secret) == -1) {
		log_info("Invalid password to decrypt "
		    "`client_secret_encrypted` for account %s - aborting "
		    "login", req->logname);
		bad_password(a, req);
		return;
	}
	iter = tk.conf->kdf_iterations > 0 ? tk.conf->kdf_iterations :
	    1200000;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		fatal(NULL);
	if (tk_keys_new(k, a->name, req->password, iter) == -1) {
		freezero(k, sizeof(*k));
		str_freezero(secret);
		reply_fail(req, TOKEN_FAIL_INTERNAL, "Login failed for "
		    "account %s - key derivation failed", req->logname);
		finish(req, a);
		return;
	}
	log_info("%s: no token this password unlocks; requesting one",
	    a->name);
	flight_start(a, AUTH_OP_OBTAIN, k, secret, req);
}

/* A bound on the first logins that wait for tokens at a time. */
static int
login_new_allowed(struct tk_req *req)
{
	if (flight_count_new() < TK_MAX_NEW_AUTH)
		return (1);
	log_warnx("%s: %d first logins already wait for tokens - refusing "
	    "login", req->logname, TK_MAX_NEW_AUTH);
	reply_fail(req, TOKEN_FAIL_THROTTLED, "too many new accounts are "
	    "waiting for authorisation; try again later");
	return (0);
}

/*
 * A shared mailbox's own local password matched: the login takes the
 * tokens of its owner, which only the owner's password unlocks.  They
 * serve it while they are unlocked in memory (the owner, or
 * owner\shared, logged in since tokend started); their refresh token
 * renews them, one refresh for the owner and the mailbox.  Nothing here
 * obtains new tokens: that needs the owner (and a password grant would
 * send the owner's password).  Throttling and the login notes stay
 * with the mailbox's own account s.
 */
static void
login_shared(struct tk_account *s, struct tk_req *req)
{
	struct tk_account	*a;
	int64_t			 now = time(NULL);
	char			*okey;

	if (account_key(req->owner, &okey) == -1)
		fatal(NULL);
	a = acct_find(okey);
	free(okey);
	free(req->login_key);
	req->login_key = dupstr(s->name);
	if (a == NULL || !a->unlocked) {
		log_info("%s: the tokens of its token_owner %s are locked "
		    "until %s (or %s\\%s) logs in", s->name, req->owner,
		    req->owner, req->owner, s->name);
		reply_fail(req, TOKEN_FAIL_NEEDS_AUTH, "Login failed for "
		    "account %s - the tokens of %s are locked until it logs "
		    "in", req->logname, req->owner);
		finish(req, s);
		return;
	}
	req->acct = a;
	acct_release(s);
	/* Only a refresh serves it; anything else first ends. */
	if (a->flight != NULL) {
		if (a->flight->op == AUTH_OP_REFRESH)
			flight_join(a->flight, req);
		else
			TAILQ_INSERT_TAIL(&a->deferred, req, entry);
		login_wait(a);
		return;
	}
	if ((req->flags & TOKEN_F_REJECTED) && req->rejected != NULL &&
	    tk_strequal(req->rejected, a->secrets.access_token)) {
		log_info("%s: the server rejected the access token; getting "
		    "a new one", a->name);
		acct_drop_access(a);
		acct_save(a);
	}
	a->last_use = now;
	if (tk_fresh(a, now)) {
		reply_ok(req, a->secrets.access_token);
		finish(req, a);
		if (!a->ahead_armed)
			ahead_schedule(a);
		return;
	}
	if (a->secrets.refresh_token != NULL) {
		flight_start(a, AUTH_OP_REFRESH, NULL, NULL, req);
		return;
	}
	log_info("%s: no refresh token for the tokens of %s; %s must log "
	    "in", s->name, a->name, req->owner);
	reply_fail(req, TOKEN_FAIL_NEEDS_AUTH, "Login failed for account %s "
	    "- the tokens of %s need its own login", req->logname,
	    req->owner);
	finish(req, a);
}
