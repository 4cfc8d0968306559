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
 * The OpenBSD side of platform.h: pledge(2) and unveil(2) in place of
 * seccomp, the executable found from argv[0] (there is no
 * /proc/self/exe), the kernel's setproctitle(3), no prctl(2).
 * Written for OpenBSD but not built or run there by the tests: they
 * only compile it, against the declarations in regress/openbsd.
 */

#ifdef __OpenBSD__

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <paths.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "platform.h"

static int
platform_resolve(const char *path, char *buf, size_t len)
{
	char	real[PATH_MAX];

	if (realpath(path, real) == NULL)
		return (-1);
	if (strlcpy(buf, real, len) >= len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

/* A regular file we may execute. */
static int
platform_executable(const char *path)
{
	struct stat	st;

	return (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, X_OK) == 0);
}

/*
 * argv[0] is the path the shell executed, or, for a bare name, the
 * first executable of that name in PATH, searched as execvp(3) does
 * (an empty entry is the current directory).  Resolved to an absolute
 * path at start, as the daemon later changes directory.
 */
int
platform_self(const char *argv0, char *buf, size_t len)
{
	const char	*path, *p, *end;
	char		 cand[PATH_MAX];
	int		 n;

	if (argv0 == NULL || *argv0 == '\0') {
		errno = ENOENT;
		return (-1);
	}
	if (strchr(argv0, '/') != NULL)
		return (platform_resolve(argv0, buf, len));
	if ((path = getenv("PATH")) == NULL || *path == '\0')
		path = _PATH_DEFPATH;
	for (p = path;; p = end + 1) {
		if ((end = strchr(p, ':')) == NULL)
			end = p + strlen(p);
		if (end == p)
			n = snprintf(cand, sizeof(cand), "%s", argv0);
		else
			n = snprintf(cand, sizeof(cand), "%.*s/%s",
			    (int)(end - p), p, argv0);
		if (n > 0 && (size_t)n < sizeof(cand) &&
		    platform_executable(cand))
			return (platform_resolve(cand, buf, len));
		if (*end == '\0')
			break;
	}
	errno = ENOENT;
	return (-1);
}

/* The kernel holds the title: argv needs no preparing. */
void
platform_title_init(int argc, char **argv)
{
	(void)argc;
	(void)argv;
}

/*
 * No prctl(2): a process that changed its user ids is marked set-id,
 * which keeps the unprivileged user from tracing it (as does
 * kern.global_ptrace 0, the default, for any process not its child);
 * no core file either, whoever runs it.
 */
void
platform_nodump(void)
{
	struct rlimit	rl;

	rl.rlim_cur = rl.rlim_max = 0;
	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		fatal("setrlimit RLIMIT_CORE");
}

/*
 * The proxy: client and server sockets, the listeners it receives,
 * DNS over evdns's own sockets.  No file access at all.
 */
void
sandbox_proxy(void)
{
	if (pledge("stdio inet recvfd", NULL) == -1)
		fatal("pledge");
}

/*
 * tokend: the files of its store (its chroot), no network; a shared
 * store's Redis connection comes from the parent (recvfd).
 */
void
sandbox_tokend(void)
{
	if (unveil("/", "rwc") == -1)
		fatal("unveil /");
	if (unveil(NULL, NULL) == -1)
		fatal("unveil");
	if (pledge("stdio rpath wpath cpath fattr recvfd", NULL) == -1)
		fatal("pledge");
}

/*
 * authd: HTTPS to the OAuth endpoints, the redirect listeners it
 * receives; libcurl's wake-up socketpair is within stdio.
 */
void
sandbox_authd(void)
{
	if (pledge("stdio inet recvfd", NULL) == -1)
		fatal("pledge");
}

/*
 * The control process: connections on the control socket it was
 * given (unix: accept, the peer's credentials).  No files, no network.
 */
void
sandbox_control(void)
{
	if (pledge("stdio unix", NULL) == -1)
		fatal("pledge");
}

/*
 * The parent, after starting the children, keeps what a reload, the
 * control socket, the log file and notify_command need: reading the
 * configuration and the files it names (rpath; no unveil, as they may
 * be anywhere), the store and control socket directories and the
 * socket itself (cpath, fattr, chown), the --log-file reopened on
 * SIGUSR2 (wpath, cpath), new listeners (inet, dns, unix) passed to
 * the children (sendfd), users and groups (getpw), and notify_command
 * run as another user (proc, exec, id).
 */
void
sandbox_parent(void)
{
	if (pledge("stdio rpath wpath cpath fattr chown inet dns unix "
	    "sendfd getpw proc exec id", NULL) == -1)
		fatal("pledge");
}

#endif /* __OpenBSD__ */
