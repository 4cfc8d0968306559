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
 * The dispatch loop and the names of the message types: every value of
 * enum imsg_type in common/emailproxy.h has its own name, in the enum's
 * order; a message the peer's handler does not know is fatal and named,
 * with the peer; the end of a link, a read error and a malformed frame
 * end it the same way (the gone hook, else fatal naming the peer),
 * except that a client's malformed frame only closes its connection.
 *
 * DEPS: common/dispatch.c common/imsg.c common/imsg_buffer.c common/log.c
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <event.h>

#include "emailproxy.h"
#include "dispatch.h"
#include "imsg.h"
#include "log.h"

#define WAIT_MS		10000
#define GONE_STATUS	3

static int	 failures;

static void	 check(int, const char *, ...)
		    __attribute__((__format__(__printf__, 2, 3)));

static void
check(int ok, const char *fmt, ...)
{
	va_list	 ap;

	printf(ok ? "PASS: " : "FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok)
		failures++;
	printf("\n");
	fflush(stdout);
}

/*
 * The identifiers of enum imsg_type in the header, in order, without
 * IMSG_MAX; -1 if the header cannot be read.
 */
static int
enum_names(char names[][64], int max)
{
	char		 path[4096], line[512], *p, *q;
	const char	*top;
	FILE		*f;
	int		 n = 0, in = 0;

	if ((top = getenv("REGRESS_TOP")) == NULL)
		top = ".";
	snprintf(path, sizeof(path), "%s/common/emailproxy.h", top);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (!in) {
			in = strncmp(line, "enum imsg_type {", 16) == 0;
			continue;
		}
		if (line[0] == '}')
			break;
		for (p = line; isspace((unsigned char)*p); p++)
			;
		if (strncmp(p, "IMSG_", 5) != 0)
			continue;	/* a comment, or a blank line */
		for (q = p; isalnum((unsigned char)*q) || *q == '_'; q++)
			;
		*q = '\0';
		if (strcmp(p, "IMSG_MAX") == 0)
			break;
		if (n < max)
			strlcpy(names[n], p, sizeof(names[n]));
		n++;
	}
	fclose(f);
	return (n);
}

static void
test_names(void)
{
	char		 names[256][64];
	uint32_t	 t;
	int		 n, same = 1;

	n = enum_names(names, 256);
	check(n == IMSG_MAX, "common/emailproxy.h lists %d message types, "
	    "IMSG_MAX is %d", n, IMSG_MAX);
	for (t = 0; t < IMSG_MAX && (int)t < n; t++) {
		if (strcmp(imsg_type_name(t), names[t]) != 0) {
			check(0, "type %u is %s, named %s", t, names[t],
			    imsg_type_name(t));
			same = 0;
		}
	}
	check(same && n > 0, "every enum imsg_type value has its name "
	    "(%d types, IMSG_NONE to %s)", n, n > 0 ? names[n - 1] : "?");
	check(strncmp(imsg_type_name(IMSG_MAX), "type ", 5) == 0,
	    "a number past the catalogue is named as a number (%s)",
	    imsg_type_name(IMSG_MAX));
	check(strcmp(imsg_type_name(9999), "type 9999") == 0,
	    "type 9999 is \"type 9999\"");
}

/* The child's handler knows IMSG_CTL_DATA only. */
static int
handle(struct imsgev *iev, struct imsg *imsg)
{
	if (imsg_get_type(imsg) != IMSG_CTL_DATA)
		return (DISPATCH_UNKNOWN);
	log_warnx("handled %s", imsg_type_name(imsg_get_type(imsg)));
	return (DISPATCH_OK);
}

static void
gone(struct imsgev *iev)
{
	log_warnx("gone hook");
	exit(GONE_STATUS);
}

/*
 * A child dispatching one link (a client's if client, with the gone
 * hook if hook) gets what send() writes, then the end of the link.
 * Returns its exit status; its log is in out.
 */
static int
run(int client, int hook, void (*send)(int), char *out, size_t outsz)
{
	struct imsgev	 iev;
	struct pollfd	 pfd;
	pid_t		 pid;
	size_t		 got = 0;
	ssize_t		 n;
	int		 sv[2], errp[2], status;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    pipe(errp) == -1) {
		perror("setup");
		exit(1);
	}
	fflush(stdout);
	if ((pid = fork()) == -1) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		close(sv[0]);
		close(errp[0]);
		if (dup2(errp[1], STDERR_FILENO) == -1)
			_exit(1);
		log_init(1, LOG_DAEMON);
		event_init();
		imsgev_peer(&iev, sv[1], "testpeer", handle,
		    hook ? gone : NULL, NULL, 0, 0);
		iev.client = client;
		event_dispatch();
		log_warnx("event loop ended");
		_exit(0);
	}
	close(sv[1]);
	close(errp[1]);
	send(sv[0]);
	close(sv[0]);
	pfd.fd = errp[0];
	pfd.events = POLLIN;
	while (got < outsz - 1 && poll(&pfd, 1, WAIT_MS) == 1 &&
	    (n = read(errp[0], out + got, outsz - 1 - got)) > 0)
		got += n;
	out[got] = '\0';
	close(errp[0]);
	if (waitpid(pid, &status, 0) == -1)
		return (-1);
	return (WIFEXITED(status) ? WEXITSTATUS(status) : 128);
}

static void
send_msgs(int fd, const uint32_t *types, int n)
{
	struct imsgbuf	 ib;
	int		 i;

	if (imsgbuf_init(&ib, fd) == -1)
		exit(1);
	for (i = 0; i < n; i++)
		if (imsg_compose(&ib, types[i], 0, 0, -1, "x", 1) == -1)
			exit(1);
	if (imsgbuf_flush(&ib) == -1)
		exit(1);
	imsgbuf_clear(&ib);
}

static void
send_known_unknown(int fd)
{
	uint32_t	 t[] = { IMSG_CTL_DATA, IMSG_CTL_END };

	send_msgs(fd, t, 2);
}

static void
send_outside(int fd)
{
	uint32_t	 t[] = { 9999 };

	send_msgs(fd, t, 1);
}

static void
send_known(int fd)
{
	uint32_t	 t[] = { IMSG_CTL_DATA };

	send_msgs(fd, t, 1);
}

static void
send_bad_frame(int fd)
{
	struct imsg_hdr	 hdr;

	memset(&hdr, 0, sizeof(hdr));
	hdr.type = IMSG_CTL_DATA;
	hdr.len = 3;		/* shorter than its header */
	if (write(fd, &hdr, sizeof(hdr)) != sizeof(hdr))
		exit(1);
}

static void
test_loop(void)
{
	char	 out[4096];
	int	 st;

	st = run(0, 1, send_known_unknown, out, sizeof(out));
	check(st == 1 && strstr(out, "handled IMSG_CTL_DATA") != NULL &&
	    strstr(out, "unexpected IMSG_CTL_END from testpeer") != NULL,
	    "a known message is handled, then an unknown one is fatal, "
	    "named with its peer (status %d)", st);

	st = run(0, 1, send_outside, out, sizeof(out));
	check(st == 1 && strstr(out, "unexpected type 9999 from testpeer") !=
	    NULL, "a type outside the catalogue is fatal, named by number "
	    "(status %d)", st);

	st = run(0, 0, send_known, out, sizeof(out));
	check(st == 1 && strstr(out, "handled IMSG_CTL_DATA") != NULL &&
	    strstr(out, "lost the connection to testpeer") != NULL,
	    "the peer closing without a gone hook is fatal, naming the peer "
	    "(status %d)", st);

	st = run(0, 1, send_known, out, sizeof(out));
	check(st == GONE_STATUS && strstr(out, "gone hook") != NULL,
	    "the peer closing calls the gone hook (status %d)", st);

	st = run(0, 1, send_bad_frame, out, sizeof(out));
	check(st == 1 && strstr(out, "malformed message from testpeer") !=
	    NULL, "a malformed frame from a process is fatal, naming the "
	    "peer (status %d)", st);

	st = run(1, 1, send_bad_frame, out, sizeof(out));
	check(st == GONE_STATUS && strstr(out, "fatal") == NULL,
	    "a client's malformed frame closes its link, not the process "
	    "(status %d)", st);
}

/*
 * The writing side of a link, in this process: what is queued goes at
 * the end of the loop turn; requests held while the link is busy
 * (answers not written yet, as the control process does) are handled
 * once the answers are out; a socket that takes not all waits for
 * EV_WRITE and loses nothing.
 */
static int	 answered;
static uint32_t	 waiting;	/* the request whose answer comes later */

/* The answer, made in a later loop turn, as a peer process's would be. */
static void
answer_later(int fd, short event, void *arg)
{
	struct imsgev	*iev = arg;

	if (imsg_compose(&iev->ibuf, IMSG_CTL_END, 0, 0, -1, &waiting,
	    sizeof(waiting)) == -1)
		exit(1);
	waiting = 0;
	imsg_event_add(iev);
}

static int
answer(struct imsgev *iev, struct imsg *imsg)
{
	struct timeval	now = { 0, 0 };

	if (imsg_get_type(imsg) != IMSG_CTL_DATA ||
	    imsg_get_data(imsg, &waiting, sizeof(waiting)) == -1)
		return (DISPATCH_UNKNOWN);
	answered++;
	event_once(-1, EV_TIMEOUT, answer_later, iev, &now);
	return (DISPATCH_OK);
}

/* Busy while an answer is awaited or not written (the control process). */
static int
answers_pending(struct imsgev *iev)
{
	return (waiting != 0 || imsgbuf_queuelen(&iev->ibuf) > 0);
}

static int
readable(int fd)
{
	struct pollfd	pfd = { fd, POLLIN, 0 };

	return (poll(&pfd, 1, 0) == 1);
}

/* Add what can be read from ib to seqs (*n of them so far). */
static void
collect(struct imsgbuf *ib, uint32_t *seqs, int max, int *n)
{
	struct imsg	imsg;
	uint32_t	seq;

	if (readable(ib->fd) && imsgbuf_read(ib) != 1)
		return;
	while (imsg_get(ib, &imsg) > 0) {
		/* The sequence number opens the payload, whatever its size. */
		if (imsg_get_len(&imsg) >= sizeof(seq) && *n < max) {
			memcpy(&seq, imsg.data, sizeof(seq));
			seqs[(*n)++] = seq;
		}
		imsg_free(&imsg);
	}
}

static void
test_flush(void)
{
	struct event_base	*base;
	struct imsgev		 iev;
	struct imsgbuf		 peer;
	static uint8_t		 big[16000];	/* under the imsg limit */
	uint32_t		 seqs[64], i;
	int			 sv[2], n = 0, turns, inorder;

	/* Non-blocking, as the daemon's links are. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
		exit(1);
	base = event_init();
	imsgev_peer(&iev, sv[1], "testpeer", answer, NULL, NULL, 0, 0);
	iev.client = 1;
	iev.busy = answers_pending;
	if (imsgbuf_init(&peer, sv[0]) == -1)
		exit(1);

	/* Queued now, written at the end of the turn. */
	i = 7;
	imsg_compose_event(&iev, IMSG_CTL_END, 0, 0, -1, &i, sizeof(i));
	check(!readable(sv[0]), "a queued message is not written at once");
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	collect(&peer, seqs, 64, &n);
	check(n == 1 && seqs[0] == 7,
	    "it is written at the end of the loop turn (%d messages)", n);

	/* Six requests at once: six answers, in order. */
	n = 0;
	for (i = 1; i <= 6; i++)
		imsg_compose(&peer, IMSG_CTL_DATA, 0, 0, -1, &i, sizeof(i));
	if (imsgbuf_flush(&peer) == -1)
		exit(1);
	for (turns = 0; turns < 50 && n < 6; turns++) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		collect(&peer, seqs, 64, &n);
	}
	for (inorder = n == 6, i = 0; inorder && i < 6; i++)
		inorder = seqs[i] == i + 1;
	check(inorder && answered == 6, "six requests read at once, each "
	    "answered in a later loop turn: six answers, in order (%d, %d "
	    "handled)", n, answered);

	/* More than the socket takes: EV_WRITE, nothing lost. */
	n = 0;
	for (i = 0; i < 64; i++) {
		memcpy(big, &i, sizeof(i));
		if (imsg_compose_event(&iev, IMSG_CTL_END, 0, 0, -1, big,
		    sizeof(big)) == -1)
			check(0, "compose %u", i);
	}
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	check(iev.wblocked && imsgbuf_queuelen(&iev.ibuf) > 0,
	    "1,000 KB queued: the socket takes part, the rest waits for "
	    "EV_WRITE (queued %u)", imsgbuf_queuelen(&iev.ibuf));
	for (turns = 0; turns < 10000 && n < 64; turns++) {
		collect(&peer, seqs, 64, &n);
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
	for (inorder = n == 64, i = 0; inorder && i < 64; i++)
		inorder = seqs[i] == i;
	check(inorder && !iev.wblocked && imsgbuf_queuelen(&iev.ibuf) == 0,
	    "all 64 arrive in order once the peer reads (%d)", n);

	imsgev_clear(&iev);
	check(event_pending(&iev.ev, EV_READ | EV_WRITE, NULL) == 0 &&
	    event_pending(&iev.flushev, EV_WRITE, NULL) == 0,
	    "imsgev_clear leaves no event of the link");
	imsgbuf_clear(&peer);
	imsgbuf_clear(&iev.ibuf);
	close(sv[0]);
	close(sv[1]);
	event_base_free(base);
}

int
main(void)
{
	test_names();
	test_loop();
	test_flush();
	return (failures != 0);
}
