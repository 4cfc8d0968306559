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
 * The control socket, owned by the parent; no child ever sees it.
 * Connections are sorted by their peer's credentials: root and members
 * of control_admin_group may change state (authorise, forget, reload,
 * log); anyone else who can connect (the socket is 0660, group
 * control_group) may only look.  Requests are answered here or relayed
 * to the child that owns the data; its answers come back by connection
 * id (imsg peerid).
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

/*
 * Anyone in control_group may connect: bound what they hold.  A
 * connection's requests are served one after the other, the next only
 * once the answer to the last has been written (a peer that does not
 * read its answers is no longer read: the parent holds one answer per
 * connection at most), and a connection serves at most
 * CONTROL_MAX_REQUESTS of them.
 */
#define CONTROL_MAX_CONNS	32
#define CONTROL_MAX_REQUESTS	256
/* A failed reload's reasons, as the log has them. */
#define CONTROL_REASON_MAX	2048

struct ctl_conn {
	TAILQ_ENTRY(ctl_conn)	 entry;
	uint32_t		 id;
	struct imsgev		 iev;
	uid_t			 uid;
	int			 admin;
	int			 waiting;	/* children yet to answer */
	int			 failed;
	int			 requests;	/* served so far */
};

static TAILQ_HEAD(, ctl_conn)	 conns = TAILQ_HEAD_INITIALIZER(conns);
static struct event		 ev_control;
static int			 control_fd = -1;
static char			*control_path;
static uint32_t			 next_id = 1;
static int			 nconns;

static int	control_dispatch(struct imsgev *, struct imsg *);
static void	control_gone(struct imsgev *);
static int	control_busy(struct imsgev *);

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

/*
 * Root, or a member of control_admin_group: by the peer's group, its
 * process's supplementary groups where the kernel tells them (the same
 * groups that let it open the socket), or the group database.
 */
static int
peer_is_admin(int fd, uid_t uid, gid_t gid)
{
	struct passwd	*pw;
	gid_t		 admin, groups[256];
	int		 n = 256, i;
#ifdef SO_PEERGROUPS
	socklen_t	 len = sizeof(groups);
#endif

	if (uid == 0)
		return (1);
	if (parent_conf->control_admin_group == NULL ||
	    group_gid(parent_conf->control_admin_group, &admin) == -1)
		return (0);
	if (gid == admin)
		return (1);
#ifdef SO_PEERGROUPS
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		for (i = 0; i < (int)(len / sizeof(groups[0])); i++)
			if (groups[i] == admin)
				return (1);
#endif
	if ((pw = getpwuid(uid)) == NULL ||
	    getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) == -1)
		return (0);
	for (i = 0; i < n; i++)
		if (groups[i] == admin)
			return (1);
	return (0);
}

static void
control_accept(int listenfd, short event, void *arg)
{
	uid_t		 uid;
	gid_t		 gid;
	int		 fd;

	if ((fd = accept4(listenfd, NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("control accept");
		return;
	}
	if (getpeereid(fd, &uid, &gid) == -1) {
		log_warn("control getpeereid");
		close(fd);
		return;
	}
	/* root is never locked out by others' connections. */
	if (nconns >= CONTROL_MAX_CONNS && uid != 0) {
		log_warnx("control: too many connections, refused uid %u",
		    (unsigned)uid);
		close(fd);
		return;
	}
	control_conn_add(fd, uid, gid);
}

/* A connection on fd from uid:gid: its requests are read from now on. */
void
control_conn_add(int fd, uid_t uid, gid_t gid)
{
	struct ctl_conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal(NULL);
	c->id = next_id++;
	c->uid = uid;
	c->admin = peer_is_admin(fd, uid, gid);
	/* Children's answers may be as large as their own messages. */
	imsgev_peer(&c->iev, fd, "control", control_dispatch, control_gone,
	    c, IMSG_MAXSIZE_PARENT, 0);
	c->iev.client = 1;
	c->iev.busy = control_busy;
	TAILQ_INSERT_TAIL(&conns, c, entry);
	nconns++;
	log_debug("control: connection %u from uid %u%s", c->id,
	    (unsigned)uid, c->admin ? " (admin)" : "");
}

static void
control_close(struct ctl_conn *c)
{
	TAILQ_REMOVE(&conns, c, entry);
	event_del(&c->iev.ev);
	imsgbuf_clear(&c->iev.ibuf);
	close(c->iev.ibuf.fd);
	free(c);
	nconns--;
}

static struct ctl_conn *
control_by_id(uint32_t id)
{
	struct ctl_conn	*c;

	TAILQ_FOREACH(c, &conns, entry)
		if (c->id == id)
			return (c);
	return (NULL);
}

static void
control_gone(struct imsgev *iev)
{
	control_close(iev->data);
}

/*
 * Busy: an answer is being made or written; read nothing more.  A
 * connection busy waiting for a child needs no event: the child's
 * answer re-arms it.
 */
static int
control_busy(struct imsgev *iev)
{
	struct ctl_conn	*c = iev->data;

	return (c->waiting > 0 || imsgbuf_queuelen(&iev->ibuf) > 0);
}

static void
control_fail(struct ctl_conn *c, const char *message)
{
	struct msgw	w;

	msg_begin(&w, &c->iev.ibuf, IMSG_CTL_FAIL, CTL_VERSION, -1);
	msg_put_str(&w, message);
	if (msg_end(&w, &c->iev.ibuf) == -1)
		log_warnx("control: cannot answer");
	imsg_event_add(&c->iev);
}

/* A tool of another version: say so, and close once it is written. */
static void
control_version_refuse(struct ctl_conn *c, uint32_t version)
{
	char	*msg;

	if (asprintf(&msg, "this emailproxyctl speaks control protocol "
	    "version %u, emailproxy version %u: use the emailproxyctl "
	    "installed with the running emailproxy", version,
	    CTL_VERSION) == -1)
		fatal(NULL);
	control_fail(c, msg);
	free(msg);
	c->iev.closing = 1;
}

static void
control_end(struct ctl_conn *c)
{
	if (imsg_compose(&c->iev.ibuf, IMSG_CTL_END, CTL_VERSION, 0, -1,
	    NULL, 0) == -1)
		log_warnx("control: cannot answer");
	imsg_event_add(&c->iev);
}

/* Queue imsg's type and payload (which may be empty) on iev. */
static int
control_forward(struct imsgev *iev, uint32_t peerid, struct imsg *imsg)
{
	void	*data = NULL;
	size_t	 len = imsg_get_len(imsg);
	int	 rc = 0;

	if (len > 0 && ((data = malloc(len)) == NULL ||
	    imsg_get_data(imsg, data, len) == -1))
		rc = -1;
	if (rc == 0 && imsg_compose(&iev->ibuf, imsg_get_type(imsg), peerid,
	    0, -1, data, len) == -1)
		rc = -1;
	freezero(data, len);
	if (rc == 0)
		imsg_event_add(iev);
	return (rc);
}

/* Relay a request to one child, keeping the payload as it came. */
static void
control_relay(struct ctl_conn *c, enum emailproxy_proc proc,
    struct imsg *imsg)
{
	if (control_forward(&children[proc].iev, c->id, imsg) == -1)
		fatal("control relay to %s", children[proc].name);
	c->waiting++;
}

static void
control_reload(struct ctl_conn *c)
{
	char	 reason[CONTROL_REASON_MAX], *msg;

	if (parent_reload(reason, sizeof(reason)) == 0) {
		log_info("configuration reloaded by uid %u", (unsigned)c->uid);
		control_end(c);
		return;
	}
	if (reason[0] == '\0') {
		control_fail(c, "reload failed, the running configuration "
		    "stays; see the log");
		return;
	}
	if (asprintf(&msg, "reload failed, the running configuration "
	    "stays:%s", reason) == -1)
		fatal(NULL);
	control_fail(c, msg);
	free(msg);
}

static void
control_request(struct ctl_conn *c, struct imsg *imsg)
{
	struct msgr	 r;
	uint32_t	 type = imsg_get_type(imsg), level;
	int		 i;

	c->failed = 0;
	if (imsg_get_id(imsg) != CTL_VERSION) {
		log_info("control: uid %u: control protocol version %u, not "
		    "%u, refused", (unsigned)c->uid, imsg_get_id(imsg),
		    CTL_VERSION);
		control_version_refuse(c, imsg_get_id(imsg));
		return;
	}
	if (++c->requests > CONTROL_MAX_REQUESTS) {
		log_info("control: uid %u: more than %d requests on one "
		    "connection, closing it", (unsigned)c->uid,
		    CONTROL_MAX_REQUESTS);
		control_fail(c, "too many requests on one connection");
		c->iev.closing = 1;
		return;
	}
	switch (type) {
	case IMSG_CTL_AUTHORISE:
	case IMSG_CTL_FORGET:
	case IMSG_CTL_RELOAD:
	case IMSG_CTL_LOG_VERBOSE:
		if (!c->admin) {
			log_info("control: uid %u denied a state-changing "
			    "command", (unsigned)c->uid);
			control_fail(c, "permission denied");
			return;
		}
		break;
	}
	switch (type) {
	case IMSG_CTL_SHOW_ACCOUNTS:
	case IMSG_CTL_FORGET:
		control_relay(c, PROC_TOKEND, imsg);
		break;
	case IMSG_CTL_SHOW_SESSIONS:
		control_relay(c, PROC_PROXY, imsg);
		break;
	case IMSG_CTL_SHOW_PENDING:
	case IMSG_CTL_AUTHORISE:
		control_relay(c, PROC_AUTHD, imsg);
		break;
	case IMSG_CTL_SHOW_STATS:
		for (i = PROC_PROXY; i < PROC_MAX; i++)
			control_relay(c, i, imsg);
		break;
	case IMSG_CTL_HEALTH:
		control_relay(c, PROC_PROXY, imsg);
		control_relay(c, PROC_TOKEND, imsg);
		break;
	case IMSG_CTL_RELOAD:
		control_reload(c);
		break;
	case IMSG_CTL_LOG_VERBOSE:
		msg_read_init(&r, imsg);
		level = msg_get_u32(&r);
		if (msg_read_end(&r) == -1 || level > 3) {
			control_fail(c, "malformed request");
			return;
		}
		parent_set_verbose(level);
		log_info("verbosity set to %u by uid %u", level,
		    (unsigned)c->uid);
		control_end(c);
		break;
	default:
		control_fail(c, "unknown request");
		break;
	}
}

/* A request of the tool: answered here, or relayed (control_request). */
static int
control_dispatch(struct imsgev *iev, struct imsg *imsg)
{
	control_request(iev->data, imsg);
	/* A pasted redirect URL carries an authorisation code. */
	if (imsg_get_type(imsg) == IMSG_CTL_AUTHORISE && imsg->data != NULL)
		explicit_bzero(imsg->data, imsg_get_len(imsg));
	return (DISPATCH_OK);
}

/* An answer from a child: pass it on to its connection. */
void
control_child_reply(struct imsg *imsg)
{
	struct ctl_conn	*c;
	uint32_t	 type = imsg_get_type(imsg);

	if ((c = control_by_id(imsg_get_id(imsg))) == NULL)
		return;		/* the tool went away */
	if (c->waiting == 0)
		fatalx("control: unexpected answer for connection %u", c->id);
	switch (type) {
	case IMSG_CTL_DATA:
		if (!c->failed && control_forward(&c->iev, CTL_VERSION, imsg) == -1) {
			log_warn("control: answer for connection %u", c->id);
			control_close(c);
			return;
		}
		imsg_event_add(&c->iev);
		return;
	case IMSG_CTL_FAIL:
		if (!c->failed && control_forward(&c->iev, CTL_VERSION, imsg) == -1) {
			log_warn("control: answer for connection %u", c->id);
			control_close(c);
			return;
		}
		c->failed = 1;
		break;
	}
	if (--c->waiting == 0 && !c->failed)
		control_end(c);
	else
		imsg_event_add(&c->iev);
}

void
control_listen(void)
{
	if (control_fd == -1)
		return;
	event_set(&ev_control, control_fd, EV_READ | EV_PERSIST,
	    control_accept, NULL);
	event_add(&ev_control, NULL);
}
