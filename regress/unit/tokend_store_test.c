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
 * tokend/store.c and tokend/record.c: file names, the record format,
 * round trips, mode 0600, secrets never in clear, corrupt records moved
 * aside, and a crash at every step of the atomic write leaving the old
 * or the new record, never a torn one.
 *
 * DEPS: tokend/store.c tokend/record.c tokend/crypto.c common/log.c common/secret.c common/base64.c
 */

#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "store.h"

static int	failed;
static char	dir[512];

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
}

static void
test_names(void)
{
	char	buf[256], longname[400];
	struct {
		const char *account, *file;
	} v[] = {
		{ "user@example.com", "user@example.com.json" },
		{ "../etc/passwd", "%2E.%2Fetc%2Fpasswd.json" },
		{ "a/b", "a%2Fb.json" },
		{ ".hidden@x", "%2Ehidden@x.json" },
		{ "100%@x", "100%25@x.json" },
		{ "sp ace\n@x", "sp%20ace%0A@x.json" },
		{ "\xc3\xa9@x", "%C3%A9@x.json" },
	};
	size_t	i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char	what[128];

		snprintf(what, sizeof(what), "store file name %zu is %s",
		    i + 1, v[i].file);
		check(store_name(v[i].account, buf, sizeof(buf)) == 0 &&
		    strcmp(buf, v[i].file) == 0, what, "got %s", buf);
	}
	memset(longname, 'a', 300);
	strlcpy(longname + 300, "@example.com", 100);
	check(store_name(longname, buf, sizeof(buf)) == 0 &&
	    strncmp(buf, "sha256-", 7) == 0 && strlen(buf) == 7 + 64 + 5,
	    "a long account name becomes a sha256 file name", "got %s", buf);
	check(store_name("", buf, sizeof(buf)) == -1,
	    "an empty account name has no file", "got %s", buf);
}

static void
make_record(struct record *r, const char *account, const uint8_t *key,
    const char *access, int64_t expiry)
{
	struct record_secrets	s;

	memset(r, 0, sizeof(*r));
	r->account = strdup(account);
	r->iterations = 1000;
	memset(r->salt, 7, sizeof(r->salt));
	r->access_token_expiry = expiry;
	r->created = 1700000000;
	r->last_refresh = 1700000001;
	r->last_use = 1700000002;
	memset(&s, 0, sizeof(s));
	s.access_token = (char *)access;
	s.refresh_token = "refresh-SECRET";
	if (record_seal(r, key, &s) == -1)
		abort();
}

/* The access token in the record on disk, or NULL. */
static char *
load_access(struct store *st, const char *account, const uint8_t *key)
{
	struct record		r;
	struct record_secrets	s;
	char			*a = NULL;

	if (store_load(st, account, &r) != 1)
		return (NULL);
	if (record_unseal(&r, key, &s) == 0) {
		a = s.access_token ? strdup(s.access_token) : NULL;
		record_secrets_clear(&s);
	}
	record_clear(&r);
	return (a);
}

static int
count_files(const char *prefix)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return (n);
}

static char *
file_text(const char *name)
{
	char	 path[1024], *buf;
	FILE	*fp;
	long	 n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "r")) == NULL)
		return (NULL);
	buf = calloc(1, 65536);
	n = fread(buf, 1, 65535, fp);
	fclose(fp);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return (buf);
}

static void
test_roundtrip(struct store *st)
{
	struct record		r, l;
	struct record_secrets	s;
	uint8_t			key[TK_KEYLEN], key2[TK_KEYLEN];
	char			path[1024], *text;
	struct stat		sb;
	json_t			*j;

	tk_random(key, sizeof(key));
	make_record(&r, "rt@example.com", key, "access-SECRET", 1800000000);
	check(store_save(st, &r) == 0, "record saved", "store_save failed");
	snprintf(path, sizeof(path), "%s/rt@example.com.json", dir);
	check(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0600,
	    "record file has mode 0600", "mode %o", sb.st_mode & 07777);
	text = file_text("rt@example.com.json");
	check(text != NULL && strstr(text, "access-SECRET") == NULL &&
	    strstr(text, "refresh-SECRET") == NULL,
	    "no secret appears in clear in the file", "found one");
	j = text ? json_loads(text, 0, NULL) : NULL;
	check(j != NULL &&
	    json_integer_value(json_object_get(j, "version")) == 1 &&
	    strcmp(json_string_value(json_object_get(j, "kdf")),
	    "pbkdf2-sha256") == 0 &&
	    strcmp(json_string_value(json_object_get(j, "aead")),
	    "aes-256-gcm") == 0 &&
	    json_integer_value(json_object_get(j, "iterations")) == 1000 &&
	    json_integer_value(json_object_get(j,
	    "access_token_expiry")) == 1800000000 &&
	    strcmp(json_string_value(json_object_get(j, "account")),
	    "rt@example.com") == 0,
	    "file is the documented version 1 JSON", "%s", text);
	json_decref(j);
	free(text);

	check(store_load(st, "rt@example.com", &l) == 1, "record loads",
	    "store_load failed");
	check(l.iterations == 1000 && l.access_token_expiry == 1800000000 &&
	    l.created == 1700000000 && l.last_refresh == 1700000001 &&
	    l.last_use == 1700000002 &&
	    memcmp(l.salt, r.salt, TK_SALTLEN) == 0,
	    "clear metadata round trips", "differs");
	check(record_unseal(&l, key, &s) == 0 && s.access_token &&
	    strcmp(s.access_token, "access-SECRET") == 0 && s.refresh_token &&
	    strcmp(s.refresh_token, "refresh-SECRET") == 0 &&
	    s.client_secret == NULL,
	    "secrets round trip", "differ");
	record_secrets_clear(&s);
	memcpy(key2, key, sizeof(key));
	key2[5] ^= 0x40;
	check(record_unseal(&l, key2, &s) == -1, "wrong key does not unseal",
	    "unsealed");
	/* A record copied under another account's name fails its AAD. */
	free(l.account);
	l.account = strdup("other@example.com");
	check(record_unseal(&l, key, &s) == -1,
	    "ciphertext is bound to its account", "unsealed");
	record_clear(&l);
	check(store_load(st, "none@example.com", &l) == 0,
	    "a missing record loads as none", "wrong");
	record_clear(&r);
}

static int	fault_at = -1;

static int
fault_hook(enum store_step step)
{
	return ((int)step == fault_at);
}

static void
test_crash(void)
{
	static const char *steps[] = { "create", "write", "fsync", "rename",
	    "directory fsync" };
	struct store	 st;
	struct record	 r;
	uint8_t		 key[TK_KEYLEN];
	char		 what[256], *a;
	int		 step, with_old;

	tk_random(key, sizeof(key));
	store_fault = fault_hook;
	for (with_old = 1; with_old >= 0; with_old--) {
		for (step = 0; step < STORE_STEP_MAX; step++) {
			const char *acct = with_old ? "crash@example.com" :
			    "fresh@example.com";
			const char *want;

			store_init(&st, dir);
			if (with_old) {
				fault_at = -1;
				make_record(&r, acct, key, "OLD", 1);
				store_save(&st, &r);
				record_clear(&r);
			}
			fault_at = step;
			make_record(&r, acct, key, "NEW", 2);
			store_save(&st, &r);
			record_clear(&r);
			fault_at = -1;
			/* Restart: a new tokend opens the store. */
			store_close(&st);
			store_init(&st, dir);
			a = load_access(&st, acct, key);
			want = step >= STORE_STEP_DIRSYNC ? "NEW" :
			    with_old ? "OLD" : NULL;
			snprintf(what, sizeof(what),
			    "crash before %s %s leaves %s record", steps[step],
			    with_old ? "over a record" : "of a first record",
			    want ? want : "no");
			check((a == NULL && want == NULL) || (a && want &&
			    strcmp(a, want) == 0), what, "found %s",
			    a ? a : "none");
			free(a);
			snprintf(what, sizeof(what), "no temporary or corrupt "
			    "file after a crash before %s", steps[step]);
			check(count_files(".tmp-") == 0 &&
			    count_files("crash@example.com.json.corrupt") ==
			    0 && count_files("fresh@") <= 1, what,
			    "leftovers");
			if (!with_old) {
				char p[1024];

				snprintf(p, sizeof(p), "%s/%s.json", dir, acct);
				unlink(p);
			}
			store_close(&st);
		}
	}
	store_fault = NULL;
}

static void
put_file(const char *name, const char *text)
{
	char	 path[1024];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "w")) == NULL)
		abort();
	fputs(text, fp);
	fclose(fp);
}

static void
test_corrupt(struct store *st)
{
	struct record	 r;
	uint8_t		 key[TK_KEYLEN];
	char		*t;

	put_file("bad@example.com.json", "{\"version\": 1, \"acc");
	check(store_load(st, "bad@example.com", &r) == 0,
	    "a torn record loads as none", "loaded");
	t = file_text("bad@example.com.json.corrupt");
	check(t != NULL && strcmp(t, "{\"version\": 1, \"acc") == 0 &&
	    count_files("bad@example.com.json") == 1,
	    "the torn record is kept as NAME.corrupt", "missing");
	free(t);
	put_file("bad@example.com.json", "{\"version\": 2}");
	check(store_load(st, "bad@example.com", &r) == 0 &&
	    (t = file_text("bad@example.com.json.corrupt.1")) != NULL,
	    "a second bad record goes to NAME.corrupt.1, the first is kept",
	    "missing");
	free(t);

	tk_random(key, sizeof(key));
	make_record(&r, "swap@example.com", key, "X", 1);
	store_save(st, &r);
	record_clear(&r);
	{
		char from[1024], to[1024];

		snprintf(from, sizeof(from), "%s/swap@example.com.json", dir);
		snprintf(to, sizeof(to), "%s/victim@example.com.json", dir);
		rename(from, to);
	}
	check(store_load(st, "victim@example.com", &r) == 0 &&
	    count_files("victim@example.com.json.corrupt") == 1,
	    "a record naming another account is moved aside", "loaded");
}

int
main(void)
{
	struct store	 st;
	const char	*tmp;

	log_init(1, LOG_DAEMON);
	record_init();
	if ((tmp = getenv("REGRESS_TMP")) == NULL)
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/tokend_store_XXXXXX", tmp);
	if (mkdtemp(dir) == NULL) {
		printf("FAIL: mkdtemp: cannot make %s\n", dir);
		return (1);
	}
	test_names();
	if (store_init(&st, dir) == -1) {
		printf("FAIL: store_init\n");
		return (1);
	}
	test_roundtrip(&st);
	test_corrupt(&st);
	store_close(&st);
	test_crash();
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		system(cmd);
	}
	return (failed);
}
