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
 * The control socket, the parent's part: it creates and binds the
 * socket as root (its directory, group control_group, mode 0660) and
 * hands the listening descriptor to the control process
 * (control/control.c), which accepts and reads every request.  The
 * parent tells that process who may change state (IMSG_CONTROL_CONF)
 * and does for it only what needs root: reload and log verbosity.
 * Anything else the control process sends is refused with a log line;
 * a malformed frame from it stops the daemon cleanly (parent.c).
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>

#include "emailproxy.h"
#include "config.h"
#include "log.h"
#include "msg.h"
#include "proc.h"
#include "parent.h"

/* A failed reload's reasons, as the log has them. */
#define CONTROL_REASON_MAX	2048
/* The members of control_admin_group the control process is told. */
#define CONTROL_ADMINS_MAX	4096

static int			 control_fd = -1;
static char			*control_path;
/* The control process waits for its part until the others have theirs. */
static int			 conf_due;
/* The connections whose reload succeeded, answered with it. */
static uint32_t			*reload_ids;
static size_t			 nreload_ids;

/* Is another daemon answering on this socket? */
static int
control_in_use(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd, used;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	used = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return (used);
}

static int
group_gid(const char *name, gid_t *gid)
{
	struct group	*gr;

	if ((gr = getgrnam(name)) == NULL)
		return (-1);
	*gid = gr->gr_gid;
	return (0);
}

/* The socket's directory (/var/run/emailproxy) may not exist yet. */
static int
control_mkdir(const char *path)
{
	char	*dir, *slash;
	int	 rc = 0;

	if ((dir = strdup(path)) == NULL)
		fatal(NULL);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
			log_warn("control socket directory %s", dir);
			rc = -1;
		}
	}
	free(dir);
	return (rc);
}

int
control_init(const struct emailproxy_conf *conf)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	gid_t			 gid = 0, egid = getegid();
	mode_t			 old_umask;
	int			 fd, rc, root = geteuid() == 0;

	if (conf->control_group != NULL &&
	    group_gid(conf->control_group, &gid) == -1) {
		log_warnx("%s: control_group: unknown group %s", conf->path,
		    conf->control_group);
		return (-1);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, conf->control_socket,
	    sizeof(sun.sun_path)) >= sizeof(sun.sun_path)) {
		log_warnx("%s: control_socket: path too long", conf->path);
		return (-1);
	}
	if (control_mkdir(conf->control_socket) == -1)
		return (-1);
	if (control_in_use(conf->control_socket)) {
		log_warnx("control socket %s is in use: is emailproxy "
		    "already running?", conf->control_socket);
		return (-1);
	}
	/* Only a stale socket may be replaced, never a file. */
	if (lstat(conf->control_socket, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		log_warnx("control socket %s exists and is not a socket",
		    conf->control_socket);
		return (-1);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		log_warn("control socket");
		return (-1);
	}
	if (unlink(conf->control_socket) == -1 && errno != ENOENT) {
		log_warn("unlink %s", conf->control_socket);
		close(fd);
		return (-1);
	}
	/*
	 * 0660 and the group from the start: no window where others may
	 * connect, and no chown, which needs CAP_CHOWN (the service unit
	 * keeps CAP_SETGID only).
	 */
	if (root && setegid(gid) == -1) {
		log_warn("control socket: setegid %u", (unsigned)gid);
		close(fd);
		return (-1);
	}
	old_umask = umask(S_IXUSR | S_IXGRP | S_IRWXO);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (root && setegid(egid) == -1)
		fatal("setegid %u", (unsigned)egid);
	if (rc == -1) {
		log_warn("bind %s", conf->control_socket);
		close(fd);
		return (-1);
	}
	/* A set-group-ID directory imposes its own group. */
	if ((root && (stat(conf->control_socket, &st) == -1 ||
	    (st.st_gid != gid &&
	    chown(conf->control_socket, (uid_t)-1, gid) == -1))) ||
	    chmod(conf->control_socket, 0660) == -1 ||
	    listen(fd, 16) == -1) {
		log_warn("control socket %s", conf->control_socket);
		unlink(conf->control_socket);
		close(fd);
		return (-1);
	}
	control_fd = fd;
	if ((control_path = strdup(conf->control_socket)) == NULL)
		fatal(NULL);
	return (0);
}

void
control_cleanup(void)
{
	if (control_path != NULL) {
		unlink(control_path);
		free(control_path);
		control_path = NULL;
	}
}

int
control_socket_fd(void)
{
	return (control_fd);
}

/* Once the control process holds the socket, the parent keeps none. */
void
control_socket_close(void)
{
	if (control_fd != -1) {
		close(control_fd);
		control_fd = -1;
	}
}

static void
control_add_uid(uint32_t *uids, size_t *n, uid_t uid)
{
	size_t	i;

	for (i = 0; i < *n; i++)
		if (uids[i] == (uint32_t)uid)
			return;
	if (*n < CONTROL_ADMINS_MAX)
		uids[(*n)++] = (uint32_t)uid;
}

/*
 * The members of control_admin_group by the group database: the users
 * it lists and those whose primary group it is.  The control process,
 * chrooted, cannot read the database; it also asks the kernel for its
 * peer's groups (SO_PEERGROUPS).
 */
static uint32_t
control_admins(const struct emailproxy_conf *conf, uint32_t *uids,
    size_t *n)
{
	struct group	*gr;
	struct passwd	*pw;
	gid_t		 gid;
	char		**m;

	*n = 0;
	if (conf->control_admin_group == NULL)
		return (CONTROL_NO_GID);
	if ((gr = getgrnam(conf->control_admin_group)) == NULL) {
		log_warnx("control_admin_group: unknown group %s: only root "
		    "may change state", conf->control_admin_group);
		return (CONTROL_NO_GID);
	}
	gid = gr->gr_gid;
	for (m = gr->gr_mem; m != NULL && *m != NULL; m++)
		if ((pw = getpwnam(*m)) != NULL)
			control_add_uid(uids, n, pw->pw_uid);
	setpwent();
	while ((pw = getpwent()) != NULL)
		if (pw->pw_gid == gid)
			control_add_uid(uids, n, pw->pw_uid);
	endpwent();
	if (*n == CONTROL_ADMINS_MAX)
		log_warnx("control_admin_group %s: only the first %d members "
		    "of the group database count", conf->control_admin_group,
		    CONTROL_ADMINS_MAX);
	return ((uint32_t)gid);
}

static void	control_answer(struct imsgev *, uint32_t, const char *);

/* At start and at every reload, the control process's turn comes. */
void
control_conf_due(void)
{
	conf_due = 1;
}

/*
 * The other children have the configuration in place: what the
 * control process needs, then the answers to the reloads it asked
 * for, which so reach it after the configuration they made.
 */
void
control_conf_send(struct imsgev *iev, const struct emailproxy_conf *conf)
{
	struct msgw	 w;
	uint32_t	*uids, gid;
	size_t		 i, n;

	if (!conf_due)
		return;
	conf_due = 0;
	if ((uids = calloc(CONTROL_ADMINS_MAX, sizeof(*uids))) == NULL)
		fatal(NULL);
	gid = control_admins(conf, uids, &n);
	msg_begin(&w, &iev->ibuf, IMSG_CONTROL_CONF, 0, -1);
	msg_put_str(&w, conf->user);
	msg_put_str(&w, conf->empty_dir);
	msg_put_u32(&w, gid);
	msg_put_data(&w, uids, n * sizeof(*uids));
	free(uids);
	if (imsgev_msg_end(iev, &w) == -1)
		fatalx("cannot send the configuration to control");
	for (i = 0; i < nreload_ids; i++)
		control_answer(iev, reload_ids[i], NULL);
	free(reload_ids);
	reload_ids = NULL;
	nreload_ids = 0;
}

static void
control_answer(struct imsgev *iev, uint32_t id, const char *fail)
{
	struct msgw	w;

	if (fail == NULL) {
		if (imsg_compose_event(iev, IMSG_CTL_END, id, 0, -1, NULL,
		    0) == -1)
			log_warnx("cannot answer the control process");
		return;
	}
	msg_begin(&w, &iev->ibuf, IMSG_CTL_FAIL, id, -1);
	msg_put_str(&w, fail);
	if (imsgev_msg_end(iev, &w) == -1)
		log_warnx("cannot answer the control process");
}

static void
control_reload(struct imsgev *iev, uint32_t id)
{
	char	 reason[CONTROL_REASON_MAX], *msg;

	if (parent_reload(reason, sizeof(reason)) == 0) {
		log_info("configuration reloaded by emailproxyctl");
		/* Answered once the children have it (control_conf_send). */
		if ((reload_ids = reallocarray(reload_ids, nreload_ids + 1,
		    sizeof(*reload_ids))) == NULL)
			fatal(NULL);
		reload_ids[nreload_ids++] = id;
		return;
	}
	if (reason[0] == '\0') {
		control_answer(iev, id, "reload failed, the running "
		    "configuration stays; see the log");
		return;
	}
	if (asprintf(&msg, "reload failed, the running configuration "
	    "stays:%s", reason) == -1)
		fatal(NULL);
	control_answer(iev, id, msg);
	free(msg);
}

/*
 * The control process's messages.  It runs unprivileged and reads
 * what anyone in control_group writes: whatever it sends is checked
 * here and never ends the parent.  A type it may not send, or a
 * malformed payload, is logged and answered CTL_FAIL.
 */
int
control_dispatch_proc(struct imsgev *iev, struct imsg *imsg)
{
	struct msgr	 r;
	uint32_t	 type = imsg_get_type(imsg), id = imsg_get_id(imsg);
	uint32_t	 level;

	switch (type) {
	case IMSG_CONF_DONE:
		if (imsg_get_len(imsg) != 0 ||
		    child_configured(iev->data) == -1)
			log_warnx("unexpected CONF_DONE from the control "
			    "process, ignored");
		return (DISPATCH_OK);
	case IMSG_CTL_RELOAD:
		if (imsg_get_len(imsg) != 0)
			break;
		control_reload(iev, id);
		return (DISPATCH_OK);
	case IMSG_CTL_LOG_VERBOSE:
		msg_read_init(&r, imsg);
		level = msg_get_u32(&r);
		if (msg_read_end(&r) == -1 || level > 3)
			break;
		parent_set_verbose(level);
		log_info("verbosity set to %u by emailproxyctl", level);
		control_answer(iev, id, NULL);
		return (DISPATCH_OK);
	default:
		log_warnx("control process: %s refused",
		    imsg_type_name(type));
		control_answer(iev, id, "request refused");
		return (DISPATCH_OK);
	}
	log_warnx("control process: malformed %s refused",
	    imsg_type_name(type));
	control_answer(iev, id, "malformed request");
	return (DISPATCH_OK);
}
