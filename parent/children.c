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
 * Starting the children: socketpairs between the parent and each child
 * and between the peers that talk (proxy-tokend, tokend-authd, and the
 * control process with the proxy, tokend and authd); fork, put the
 * sockets on their fixed descriptors, and re-execute ourselves with the
 * hidden -P flag so each child has a fresh address space.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "emailproxy.h"
#include "config.h"
#include "log.h"
#include "proc.h"
#include "parent.h"

struct child	children[PROC_MAX] = {
	[PROC_PROXY] =	{ .proc = PROC_PROXY,	.name = "proxy" },
	[PROC_TOKEND] =	{ .proc = PROC_TOKEND,	.name = "tokend" },
	[PROC_AUTHD] =	{ .proc = PROC_AUTHD,	.name = "authd" },
	[PROC_CONTROL] = { .proc = PROC_CONTROL, .name = "control" },
};

/* Every link between two processes, a socketpair each. */
static const struct {
	enum emailproxy_proc	a, b;
} links[] = {
	{ PROC_PARENT, PROC_PROXY },
	{ PROC_PARENT, PROC_TOKEND },
	{ PROC_PARENT, PROC_AUTHD },
	{ PROC_PARENT, PROC_CONTROL },
	{ PROC_PROXY, PROC_TOKEND },
	{ PROC_TOKEND, PROC_AUTHD },
	{ PROC_PROXY, PROC_CONTROL },
	{ PROC_TOKEND, PROC_CONTROL },
	{ PROC_AUTHD, PROC_CONTROL },
};

/* The most descriptors a child is given: the control process's. */
#define CHILD_FDS	5

extern char	**environ;

static void
socketpair_or_die(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    PF_UNSPEC, sv) == -1)
		fatal("socketpair");
}

/*
 * Fork and exec one child.  fds[i] lands on descriptor 3 + i; every
 * other descriptor above stderr is closed.  Standard input and output
 * are /dev/null and standard error is errfd: never the descriptors the
 * parent was given, which may be the operator's terminal.
 */
static pid_t
start_child(const char *self, const char *name, int *fds, int nfds,
    int devnull, int errfd, const struct parent_opts *opts)
{
	char	*argv[16];
	int	 argc = 0, i, v, high[CHILD_FDS];
	pid_t	 pid;

	switch (pid = fork()) {
	case -1:
		fatal("fork %s", name);
	case 0:
		break;
	default:
		return (pid);
	}

	/* Move out of the way first: a target may hold another source. */
	for (i = 0; i < nfds; i++)
		if ((high[i] = fcntl(fds[i], F_DUPFD, 64)) == -1)
			fatal("dup");
	if (dup2(devnull, STDIN_FILENO) == -1 ||
	    dup2(devnull, STDOUT_FILENO) == -1 ||
	    dup2(errfd, STDERR_FILENO) == -1)
		fatal("dup2");
	for (i = 0; i < nfds; i++)
		if (dup2(high[i], PARENT_SOCK_FILENO + i) == -1)
			fatal("dup2");
	closefrom(PARENT_SOCK_FILENO + nfds);

	argv[argc++] = (char *)EMAILPROXY_NAME;
	argv[argc++] = (char *)"-P";
	argv[argc++] = (char *)name;
	if (opts->debug)
		argv[argc++] = (char *)"-d";
	for (v = 0; v < opts->verbose && v < 3; v++)
		argv[argc++] = (char *)"-v";
	argv[argc] = NULL;
#ifdef SANITIZE
	/*
	 * LeakSanitizer cannot trace a chrooted, non-dumpable process;
	 * leaks are checked in the parent and in the unit tests.
	 */
	setenv("ASAN_OPTIONS", "detect_leaks=0:exitcode=86", 1);
#endif
	execve(self, argv, environ);
	fatal("execve %s", self);
}

/*
 * Each child gets its end of its link to the parent on descriptor 3,
 * then its ends of the links to the other children in the order of
 * enum emailproxy_proc (the table in emailproxy.h); the control
 * process also gets the listening control socket.
 */
void
children_start(const char *self, const struct parent_opts *opts)
{
	int	 sock[PROC_MAX][PROC_MAX];	/* [a][b]: a's end to b */
	int	 sv[2], fds[CHILD_FDS], nfds, i, j, devnull, err[PROC_MAX];
	size_t	 l;

	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		fatal("/dev/null");
	/* With -d each child's log comes through us; else it is syslog. */
	for (i = PROC_PROXY; i < PROC_MAX; i++)
		if ((err[i] = logrelay_open()) == -1)
			err[i] = devnull;

	for (i = 0; i < PROC_MAX; i++)
		for (j = 0; j < PROC_MAX; j++)
			sock[i][j] = -1;
	for (l = 0; l < sizeof(links) / sizeof(links[0]); l++) {
		socketpair_or_die(sv);
		sock[links[l].a][links[l].b] = sv[0];
		sock[links[l].b][links[l].a] = sv[1];
	}

	for (i = PROC_PROXY; i < PROC_MAX; i++) {
		nfds = 0;
		fds[nfds++] = sock[i][PROC_PARENT];
		for (j = PROC_PROXY; j < PROC_MAX; j++)
			if (sock[i][j] != -1)
				fds[nfds++] = sock[i][j];
		if (i == PROC_CONTROL)
			fds[nfds++] = control_socket_fd();
		children[i].pid = start_child(self, children[i].name, fds,
		    nfds, devnull, err[i], opts);
	}

	for (i = PROC_PROXY; i < PROC_MAX; i++)
		if (err[i] != devnull)
			close(err[i]);
	close(devnull);
	for (i = PROC_PROXY; i < PROC_MAX; i++)
		for (j = 0; j < PROC_MAX; j++)
			if (sock[i][j] != -1)
				close(sock[i][j]);
	/* The control process alone holds the control socket now. */
	control_socket_close();

	for (i = PROC_PROXY; i < PROC_MAX; i++)
		children[i].iev.ibuf.fd = sock[PROC_PARENT][i];
}

struct child *
child_by_pid(pid_t pid)
{
	int	i;

	for (i = PROC_PROXY; i < PROC_MAX; i++)
		if (children[i].pid == pid)
			return (&children[i]);
	return (NULL);
}

/*
 * Send SHUTDOWN to the children in want (a bit per process) that still
 * run and reap them, waiting at most ms.  Returns how many are left.
 */
static int
children_stop_some(unsigned int want, int ms)
{
	struct timespec	 pause = { 0, 20 * 1000 * 1000 };
	struct child	*c;
	pid_t		 pid;
	int		 i, left, waited, status;

	for (i = PROC_PROXY; i < PROC_MAX; i++) {
		c = &children[i];
		if (c->pid <= 0 || !(want & (1U << i)))
			continue;
		/* Closing its socket is how a child learns we are gone. */
		if (c->iev.ibuf.fd != -1) {
			imsg_compose(&c->iev.ibuf, IMSG_SHUTDOWN, 0, 0, -1,
			    NULL, 0);
			(void)imsgbuf_flush(&c->iev.ibuf);
		}
	}
	for (waited = 0;; waited += 20) {
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if ((c = child_by_pid(pid)) == NULL)
				continue;
			c->pid = 0;
			/* We send no signal: one that killed it is news. */
			if (WIFSIGNALED(status))
				child_log_lost(c, status);
		}
		left = 0;
		for (i = PROC_PROXY; i < PROC_MAX; i++)
			if (children[i].pid > 0 && (want & (1U << i)))
				left++;
		if (left == 0 || waited >= ms)
			return (left);
		/* A child that logs as it goes must not wait for us. */
		logrelay_drain();
		nanosleep(&pause, NULL);
	}
}

static void
children_kill(unsigned int want)
{
	struct child	*c;
	int		 i, status;

	for (i = PROC_PROXY; i < PROC_MAX; i++) {
		c = &children[i];
		if (c->pid <= 0 || !(want & (1U << i)))
			continue;
		log_warnx("%s did not stop, killing it", c->name);
		kill(c->pid, SIGKILL);
		if (waitpid(c->pid, &status, 0) == c->pid)
			c->pid = 0;
	}
}

/*
 * Ask every child still running to stop, give them a moment, then kill
 * what is left.  Returns when all are reaped.  The control process goes
 * first, alone: it talks to every other child, and a peer that vanishes
 * under a child still running is an error to it, which a requested stop
 * is not (the others let the control process go quietly).  Then the
 * proxy and authd: both talk to tokend.
 * tokend stays until it is told (its peers' going is not its cue), and
 * is told only once both are gone.  The proxy has PROXY_SHUTDOWN_WAIT
 * seconds for its bye lines, and a second more.
 */
void
children_stop(void)
{
	unsigned int	 first = (1U << PROC_PROXY) | (1U << PROC_AUTHD);

	if (children_stop_some(1U << PROC_CONTROL, 1000) > 0)
		children_kill(1U << PROC_CONTROL);
	if (children_stop_some(first, PROXY_SHUTDOWN_WAIT * 1000 + 1000) > 0)
		children_kill(first);
	if (children_stop_some(1U << PROC_TOKEND, 1000) > 0)
		children_kill(1U << PROC_TOKEND);
}
