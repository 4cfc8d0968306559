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
 * What every process shares: an imsgbuf driven by a libevent event
 * (after proc.c's struct imsgev), the blocking wait for the first
 * configuration, and the privilege drop.
 */

#ifndef PROC_H
#define PROC_H

#include <sys/types.h>

#include <event.h>

#include "imsg.h"
#include "msg.h"

struct emailproxy_conf;

struct imsgev {
	struct imsgbuf	 ibuf;
	void		(*handler)(int, short, void *);
	struct event	 ev;
	void		*data;
	short		 events;
	const char	*name;		/* peer, for log lines */
};

/*
 * Set up iev on fd; handler(fd, event, iev) is called when it is
 * readable or writable.  maxsize 0 keeps the default (16 KiB).
 */
void	 imsgev_init(struct imsgev *, int fd, const char *name,
	    void (*handler)(int, short, void *), void *data,
	    size_t maxsize, int fdpass);
/* Re-arm EV_WRITE when messages are queued. */
void	 imsg_event_add(struct imsgev *);
int	 imsg_compose_event(struct imsgev *, uint32_t type, uint32_t peerid,
	    pid_t pid, int fd, const void *data, size_t datalen);
/* msg_end + imsg_event_add. */
int	 imsgev_msg_end(struct imsgev *, struct msgw *);
/*
 * The common part of a dispatch handler: read on EV_READ, write on
 * EV_WRITE.  Returns -1 when the peer has gone (the caller then exits
 * or cleans up), else 0; then loop imsg_get until it returns 0.
 */
int	 imsgev_io(struct imsgev *, short event);

/*
 * In a child, before its event loop: read messages from the parent on
 * ibuf until a whole configuration has arrived (IMSG_CONF_END) and
 * return it.  Messages of other types that arrive first are a fatal
 * error.
 */
struct emailproxy_conf *proc_wait_config(struct imsgbuf *);

/*
 * The parent's messages every child handles alike.  proc_config_part
 * feeds one IMSG_CONF_* message into *pending and returns the
 * configuration once complete (NULL until then; fatal if malformed);
 * the child swaps it in and answers with proc_config_done.
 * proc_verbose applies an IMSG_CTL_VERBOSE.
 */
struct emailproxy_conf *proc_config_part(struct imsg *,
	    struct emailproxy_conf **pending);
void	 proc_config_done(struct imsgev *parent);
void	 proc_verbose(struct imsg *);

/*
 * chroot(dir), chdir("/"), setproctitle(title), then drop to user's
 * uid/gid (setgroups, setresgid, setresuid) and PR_SET_DUMPABLE 0.
 * When not started as root only the title is set (log_warnx once).
 */
void	 proc_privdrop(const char *user, const char *dir, const char *title);

/* Child entry points (the hidden -P flag). */
__attribute__((__noreturn__)) void proxy_main(int debug, int verbose);
__attribute__((__noreturn__)) void tokend_main(int debug, int verbose);
__attribute__((__noreturn__)) void authd_main(int debug, int verbose);

/* sandbox.c: one call per process, after proc_privdrop. */
void	 sandbox_proxy(void);
void	 sandbox_tokend(void);
void	 sandbox_authd(void);
#ifdef __OpenBSD__
/* The parent is not filtered on Linux: it keeps root for reloads. */
void	 sandbox_parent(void);
#endif

#endif /* PROC_H */
