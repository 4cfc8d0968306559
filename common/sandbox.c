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
 * One sandbox call per process, after its privilege drop: on Linux a
 * libseccomp allow-list per process (OpenSSH's sandbox-seccomp-filter.c
 * is the model) plus resource limits.  OpenBSD's pledge(2) and
 * unveil(2) are in platform_openbsd.c.
 *
 * Anything not allowed kills the process, and the parent names the
 * child that died.  Calls that are allowed only for some arguments:
 * mmap and mprotect never with PROT_EXEC (no library loads code after
 * the drop: the chroot holds none); madvise, futex and fcntl for the
 * operations glibc, libevent, libcrypto and libcurl use; ioctl for the
 * requests libraries make of sockets; socket for the families each
 * process uses; prlimit64 to read the process's own limits; tgkill to
 * signal itself (abort(3)).
 *
 * Built with SANDBOX_DEBUG, a violation is logged with the syscall's
 * name and first arguments and fails with ENOSYS instead, to find what
 * a filter lacks.
 */

#ifdef __linux__

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "log.h"
#include "platform.h"

/*
 * What every process needs: libevent (epoll), imsg, malloc, time, logs.
 * mmap, mprotect, madvise, futex, fcntl, prlimit64 and tgkill are
 * allowed below, for some arguments only.
 */
static const char *base_syscalls[] = {
	"read", "write", "readv", "writev", "pread64", "pwrite64",
	"recvmsg", "sendmsg", "recvfrom", "sendto", "close", "lseek",
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "poll", "ppoll", "select", "pselect6",
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
	"gettimeofday", "time",
	"brk", "munmap", "mremap",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"exit", "exit_group", "getpid", "gettid", "getppid",
	"getrandom", "fstat", "newfstatat", "statx",
	"sched_yield", "getuid", "geteuid", "getgid", "getegid",
	"uname", "restart_syscall", "shutdown",
	"getsockopt", "setsockopt", "getsockname", "getpeername",
	"rseq", "set_robust_list", "getrlimit",
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

/*
 * OAuth over HTTPS: outgoing connections only (the proxy accepts the
 * browsers' redirects).
 */
static const char *authd_syscalls[] = {
	"connect", "sendmmsg", "recvmmsg", "bind",
	"pipe2", "dup", "dup2", "dup3", "eventfd2",
	NULL
};

/*
 * The control socket: connections on the listening socket it was
 * given, their peers' credentials (getsockopt SO_PEERCRED and
 * SO_PEERGROUPS, in the base list).  No connect, no socket, no files.
 */
static const char *control_syscalls[] = {
	"accept", "accept4",
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
/*
 * Syscall names by number, resolved before the filter is loaded: the
 * handler may interrupt malloc, so it must not call it (libseccomp's
 * resolver does).
 */
#define DEBUG_NAMES	1024
static char	*debug_names[DEBUG_NAMES];

static void
sandbox_debug_names(void)
{
	int	nr;

	for (nr = 0; nr < DEBUG_NAMES; nr++)
		if (debug_names[nr] == NULL)
			debug_names[nr] = seccomp_syscall_resolve_num_arch(
			    SCMP_ARCH_NATIVE, nr);
}

static void
sandbox_violation(int sig, siginfo_t *info, void *ctx)
{
	char		 buf[192];
	const char	*name = NULL;
	int		 len;

	if (info->si_syscall >= 0 && info->si_syscall < DEBUG_NAMES)
		name = debug_names[info->si_syscall];
#ifdef __x86_64__
	{
		greg_t	*r = ((ucontext_t *)ctx)->uc_mcontext.gregs;

		/* Which file: the usual question when a filter lacks one. */
		if (info->si_syscall == __NR_openat)
			len = snprintf(buf, sizeof(buf), "sandbox: syscall "
			    "openat %.80s refused\n", (const char *)r[REG_RSI]);
		else
			len = snprintf(buf, sizeof(buf), "sandbox: syscall %s "
			    "(%d) refused: args 0x%llx 0x%llx 0x%llx\n",
			    name != NULL ? name : "?", info->si_syscall,
			    (unsigned long long)r[REG_RDI],
			    (unsigned long long)r[REG_RSI],
			    (unsigned long long)r[REG_RDX]);
	}
#else
	len = snprintf(buf, sizeof(buf), "sandbox: syscall %s (%d) "
	    "refused\n", name != NULL ? name : "?", info->si_syscall);
#endif
	if (len > 0)
		(void)write(STDERR_FILENO, buf, (size_t)len < sizeof(buf) ?
		    (size_t)len : sizeof(buf) - 1);
#ifdef __x86_64__
	/*
	 * Let the call fail and go on: with the errno of a soft refusal
	 * (sandbox_soft), else ENOSYS.
	 */
	switch (info->si_syscall) {
	case __NR_open:
	case __NR_openat:
		((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RAX] = -ENOENT;
		break;
	case __NR_socket:
		((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RAX] = -EACCES;
		break;
	default:
		((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
		break;
	}
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
 * The call name, when argument arg masked with mask is value, gets
 * action.  One rule per allowed value: anything else meets the
 * filter's default, which kills.
 */
static void
sandbox_arg(scmp_filter_ctx ctx, uint32_t action, const char *name,
    unsigned int arg, scmp_datum_t mask, scmp_datum_t value)
{
	struct scmp_arg_cmp	cmp;
	int			nr;

	if ((nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR)
		return;		/* not on this architecture */
	memset(&cmp, 0, sizeof(cmp));
	cmp.arg = arg;
	cmp.op = SCMP_CMP_MASKED_EQ;
	cmp.datum_a = mask;
	cmp.datum_b = value;
	if (seccomp_rule_add_array(ctx, action, nr, 1, &cmp) < 0)
		fatalx("seccomp: %s rule", name);
}

/* An int argument (a request, an operation): compare its 32 bits. */
#define INT_ARG		0xffffffffUL

/*
 * A call refused without killing fails with errno e.  Debug builds
 * leave it to the default action instead (libseccomp takes no rule
 * whose action is the default), which logs it and fails it with the
 * same errno (sandbox_violation).
 */
static void
sandbox_soft(scmp_filter_ctx ctx, int e, int nr, unsigned int nargs,
    const struct scmp_arg_cmp *args)
{
#ifndef SANDBOX_DEBUG
	if (seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(e), nr, nargs,
	    args) < 0)
		fatalx("seccomp: rule failing syscall %d with errno %d", nr,
		    e);
#endif
}

/* What a process may do beyond the base list. */
#define SB_INET		0x01	/* IPv4 and IPv6 sockets */
#define SB_PAIRS	0x02	/* AF_UNIX socket pairs */
#define SB_FILES	0x04	/* open(2) (in its chroot) */

/*
 * madvise(2) for what malloc asks (glibc gives memory back with
 * MADV_DONTNEED; other allocators use MADV_FREE) and what keeps secrets
 * out of core files (MADV_DONTDUMP).  Not MADV_MERGEABLE, MADV_REMOVE,
 * MADV_HWPOISON, MADV_PAGEOUT and the like.
 */
static const unsigned long madvise_allowed[] = {
	MADV_NORMAL, MADV_DONTNEED, MADV_FREE, MADV_DONTDUMP,
#ifdef SANITIZE
	/* The sanitizer runtime's shadow memory. */
	MADV_NOHUGEPAGE, MADV_DODUMP,
#endif
};

/*
 * futex(2) for a process that never starts a thread: the private
 * wait and wake glibc's locks use when contended, and the bitset wait
 * behind its timed waits (on either clock).  Not the shared,
 * requeue and priority-inheritance operations.
 */
static const unsigned long futex_allowed[] = {
	FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE,
	FUTEX_WAIT_BITSET_PRIVATE,
	FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME,
#ifdef SANITIZE
	/* The sanitizer runtime's own mutexes. */
	FUTEX_WAIT, FUTEX_WAKE,
#endif
};

/* fcntl(2): close-on-exec and non-blocking flags (libevent, libcurl). */
static const unsigned long fcntl_allowed[] = {
	F_GETFD, F_SETFD, F_GETFL, F_SETFL,
};

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static void
sandbox_allow_memory(scmp_filter_ctx ctx)
{
	size_t	i;

	/* Never executable memory: nothing is loaded after the drop. */
	sandbox_arg(ctx, SCMP_ACT_ALLOW, "mmap", 2, PROT_EXEC, 0);
	sandbox_arg(ctx, SCMP_ACT_ALLOW, "mmap2", 2, PROT_EXEC, 0);
	sandbox_arg(ctx, SCMP_ACT_ALLOW, "mprotect", 2, PROT_EXEC, 0);
	for (i = 0; i < NITEMS(madvise_allowed); i++)
		sandbox_arg(ctx, SCMP_ACT_ALLOW, "madvise", 2, INT_ARG,
		    madvise_allowed[i]);
	for (i = 0; i < NITEMS(futex_allowed); i++)
		sandbox_arg(ctx, SCMP_ACT_ALLOW, "futex", 1, INT_ARG,
		    futex_allowed[i]);
}

static void
sandbox_allow_process(scmp_filter_ctx ctx)
{
	size_t	i;

	for (i = 0; i < NITEMS(fcntl_allowed); i++)
		sandbox_arg(ctx, SCMP_ACT_ALLOW, "fcntl", 1, INT_ARG,
		    fcntl_allowed[i]);
	/*
	 * Its own limits, read only (getrlimit(3)): the children share a
	 * user, and prlimit64 could lower another child's.
	 */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 2,
	    SCMP_A0(SCMP_CMP_EQ, 0), SCMP_A2(SCMP_CMP_EQ, 0)) < 0)
		fatalx("seccomp: prlimit64 rule");
	/* Signals only to itself (abort(3), raise(3)), not to a sibling. */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
	    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid())) < 0)
		fatalx("seccomp: tgkill rule");
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
	sandbox_soft(ctx, ENOENT, SCMP_SYS(openat), 0, NULL);
	sandbox_soft(ctx, ENOENT, SCMP_SYS(open), 0, NULL);
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

	for (i = 0; i < NITEMS(ioctl_allowed); i++)
		sandbox_arg(ctx, SCMP_ACT_ALLOW, "ioctl", 1, INT_ARG,
		    ioctl_allowed[i]);
	for (i = 0; i < NITEMS(ioctl_notty); i++)
		sandbox_arg(ctx, SCMP_ACT_ERRNO(ENOTTY), "ioctl", 1, INT_ARG,
		    ioctl_notty[i]);
}

/*
 * socket(2) only for IPv4 and IPv6, and only in the processes that
 * talk to the network.  An AF_UNIX socket fails: syslog(3) asks for
 * one to reconnect after syslogd restarts, and losing lines is better
 * than dying (in the chroot there is no /dev/log to reach anyway).
 * AF_UNIX socket pairs for libcurl's wake-up in authd.
 */
static void
sandbox_allow_socket(scmp_filter_ctx ctx, int flags)
{
	struct scmp_arg_cmp	unix_family = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);

	if ((flags & SB_INET) &&
	    (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_INET)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_INET6)) < 0))
		fatalx("seccomp: socket rule");
	sandbox_soft(ctx, EACCES, SCMP_SYS(socket), 1, &unix_family);
	if ((flags & SB_PAIRS) && seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
	    SCMP_SYS(socketpair), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX)) < 0)
		fatalx("seccomp: socketpair rule");
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
sandbox_load(const char *proc, const char **extra, int flags)
{
	scmp_filter_ctx	 ctx;
	uint32_t	 action = SCMP_ACT_KILL_PROCESS;
#ifdef SANDBOX_DEBUG
	struct sigaction sa;

	sandbox_debug_names();
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
	sandbox_allow_memory(ctx);
	sandbox_allow_process(ctx);
	sandbox_allow_ioctl(ctx);
	sandbox_allow_socket(ctx, flags);
#ifdef SANITIZE
	sandbox_allow(ctx, sanitize_syscalls);
#else
	if (!(flags & SB_FILES))
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
	sandbox_load("proxy", proxy_syscalls, SB_INET);
}

void
sandbox_tokend(void)
{
	sandbox_load("tokend", tokend_syscalls, SB_FILES);
}

void
sandbox_authd(void)
{
	sandbox_load("authd", authd_syscalls, SB_INET | SB_PAIRS);
}

void
sandbox_control(void)
{
	sandbox_load("control", control_syscalls, 0);
}

#endif /* __linux__ */
