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
 * What every child shares: the blocking wait for the first
 * configuration, the parent's messages every child handles alike, and
 * the privilege drop.  The imsg links themselves are in dispatch.h.
 */

#ifndef PROC_H
#define PROC_H

#include <sys/types.h>

#include <event.h>

#include "dispatch.h"
#include "imsg.h"
#include "msg.h"
#include "platform.h"

struct emailproxy_conf;

/* msg_end + imsg_event_add. */
int	 imsgev_msg_end(struct imsgev *, struct msgw *);

/*
 * In a child, before its event loop: read messages from the parent on
 * ibuf until a whole configuration has arrived (IMSG_CONF_END) and
 * return it.  Messages of other types that arrive first are a fatal
 * error.
 */
struct emailproxy_conf *proc_wait_config(struct imsgbuf *);

/*
 * The parent's messages every child handles alike, for the child's
 * handler of its parent: an IMSG_CONF_* part goes into *pending, and
 * once the configuration is whole apply(conf) swaps it in and
 * CONF_DONE answers; IMSG_CTL_VERBOSE sets the verbosity.  Returns 1
 * when imsg was one of them (fatal if malformed), else 0.
 */
int	 proc_parent_common(struct imsgev *parent, struct imsg *,
	    struct emailproxy_conf **pending,
	    void (*apply)(struct emailproxy_conf *));

/*
 * A child whose peer (another child) closed their link exits with
 * PROC_EXIT_PEER_GONE after a log line naming the peer: it is not the
 * cause, and the parent waits for the child that is, to name it.
 */
#define PROC_EXIT_PEER_GONE	3
__attribute__((__noreturn__)) void proc_peer_gone(const char *peer);

/* Seconds the proxy gives its sessions' bye lines when told to stop. */
#define PROXY_SHUTDOWN_WAIT	3

/*
 * chroot(dir), chdir("/"), setproctitle(title), then drop to user's
 * uid/gid (setgroups, setresgid, setresuid) and platform_nodump().
 * When not started as root only the title is set (log_warnx once).
 */
void	 proc_privdrop(const char *user, const char *dir, const char *title);

/* Child entry points (the hidden -P flag). */
__attribute__((__noreturn__)) void proxy_main(int debug, int verbose);
__attribute__((__noreturn__)) void tokend_main(int debug, int verbose);
__attribute__((__noreturn__)) void authd_main(int debug, int verbose);
__attribute__((__noreturn__)) void control_main(int debug, int verbose);

#endif /* PROC_H */
