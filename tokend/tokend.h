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
 * tokend: the token store's process.  It decides every login the proxy
 * forwards (login.c), keeps unlocked accounts in memory (account.c),
 * asks authd for tokens with one request per account at a time
 * (flight.c), refreshes tokens ahead of expiry (ahead.c), imports the
 * Python proxy's cached tokens (import.c) and answers the control
 * socket (ctl.c).  Multi-user hardening: the administrator's local
 * passwords (localpw.c) and login throttling (throttle.c).  tokend.c
 * is the process around them.
 *
 * The engine talks to its peers through struct tk_peer, so tests can
 * drive it over socketpairs without the event loop of tokend.c.
 */

#ifndef TOKEND_H
#define TOKEND_H

#include <sys/queue.h>
#include <sys/tree.h>

#include <stdint.h>
#include <time.h>

#include <event.h>

#include "emailproxy.h"
#include "config.h"
#include "crypto.h"
#include "imsg.h"
#include "record.h"
#include "store.h"

#define TK_BADPW	8	/* wrong passwords remembered per account */
#define TK_IDLE_AHEAD	86400	/* no refresh ahead after a day unused */
#define TK_LASTUSE_SAVE	3600	/* write last_use at most hourly */
#define TK_MAX_BACKOFF	900	/* refresh-ahead retry cap, seconds */
#define TK_SAVE_RETRY	30	/* seconds between tries of an unsaved record */
#define TK_KDFQ_MAX	64	/* logins waiting for a KDF, in all */
#define TK_KDFQ_PER_ADDR 4	/* ... from one client address */
#define TK_KDFQ_PER_ACCOUNT 4	/* ... for one account */
#define TK_FIRST_PER_ADDR 10	/* catch-all first logins per address and
				   login_failure_window */
#define TK_MAX_NEW_AUTH	32	/* first-login token requests at a time */

/*
 * What a client hears for a wrong password, and also for an account
 * that does not exist: the log tells them apart, the client cannot.
 */
#define TK_TEXT_REFUSED	"Login failed - the password for account %s is " \
	"incorrect"

/* A peer: messages go to ibuf, then kick(arg) arms the writer. */
struct tk_peer {
	struct imsgbuf	*ibuf;
	void		(*kick)(void *);
	void		*arg;
};

/* One TOKEN_GET being answered. */
struct tk_req;
TAILQ_HEAD(tk_reqlist, tk_req);
struct tk_req {
	TAILQ_ENTRY(tk_req) entry;
	uint32_t	 sid;		/* proxy session id; control: connection */
	int		 ctl;		/* emailproxyctl token, from control */
	uint32_t	 uid;		/* its caller, for the log */
	uint32_t	 proto;
	uint32_t	 flags;		/* TOKEN_F_* */
	char		*server;
	char		*client;
	char		*username;	/* as the client typed it */
	char		*upstream;	/* XOAUTH2 user=: the section's name */
	char		*owner;		/* a shared mailbox's token_owner */
	char		*login_key;	/* throttled and noted, if not acct */
	char		*logname;	/* the same, printable, for logs */
	char		*password;
	char		*rejected;	/* token the server refused */
	int		 local_ok;	/* matched the local password */
	int		 kdf_turn;	/* its turn in the KDF queue */
	char		*qaccount;	/* the account it is queued for */
	struct tk_reqlist followers;	/* same account and password */
	uint8_t		 verifier[TK_MACLEN];
	struct tk_account *acct;
	/* Waiting for a person: answered at wait_end (login_wait). */
	struct event	 wait_ev;
	int		 wait_armed;
	int		 wait_started;
	struct timespec	 wait_end;	/* CLOCK_MONOTONIC */
	int		 page;		/* the authorisation page's (page.c) */
};

/* A password-derived key and what derived it. */
struct tk_keys {
	uint8_t		 key[TK_KEYLEN];
	uint8_t		 salt[TK_SALTLEN];
	unsigned int	 iterations;
	uint8_t		 verifier[TK_MACLEN];
};

/* The one authd request of an account. */
struct tk_flight {
	struct tk_account *acct;
	uint32_t	 id;		/* peerid towards authd */
	enum auth_op	 op;
	int		 retried;	/* INVALID_GRANT made it an OBTAIN */
	int		 ahead;		/* started by the refresh-ahead timer */
	int		 kept;		/* its logins were answered (login_wait):
					   it waits on for the person */
	struct tk_keys	*newkeys;	/* the first login sets the password */
	char		*client_secret;	/* for the new record */
	struct tk_reqlist waiters;
	struct event	 timeout;
	/* A shared store: the account's refresh lock (flight.c). */
	int		 locked;	/* held by this process */
	struct event	 lockwait;	/* another instance holds it */
	unsigned int	 poll_ms;	/* the next wait */
	int64_t		 wait_until;	/* monotonic ms: give up */
	int		 sent;		/* authd has the request */
	int		 page;		/* a person waits at the page */
	/* What the person must visit (AUTH_CONSENT), for later waiters. */
	char		*consent_url;
	char		*consent_state;
	char		*consent_code;
	uint64_t	 consent_expiry;
};

struct tk_account {
	RB_ENTRY(tk_account) entry;
	char		*name;		/* record key: domain in lower case */
	int		 unlocked;
	struct tk_keys	 keys;		/* valid when unlocked */
	struct record_secrets secrets;	/* valid when unlocked */
	int64_t		 expiry;	/* access token, Unix seconds */
	int64_t		 created;
	int64_t		 last_refresh;
	int64_t		 last_use;
	int64_t		 last_use_saved;
	struct tk_flight *flight;
	struct tk_reqlist deferred;	/* other passwords, after the flight */
	uint8_t		 bad[TK_BADPW][TK_MACLEN];
	int		 nbad, badnext;
	int		 import_discarded;
	char		*last_error;
	struct event	 ahead_ev;
	int		 ahead_armed;
	unsigned int	 ahead_failures;
	/* The local password that matched (localpw.c). */
	int		 lp_known;
	uint8_t		 lp_verifier[TK_MACLEN];
	uint8_t		 lp_tag[TK_MACLEN];	/* of the hash it matched */
	int64_t		 last_login;	/* last successful login */
	char		*last_login_address;
	int		 unsaved;	/* memory is ahead of the record */
	uint64_t	 version;	/* of the record read or written */
	int		 stale;		/* another instance wrote a newer one */
	int64_t		 authorised_until; /* authd keeps new tokens */
};
RB_HEAD(tk_accounts, tk_account);

struct tk_stats {
	uint64_t	 logins_ok;
	uint64_t	 logins_bad_password;
	uint64_t	 logins_unknown_account;
	uint64_t	 logins_failed;
	uint64_t	 token_refreshes;
	uint64_t	 token_obtains;
	uint64_t	 token_request_failures;
	uint64_t	 imports;
	uint64_t	 crypt_checks;
	uint64_t	 logins_throttled;
	uint64_t	 logins_not_allowed;
	uint64_t	 store_write_failures;
	uint64_t	 kdfq_refused;
	uint64_t	 store_conflicts;
	uint64_t	 store_unavailable;
	uint64_t	 shared_refresh_waits;
	uint64_t	 shared_refresh_adopted;
};

struct tk_env {
	const struct emailproxy_conf *conf;
	struct store	 store;
	struct tk_peer	 proxy;
	struct tk_peer	 authd;
	struct tk_peer	 parent;	/* events; ibuf NULL: none sent */
	struct tk_peer	 control;	/* set by its first token request */
	struct tk_accounts accounts;
	uint8_t		 vkey[TK_KEYLEN];	/* verifier key, per process */
	uint32_t	 next_id;
	struct tk_stats	 stats;
	struct event	 save_ev;	/* retries unsaved records */
	int		 save_armed;
	unsigned int	 save_retry;	/* seconds, TK_SAVE_RETRY */
};
extern struct tk_env	 tk;

/* login.c: the engine's entry points. */
int	 tokend_login_init(const struct emailproxy_conf *, const char *dir,
	    const struct tk_peer *proxy, const struct tk_peer *authd);
void	 tokend_login_reconf(const struct emailproxy_conf *);
void	 tokend_login_shutdown(void);
void	 login_request(uint32_t sid, uint32_t proto, uint32_t flags,
	    const char *server, const char *client, const char *user,
	    const char *pass, const char *rejected);
void	 login_request_ctl(uint32_t id, const char *account,
	    const char *pass, uint32_t uid);
void	 login_cancel_session(uint32_t sid);
void	 login_run(struct tk_req *);
void	 login_rerun(struct tk_reqlist *);
void	 req_free(struct tk_req *);
void	 login_wait(struct tk_account *);
void	 login_wait_stop(struct tk_req *);

/* reply.c */
void	 reply_ok(struct tk_req *, const char *token);
void	 reply_fail(struct tk_req *, enum token_fail, const char *fmt, ...)
	    __attribute__((__format__ (printf, 3, 4)));
void	 reply_fail_text(struct tk_req *, enum token_fail, const char *);
char	*reply_clean(const char *);

/* account.c */
int	 account_key(const char *name, char **key);
struct tk_account *acct_find(const char *);
struct tk_account *acct_get(const char *);
void	 acct_release(struct tk_account *);
void	 acct_note_login(struct tk_account *, const char *client);
void	 acct_forget_logins(struct tk_account *);
void	 acct_lock(struct tk_account *);
void	 acct_unlock(struct tk_account *, const struct tk_keys *,
	    struct record_secrets *, const struct record *);
int	 acct_save(struct tk_account *);
void	 acct_save_pending(void);
int	 acct_unsaved(void);
void	 acct_drop_access(struct tk_account *);
void	 acct_set_error(struct tk_account *, const char *);
int	 acct_bad_known(struct tk_account *, const uint8_t *);
void	 acct_bad_add(struct tk_account *, const uint8_t *);
void	 acct_free_all(void);
void	 tk_verifier(const char *name, const char *password,
	    uint8_t out[TK_MACLEN]);
int	 tk_keys_new(struct tk_keys *, const char *name, const char *password,
	    unsigned int iterations);
int	 tk_keys_derive(struct tk_keys *, const char *name,
	    const char *password, const struct record *);
int	 tk_margin(const struct tk_account *);
int	 tk_fresh(const struct tk_account *, int64_t now);
int	 account_RB_cmp(struct tk_account *, struct tk_account *);
RB_PROTOTYPE(tk_accounts, tk_account, entry, account_RB_cmp);

/* flight.c */
void	 flight_start(struct tk_account *, enum auth_op, struct tk_keys *,
	    char *client_secret, struct tk_req *);
void	 flight_join(struct tk_flight *, struct tk_req *);
const uint8_t *flight_verifier(const struct tk_flight *);
void	 flight_abort(struct tk_flight *, enum token_fail, const char *);
void	 flight_tokens_for(uint32_t id, const char *, uint64_t,
	    const char *);
void	 flight_failed_for(uint32_t id, enum auth_fail, const char *);
void	 flight_authorised(const char *account, int64_t until);
void	 flight_cancel_session(uint32_t sid, int page);
void	 flight_consent_for(uint32_t id, const char *url, const char *state,
	    const char *code, uint64_t expiry);
int	 flight_count_new(void);
int	 flight_can_run_unattended(const struct account_view *,
	    const struct tk_account *);

/* ahead.c */
void	 ahead_schedule(struct tk_account *);
void	 ahead_stop(struct tk_account *);
void	 ahead_result(struct tk_account *, int ok, enum auth_fail);

/* import.c */
int	 import_available(const struct account_view *);
int	 import_python(const struct account_view *, const char *account,
	    const char *password, struct record_secrets *, int64_t *expiry);
int	 import_client_secret(const struct account_view *,
	    const char *password, char **);
int	 needs_config_secret(const struct account_view *,
	    const struct record_secrets *);

/* localpw.c: 1 if the request's password matches the crypt(3) hash. */
int	 localpw_check(struct tk_account *, const struct tk_req *,
	    const char *hash);
void	 localpw_forget(struct tk_account *);
int	 localpw_known(struct tk_account *, const struct tk_req *,
	    const char *hash);

/* throttle.c */
int	 throttle_check(const char *account, const char *client,
	    int64_t *wait, int *by_address);
unsigned int throttle_fail(const char *account, const char *client);
void	 throttle_success(const char *account);
unsigned int throttle_failures(const char *account, int64_t *until);
void	 throttle_accounts(void (*)(const char *, void *), void *);
void	 throttle_hold(struct tk_req *, unsigned int secs, enum token_fail,
	    const char *text);
void	 throttle_cancel_session(uint32_t sid, int page);
void	 throttle_shutdown(void);

int	 throttle_first_check(const char *client, int64_t *wait);
void	 throttle_first_count(const char *client);

/* kdfq.c */
int	 kdfq_add(struct tk_req *, const char *account);
int	 kdfq_run_one(void);
unsigned int kdfq_len(void);
void	 kdfq_cancel_session(uint32_t sid, int page);
void	 kdfq_shutdown(void);

/* page.c: the authorisation page's requests. */
void	 page_login(uint32_t id, const char *client, const char *user,
	    const char *pass);
void	 page_cancel(uint32_t id);
void	 page_reply_done(struct tk_req *);
void	 page_reply_fail(struct tk_req *, enum token_fail, const char *);
void	 page_reply_consent(struct tk_req *, const struct tk_flight *);
int	 page_redirect_response(struct imsg *);
int	 page_redirect_result(struct imsg *);

/* ctl.c: the answers to the parent's control requests. */
void	 ctl_show_accounts(const struct tk_peer *, uint32_t id);
void	 ctl_show_stats(const struct tk_peer *, uint32_t id);
void	 ctl_forget(const struct tk_peer *, uint32_t id, const char *);
void	 ctl_token(const struct tk_peer *, uint32_t id, const char *account,
	    const char *password, uint32_t uid);
void	 ctl_health(const struct tk_peer *, uint32_t id);
void	 ctl_end(const struct tk_peer *, uint32_t id, const char *fail);

/*
 * dispatch.c: one message from the proxy, authd, or a control request
 * the parent relays; DISPATCH_OK, DISPATCH_BAD (malformed, logged) or
 * DISPATCH_UNKNOWN (common/dispatch.h).
 */
int	 tokend_proxy_imsg(struct imsg *);
int	 tokend_authd_imsg(struct imsg *);
int	 tokend_ctl_imsg(const struct tk_peer *control, struct imsg *);
void	 tokend_metrics_ask(uint32_t id);
void	 tokend_metrics_relay(uint32_t id, const char *obj);

#endif /* TOKEND_H */
