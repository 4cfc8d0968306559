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
 * platform_self(): the path children are re-executed from is this
 * very executable, absolute, whatever argv[0] says; a buffer too small
 * for it is an error (ENAMETOOLONG), not a path cut short.
 * DEPS: common/platform_linux.c common/log.c
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "platform.h"

static int	failed;

static void
check(int cond, const char *what, const char *why)
{
	if (cond)
		printf("PASS: %s\n", what);
	else {
		printf("FAIL: %s: %s\n", what, why);
		failed = 1;
	}
}

int
main(int argc, char *argv[])
{
	struct stat	 a, b;
	char		 self[PATH_MAX], small[4];
	int		 rc;

	(void)argc;
	rc = platform_self(argv[0], self, sizeof(self));
	check(rc == 0 && self[0] == '/', "platform_self gives an absolute "
	    "path", rc == 0 ? self : strerror(errno));
	check(rc == 0 && stat(self, &a) == 0 && stat(argv[0], &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino,
	    "platform_self names the running executable", self);
	/* A bare name: the path is found all the same. */
	rc = platform_self("emailproxy", self, sizeof(self));
	check(rc == 0 && stat(self, &a) == 0 && stat(argv[0], &b) == 0 &&
	    a.st_ino == b.st_ino, "platform_self with a bare argv[0]",
	    rc == 0 ? self : strerror(errno));
	errno = 0;
	rc = platform_self(argv[0], small, sizeof(small));
	check(rc == -1 && errno == ENAMETOOLONG, "platform_self refuses a "
	    "buffer too small (ENAMETOOLONG)", strerror(errno));
	return (failed);
}
