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
 * The connection to the shared token store's Redis (token_store =
 * redis).  tokend has no network, so the parent, which keeps root and
 * reads the configuration's files, opens it: TCP or a unix socket
 * (redis_url), AUTH with the password of redis_password_file, SELECT
 * the database; then tokend gets the descriptor (IMSG_REDIS_FD), and
 * asks for a new one after a failure (IMSG_REDIS_CONNECT).  The
 * password never leaves the parent.  Each attempt is bounded by
 * REDIS_CONNECT_TIMEOUT; tokend spaces its requests with a back-off.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis.h>

#include "log.h"
#include "config.h"
#include "msg.h"
#include "dispatch.h"
#include "redis_url.h"
#include "secret.h"
#include "parent.h"
#include "../tokend/store_migrate.h"

#define REDIS_CONNECT_TIMEOUT	2	/* seconds, connect and each answer */
#define REDIS_PASSWORD_MAX	1024

/* The password file's first line; NULL and *why on failure. */
static char *
redis_password(const char *path, char *why, size_t whylen)
{
	char	 buf[REDIS_PASSWORD_MAX + 2], *pw;
	ssize_t	 n;
	size_t	 len;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(why, whylen, "redis_password_file %s: %s", path,
		    strerror(errno));
		return (NULL);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		snprintf(why, whylen, "redis_password_file %s: %s", path,
		    strerror(errno));
		return (NULL);
	}
	buf[n] = '\0';
	len = strcspn(buf, "\r\n");
	if (len == 0 || len > REDIS_PASSWORD_MAX) {
		snprintf(why, whylen, "redis_password_file %s: no password "
		    "on its first line", path);
		explicit_bzero(buf, sizeof(buf));
		return (NULL);
	}
	buf[len] = '\0';
	pw = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (pw == NULL)
		snprintf(why, whylen, "out of memory");
	return (pw);
}

/* A command whose answer must be +OK; 0 or -1 with why. */
static int
redis_expect_ok(redisContext *c, int argc, const char **argv,
    const size_t *lens, const char *what, char *why, size_t whylen)
{
	redisReply	*r;
	int		 rv = -1;

	if ((r = redisCommandArgv(c, argc, argv, lens)) == NULL) {
		snprintf(why, whylen, "%s: %s", what, c->errstr);
		return (-1);
	}
	if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0)
		rv = 0;
	else if (r->type == REDIS_REPLY_ERROR)
		snprintf(why, whylen, "%s: %.200s", what, r->str);
	else
		snprintf(why, whylen, "%s: unexpected answer", what);
	freeReplyObject(r);
	return (rv);
}

int
parent_redis_connect(const struct emailproxy_conf *conf, char *why,
    size_t whylen)
{
	struct redis_url	 u;
	struct timeval		 tv = { REDIS_CONNECT_TIMEOUT, 0 };
	redisContext		*c;
	const char		*argv[2], *err;
	size_t			 lens[2];
	char			*pw = NULL, db[16];
	int			 fd;

	if (conf->redis_url == NULL ||
	    redis_url_parse(conf->redis_url, &u, &err) == -1) {
		snprintf(why, whylen, "redis_url: %s", conf->redis_url ==
		    NULL ? "not set" : err);
		return (-1);
	}
	if (*u.path != '\0')
		c = redisConnectUnixWithTimeout(u.path, tv);
	else
		c = redisConnectWithTimeout(u.host, u.port, tv);
	if (c == NULL) {
		snprintf(why, whylen, "out of memory");
		return (-1);
	}
	if (c->err) {
		snprintf(why, whylen, "connect to %s: %s", conf->redis_url,
		    c->errstr);
		goto fail;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		snprintf(why, whylen, "%s: cannot set a timeout",
		    conf->redis_url);
		goto fail;
	}
	if (conf->redis_password_file != NULL) {
		if ((pw = redis_password(conf->redis_password_file, why,
		    whylen)) == NULL)
			goto fail;
		argv[0] = "AUTH";
		lens[0] = 4;
		argv[1] = pw;
		lens[1] = strlen(pw);
		if (redis_expect_ok(c, 2, argv, lens, "AUTH", why,
		    whylen) == -1)
			goto fail;
		str_freezero(pw);
		pw = NULL;
	}
	if (u.db != 0) {
		snprintf(db, sizeof(db), "%u", u.db);
		argv[0] = "SELECT";
		lens[0] = 6;
		argv[1] = db;
		lens[1] = strlen(db);
		if (redis_expect_ok(c, 2, argv, lens, "SELECT", why,
		    whylen) == -1)
			goto fail;
	}
	fd = redisFreeKeepFd(c);
	if (fd >= 0 && fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		close(fd);
		fd = -1;
		snprintf(why, whylen, "fcntl: %s", strerror(errno));
	}
	return (fd);
 fail:
	str_freezero(pw);
	redisFree(c);
	return (-1);
}

/* tokend asks for a connection: one attempt, the descriptor or why not. */
void
parent_redis_request(struct imsgev *tokend, const struct emailproxy_conf *conf)
{
	struct msgw	 w;
	char		 why[512];
	int		 fd;

	*why = '\0';
	fd = parent_redis_connect(conf, why, sizeof(why));
	if (fd == -1)
		log_debug("token store: %s", why);
	msg_begin(&w, &tokend->ibuf, IMSG_REDIS_FD, 0, fd);
	msg_put_str(&w, fd == -1 ? why : NULL);
	if (imsgev_msg_end(tokend, &w) == -1)
		fatalx("cannot queue REDIS_FD");
}

/* emailproxy -M: the connection, then the copy (tokend/store_migrate.c). */
int
parent_migrate(const struct emailproxy_conf *conf, int to_redis)
{
	char	why[512];
	int	fd;

	if (geteuid() != 0)
		log_warnx("not running as root: store_dir may not be readable");
	if ((fd = parent_redis_connect(conf, why, sizeof(why))) == -1) {
		log_warnx("token store: %s", why);
		return (1);
	}
	return (store_migrate(conf, fd, to_redis));
}
