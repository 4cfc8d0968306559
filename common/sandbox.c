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
 * One sandbox call per process, after its privilege drop.
 *
 * Linux: a libseccomp allow-list per process (OpenSSH's
 * sandbox-seccomp-filter.c is the model) plus resource limits.  Anything
 * else kills the process, and the parent names the child that died.
 * Built with SANDBOX_DEBUG, a violation is logged with the syscall's name
 * and fails with ENOSYS instead, to find what a filter lacks.
 * OpenBSD: pledge(2).
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/sched.h>
#include <seccomp.h>
#include <ucontext.h>
#endif

#include "log.h"
#include "proc.h"

#ifdef __linux__

/* What every process needs: libevent (epoll), imsg, malloc, time, logs. */
static const char *base_syscalls[] = {
	"read", "write", "readv", "writev", "pread64", "pwrite64",
	"recvmsg", "sendmsg", "recvfrom", "sendto", "close", "lseek",
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "poll", "ppoll", "select", "pselect6",
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
	"gettimeofday", "time",
	"brk", "mmap", "munmap", "mremap", "madvise", "mprotect",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"exit", "exit_group", "getpid", "gettid", "getppid", "tgkill",
	"getrandom", "fcntl", "fstat", "newfstatat", "statx",
	"futex", "sched_yield", "getuid", "geteuid", "getgid", "getegid",
	"uname", "restart_syscall", "shutdown",
	"getsockopt", "setsockopt", "getsockname", "getpeername",
	"rseq", "set_robust_list", "prlimit64", "getrlimit",
	NULL
};

/* The network child: sessions, upstream connections, DNS. */
static const char *proxy_syscalls[] = {
	"accept", "accept4", "connect", "sendmmsg", "recvmmsg", "bind",
	NULL
};

/* The token store: files in its chroot, no network. */
static const char *tokend_syscalls[] = {
	"openat", "open", "rename", "renameat", "renameat2", "unlink",
	"unlinkat", "fsync", "fdatasync", "fchmod", "ftruncate",
	"getdents64", "fstatfs", "umask", "dup", "dup2", "dup3",
	NULL
};

/* OAuth over HTTPS: outgoing connections, the redirect listener. */
static const char *authd_syscalls[] = {
	"accept", "accept4", "connect", "sendmmsg", "recvmmsg", "bind",
	"pipe2", "dup", "dup2", "dup3", "eventfd2",
	NULL
};

#ifdef SANITIZE
/* AddressSanitizer's runtime reports through these. */
static const char *sanitize_syscalls[] = {
	"openat", "open", "readlink", "readlinkat", "getdents64",
	"prctl", "sched_getaffinity", "mincore", "pipe2", "wait4",
	"clone", "clone3", "ptrace", "dup", "dup2", "dup3", "access",
	"faccessat", "faccessat2",
	NULL
};
#endif

#ifdef SANDBOX_DEBUG
static void
sandbox_violation(int sig, siginfo_t *info, void *ctx)
{
	char	 buf[128];
	char	*name;
	int	 len;

	name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE,
	    info->si_syscall);
	len = snprintf(buf, sizeof(buf), "sandbox: syscall %s (%d) "
	    "refused\n", name != NULL ? name : "?", info->si_syscall);
#ifdef __x86_64__
	/* Which file: the usual question when a filter lacks something. */
	if (info->si_syscall == __NR_openat)
		len = snprintf(buf, sizeof(buf), "sandbox: syscall openat "
		    "%.80s refused\n", (const char *)((ucontext_t *)ctx)->
		    uc_mcontext.gregs[REG_RSI]);
	/* Which request. */
	if (info->si_syscall == __NR_ioctl)
		len = snprintf(buf, sizeof(buf), "sandbox: syscall ioctl "
		    "request 0x%llx refused\n", (unsigned long long)
		    ((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RSI]);
#endif
	if (len > 0)
		(void)write(STDERR_FILENO, buf, len);
#ifdef __x86_64__
	/* Let the call fail with ENOSYS and go on. */
	((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
#else
	_exit(1);
#endif
}
#endif

static void
sandbox_allow(scmp_filter_ctx ctx, const char **names)
{
	int	nr;

	for (; *names != NULL; names++) {
		nr = seccomp_syscall_resolve_name(*names);
		if (nr == __NR_SCMP_ERROR)
			continue;	/* not on this architecture */
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) < 0)
			fatalx("seccomp: cannot allow %s", *names);
	}
}

/*
 * open(2) in a process with no files: libraries probe paths such as
 * /dev/urandom and cope when they are missing, which in the chroot they
 * are.  Fail the call as the chroot would, rather than kill.
 */
#ifndef SANITIZE
static void
sandbox_no_files(scmp_filter_ctx ctx)
{
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOENT), SCMP_SYS(openat),
	    0) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOENT), SCMP_SYS(open),
	    0) < 0)
		fatalx("seccomp: open rule");
}
#endif

/*
 * ioctl(2) only for what the libraries ask of sockets and pipes:
 * FIONREAD (libevent), FIONBIO (OpenSSL), FIOCLEX and FIONCLEX.  The
 * terminal queries isatty(3) and friends make fail as on a descriptor
 * that is no terminal, which none of ours is.  Any other request kills:
 * TIOCSTI, say, which types into a terminal.
 */
static const unsigned long ioctl_allowed[] = {
	FIONREAD, FIONBIO, FIOCLEX, FIONCLEX
};
static const unsigned long ioctl_notty[] = {
	TCGETS, TIOCGWINSZ, TIOCGPGRP
};

static void
sandbox_allow_ioctl(scmp_filter_ctx ctx)
{
	size_t	i;

	/* The request is an int to some callers: compare 32 bits. */
	for (i = 0; i < sizeof(ioctl_allowed) / sizeof(ioctl_allowed[0]);
	    i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL,
		    ioctl_allowed[i])) < 0)
			fatalx("seccomp: ioctl rule");
	for (i = 0; i < sizeof(ioctl_notty) / sizeof(ioctl_notty[0]); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOTTY),
		    SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_MASKED_EQ,
		    0xffffffffUL, ioctl_notty[i])) < 0)
			fatalx("seccomp: ioctl rule");
}

/* socket(2) only for IPv4/IPv6 (and AF_UNIX when asked). */
static void
sandbox_allow_socket(scmp_filter_ctx ctx, int unix_too)
{
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_INET)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_INET6)) < 0)
		fatalx("seccomp: socket rule");
	if (unix_too && (seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
	    SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_UNIX)) < 0))
		fatalx("seccomp: unix socket rule");
}

static void
sandbox_limit(int resource, rlim_t value)
{
	struct rlimit	rl;

	rl.rlim_cur = rl.rlim_max = value;
	if (setrlimit(resource, &rl) == -1)
		fatal("setrlimit");
}

static void
sandbox_load(const char *proc, const char **extra, int sockets)
{
	scmp_filter_ctx	 ctx;
	uint32_t	 action = SCMP_ACT_KILL_PROCESS;
#ifdef SANDBOX_DEBUG
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sandbox_violation;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGSYS, &sa, NULL) == -1)
		fatal("sigaction SIGSYS");
	action = SCMP_ACT_TRAP;
#endif
	/*
	 * No new processes: the parent is the only one that forks.  (No
	 * RLIMIT_FSIZE: it would also stop log lines to a stderr that is a
	 * file; the filter and the chroot keep files out of reach.)
	 */
	sandbox_limit(RLIMIT_NPROC, 0);
	sandbox_limit(RLIMIT_CORE, 0);

	if ((ctx = seccomp_init(action)) == NULL)
		fatalx("seccomp_init");
	sandbox_allow(ctx, base_syscalls);
	sandbox_allow(ctx, extra);
	sandbox_allow_ioctl(ctx);
	if (sockets)
		sandbox_allow_socket(ctx, sockets > 1);
#ifdef SANITIZE
	sandbox_allow(ctx, sanitize_syscalls);
#else
	if (sockets)
		sandbox_no_files(ctx);
#endif
	if (seccomp_load(ctx) < 0)
		fatalx("seccomp_load for %s", proc);
	seccomp_release(ctx);
	log_debug("%s: sandboxed", proc);
}

void
sandbox_proxy(void)
{
	sandbox_load("proxy", proxy_syscalls, 1);
}

void
sandbox_tokend(void)
{
	sandbox_load("tokend", tokend_syscalls, 0);
}

void
sandbox_authd(void)
{
	sandbox_load("authd", authd_syscalls, 2);
}

#elif defined(__OpenBSD__)

void
sandbox_proxy(void)
{
	if (pledge("stdio inet recvfd", NULL) == -1)
		fatal("pledge");
}

void
sandbox_tokend(void)
{
	if (pledge("stdio rpath wpath cpath fattr", NULL) == -1)
		fatal("pledge");
}

void
sandbox_authd(void)
{
	if (pledge("stdio inet recvfd", NULL) == -1)
		fatal("pledge");
}

void
sandbox_parent(void)
{
	if (pledge("stdio rpath wpath cpath inet unix fattr proc exec "
	    "recvfd sendfd id getpw", NULL) == -1)
		fatal("pledge");
}

#else
#error "no sandbox for this system"
#endif
