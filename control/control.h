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
 * The control process: unprivileged, chrooted to empty_dir, sandboxed.
 * It serves the control socket the parent bound (control.c: the
 * process, its links; conn.c: the connections and their requests).
 */

#ifndef CONTROL_H
#define CONTROL_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "emailproxy.h"
#include "dispatch.h"

/*
 * The links a request may go out on, by process: the parent (reload,
 * log), the proxy, tokend and authd.  Set by control.c (by a test
 * harness in regress/).
 */
extern struct imsgev	*control_peers[PROC_MAX];

/* conn.c */
void	 control_accept_start(int listenfd);
/* A connection on fd from uid:gid: its requests are read from now on. */
void	 control_conn_add(int fd, uid_t uid, gid_t gid);
/*
 * Who may change state besides root: the gid of control_admin_group
 * (CONTROL_NO_GID: nobody) and the uids of its members.
 */
void	 control_admins_set(uint32_t gid, const uint32_t *uids, size_t n);
/* CTL_DATA, CTL_END or CTL_FAIL from a peer, for a connection. */
void	 control_answer(struct imsg *);

#endif /* CONTROL_H */
