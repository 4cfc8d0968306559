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
 * emailproxy -M to-redis | to-file: copy every token record between the
 * files of store_dir and the Redis of redis_url, byte for byte, so that
 * an installation changes token_store without a new authorisation.
 *
 * It runs as root in the parent process before anything else (no
 * daemon needed, none disturbed): it must read and write store_dir,
 * which only root and the daemon's user may, and reach Redis, which
 * tokend may not.  Each record is checked (it must parse and name the
 * account its file name or key says) and copied unchanged; a copy to
 * Redis raises the record's version, so running instances read it at
 * their next write; files are written atomically and given to the
 * daemon's user.  Prints what it copied; exit 0, or 1 if any record
 * could not be copied.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>

#include "config.h"
#include "log.h"
#include "record.h"
#include "store.h"
#include "store_migrate.h"
#include "store_redis.h"

struct migrate {
	struct store	*files;
	struct store	*redis;
	uid_t		 uid;
	gid_t		 gid;
	unsigned int	 copied;
	unsigned int	 failed;
};

/* A migration makes one connection: nothing to ask for again. */
static void
migrate_no_reconnect(void)
{
}

/* The account a record's text names, if it is a record; else NULL. */
static char *
migrate_account(const char *text, size_t len, const char *where)
{
	struct record	 r;
	const char	*why;
	char		*account;

	if (record_decode(text, len, &r, &why) == -1) {
		log_warnx("%s: not a token record (%s); not copied", where,
		    why);
		return (NULL);
	}
	account = strdup(r.account);
	record_clear(&r);
	return (account);
}

static void
migrate_file(struct migrate *m, const char *name)
{
	char	*text, *account, want[256];
	size_t	 len;

	if (store_file_read(m->files, name, &text, &len) == -1) {
		log_warn("%s", name);
		m->failed++;
		return;
	}
	if ((account = migrate_account(text, len, name)) == NULL) {
		free(text);
		m->failed++;
		return;
	}
	if (store_name(account, want, sizeof(want)) == -1 ||
	    strcmp(want, name) != 0) {
		log_warnx("%s: names the account %s, whose file is %s; not "
		    "copied", name, account, want);
		m->failed++;
	} else if (store_redis_put(m->redis, account, text, len) == -1) {
		log_warnx("%s: the copy to Redis failed", name);
		m->failed++;
	} else {
		log_debug("%s: copied to Redis", account);
		m->copied++;
	}
	free(account);
	free(text);
}

static int
migrate_to_redis(struct migrate *m)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 n;
	int		 fd;

	if ((fd = dup(m->files->dirfd)) == -1 || (d = fdopendir(fd)) ==
	    NULL) {
		log_warn("store_dir");
		if (fd != -1)
			close(fd);
		return (-1);
	}
	/* The descriptor's offset is shared: store_init read it through. */
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (de->d_name[0] == '.' || n <= 5 ||
		    strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		migrate_file(m, de->d_name);
	}
	closedir(d);
	return (0);
}

static void
migrate_key(const char *key, size_t keylen, void *arg)
{
	struct migrate	*m = arg;
	char		*text, *account, name[256];
	size_t		 len;

	if ((text = store_redis_get(m->redis, key, keylen, &len)) == NULL) {
		log_warnx("%.*s: no record text; not copied", (int)keylen,
		    key);
		m->failed++;
		return;
	}
	if ((account = migrate_account(text, len, "a Redis record")) ==
	    NULL) {
		free(text);
		m->failed++;
		return;
	}
	if (!store_redis_key_is(m->redis, key, keylen, account)) {
		log_warnx("%.*s: names the account %s; not copied",
		    (int)keylen, key, account);
		m->failed++;
	} else if (store_file_write(m->files, account, text, len) == -1 ||
	    store_name(account, name, sizeof(name)) == -1 ||
	    fchownat(m->files->dirfd, name, m->uid, m->gid,
	    AT_SYMLINK_NOFOLLOW) == -1) {
		log_warn("%s: the copy to store_dir failed", account);
		m->failed++;
	} else {
		log_debug("%s: copied to store_dir", account);
		m->copied++;
	}
	free(account);
	free(text);
}

int
store_migrate(const struct emailproxy_conf *conf, int fd, int to_redis)
{
	struct store	 files, redis;
	struct migrate	 m;
	struct passwd	*pw;
	struct stat	 sb;

	record_init();
	event_init();
	memset(&m, 0, sizeof(m));
	if (store_init(&files, conf->store_dir) == -1) {
		close(fd);
		return (1);
	}
	/* The files belong to the daemon's user, as it writes them. */
	if ((pw = getpwnam(conf->user)) != NULL) {
		m.uid = pw->pw_uid;
		m.gid = pw->pw_gid;
	} else if (fstat(files.dirfd, &sb) == 0) {
		m.uid = sb.st_uid;
		m.gid = sb.st_gid;
	} else {
		log_warn("%s", conf->store_dir);
		close(fd);
		return (1);
	}
	if (store_init(&redis, conf->store_dir) == -1 ||
	    store_redis_init(&redis, conf->redis_key_prefix,
	    migrate_no_reconnect) == -1) {
		close(fd);
		return (1);
	}
	store_redis_fd(&redis, fd, NULL);
	if (store_writable(&redis) == -1) {
		log_warnx("Redis does not answer");
		return (1);
	}
	m.files = &files;
	m.redis = &redis;
	if (to_redis) {
		if (migrate_to_redis(&m) == -1)
			m.failed++;
	} else
		store_redis_scan(&redis, migrate_key, &m);
	printf("%u token record%s copied from %s to %s, %u not copied\n",
	    m.copied, m.copied == 1 ? "" : "s", to_redis ? conf->store_dir :
	    conf->redis_url, to_redis ? conf->redis_url : conf->store_dir,
	    m.failed);
	store_close(&redis);
	store_close(&files);
	return (m.failed > 0);
}
