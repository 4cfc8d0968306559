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
 * The Linux side of platform.h (the seccomp filters are in sandbox.c):
 * /proc/self/exe, libbsd's setproctitle, prctl(2).
 */

#ifdef __linux__

#include <sys/types.h>
#include <sys/prctl.h>

#include <errno.h>
#include <unistd.h>

#include "log.h"
#include "platform.h"

extern char	**environ;

int
platform_self(const char *argv0, char *buf, size_t len)
{
	ssize_t	n;

	if (len == 0) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	if ((n = readlink("/proc/self/exe", buf, len - 1)) == -1)
		return (-1);
	if ((size_t)n == len - 1) {
		errno = ENAMETOOLONG;	/* it may have been cut */
		return (-1);
	}
	buf[n] = '\0';
	return (0);
}

/* libbsd rewrites the memory of argv and the environment. */
void
platform_title_init(int argc, char **argv)
{
	setproctitle_init(argc, argv, environ);
}

void
platform_nodump(void)
{
	if (prctl(PR_SET_DUMPABLE, 0) == -1)
		fatal("prctl PR_SET_DUMPABLE");
}

#endif /* __linux__ */
