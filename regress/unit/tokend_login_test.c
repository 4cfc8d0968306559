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
 * tokend's login engine driven over socketpairs, the test playing the
 * proxy and a scripted authd: first login (trust on first use), warm
 * logins without the KDF, restart and unlock from the record, wrong
 * passwords with and without delete_account_token_on_password_error
 * (and its forced-off grants), single flight of 100 logins, waiters with
 * another password, invalid_grant, transient failures, rejected tokens,
 * catch-all accounts, the ROPC and client-credentials password rules,
 * encrypt_client_secret_on_first_use, import of a Python-proxy cache
 * and a pre-encrypted catch-all client secret made now by Python's
 * cryptography package, reload, refresh ahead,
 * TOKEN_CANCEL, auth_wait, malformed messages and the control answers; the
 * multi-user rules: the administrator's local password (crypt(3)
 * hashes), require_local_password, account allowlists and throttling.
 *
 * DEPS: tokend/login.c tokend/account.c tokend/flight.c tokend/ahead.c common/secret.c common/base64.c
 * DEPS: tokend/import.c tokend/reply.c tokend/ctl.c tokend/dispatch.c tokend/store.c tokend/store_redis.c tokend/redis_io.c
 * DEPS: tokend/throttle.c tokend/localpw.c common/ctl_answer.c tokend/kdfq.c tokend/page.c
 * DEPS: tokend/record.c tokend/crypto.c tokend/fernet.c common/config.c
 * DEPS: common/config_parse.c common/config_check.c common/config_keys.c common/account_complete.c common/config_files.c common/cidr.c common/redis_url.c
 * DEPS: common/msg.c common/imsg.c common/imsg_buffer.c common/log.c
 * DEPS: common/audit.c
 */

#include <sys/socket.h>
#include <sys/stat.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event.h>
#include <jansson.h>

#include "log.h"
#include "msg.h"
#include "dispatch.h"
#include "tokend.h"

#define MAXGOT		1024
#define KDF_ITER	1000

/* An authorization-code account section's body. */
#define ACCT_CODE							\
	"permission_url = https://127.0.0.1/auth\n"			\
	"token_url = https://127.0.0.1/token\n"				\
	"oauth2_scope = mail\n"						\
	"redirect_uri = http://localhost\n"				\
	"client_id = id\n"						\
	"client_secret = plain-secret\n\n"

static int			 failed;
static char			 dir[512], confpath[600];
static struct emailproxy_conf	*conf;
static struct imsgbuf		 t_proxy, t_authd;	/* the test's ends */
static struct imsgbuf		 k_proxy, k_authd;	/* tokend's ends */
static int			 last_rv;		/* of a dispatch */

/* Every message tokend sent, in order. */
struct got {
	uint32_t	 type, id, u;
	char		*s[4];
};
static struct got	 got[MAXGOT];
static int		 ngot;

static void
check(int ok, const char *what, const char *fmt, ...)
{
	va_list	ap;

	if (ok) {
		printf("PASS: %s\n", what);
		return;
	}
	failed = 1;
	printf("FAIL: %s: ", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static char *
sdup(const char *s)
{
	return (s != NULL ? strdup(s) : NULL);
}

static void
got_clear(void)
{
	int	i, j;

	for (i = 0; i < ngot; i++)
		for (j = 0; j < 4; j++)
			free(got[i].s[j]);
	memset(got, 0, sizeof(got));
	ngot = 0;
}

static int
count(uint32_t type)
{
	int	i, n = 0;

	for (i = 0; i < ngot; i++)
		n += got[i].type == type;
	return (n);
}

static struct got *
find(uint32_t type, int nth)
{
	int	i;

	for (i = 0; i < ngot; i++)
		if (got[i].type == type && nth-- == 0)
			return (&got[i]);
	return (NULL);
}

static void
collect(struct imsgbuf *ib)
{
	struct imsg	 imsg;
	struct msgr	 r;
	struct got	*g;
	ssize_t		 n;

	if (imsgbuf_read(ib) == -1 && errno != EAGAIN)
		return;
	while ((n = imsg_get(ib, &imsg)) > 0) {
		if (ngot == MAXGOT)
			abort();
		g = &got[ngot++];
		g->type = imsg_get_type(&imsg);
		g->id = imsg_get_id(&imsg);
		msg_read_init(&r, &imsg);
		switch (g->type) {
		case IMSG_TOKEN_OK:
			g->s[0] = sdup(msg_get_str(&r));
			g->s[1] = sdup(msg_get_str(&r));
			break;
		case IMSG_TOKEN_FAIL:
			g->u = msg_get_u32(&r);
			g->s[0] = sdup(msg_get_str(&r));
			break;
		case IMSG_AUTH_REQUEST:
			g->u = msg_get_u32(&r);
			g->s[0] = sdup(msg_get_str(&r));
			g->s[1] = sdup(msg_get_str(&r));
			g->s[2] = sdup(msg_get_str(&r));
			g->s[3] = sdup(msg_get_str(&r));
			break;
		case IMSG_CTL_DATA:
		case IMSG_CTL_FAIL:
			g->s[0] = sdup(msg_get_str(&r));
			break;
		case IMSG_PAGE_CONSENT:
			g->s[0] = sdup(msg_get_str(&r));
			g->s[1] = sdup(msg_get_str(&r));
			g->s[2] = sdup(msg_get_str(&r));
			(void)msg_get_u64(&r);
			break;
		case IMSG_PAGE_DONE:
			g->s[0] = sdup(msg_get_str(&r));
			g->u = msg_get_u32(&r);
			break;
		case IMSG_PAGE_FAIL:
			g->u = msg_get_u32(&r);
			g->s[0] = sdup(msg_get_str(&r));
			break;
		case IMSG_REDIRECT_RESPONSE:
			g->s[0] = sdup(msg_get_str(&r));
			g->s[1] = sdup(msg_get_str(&r));
			g->s[2] = sdup(msg_get_str(&r));
			g->s[3] = sdup(msg_get_str(&r));
			(void)msg_get_str(&r);
			break;
		case IMSG_REDIRECT_RESULT:
			g->u = msg_get_u32(&r);
			g->s[0] = sdup(msg_get_str(&r));
			g->s[1] = sdup(msg_get_str(&r));
			break;
		}
		if (msg_read_end(&r) == -1)
			g->u = 0xdead;
		imsg_free(&imsg);
	}
}

static int
dispatch(struct imsgbuf *ib, int (*fn)(struct imsg *))
{
	struct imsg	imsg;
	int		n = 0;

	if (imsgbuf_read(ib) == -1 && errno != EAGAIN)
		return (0);
	while (imsg_get(ib, &imsg) > 0) {
		last_rv = fn(&imsg);
		imsg_free(&imsg);
		n++;
	}
	return (n);
}

/* Move every message until nothing moves; fire due timers. */
static void
pump(void)
{
	int	i, moved;

	for (i = 0; i < 100; i++) {
		imsgbuf_flush(&t_proxy);
		imsgbuf_flush(&t_authd);
		moved = dispatch(&k_proxy, tokend_proxy_imsg);
		moved += dispatch(&k_authd, tokend_authd_imsg);
		moved += imsgbuf_queuelen(&k_proxy) +
		    imsgbuf_queuelen(&k_authd) + kdfq_len();
		imsgbuf_flush(&k_proxy);
		imsgbuf_flush(&k_authd);
		collect(&t_proxy);
		collect(&t_authd);
		event_loop(EVLOOP_NONBLOCK);
		if (moved == 0)
			break;
	}
}

static const char	*client_addr = "127.0.0.1";

static void
get(uint32_t sid, const char *user, const char *pass, uint32_t flags,
    const char *rejected)
{
	struct msgw	w;

	msg_begin(&w, &t_proxy, IMSG_TOKEN_GET, sid, -1);
	msg_put_str(&w, "IMAP-1993");
	msg_put_u32(&w, PROTO_IMAP);
	msg_put_str(&w, client_addr);
	msg_put_str(&w, user);
	msg_put_str(&w, pass);
	msg_put_u32(&w, flags);
	msg_put_str(&w, rejected);
	if (msg_end(&w, &t_proxy) == -1)
		abort();
}

static void
cancel(uint32_t sid)
{
	imsg_compose(&t_proxy, IMSG_TOKEN_CANCEL, sid, 0, -1, NULL, 0);
}

static void
tokens(uint32_t id, const char *access, int64_t expiry, const char *refresh)
{
	struct msgw	w;

	msg_begin(&w, &t_authd, IMSG_AUTH_TOKENS, id, -1);
	msg_put_str(&w, access);
	msg_put_u64(&w, (uint64_t)expiry);
	msg_put_str(&w, refresh);
	if (msg_end(&w, &t_authd) == -1)
		abort();
}

static void
authfail(uint32_t id, enum auth_fail cls, const char *text)
{
	struct msgw	w;

	msg_begin(&w, &t_authd, IMSG_AUTH_FAIL, id, -1);
	msg_put_u32(&w, cls);
	msg_put_str(&w, text);
	if (msg_end(&w, &t_authd) == -1)
		abort();
}

/* One login: its single answer (TOKEN_OK/FAIL) or NULL. */
static struct got *
login(uint32_t sid, const char *user, const char *pass)
{
	int	i;

	got_clear();
	get(sid, user, pass, 0, NULL);
	pump();
	for (i = 0; i < ngot; i++)
		if ((got[i].type == IMSG_TOKEN_OK ||
		    got[i].type == IMSG_TOKEN_FAIL) && got[i].id == sid)
			return (&got[i]);
	return (NULL);
}

static int
is_ok(struct got *g, const char *token)
{
	return (g != NULL && g->type == IMSG_TOKEN_OK && g->s[1] != NULL &&
	    strcmp(g->s[1], token) == 0);
}

static int
is_fail(struct got *g, enum token_fail reason, const char *text)
{
	return (g != NULL && g->type == IMSG_TOKEN_FAIL && g->u == reason &&
	    (text == NULL || (g->s[0] != NULL && strcmp(g->s[0], text) == 0)));
}

static const char *
show(struct got *g)
{
	static char	buf[512];

	if (g == NULL)
		return ("no answer");
	snprintf(buf, sizeof(buf), "type %u u %u: %s / %s", g->type, g->u,
	    g->s[0] ? g->s[0] : "NULL", g->s[1] ? g->s[1] : "NULL");
	return (buf);
}

static void
engine_start(void)
{
	struct tk_peer	p, a;

	memset(&p, 0, sizeof(p));
	memset(&a, 0, sizeof(a));
	p.ibuf = &k_proxy;
	a.ibuf = &k_authd;
	if (tokend_login_init(conf, dir, &p, &a) == -1) {
		printf("FAIL: tokend_login_init\n");
		exit(1);
	}
}

/* A tokend restart: memory gone, the store stays. */
static void
engine_restart(void)
{
	tokend_login_shutdown();
	pump();
	got_clear();
	engine_start();
}

/* Rewrite an account's record times, as if time had passed. */
static int
rewrite(const char *account, const char *pass, int64_t expiry,
    int64_t last_refresh, struct record_secrets *out)
{
	struct store		st;
	struct record		r;
	struct record_secrets	s;
	uint8_t			key[TK_KEYLEN];
	int			rv = -1;

	if (store_init(&st, dir) == -1)
		return (-1);
	if (store_load(&st, account, &r) != 1)
		goto done;
	tk_kdf(pass, strlen(pass), r.salt, sizeof(r.salt), r.iterations,
	    key, sizeof(key));
	if (record_unseal(&r, key, &s) == -1)
		goto done;
	if (expiry != -1) {
		r.access_token_expiry = expiry;
		r.last_refresh = last_refresh;
		record_seal(&r, key, &s);
		store_save(&st, &r);
	}
	if (out != NULL)
		*out = s;
	else
		record_secrets_clear(&s);
	rv = 0;
 done:
	record_clear(&r);
	store_close(&st);
	return (rv);
}

/*
 * A record written under the key "account" as an older version keyed
 * it (a catch-all login's name as typed), sealed with pass.
 */
static int
legacy_record(const char *account, const char *pass, const char *token)
{
	struct store		st;
	struct record		r;
	struct record_secrets	s;
	struct tk_keys		k;
	int			rv = -1;

	memset(&r, 0, sizeof(r));
	memset(&s, 0, sizeof(s));
	if (store_init(&st, dir) == -1)
		return (-1);
	if (tk_keys_new(&k, account, pass, KDF_ITER) == -1)
		goto done;
	r.account = (char *)account;
	r.iterations = k.iterations;
	memcpy(r.salt, k.salt, sizeof(r.salt));
	r.created = r.last_refresh = time(NULL);
	r.access_token_expiry = r.created + 3600;
	s.access_token = strdup(token);
	s.refresh_token = strdup("R-legacy");
	if (record_seal(&r, k.key, &s) == 0 && store_save(&st, &r) == 0)
		rv = 0;
	free(r.ciphertext);
 done:
	record_secrets_clear(&s);
	explicit_bzero(&k, sizeof(k));
	store_close(&st);
	return (rv);
}

static int
record_exists(const char *file)
{
	char		path[1024];
	struct stat	sb;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return (stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0600);
}

/* ------------------------------------------------------------------ */

static void
test_basics(void)
{
	struct account_conf	*ac;
	struct got		*g;

	g = login(1, "user@example.com", "");
	check(is_fail(g, TOKEN_FAIL_NO_PASSWORD, "emailproxy: Login failed - "
	    "no password provided for account user@example.com"),
	    "empty password: TOKEN_FAIL_NO_PASSWORD with the Python text",
	    "%s", show(g));
	g = login(2, "nobody@example.net", "pw");
	check(is_fail(g, TOKEN_FAIL_UNKNOWN_ACCOUNT, "emailproxy: Login "
	    "failed - the password for account nobody@example.net is "
	    "incorrect"),
	    "unknown account: TOKEN_FAIL_UNKNOWN_ACCOUNT with the text of a "
	    "wrong password (no advice that tells accounts apart)",
	    "%s", show(g));
	/* The checker refuses such a file; a merge could still lack it. */
	TAILQ_FOREACH(ac, &conf->accounts, entry)
		if (strcmp(ac->name, "incomplete@example.com") == 0) {
			free(ac->token_url);
			ac->token_url = NULL;
		}
	g = login(3, "incomplete@example.com", "pw");
	check(is_fail(g, TOKEN_FAIL_CONFIG, NULL) && g->s[0] &&
	    strstr(g->s[0], "Incomplete config file entry found for account "
	    "incomplete@example.com") != NULL,
	    "incomplete section: TOKEN_FAIL_CONFIG", "%s", show(g));
	g = login(4, "bad\r\nuser@example.com", "pw");
	check(g != NULL && g->s[0] && strchr(g->s[0], '\r') == NULL &&
	    strchr(g->s[0], '\n') == NULL,
	    "failure text stays one line whatever the username", "%s",
	    show(g));
}

static void
test_first_login(void)
{
	struct got	*g, *rq;
	unsigned long	 runs;
	time_t		 now = time(NULL);

	got_clear();
	get(10, "user@example.com", "pw1", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_OBTAIN && rq->s[0] &&
	    strcmp(rq->s[0], "user@example.com") == 0 && rq->s[1] == NULL &&
	    rq->s[2] == NULL && rq->s[3] == NULL && count(IMSG_TOKEN_OK) == 0,
	    "first login asks authd to obtain, without password or refresh "
	    "token", "%s", show(rq));
	if (rq == NULL)
		return;
	tokens(rq->id, "A1", now + 3600, "R1");
	got_clear();
	pump();
	g = find(IMSG_TOKEN_OK, 0);
	check(g != NULL && g->id == 10 && strcmp(g->s[0],
	    "user@example.com") == 0 && strcmp(g->s[1], "A1") == 0,
	    "first login answered with the new token and the username",
	    "%s", show(g));
	check(record_exists("user@example.com.json"),
	    "the record is written, mode 0600", "missing");

	runs = tk_kdf_runs;
	g = login(11, "user@example.com", "pw1");
	check(is_ok(g, "A1") && count(IMSG_AUTH_REQUEST) == 0,
	    "warm login answers from memory", "%s", show(g));
	check(tk_kdf_runs == runs, "warm login runs no KDF",
	    "%lu KDF runs", tk_kdf_runs - runs);

	engine_restart();
	runs = tk_kdf_runs;
	g = login(12, "user@example.com", "pw1");
	check(is_ok(g, "A1") && tk_kdf_runs - runs == 1,
	    "after a restart the password unlocks the record with one KDF",
	    "%s, %lu runs", show(g), tk_kdf_runs - runs);
	runs = tk_kdf_runs;
	g = login(13, "user@EXAMPLE.com", "pw1");
	check(is_ok(g, "A1") && tk_kdf_runs == runs && strcmp(g->s[0],
	    "user@example.com") == 0,
	    "domain case does not matter; the XOAUTH2 name is the section's",
	    "%s", show(g));
	g = login(14, "USER@Example.COM", "pw1");
	check(is_ok(g, "A1") && tk_kdf_runs == runs && strcmp(g->s[0],
	    "user@example.com") == 0 && count(IMSG_AUTH_REQUEST) == 0,
	    "nor the local part's: the same unlocked record, the section's "
	    "name upstream", "%s", show(g));
}

static void
test_wrong_password(void)
{
	struct got	*g, *rq;
	unsigned long	 runs;
	time_t		 now = time(NULL);

	conf->delete_account_token_on_password_error = 0;
	g = login(20, "user@example.com", "wrong");
	check(is_fail(g, TOKEN_FAIL_BAD_PASSWORD, "emailproxy: Login failed - "
	    "the password for account user@example.com is incorrect") &&
	    count(IMSG_AUTH_REQUEST) == 0,
	    "wrong password, delete off: BAD_PASSWORD and no authd request",
	    "%s", show(g));
	runs = tk_kdf_runs;
	g = login(21, "user@example.com", "wrong");
	check(is_fail(g, TOKEN_FAIL_BAD_PASSWORD, NULL) && tk_kdf_runs == runs,
	    "the same wrong password again costs no KDF", "%lu runs",
	    tk_kdf_runs - runs);
	g = login(22, "user@example.com", "pw1");
	check(is_ok(g, "A1"), "the right password still works", "%s",
	    show(g));

	/* A grant that needs no person is never re-minted by a guess. */
	conf->delete_account_token_on_password_error = 1;
	got_clear();
	get(23, "ccg@example.com", "cpw", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	if (rq != NULL) {
		tokens(rq->id, "C1", now + 3600, NULL);
		pump();
	}
	g = login(24, "ccg@example.com", "guess");
	check(is_fail(g, TOKEN_FAIL_BAD_PASSWORD, NULL) &&
	    count(IMSG_AUTH_REQUEST) == 0,
	    "client_credentials: delete rule forced off, BAD_PASSWORD",
	    "%s", show(g));

	/* Delete on: a new authorisation, the new password wins. */
	got_clear();
	get(25, "user@example.com", "pw2", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_OBTAIN && rq->s[1] == NULL,
	    "wrong password, delete on: a new authorisation is requested",
	    "%s", show(rq));
	if (rq == NULL)
		return;
	/* Meanwhile the old password logs in: it waits, then is judged. */
	get(26, "user@example.com", "pw1", 0, NULL);
	pump();
	check(find(IMSG_TOKEN_OK, 0) == NULL && find(IMSG_TOKEN_FAIL, 0) ==
	    NULL, "a login with another password waits for the request",
	    "answered early");
	check(rewrite("user@example.com", "pw1", -1, 0, NULL) == 0,
	    "the old record is intact until the new tokens arrive",
	    "replaced early");
	conf->delete_account_token_on_password_error = 0;
	tokens(rq->id, "A2", now + 3600, "R2");
	got_clear();
	pump();
	g = find(IMSG_TOKEN_OK, 0);
	check(g != NULL && g->id == 25 && strcmp(g->s[1], "A2") == 0,
	    "the new password gets the new token", "%s", show(g));
	g = find(IMSG_TOKEN_FAIL, 0);
	check(g != NULL && g->id == 26 && g->u == TOKEN_FAIL_BAD_PASSWORD,
	    "the old password is now wrong", "%s", show(g));
	g = login(27, "user@example.com", "pw2");
	check(is_ok(g, "A2"), "the new password unlocks", "%s", show(g));
}

static void
test_single_flight(void)
{
	struct got	*rq, *g;
	unsigned long	 runs;
	time_t		 now = time(NULL);
	int		 i, ok, bad;
	char		 seen[100];

	/* First token, then make it expired and restart. */
	got_clear();
	get(100, "flight@example.com", "fpw", 0, NULL);
	pump();
	if ((rq = find(IMSG_AUTH_REQUEST, 0)) == NULL) {
		check(0, "single flight setup", "no request");
		return;
	}
	tokens(rq->id, "F1", now + 3600, "RF");
	pump();
	engine_restart();
	rewrite("flight@example.com", "fpw", now - 10, now - 3610, NULL);

	runs = tk_kdf_runs;
	got_clear();
	for (i = 0; i < 100; i++)
		get(1000 + i, "flight@example.com", "fpw", 0, NULL);
	for (i = 0; i < 5; i++)
		get(2000 + i, "flight@example.com", "nope", 0, NULL);
	pump();
	check(count(IMSG_AUTH_REQUEST) == 1,
	    "100 concurrent logins with an expired token: exactly 1 "
	    "AUTH_REQUEST", "%d requests", count(IMSG_AUTH_REQUEST));
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_REFRESH && rq->s[1] &&
	    strcmp(rq->s[1], "RF") == 0 && rq->s[2] == NULL,
	    "it is a refresh with the stored refresh token and no password",
	    "%s", show(rq));
	check(count(IMSG_TOKEN_OK) == 0 && count(IMSG_TOKEN_FAIL) == 0,
	    "nobody is answered before authd", "%d answers",
	    count(IMSG_TOKEN_OK) + count(IMSG_TOKEN_FAIL));
	check(tk_kdf_runs - runs == 1,
	    "one KDF for 100 logins; other passwords wait unexamined",
	    "%lu runs", tk_kdf_runs - runs);
	if (rq == NULL)
		return;
	tokens(rq->id, "F2", now + 3600, NULL);
	got_clear();
	pump();
	memset(seen, 0, sizeof(seen));
	ok = bad = 0;
	for (i = 0; i < ngot; i++) {
		g = &got[i];
		if (g->type == IMSG_TOKEN_OK && g->id >= 1000 &&
		    g->id < 1100 && strcmp(g->s[1], "F2") == 0 &&
		    strcmp(g->s[0], "flight@example.com") == 0 &&
		    !seen[g->id - 1000]) {
			seen[g->id - 1000] = 1;
			ok++;
		} else if (g->type == IMSG_TOKEN_FAIL && g->id >= 2000 &&
		    g->id < 2005 && g->u == TOKEN_FAIL_BAD_PASSWORD)
			bad++;
	}
	check(ok == 100, "100 correct TOKEN_OKs, one per session",
	    "%d", ok);
	check(bad == 5 && ngot == 105 && count(IMSG_AUTH_REQUEST) == 0,
	    "the 5 waiters with a wrong password get BAD_PASSWORD after it",
	    "%d bad, %d messages", bad, ngot);
	check(tk_kdf_runs - runs == 2,
	    "the 5 wrong passwords cost one KDF together", "%lu runs",
	    tk_kdf_runs - runs);
	check(rewrite("flight@example.com", "fpw", -1, 0, NULL) == 0,
	    "the refreshed record is on disk", "unreadable");
	{
		struct record_secrets s;

		rewrite("flight@example.com", "fpw", -1, 0, &s);
		check(s.access_token && strcmp(s.access_token, "F2") == 0 &&
		    s.refresh_token && strcmp(s.refresh_token, "RF") == 0,
		    "no new refresh token from authd keeps the old one",
		    "differs");
		record_secrets_clear(&s);
	}
}

static void
test_refresh_failures(void)
{
	struct got	*rq, *rq2, *g;
	time_t		 now = time(NULL);

	/* invalid_grant: the refresh token is dropped, obtain once. */
	rewrite("flight@example.com", "fpw", now - 10, now - 3610, NULL);
	engine_restart();
	got_clear();
	get(300, "flight@example.com", "fpw", 0, NULL);
	get(301, "flight@example.com", "fpw", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	if (rq == NULL) {
		check(0, "invalid_grant setup", "no request");
		return;
	}
	authfail(rq->id, AUTH_FAIL_INVALID_GRANT, NULL);
	got_clear();
	pump();
	rq2 = find(IMSG_AUTH_REQUEST, 0);
	check(rq2 != NULL && rq2->u == AUTH_OP_OBTAIN && rq2->s[1] == NULL &&
	    count(IMSG_TOKEN_FAIL) == 0,
	    "invalid_grant on refresh: refresh token dropped, obtain anew",
	    "%s", show(rq2));
	if (rq2 == NULL)
		return;
	authfail(rq2->id, AUTH_FAIL_INVALID_GRANT, "denied");
	got_clear();
	pump();
	check(count(IMSG_TOKEN_FAIL) == 2 && count(IMSG_AUTH_REQUEST) == 0 &&
	    find(IMSG_TOKEN_FAIL, 0)->u == TOKEN_FAIL_NEEDS_AUTH &&
	    strcmp(find(IMSG_TOKEN_FAIL, 0)->s[0], "emailproxy: denied") == 0,
	    "only once: the second failure answers every waiter",
	    "%d fails, %d requests", count(IMSG_TOKEN_FAIL),
	    count(IMSG_AUTH_REQUEST));

	/* Transient failure while the token still works: use it. */
	got_clear();
	get(310, "flight@example.com", "fpw", 0, NULL);
	pump();
	if ((rq = find(IMSG_AUTH_REQUEST, 0)) != NULL) {
		tokens(rq->id, "G1", now + 3600, "RG");
		pump();
	}
	rewrite("flight@example.com", "fpw", now + 300, now - 3300, NULL);
	engine_restart();
	got_clear();
	get(311, "flight@example.com", "fpw", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_REFRESH,
	    "a token inside the 600 s margin is refreshed", "%s", show(rq));
	if (rq == NULL)
		return;
	authfail(rq->id, AUTH_FAIL_TRANSIENT, NULL);
	got_clear();
	pump();
	g = find(IMSG_TOKEN_OK, 0);
	check(g != NULL && strcmp(g->s[1], "G1") == 0,
	    "transient refresh failure: the still-valid token is used",
	    "%s", show(g));

	rewrite("flight@example.com", "fpw", now - 5, now - 3605, NULL);
	engine_restart();
	got_clear();
	get(312, "flight@example.com", "fpw", 0, NULL);
	pump();
	if ((rq = find(IMSG_AUTH_REQUEST, 0)) != NULL) {
		authfail(rq->id, AUTH_FAIL_TRANSIENT, NULL);
		got_clear();
		pump();
	}
	g = find(IMSG_TOKEN_FAIL, 0);
	check(is_fail(g, TOKEN_FAIL_PROVIDER, "emailproxy: Login failed for "
	    "account flight@example.com - please check your internet "
	    "connection and retry"),
	    "transient failure with an expired token fails the login",
	    "%s", show(g));
	check(rewrite("flight@example.com", "fpw", -1, 0, NULL) == 0,
	    "a network failure deletes nothing", "record gone");
}

static void
test_rejected(void)
{
	struct got	*rq, *g;
	time_t		 now = time(NULL);

	got_clear();
	get(400, "user@example.com", "pw2", TOKEN_F_REJECTED, "stale-token");
	pump();
	g = find(IMSG_TOKEN_OK, 0);
	check(g != NULL && strcmp(g->s[1], "A2") == 0 &&
	    count(IMSG_AUTH_REQUEST) == 0,
	    "a rejected token that is no longer current: the current one",
	    "%s", show(g));
	got_clear();
	get(401, "user@example.com", "pw2", TOKEN_F_REJECTED, "A2");
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_REFRESH && rq->s[1] &&
	    strcmp(rq->s[1], "R2") == 0 && count(IMSG_TOKEN_OK) == 0,
	    "the current token rejected: discarded and refreshed",
	    "%s", show(rq));
	if (rq == NULL)
		return;
	tokens(rq->id, "A3", now + 3600, NULL);
	got_clear();
	pump();
	g = find(IMSG_TOKEN_OK, 0);
	check(g != NULL && g->id == 401 && strcmp(g->s[1], "A3") == 0,
	    "the retry gets the new token", "%s", show(g));
}

static void
test_catch_all(void)
{
	struct got	*rq, *g;
	time_t		 now = time(NULL);

	got_clear();
	get(500, "bob@catch.example", "bpw", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_OBTAIN && rq->s[0] &&
	    strcmp(rq->s[0], "bob@catch.example") == 0,
	    "catch-all [@catch.example]: the login name is the account",
	    "%s", show(rq));
	if (rq == NULL)
		return;
	tokens(rq->id, "B1", now + 3600, "RB");
	got_clear();
	pump();
	g = find(IMSG_TOKEN_OK, 0);
	check(g != NULL && strcmp(g->s[1], "B1") == 0 &&
	    record_exists("bob@catch.example.json"),
	    "catch-all account gets its token and its own record",
	    "%s", show(g));
	g = login(501, "bob@CATCH.example", "bpw");
	check(is_ok(g, "B1"), "catch-all domain matches without case",
	    "%s", show(g));
	g = login(503, "BOB@catch.example", "bpw");
	check(is_ok(g, "B1") && count(IMSG_AUTH_REQUEST) == 0 &&
	    strcmp(g->s[0], "BOB@catch.example") == 0,
	    "catch-all: the local part's case does not matter either; the "
	    "name goes upstream as typed", "%s", show(g));
	check(legacy_record("Carol@catch.example", "cpw", "C1") == 0,
	    "catch-all: a record under a mixed-case name written", "failed");
	g = login(504, "Carol@CATCH.example", "cpw");
	check(is_ok(g, "C1") && count(IMSG_AUTH_REQUEST) == 0,
	    "catch-all: a record an older version wrote under the name as "
	    "typed still opens", "%s", show(g));
	g = login(502, "eve@catch.example", "bpw");
	check(g == NULL && count(IMSG_AUTH_REQUEST) == 1,
	    "another name under the catch-all is another account",
	    "%s", show(g));
	if ((rq = find(IMSG_AUTH_REQUEST, 0)) != NULL) {
		cancel(502);
		got_clear();
		pump();
		check(count(IMSG_AUTH_CANCEL) == 1 &&
		    find(IMSG_AUTH_CANCEL, 0)->id == rq->id,
		    "TOKEN_CANCEL of the only waiter cancels the authorisation",
		    "%d cancels", count(IMSG_AUTH_CANCEL));
	}
}

static void
test_grant_passwords(void)
{
	struct account_conf	*ac;
	struct got		*rq;
	struct record_secrets	 s;
	time_t			 now = time(NULL);

	got_clear();
	get(600, "ropc@example.com", "real password", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->s[2] && strcmp(rq->s[2], "real password") ==
	    0, "ROPC: the login password goes to authd", "%s", show(rq));
	if (rq != NULL)
		authfail(rq->id, AUTH_FAIL_PERMANENT, "no");
	pump();

	conf->use_login_password_as_client_credentials_secret = 1;
	got_clear();
	get(601, "ccgpw@example.com", "as secret", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->s[2] && strcmp(rq->s[2], "as secret") == 0,
	    "client_credentials without a secret: the login password is the "
	    "secret", "%s", show(rq));
	if (rq != NULL)
		authfail(rq->id, AUTH_FAIL_PERMANENT, "no");
	pump();
	got_clear();
	get(602, "ccg2@example.com", "pw", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->s[2] == NULL,
	    "client_credentials with a secret: no password to authd",
	    "%s", show(rq));
	if (rq != NULL)
		authfail(rq->id, AUTH_FAIL_PERMANENT, "no");
	pump();
	conf->use_login_password_as_client_credentials_secret = 0;

	/* encrypt_client_secret_on_first_use */
	conf->encrypt_client_secret_on_first_use = 1;
	got_clear();
	get(610, "enc@example.com", "epw", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	if (rq == NULL) {
		check(0, "encrypt_client_secret_on_first_use setup", "none");
		return;
	}
	tokens(rq->id, "E1", now + 3600, "RE");
	pump();
	memset(&s, 0, sizeof(s));
	rewrite("enc@example.com", "epw", now - 10, now - 3610, &s);
	check(s.client_secret && strcmp(s.client_secret, "plain-secret") == 0,
	    "encrypt_client_secret_on_first_use: the secret is sealed in the "
	    "record", "%s", s.client_secret ? s.client_secret : "NULL");
	record_secrets_clear(&s);
	engine_restart();
	got_clear();
	get(611, "enc@example.com", "epw", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_REFRESH && rq->s[3] &&
	    strcmp(rq->s[3], "plain-secret") == 0,
	    "later requests carry the record's client secret to authd",
	    "%s", show(rq));
	if (rq != NULL)
		tokens(rq->id, "E2", now + 3600, NULL);
	pump();

	/* A new plain secret in the configuration replaces the kept one. */
	TAILQ_FOREACH(ac, &conf->accounts, entry)
		if (strcmp(ac->name, "enc@example.com") == 0)
			break;
	if (ac == NULL) {
		check(0, "rotated client secret setup", "no section");
		return;
	}
	free(ac->client_secret);
	ac->client_secret = strdup("rotated-secret");
	rewrite("enc@example.com", "epw", now - 10, now - 3610, NULL);
	engine_restart();
	got_clear();
	get(612, "enc@example.com", "epw", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->s[3] && strcmp(rq->s[3], "rotated-secret") ==
	    0, "a rotated plain client secret in the configuration is sent, "
	    "not the one kept in the record", "%s",
	    rq != NULL && rq->s[3] ? rq->s[3] : "NULL");
	if (rq != NULL)
		tokens(rq->id, "E3", now + 3600, NULL);
	pump();
	memset(&s, 0, sizeof(s));
	rewrite("enc@example.com", "epw", now - 10, now - 3610, &s);
	check(s.client_secret && strcmp(s.client_secret, "rotated-secret") ==
	    0, "the rotated client secret replaces the sealed one",
	    "%s", s.client_secret ? s.client_secret : "NULL");
	record_secrets_clear(&s);
	/* The plain value removed: the record's (rotated) one serves. */
	free(ac->client_secret);
	ac->client_secret = NULL;
	engine_restart();
	got_clear();
	get(613, "enc@example.com", "epw", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->s[3] && strcmp(rq->s[3], "rotated-secret") ==
	    0, "with the plain secret removed the sealed rotated one is sent",
	    "%s", rq != NULL && rq->s[3] ? rq->s[3] : "NULL");
	if (rq != NULL)
		tokens(rq->id, "E4", now + 3600, NULL);
	pump();
	/*
	 * Without encrypt_client_secret_on_first_use tokend is told only
	 * that a secret is configured (the empty string): authd sends its
	 * own, neither the record's nor the empty one.
	 */
	conf->encrypt_client_secret_on_first_use = 0;
	free(ac->client_secret);
	ac->client_secret = strdup("");
	rewrite("enc@example.com", "epw", now - 10, now - 3610, NULL);
	engine_restart();
	got_clear();
	get(614, "enc@example.com", "epw", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->s[3] == NULL, "a client secret configured "
	    "but withheld from tokend: none is sent, authd uses its own",
	    "%s", show(rq));
	if (rq != NULL)
		tokens(rq->id, "E5", now + 3600, NULL);
	pump();
	free(ac->client_secret);
	ac->client_secret = strdup("rotated-secret");
	conf->encrypt_client_secret_on_first_use = 0;
}

/* ---- a record write that fails (disk full) ------------------------- */

static int
fail_create(enum store_step step)
{
	return (step == STORE_STEP_CREATE);
}

/* The refresh token sealed in disk@example.com's record, or NULL. */
static char *
disk_refresh(void)
{
	struct record_secrets	 s;
	char			*r;

	memset(&s, 0, sizeof(s));
	if (rewrite("disk@example.com", "dpw", -1, 0, &s) == -1)
		return (NULL);
	r = sdup(s.refresh_token);
	record_secrets_clear(&s);
	return (r);
}

/* A control request (the proxy's pair stands in for the parent's). */
static void
ctl_call(uint32_t type, const char *account)
{
	struct tk_peer	 p = { &k_proxy, NULL, NULL };
	struct imsg	 imsg;
	struct msgw	 w;

	got_clear();
	msg_begin(&w, &t_proxy, type, 1, -1);
	if (account != NULL)
		msg_put_str(&w, account);
	if (msg_end(&w, &t_proxy) == -1)
		abort();
	imsgbuf_flush(&t_proxy);
	if (imsgbuf_read(&k_proxy) == -1 && errno != EAGAIN)
		return;
	while (imsg_get(&k_proxy, &imsg) > 0) {
		tokend_ctl_imsg(&p, &imsg);
		imsg_free(&imsg);
	}
	imsgbuf_flush(&k_proxy);
	collect(&t_proxy);
}

static int
stat_value(const char *name, long long *v)
{
	struct got	*g;
	json_t		*o;
	json_error_t	 e;
	int		 found = 0;

	ctl_call(IMSG_CTL_SHOW_STATS, NULL);
	if ((g = find(IMSG_CTL_DATA, 0)) == NULL || g->s[0] == NULL)
		return (0);
	if ((o = json_loads(g->s[0], 0, &e)) == NULL)
		return (0);
	if (json_is_integer(json_object_get(o, name))) {
		*v = json_integer_value(json_object_get(o, name));
		found = 1;
	}
	json_decref(o);
	return (found);
}

static void
test_store_retry(void)
{
	struct got	*rq, *g;
	time_t		 now = time(NULL);
	long long	 fails = -1, unsaved = -1;
	char		*r;
	int		 i;

	got_clear();
	get(1500, "disk@example.com", "dpw", 0, NULL);
	pump();
	if ((rq = find(IMSG_AUTH_REQUEST, 0)) == NULL) {
		check(0, "store retry setup", "no request");
		return;
	}
	tokens(rq->id, "D1", now + 3600, "DR1");
	pump();
	/* The token expires; its refresh rotates the refresh token. */
	rewrite("disk@example.com", "dpw", now - 10, now - 3610, NULL);
	engine_restart();
	tk.save_retry = 1;
	store_fault = fail_create;
	got_clear();
	get(1501, "disk@example.com", "dpw", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_REFRESH && rq->s[1] &&
	    strcmp(rq->s[1], "DR1") == 0, "store retry: the expired token is "
	    "refreshed", "%s", show(rq));
	if (rq == NULL) {
		store_fault = NULL;
		return;
	}
	tokens(rq->id, "D2", now + 3600, "DR2");
	got_clear();
	pump();
	g = find(IMSG_TOKEN_OK, 0);
	r = disk_refresh();
	check(is_ok(g, "D2") && r != NULL && strcmp(r, "DR1") == 0,
	    "store retry: with the write failing the login is answered and "
	    "the record still holds the old refresh token", "%s, %s",
	    show(g), r ? r : "NULL");
	free(r);
	check(stat_value("tokend_store_write_failures_total", &fails) &&
	    fails >= 1 && stat_value("tokend_records_unsaved", &unsaved) &&
	    unsaved == 1, "store retry: the failed write is counted in the "
	    "metrics", "%lld failures, %lld unsaved", fails, unsaved);

	/* Space again: the timer writes the rotated refresh token. */
	store_fault = NULL;
	r = NULL;
	for (i = 0; i < 40; i++) {
		usleep(100000);
		event_loop(EVLOOP_NONBLOCK);
		free(r);
		if ((r = disk_refresh()) != NULL && strcmp(r, "DR2") == 0)
			break;
	}
	check(r != NULL && strcmp(r, "DR2") == 0,
	    "store retry: once the disk has room the timer writes the "
	    "rotated refresh token", "%s", r ? r : "NULL");
	free(r);
	check(stat_value("tokend_records_unsaved", &unsaved) && unsaved == 0,
	    "store retry: nothing is left unsaved", "%lld", unsaved);

	/* A write that fails until the stop is tried once more then. */
	tk.save_retry = 3600;
	store_fault = fail_create;
	got_clear();
	get(1502, "disk@example.com", "dpw", TOKEN_F_REJECTED, "D2");
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	if (rq != NULL) {
		tokens(rq->id, "D3", now + 3600, "DR3");
		pump();
	}
	r = disk_refresh();
	check(rq != NULL && r != NULL && strcmp(r, "DR2") == 0,
	    "store retry: a second rotation is held in memory only", "%s",
	    r ? r : "NULL");
	free(r);
	store_fault = NULL;
	engine_restart();
	r = disk_refresh();
	check(r != NULL && strcmp(r, "DR3") == 0,
	    "store retry: the stop writes the record once more", "%s",
	    r ? r : "NULL");
	free(r);
}

/* ---- the KDF queue ------------------------------------------------- */

/* Read what the proxy sent once, without turning the event loop. */
static void
dispatch_once(void)
{
	imsgbuf_flush(&t_proxy);
	dispatch(&k_proxy, tokend_proxy_imsg);
	imsgbuf_flush(&k_proxy);
	imsgbuf_flush(&k_authd);
	collect(&t_proxy);
	collect(&t_authd);
}

static int
count_fail(enum token_fail reason, const char *text)
{
	int	i, n = 0;

	for (i = 0; i < ngot; i++)
		n += got[i].type == IMSG_TOKEN_FAIL && got[i].u == reason &&
		    (text == NULL || (got[i].s[0] != NULL &&
		    strstr(got[i].s[0], text) != NULL));
	return (n);
}

static void
test_kdf_queue(void)
{
	const char	*saved = client_addr;
	struct got	*rq, *g;
	char		 name[64], addr[32];
	unsigned long	 runs;
	time_t		 now = time(NULL);
	uint32_t	 sid;
	int		 i, n, maxfail = conf->max_login_failures;

	conf->max_login_failures = 0;
	/* An unlocked account with a fresh token. */
	got_clear();
	get(1600, "warm@example.com", "wpw", 0, NULL);
	pump();
	if ((rq = find(IMSG_AUTH_REQUEST, 0)) == NULL) {
		check(0, "kdf queue setup", "no request");
		return;
	}
	tokens(rq->id, "W1", now + 3600, "WR");
	pump();

	/* New names under a catch-all, then the warm login, in one read. */
	got_clear();
	runs = tk_kdf_runs;
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "q%d@catch.example", i);
		snprintf(addr, sizeof(addr), "10.0.0.%d", i + 1);
		client_addr = addr;
		get(1610 + i, name, "any", 0, NULL);
	}
	client_addr = saved;
	get(1620, "warm@example.com", "wpw", 0, NULL);
	dispatch_once();
	g = find(IMSG_TOKEN_OK, 0);
	check(is_ok(g, "W1") && g->id == 1620 && tk_kdf_runs == runs &&
	    kdfq_len() == 3, "kdf queue: the warm login is answered before "
	    "any of the 3 KDFs queued ahead of it runs", "%s, %lu KDFs run, "
	    "%u queued", show(g), tk_kdf_runs - runs, kdfq_len());
	pump();
	check(tk_kdf_runs - runs == 3 && count(IMSG_AUTH_REQUEST) == 3,
	    "kdf queue: the queued first logins run afterwards", "%lu KDFs, "
	    "%d requests", tk_kdf_runs - runs, count(IMSG_AUTH_REQUEST));
	for (i = 0; i < 3; i++)
		cancel(1610 + i);
	pump();

	/* One address gets TK_KDFQ_PER_ADDR places. */
	got_clear();
	runs = tk_kdf_runs;
	client_addr = "10.0.1.1";
	for (i = 0; i < TK_KDFQ_PER_ADDR + 2; i++) {
		snprintf(name, sizeof(name), "a%d@catch.example", i);
		get(1630 + i, name, "any", 0, NULL);
	}
	client_addr = saved;
	dispatch_once();
	check(count_fail(TOKEN_FAIL_THROTTLED, "from this address") == 2 &&
	    kdfq_len() == TK_KDFQ_PER_ADDR && tk_kdf_runs == runs,
	    "kdf queue: logins beyond an address's share are refused as "
	    "throttled before any KDF", "%d refused, %u queued, %lu KDFs",
	    count_fail(TOKEN_FAIL_THROTTLED, NULL), kdfq_len(),
	    tk_kdf_runs - runs);
	/* The same account and password from elsewhere follows, free. */
	client_addr = "10.0.1.2";
	get(1640, "a0@catch.example", "any", 0, NULL);
	client_addr = saved;
	got_clear();
	dispatch_once();
	check(kdfq_len() == TK_KDFQ_PER_ADDR && ngot == 0,
	    "kdf queue: the same account and password again takes no place "
	    "of its own", "%u queued, %d answers", kdfq_len(), ngot);
	pump();
	check(tk_kdf_runs - runs == TK_KDFQ_PER_ADDR,
	    "kdf queue: one KDF per distinct login", "%lu", tk_kdf_runs - runs);
	for (i = 0; i < TK_KDFQ_PER_ADDR + 2; i++)
		cancel(1630 + i);
	cancel(1640);
	pump();

	/* One account gets TK_KDFQ_PER_ACCOUNT places (other passwords). */
	got_clear();
	conf->delete_account_token_on_password_error = 0;
	engine_restart();	/* warm@example.com locked again */
	runs = tk_kdf_runs;
	for (i = 0; i < TK_KDFQ_PER_ACCOUNT + 3; i++) {
		snprintf(addr, sizeof(addr), "10.0.2.%d", i + 1);
		snprintf(name, sizeof(name), "guess%d", i);
		client_addr = addr;
		get(1650 + i, "warm@example.com", name, 0, NULL);
	}
	client_addr = saved;
	dispatch_once();
	check(count_fail(TOKEN_FAIL_THROTTLED, "for this account") == 3 &&
	    kdfq_len() == TK_KDFQ_PER_ACCOUNT && tk_kdf_runs == runs,
	    "kdf queue: passwords beyond an account's share are refused as "
	    "throttled", "%d refused, %u queued",
	    count_fail(TOKEN_FAIL_THROTTLED, NULL), kdfq_len());
	pump();
	check(count_fail(TOKEN_FAIL_BAD_PASSWORD, NULL) == TK_KDFQ_PER_ACCOUNT,
	    "kdf queue: the queued wrong passwords are refused in turn",
	    "%d", count_fail(TOKEN_FAIL_BAD_PASSWORD, NULL));

	/* The whole queue holds TK_KDFQ_MAX. */
	got_clear();
	runs = tk_kdf_runs;
	for (i = 0; i < TK_KDFQ_MAX + 5; i++) {
		snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 200, i % 200);
		snprintf(name, sizeof(name), "m%d@catch.example", i);
		client_addr = addr;
		get(1700 + i, name, "any", 0, NULL);
		if (i % 16 == 15)
			dispatch_once();
	}
	client_addr = saved;
	dispatch_once();
	check(count_fail(TOKEN_FAIL_THROTTLED, "too many logins are being "
	    "checked") == 5 && kdfq_len() == TK_KDFQ_MAX &&
	    tk_kdf_runs == runs, "kdf queue: beyond its bound the queue "
	    "refuses logins as throttled", "%d refused, %u queued",
	    count_fail(TOKEN_FAIL_THROTTLED, NULL), kdfq_len());
	/* Leaving clients take their places with them. */
	for (i = 0; i < TK_KDFQ_MAX + 5; i++)
		cancel(1700 + i);
	got_clear();
	pump();
	check(kdfq_len() == 0 && tk_kdf_runs == runs && ngot == 0,
	    "kdf queue: logins whose clients left run no KDF", "%u queued, "
	    "%lu KDFs", kdfq_len(), tk_kdf_runs - runs);

	/* First logins waiting for tokens are bounded. */
	got_clear();
	n = 0;
	for (i = 0; i < TK_MAX_NEW_AUTH + 2; i++) {
		snprintf(addr, sizeof(addr), "10.2.0.%d", i + 1);
		snprintf(name, sizeof(name), "p%d@catch.example", i);
		client_addr = addr;
		get(1800 + i, name, "any", 0, NULL);
		pump();
	}
	client_addr = saved;
	check(count(IMSG_AUTH_REQUEST) == TK_MAX_NEW_AUTH &&
	    count_fail(TOKEN_FAIL_THROTTLED, "waiting for authorisation") ==
	    2, "kdf queue: first logins beyond the bound of pending ones are "
	    "refused", "%d requests, %d refused", count(IMSG_AUTH_REQUEST),
	    count_fail(TOKEN_FAIL_THROTTLED, NULL));
	/* Their clients leave: authd is told, the bound frees up. */
	got_clear();
	for (i = 0; i < TK_MAX_NEW_AUTH + 2; i++)
		cancel(1800 + i);
	pump();
	n = count(IMSG_AUTH_CANCEL);
	check(n == TK_MAX_NEW_AUTH && flight_count_new() == 0,
	    "kdf queue: authorisations nobody waits for are cancelled",
	    "%d cancels", n);

	/* Catch-all first logins per address. */
	conf->max_login_failures = 5;
	got_clear();
	client_addr = "10.3.0.1";
	for (i = 0, sid = 1900; i < TK_FIRST_PER_ADDR; i++, sid++) {
		snprintf(name, sizeof(name), "f%d@catch.example", i);
		get(sid, name, "any", 0, NULL);
		pump();
		cancel(sid);
		pump();
	}
	got_clear();
	runs = tk_kdf_runs;
	get(sid, "flast@catch.example", "any", 0, NULL);
	pump();
	client_addr = saved;
	check(count_fail(TOKEN_FAIL_THROTTLED, "too many new accounts from "
	    "10.3.0.1") == 1 && tk_kdf_runs == runs,
	    "kdf queue: an address's catch-all first logins are throttled "
	    "before any KDF", "%d refused, %lu KDFs",
	    count_fail(TOKEN_FAIL_THROTTLED, NULL), tk_kdf_runs - runs);
	g = login(sid + 1, "warm@example.com", "wpw");
	check(is_ok(g, "W1"), "kdf queue: known accounts from there still "
	    "log in", "%s", show(g));
	conf->max_login_failures = maxfail;
}

/* ---- a person authorised an account that holds tokens ------------- */

static void
authorised(const char *account, int64_t until)
{
	struct msgw	w;

	msg_begin(&w, &t_authd, IMSG_AUTH_AUTHORISED, 0, -1);
	msg_put_str(&w, account);
	msg_put_u64(&w, (uint64_t)until);
	if (msg_end(&w, &t_authd) == -1)
		abort();
}

static void
test_reauthorise(void)
{
	struct record_secrets	 s;
	struct got		*rq, *g;
	time_t			 now = time(NULL);

	got_clear();
	get(2100, "reauth@example.com", "rpw", 0, NULL);
	pump();
	if ((rq = find(IMSG_AUTH_REQUEST, 0)) == NULL) {
		check(0, "reauthorise setup", "no request");
		return;
	}
	tokens(rq->id, "RA1", now + 3600, "RR1");
	pump();

	/* Unlocked: the authorised tokens are taken at once. */
	got_clear();
	authorised("reauth@EXAMPLE.com", now + 600);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_OBTAIN && rq->s[0] &&
	    strcmp(rq->s[0], "reauth@example.com") == 0 && rq->s[1] == NULL,
	    "reauthorise: an unlocked account asks authd at once for the "
	    "tokens a person authorised", "%s", show(rq));
	if (rq != NULL)
		tokens(rq->id, "RA2", now + 3600, "RR2");
	pump();
	g = login(2101, "reauth@example.com", "rpw");
	check(is_ok(g, "RA2") && count(IMSG_AUTH_REQUEST) == 0,
	    "reauthorise: the next login gets the new token", "%s", show(g));
	memset(&s, 0, sizeof(s));
	rewrite("reauth@example.com", "rpw", -1, 0, &s);
	check(s.refresh_token && strcmp(s.refresh_token, "RR2") == 0,
	    "reauthorise: the new refresh token replaces the old on disk",
	    "%s", s.refresh_token ? s.refresh_token : "NULL");
	record_secrets_clear(&s);

	/* Locked: the next login that opens the record takes them. */
	engine_restart();
	got_clear();
	authorised("reauth@example.com", now + 600);
	pump();
	check(count(IMSG_AUTH_REQUEST) == 0, "reauthorise: a locked account "
	    "waits for a login", "%d requests", count(IMSG_AUTH_REQUEST));
	got_clear();
	get(2102, "reauth@example.com", "rpw", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_OBTAIN && count(IMSG_TOKEN_OK) ==
	    0, "reauthorise: the login that opens the record asks for the "
	    "authorised tokens instead of answering with the old one", "%s",
	    show(rq));
	if (rq != NULL)
		tokens(rq->id, "RA3", now + 3600, "RR3");
	got_clear();
	pump();
	g = find(IMSG_TOKEN_OK, 0);
	check(is_ok(g, "RA3"), "reauthorise: and answers with the new token",
	    "%s", show(g));
	g = login(2103, "reauth@example.com", "rpw");
	check(is_ok(g, "RA3") && count(IMSG_AUTH_REQUEST) == 0,
	    "reauthorise: only once", "%s", show(g));

	/* Tokens authd no longer keeps are not asked for. */
	engine_restart();
	authorised("reauth@example.com", now - 1);
	g = login(2104, "reauth@example.com", "rpw");
	check(is_ok(g, "RA3") && count(IMSG_AUTH_REQUEST) == 0,
	    "reauthorise: an expired notice changes nothing", "%s", show(g));
}

/* ---- import of a Python-proxy cache -------------------------------- */

static const char py_fernet[] =
"import base64, sys\n"
"from cryptography.fernet import Fernet\n"
"from cryptography.hazmat.primitives import hashes\n"
"from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC\n"
"salt = bytes.fromhex(sys.argv[1])\n"
"it = int(sys.argv[2])\n"
"pw = bytes.fromhex(sys.argv[3])\n"
"kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt,\n"
"    iterations=it)\n"
"f = Fernet(base64.urlsafe_b64encode(kdf.derive(pw)))\n"
"for a in sys.argv[4:]:\n"
"    print(f.encrypt(bytes.fromhex(a)).decode())\n";

static void
hex(const char *s, char *out)
{
	for (; *s != '\0'; s++, out += 2)
		sprintf(out, "%02x", (unsigned char)*s);
	*out = '\0';
}

/*
 * The Python proxy's cached values for one account, as config lines,
 * or NULL when Python with cryptography is not there.
 */
static char *
python_cache(const char *pw, unsigned int iter, const char *acc,
    const char *refresh, long long expiry)
{
	char		 script[600], cmd[4096], hpw[256], ha[256], hr[256];
	char		 line[2][1024], saltx[33], *b64, *out;
	uint8_t		 salt[16];
	FILE		*fp;
	int		 fd, i;

	if (access("/usr/bin/python3", X_OK) == -1 ||
	    system("/usr/bin/python3 -c 'import cryptography' "
	    ">/dev/null 2>&1") != 0)
		return (NULL);
	snprintf(script, sizeof(script), "%s/fernet_XXXXXX", dir);
	if ((fd = mkstemp(script)) == -1 || (fp = fdopen(fd, "w")) == NULL)
		return (NULL);
	fputs(py_fernet, fp);
	fclose(fp);
	tk_random(salt, sizeof(salt));
	for (i = 0; i < 16; i++)
		sprintf(saltx + i * 2, "%02x", salt[i]);
	hex(pw, hpw);
	hex(acc, ha);
	hex(refresh, hr);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s %u %s %s %s",
	    script, saltx, iter, hpw, ha, hr);
	if ((fp = popen(cmd, "r")) == NULL)
		return (NULL);
	for (i = 0; i < 2; i++)
		if (fgets(line[i], sizeof(line[i]), fp) == NULL)
			break;
	if (pclose(fp) != 0 || i != 2)
		return (NULL);
	unlink(script);
	line[0][strcspn(line[0], "\n")] = '\0';
	line[1][strcspn(line[1], "\n")] = '\0';
	b64 = b64_encode(salt, sizeof(salt), 0);
	if (asprintf(&out, "token_salt = %s\ntoken_iterations = %u\n"
	    "access_token = %s\naccess_token_expiry = %lld\n"
	    "refresh_token = %s\n", b64, iter, line[0], expiry,
	    line[1]) == -1)
		out = NULL;
	free(b64);
	return (out);
}

static char	*pycache, *pycache_old, *precache;

/*
 * A client secret encrypted by the Python proxy for a catch-all
 * section: token_salt, token_iterations and client_secret_encrypted.
 */
static char *
python_presecret(const char *pw, const char *secret)
{
	char	*cache, *salt, *iter, *enc, *out;

	if ((cache = python_cache(pw, 100000, secret, "unused", 0)) == NULL)
		return (NULL);
	salt = strstr(cache, "token_salt = ");
	iter = strstr(cache, "token_iterations = ");
	enc = strstr(cache, "access_token = ");
	if (salt == NULL || iter == NULL || enc == NULL) {
		free(cache);
		return (NULL);
	}
	salt[strcspn(salt, "\n")] = '\0';
	iter[strcspn(iter, "\n")] = '\0';
	enc[strcspn(enc, "\n")] = '\0';
	if (asprintf(&out, "%s\n%s\nclient_secret_encrypted = %s\n", salt,
	    iter, enc + strlen("access_token = ")) == -1)
		out = NULL;
	free(cache);
	return (out);
}

static void
test_presecret(void)
{
	struct got	*g, *rq;

	if (precache == NULL) {
		printf("SKIP: pre-encrypted client secret (no /usr/bin/python3 "
		    "with cryptography)\n");
		return;
	}
	/* The wrong password never discards or re-mints. */
	conf->delete_account_token_on_password_error = 1;
	g = login(750, "amy@pre.example", "not the one");
	check(is_fail(g, TOKEN_FAIL_BAD_PASSWORD, NULL) &&
	    count(IMSG_AUTH_REQUEST) == 0,
	    "pre-encrypted secret: a password that does not decrypt it is "
	    "refused, even with delete on", "%s", show(g));
	conf->delete_account_token_on_password_error = 0;
	got_clear();
	get(751, "amy@pre.example", "operator pw", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_OBTAIN && rq->s[3] &&
	    strcmp(rq->s[3], "decrypted-secret") == 0,
	    "pre-encrypted secret in a catch-all section: decrypted and sent "
	    "to authd on the first login", "%s", show(rq));
	if (rq == NULL)
		return;
	tokens(rq->id, "Q1", time(NULL) + 3600, "RQ");
	got_clear();
	pump();
	check(find(IMSG_TOKEN_OK, 0) != NULL, "and the login succeeds",
	    "no answer");
	engine_restart();
	rewrite("amy@pre.example", "operator pw", time(NULL) - 5,
	    time(NULL) - 3605, NULL);
	got_clear();
	get(752, "amy@pre.example", "operator pw", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_REFRESH && rq->s[3] &&
	    strcmp(rq->s[3], "decrypted-secret") == 0,
	    "the secret is kept in the record for later requests", "%s",
	    show(rq));
	if (rq != NULL)
		tokens(rq->id, "Q2", time(NULL) + 3600, NULL);
	pump();
}

static void
test_import(void)
{
	struct got	*g, *rq;
	unsigned long	 runs;

	if (pycache == NULL) {
		printf("SKIP: import (no /usr/bin/python3 with "
		    "cryptography)\n");
		return;
	}
	conf->delete_account_token_on_password_error = 0;
	g = login(700, "py@example.com", "wrong");
	check(is_fail(g, TOKEN_FAIL_BAD_PASSWORD, NULL) &&
	    !record_exists("py@example.com.json"),
	    "import: a wrong password imports nothing", "%s", show(g));
	g = login(701, "py@example.com", "py pass");
	check(is_ok(g, "py-access") && count(IMSG_AUTH_REQUEST) == 0,
	    "import: the cached access token answers, no new authorisation",
	    "%s", show(g));
	check(record_exists("py@example.com.json"),
	    "import: our record is written", "missing");
	runs = tk_kdf_runs;
	g = login(702, "py@example.com", "py pass");
	check(is_ok(g, "py-access") && tk_kdf_runs == runs,
	    "import: the next login is warm", "%s", show(g));
	engine_restart();
	g = login(703, "py@example.com", "py pass");
	check(is_ok(g, "py-access"), "import: the record serves after a "
	    "restart (config cache no longer needed)", "%s", show(g));

	/* forget: the cache in the configuration is not imported again. */
	ctl_call(IMSG_CTL_FORGET, "py@example.com");
	check(count(IMSG_CTL_END) == 1 && !record_exists(
	    "py@example.com.json"), "forget: the imported record is deleted",
	    "%d ends", count(IMSG_CTL_END));
	g = login(704, "py@example.com", "py pass");
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(g == NULL && rq != NULL && rq->u == AUTH_OP_OBTAIN,
	    "forget: the next login asks for a new authorisation instead of "
	    "importing the Python proxy's cached tokens again", "%s / %s",
	    show(g), show(rq));
	cancel(704);
	pump();
	engine_restart();
	g = login(705, "py@example.com", "py pass");
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(g == NULL && rq != NULL && rq->u == AUTH_OP_OBTAIN,
	    "forget: still no import after a restart", "%s / %s", show(g),
	    show(rq));
	if (rq != NULL) {
		tokens(rq->id, "py-new", time(NULL) + 3600, "py-new-r");
		got_clear();
		pump();
	}
	g = find(IMSG_TOKEN_OK, 0);
	check(is_ok(g, "py-new") && record_exists("py@example.com.json") &&
	    !record_exists("py@example.com.json.forgotten"),
	    "forget: the new authorisation's tokens are kept and the mark "
	    "is cleared", "%s", show(g));
	engine_restart();
	g = login(706, "py@example.com", "py pass");
	check(is_ok(g, "py-new"), "forget: the new record serves after a "
	    "restart", "%s", show(g));

	/* An expired imported token is refreshed with the imported one. */
	got_clear();
	get(710, "pyold@example.com", "old pass", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_REFRESH && rq->s[1] &&
	    strcmp(rq->s[1], "py-refresh-old") == 0,
	    "import of an expired token refreshes with the imported refresh "
	    "token (legacy 100000 iterations)", "%s", show(rq));
	if (rq != NULL)
		tokens(rq->id, "P2", time(NULL) + 3600, NULL);
	got_clear();
	pump();
	g = find(IMSG_TOKEN_OK, 0);
	check(g != NULL && strcmp(g->s[1], "P2") == 0, "and answers with "
	    "the refreshed token", "%s", show(g));
}

static void
test_reload(void)
{
	struct emailproxy_conf	*newconf;
	struct got		*g;
	FILE			*fp;
	char			 path[700];

	snprintf(path, sizeof(path), "%s/reload.conf", dir);
	if ((fp = fopen(path, "w")) == NULL)
		return;
	fprintf(fp, "[IMAP-1993]\nserver_address = 127.0.0.1\n"
	    "server_port = 993\n\n[flight@example.com]\n"
	    "permission_url = https://127.0.0.1/auth\n"
	    "token_url = https://127.0.0.1/token\noauth2_scope = mail\n"
	    "redirect_uri = http://localhost\nclient_id = id\n"
	    "client_secret = secret\n");
	fclose(fp);
	if ((newconf = config_load(path, NULL)) == NULL) {
		check(0, "reload config loads", "config_load failed");
		return;
	}
	newconf->kdf_iterations = KDF_ITER;
	tokend_login_reconf(newconf);
	config_free(conf);
	conf = newconf;
	check(acct_find("user@example.com") == NULL,
	    "reload: the unlocked state of a removed account is wiped",
	    "still in memory");
	g = login(800, "user@example.com", "pw2");
	check(is_fail(g, TOKEN_FAIL_UNKNOWN_ACCOUNT, NULL),
	    "reload: a removed account is unknown", "%s", show(g));
}

static void
test_ahead(void)
{
	struct got	*rq, *g;
	time_t		 now = time(NULL), start;

	conf->refresh_ahead = 1;
	got_clear();
	get(900, "ahead@example.com", "apw", 0, NULL);
	pump();
	if ((rq = find(IMSG_AUTH_REQUEST, 0)) == NULL) {
		check(0, "refresh ahead setup", "no request");
		return;
	}
	/* A 6 s token: refreshed 3 s before expiry, no login needed. */
	tokens(rq->id, "H1", now + 6, "RH");
	got_clear();
	pump();
	check(find(IMSG_TOKEN_OK, 0) != NULL, "refresh ahead: first token",
	    "none");
	got_clear();
	start = time(NULL);
	while (count(IMSG_AUTH_REQUEST) == 0 && time(NULL) - start < 8) {
		event_loop(EVLOOP_ONCE);
		pump();
	}
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_REFRESH && rq->s[1] &&
	    strcmp(rq->s[1], "RH") == 0 && time(NULL) < now + 6,
	    "refresh ahead: refreshed before expiry without a login",
	    "%s after %lld s", show(rq), (long long)(time(NULL) - now));
	if (rq == NULL)
		return;
	tokens(rq->id, "H2", time(NULL) + 3600, NULL);
	got_clear();
	pump();
	check(count(IMSG_TOKEN_OK) == 0, "refresh ahead answers nobody",
	    "%d", count(IMSG_TOKEN_OK));
	g = login(901, "ahead@example.com", "apw");
	check(is_ok(g, "H2") && count(IMSG_AUTH_REQUEST) == 0,
	    "the next login gets the token refreshed ahead, at once",
	    "%s", show(g));
}

static void
test_ctl(void)
{
	struct tk_peer	 parent;
	struct imsgbuf	 k_parent, t_parent;
	struct imsg	 imsg;
	struct msgw	 w;
	int		 sp[2], seen = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) == -1)
		return;
	imsgbuf_init(&k_parent, sp[0]);
	imsgbuf_init(&t_parent, sp[1]);
	memset(&parent, 0, sizeof(parent));
	parent.ibuf = &k_parent;

	msg_begin(&w, &t_parent, IMSG_CTL_SHOW_ACCOUNTS, 7, -1);
	msg_end(&w, &t_parent);
	imsgbuf_flush(&t_parent);
	imsgbuf_read(&k_parent);
	if (imsg_get(&k_parent, &imsg) > 0) {
		check(tokend_ctl_imsg(&parent, &imsg) == 0,
		    "show accounts is handled", "refused");
		imsg_free(&imsg);
	}
	imsgbuf_flush(&k_parent);
	got_clear();
	collect(&t_parent);
	for (int i = 0; i < ngot; i++)
		if (got[i].type == IMSG_CTL_DATA && got[i].id == 7 &&
		    strstr(got[i].s[0], "\"ahead@example.com\"") &&
		    strstr(got[i].s[0], "\"unlocked\""))
			seen |= 1;
		else if (got[i].type == IMSG_CTL_DATA &&
		    strstr(got[i].s[0], "\"flight@example.com\"") &&
		    strstr(got[i].s[0], "\"locked\""))
			seen |= 2;
	for (int i = 0; seen != 3 && i < ngot; i++)
		printf("    ctl %u: %s\n", got[i].type,
		    got[i].s[0] ? got[i].s[0] : "");
	check(seen == 3 && got[ngot - 1].type == IMSG_CTL_END,
	    "show accounts lists unlocked and locked accounts, then CTL_END",
	    "%d messages", ngot);
	for (int i = 0; i < ngot; i++)
		if (got[i].s[0] && (strstr(got[i].s[0], "H2") ||
		    strstr(got[i].s[0], "RH")))
			check(0, "show accounts shows no token", "%s",
			    got[i].s[0]);

	msg_begin(&w, &t_parent, IMSG_CTL_FORGET, 8, -1);
	msg_put_str(&w, "flight@example.com");
	msg_end(&w, &t_parent);
	imsgbuf_flush(&t_parent);
	imsgbuf_read(&k_parent);
	if (imsg_get(&k_parent, &imsg) > 0) {
		tokend_ctl_imsg(&parent, &imsg);
		imsg_free(&imsg);
	}
	imsgbuf_flush(&k_parent);
	got_clear();
	collect(&t_parent);
	check(ngot == 1 && got[0].type == IMSG_CTL_END &&
	    !record_exists("flight@example.com.json") &&
	    acct_find("flight@example.com") == NULL,
	    "forget deletes the record and the unlocked state", "%d msgs",
	    ngot);
	imsgbuf_clear(&k_parent);
	imsgbuf_clear(&t_parent);
	close(sp[0]);
	close(sp[1]);
}

static void
test_malformed(void)
{
	struct msgw	w;

	msg_begin(&w, &t_proxy, IMSG_TOKEN_GET, 1, -1);
	msg_put_str(&w, "IMAP-1993");
	msg_end(&w, &t_proxy);
	last_rv = 0;
	pump();
	check(last_rv == -1, "a short TOKEN_GET is refused", "accepted");
	msg_begin(&w, &t_authd, IMSG_AUTH_TOKENS, 1, -1);
	msg_put_str(&w, NULL);
	msg_put_u64(&w, 0);
	msg_put_str(&w, NULL);
	msg_end(&w, &t_authd);
	last_rv = 0;
	pump();
	check(last_rv == -1, "AUTH_TOKENS without a token is refused",
	    "accepted");
	tokens(123456, "X", 0, NULL);
	got_clear();
	last_rv = 1;
	pump();
	check(last_rv == 0 && ngot == 0,
	    "tokens for an unknown request are ignored", "rv %d", last_rv);
	/* A type the peer does not send is not taken for a malformed one. */
	imsg_compose(&t_proxy, IMSG_AUTH_TOKENS, 1, 0, -1, NULL, 0);
	last_rv = 0;
	pump();
	check(last_rv == DISPATCH_UNKNOWN, "AUTH_TOKENS from the proxy is "
	    "an unknown type (fatal in tokend)", "rv %d", last_rv);
	imsg_compose(&t_authd, IMSG_TOKEN_GET, 1, 0, -1, NULL, 0);
	last_rv = 0;
	pump();
	check(last_rv == DISPATCH_UNKNOWN, "TOKEN_GET from authd is an "
	    "unknown type (fatal in tokend)", "rv %d", last_rv);
}

/*
 * A /metrics scrape: IMSG_METRICS_REQUEST from the proxy goes to authd
 * with the same id; authd's CTL_DATA reaches the proxy as it was sent,
 * then on authd's CTL_END tokend's own stats and one CTL_END.
 */
static void
test_metrics(void)
{
	struct msgw	 w;
	struct got	*g;
	int		 i, end = -1, authd_at = -1, tokend_at = -1;

	got_clear();
	imsg_compose(&t_proxy, IMSG_METRICS_REQUEST, 77, 0, -1, NULL, 0);
	pump();
	g = find(IMSG_METRICS_REQUEST, 0);
	check(g != NULL && g->id == 77 && count(IMSG_CTL_END) == 0,
	    "metrics: the proxy's METRICS_REQUEST goes on to authd, same id",
	    "%s", g ? "other id" : "not sent");
	got_clear();
	msg_begin(&w, &t_authd, IMSG_CTL_DATA, 77, -1);
	msg_put_str(&w, "{\"authd_requests_total\":5}");
	msg_end(&w, &t_authd);
	imsg_compose(&t_authd, IMSG_CTL_END, 77, 0, -1, NULL, 0);
	pump();
	for (i = 0; i < ngot; i++) {
		if (got[i].id != 77)
			continue;
		if (got[i].type == IMSG_CTL_END)
			end = i;
		else if (got[i].type == IMSG_CTL_DATA && got[i].s[0] != NULL &&
		    strcmp(got[i].s[0], "{\"authd_requests_total\":5}") == 0)
			authd_at = i;
		else if (got[i].type == IMSG_CTL_DATA && got[i].s[0] != NULL &&
		    strstr(got[i].s[0], "tokend_logins_ok_total") != NULL)
			tokend_at = i;
	}
	check(authd_at != -1 && tokend_at > authd_at && end > tokend_at &&
	    count(IMSG_CTL_END) == 1,
	    "metrics: the proxy gets authd's object as sent, then tokend's "
	    "stats, then one CTL_END", "authd %d tokend %d end %d",
	    authd_at, tokend_at, end);
	imsg_compose(&t_proxy, IMSG_METRICS_REQUEST, 78, 0, -1, "x", 1);
	last_rv = 0;
	pump();
	check(last_rv == DISPATCH_BAD, "metrics: a METRICS_REQUEST with a "
	    "payload is malformed", "rv %d", last_rv);
	imsg_compose(&t_authd, IMSG_CTL_DATA, 79, 0, -1, NULL, 0);
	last_rv = 0;
	pump();
	check(last_rv == DISPATCH_BAD, "metrics: a CTL_DATA from authd "
	    "without its string is malformed", "rv %d", last_rv);
	imsg_compose(&t_authd, IMSG_METRICS_REQUEST, 80, 0, -1, NULL, 0);
	last_rv = 0;
	pump();
	check(last_rv == DISPATCH_UNKNOWN, "metrics: METRICS_REQUEST from "
	    "authd is an unknown type", "rv %d", last_rv);
	got_clear();
}

/* ------------------------------------------------------------------ */
/* Multi-user hardening. */

static char	*hash_lp, *hash_ccg, *hash_th, *hash_new;

/* A crypt(3) hash of pw with the method of prefix (cheap costs). */
static char *
make_hash(const char *prefix, const char *pw)
{
	struct crypt_data	*cd;
	char			 setting[CRYPT_GENSALT_OUTPUT_SIZE];
	const char		*h;
	char			*out = NULL;

	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		abort();
	if (crypt_gensalt_rn(prefix, strcmp(prefix, "$2b$") == 0 ? 4 : 0,
	    NULL, 0, setting, sizeof(setting)) != NULL &&
	    (h = crypt_r(pw, setting, cd)) != NULL && h[0] != '*')
		out = strdup(h);
	free(cd);
	return (out);
}

/* One login from another client address. */
static struct got *
login_from(uint32_t sid, const char *user, const char *pass,
    const char *addr)
{
	struct got	*g;

	client_addr = addr;
	g = login(sid, user, pass);
	client_addr = "127.0.0.1";
	return (g);
}

static void
tick(int fd, short ev, void *arg)
{
}

/* Run the event loop for about ms milliseconds, moving messages. */
static void
run_for(int ms)
{
	struct event	ev;
	struct timeval	tv;
	int		i;

	for (i = 0; i < ms / 50; i++) {
		evtimer_set(&ev, tick, NULL);
		timerclear(&tv);
		tv.tv_usec = 50000;
		evtimer_add(&ev, &tv);
		event_loop(EVLOOP_ONCE);
		evtimer_del(&ev);
		pump();
	}
}

static struct got *
answer_for(uint32_t sid)
{
	int	i;

	for (i = 0; i < ngot; i++)
		if ((got[i].type == IMSG_TOKEN_OK ||
		    got[i].type == IMSG_TOKEN_FAIL) && got[i].id == sid)
			return (&got[i]);
	return (NULL);
}

/* The access token the record holds when pass opens it, or NULL. */
static char *
stored_token(const char *account, const char *pass)
{
	struct record_secrets	 s;
	char			*t;

	if (rewrite(account, pass, -1, 0, &s) == -1)
		return (NULL);
	t = s.access_token != NULL ? strdup(s.access_token) : NULL;
	record_secrets_clear(&s);
	return (t);
}

/* First login for account: its tokens, "A-"account. */
static int
first_tokens(uint32_t sid, const char *account, const char *pw,
    const char *token)
{
	struct got	*rq, *g;

	got_clear();
	get(sid, account, pw, 0, NULL);
	pump();
	if ((rq = find(IMSG_AUTH_REQUEST, 0)) == NULL)
		return (0);
	tokens(rq->id, token, time(NULL) + 3600, "R");
	got_clear();
	pump();
	g = find(IMSG_TOKEN_OK, 0);
	return (g != NULL && g->id == sid && strcmp(g->s[1], token) == 0);
}

static void
test_local_password(void)
{
	struct account_conf	*ac;
	struct got		*g, *rq;
	unsigned long		 runs;
	uint64_t		 crypts;
	char			*t;

	if (hash_lp == NULL || hash_ccg == NULL || hash_new == NULL) {
		check(0, "local password: hashes made", "crypt failed");
		return;
	}
	conf->delete_account_token_on_password_error = 1;

	/* Trust on first use is off: a wrong first password gets nothing. */
	runs = tk_kdf_runs;
	crypts = tk.stats.crypt_checks;
	g = login_from(1000, "lp@example.com", "guess", "10.9.0.1");
	check(is_fail(g, TOKEN_FAIL_BAD_PASSWORD, "emailproxy: Login failed - "
	    "the password for account lp@example.com is incorrect") &&
	    count(IMSG_AUTH_REQUEST) == 0 && tk_kdf_runs == runs &&
	    tk.stats.crypt_checks == crypts + 1 &&
	    !record_exists("lp@example.com.json"),
	    "local password: a wrong first password is refused after one "
	    "crypt, no KDF, no authorisation, no record (no trust on first "
	    "use)", "%s, %lu KDF, %llu crypt", show(g), tk_kdf_runs - runs,
	    (unsigned long long)(tk.stats.crypt_checks - crypts));

	crypts = tk.stats.crypt_checks;
	check(first_tokens(1001, "lp@example.com", "right pw", "L1") &&
	    tk.stats.crypt_checks == crypts + 1,
	    "local password: the right password ($y$) gets the first tokens",
	    "crypt %llu", (unsigned long long)(tk.stats.crypt_checks -
	    crypts));
	runs = tk_kdf_runs;
	crypts = tk.stats.crypt_checks;
	g = login(1002, "lp@example.com", "right pw");
	check(is_ok(g, "L1") && tk_kdf_runs == runs &&
	    tk.stats.crypt_checks == crypts,
	    "local password: a warm login costs no crypt and no KDF",
	    "%s, %lu KDF, %llu crypt", show(g), tk_kdf_runs - runs,
	    (unsigned long long)(tk.stats.crypt_checks - crypts));

	runs = tk_kdf_runs;
	g = login_from(1003, "lp@example.com", "wrong pw", "10.9.0.1");
	runs = tk_kdf_runs - runs;
	t = stored_token("lp@example.com", "right pw");
	check(is_fail(g, TOKEN_FAIL_BAD_PASSWORD, NULL) &&
	    count(IMSG_AUTH_REQUEST) == 0 && runs == 0 &&
	    t != NULL && strcmp(t, "L1") == 0,
	    "local password: a wrong password with "
	    "delete_account_token_on_password_error on is refused, the "
	    "stored tokens untouched, no new authorisation", "%s, token %s",
	    show(g), t != NULL ? t : "gone");
	free(t);
	g = login(1004, "lp@example.com", "right pw");
	check(is_ok(g, "L1") && count(IMSG_AUTH_REQUEST) == 0,
	    "local password: the right password still gets the same token",
	    "%s", show(g));

	/* After a restart the hash is checked again, then the record. */
	engine_restart();
	runs = tk_kdf_runs;
	crypts = tk.stats.crypt_checks;
	g = login(1005, "lp@example.com", "right pw");
	check(is_ok(g, "L1") && tk_kdf_runs == runs + 1 &&
	    tk.stats.crypt_checks == crypts + 1,
	    "local password: after a restart one crypt and one KDF", "%s",
	    show(g));

	/* The administrator changes the hash: the old password is out. */
	TAILQ_FOREACH(ac, &conf->accounts, entry)
		if (strcmp(ac->name, "lp@example.com") == 0) {
			free(ac->local_password);
			ac->local_password = strdup(hash_new);
		}
	g = login_from(1006, "lp@example.com", "right pw", "10.9.0.2");
	check(is_fail(g, TOKEN_FAIL_BAD_PASSWORD, NULL),
	    "local password: a changed hash refuses the old password even "
	    "though it unlocked the tokens", "%s", show(g));
	got_clear();
	get(1007, "lp@example.com", "new pw", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	t = stored_token("lp@example.com", "right pw");
	check(rq != NULL && rq->u == AUTH_OP_OBTAIN && t != NULL &&
	    strcmp(t, "L1") == 0,
	    "local password: the new password asks for new tokens; the old "
	    "record stays until they arrive", "%s", show(rq));
	free(t);
	if (rq != NULL) {
		tokens(rq->id, "L2", time(NULL) + 3600, "R2");
		got_clear();
		pump();
		g = find(IMSG_TOKEN_OK, 0);
		t = stored_token("lp@example.com", "new pw");
		check(g != NULL && g->id == 1007 && t != NULL &&
		    strcmp(t, "L2") == 0, "local password: the new tokens "
		    "are sealed with the new password", "%s", show(g));
		free(t);
	}

	/* A client-credentials account: nobody else borrows it. */
	got_clear();
	g = login_from(1010, "lpccg@example.com", "not the one", "10.9.0.3");
	check(is_fail(g, TOKEN_FAIL_BAD_PASSWORD, NULL) &&
	    count(IMSG_AUTH_REQUEST) == 0,
	    "local password: a client-credentials account refuses another "
	    "password, no token requested", "%s", show(g));
	check(first_tokens(1011, "lpccg@example.com", "service pw", "S1"),
	    "local password: the client-credentials account works with its "
	    "local password ($2b$)", "no token");
	g = login_from(1012, "lpccg@example.com", "other", "10.9.0.3");
	check(is_fail(g, TOKEN_FAIL_BAD_PASSWORD, NULL),
	    "local password: ... and still refuses another password once it "
	    "has tokens", "%s", show(g));
	conf->delete_account_token_on_password_error = 0;
}

/*
 * [Team@example.com] takes the tokens of lp@example.com (whose password
 * test_local_password left at "new pw"); its own is "thlp pw".
 */
static void
test_shared_mailbox(void)
{
	struct got	*g, *rq;
	int64_t		 now = time(NULL);

	g = login(1100, "lp@example.com\\team@EXAMPLE.com", "new pw");
	check(is_ok(g, "L2") && strcmp(g->s[0], "Team@example.com") == 0 &&
	    count(IMSG_AUTH_REQUEST) == 0,
	    "shared mailbox: owner\\shared gets the owner's token, the "
	    "mailbox's section name upstream", "%s", show(g));
	g = login(1101, "TEAM@example.com", "thlp pw");
	check(is_ok(g, "L2") && strcmp(g->s[0], "Team@example.com") == 0 &&
	    count(IMSG_AUTH_REQUEST) == 0,
	    "shared mailbox: its own local password gets the owner's "
	    "unlocked token", "%s", show(g));
	g = login_from(1102, "team@example.com", "new pw", "10.9.1.1");
	check(is_fail(g, TOKEN_FAIL_BAD_PASSWORD, NULL),
	    "shared mailbox: the owner's password is not the mailbox's",
	    "%s", show(g));
	g = login_from(1103, "open@example.com\\team@example.com", "x",
	    "10.9.1.2");
	check(is_fail(g, TOKEN_FAIL_UNKNOWN_ACCOUNT, "emailproxy: Login "
	    "failed - the password for account open@example.com\\"
	    "team@example.com is incorrect") &&
	    count(IMSG_AUTH_REQUEST) == 0,
	    "shared mailbox: someone\\shared of another account is refused "
	    "as an unknown account", "%s", show(g));
	g = login_from(1104, "lp@example.com\\open@example.com", "new pw",
	    "10.9.1.3");
	check(is_fail(g, TOKEN_FAIL_UNKNOWN_ACCOUNT, NULL),
	    "shared mailbox: owner\\X of a mailbox that is not shared is "
	    "refused", "%s", show(g));

	/* After a restart the owner's tokens are locked. */
	engine_restart();
	g = login(1105, "team@example.com", "thlp pw");
	check(is_fail(g, TOKEN_FAIL_NEEDS_AUTH, NULL) &&
	    count(IMSG_AUTH_REQUEST) == 0, "shared mailbox: locked until the "
	    "owner logs in", "%s", show(g));

	/* An expired token: one refresh for owner\shared and the mailbox. */
	engine_restart();
	if (rewrite("lp@example.com", "new pw", now - 10, now - 3610,
	    NULL) == -1) {
		check(0, "shared mailbox: record rewritten", "failed");
		return;
	}
	got_clear();
	get(1106, "lp@example.com\\team@example.com", "new pw", 0, NULL);
	pump();
	get(1107, "team@example.com", "thlp pw", 0, NULL);
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_REFRESH &&
	    count(IMSG_AUTH_REQUEST) == 1 && answer_for(1107) == NULL,
	    "shared mailbox: the mailbox's login waits on the owner's one "
	    "refresh", "%s", show(rq));
	if (rq == NULL)
		return;
	tokens(rq->id, "L3", now + 3600, NULL);
	pump();
	check(is_ok(answer_for(1106), "L3") && is_ok(answer_for(1107), "L3") &&
	    count(IMSG_AUTH_REQUEST) == 1,
	    "shared mailbox: both answered with the refreshed token",
	    "%s", show(answer_for(1107)));
}

/*
 * emailproxyctl token through tokend's handler of the control process:
 * the right password gets one CTL_DATA with the token then CTL_END on
 * the control link; a wrong one a CTL_FAIL saying so; a request
 * without the caller's uid "malformed request".  (lp@example.com has
 * the local password "new pw" and the token L2 here.)
 */
static struct got *
ctl_token_call(uint32_t id, const char *account, const char *pass,
    int with_uid)
{
	struct tk_peer	 control;
	struct imsgbuf	 k_ctl, t_ctl;
	struct imsg	 imsg;
	struct msgw	 w;
	struct got	*end = NULL;
	int		 sp[2], i, j;

	got_clear();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) == -1)
		return (NULL);
	imsgbuf_init(&k_ctl, sp[0]);
	imsgbuf_init(&t_ctl, sp[1]);
	memset(&control, 0, sizeof(control));
	control.ibuf = &k_ctl;
	msg_begin(&w, &t_ctl, IMSG_CTL_TOKEN, id, -1);
	msg_put_str(&w, account);
	msg_put_str(&w, pass);
	if (with_uid)
		msg_put_u32(&w, 1000);
	msg_end(&w, &t_ctl);
	imsgbuf_flush(&t_ctl);
	imsgbuf_read(&k_ctl);
	if (imsg_get(&k_ctl, &imsg) > 0) {
		tokend_ctl_imsg(&control, &imsg);
		imsg_free(&imsg);
	}
	/* A wrong password's answer is held a moment (throttle.c). */
	for (i = 0; i < 100 && end == NULL; i++) {
		imsgbuf_flush(&k_ctl);
		collect(&t_ctl);
		for (j = 0; j < ngot; j++)
			if (got[j].type == IMSG_CTL_END ||
			    got[j].type == IMSG_CTL_FAIL)
				end = &got[j];
		if (end == NULL)
			run_for(50);
	}
	memset(&tk.control, 0, sizeof(tk.control));
	imsgbuf_clear(&k_ctl);
	imsgbuf_clear(&t_ctl);
	close(sp[0]);
	close(sp[1]);
	return (end);
}

static void
test_ctl_token(void)
{
	struct got	*g;

	g = ctl_token_call(41, "lp@example.com", "new pw", 1);
	check(g != NULL && g->type == IMSG_CTL_END && g->id == 41 &&
	    ngot == 2 && got[0].type == IMSG_CTL_DATA && got[0].id == 41 &&
	    got[0].s[0] != NULL &&
	    strstr(got[0].s[0], "\"access_token\":\"L2\"") != NULL &&
	    strstr(got[0].s[0], "\"account\":\"lp@example.com\"") != NULL,
	    "ctl token: the right password gets the token (CTL_DATA, "
	    "CTL_END)", "%d messages, %s", ngot,
	    ngot > 0 && got[0].s[0] ? got[0].s[0] : "-");
	g = ctl_token_call(42, "lp@example.com", "right pw", 1);
	check(g != NULL && g->type == IMSG_CTL_FAIL && g->id == 42 &&
	    ngot == 1 && strstr(g->s[0], "incorrect") != NULL,
	    "ctl token: a wrong password gets CTL_FAIL and no token", "%d "
	    "messages, %s", ngot, g != NULL && g->s[0] ? g->s[0] : "-");
	g = ctl_token_call(43, "lp@example.com", "new pw", 0);
	check(g != NULL && g->type == IMSG_CTL_FAIL && ngot == 1 &&
	    strcmp(g->s[0], "malformed request") == 0,
	    "ctl token: a request without the caller's uid is malformed",
	    "%d messages", ngot);
}

static void
test_require_local_password(void)
{
	struct got	*g;
	unsigned long	 runs;

	conf->require_local_password = 1;
	runs = tk_kdf_runs;
	g = login(1100, "open@example.com", "pw");
	check(is_fail(g, TOKEN_FAIL_CONFIG, "emailproxy: account "
	    "open@example.com has no local password set by the "
	    "administrator") && tk_kdf_runs == runs &&
	    count(IMSG_AUTH_REQUEST) == 0,
	    "require_local_password: an account without a hash is refused "
	    "with TOKEN_FAIL_CONFIG and a clear message, no KDF", "%s",
	    show(g));
	g = login(1101, "lpccg@example.com", "service pw");
	check(is_ok(g, "S1"), "require_local_password: an account with a "
	    "hash logs in", "%s", show(g));
	conf->require_local_password = 0;
	got_clear();
	get(1102, "open@example.com", "pw", 0, NULL);
	pump();
	check(find(IMSG_AUTH_REQUEST, 0) != NULL,
	    "require_local_password off: trust on first use as before",
	    "no request");
	cancel(1102);
	pump();
}

static void
test_allowlist(void)
{
	struct got	*g;
	unsigned long	 runs;
	uint64_t	 crypts, denied;
	static const struct {
		const char	*addr;
		int		 ok;
	} cases[] = {
		{ "127.0.0.1", 0 },
		{ "::ffff:127.0.0.1", 0 },
		{ "127.0.0.2", 1 },
		{ "::ffff:127.0.0.2", 1 },
		{ "::1", 1 },
		{ "::2", 0 },
		{ "", 0 },
		{ "not an address", 0 }
	};
	size_t		 i;
	char		 want[200];

	runs = tk_kdf_runs;
	crypts = tk.stats.crypt_checks;
	denied = tk.stats.logins_not_allowed;
	g = login_from(1200, "allow@example.com", "apw", "127.0.0.1");
	check(is_fail(g, TOKEN_FAIL_NOT_ALLOWED, "emailproxy: logins to "
	    "allow@example.com are not allowed from 127.0.0.1") &&
	    tk_kdf_runs == runs && tk.stats.crypt_checks == crypts &&
	    tk.stats.logins_not_allowed == denied + 1,
	    "allowlist: a login from outside allow_clients is refused with "
	    "TOKEN_FAIL_NOT_ALLOWED, no KDF, no crypt, counted", "%s",
	    show(g));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		g = login_from(1201 + i, "allow@example.com", "apw",
		    cases[i].addr);
		snprintf(want, sizeof(want), "allowlist (127.0.0.2, ::1): "
		    "client \"%s\" %s", cases[i].addr, cases[i].ok ?
		    "allowed" : "refused");
		if (cases[i].ok)
			check(g == NULL || g->type == IMSG_TOKEN_OK ||
			    g->u != TOKEN_FAIL_NOT_ALLOWED, want, "%s",
			    show(g));
		else
			check(is_fail(g, TOKEN_FAIL_NOT_ALLOWED, NULL), want,
			    "%s", show(g));
		cancel(1201 + i);
		pump();
	}
	g = login_from(1220, "lpallow@lp.example", "right pw", "10.1.2.3");
	check(is_fail(g, TOKEN_FAIL_NOT_ALLOWED, NULL),
	    "allowlist: inherited from the catch-all section", "%s", show(g));
}

static void
test_throttle(void)
{
	struct got	*g;
	unsigned long	 runs;
	uint64_t	 crypts, throttled;
	int		 i, ok, quick;
	char		 pw[32], *t;
	time_t		 start;

	conf->max_login_failures = 3;
	conf->login_failure_window = 60;
	conf->login_cooloff = 2;
	/* Records, so that a wrong password is wrong (no first use). */
	if (!first_tokens(1300, "th@example.com", "tpw", "T1") ||
	    !first_tokens(1390, "th2@example.com", "tpw", "T2") ||
	    !first_tokens(1391, "th3@example.com", "tpw", "T3") ||
	    !first_tokens(1392, "th4@example.com", "tpw", "T4") ||
	    !first_tokens(1393, "th5@example.com", "tpw", "T5")) {
		check(0, "throttle setup", "no token");
		return;
	}
	runs = tk_kdf_runs;
	throttled = tk.stats.logins_throttled;
	g = login_from(1301, "th@example.com", "w1", "10.0.0.1");
	ok = is_fail(g, TOKEN_FAIL_BAD_PASSWORD, NULL);
	g = login_from(1302, "th@example.com", "w2", "10.0.0.1");
	ok &= is_fail(g, TOKEN_FAIL_BAD_PASSWORD, NULL);
	check(ok && tk_kdf_runs == runs + 2, "throttle: failures below "
	    "max_login_failures answered at once", "%lu KDF",
	    tk_kdf_runs - runs);
	g = login_from(1303, "th@example.com", "w3", "10.0.0.1");
	check(g == NULL && tk_kdf_runs == runs + 3,
	    "throttle: the failure that reaches the limit is not answered "
	    "at once", "%s", show(g));
	start = time(NULL);
	for (i = 0; i < 40 && answer_for(1303) == NULL; i++)
		run_for(100);
	g = answer_for(1303);
	check(is_fail(g, TOKEN_FAIL_BAD_PASSWORD, NULL) &&
	    time(NULL) - start <= 2, "throttle: ... it is answered about a "
	    "second later", "%s after %lld s", show(g),
	    (long long)(time(NULL) - start));

	ok = 1;
	quick = 1;
	for (i = 4; i <= 20; i++) {
		snprintf(pw, sizeof(pw), "w%d", i);
		g = login_from(1300 + i, "th@example.com", pw, "10.0.0.1");
		ok &= is_fail(g, TOKEN_FAIL_THROTTLED, NULL) && g->s[0] &&
		    strncmp(g->s[0], "emailproxy: too many failed logins for "
		    "th@example.com; try again in ", 58) == 0;
		quick &= g != NULL;
	}
	check(ok && quick, "throttle: 17 more wrong passwords refused at "
	    "once with TOKEN_FAIL_THROTTLED and the wait", "%s", show(g));
	check(tk_kdf_runs == runs + 3, "throttle: 20 wrong passwords ran "
	    "the KDF max_login_failures (3) times",
	    "%lu KDF", tk_kdf_runs - runs);
	check(tk.stats.logins_throttled == throttled + 17,
	    "throttle: tokend_logins_throttled_total counts them", "%llu",
	    (unsigned long long)(tk.stats.logins_throttled - throttled));
	g = login_from(1321, "th@example.com", "tpw", "10.0.0.9");
	check(is_fail(g, TOKEN_FAIL_THROTTLED, NULL) &&
	    tk_kdf_runs == runs + 3, "throttle: during the cool-off even the "
	    "right password is refused (no oracle)", "%s", show(g));
	g = login_from(1322, "th2@example.com", "x", "10.0.0.1");
	check(is_fail(g, TOKEN_FAIL_THROTTLED, NULL) && g->s[0] &&
	    strstr(g->s[0], "too many failed logins from 10.0.0.1") != NULL,
	    "throttle: the client address is throttled for other accounts "
	    "too", "%s", show(g));
	g = login_from(1323, "th2@example.com", "x", "::ffff:10.0.0.1");
	check(is_fail(g, TOKEN_FAIL_THROTTLED, NULL),
	    "throttle: ::ffff:10.0.0.1 is the same client", "%s", show(g));
	t = stored_token("th@example.com", "tpw");
	check(t != NULL && strcmp(t, "T1") == 0,
	    "throttle: nothing stored was deleted", "token %s",
	    t != NULL ? t : "gone");
	free(t);

	/* After the cool-off the right password works and resets. */
	run_for(2200);
	g = login_from(1330, "th@example.com", "tpw", "10.0.0.9");
	check(is_ok(g, "T1"), "throttle: after login_cooloff the right "
	    "password logs in", "%s", show(g));
	g = login_from(1331, "th@example.com", "w", "10.0.0.9");
	check(is_fail(g, TOKEN_FAIL_BAD_PASSWORD, NULL),
	    "throttle: a success resets the account's count", "%s",
	    show(g));

	/* Still in the window: one more failure from 10.0.0.1 re-arms. */
	runs = tk_kdf_runs;
	g = login_from(1332, "th2@example.com", "y", "10.0.0.1");
	check(g == NULL, "throttle: after a cool-off one failure in the same "
	    "window starts the next, answered late", "%s", show(g));
	start = time(NULL);
	for (i = 0; i < 50 && answer_for(1332) == NULL; i++)
		run_for(100);
	g = answer_for(1332);
	check(g != NULL && time(NULL) - start >= 1, "throttle: ... the "
	    "second time after about 2 s", "%s after %lld s", show(g),
	    (long long)(time(NULL) - start));
	g = login_from(1333, "th2@example.com", "z", "10.0.0.1");
	check(is_fail(g, TOKEN_FAIL_THROTTLED, NULL),
	    "throttle: and the address is refused again", "%s", show(g));

	/* A held answer whose session ends is dropped. */
	conf->login_failure_window = 60;
	got_clear();
	for (i = 0; i < 3; i++) {
		client_addr = "10.0.0.20";
		snprintf(pw, sizeof(pw), "c%d", i);
		get(1340 + i, "th3@example.com", pw, 0, NULL);
		client_addr = "127.0.0.1";
		pump();
	}
	cancel(1342);
	pump();
	run_for(1500);
	check(answer_for(1340) != NULL && answer_for(1341) != NULL &&
	    answer_for(1342) == NULL, "throttle: TOKEN_CANCEL drops a held "
	    "answer", "%d answers", count(IMSG_TOKEN_FAIL));

	/* With a local password the bound is on crypt(3). */
	crypts = tk.stats.crypt_checks;
	runs = tk_kdf_runs;
	for (i = 0; i < 10; i++) {
		snprintf(pw, sizeof(pw), "g%d", i);
		g = login_from(1350 + i, "thlp@example.com", pw,
		    i % 2 ? "10.0.1.1" : "10.0.1.2");
	}
	check(tk.stats.crypt_checks == crypts + 3 && tk_kdf_runs == runs,
	    "throttle: 10 wrong local passwords from two addresses ran crypt "
	    "3 times and the KDF never", "%llu crypt, %lu KDF",
	    (unsigned long long)(tk.stats.crypt_checks - crypts),
	    tk_kdf_runs - runs);
	run_for(1500);

	/* max_login_failures = 0: no throttling at all. */
	conf->max_login_failures = 0;
	ok = 1;
	for (i = 0; i < 8; i++) {
		snprintf(pw, sizeof(pw), "n%d", i);
		g = login_from(1370 + i, "th4@example.com", pw, "10.0.2.1");
		ok &= is_fail(g, TOKEN_FAIL_BAD_PASSWORD, NULL);
	}
	check(ok, "throttle: max_login_failures = 0 turns it off", "%s",
	    show(g));
	conf->max_login_failures = 3;
}

/* show accounts and stats carry the login and throttling fields. */
static void
test_hardening_ctl(void)
{
	struct tk_peer	 parent;
	struct imsgbuf	 k_parent, t_parent;
	struct imsg	 imsg;
	struct msgw	 w;
	json_t		*o;
	json_error_t	 err;
	int		 sp[2], i, seen = 0;
	const char	*addr;

	conf->login_cooloff = 30;
	login_from(1400, "th5@example.com", "a", "10.0.3.1");
	login_from(1401, "th5@example.com", "b", "10.0.3.1");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) == -1)
		return;
	imsgbuf_init(&k_parent, sp[0]);
	imsgbuf_init(&t_parent, sp[1]);
	memset(&parent, 0, sizeof(parent));
	parent.ibuf = &k_parent;
	msg_begin(&w, &t_parent, IMSG_CTL_SHOW_ACCOUNTS, 9, -1);
	msg_end(&w, &t_parent);
	msg_begin(&w, &t_parent, IMSG_CTL_SHOW_STATS, 10, -1);
	msg_end(&w, &t_parent);
	imsgbuf_flush(&t_parent);
	imsgbuf_read(&k_parent);
	while (imsg_get(&k_parent, &imsg) > 0) {
		tokend_ctl_imsg(&parent, &imsg);
		imsg_free(&imsg);
	}
	imsgbuf_flush(&k_parent);
	got_clear();
	collect(&t_parent);
	for (i = 0; i < ngot; i++) {
		if (got[i].type != IMSG_CTL_DATA || got[i].s[0] == NULL ||
		    (o = json_loads(got[i].s[0], 0, &err)) == NULL)
			continue;
		addr = json_string_value(json_object_get(o,
		    "last_login_address"));
		if (got[i].id == 9 && json_is_string(json_object_get(o,
		    "account")) && strcmp(json_string_value(json_object_get(o,
		    "account")), "th@example.com") == 0 &&
		    json_integer_value(json_object_get(o, "last_login")) > 0 &&
		    addr != NULL && strcmp(addr, "10.0.0.9") == 0)
			seen |= 1;
		if (got[i].id == 9 && json_is_string(json_object_get(o,
		    "account")) && strcmp(json_string_value(json_object_get(o,
		    "account")), "th5@example.com") == 0 &&
		    json_integer_value(json_object_get(o, "failures")) == 2)
			seen |= 2;
		if (got[i].id == 10 &&
		    json_is_integer(json_object_get(o,
		    "tokend_crypt_checks_total")) &&
		    json_integer_value(json_object_get(o,
		    "tokend_logins_throttled_total")) > 0 &&
		    json_integer_value(json_object_get(o,
		    "tokend_logins_not_allowed_total")) > 0 &&
		    json_is_integer(json_object_get(o,
		    "tokend_kdf_runs_total")))
			seen |= 4;
		if (strstr(got[i].s[0], "$y$") != NULL ||
		    strstr(got[i].s[0], "$2b$") != NULL)
			seen |= 8;
		json_decref(o);
	}
	for (i = 0; seen != 7 && i < ngot; i++)
		printf("    ctl %u: %s\n", got[i].type,
		    got[i].s[0] ? got[i].s[0] : "");
	check((seen & 1) != 0, "show accounts: last_login and "
	    "last_login_address", "%d", seen);
	check((seen & 2) != 0, "show accounts: failures is the current "
	    "count", "%d", seen);
	check((seen & 4) != 0, "show stats: tokend_crypt_checks_total, "
	    "tokend_logins_throttled_total, tokend_logins_not_allowed_total",
	    "%d", seen);
	check((seen & 8) == 0, "control answers never show a hash", "%d",
	    seen);
	imsgbuf_clear(&k_parent);
	imsgbuf_clear(&t_parent);
	close(sp[0]);
	close(sp[1]);
	conf->login_cooloff = 2;
}

static const char conf_text[] =
"[emailproxy]\n"
"allow_catch_all_accounts = True\n"
"\n"
"[IMAP-1993]\n"
"server_address = 127.0.0.1\n"
"server_port = 993\n"
"\n"
"[user@example.com]\n" ACCT_CODE
"[disk@example.com]\n" ACCT_CODE
"[warm@example.com]\n" ACCT_CODE
"[reauth@example.com]\n" ACCT_CODE
"[flight@example.com]\n" ACCT_CODE
"[ahead@example.com]\n" ACCT_CODE
"[enc@example.com]\n" ACCT_CODE
"[@catch.example]\n" ACCT_CODE
"[incomplete@example.com]\n" ACCT_CODE
"[ccg@example.com]\n"
"token_url = https://127.0.0.1/token\n"
"oauth2_scope = mail\n"
"oauth2_flow = client_credentials\n"
"client_id = id\n"
"client_secret = secret\n"
"\n"
"[ccg2@example.com]\n"
"token_url = https://127.0.0.1/token\n"
"oauth2_scope = mail\n"
"oauth2_flow = client_credentials\n"
"client_id = id\n"
"client_secret = secret\n"
"\n"
"[ccgpw@example.com]\n"
"token_url = https://127.0.0.1/token\n"
"oauth2_scope = mail\n"
"oauth2_flow = client_credentials\n"
"client_id = id\n"
"\n"
"[ropc@example.com]\n"
"token_url = https://127.0.0.1/token\n"
"oauth2_scope = mail\n"
"oauth2_flow = password\n"
"client_id = id\n"
"\n";

/*
 * auth_wait: a login that waits for a person is answered
 * TOKEN_FAIL_AUTH_PENDING, with or without a page to name; the request
 * to authd goes on (no AUTH_CANCEL) and its tokens serve the next login
 * with the same password; a revoked refresh token gets the same answer.
 */
static void
send_page_login(uint32_t id, const char *user, const char *pass)
{
	struct msgw	w;

	msg_begin(&w, &t_proxy, IMSG_PAGE_LOGIN, id, -1);
	msg_put_str(&w, client_addr);
	msg_put_str(&w, user);
	msg_put_str(&w, pass);
	if (msg_end(&w, &t_proxy) == -1)
		abort();
}

static struct got *
find_id(uint32_t type, uint32_t id)
{
	int	i;

	for (i = 0; i < ngot; i++)
		if (got[i].type == type && got[i].id == id)
			return (&got[i]);
	return (NULL);
}

/*
 * The authorisation page's login (PAGE_LOGIN) takes a mail login's path;
 * its grant goes to authd as AUTH_OP_PAGE, the consent comes back to the
 * page (and to a page that joins later), a mail login with the same
 * password waits on the same request, and the answers are PAGE_* to the
 * page, never TOKEN_*.  The browser's redirect is relayed both ways as
 * it is; malformed messages are refused.
 */
static void
test_page(void)
{
	struct got	*g, *rq;
	struct msgw	 w;
	uint32_t	 rid;

	got_clear();
	send_page_login(501, "page@example.com", "page-pw");
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_PAGE &&
	    count(IMSG_PAGE_CONSENT) == 0 && count(IMSG_PAGE_FAIL) == 0,
	    "page: the first login's grant goes to authd as AUTH_OP_PAGE",
	    "%d requests", count(IMSG_AUTH_REQUEST));
	if (rq == NULL)
		return;
	rid = rq->id;
	get(7, "page@example.com", "page-pw", 0, NULL);
	pump();
	check(count(IMSG_AUTH_REQUEST) == 1, "page: a mail login with the "
	    "same password waits on the page's request", "%d requests",
	    count(IMSG_AUTH_REQUEST));
	msg_begin(&w, &t_authd, IMSG_AUTH_CONSENT, rid, -1);
	msg_put_str(&w, "https://p.example/auth?state=st1");
	msg_put_str(&w, "st1");
	msg_put_str(&w, NULL);
	msg_put_u64(&w, (uint64_t)time(NULL) + 600);
	if (msg_end(&w, &t_authd) == -1)
		abort();
	pump();
	g = find_id(IMSG_PAGE_CONSENT, 501);
	check(g != NULL && g->s[0] != NULL &&
	    strcmp(g->s[0], "https://p.example/auth?state=st1") == 0 &&
	    g->s[1] != NULL && strcmp(g->s[1], "st1") == 0 &&
	    g->s[2] == NULL, "page: AUTH_CONSENT goes to the page as "
	    "PAGE_CONSENT", "%s", g != NULL ? g->s[0] : "none");
	send_page_login(502, "page@example.com", "page-pw");
	pump();
	check(find_id(IMSG_PAGE_CONSENT, 502) != NULL &&
	    count(IMSG_AUTH_REQUEST) == 1, "page: a second page with the same "
	    "password is told the same consent at once", "");
	tokens(rid, "page-at", time(NULL) + 3600, "page-rt");
	pump();
	g = find_id(IMSG_PAGE_DONE, 501);
	check(g != NULL && g->s[0] != NULL &&
	    strcmp(g->s[0], "page@example.com") == 0 &&
	    g->u == FLOW_AUTHORIZATION_CODE && find_id(IMSG_PAGE_DONE, 502) &&
	    find_id(IMSG_TOKEN_OK, 7) != NULL && find_id(IMSG_TOKEN_OK, 501) ==
	    NULL, "page: the tokens end both pages with PAGE_DONE (no token "
	    "to the page) and answer the mail login", "%d done",
	    count(IMSG_PAGE_DONE));
	g = login(8, "page@example.com", "page-pw");
	check(is_ok(g, "page-at"), "page: the page's password opens the "
	    "tokens for a mail login", "");

	got_clear();
	send_page_login(503, "page@example.com", "not-the-pw");
	pump();
	g = find_id(IMSG_PAGE_FAIL, 503);
	check(g != NULL && g->u == TOKEN_FAIL_BAD_PASSWORD &&
	    count(IMSG_TOKEN_FAIL) == 0 && count(IMSG_AUTH_REQUEST) == 0,
	    "page: a wrong password is refused with PAGE_FAIL", "%s",
	    g != NULL ? g->s[0] : "none");

	got_clear();
	send_page_login(510, "ccgpage@example.com", "ccg-page-pw");
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	if (rq != NULL)
		tokens(rq->id, "ccg-page-at", time(NULL) + 3600, NULL);
	pump();
	g = find_id(IMSG_PAGE_DONE, 510);
	check(g != NULL && g->u == FLOW_CLIENT_CREDENTIALS &&
	    count(IMSG_PAGE_CONSENT) == 0, "page: a client-credentials account "
	    "is done without a consent, its flow told", "");

	got_clear();
	send_page_login(520, "flight@example.com", "gone-pw");
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	imsg_compose(&t_proxy, IMSG_PAGE_CANCEL, 520, 0, -1, NULL, 0);
	pump();
	check(rq != NULL && count(IMSG_AUTH_CANCEL) == 1 &&
	    find(IMSG_AUTH_CANCEL, 0)->id == rq->id && count(IMSG_PAGE_FAIL) ==
	    0, "page: PAGE_CANCEL drops the page's grant (AUTH_CANCEL)", "");

	/* The administrator's rules apply to the page as to a login. */
	got_clear();
	send_page_login(540, "pagelp@lp.example", "right pw");
	pump();
	g = find_id(IMSG_PAGE_FAIL, 540);
	check(g != NULL && g->u == TOKEN_FAIL_NOT_ALLOWED &&
	    count(IMSG_AUTH_REQUEST) == 0, "page: allow_clients applies to "
	    "the page's address", "%s", g != NULL ? g->s[0] : "none");
	client_addr = "10.7.7.7";
	send_page_login(541, "pagelp@lp.example", "not the local pw");
	pump();
	g = find_id(IMSG_PAGE_FAIL, 541);
	check(g != NULL && g->u == TOKEN_FAIL_BAD_PASSWORD &&
	    count(IMSG_AUTH_REQUEST) == 0, "page: a password that is not the "
	    "local_password is refused, no grant asked", "%s",
	    g != NULL ? g->s[0] : "none");
	send_page_login(542, "pagelp@lp.example", "right pw");
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_PAGE &&
	    find_id(IMSG_PAGE_FAIL, 542) == NULL, "page: the local_password "
	    "lets the page's grant start", "");
	imsg_compose(&t_proxy, IMSG_PAGE_CANCEL, 542, 0, -1, NULL, 0);
	pump();
	client_addr = "127.0.0.1";

	got_clear();
	msg_begin(&w, &t_proxy, IMSG_REDIRECT_RESPONSE, 77, -1);
	msg_put_str(&w, "/callback");
	msg_put_str(&w, "st9");
	msg_put_str(&w, "code9");
	msg_put_str(&w, NULL);
	msg_put_str(&w, NULL);
	if (msg_end(&w, &t_proxy) == -1)
		abort();
	pump();
	g = find_id(IMSG_REDIRECT_RESPONSE, 77);
	check(g != NULL && g->s[0] != NULL && strcmp(g->s[0], "/callback") ==
	    0 && g->s[2] != NULL && strcmp(g->s[2], "code9") == 0,
	    "page: a redirect goes on to authd as it is, with its id", "");
	msg_begin(&w, &t_authd, IMSG_REDIRECT_RESULT, 77, -1);
	msg_put_u32(&w, 200);
	msg_put_str(&w, "page@example.com");
	msg_put_str(&w, "received");
	if (msg_end(&w, &t_authd) == -1)
		abort();
	pump();
	g = find_id(IMSG_REDIRECT_RESULT, 77);
	check(g != NULL && g->u == 200 && g->s[1] != NULL &&
	    strcmp(g->s[1], "received") == 0, "page: authd's answer goes back "
	    "to the proxy with the id", "");

	msg_begin(&w, &t_proxy, IMSG_PAGE_LOGIN, 530, -1);
	msg_put_str(&w, client_addr);
	msg_put_str(&w, "page@example.com");
	if (msg_end(&w, &t_proxy) == -1)
		abort();
	pump();
	check(last_rv == DISPATCH_BAD, "page: a PAGE_LOGIN without a password "
	    "field is malformed", "rv %d", last_rv);
	msg_begin(&w, &t_proxy, IMSG_REDIRECT_RESPONSE, 78, -1);
	msg_put_str(&w, "no-slash");
	msg_put_str(&w, NULL);
	msg_put_str(&w, NULL);
	msg_put_str(&w, NULL);
	msg_put_str(&w, NULL);
	if (msg_end(&w, &t_proxy) == -1)
		abort();
	pump();
	check(last_rv == DISPATCH_BAD && find_id(IMSG_REDIRECT_RESPONSE, 78) ==
	    NULL, "page: a redirect whose path is not absolute is malformed "
	    "and goes nowhere", "rv %d", last_rv);
	msg_begin(&w, &t_authd, IMSG_REDIRECT_RESULT, 79, -1);
	msg_put_u32(&w, 99);
	msg_put_str(&w, NULL);
	msg_put_str(&w, "x");
	if (msg_end(&w, &t_authd) == -1)
		abort();
	pump();
	check(last_rv == DISPATCH_BAD && find_id(IMSG_REDIRECT_RESULT, 79) ==
	    NULL, "page: a REDIRECT_RESULT with status 99 is malformed", "");
	got_clear();
}

static void
test_auth_wait(void)
{
	struct got	*g, *rq;
	const char	*acct = "wait@example.com";
	unsigned int	 saved = conf->auth_wait;
	uint32_t	 id;
	time_t		 now = time(NULL);

	conf->auth_wait = 0;
	conf->authorisation_page_url = strdup("https://page.example/auth");
	g = login(600, acct, "wait pw");
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_OBTAIN &&
	    is_fail(g, TOKEN_FAIL_AUTH_PENDING, "emailproxy: account "
	    "wait@example.com needs authorisation: open "
	    "https://page.example/auth to authorise it, then log in again"),
	    "auth_wait: a login waiting for a person is answered "
	    "TOKEN_FAIL_AUTH_PENDING naming the page", "%s", show(g));
	check(count(IMSG_AUTH_CANCEL) == 0, "auth_wait: the request to "
	    "authd stays (no AUTH_CANCEL)", "%d cancels",
	    count(IMSG_AUTH_CANCEL));
	if (rq == NULL)
		goto done;
	id = rq->id;

	free(conf->authorisation_page_url);
	conf->authorisation_page_url = NULL;
	g = login(601, acct, "wait pw");
	check(is_fail(g, TOKEN_FAIL_AUTH_PENDING, "emailproxy: account "
	    "wait@example.com needs authorisation: your administrator has "
	    "been notified; log in again once it is authorised") &&
	    count(IMSG_AUTH_REQUEST) == 0,
	    "auth_wait: without a page the administrator has been notified; "
	    "the same password joins the request", "%s", show(g));
	g = login(602, acct, "other pw");
	check(is_fail(g, TOKEN_FAIL_AUTH_PENDING, NULL) &&
	    count(IMSG_AUTH_REQUEST) == 0,
	    "auth_wait: another password waiting behind it gets the same "
	    "answer", "%s", show(g));

	got_clear();
	tokens(id, "W1", now + 3600, "WR1");
	pump();
	g = login(603, acct, "wait pw");
	check(is_ok(g, "W1") && count(IMSG_AUTH_REQUEST) == 0,
	    "auth_wait: the person's consent serves the next login with the "
	    "first password", "%s", show(g));

	/* Revoked: the refresh token is refused, a person must act. */
	got_clear();
	get(604, acct, "wait pw", TOKEN_F_REJECTED, "W1");
	pump();
	rq = find(IMSG_AUTH_REQUEST, 0);
	check(rq != NULL && rq->u == AUTH_OP_REFRESH, "auth_wait: a "
	    "rejected token is refreshed", "%s", show(rq));
	if (rq == NULL)
		goto done;
	authfail(rq->id, AUTH_FAIL_INVALID_GRANT, "invalid_grant");
	pump();
	g = find(IMSG_TOKEN_FAIL, 0);
	check(find(IMSG_AUTH_REQUEST, 1) != NULL &&
	    find(IMSG_AUTH_REQUEST, 1)->u == AUTH_OP_OBTAIN && g != NULL &&
	    g->id == 604 && is_fail(g, TOKEN_FAIL_AUTH_PENDING, NULL),
	    "auth_wait: a refresh refused with invalid_grant gets the same "
	    "answer, not a held login", "%s", show(g));
 done:
	conf->auth_wait = saved;
}

int
main(void)
{
	const char	*tmp;
	FILE		*fp;
	int		 sp[2], sa[2];

	log_init(1, LOG_DAEMON);
	log_setverbose(1);
	record_init();
	event_init();
	if ((tmp = getenv("REGRESS_TMP")) == NULL)
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/tokend_login_XXXXXX", tmp);
	if (mkdtemp(dir) == NULL) {
		printf("FAIL: mkdtemp\n");
		return (1);
	}
	pycache = python_cache("py pass", 1200000, "py-access",
	    "py-refresh", (long long)time(NULL) + 3600);
	pycache_old = python_cache("old pass", 100000, "py-access-old",
	    "py-refresh-old", (long long)time(NULL) - 100);
	precache = python_presecret("operator pw", "decrypted-secret");
	snprintf(confpath, sizeof(confpath), "%s/emailproxy.conf", dir);
	if ((fp = fopen(confpath, "w")) == NULL)
		return (1);
	fputs(conf_text, fp);
	if (pycache != NULL && pycache_old != NULL)
		fprintf(fp, "[py@example.com]\n" ACCT_CODE "%s\n"
		    "[pyold@example.com]\n" ACCT_CODE "%s\n", pycache,
		    pycache_old);
	else {
		free(pycache);
		pycache = NULL;
	}
	hash_lp = make_hash("$y$", "right pw");
	hash_ccg = make_hash("$2b$", "service pw");
	hash_th = make_hash("$2b$", "thlp pw");
	hash_new = make_hash("$6$", "new pw");
	if (hash_lp != NULL && hash_ccg != NULL && hash_th != NULL)
		fprintf(fp, "[lp@example.com]\n" ACCT_CODE
		    "local_password = %s\n\n"
		    "[lpccg@example.com]\n"
		    "token_url = https://127.0.0.1/token\n"
		    "oauth2_scope = mail\n"
		    "oauth2_flow = client_credentials\n"
		    "client_id = id\nclient_secret = secret\n"
		    "local_password = %s\n\n"
		    "[open@example.com]\n" ACCT_CODE
		    "[allow@example.com]\n" ACCT_CODE
		    "allow_clients = 127.0.0.2, ::1\n\n"
		    "[@lp.example]\n" ACCT_CODE
		    "local_password = %s\nallow_clients = 10.0.0.0/8\n\n"
		    "[lpallow@lp.example]\nallow_clients = 192.0.2.1\n\n"
		    "[th@example.com]\n" ACCT_CODE
		    "[th2@example.com]\n" ACCT_CODE
		    "[th3@example.com]\n" ACCT_CODE
		    "[th4@example.com]\n" ACCT_CODE
		    "[th5@example.com]\n" ACCT_CODE
		    "[thlp@example.com]\n" ACCT_CODE
		    "local_password = %s\n\n"
		    "[Team@example.com]\ntoken_owner = lp@example.com\n"
		    "local_password = %s\n\n", hash_lp, hash_ccg, hash_lp,
		    hash_th, hash_th);
	fputs("[wait@example.com]\n" ACCT_CODE, fp);
	fputs("[page@example.com]\n" ACCT_CODE, fp);
	fputs("[ccgpage@example.com]\ntoken_url = https://127.0.0.1/token\n"
	    "oauth2_scope = mail\noauth2_flow = client_credentials\n"
	    "client_id = id\nclient_secret = secret\n\n", fp);
	if (precache != NULL)
		fprintf(fp, "[@pre.example]\n"
		    "permission_url = https://127.0.0.1/auth\n"
		    "token_url = https://127.0.0.1/token\n"
		    "oauth2_scope = mail\n"
		    "redirect_uri = http://localhost\n"
		    "client_id = id\n%s\n", precache);
	fclose(fp);
	if ((conf = config_load(confpath, NULL)) == NULL) {
		printf("FAIL: config_load %s\n", confpath);
		return (1);
	}
	conf->kdf_iterations = KDF_ITER;
	conf->delete_account_token_on_password_error = 0;
	/* The older tests count on no throttling; test_throttle sets it. */
	conf->max_login_failures = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sa) == -1)
		return (1);
	imsgbuf_init(&t_proxy, sp[0]);
	imsgbuf_init(&k_proxy, sp[1]);
	imsgbuf_init(&t_authd, sa[0]);
	imsgbuf_init(&k_authd, sa[1]);
	engine_start();

	test_basics();
	test_first_login();
	test_wrong_password();
	test_single_flight();
	test_refresh_failures();
	test_rejected();
	test_catch_all();
	test_grant_passwords();
	test_import();
	test_presecret();
	test_ahead();
	test_ctl();
	test_malformed();
	test_metrics();
	test_local_password();
	test_ctl_token();
	test_shared_mailbox();
	test_require_local_password();
	test_allowlist();
	test_throttle();
	test_hardening_ctl();
	test_store_retry();
	test_kdf_queue();
	test_reauthorise();
	test_auth_wait();
	test_page();
	test_reload();

	tokend_login_shutdown();
	got_clear();
	config_free(conf);
	free(pycache);
	free(pycache_old);
	free(precache);
	free(hash_lp);
	free(hash_ccg);
	free(hash_th);
	free(hash_new);
	imsgbuf_clear(&t_proxy);
	imsgbuf_clear(&k_proxy);
	imsgbuf_clear(&t_authd);
	imsgbuf_clear(&k_authd);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		system(cmd);
	}
	return (failed);
}
