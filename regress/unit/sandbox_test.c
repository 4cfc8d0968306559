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
 * The children's syscall filters, each case in a forked child that
 * loads one process's filter and makes one call.  Allowed: ioctl
 * FIONREAD and FIONBIO on a socket (isatty(3) says "not a terminal"),
 * read-write memory from mmap and mprotect, madvise MADV_DONTNEED,
 * futex FUTEX_WAKE_PRIVATE, fcntl F_GETFL/F_SETFL, getrlimit, a signal
 * to itself.  Killed (SIGSYS): ioctl TIOCSTI, executable memory from
 * mmap or mprotect, loading a library (dlopen maps code), madvise
 * MADV_MERGEABLE, the priority-inheritance and shared futex
 * operations, fcntl F_SETOWN, prlimit64 on another process or setting
 * a limit, tgkill of another process, a socket family the process
 * does not use.  socket(AF_UNIX) fails with EACCES (syslog(3) asks
 * for one to reconnect); only authd makes AF_UNIX socket pairs.  The
 * control process reads its peer's credentials and accepts, but may
 * not connect, make sockets or open files (ENOENT, as in its chroot).
 * DEPS: common/sandbox.c common/platform_linux.c common/log.c
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
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

static int
mmap_rw(void)
{
	void	*p;

	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return (NOT_OK);
	memset(p, 1, 4096);
	if (mprotect(p, 4096, PROT_READ) == -1 ||
	    mprotect(p, 4096, PROT_NONE) == -1)
		return (NOT_OK);
	return (munmap(p, 4096) == -1 ? NOT_OK : OK);
}

static int
mmap_exec(void)
{
	return (mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? NOT_OK : OK);
}

static int
mprotect_exec(void)
{
	void	*p;

	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return (WRONG);
	return (mprotect(p, 4096, PROT_READ | PROT_EXEC) == -1 ? NOT_OK :
	    OK);
}

/* A library glibc has not loaded yet: its code must be mapped. */
static int
load_library(void)
{
	return (dlopen("libnss_files.so.2", RTLD_NOW) == NULL ? NOT_OK :
	    OK);
}

static int
madvise_dontneed(void)
{
	void	*p;

	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return (WRONG);
	return (madvise(p, 4096, MADV_DONTNEED) == -1 ? NOT_OK : OK);
}

static int
madvise_mergeable(void)
{
	void	*p;

	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return (WRONG);
	(void)madvise(p, 4096, MADV_MERGEABLE);
	return (OK);
}

static uint32_t	futex_word;

static int
futex_op(int op)
{
	return (syscall(SYS_futex, &futex_word, op, 1, NULL, NULL, 0));
}

static int
futex_wake_private(void)
{
	/* No waiter: nobody woken. */
	return (futex_op(FUTEX_WAKE_PRIVATE) == 0 ? OK : NOT_OK);
}

static int
futex_lock_pi(void)
{
	(void)futex_op(FUTEX_LOCK_PI_PRIVATE);
	return (OK);
}

static int
futex_cmp_requeue(void)
{
	(void)futex_op(FUTEX_CMP_REQUEUE_PI_PRIVATE);
	return (OK);
}

#ifndef SANITIZE
static int
futex_wake_shared(void)
{
	(void)futex_op(FUTEX_WAKE);
	return (OK);
}
#endif

static int
fcntl_flags(void)
{
	int	fl;

	if ((fl = fcntl(sv[0], F_GETFL)) == -1 ||
	    fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(sv[0], F_SETFD, FD_CLOEXEC) == -1)
		return (NOT_OK);
	return ((fcntl(sv[0], F_GETFL) & O_NONBLOCK) ? OK : NOT_OK);
}

static int
fcntl_setown(void)
{
	(void)fcntl(sv[0], F_SETOWN, getppid());
	return (OK);
}

static int
rlimit_own(void)
{
	struct rlimit	rl;

	return (getrlimit(RLIMIT_NOFILE, &rl) == -1 ? NOT_OK : OK);
}

static int
rlimit_other(void)
{
	struct rlimit	rl;

	(void)syscall(SYS_prlimit64, getppid(), RLIMIT_NOFILE, NULL, &rl);
	return (OK);
}

static int
rlimit_set(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return (WRONG);
	(void)setrlimit(RLIMIT_NOFILE, &rl);
	return (OK);
}

static int
signal_self(void)
{
	/* Signal 0 checks the target only. */
	return (syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), 0) ==
	    -1 ? NOT_OK : OK);
}

static int
signal_other(void)
{
	(void)syscall(SYS_tgkill, getppid(), getppid(), 0);
	return (OK);
}

/* Refused without a kill: syslog(3) reconnecting must not die. */
static int
socket_unix(void)
{
	if (socket(AF_UNIX, SOCK_DGRAM, 0) != -1)
		return (NOT_OK);
	return (errno == EACCES ? OK : NOT_OK);
}

static int
socketpair_unix(void)
{
	int	p[2];

	return (socketpair(AF_UNIX, SOCK_STREAM, 0, p) == -1 ? NOT_OK :
	    OK);
}

static int
socket_inet(void)
{
	int	s;

	s = socket(AF_INET, SOCK_STREAM, 0);
	return (s == -1 ? NOT_OK : OK);
}

static int
socket_netlink(void)
{
	(void)socket(AF_NETLINK, SOCK_RAW, 0);
	return (OK);
}

/* The peer's credentials, as the control process reads them. */
static int
peercred(void)
{
	struct ucred	cred;
	socklen_t	len = sizeof(cred);

	return (getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cred, &len) ==
	    0 && cred.pid == getpid() ? OK : NOT_OK);
}

static int
accept_pair(void)
{
	return (accept4(sv[0], NULL, NULL, SOCK_NONBLOCK) == -1 &&
	    errno == EINVAL ? OK : NOT_OK);
}

static int
connect_pair(void)
{
	struct sockaddr	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	(void)connect(sv[0], &sa, sizeof(sa));
	return (OK);
}

#ifndef SANITIZE
static int
open_file(void)
{
	return (open("/etc/passwd", O_RDONLY) == -1 && errno == ENOENT ?
	    OK : NOT_OK);
}
#endif

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

/* What a case should do under a filter. */
enum expect { WORKS, KILLED };

struct tcase {
	const char	*what;
	int		(*fn)(void);
	enum expect	 expect;
	const char	*procs;		/* the filters it applies to */
};

static const struct tcase cases[] = {
	{ "FIONREAD and FIONBIO work, isatty says no", allowed, WORKS,
	    "proxy tokend authd control" },
	{ "ioctl TIOCSTI", tiocsti, KILLED, "proxy tokend authd control" },
	{ "read-write mmap and mprotect work", mmap_rw, WORKS,
	    "proxy tokend authd control" },
	{ "mmap with PROT_EXEC", mmap_exec, KILLED, "proxy tokend authd control" },
	{ "mprotect with PROT_EXEC", mprotect_exec, KILLED,
	    "proxy tokend authd control" },
	/* tokend may open files: the code mapping is what stops it. */
	{ "dlopen of a library", load_library, KILLED, "tokend" },
	{ "madvise MADV_DONTNEED works", madvise_dontneed, WORKS,
	    "proxy tokend authd control" },
	{ "madvise MADV_MERGEABLE", madvise_mergeable, KILLED,
	    "proxy tokend authd control" },
	{ "futex FUTEX_WAKE_PRIVATE works", futex_wake_private, WORKS,
	    "proxy tokend authd control" },
	{ "futex FUTEX_LOCK_PI_PRIVATE", futex_lock_pi, KILLED,
	    "proxy tokend authd control" },
	{ "futex FUTEX_CMP_REQUEUE_PI_PRIVATE", futex_cmp_requeue, KILLED,
	    "proxy tokend authd control" },
#ifndef SANITIZE
	/* The sanitizer runtime's mutexes use the shared operations. */
	{ "futex FUTEX_WAKE (shared)", futex_wake_shared, KILLED,
	    "proxy tokend authd control" },
#endif
	{ "fcntl F_GETFL, F_SETFL and F_SETFD work", fcntl_flags, WORKS,
	    "proxy tokend authd control" },
	{ "fcntl F_SETOWN", fcntl_setown, KILLED, "proxy tokend authd control" },
	{ "getrlimit works", rlimit_own, WORKS, "proxy tokend authd control" },
	{ "prlimit64 of another process", rlimit_other, KILLED,
	    "proxy tokend authd control" },
	{ "setrlimit", rlimit_set, KILLED, "proxy tokend authd control" },
	{ "tgkill of itself works", signal_self, WORKS,
	    "proxy tokend authd control" },
	{ "tgkill of another process", signal_other, KILLED,
	    "proxy tokend authd control" },
	{ "socket AF_INET works", socket_inet, WORKS, "proxy authd" },
	{ "socket AF_INET", socket_inet, KILLED, "tokend control" },
	{ "socket AF_UNIX fails with EACCES", socket_unix, WORKS,
	    "proxy tokend authd control" },
	{ "socketpair AF_UNIX works", socketpair_unix, WORKS, "authd" },
	{ "socketpair AF_UNIX", socketpair_unix, KILLED,
	    "proxy tokend control" },
	{ "getsockopt SO_PEERCRED works", peercred, WORKS,
	    "proxy tokend authd control" },
	{ "accept4 is allowed (EINVAL on a socket pair)", accept_pair,
	    WORKS, "proxy control" },
	/* The proxy accepts the browsers' redirects, not authd. */
	{ "accept4", accept_pair, KILLED, "authd" },
	{ "connect", connect_pair, KILLED, "tokend control" },
#ifndef SANITIZE
	/* The sanitizer runtime opens files. */
	{ "open(2) fails with ENOENT", open_file, WORKS,
	    "proxy authd control" },
#endif
	{ "socket AF_NETLINK", socket_netlink, KILLED,
	    "proxy tokend authd control" },
};

/* Is word one of the space-separated words of list? */
static int
listed(const char *list, const char *word)
{
	size_t	n = strlen(word);

	for (; *list != '\0'; list += strcspn(list, " "),
	    list += strspn(list, " "))
		if (strncmp(list, word, n) == 0 &&
		    (list[n] == ' ' || list[n] == '\0'))
			return (1);
	return (0);
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
		{ "control", sandbox_control },
	};
	char	 what[160], why[64];
	size_t	 i, j;
	int	 rc, sig;

	log_init(1, 0);
	log_setverbose(0);
	for (i = 0; i < sizeof(procs) / sizeof(procs[0]); i++) {
		for (j = 0; j < sizeof(cases) / sizeof(cases[0]); j++) {
			if (!listed(cases[j].procs, procs[i].name))
				continue;
			rc = run(procs[i].filter, cases[j].fn, &sig);
			snprintf(why, sizeof(why), "exit %d, signal %d", rc,
			    sig);
			if (cases[j].expect == WORKS) {
				snprintf(what, sizeof(what), "%s: %s",
				    procs[i].name, cases[j].what);
				check(rc == OK && sig == 0, what, why);
			} else {
				snprintf(what, sizeof(what), "%s: %s kills "
				    "the process (SIGSYS)", procs[i].name,
				    cases[j].what);
				check(sig == SIGSYS, what, why);
			}
		}
	}
	return (failed);
}
