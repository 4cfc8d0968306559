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
 * Login throttling.  Failed password checks are counted per account and
 * per client address in a window of login_failure_window seconds from
 * the first one.  The failure that reaches max_login_failures is
 * answered late (1 s, doubling for each cool-off in a row, at most
 * 16 s) and a cool-off of login_cooloff seconds follows; until it ends
 * every login is refused at once without the KDF or crypt(3), since
 * their cost is what an attacker would spend.  After a cool-off within
 * the same window one attempt is checked again and a failure starts the
 * next cool-off.  A success clears the account's count, not the
 * address's (a client with one good account must not wipe its guesses
 * at others).  Nothing is ever deleted by throttling.
 */

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "tokend.h"

#define TH_MAX_ENTRIES	8192	/* accounts and addresses remembered */
#define TH_MAX_DELAY	16	/* seconds an answer is held back */

struct throttle {
	RB_ENTRY(throttle) entry;
	char		*key;		/* "a:account" or "c:address" */
	unsigned int	 nfail;
	int64_t		 first;		/* start of the window */
	int64_t		 last;		/* last failure */
	int64_t		 until;		/* end of the cool-off, or 0 */
	unsigned int	 strikes;	/* cool-offs in a row */
};
RB_HEAD(throttles, throttle);

/* An answer held back. */
struct held {
	TAILQ_ENTRY(held) entry;
	struct tk_req	*req;
	enum token_fail	 reason;
	char		*text;
	struct event	 ev;
};
TAILQ_HEAD(heldlist, held);

static struct throttles	 throttles = RB_INITIALIZER(&throttles);
static struct heldlist	 held = TAILQ_HEAD_INITIALIZER(held);
static size_t		 nthrottles;

static int	 throttle_cmp(struct throttle *, struct throttle *);
RB_PROTOTYPE(throttles, throttle, entry, throttle_cmp);
RB_GENERATE(throttles, throttle, entry, throttle_cmp);

static int
throttle_cmp(struct throttle *a, struct throttle *b)
{
	return (strcmp(a->key, b->key));
}

static int
enabled(void)
{
	return (tk.conf != NULL && tk.conf->max_login_failures > 0);
}

static char *
acct_key(const char *account)
{
	char	*k;

	if (asprintf(&k, "a:%s", account) == -1)
		fatal(NULL);
	return (k);
}

/*
 * One spelling per address: ::ffff:a.b.c.d is a.b.c.d, IPv6 in its
 * canonical form.  Anything else is kept as it came.
 */
static char *
addr_key_kind(const char *client, char kind)
{
	struct in6_addr	 a;
	char		 s[INET6_ADDRSTRLEN], *k;

	if (inet_pton(AF_INET6, client, &a) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a))
			inet_ntop(AF_INET, &a.s6_addr[12], s, sizeof(s));
		else
			inet_ntop(AF_INET6, &a, s, sizeof(s));
		client = s;
	}
	if (asprintf(&k, "%c:%s", kind, client) == -1)
		fatal(NULL);
	return (k);
}

static char *
addr_key(const char *client)
{
	return (addr_key_kind(client, 'c'));
}

static struct throttle *
th_find(const char *key)
{
	struct throttle	 k;

	k.key = (char *)key;
	return (RB_FIND(throttles, &throttles, &k));
}

static void
th_remove(struct throttle *t)
{
	RB_REMOVE(throttles, &throttles, t);
	nthrottles--;
	free(t->key);
	free(t);
}

/* Nothing counted any more: the window and the cool-off are over. */
static int
th_stale(const struct throttle *t, int64_t now)
{
	return (now >= t->until && now - t->first >=
	    (int64_t)tk.conf->login_failure_window &&
	    now - t->last >= (int64_t)tk.conf->login_failure_window);
}

/* Room for one more: drop the stale, else the longest quiet. */
static void
th_make_room(int64_t now)
{
	struct throttle	*t, *next, *oldest = NULL;

	if (nthrottles < TH_MAX_ENTRIES)
		return;
	RB_FOREACH_SAFE(t, throttles, &throttles, next)
		if (th_stale(t, now))
			th_remove(t);
	if (nthrottles < TH_MAX_ENTRIES)
		return;
	RB_FOREACH(t, throttles, &throttles)
		if (oldest == NULL || t->last < oldest->last)
			oldest = t;
	log_warnx("throttling remembers %d accounts and addresses; "
	    "forgetting %s", TH_MAX_ENTRIES, oldest->key);
	th_remove(oldest);
}

static struct throttle *
th_get(const char *key, int64_t now)
{
	struct throttle	*t;

	if ((t = th_find(key)) != NULL)
		return (t);
	th_make_room(now);
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->key = strdup(key)) == NULL)
		fatal(NULL);
	RB_INSERT(throttles, &throttles, t);
	nthrottles++;
	return (t);
}

/* Seconds this key is still refused, 0 if none. */
static int64_t
th_wait(const char *key, int64_t now)
{
	struct throttle	*t;

	if ((t = th_find(key)) == NULL || now >= t->until)
		return (0);
	return (t->until - now);
}

int
throttle_check(const char *account, const char *client, int64_t *wait,
    int *by_address)
{
	char	*key;
	int64_t	 now = time(NULL), w;

	*wait = 0;
	*by_address = 0;
	if (!enabled())
		return (0);
	key = acct_key(account);
	*wait = th_wait(key, now);
	free(key);
	if (client != NULL && *client != '\0') {
		key = addr_key(client);
		if ((w = th_wait(key, now)) > *wait) {
			*wait = w;
			*by_address = 1;
		}
		free(key);
	}
	return (*wait > 0);
}

/* Count one failure; the delay in seconds if it started a cool-off. */
static unsigned int
th_fail(const char *key, int64_t now)
{
	const struct emailproxy_conf *c = tk.conf;
	struct throttle		*t;
	unsigned int		 delay;

	t = th_get(key, now);
	if (t->nfail == 0 || now - t->first >= (int64_t)
	    c->login_failure_window) {
		/* A new window; a quiet one also ends the escalation. */
		if (t->nfail != 0 && now - t->last >= (int64_t)
		    c->login_failure_window)
			t->strikes = 0;
		t->nfail = 0;
		t->first = now;
	}
	t->nfail++;
	t->last = now;
	if (t->nfail < c->max_login_failures)
		return (0);
	if (t->strikes < 16)
		t->strikes++;
	delay = 1U << (t->strikes - 1);
	if (delay > TH_MAX_DELAY)
		delay = TH_MAX_DELAY;
	/* The cool-off follows the held answer. */
	t->until = now + delay + c->login_cooloff;
	log_notice("%s %s: %u failed logins; logins refused for %u s",
	    key[0] == 'a' ? "account" : "client", key + 2, t->nfail,
	    delay + c->login_cooloff);
	return (delay);
}

unsigned int
throttle_fail(const char *account, const char *client)
{
	char		*key;
	int64_t		 now = time(NULL);
	unsigned int	 d, delay;

	if (!enabled())
		return (0);
	key = acct_key(account);
	delay = th_fail(key, now);
	free(key);
	if (client != NULL && *client != '\0') {
		key = addr_key(client);
		if ((d = th_fail(key, now)) > delay)
			delay = d;
		free(key);
	}
	return (delay);
}

/*
 * First logins under a catch-all section: each costs a KDF and may
 * start an authorisation, and any name will do, so an address gets
 * TK_FIRST_PER_ADDR of them per login_failure_window.  1 and the wait
 * in seconds when this address has had its share.
 */
int
throttle_first_check(const char *client, int64_t *wait)
{
	struct throttle	*t;
	char		*key;
	int64_t		 now = time(NULL), end;

	*wait = 0;
	if (!enabled() || client == NULL || *client == '\0')
		return (0);
	key = addr_key_kind(client, 'n');
	t = th_find(key);
	free(key);
	if (t == NULL || t->nfail < TK_FIRST_PER_ADDR)
		return (0);
	end = t->first + (int64_t)tk.conf->login_failure_window;
	if (now >= end)
		return (0);
	*wait = end - now;
	return (1);
}

void
throttle_first_count(const char *client)
{
	struct throttle	*t;
	char		*key;
	int64_t		 now = time(NULL);

	if (!enabled() || client == NULL || *client == '\0')
		return;
	key = addr_key_kind(client, 'n');
	t = th_get(key, now);
	free(key);
	if (t->nfail == 0 || now - t->first >=
	    (int64_t)tk.conf->login_failure_window) {
		t->nfail = 0;
		t->first = now;
	}
	t->nfail++;
	t->last = now;
}

void
throttle_success(const char *account)
{
	struct throttle	*t;
	char		*key;

	key = acct_key(account);
	if ((t = th_find(key)) != NULL)
		th_remove(t);
	free(key);
}

unsigned int
throttle_failures(const char *account, int64_t *until)
{
	struct throttle	*t;
	char		*key;
	int64_t		 now = time(NULL);

	*until = 0;
	key = acct_key(account);
	t = th_find(key);
	free(key);
	if (t == NULL)
		return (0);
	if (now < t->until)
		*until = t->until;
	if (now - t->first >= (int64_t)tk.conf->login_failure_window)
		return (0);
	return (t->nfail);
}

void
throttle_accounts(void (*fn)(const char *, void *), void *arg)
{
	struct throttle	*t;
	int64_t		 now = time(NULL);

	RB_FOREACH(t, throttles, &throttles)
		if (strncmp(t->key, "a:", 2) == 0 && !th_stale(t, now))
			fn(t->key + 2, arg);
}

static void
held_free(struct held *h)
{
	TAILQ_REMOVE(&held, h, entry);
	evtimer_del(&h->ev);
	free(h->text);
	free(h);
}

static void
held_fire(int fd, short ev, void *arg)
{
	struct held	*h = arg;
	struct tk_req	*req = h->req;

	reply_fail_text(req, h->reason, h->text);
	held_free(h);
	req_free(req);
}

void
throttle_hold(struct tk_req *req, unsigned int secs, enum token_fail reason,
    const char *text)
{
	struct held	*h;
	struct timeval	 tv;

	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->text = strdup(text)) == NULL)
		fatal(NULL);
	h->req = req;
	req->acct = NULL;
	h->reason = reason;
	evtimer_set(&h->ev, held_fire, h);
	timerclear(&tv);
	tv.tv_sec = secs;
	evtimer_add(&h->ev, &tv);
	TAILQ_INSERT_TAIL(&held, h, entry);
}

/* The session is gone: its held answer goes nowhere. */
void
throttle_cancel_session(uint32_t sid, int page)
{
	struct held	*h, *next;

	TAILQ_FOREACH_SAFE(h, &held, entry, next) {
		if (h->req->sid != sid || h->req->ctl ||
		    h->req->page != page)
			continue;
		req_free(h->req);
		held_free(h);
	}
}

/* Shutdown: answer what is held now; forget every count. */
void
throttle_shutdown(void)
{
	struct held	*h;
	struct throttle	*t;

	while ((h = TAILQ_FIRST(&held)) != NULL) {
		reply_fail_text(h->req, h->reason, h->text);
		req_free(h->req);
		held_free(h);
	}
	while ((t = RB_ROOT(&throttles)) != NULL)
		th_remove(t);
}
