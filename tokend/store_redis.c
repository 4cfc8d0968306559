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
 * The shared token store: the same records in Redis, for several
 * instances of emailproxy (token_store = redis).
 *
 * Keys, each after redis_key_prefix:
 *	record:ACCOUNT		a hash: "d" the record's text, byte for byte
 *				what the file store writes (record.h, with
 *				its final newline), "v" its version, raised
 *				by every write
 *	forgotten:ACCOUNT	the mark of store_forget_mark
 *	lock:ACCOUNT		the refresh lock: a random owner id per
 *				process, with an expiry
 *
 * A write is a compare-and-set (SAVE_SCRIPT): it replaces the version
 * it read, else nothing happens and the caller hears STORE_CONFLICT.
 * The lock is released only by its owner (UNLOCK_SCRIPT).  Redis sees
 * records only as tokend seals them: never a token in clear.
 *
 * The connection comes from the parent (redis_io.c).  When it fails,
 * every request fails at once (STORE_DOWN) and the outage is logged
 * once; a timer asks the parent for a new one with a back-off of
 * 1 s doubling to REDIS_BACKOFF_MAX, and the first request that works
 * logs the end of the outage.
 */

#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event.h>

#include "log.h"
#include "store.h"
#include "store_redis.h"
#include "redis_io.h"

#define REDIS_BACKOFF_MAX	30	/* seconds between connection tries */
#define REDIS_LIST_MAX		100000	/* records store_list visits */

/* KEYS[1] record; ARGV[1] the version replaced ("0": none), ARGV[2] text */
static const char SAVE_SCRIPT[] =
    "local v = redis.call('HGET', KEYS[1], 'v') or '0'\n"
    "if v ~= ARGV[1] then return -1 end\n"
    "local n = redis.call('HINCRBY', KEYS[1], 'v', 1)\n"
    "redis.call('HSET', KEYS[1], 'd', ARGV[2])\n"
    "return n\n";

/* KEYS[1] record; ARGV[1] text: a copy (emailproxy -M), a new version */
static const char COPY_SCRIPT[] =
    "local n = redis.call('HINCRBY', KEYS[1], 'v', 1)\n"
    "redis.call('HSET', KEYS[1], 'd', ARGV[1])\n"
    "return n\n";

/* KEYS[1] lock; ARGV[1] owner */
static const char UNLOCK_SCRIPT[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0\n";

struct store_redis {
	struct redis_conn	 conn;
	char			*prefix;
	char			 owner[33];
	int			 down;		/* the outage is logged */
	int			 asked;		/* a REDIS_CONNECT is out */
	time_t			 down_since;
	unsigned int		 backoff;
	struct event		 retry_ev;
	void			(*ask)(void);
	char			 why[256];	/* the last failure */
};

static int	 sr_load(struct store *, const char *, struct record *);
static int	 sr_save(struct store *, struct record *);
static int	 sr_writable(struct store *);
static int	 sr_has(struct store *, const char *);
static int	 sr_remove(struct store *, const char *);
static int	 sr_forget_mark(struct store *, const char *);
static int	 sr_forgotten(struct store *, const char *);
static int	 sr_forget_clear(struct store *, const char *);
static void	 sr_list(struct store *, void (*)(const struct record *,
		    void *), void *);
static int	 sr_lock(struct store *, const char *, unsigned int);
static void	 sr_unlock(struct store *, const char *);
static int	 sr_available(struct store *);
static void	 sr_close(struct store *);

static const struct store_ops redis_ops = {
	sr_load, sr_save, sr_writable, sr_has, sr_remove, sr_forget_mark,
	sr_forgotten, sr_forget_clear, sr_list, sr_lock, sr_unlock,
	sr_available, sr_close
};

static void
sr_retry(int fd, short ev, void *arg)
{
	struct store_redis	*sr = arg;

	if (sr->conn.fd != -1 || sr->asked)
		return;
	sr->asked = 1;
	sr->ask();
}

static void
sr_schedule(struct store_redis *sr)
{
	struct timeval	tv;

	if (sr->asked || evtimer_pending(&sr->retry_ev, NULL))
		return;
	timerclear(&tv);
	tv.tv_sec = sr->backoff;
	evtimer_add(&sr->retry_ev, &tv);
	sr->backoff = sr->backoff * 2 > REDIS_BACKOFF_MAX ?
	    REDIS_BACKOFF_MAX : sr->backoff * 2;
}

/* A failed request or connection: logged once per outage. */
static void
sr_failed(struct store_redis *sr, const char *why)
{
	redis_io_close(&sr->conn);
	strlcpy(sr->why, why, sizeof(sr->why));
	if (!sr->down) {
		sr->down = 1;
		sr->down_since = time(NULL);
		log_warnx("token store: Redis is unavailable (%s); logins "
		    "that need a token record or a refresh fail until it is "
		    "back", why);
	}
	sr_schedule(sr);
}

int
store_redis_init(struct store *st, const char *prefix, void (*ask)(void))
{
	struct store_redis	*sr;
	uint8_t			 rnd[16];
	size_t			 i;

	if ((sr = calloc(1, sizeof(*sr))) == NULL ||
	    (sr->prefix = strdup(prefix != NULL ? prefix : "")) == NULL) {
		free(sr);
		return (-1);
	}
	redis_io_init(&sr->conn);
	tk_random(rnd, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(sr->owner + 2 * i, 3, "%02x", rnd[i]);
	sr->ask = ask;
	sr->backoff = 1;
	evtimer_set(&sr->retry_ev, sr_retry, sr);
	strlcpy(sr->why, "not connected yet", sizeof(sr->why));
	st->be = sr;
	st->ops = &redis_ops;
	/* The first connection: at once. */
	sr->asked = 1;
	sr->ask();
	return (0);
}

void
store_redis_fd(struct store *st, int fd, const char *why)
{
	struct store_redis	*sr = st->be;

	if (st->ops != &redis_ops) {
		if (fd != -1)
			close(fd);
		return;
	}
	sr->asked = 0;
	if (fd == -1) {
		sr_failed(sr, why != NULL ? why : "no connection");
		return;
	}
	if (redis_io_attach(&sr->conn, fd) == -1) {
		sr_failed(sr, "cannot use the connection");
		return;
	}
	/* Whether it works, the next request tells. */
	sr->backoff = 1;
}

const char *
store_redis_state(struct store *st, int64_t *since)
{
	struct store_redis	*sr = st->be;

	if (st->ops != &redis_ops)
		return (NULL);
	*since = sr->down ? sr->down_since : 0;
	return (sr->down ? sr->why : NULL);
}

/* One command; the reply, or NULL with the store marked down. */
static redisReply *
sr_cmd(struct store_redis *sr, int argc, const char **argv,
    const size_t *lens)
{
	redisReply	*r;
	const char	*why;

	if (sr->conn.fd == -1) {
		if (!sr->down)
			sr_failed(sr, sr->why);
		return (NULL);
	}
	if ((r = redis_io_command(&sr->conn, argc, argv, lens, &why)) ==
	    NULL) {
		sr_failed(sr, why);
		return (NULL);
	}
	if (r->type == REDIS_REPLY_ERROR) {
		/* Redis answered: the connection works, the command not. */
		log_warnx("token store: Redis refused %s: %.200s", argv[0],
		    r->str);
		freeReplyObject(r);
		return (NULL);
	}
	if (sr->down) {
		log_warnx("token store: Redis is available again after %lld "
		    "s", (long long)(time(NULL) - sr->down_since));
		sr->down = 0;
	}
	return (r);
}

/* prefix + kind + account, in buf; -1 if it does not fit. */
static int
sr_key(struct store_redis *sr, const char *kind, const char *account,
    char *buf, size_t len)
{
	int	n;

	n = snprintf(buf, len, "%s%s:%s", sr->prefix, kind, account);
	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

/* A one-key command: the reply or NULL (down, refused). */
static redisReply *
sr_cmd_key(struct store_redis *sr, const char *cmd, const char *kind,
    const char *account)
{
	const char	*argv[2];
	size_t		 lens[2];
	char		 key[1024];

	if (sr_key(sr, kind, account, key, sizeof(key)) == -1)
		return (NULL);
	argv[0] = cmd;
	argv[1] = key;
	lens[0] = strlen(cmd);
	lens[1] = strlen(key);
	return (sr_cmd(sr, 2, argv, lens));
}

/* What a failed command means: down, or refused (-1). */
static int
sr_fail(struct store_redis *sr)
{
	return (sr->conn.fd == -1 ? STORE_DOWN : -1);
}

int
store_redis_version(const redisReply *r, uint64_t *out)
{
	unsigned long long	 n = 0;
	size_t			 i;

	if (r->type == REDIS_REPLY_INTEGER) {
		if (r->integer < 0)
			return (-1);
		*out = (uint64_t)r->integer;
		return (0);
	}
	if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 18)
		return (-1);
	for (i = 0; i < r->len; i++) {
		if (r->str[i] < '0' || r->str[i] > '9')
			return (-1);
		n = n * 10 + (r->str[i] - '0');
	}
	*out = n;
	return (0);
}

int
store_redis_record_reply(const redisReply *r, const char *account,
    struct record *rec, const char **why)
{
	const redisReply	*v, *d;

	memset(rec, 0, sizeof(*rec));
	*why = "not a two-element array";
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
		return (-1);
	v = r->element[0];
	d = r->element[1];
	if (v->type == REDIS_REPLY_NIL && d->type == REDIS_REPLY_NIL)
		return (0);
	*why = "a version that is not a number";
	if (v->type == REDIS_REPLY_NIL || store_redis_version(v,
	    &rec->version) == -1)
		return (-1);
	*why = "no record text of sane size";
	if (d->type != REDIS_REPLY_STRING || d->len == 0 ||
	    d->len > RECORD_MAXSIZE)
		return (-1);
	if (record_decode(d->str, d->len, rec, why) == -1) {
		memset(rec, 0, sizeof(*rec));
		return (-1);
	}
	rec->version = 0;
	(void)store_redis_version(v, &rec->version);
	if (account != NULL && strcmp(rec->account, account) != 0) {
		record_clear(rec);
		*why = "it names another account";
		return (-1);
	}
	return (1);
}

/* An unusable record is renamed aside (never deleted) and logged. */
static void
sr_quarantine(struct store_redis *sr, const char *account, const char *why)
{
	const char	*argv[3];
	size_t		 lens[3];
	char		 key[1024], aside[1024];
	redisReply	*r;

	if (sr_key(sr, "record", account, key, sizeof(key)) == -1 ||
	    sr_key(sr, "corrupt", account, aside, sizeof(aside)) == -1)
		return;
	argv[0] = "RENAME";
	argv[1] = key;
	argv[2] = aside;
	lens[0] = 6;
	lens[1] = strlen(key);
	lens[2] = strlen(aside);
	if ((r = sr_cmd(sr, 3, argv, lens)) != NULL)
		freeReplyObject(r);
	log_warnx("token store: the record of %s in Redis is unusable (%s); "
	    "moved to %s", account, why, aside);
}

static int
sr_load(struct store *st, const char *account, struct record *rec)
{
	struct store_redis	*sr = st->be;
	const char		*argv[4], *why;
	size_t			 lens[4];
	char			 key[1024];
	redisReply		*r;
	int			 rv;

	memset(rec, 0, sizeof(*rec));
	if (sr_key(sr, "record", account, key, sizeof(key)) == -1)
		return (-1);
	argv[0] = "HMGET";
	argv[1] = key;
	argv[2] = "v";
	argv[3] = "d";
	lens[0] = 5;
	lens[1] = strlen(key);
	lens[2] = lens[3] = 1;
	if ((r = sr_cmd(sr, 4, argv, lens)) == NULL)
		return (sr_fail(sr));
	rv = store_redis_record_reply(r, account, rec, &why);
	freeReplyObject(r);
	if (rv == -1) {
		sr_quarantine(sr, account, why);
		return (0);
	}
	return (rv);
}

static int
sr_save(struct store *st, struct record *rec)
{
	struct store_redis	*sr = st->be;
	const char		*argv[6];
	size_t			 lens[6];
	char			 key[1024], ver[24], *text, *data;
	redisReply		*r;
	uint64_t		 n;
	int			 rv = -1;

	if (sr_key(sr, "record", rec->account, key, sizeof(key)) == -1) {
		log_warnx("token store: no Redis key for this account");
		return (-1);
	}
	if ((text = record_encode(rec)) == NULL) {
		log_warnx("token store: cannot encode the record of %s",
		    rec->account);
		return (-1);
	}
	/* The file store's bytes: the text and a newline. */
	if (asprintf(&data, "%s\n", text) == -1) {
		free(text);
		return (-1);
	}
	free(text);
	snprintf(ver, sizeof(ver), "%llu", (unsigned long long)rec->version);
	argv[0] = "EVAL";
	argv[1] = SAVE_SCRIPT;
	argv[2] = "1";
	argv[3] = key;
	argv[4] = ver;
	argv[5] = data;
	lens[0] = 4;
	lens[1] = strlen(SAVE_SCRIPT);
	lens[2] = 1;
	lens[3] = strlen(key);
	lens[4] = strlen(ver);
	lens[5] = strlen(data);
	r = sr_cmd(sr, 6, argv, lens);
	free(data);
	if (r == NULL)
		return (-1);
	if (r->type == REDIS_REPLY_INTEGER && r->integer == -1)
		rv = STORE_CONFLICT;
	else if (r->type == REDIS_REPLY_INTEGER && r->integer > 0 &&
	    store_redis_version(r, &n) == 0) {
		rec->version = n;
		rv = 0;
	} else
		log_warnx("token store: Redis answered a write of %s with "
		    "something else than a version", rec->account);
	freeReplyObject(r);
	return (rv);
}

static int
sr_writable(struct store *st)
{
	struct store_redis	*sr = st->be;
	const char		*argv[1] = { "PING" };
	size_t			 lens[1] = { 4 };
	redisReply		*r;
	int			 rv = -1;

	if ((r = sr_cmd(sr, 1, argv, lens)) == NULL) {
		errno = EIO;
		return (-1);
	}
	if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0)
		rv = 0;
	freeReplyObject(r);
	if (rv == -1)
		errno = EIO;
	return (rv);
}

/* An integer command on one key: its value, or STORE_DOWN / -1. */
static int
sr_int_key(struct store *st, const char *cmd, const char *kind,
    const char *account)
{
	struct store_redis	*sr = st->be;
	redisReply		*r;
	int			 rv;

	if ((r = sr_cmd_key(sr, cmd, kind, account)) == NULL)
		return (sr_fail(sr));
	rv = r->type == REDIS_REPLY_INTEGER && r->integer >= 0 ?
	    (r->integer > 0) : -1;
	freeReplyObject(r);
	return (rv);
}

static int
sr_has(struct store *st, const char *account)
{
	return (sr_int_key(st, "EXISTS", "record", account));
}

static int
sr_remove(struct store *st, const char *account)
{
	int	rv = sr_int_key(st, "DEL", "record", account);

	return (rv == STORE_DOWN ? -1 : rv);
}

static int
sr_forget_mark(struct store *st, const char *account)
{
	struct store_redis	*sr = st->be;
	const char		*argv[3];
	size_t			 lens[3];
	char			 key[1024];
	redisReply		*r;

	if (sr_key(sr, "forgotten", account, key, sizeof(key)) == -1)
		return (-1);
	argv[0] = "SET";
	argv[1] = key;
	argv[2] = "1";
	lens[0] = 3;
	lens[1] = strlen(key);
	lens[2] = 1;
	if ((r = sr_cmd(sr, 3, argv, lens)) == NULL)
		return (-1);
	freeReplyObject(r);
	return (0);
}

static int
sr_forgotten(struct store *st, const char *account)
{
	/* Unknown while down: nothing is imported meanwhile. */
	return (sr_int_key(st, "EXISTS", "forgotten", account) != 0);
}

static int
sr_forget_clear(struct store *st, const char *account)
{
	return (sr_int_key(st, "DEL", "forgotten", account) < 0 ? -1 : 0);
}

/* The MATCH pattern of every record key: the prefix with globs escaped. */
static int
sr_pattern(struct store_redis *sr, char *buf, size_t len)
{
	const char	*p;
	size_t		 o = 0;

	for (p = sr->prefix; *p != '\0'; p++) {
		if (o + 3 >= len)
			return (-1);
		if (strchr("*?[]\\", *p) != NULL)
			buf[o++] = '\\';
		buf[o++] = *p;
	}
	if (o + sizeof("record:*") > len)
		return (-1);
	memcpy(buf + o, "record:*", sizeof("record:*"));
	return (0);
}

void
store_redis_scan(struct store *st, void (*fn)(const char *, size_t,
    void *), void *arg)
{
	struct store_redis	*sr = st->be;
	const char		*argv[6];
	size_t			 lens[6], i, seen = 0;
	char			 cursor[32], pattern[1024];
	redisReply		*r, *keys;

	if (sr_pattern(sr, pattern, sizeof(pattern)) == -1)
		return;
	strlcpy(cursor, "0", sizeof(cursor));
	do {
		argv[0] = "SCAN";
		argv[1] = cursor;
		argv[2] = "MATCH";
		argv[3] = pattern;
		argv[4] = "COUNT";
		argv[5] = "200";
		for (i = 0; i < 6; i++)
			lens[i] = strlen(argv[i]);
		if ((r = sr_cmd(sr, 6, argv, lens)) == NULL)
			return;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[0]->len >= sizeof(cursor) ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			log_warnx("token store: a malformed SCAN answer");
			freeReplyObject(r);
			return;
		}
		memcpy(cursor, r->element[0]->str, r->element[0]->len);
		cursor[r->element[0]->len] = '\0';
		keys = r->element[1];
		for (i = 0; i < keys->elements && seen < REDIS_LIST_MAX;
		    i++, seen++)
			if (keys->element[i]->type == REDIS_REPLY_STRING)
				fn(keys->element[i]->str,
				    keys->element[i]->len, arg);
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0 && seen < REDIS_LIST_MAX);
}

/* The text of the record under a full key: malloc'd, or NULL. */
char *
store_redis_get(struct store *st, const char *key, size_t keylen,
    size_t *len)
{
	struct store_redis	*sr = st->be;
	const char		*argv[3];
	size_t			 lens[3];
	redisReply		*r;
	char			*text = NULL;

	argv[0] = "HGET";
	argv[1] = key;
	argv[2] = "d";
	lens[0] = 4;
	lens[1] = keylen;
	lens[2] = 1;
	if ((r = sr_cmd(sr, 3, argv, lens)) == NULL)
		return (NULL);
	if (r->type == REDIS_REPLY_STRING && r->len <= RECORD_MAXSIZE &&
	    (text = malloc(r->len + 1)) != NULL) {
		memcpy(text, r->str, r->len);
		text[r->len] = '\0';
		*len = r->len;
	}
	freeReplyObject(r);
	return (text);
}

int
store_redis_put(struct store *st, const char *account, const char *text,
    size_t len)
{
	struct store_redis	*sr = st->be;
	const char		*argv[5];
	size_t			 lens[5];
	char			 key[1024];
	redisReply		*r;
	int			 rv;

	if (sr_key(sr, "record", account, key, sizeof(key)) == -1)
		return (-1);
	argv[0] = "EVAL";
	argv[1] = COPY_SCRIPT;
	argv[2] = "1";
	argv[3] = key;
	argv[4] = text;
	lens[0] = 4;
	lens[1] = strlen(COPY_SCRIPT);
	lens[2] = 1;
	lens[3] = strlen(key);
	lens[4] = len;
	if ((r = sr_cmd(sr, 5, argv, lens)) == NULL)
		return (-1);
	rv = r->type == REDIS_REPLY_INTEGER && r->integer > 0 ? 0 : -1;
	freeReplyObject(r);
	return (rv);
}

int
store_redis_key_is(struct store *st, const char *key, size_t keylen,
    const char *account)
{
	struct store_redis	*sr = st->be;
	char			 want[1024];

	return (sr_key(sr, "record", account, want, sizeof(want)) == 0 &&
	    strlen(want) == keylen && memcmp(want, key, keylen) == 0);
}

struct sr_list_arg {
	struct store	*st;
	void		(*fn)(const struct record *, void *);
	void		*arg;
};

static void
sr_list_one(const char *key, size_t keylen, void *arg)
{
	struct sr_list_arg	*la = arg;
	struct record		 r;
	const char		*why;
	char			*text;
	size_t			 len;

	if ((text = store_redis_get(la->st, key, keylen, &len)) == NULL)
		return;
	if (record_decode(text, len, &r, &why) == 0) {
		la->fn(&r, la->arg);
		record_clear(&r);
	}
	free(text);
}

static void
sr_list(struct store *st, void (*fn)(const struct record *, void *),
    void *arg)
{
	struct sr_list_arg	la = { st, fn, arg };

	store_redis_scan(st, sr_list_one, &la);
}

static int
sr_lock(struct store *st, const char *account, unsigned int ms)
{
	struct store_redis	*sr = st->be;
	const char		*argv[6];
	size_t			 lens[6];
	char			 key[1024], ttl[16];
	redisReply		*r;
	int			 rv;

	if (sr_key(sr, "lock", account, key, sizeof(key)) == -1)
		return (-1);
	snprintf(ttl, sizeof(ttl), "%u", ms);
	argv[0] = "SET";
	argv[1] = key;
	argv[2] = sr->owner;
	argv[3] = "NX";
	argv[4] = "PX";
	argv[5] = ttl;
	lens[0] = 3;
	lens[1] = strlen(key);
	lens[2] = strlen(sr->owner);
	lens[3] = lens[4] = 2;
	lens[5] = strlen(ttl);
	if ((r = sr_cmd(sr, 6, argv, lens)) == NULL)
		return (STORE_DOWN);
	if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0)
		rv = 1;
	else if (r->type == REDIS_REPLY_NIL)
		rv = 0;
	else
		rv = STORE_DOWN;
	freeReplyObject(r);
	return (rv);
}

static void
sr_unlock(struct store *st, const char *account)
{
	struct store_redis	*sr = st->be;
	const char		*argv[5];
	size_t			 lens[5];
	char			 key[1024];
	redisReply		*r;

	if (sr_key(sr, "lock", account, key, sizeof(key)) == -1)
		return;
	argv[0] = "EVAL";
	argv[1] = UNLOCK_SCRIPT;
	argv[2] = "1";
	argv[3] = key;
	argv[4] = sr->owner;
	lens[0] = 4;
	lens[1] = strlen(UNLOCK_SCRIPT);
	lens[2] = 1;
	lens[3] = strlen(key);
	lens[4] = strlen(sr->owner);
	/* Not released: it expires. */
	if ((r = sr_cmd(sr, 5, argv, lens)) != NULL)
		freeReplyObject(r);
}

static int
sr_available(struct store *st)
{
	struct store_redis	*sr = st->be;

	return (!sr->down);
}

static void
sr_close(struct store *st)
{
	struct store_redis	*sr = st->be;

	if (sr == NULL)
		return;
	evtimer_del(&sr->retry_ev);
	redis_io_close(&sr->conn);
	free(sr->prefix);
	free(sr);
	st->be = NULL;
}
