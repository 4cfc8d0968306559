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
 * The children's syscall filters and ioctl(2): each filter lets a
 * process ask a socket or pipe how much it can read (FIONREAD) and make
 * it non-blocking (FIONBIO); isatty(3) says "not a terminal"; a request
 * such as TIOCSTI, which types into a terminal, kills the process.
 * Each case runs in a forked child that loads the filter.
 * DEPS: common/sandbox.c common/log.c
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"

static int	failed;
static int	sv[2];		/* made before the filter is loaded */

static void
check(int cond, const char *what, const char *why)
{
	if (cond)
		printf("PASS: %s\n", what);
	else {
		printf("FAIL: %s: %s\n", what, why);
		failed = 1;
	}
	fflush(stdout);
}

enum outcome { OK = 0, NOT_OK = 1, WRONG = 2 };

/* Allowed requests work; the terminal queries fail with ENOTTY. */
static int
allowed(void)
{
	int	n = -1, on = 1;

	if (write(sv[0], "abc", 3) != 3)
		return (WRONG);
	if (ioctl(sv[1], FIONREAD, &n) == -1 || n != 3)
		return (NOT_OK);
	if (ioctl(sv[1], FIONBIO, &on) == -1)
		return (NOT_OK);
	if (isatty(sv[1]) || errno != ENOTTY)
		return (NOT_OK);
	return (OK);
}

/* Never returns when the filter refuses TIOCSTI. */
static int
tiocsti(void)
{
	char	c = 'x';

	(void)ioctl(STDIN_FILENO, TIOCSTI, &c);
	return (OK);
}

/* Run fn in a child under filter; its exit status or signal. */
static int
run(void (*filter)(void), int (*fn)(void), int *sig)
{
	pid_t	pid;
	int	status;

	fflush(stdout);
	if ((pid = fork()) == -1) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
			_exit(WRONG);
		filter();
		_exit(fn());
	}
	if (waitpid(pid, &status, 0) == -1) {
		perror("waitpid");
		exit(1);
	}
	*sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	return (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

int
main(void)
{
	static const struct {
		const char	*name;
		void		(*filter)(void);
	} procs[] = {
		{ "proxy", sandbox_proxy },
		{ "tokend", sandbox_tokend },
		{ "authd", sandbox_authd },
	};
	char	 what[128], why[64];
	size_t	 i;
	int	 rc, sig;

	log_init(1, 0);
	log_setverbose(0);
	for (i = 0; i < sizeof(procs) / sizeof(procs[0]); i++) {
		rc = run(procs[i].filter, allowed, &sig);
		snprintf(what, sizeof(what), "%s: FIONREAD and FIONBIO work, "
		    "isatty says no", procs[i].name);
		snprintf(why, sizeof(why), "exit %d, signal %d", rc, sig);
		check(rc == OK && sig == 0, what, why);

		rc = run(procs[i].filter, tiocsti, &sig);
		snprintf(what, sizeof(what), "%s: ioctl TIOCSTI kills the "
		    "process (SIGSYS)", procs[i].name);
		snprintf(why, sizeof(why), "exit %d, signal %d", rc, sig);
		check(sig == SIGSYS, what, why);
	}
	return (failed);
}
