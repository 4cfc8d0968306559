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
 * The control process (after OpenBGPD's and OpenSMTPD's control.c): it
 * serves the control socket, which the parent created and bound as
 * root and handed over on CONTROL_LISTEN_FILENO, so the root parent
 * never reads a request.  It waits for the parent's IMSG_CONTROL_CONF
 * (the user, empty_dir, who may change state), drops to the
 * unprivileged user in empty_dir, loads its filter (accept, no files,
 * no network) and only then accepts connections.  Its links: the
 * parent (reload, log), and the proxy, tokend and authd, which answer
 * the other requests directly.
 */

#include <sys/types.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <event.h>

#include "emailproxy.h"
#include "log.h"
#include "msg.h"
#include "proc.h"
#include "control.h"

static struct imsgev	 iev_parent, iev_proxy, iev_tokend, iev_authd;
static int		 started;

static int	control_dispatch_parent(struct imsgev *, struct imsg *);
static int	control_dispatch_peer(struct imsgev *, struct imsg *);
static void	control_parent_gone(struct imsgev *);
static void	control_peer_gone(struct imsgev *);

__dead void
control_main(int debug, int verbose)
{
	log_init(debug, LOG_DAEMON);
	log_setverbose(verbose);
	log_procinit("control");

	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	/* The parent's too: a signal sent to every process of the unit. */
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	signal(SIGTERM, SIG_IGN);

	event_init();
	imsgev_peer(&iev_parent, PARENT_SOCK_FILENO, "parent",
	    control_dispatch_parent, control_parent_gone, NULL,
	    IMSG_MAXSIZE_PARENT, 0);
	control_peers[PROC_PARENT] = &iev_parent;
	event_dispatch();
	fatalx("event loop ended");
}

/* The first configuration: drop privileges, then serve. */
static void
control_start(const char *user, const char *empty_dir)
{
	proc_privdrop(user, empty_dir, "control");
	sandbox_control();

	imsgev_peer(&iev_proxy, PEER1_SOCK_FILENO, "proxy",
	    control_dispatch_peer, control_peer_gone, NULL,
	    IMSG_MAXSIZE_PARENT, 0);
	imsgev_peer(&iev_tokend, PEER2_SOCK_FILENO, "tokend",
	    control_dispatch_peer, control_peer_gone, NULL,
	    IMSG_MAXSIZE_PARENT, 0);
	imsgev_peer(&iev_authd, PEER3_SOCK_FILENO, "authd",
	    control_dispatch_peer, control_peer_gone, NULL,
	    IMSG_MAXSIZE_PARENT, 0);
	control_peers[PROC_PROXY] = &iev_proxy;
	control_peers[PROC_TOKEND] = &iev_tokend;
	control_peers[PROC_AUTHD] = &iev_authd;
	control_accept_start(CONTROL_LISTEN_FILENO);
	started = 1;
	log_debug("serving the control socket");
}

static void
control_conf(struct imsgev *iev, struct imsg *imsg)
{
	struct msgr	 r;
	const char	*user, *empty_dir;
	const void	*uids;
	uint32_t	 gid, *copy = NULL;
	size_t		 len, n;

	msg_read_init(&r, imsg);
	user = msg_get_str(&r);
	empty_dir = msg_get_str(&r);
	gid = msg_get_u32(&r);
	uids = msg_get_data(&r, &len);
	if (msg_read_end(&r) == -1 || user == NULL || empty_dir == NULL ||
	    len % sizeof(uint32_t) != 0)
		fatalx("malformed CONTROL_CONF from the parent");
	n = len / sizeof(uint32_t);
	if (n > 0) {
		/* The payload is not aligned for uint32_t. */
		if ((copy = calloc(n, sizeof(*copy))) == NULL)
			fatal(NULL);
		memcpy(copy, uids, len);
	}
	control_admins_set(gid, copy, n);
	free(copy);
	if (!started)
		control_start(user, empty_dir);
	if (imsg_compose_event(iev, IMSG_CONF_DONE, 0, 0, -1, NULL, 0) == -1)
		fatal("cannot queue CONF_DONE");
}

static int
control_dispatch_parent(struct imsgev *iev, struct imsg *imsg)
{
	struct msgr	 r;
	uint32_t	 level;

	switch (imsg_get_type(imsg)) {
	case IMSG_CONTROL_CONF:
		control_conf(iev, imsg);
		return (DISPATCH_OK);
	case IMSG_CTL_VERBOSE:
		msg_read_init(&r, imsg);
		level = msg_get_u32(&r);
		if (msg_read_end(&r) == -1) {
			log_warnx("malformed CTL_VERBOSE from the parent");
			return (DISPATCH_BAD);
		}
		log_setverbose(level);
		return (DISPATCH_OK);
	case IMSG_CTL_END:
	case IMSG_CTL_FAIL:
		/* The parent's answer to a reload or log request. */
		control_answer(imsg);
		return (DISPATCH_OK);
	case IMSG_SHUTDOWN:
		log_debug("exiting");
		exit(0);
	}
	return (DISPATCH_UNKNOWN);
}

/* The proxy, tokend and authd answer requests, and send nothing else. */
static int
control_dispatch_peer(struct imsgev *iev, struct imsg *imsg)
{
	switch (imsg_get_type(imsg)) {
	case IMSG_CTL_DATA:
	case IMSG_CTL_END:
	case IMSG_CTL_FAIL:
		control_answer(imsg);
		return (DISPATCH_OK);
	}
	return (DISPATCH_UNKNOWN);
}

/* Without the parent there is nobody to serve for. */
static void
control_parent_gone(struct imsgev *iev)
{
	exit(0);
}

/*
 * A peer closed its link: the parent, which sees that child go, stops
 * the daemon and names it.  The parent stops this process first when
 * it stops the daemon, so this is never a requested stop.
 */
static void
control_peer_gone(struct imsgev *iev)
{
	proc_peer_gone(iev->name);
}
