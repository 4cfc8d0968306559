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
 * The OpenBSD calls glibc does not declare, with OpenBSD's prototypes
 * (pledge(2), unveil(2), setproctitle(3), strlcpy(3)), for compiling
 * the OpenBSD side of the platform code on Linux
 * (regress/openbsd_compile.sh).  The Linux-only calls are poisoned: the
 * OpenBSD code must not name them, nor include a header that does.
 */

#ifndef OPENBSD_COMPAT_H
#define OPENBSD_COMPAT_H

#include <stddef.h>

int	pledge(const char *, const char *);
int	unveil(const char *, const char *);
void	setproctitle(const char *, ...)
	    __attribute__((__format__ (__printf__, 1, 2)));
size_t	strlcpy(char *, const char *, size_t);

#pragma GCC poison prctl seccomp_init seccomp_load setproctitle_init

#endif /* OPENBSD_COMPAT_H */
