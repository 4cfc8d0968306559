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
 * tokend/redis_io.c and the reply checks of tokend/store_redis.c
 * against hostile answers from Redis: each canned reply is written into
 * a socketpair after the request, and must give either the right value
 * or a failure that closes the connection, never a crash or a record
 * that was not asked for.
 *
 * DEPS: tokend/redis_io.c tokend/store_redis.c tokend/store.c tokend/record.c tokend/crypto.c common/log.c common/secret.c common/base64.c
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "record.h"
#include "redis_io.h"
#include "store_redis.h"

static int	failed;

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

/*
 * One request answered by the canned bytes (written by a child, then
 * the peer closes when close_after): the reply or NULL; *open whether
 * the connection is still usable afterwards.
 */
static redisReply *
exchange(const char *canned, size_t len, int close_after, int *open,
    const char **why)
{
	struct redis_conn	 c;
	const char		*argv[2] = { "HMGET", "k" };
	size_t			 lens[2] = { 5, 1 };
	redisReply		*r;
	pid_t			 pid;
	int			 sv[2], status;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	if ((pid = fork()) == -1)
		abort();
	if (pid == 0) {
		char	cmd[256];
		size_t	off = 0;
		ssize_t	n;

		close(sv[0]);
		/* The request first: a close before it would fail the write. */
		if (read(sv[1], cmd, sizeof(cmd)) <= 0)
			_exit(0);
		while (off < len) {
			if ((n = write(sv[1], canned + off, len - off)) <= 0)
				_exit(0);
			off += n;
		}
		if (!close_after)
			sleep(5);
		_exit(0);
	}
	close(sv[1]);
	redis_io_init(&c);
	if (redis_io_attach(&c, sv[0]) == -1)
		abort();
	*why = "";
	r = redis_io_command(&c, 2, argv, lens, why);
	*open = c.fd != -1;
	redis_io_close(&c);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return (r);
}

static char *
valid_record(const char *account, size_t *len)
{
	static const uint8_t	 key[TK_KEYLEN];
	struct record		 r;
	struct record_secrets	 s;
	char			*text, *out;

	memset(&r, 0, sizeof(r));
	memset(&s, 0, sizeof(s));
	r.account = (char *)account;
	r.iterations = 100000;
	r.created = 1;
	s.access_token = "access";
	if (record_seal(&r, key, &s) == -1 || (text = record_encode(&r)) ==
	    NULL)
		abort();
	free(r.ciphertext);
	if (asprintf(&out, "%s\n", text) == -1)
		abort();
	free(text);
	*len = strlen(out);
	return (out);
}

/* HMGET v d answers through the whole path: reader, then the checks. */
static int
record_answer(const char *canned, size_t len, const char *account,
    struct record *rec, int *open, const char **why)
{
	redisReply	*r;
	int		 rv;

	if ((r = exchange(canned, len, 1, open, why)) == NULL)
		return (-2);
	rv = store_redis_record_reply(r, account, rec, why);
	freeReplyObject(r);
	return (rv);
}

static void
test_records(void)
{
	struct record	 rec;
	const char	*why;
	char		*text, *canned;
	size_t		 tlen;
	int		 open, rv;

	text = valid_record("a@example.com", &tlen);
	if (asprintf(&canned, "*2\r\n$2\r\n17\r\n$%zu\r\n%s\r\n", tlen,
	    text) == -1)
		abort();
	rv = record_answer(canned, strlen(canned), "a@example.com", &rec,
	    &open, &why);
	check(rv == 1 && rec.version == 17 && open &&
	    strcmp(rec.account, "a@example.com") == 0,
	    "a well-formed record and version are read", "rv %d (%s)", rv,
	    why);
	if (rv == 1)
		record_clear(&rec);
	rv = record_answer(canned, strlen(canned), "b@example.com", &rec,
	    &open, &why);
	check(rv == -1, "a record naming another account is refused",
	    "rv %d", rv);
	free(canned);

	if (asprintf(&canned, "*2\r\n:5\r\n$%zu\r\n%s\r\n", tlen, text) ==
	    -1)
		abort();
	rv = record_answer(canned, strlen(canned), "a@example.com", &rec,
	    &open, &why);
	check(rv == 1 && rec.version == 5, "an integer version is taken",
	    "rv %d", rv);
	if (rv == 1)
		record_clear(&rec);
	free(canned);

	rv = record_answer("*2\r\n$-1\r\n$-1\r\n", 14, "a@example.com", &rec,
	    &open, &why);
	check(rv == 0, "two nils: no record", "rv %d", rv);

	static const struct {
		const char	*what;
		const char	*reply;
	} bad[] = {
		{ "a nil array", "*-1\r\n" },
		{ "one element", "*1\r\n$1\r\n1\r\n" },
		{ "three elements", "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n" },
		{ "a status instead", "+OK\r\n" },
		{ "an integer instead", ":1\r\n" },
		{ "a version that is not a number",
		    "*2\r\n$3\r\nabc\r\n$2\r\n{}\r\n" },
		{ "a negative version", "*2\r\n:-5\r\n$2\r\n{}\r\n" },
		{ "a version of 19 digits",
		    "*2\r\n$19\r\n1234567890123456789\r\n$2\r\n{}\r\n" },
		{ "text without a version", "*2\r\n$-1\r\n$2\r\n{}\r\n" },
		{ "a version without text", "*2\r\n$1\r\n1\r\n$-1\r\n" },
		{ "text that is not a record",
		    "*2\r\n$1\r\n1\r\n$9\r\n{not json\r\n" },
		{ "an empty text", "*2\r\n$1\r\n1\r\n$0\r\n\r\n" },
		{ "a nested array as text",
		    "*2\r\n$1\r\n1\r\n*1\r\n$1\r\nx\r\n" },
		{ "an error element", "*2\r\n$1\r\n1\r\n-ERR no\r\n" },
	};
	size_t	i;
	char	name[128];

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rv = record_answer(bad[i].reply, strlen(bad[i].reply),
		    "a@example.com", &rec, &open, &why);
		snprintf(name, sizeof(name), "%s is refused", bad[i].what);
		check(rv == -1 || rv == -2, name, "rv %d", rv);
		if (rv == 1)
			record_clear(&rec);
	}
	free(text);
}

static void
test_framing(void)
{
	redisReply	*r;
	const char	*why;
	char		*big;
	size_t		 n, hlen;
	int		 open;

	r = exchange("+OK\r\n", 5, 0, &open, &why);
	check(r != NULL && r->type == REDIS_REPLY_STATUS && open,
	    "one status reply is read, the connection stays", "%s", why);
	if (r != NULL)
		freeReplyObject(r);

	r = exchange("+OK\r\n+OK\r\n", 10, 0, &open, &why);
	check(r == NULL && !open, "two replies to one command: out of step, "
	    "the connection is closed", "%s", why);
	if (r != NULL)
		freeReplyObject(r);

	r = exchange("?what\r\n", 7, 0, &open, &why);
	check(r == NULL && !open, "an unknown reply type closes the "
	    "connection", "%s", why);

	r = exchange("*100000000\r\n", 12, 0, &open, &why);
	check(r == NULL && !open && strstr(why, "oversized") != NULL,
	    "an array of 10^8 elements is refused "
	    "before any allocation", "%s", why);

	r = exchange("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n"
	    ":1\r\n", 40, 0, &open, &why);
	check(r == NULL && !open, "arrays nested 9 deep are refused", "%s",
	    why);

	r = exchange("$999999999\r\nabc", 15, 1, &open, &why);
	check(r == NULL && !open, "a huge bulk string cut short: the close "
	    "fails the request", "%s", why);

	n = REDIS_REPLY_MAX + 1024;
	if ((big = malloc(n + 32)) == NULL)
		abort();
	snprintf(big, 32, "$%zu\r\n", n);
	hlen = strlen(big);
	memset(big + hlen, 'x', n);
	r = exchange(big, hlen + n, 0, &open, &why);
	check(r == NULL && !open && strstr(why, "oversized") != NULL,
	    "a reply over the size bound is refused",
	    "%s", why);
	free(big);

	r = exchange("+OK", 3, 1, &open, &why);
	check(r == NULL && !open, "a reply cut short by a close fails",
	    "%s", why);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_init(1, LOG_DAEMON);
	record_init();
	test_records();
	test_framing();
	return (failed);
}
