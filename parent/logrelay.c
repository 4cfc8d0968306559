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
 * With -d the log is the parent's standard error, which may be the
 * operator's terminal.  No child gets that descriptor (a terminal takes
 * ioctls such as TIOCSTI, which would type into the operator's shell):
 * each writes its log lines into a pipe, and the parent copies whole
 * lines from it to its own standard error.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event.h>

#include "log.h"
#include "parent.h"

/* A longer line is copied in pieces. */
#define RELAY_LINE	8192
/* A larger pipe keeps a child that logs a burst from waiting on us. */
#define RELAY_PIPE_SIZE	(1024 * 1024)

struct relay {
	TAILQ_ENTRY(relay)	 entry;
	int			 fd;
	int			 watched;
	struct event		 ev;
	size_t			 len;
	char			 buf[RELAY_LINE];
};

static TAILQ_HEAD(, relay) relays = TAILQ_HEAD_INITIALIZER(relays);
static int	enabled;	/* -d: our stderr is the log */
static int	started;

static void	relay_read(int, short, void *);

static void
relay_write(const char *p, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(STDERR_FILENO, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return;		/* nowhere to log it */
		}
		p += n;
		len -= n;
	}
}

static void
relay_free(struct relay *r)
{
	if (r->len > 0)
		relay_write(r->buf, r->len);
	if (r->watched)
		event_del(&r->ev);
	close(r->fd);
	TAILQ_REMOVE(&relays, r, entry);
	free(r);
}

/*
 * Read once and copy the whole lines read so far: 1, or -1 when there
 * was nothing to read, 0 at end of file.
 */
static int
relay_fill(struct relay *r)
{
	char	*nl;
	size_t	 done;
	ssize_t	 n;

	n = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
	if (n == -1)
		return (errno == EAGAIN || errno == EINTR ? -1 : 0);
	if (n == 0)
		return (0);
	r->len += n;
	if ((nl = memrchr(r->buf, '\n', r->len)) != NULL)
		done = nl - r->buf + 1;
	else if (r->len == sizeof(r->buf))
		done = r->len;
	else
		return (1);
	relay_write(r->buf, done);
	memmove(r->buf, r->buf + done, r->len - done);
	r->len -= done;
	return (1);
}

static void
relay_watch(struct relay *r)
{
	event_set(&r->ev, r->fd, EV_READ | EV_PERSIST, relay_read, r);
	event_add(&r->ev, NULL);
	r->watched = 1;
}

static void
relay_read(int fd, short event, void *arg)
{
	struct relay	*r = arg;

	if (relay_fill(r) == 0)
		relay_free(r);
}

/* With -d, before the first logrelay_open. */
void
logrelay_enable(void)
{
	enabled = 1;
}

/*
 * A new pipe: the write end (close-on-exec) for a process's standard
 * error, or -1 (and then /dev/null will do: without -d the log is
 * syslog).  Its lines reach ours once logrelay_start has run.
 */
int
logrelay_open(void)
{
	struct relay	*r;
	int		 p[2];

	if (!enabled)
		return (-1);
	if (pipe2(p, O_CLOEXEC) == -1) {
		log_warn("%s: pipe", __func__);
		return (-1);
	}
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) == -1)
		fatal("%s: fcntl", __func__);
	(void)fcntl(p[1], F_SETPIPE_SZ, RELAY_PIPE_SIZE);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal(NULL);
	r->fd = p[0];
	TAILQ_INSERT_TAIL(&relays, r, entry);
	if (started)
		relay_watch(r);
	return (p[1]);
}

/* After event_init: copy lines as they come. */
void
logrelay_start(void)
{
	struct relay	*r;

	started = 1;
	TAILQ_FOREACH(r, &relays, entry)
		if (!r->watched)
			relay_watch(r);
}

/* Outside the event loop (waiting for children): copy what is there. */
void
logrelay_drain(void)
{
	struct relay	*r, *t;

	int		 i, rc;

	TAILQ_FOREACH_SAFE(r, &relays, entry, t) {
		for (i = 0, rc = 1; rc == 1 && i < 64; i++)
			rc = relay_fill(r);
		if (rc == 0)
			relay_free(r);
	}
}

/*
 * The children are gone: copy the rest of what they wrote, waiting at
 * most ms for writers that remain (a notify_command still running).
 */
void
logrelay_finish(int ms)
{
	struct timespec	 start, now;
	struct pollfd	 pfd;
	struct relay	*r;
	int		 left;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while ((r = TAILQ_FIRST(&relays)) != NULL) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = ms - (int)((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000);
		pfd.fd = r->fd;
		pfd.events = POLLIN;
		if (left <= 0 || poll(&pfd, 1, left) <= 0 ||
		    relay_fill(r) == 0)
			relay_free(r);	/* copies a last partial line */
	}
}
