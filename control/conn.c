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
 * The control socket's connections, served by the unprivileged control
 * process.  Connections are sorted by their peer's credentials: root
 * and members of control_admin_group may change state (authorise,
 * forget, reload, log); anyone else who can connect (the socket is
 * 0660, group control_group) may only look.  Every request is read
 * here, its version, permission and payload checked, then sent to the
 * process that owns the data: reload and log to the parent, the others
 * to the proxy, tokend or authd directly.  Their answers come back by
 * connection id (imsg peerid).
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>

#include "emailproxy.h"
#include "log.h"
#include "msg.h"
#include "dispatch.h"
#include "control.h"

/*
 * Anyone in control_group may connect: bound what they hold.  A
 * connection's requests are served one after the other, the next only
 * once the answer to the last has been written (a peer that does not
 * read its answers is no longer read: the process holds one answer per
 * connection at most), and a connection serves at most
 * CONTROL_MAX_REQUESTS of them.  A request is at most
 * IMSG_MAXSIZE_PARENT bytes, as are the answers it relays.
 */
#define CONTROL_MAX_CONNS	32
#define CONTROL_MAX_REQUESTS	256

struct ctl_conn {
	TAILQ_ENTRY(ctl_conn)	 entry;
	uint32_t		 id;
	struct imsgev		 iev;
	uid_t			 uid;
	int			 admin;
	int			 waiting;	/* peers yet to answer */
	int			 failed;
	int			 requests;	/* served so far */
};

struct imsgev			*control_peers[PROC_MAX];

static TAILQ_HEAD(, ctl_conn)	 conns = TAILQ_HEAD_INITIALIZER(conns);
static struct event		 ev_accept;
static uint32_t			 next_id = 1;
static int			 nconns;
static uint32_t			 admin_gid = CONTROL_NO_GID;
static uint32_t			*admin_uids;
static size_t			 admin_nuids;

static int	control_dispatch(struct imsgev *, struct imsg *);
static void	control_gone(struct imsgev *);
static int	control_busy(struct imsgev *);

void
control_admins_set(uint32_t gid, const uint32_t *uids, size_t n)
{
	free(admin_uids);
	admin_uids = NULL;
	admin_nuids = 0;
	admin_gid = gid;
	if (n == 0)
		return;
	if ((admin_uids = calloc(n, sizeof(*admin_uids))) == NULL)
		fatal(NULL);
	memcpy(admin_uids, uids, n * sizeof(*admin_uids));
	admin_nuids = n;
}

/*
 * Root, or a member of control_admin_group: by the peer's group, its
 * process's supplementary groups where the kernel tells them (the same
 * groups that let it open the socket), or the group database as the
 * parent read it at start and at the last reload.
 */
static int
peer_is_admin(int fd, uid_t uid, gid_t gid)
{
	size_t		 i;
#ifdef SO_PEERGROUPS
	gid_t		 groups[256];
	socklen_t	 len = sizeof(groups);
#endif

	if (uid == 0)
		return (1);
	if (admin_gid == CONTROL_NO_GID)
		return (0);
	if ((uint32_t)gid == admin_gid)
		return (1);
#ifdef SO_PEERGROUPS
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		for (i = 0; i < len / sizeof(groups[0]); i++)
			if ((uint32_t)groups[i] == admin_gid)
				return (1);
#endif
	for (i = 0; i < admin_nuids; i++)
		if (admin_uids[i] == (uint32_t)uid)
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
			log_warn("accept");
		return;
	}
	if (getpeereid(fd, &uid, &gid) == -1) {
		log_warn("getpeereid");
		close(fd);
		return;
	}
	/* root is never locked out by others' connections. */
	if (nconns >= CONTROL_MAX_CONNS && uid != 0) {
		log_warnx("too many connections, refused uid %u",
		    (unsigned)uid);
		close(fd);
		return;
	}
	control_conn_add(fd, uid, gid);
}

void
control_accept_start(int listenfd)
{
	event_set(&ev_accept, listenfd, EV_READ | EV_PERSIST,
	    control_accept, NULL);
	event_add(&ev_accept, NULL);
}

void
control_conn_add(int fd, uid_t uid, gid_t gid)
{
	struct ctl_conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal(NULL);
	c->id = next_id++;
	c->uid = uid;
	c->admin = peer_is_admin(fd, uid, gid);
	/* Answers may be as large as the peers' own messages. */
	imsgev_peer(&c->iev, fd, "control client", control_dispatch,
	    control_gone, c, IMSG_MAXSIZE_PARENT, 0);
	c->iev.client = 1;
	c->iev.busy = control_busy;
	TAILQ_INSERT_TAIL(&conns, c, entry);
	nconns++;
	log_debug("connection %u from uid %u%s", c->id, (unsigned)uid,
	    c->admin ? " (admin)" : "");
}

static void
control_close(struct ctl_conn *c)
{
	TAILQ_REMOVE(&conns, c, entry);
	imsgev_clear(&c->iev);
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
 * connection busy waiting for a peer needs no event: the peer's
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
		log_warnx("connection %u: cannot answer", c->id);
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
		log_warnx("connection %u: cannot answer", c->id);
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

/* Send a checked request to the process that owns its data. */
static void
control_relay(struct ctl_conn *c, enum emailproxy_proc proc,
    struct imsg *imsg)
{
	if (control_forward(control_peers[proc], c->id, imsg) == -1)
		fatal("control relay to %s", control_peers[proc]->name);
	c->waiting++;
}

/*
 * The payload each request must have, exactly: 0 if it has it.  A
 * request that changes nothing carries none.
 */
static int
control_parse(struct imsg *imsg)
{
	struct msgr	 r;
	const char	*account, *password;
	uint32_t	 level;

	msg_read_init(&r, imsg);
	switch (imsg_get_type(imsg)) {
	case IMSG_CTL_AUTHORISE:
		account = msg_get_str(&r);
		(void)msg_get_str(&r);		/* the pasted URL, or NULL */
		return (msg_read_end(&r) == -1 || account == NULL ||
		    *account == '\0' ? -1 : 0);
	case IMSG_CTL_FORGET:
		account = msg_get_str(&r);
		return (msg_read_end(&r) == -1 || account == NULL ||
		    *account == '\0' ? -1 : 0);
	case IMSG_CTL_TOKEN:
		account = msg_get_str(&r);
		password = msg_get_str(&r);
		return (msg_read_end(&r) == -1 || account == NULL ||
		    *account == '\0' || password == NULL ? -1 : 0);
	case IMSG_CTL_LOG_VERBOSE:
		level = msg_get_u32(&r);
		return (msg_read_end(&r) == -1 || level > 3 ? -1 : 0);
	}
	return (imsg_get_len(imsg) == 0 ? 0 : -1);
}

/* Which requests exist, and which of them change state. */
static int
control_known(uint32_t type, int *changes)
{
	*changes = 0;
	switch (type) {
	case IMSG_CTL_AUTHORISE:
	case IMSG_CTL_FORGET:
	case IMSG_CTL_RELOAD:
	case IMSG_CTL_LOG_VERBOSE:
		*changes = 1;
		return (1);
	case IMSG_CTL_SHOW_ACCOUNTS:
	case IMSG_CTL_SHOW_SESSIONS:
	case IMSG_CTL_SHOW_PENDING:
	case IMSG_CTL_SHOW_STATS:
	case IMSG_CTL_HEALTH:
	case IMSG_CTL_TOKEN:		/* the account's password decides */
		return (1);
	}
	return (0);
}

/*
 * token: to tokend with the caller's uid, for its log lines.  The
 * password is in the request (wiped by control_dispatch) and in the
 * message queued for tokend (wiped when it is written and freed).
 */
static void
control_token(struct ctl_conn *c, struct imsg *imsg)
{
	struct msgr	 r;
	struct msgw	 w;
	const char	*account, *password;

	msg_read_init(&r, imsg);
	account = msg_get_str(&r);
	password = msg_get_str(&r);
	if (msg_read_end(&r) == -1)
		fatalx("%s: unchecked request", __func__);
	log_info("uid %u asks for a token (connection %u)", (unsigned)c->uid,
	    c->id);
	msg_begin(&w, &control_peers[PROC_TOKEND]->ibuf, IMSG_CTL_TOKEN,
	    c->id, -1);
	msg_put_str(&w, account);
	msg_put_str(&w, password);
	msg_put_u32(&w, (uint32_t)c->uid);
	if (msg_end(&w, &control_peers[PROC_TOKEND]->ibuf) == -1)
		fatal("control relay to tokend");
	imsg_event_add(control_peers[PROC_TOKEND]);
	c->waiting++;
}

static void
control_request(struct ctl_conn *c, struct imsg *imsg)
{
	uint32_t	 type = imsg_get_type(imsg);
	int		 i, changes;

	c->failed = 0;
	if (imsg_get_id(imsg) != CTL_VERSION) {
		log_info("uid %u: control protocol version %u, not %u, "
		    "refused", (unsigned)c->uid, imsg_get_id(imsg),
		    CTL_VERSION);
		control_version_refuse(c, imsg_get_id(imsg));
		return;
	}
	if (++c->requests > CONTROL_MAX_REQUESTS) {
		log_info("uid %u: more than %d requests on one connection, "
		    "closing it", (unsigned)c->uid, CONTROL_MAX_REQUESTS);
		control_fail(c, "too many requests on one connection");
		c->iev.closing = 1;
		return;
	}
	if (!control_known(type, &changes)) {
		log_info("uid %u: unknown request %s", (unsigned)c->uid,
		    imsg_type_name(type));
		control_fail(c, "unknown request");
		return;
	}
	if (changes && !c->admin) {
		log_info("uid %u denied a state-changing command",
		    (unsigned)c->uid);
		control_fail(c, "permission denied");
		return;
	}
	if (control_parse(imsg) == -1) {
		log_info("uid %u: malformed %s", (unsigned)c->uid,
		    imsg_type_name(type));
		control_fail(c, "malformed request");
		return;
	}
	switch (type) {
	case IMSG_CTL_SHOW_ACCOUNTS:
	case IMSG_CTL_FORGET:
		control_relay(c, PROC_TOKEND, imsg);
		break;
	case IMSG_CTL_TOKEN:
		control_token(c, imsg);
		break;
	case IMSG_CTL_SHOW_SESSIONS:
		control_relay(c, PROC_PROXY, imsg);
		break;
	case IMSG_CTL_SHOW_PENDING:
	case IMSG_CTL_AUTHORISE:
		control_relay(c, PROC_AUTHD, imsg);
		break;
	case IMSG_CTL_SHOW_STATS:
		for (i = PROC_PROXY; i <= PROC_AUTHD; i++)
			control_relay(c, i, imsg);
		break;
	case IMSG_CTL_HEALTH:
		control_relay(c, PROC_PROXY, imsg);
		control_relay(c, PROC_TOKEND, imsg);
		break;
	case IMSG_CTL_RELOAD:
		log_info("uid %u asks for a reload", (unsigned)c->uid);
		control_relay(c, PROC_PARENT, imsg);
		break;
	case IMSG_CTL_LOG_VERBOSE:
		log_info("uid %u sets the verbosity", (unsigned)c->uid);
		control_relay(c, PROC_PARENT, imsg);
		break;
	}
}

/* A request of the tool, checked and sent on (control_request). */
static int
control_dispatch(struct imsgev *iev, struct imsg *imsg)
{
	control_request(iev->data, imsg);
	/*
	 * A pasted redirect URL carries an authorisation code, a token
	 * request a password; an answer may carry a token (the loop's
	 * imsg_free wipes the buffer too).
	 */
	if ((imsg_get_type(imsg) == IMSG_CTL_AUTHORISE ||
	    imsg_get_type(imsg) == IMSG_CTL_TOKEN) && imsg->data != NULL)
		explicit_bzero(imsg->data, imsg_get_len(imsg));
	return (DISPATCH_OK);
}

void
control_answer(struct imsg *imsg)
{
	struct ctl_conn	*c;
	uint32_t	 type = imsg_get_type(imsg);

	if ((c = control_by_id(imsg_get_id(imsg))) == NULL)
		return;		/* the tool went away */
	if (c->waiting == 0)
		fatalx("unexpected answer for connection %u", c->id);
	switch (type) {
	case IMSG_CTL_DATA:
		if (!c->failed &&
		    control_forward(&c->iev, CTL_VERSION, imsg) == -1) {
			log_warn("answer for connection %u", c->id);
			control_close(c);
			return;
		}
		imsg_event_add(&c->iev);
		return;
	case IMSG_CTL_FAIL:
		if (!c->failed &&
		    control_forward(&c->iev, CTL_VERSION, imsg) == -1) {
			log_warn("answer for connection %u", c->id);
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
