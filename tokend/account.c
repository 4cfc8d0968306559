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
 * Accounts in memory: the unlocked state (the password-derived key, the
 * decrypted secrets and a verifier of the password), the verifier
 * check that spares a matching login the KDF, and writing the record
 * back from that state.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "address.h"
#include "config_parse.h"
#include "tokend.h"

RB_GENERATE(tk_accounts, tk_account, entry, account_RB_cmp);

int
account_RB_cmp(struct tk_account *a, struct tk_account *b)
{
	return (strcmp(a->name, b->name));
}

static char *
key_lower(const char *s, int from_at)
{
	char	*key, *p;

	if ((key = strdup(s)) == NULL)
		return (NULL);
	p = from_at && strrchr(key, '@') != NULL ? strrchr(key, '@') : key;
	for (; *p != '\0'; p++)
		*p = address_lower((unsigned char)*p);
	return (key);
}

/*
 * The record key of a login or section name: the spelling of its
 * account section with the domain in lower case, so that every case a
 * client types finds one record (and the records written before
 * addresses lost their case, under the section's spelling, still
 * open).  A name only a catch-all covers is all in lower case, unless
 * the store holds a record under the name as typed (domain in lower
 * case) and none under that key.
 */
int
account_key(const char *name, char **key)
{
	const struct account_conf	*a;
	char				*typed;

	if ((a = account_find(tk.conf, name)) != NULL &&
	    !account_is_catchall(a))
		return ((*key = key_lower(a->name, 1)) == NULL ? -1 : 0);
	if ((*key = key_lower(name, 0)) == NULL)
		return (-1);
	if ((typed = key_lower(name, 1)) == NULL)
		return (-1);
	if (strcmp(typed, *key) != 0 && !store_has(&tk.store, *key) &&
	    store_has(&tk.store, typed)) {
		free(*key);
		*key = typed;
	} else
		free(typed);
	return (0);
}

/*
 * HMAC-SHA256 under a key made at start and never stored: it tells a
 * known password in constant time without keeping the password.
 */
void
tk_verifier(const char *name, const char *password, uint8_t out[TK_MACLEN])
{
	if (tk_hmac(tk.vkey, sizeof(tk.vkey), name, strlen(name) + 1,
	    password, strlen(password), out) == -1)
		fatalx("HMAC failed");
}

int
tk_keys_new(struct tk_keys *k, const char *name, const char *password,
    unsigned int iterations)
{
	tk_random(k->salt, sizeof(k->salt));
	k->iterations = iterations;
	tk_verifier(name, password, k->verifier);
	return (tk_kdf(password, strlen(password), k->salt, sizeof(k->salt),
	    iterations, k->key, sizeof(k->key)));
}

int
tk_keys_derive(struct tk_keys *k, const char *name, const char *password,
    const struct record *r)
{
	memcpy(k->salt, r->salt, sizeof(k->salt));
	k->iterations = r->iterations;
	tk_verifier(name, password, k->verifier);
	return (tk_kdf(password, strlen(password), k->salt, sizeof(k->salt),
	    k->iterations, k->key, sizeof(k->key)));
}

/*
 * Refresh when fewer than 600 s or half the token's
 * lifetime remain, whichever is smaller.
 */
int
tk_margin(const struct tk_account *a)
{
	int64_t	life = a->expiry - a->last_refresh;

	if (a->last_refresh <= 0 || life <= 0)
		life = TOKEN_DEFAULT_LIFETIME;
	return (life / 2 < TOKEN_EXPIRY_MARGIN ? (int)(life / 2) :
	    TOKEN_EXPIRY_MARGIN);
}

int
tk_fresh(const struct tk_account *a, int64_t now)
{
	return (a->unlocked && a->secrets.access_token != NULL &&
	    a->expiry - now >= tk_margin(a));
}

struct tk_account *
acct_find(const char *name)
{
	struct tk_account	key;

	key.name = (char *)name;
	return (RB_FIND(tk_accounts, &tk.accounts, &key));
}

struct tk_account *
acct_get(const char *name)
{
	struct tk_account	*a;

	if ((a = acct_find(name)) != NULL)
		return (a);
	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->name = strdup(name)) == NULL)
		fatal(NULL);
	TAILQ_INIT(&a->deferred);
	evtimer_set(&a->ahead_ev, NULL, a);
	RB_INSERT(tk_accounts, &tk.accounts, a);
	return (a);
}

/* Wipe what the password unlocked. */
void
acct_lock(struct tk_account *a)
{
	ahead_stop(a);
	record_secrets_clear(&a->secrets);
	explicit_bzero(&a->keys, sizeof(a->keys));
	a->unlocked = 0;
	a->unsaved = 0;
	a->stale = 0;
	a->version = 0;
	a->expiry = a->created = a->last_refresh = a->last_use = 0;
	a->last_use_saved = 0;
}

/* Forget an account with nothing in memory worth keeping. */
void
acct_release(struct tk_account *a)
{
	if (a->unlocked || a->flight != NULL || !TAILQ_EMPTY(&a->deferred) ||
	    a->import_discarded || a->last_error != NULL || a->nbad > 0 ||
	    a->ahead_armed || a->lp_known || a->last_login != 0 ||
	    a->authorised_until != 0)
		return;
	RB_REMOVE(tk_accounts, &tk.accounts, a);
	explicit_bzero(a->bad, sizeof(a->bad));
	free(a->name);
	free(a);
}

/* A login succeeded: for show accounts, and it ends the failure count. */
void
acct_note_login(struct tk_account *a, const char *client)
{
	a->last_login = time(NULL);
	free(a->last_login_address);
	if ((a->last_login_address = strdup(client != NULL ? client : ""))
	    == NULL)
		fatal(NULL);
	throttle_success(a->name);
}

/* What the account remembers of its logins, before it is dropped. */
void
acct_forget_logins(struct tk_account *a)
{
	localpw_forget(a);
	a->last_login = 0;
	free(a->last_login_address);
	a->last_login_address = NULL;
}

/* Take the secrets (moved, not copied) and the record's metadata. */
void
acct_unlock(struct tk_account *a, const struct tk_keys *k,
    struct record_secrets *s, const struct record *r)
{
	record_secrets_clear(&a->secrets);
	a->secrets = *s;
	memset(s, 0, sizeof(*s));
	a->keys = *k;
	a->unlocked = 1;
	if (r != NULL) {
		a->expiry = r->access_token_expiry;
		a->created = r->created;
		a->last_refresh = r->last_refresh;
		a->last_use = a->last_use_saved = r->last_use;
		a->version = r->version;
	}
	a->stale = 0;
	/* A new key makes the old wrong passwords worth checking again. */
	explicit_bzero(a->bad, sizeof(a->bad));
	a->nbad = a->badnext = 0;
}

static void	 acct_save_fire(int, short, void *);

static void
acct_save_arm(void)
{
	struct timeval	tv;

	if (tk.save_armed)
		return;
	timerclear(&tv);
	tv.tv_sec = tk.save_retry > 0 ? tk.save_retry : TK_SAVE_RETRY;
	evtimer_set(&tk.save_ev, acct_save_fire, NULL);
	evtimer_add(&tk.save_ev, &tv);
	tk.save_armed = 1;
}

/* Records whose write failed (disk full, say) are written again. */
static void
acct_save_fire(int fd, short ev, void *arg)
{
	tk.save_armed = 0;
	acct_save_pending();
}

/* Try every unsaved record once; the timer stays armed for failures. */
void
acct_save_pending(void)
{
	struct tk_account	*a;

	RB_FOREACH(a, tk_accounts, &tk.accounts)
		if (a->unsaved && a->unlocked)
			acct_save(a);
}

/* The number of accounts whose tokens are in memory only. */
int
acct_unsaved(void)
{
	struct tk_account	*a;
	int			 n = 0;

	RB_FOREACH(a, tk_accounts, &tk.accounts)
		n += a->unsaved && a->unlocked;
	return (n);
}

/*
 * Seal the unlocked state with its key and write it; 0 or -1.  A
 * failed write is retried every save_retry seconds: the tokens in
 * memory may be the only valid ones (a rotated refresh token).
 */
int
acct_save(struct tk_account *a)
{
	struct record	r;
	int		rv;

	if (!a->unlocked)
		return (-1);
	memset(&r, 0, sizeof(r));
	r.account = a->name;
	r.iterations = a->keys.iterations;
	memcpy(r.salt, a->keys.salt, sizeof(r.salt));
	r.access_token_expiry = a->secrets.access_token ? a->expiry : 0;
	r.created = a->created;
	r.last_refresh = a->last_refresh;
	r.last_use = a->last_use;
	r.version = a->version;
	if (record_seal(&r, a->keys.key, &a->secrets) == -1) {
		free(r.ciphertext);
		log_warnx("%s: cannot seal the token record", a->name);
		return (-1);
	}
	rv = store_save(&tk.store, &r);
	free(r.ciphertext);
	if (rv == STORE_CONFLICT) {
		/*
		 * Another instance wrote the record since it was read: its
		 * tokens are the newer ones.  Nothing is written; the next
		 * login reads that record instead of this memory.
		 */
		tk.stats.store_conflicts++;
		log_info("%s: another instance wrote a newer token record; "
		    "it replaces the tokens in memory at the next login",
		    a->name);
		a->stale = 1;
		a->unsaved = 0;
		return (-1);
	}
	if (rv == 0) {
		a->version = r.version;
		a->last_use_saved = a->last_use;
		if (a->unsaved)
			log_notice("%s: the token record is written again",
			    a->name);
		a->unsaved = 0;
	} else {
		tk.stats.store_write_failures++;
		a->unsaved = 1;
		/* The store's own line tells of an outage, once. */
		if (store_available(&tk.store))
			log_warnx("%s: the token record was not written; the "
			    "tokens stay in memory and the write is tried "
			    "again in %u s", a->name, tk.save_retry > 0 ?
			    tk.save_retry : TK_SAVE_RETRY);
		acct_save_arm();
	}
	return (rv);
}

void
acct_drop_access(struct tk_account *a)
{
	str_freezero(a->secrets.access_token);
	a->secrets.access_token = NULL;
	a->expiry = 0;
}

void
acct_set_error(struct tk_account *a, const char *text)
{
	free(a->last_error);
	a->last_error = text != NULL ? strdup(text) : NULL;
}

int
acct_bad_known(struct tk_account *a, const uint8_t *v)
{
	int	i, hit = 0;

	for (i = 0; i < a->nbad; i++)
		hit |= tk_equal(a->bad[i], v, TK_MACLEN);
	return (hit);
}

void
acct_bad_add(struct tk_account *a, const uint8_t *v)
{
	memcpy(a->bad[a->badnext], v, TK_MACLEN);
	a->badnext = (a->badnext + 1) % TK_BADPW;
	if (a->nbad < TK_BADPW)
		a->nbad++;
}

void
acct_free_all(void)
{
	struct tk_account	*a, *next;
	struct tk_req		*req;

	RB_FOREACH_SAFE(a, tk_accounts, &tk.accounts, next) {
		acct_lock(a);
		while ((req = TAILQ_FIRST(&a->deferred)) != NULL) {
			TAILQ_REMOVE(&a->deferred, req, entry);
			req_free(req);
		}
		RB_REMOVE(tk_accounts, &tk.accounts, a);
		explicit_bzero(a->bad, sizeof(a->bad));
		acct_forget_logins(a);
		free(a->last_error);
		free(a->name);
		free(a);
	}
}
