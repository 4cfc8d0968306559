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
 * What differs between the systems emailproxy runs on, one small
 * interface: platform_linux.c with sandbox.c (seccomp) on Linux,
 * platform_openbsd.c (pledge, unveil) on OpenBSD.  Everything else is
 * POSIX and shared.
 */

#ifndef PLATFORM_H
#define PLATFORM_H

#include <stddef.h>

/*
 * The path of the running executable, for re-executing the children,
 * into buf: call it first thing in main, before anything changes the
 * working directory.  Linux reads /proc/self/exe; OpenBSD resolves
 * argv0 (a path, or a name looked up in PATH) as the shell did.
 * Returns 0, or -1 with errno set.
 */
int	 platform_self(const char *argv0, char *buf, size_t len);

/*
 * Before the first setproctitle(3) of a process started with this argv.
 */
void	 platform_title_init(int argc, char **argv);

/*
 * After the privilege drop (or instead of it, when not started as
 * root): no core file and no tracing by the unprivileged user, as the
 * process holds secrets.
 */
void	 platform_nodump(void);

/*
 * One sandbox call per child, after the privilege drop (sandbox.c on
 * Linux, platform_openbsd.c on OpenBSD).
 */
void	 sandbox_proxy(void);
void	 sandbox_tokend(void);
void	 sandbox_authd(void);
void	 sandbox_control(void);
#ifdef __OpenBSD__
/*
 * The parent after starting the children.  On Linux the parent has no
 * filter: it keeps root for reloads (new listeners, files read again),
 * the control socket and notify_command, which it runs as another user,
 * so an allow-list would hold most of the system calls there are.
 */
void	 sandbox_parent(void);
#endif

#endif /* PLATFORM_H */
