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
 * Redis I/O for the shared token store (store_redis.c).
 *
 * tokend has no network: its seccomp filter has neither socket nor
 * connect.  The parent connects to Redis (and authenticates), then
 * passes the descriptor (parent/redis.c).  hiredis 0.14, Debian 12's,
 * cannot give its asynchronous API and libevent adapter a descriptor
 * it did not connect itself (REDIS_CONN_USERFD came in 1.0), so this
 * file uses only hiredis's command formatting (redisFormatCommandArgv)
 * and reply parser (redisReader) and does the reads and writes itself.
 *
 * A request is synchronous, as the store interface (store.h) is, and
 * bounded: REDIS_IO_TIMEOUT_MS for the whole exchange, REDIS_REPLY_MAX
 * bytes, REDIS_ARRAY_MAX elements.  On the unix socket or private
 * network Redis belongs on, a round trip takes well under a
 * millisecond, less than the KDF that also runs on tokend's loop.
 * Any failure closes the descriptor; until the parent sends another,
 * every request fails at once without waiting.
 */

#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "redis_io.h"

/* hiredis's own reply functions (not exported), and ours around them. */
static redisReplyObjectFunctions	 default_fns, bounded_fns;
static int				 bounded_ready;

static void *
bounded_array(const redisReadTask *task, int elements)
{
	if (elements < 0 || elements > REDIS_ARRAY_MAX)
		return (NULL);
	return (default_fns.createArray(task, elements));
}

static void *
bounded_string(const redisReadTask *task, char *str, size_t len)
{
	if (len > REDIS_REPLY_MAX)
		return (NULL);
	return (default_fns.createString(task, str, len));
}

redisReader *
redis_io_reader(void)
{
	redisReader	*r;

	if ((r = redisReaderCreate()) == NULL)
		return (NULL);
	if (!bounded_ready) {
		default_fns = bounded_fns = *r->fn;
		bounded_fns.createArray = bounded_array;
		bounded_fns.createString = bounded_string;
		bounded_ready = 1;
	}
	r->fn = &bounded_fns;
	return (r);
}

void
redis_io_init(struct redis_conn *c)
{
	c->fd = -1;
	c->reader = NULL;
}

int
redis_io_attach(struct redis_conn *c, int fd)
{
	int	flags;

	redis_io_close(c);
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    (c->reader = redis_io_reader()) == NULL) {
		close(fd);
		return (-1);
	}
	c->fd = fd;
	return (0);
}

void
redis_io_close(struct redis_conn *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	if (c->reader != NULL)
		redisReaderFree(c->reader);
	c->reader = NULL;
}

static int64_t
redis_io_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Wait for events on the descriptor until the deadline; 0 or -1. */
static int
redis_io_wait(struct redis_conn *c, short events, int64_t deadline,
    const char **why)
{
	struct pollfd	pfd;
	int64_t		left;
	int		n;

	for (;;) {
		if ((left = deadline - redis_io_now()) <= 0) {
			*why = "no answer in time";
			return (-1);
		}
		pfd.fd = c->fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, (int)left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			*why = strerror(errno);
			return (-1);
		}
		if (n == 1)
			return (0);
	}
}

redisReply *
redis_io_command(struct redis_conn *c, int argc, const char **argv,
    const size_t *argvlen, const char **why)
{
	char		*cmd = NULL, buf[16384];
	void		*reply = NULL;
	int64_t		 deadline;
	size_t		 got = 0;
	ssize_t		 n;
	int		 len, off = 0;

	if (c->fd == -1) {
		*why = "not connected";
		return (NULL);
	}
	deadline = redis_io_now() + REDIS_IO_TIMEOUT_MS;
	if ((len = redisFormatCommandArgv(&cmd, argc, argv, argvlen)) < 0) {
		*why = "out of memory";
		goto fail;
	}
	while (off < len) {
		n = write(c->fd, cmd + off, len - off);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			if (redis_io_wait(c, POLLOUT, deadline, why) == -1)
				goto fail;
			continue;
		}
		if (n == -1) {
			*why = strerror(errno);
			goto fail;
		}
		off += n;
	}
	free(cmd);
	cmd = NULL;
	for (;;) {
		if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
			*why = "a malformed or oversized reply";
			goto fail;
		}
		if (reply != NULL) {
			/* One command, one reply: more is out of step. */
			if (c->reader->pos < c->reader->len) {
				freeReplyObject(reply);
				*why = "more than one reply";
				goto fail;
			}
			return (reply);
		}
		if (redis_io_wait(c, POLLIN, deadline, why) == -1)
			goto fail;
		n = read(c->fd, buf, sizeof(buf));
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n == -1) {
			*why = strerror(errno);
			goto fail;
		}
		if (n == 0) {
			*why = "connection closed";
			goto fail;
		}
		if ((got += n) > REDIS_REPLY_MAX + 64 ||
		    redisReaderFeed(c->reader, buf, n) != REDIS_OK) {
			*why = "an oversized reply";
			goto fail;
		}
	}
 fail:
	free(cmd);
	redis_io_close(c);
	return (NULL);
}
