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
 * The control socket's questions for tokend, sent by the control
 * process with peerid = the control connection: show accounts, forget
 * an account, show stats, health, and a token (emailproxyctl token).
 * Answers are CTL_DATA objects then CTL_END, or CTL_FAIL.  Nothing
 * secret is part of an answer but the access token of a token request
 * whose password was right (reply.c).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ctl_answer.h"
#include "log.h"
#include "msg.h"
#include "tokend.h"
#include "store_redis.h"

static void
ctl_kick(const struct tk_peer *p)
{
	if (p->kick != NULL)
		p->kick(p->arg);
}

static void
ctl_data(const struct tk_peer *p, uint32_t id, json_t *obj)
{
	ctl_answer_data(p->ibuf, id, obj);
}

void
ctl_end(const struct tk_peer *p, uint32_t id, const char *fail)
{
	ctl_answer_end(p->ibuf, id, fail);
	ctl_kick(p);
}

/* One row per account, keyed by account name. */
static json_t *
row(json_t *rows, const char *name)
{
	json_t	*o;

	if ((o = json_object_get(rows, name)) != NULL)
		return (o);
	if ((o = json_pack("{s:s, s:s}", "account", name, "state",
	    "no token")) == NULL || json_object_set_new(rows, name, o) == -1)
		fatalx("json_pack");
	return (o);
}

static void
set_int(json_t *o, const char *k, int64_t v)
{
	json_object_set_new(o, k, json_integer(v));
}

static void
show_record(const struct record *r, void *arg)
{
	json_t	*o = row(arg, r->account);

	json_object_set_new(o, "state", json_string("locked"));
	set_int(o, "access_token_expiry", r->access_token_expiry);
	set_int(o, "last_refresh", r->last_refresh);
	set_int(o, "last_use", r->last_use);
}

/* An account only throttling knows (a catch-all name, say). */
static void
show_throttled(const char *name, void *arg)
{
	row(arg, name);
}

void
ctl_show_accounts(const struct tk_peer *p, uint32_t id)
{
	struct account_conf	*ac;
	struct tk_account	*a;
	json_t			*rows, *o;
	const char		*name;
	char			*key;
	int64_t			 until;

	if ((rows = json_object()) == NULL)
		fatalx("json_object");
	TAILQ_FOREACH(ac, &tk.conf->accounts, entry) {
		if (ac->name[0] == '@')
			continue;	/* a catch-all is not an account */
		if (account_key(ac->name, &key) == -1)
			fatal(NULL);
		row(rows, key);
		free(key);
	}
	store_list(&tk.store, show_record, rows);
	throttle_accounts(show_throttled, rows);
	RB_FOREACH(a, tk_accounts, &tk.accounts) {
		o = row(rows, a->name);
		if (a->unlocked) {
			json_object_set_new(o, "state",
			    json_string("unlocked"));
			set_int(o, "access_token_expiry",
			    a->secrets.access_token ? a->expiry : 0);
			set_int(o, "last_refresh", a->last_refresh);
			set_int(o, "last_use", a->last_use);
		} else if (a->flight != NULL &&
		    strcmp(json_string_value(json_object_get(o, "state")),
		    "no token") == 0)
			json_object_set_new(o, "state",
			    json_string("pending"));
		if (a->last_error != NULL)
			json_object_set_new(o, "last_error",
			    json_string(a->last_error));
		if (a->last_login != 0) {
			set_int(o, "last_login", a->last_login);
			json_object_set_new(o, "last_login_address",
			    json_string(a->last_login_address));
		}
	}
	json_object_foreach(rows, name, o) {
		set_int(o, "failures", throttle_failures(name, &until));
		if (until != 0)
			set_int(o, "throttled_until", until);
		ctl_data(p, id, o);
	}
	json_decref(rows);
	ctl_end(p, id, NULL);
}

void
ctl_forget(const struct tk_peer *p, uint32_t id, const char *account)
{
	struct tk_account	*a;
	struct account_view	 v;
	char			*key, *text;
	int			 had = 0, cached, r;

	if (account_key(account, &key) == -1)
		fatal(NULL);
	if ((a = acct_find(key)) != NULL) {
		had = a->unlocked || a->flight != NULL;
		if (asprintf(&text, "Login failed for account %s: its tokens "
		    "were deleted by the administrator", key) == -1)
			fatal(NULL);
		while (!TAILQ_EMPTY(&a->deferred)) {
			struct tk_req *req = TAILQ_FIRST(&a->deferred);

			TAILQ_REMOVE(&a->deferred, req, entry);
			reply_fail_text(req, TOKEN_FAIL_NEEDS_AUTH, text);
			req_free(req);
		}
		acct_lock(a);
		a->import_discarded = 0;
		acct_set_error(a, NULL);
		explicit_bzero(a->bad, sizeof(a->bad));
		a->nbad = a->badnext = 0;
		acct_forget_logins(a);
		if (a->flight != NULL)
			flight_abort(a->flight, TOKEN_FAIL_NEEDS_AUTH, text);
		else
			acct_release(a);
		free(text);
	}
	/* The Python proxy's cache counts as stored tokens too. */
	cached = account_resolve(tk.conf, key, &v) == 0 &&
	    import_available(&v) && !store_forgotten(&tk.store, key);
	r = store_remove(&tk.store, key);
	if (r == -1)
		ctl_end(p, id, "the token record could not be deleted; "
		    "see the log");
	else if (r == 0 && !had && !cached)
		ctl_end(p, id, "no stored tokens for this account");
	else if (store_forget_mark(&tk.store, key) == -1)
		ctl_end(p, id, "the tokens are deleted, but the mark that "
		    "keeps the Python proxy's cached tokens from being "
		    "imported again could not be written; see the log");
	else {
		log_notice("%s: tokens forgotten by the control socket", key);
		ctl_end(p, id, NULL);
	}
	free(key);
}

/*
 * An account whose grant needs a person (authorization code, device)
 * and that holds no tokens: its next login waits for one.  A shared
 * mailbox (token_owner) has no grant of its own.
 */
static int
needs_authorisation(const char *key)
{
	struct account_view	 v;
	struct tk_account	*a;

	return (account_resolve(tk.conf, key, &v) == 0 &&
	    (v.section == NULL || v.section->token_owner == NULL) &&
	    (v.flow == FLOW_AUTHORIZATION_CODE || v.flow == FLOW_DEVICE) &&
	    !store_has(&tk.store, key) &&
	    ((a = acct_find(key)) == NULL || !a->unlocked) &&
	    !(import_available(&v) && !store_forgotten(&tk.store, key)));
}

/*
 * One object per configured account, for show metrics: whether it needs
 * authorisation and, when unlocked in memory, its access token's expiry.
 */
static void
stats_accounts(const struct tk_peer *p, uint32_t id)
{
	struct account_conf	*ac;
	struct tk_account	*a;
	json_t			*o;
	char			*key;

	TAILQ_FOREACH(ac, &tk.conf->accounts, entry) {
		if (ac->name[0] == '@')
			continue;	/* a catch-all is not an account */
		if (account_key(ac->name, &key) == -1)
			fatal(NULL);
		if ((o = json_pack("{s:s, s:b}", "account", key,
		    "needs_authorisation", needs_authorisation(key))) == NULL)
			fatalx("json_pack");
		if ((a = acct_find(key)) != NULL && a->unlocked &&
		    a->secrets.access_token != NULL)
			set_int(o, "access_token_expiry", a->expiry);
		ctl_data(p, id, o);
		json_decref(o);
		free(key);
	}
}

void
ctl_show_stats(const struct tk_peer *p, uint32_t id)
{
	struct tk_account	*a;
	json_t			*o;
	int64_t			 unlocked = 0;

	RB_FOREACH(a, tk_accounts, &tk.accounts)
		unlocked += a->unlocked;
	o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "tokend_logins_ok_total", (json_int_t)tk.stats.logins_ok,
	    "tokend_logins_bad_password_total",
	    (json_int_t)tk.stats.logins_bad_password,
	    "tokend_logins_unknown_account_total",
	    (json_int_t)tk.stats.logins_unknown_account,
	    "tokend_logins_failed_total", (json_int_t)tk.stats.logins_failed,
	    "tokend_token_refreshes_total",
	    (json_int_t)tk.stats.token_refreshes,
	    "tokend_token_obtains_total", (json_int_t)tk.stats.token_obtains,
	    "tokend_token_request_failures_total",
	    (json_int_t)tk.stats.token_request_failures,
	    "tokend_imports_total", (json_int_t)tk.stats.imports,
	    "tokend_kdf_runs_total", (json_int_t)tk_kdf_runs,
	    "tokend_crypt_checks_total", (json_int_t)tk.stats.crypt_checks,
	    "tokend_logins_throttled_total",
	    (json_int_t)tk.stats.logins_throttled,
	    "tokend_logins_not_allowed_total",
	    (json_int_t)tk.stats.logins_not_allowed,
	    "tokend_accounts_unlocked", (json_int_t)unlocked,
	    "tokend_store_write_failures_total",
	    (json_int_t)tk.stats.store_write_failures,
	    "tokend_records_unsaved", (json_int_t)acct_unsaved(),
	    "tokend_kdf_queue", (json_int_t)kdfq_len(),
	    "tokend_kdf_queue_refused_total",
	    (json_int_t)tk.stats.kdfq_refused);
	if (o == NULL)
		fatalx("json_pack");
	/* The shared store (token_store = redis): 1 when it answers. */
	set_int(o, "tokend_store_available", store_available(&tk.store));
	set_int(o, "tokend_store_unavailable_total",
	    (json_int_t)tk.stats.store_unavailable);
	set_int(o, "tokend_store_conflicts_total",
	    (json_int_t)tk.stats.store_conflicts);
	set_int(o, "tokend_shared_refresh_adopted_total",
	    (json_int_t)tk.stats.shared_refresh_adopted);
	ctl_data(p, id, o);
	json_decref(o);
	stats_accounts(p, id);
	ctl_end(p, id, NULL);
}

/*
 * health: the token store takes new records, none waits to be saved;
 * the accounts whose grant needs a person (authorization code, device)
 * and that hold no tokens, whose next login waits for one (a warning).
 */
void
ctl_health(const struct tk_peer *p, uint32_t id)
{
	struct account_conf	*ac;
	json_t			*o, *names;
	char			*key, *problem = NULL;
	int64_t			 unsaved, redis_since = 0;
	const char		*why;
	int			 n = 0;

	unsaved = acct_unsaved();
	if (store_shared(&tk.store)) {
		/* A PING: an outage shows at once, not at the next login. */
		if (store_writable(&tk.store) == -1) {
			why = store_redis_state(&tk.store, &redis_since);
			if (asprintf(&problem, "Redis unavailable for %lld s: "
			    "%s", (long long)(time(NULL) - redis_since),
			    why != NULL ? why : "no answer") == -1)
				fatal(NULL);
		}
	} else if (store_writable(&tk.store) == -1) {
		if (asprintf(&problem, "store_dir %s: cannot write: %s",
		    tk.conf->store_dir, strerror(errno)) == -1)
			fatal(NULL);
	} else if (unsaved > 0 && asprintf(&problem, "store_dir %s: %lld "
	    "token record%s not saved (see the log)", tk.conf->store_dir,
	    (long long)unsaved, unsaved == 1 ? "" : "s") == -1)
		fatal(NULL);
	if ((o = json_pack("{s:s, s:s, s:b}", "check", "store", "name",
	    store_shared(&tk.store) ? "redis" : tk.conf->store_dir, "ok",
	    problem == NULL)) == NULL)
		fatalx("json_pack");
	if (problem != NULL)
		json_object_set_new(o, "problem", json_string(problem));
	ctl_data(p, id, o);
	json_decref(o);
	free(problem);
	problem = NULL;

	if ((names = json_array()) == NULL)
		fatalx("json_array");
	TAILQ_FOREACH(ac, &tk.conf->accounts, entry) {
		if (ac->name[0] == '@')
			continue;	/* a catch-all is not an account */
		if (account_key(ac->name, &key) == -1)
			fatal(NULL);
		if (needs_authorisation(key)) {
			json_array_append_new(names, json_string(key));
			n++;
		}
		free(key);
	}
	if (n > 0 && asprintf(&problem, "%d account%s need%s authorisation "
	    "(emailproxyctl authorise)", n, n == 1 ? "" : "s",
	    n == 1 ? "s" : "") == -1)
		fatal(NULL);
	if ((o = json_pack("{s:s, s:s, s:b, s:b, s:o}", "check",
	    "authorisation", "name", "accounts", "ok", n == 0, "warning", 1,
	    "accounts", names)) == NULL)
		fatalx("json_pack");
	if (problem != NULL)
		json_object_set_new(o, "problem", json_string(problem));
	ctl_data(p, id, o);
	json_decref(o);
	free(problem);
	ctl_end(p, id, NULL);
}

/*
 * emailproxyctl token: a login from the control socket, answered to
 * the control process (reply.c).
 */
void
ctl_token(const struct tk_peer *p, uint32_t id, const char *account,
    const char *password, uint32_t uid)
{
	tk.control = *p;
	login_request_ctl(id, account, password, uid);
}
