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

#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>

#include "emailproxy.h"
#include "config.h"
#include "log.h"
#include "platform.h"
#include "proc.h"

static struct emailproxy_conf *proc_config_part(struct imsg *,
		    struct emailproxy_conf **);

int
imsgev_msg_end(struct imsgev *iev, struct msgw *w)
{
	if (msg_end(w, &iev->ibuf) == -1)
		return (-1);
	imsg_event_add(iev);
	return (0);
}

/* The messages that carry a configuration, CONF_START to CONF_END. */
static int
proc_config_type(uint32_t type)
{
	return (type >= IMSG_CONF_START && type <= IMSG_CONF_END);
}

struct emailproxy_conf *
proc_wait_config(struct imsgbuf *ibuf)
{
	struct emailproxy_conf	*pending = NULL, *conf;
	struct imsg		 imsg;
	struct pollfd		 pfd;
	ssize_t			 n;

	for (;;) {
		pfd.fd = ibuf->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		switch (imsgbuf_read(ibuf)) {
		case -1:
			fatal("read from parent");
		case 0:
			/* The parent went away before configuring us. */
			exit(0);
		}
		for (;;) {
			if ((n = imsg_get(ibuf, &imsg)) == -1)
				fatal("imsg_get from parent");
			if (n == 0)
				break;
			if (proc_config_type(imsg_get_type(&imsg))) {
				conf = proc_config_part(&imsg, &pending);
				imsg_free(&imsg);
				if (conf != NULL)
					return (conf);
			} else if (imsg_get_type(&imsg) == IMSG_CTL_VERBOSE) {
				/* The parent may tune verbosity early. */
				imsg_free(&imsg);
			} else
				fatalx("unexpected %s from parent before the "
				    "configuration",
				    imsg_type_name(imsg_get_type(&imsg)));
		}
	}
}

static struct emailproxy_conf *
proc_config_part(struct imsg *imsg, struct emailproxy_conf **pending)
{
	struct emailproxy_conf	*conf;

	switch (config_recv(imsg, pending)) {
	case -1:
		fatalx("malformed configuration from the parent");
	case 1:
		conf = *pending;
		*pending = NULL;
		return (conf);
	}
	return (NULL);
}

static void
proc_config_done(struct imsgev *parent)
{
	if (imsg_compose_event(parent, IMSG_CONF_DONE, 0, 0, -1, NULL,
	    0) == -1)
		fatal("cannot queue CONF_DONE");
}

void
proc_peer_gone(const char *peer)
{
	log_warnx("%s went away", peer);
	exit(PROC_EXIT_PEER_GONE);
}

static void
proc_verbose(struct imsg *imsg)
{
	struct msgr	r;
	uint32_t	level;

	msg_read_init(&r, imsg);
	level = msg_get_u32(&r);
	if (msg_read_end(&r) == -1)
		fatalx("malformed CTL_VERBOSE from the parent");
	log_setverbose(level);
}

int
proc_parent_common(struct imsgev *parent, struct imsg *imsg,
    struct emailproxy_conf **pending,
    void (*apply)(struct emailproxy_conf *))
{
	struct emailproxy_conf	*conf;

	if (imsg_get_type(imsg) == IMSG_CTL_VERBOSE) {
		proc_verbose(imsg);
		return (1);
	}
	if (!proc_config_type(imsg_get_type(imsg)))
		return (0);
	if ((conf = proc_config_part(imsg, pending)) != NULL) {
		apply(conf);
		proc_config_done(parent);
	}
	return (1);
}

void
proc_privdrop(const char *user, const char *dir, const char *title)
{
	struct passwd	*pw;

	setproctitle("%s", title);
	if (geteuid() != 0) {
		log_warnx("not started as root: %s keeps its user and "
		    "runs without chroot", title);
		platform_nodump();
		return;
	}
	if ((pw = getpwnam(user)) == NULL)
		fatalx("unknown user %s", user);
	if (chroot(dir) == -1)
		fatal("chroot %s", dir);
	if (chdir("/") == -1)
		fatal("chdir /");
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("cannot drop privileges to %s", user);
	/* No core dumps or ptrace of a process holding secrets. */
	platform_nodump();
}

const char *
proto_name(enum proto proto)
{
	switch (proto) {
	case PROTO_IMAP:
		return ("IMAP");
	case PROTO_POP:
		return ("POP");
	case PROTO_SMTP:
		return ("SMTP");
	}
	return ("?");
}
