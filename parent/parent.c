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
 * The parent's event loop: configure the children, pass listeners,
 * reload on SIGHUP, stop on SIGTERM/SIGINT, toggle debug logging on
 * SIGUSR1 (as the Python proxy does), reopen the --log-file on SIGUSR2,
 * and stop everything when a
 * child dies (no half-alive daemon; the service manager restarts us).
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event.h>

#include "emailproxy.h"
#include "config.h"
#include "log.h"
#include "msg.h"
#include "proc.h"
#include "parent.h"

struct emailproxy_conf	*parent_conf;

/* Descriptors beside the sessions': imsg, control, logs, DNS. */
#define NOFILE_RESERVE	64
/* ms a port that is in use at start is tried again. */
#define START_BIND_WAIT	5000
/* ms to wait for the child that caused a loss, to name it. */
#define CHILD_CAUSE_WAIT 3000

static struct parent_opts *opts;
static int		 stopping;
static int		 start_verbose;

static void	 nofile_check(const struct emailproxy_conf *);

static __dead void
parent_shutdown(int status)
{
	stopping = 1;
	sdnotify("STOPPING=1");
	children_stop();
	logrelay_finish(500);
	listeners_discard();
	redirect_discard();
	control_cleanup();
	log_info("stopped");
	config_free(parent_conf);
	exit(status);
}

/* The control process's comes later: control_conf_due(). */
static void
send_config(struct child *c, const struct emailproxy_conf *conf)
{
	c->configured = 0;
	if (c->proc == PROC_CONTROL) {
		control_conf_due();
		return;
	}
	if (config_send(&c->iev.ibuf, conf, c->proc) == -1)
		fatalx("cannot send the configuration to %s", c->name);
	imsg_event_add(&c->iev);
}

void
parent_set_verbose(int v)
{
	struct msgw	w;
	int		i;

	log_setverbose(v);
	for (i = PROC_PROXY; i < PROC_MAX; i++) {
		msg_begin(&w, &children[i].iev.ibuf, IMSG_CTL_VERBOSE, 0, -1);
		msg_put_u32(&w, v);
		if (imsgev_msg_end(&children[i].iev, &w) == -1)
			fatalx("cannot send verbosity to %s",
			    children[i].name);
	}
}

/*
 * SIGHUP: a configuration that does not load, or whose listeners cannot
 * be opened, changes nothing; the daemon keeps running on the old one.
 */
static int
same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

/*
 * With reason (size > 0), what made a reload fail is left there as the
 * log has it, for emailproxyctl.
 */
int
parent_reload(char *reason, size_t size)
{
	struct emailproxy_conf	*newconf;
	long long		 nowait = 0;
	int			 i;

	log_info("reloading configuration from %s", opts->conffile);
	sdnotify("RELOADING=1");
	log_capture(reason, size);
	if ((newconf = config_load(opts->conffile,
	    opts->cache_store)) == NULL ||
	    config_load_files(newconf) == -1 ||
	    listeners_prepare(newconf, parent_conf, &nowait) == -1 ||
	    redirect_prepare(newconf, &nowait) == -1) {
		log_capture(NULL, 0);
		listeners_discard();
		redirect_discard();
		config_free(newconf);
		log_warnx("reload failed: keeping the running configuration");
		sdnotify("READY=1");
		return (-1);
	}
	log_capture(NULL, 0);
	if (strcmp(newconf->user, parent_conf->user) != 0 ||
	    strcmp(newconf->store_dir, parent_conf->store_dir) != 0 ||
	    strcmp(newconf->empty_dir, parent_conf->empty_dir) != 0)
		log_warnx("user, store_dir and empty_dir changes take effect "
		    "at the next start");
	if (strcmp(newconf->control_socket, parent_conf->control_socket) != 0 ||
	    !same_str(newconf->control_group, parent_conf->control_group))
		log_warnx("control_socket and control_group changes take "
		    "effect at the next start");
	nofile_check(newconf);
	for (i = PROC_PROXY; i < PROC_MAX; i++)
		send_config(&children[i], newconf);
	listeners_send(&children[PROC_PROXY].iev);
	redirect_send(&children[PROC_PROXY].iev);
	config_free(parent_conf);
	parent_conf = newconf;
	return (0);
}

void
child_log_lost(const struct child *c, int status)
{
	if (WIFSIGNALED(status))
		log_warnx("lost child: %s terminated by signal %d (%s)%s",
		    c->name, WTERMSIG(status), strsignal(WTERMSIG(status)),
		    WTERMSIG(status) == SIGSYS ? ", a sandbox violation" : "");
	else if (child_followed(status))
		log_warnx("%s exited: a peer went away", c->name);
	else
		log_warnx("lost child: %s exited with status %d",
		    c->name, WEXITSTATUS(status));
}

/* It exited because another child went away: not the cause. */
int
child_followed(int status)
{
	return (WIFEXITED(status) &&
	    WEXITSTATUS(status) == PROC_EXIT_PEER_GONE);
}

/*
 * Reap every child that has gone and name them, the cause first: those
 * killed by a signal, then those that exited for a reason of their own,
 * then those that only followed a peer (PROC_EXIT_PEER_GONE).  A peer
 * that follows may be reaped before the child it followed is, so while
 * every child gone so far only followed (or want, whose link closed, is
 * not reaped yet) and some still run, wait for the cause, at most
 * wait_ms.  Returns how many were reaped.
 */
static int
parent_collect(struct child *want, int wait_ms)
{
	struct timespec	 pause = { 0, 10 * 1000 * 1000 };
	struct child	*c;
	pid_t		 pid;
	int		 status[PROC_MAX], gone[PROC_MAX] = { 0 };
	int		 i, pass, lost = 0, waited, cause, left, any;

	for (waited = 0;; waited += 10) {
		while ((pid = waitpid(-1, &status[0], WNOHANG)) > 0) {
			if ((c = child_by_pid(pid)) == NULL) {
				/* a notify_command */
				(void)notify_reaped(pid, status[0]);
				continue;
			}
			c->pid = 0;
			gone[c->proc] = 1;
			status[c->proc] = status[0];
		}
		cause = left = any = 0;
		for (i = PROC_PROXY; i < PROC_MAX; i++) {
			if (gone[i] && !child_followed(status[i]))
				cause = 1;
			any |= gone[i];
			if (children[i].pid > 0)
				left++;
		}
		if (left == 0 || waited >= wait_ms)
			break;
		if (want == NULL && !any)
			break;			/* nothing of ours went */
		if ((want == NULL || want->pid == 0) && cause)
			break;
		logrelay_drain();
		nanosleep(&pause, NULL);
	}
	if (stopping)
		return (0);
	for (pass = 0; pass < 3; pass++)
		for (i = PROC_PROXY; i < PROC_MAX; i++) {
			if (!gone[i] || pass != (WIFSIGNALED(status[i]) ? 0 :
			    child_followed(status[i]) ? 2 : 1))
				continue;
			child_log_lost(&children[i], status[i]);
			lost++;
		}
	return (lost);
}

static void
parent_reap(void)
{
	if (parent_collect(NULL, CHILD_CAUSE_WAIT) > 0)
		parent_shutdown(1);
}

/* A child closed its socket: say why it went, if it did, then stop. */
static __dead void
parent_child_gone(struct child *c)
{
	if (parent_collect(c, CHILD_CAUSE_WAIT) == 0)
		log_warnx("lost child: %s closed its socket", c->name);
	parent_shutdown(1);
}

static void
parent_sig_handler(int sig, short event, void *arg)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		log_info("received signal %d, stopping", sig);
		parent_shutdown(0);
	case SIGHUP:
		(void)parent_reload(NULL, 0);
		break;
	case SIGCHLD:
		parent_reap();
		break;
	case SIGUSR2:
		/* logrotate renamed the --log-file: write to a new one. */
		if (opts->log_file == NULL)
			break;
		if (log_reopen(opts->log_file) == -1)
			log_warn("cannot reopen %s", opts->log_file);
		else
			log_info("log file %s reopened", opts->log_file);
		break;
	case SIGUSR1:
		/* Toggle debug logging, as the Python proxy does. */
		parent_set_verbose(log_getverbose() > start_verbose ?
		    start_verbose : 2);
		log_info("verbosity set to %d", log_getverbose());
		break;
	}
}

/*
 * authd announces an authorisation that waits for a person: run
 * notify_command.  authd alone keeps it; show pending asks authd.
 */
static void
parent_auth_pending(struct imsg *imsg)
{
	struct msgr	 r;
	const char	*account, *url, *code;
	uint64_t	 expiry;

	msg_read_init(&r, imsg);
	account = msg_get_str(&r);
	url = msg_get_str(&r);
	code = msg_get_str(&r);
	expiry = msg_get_u64(&r);
	if (msg_read_end(&r) == -1 || account == NULL || url == NULL)
		fatalx("malformed AUTH_PENDING from authd");
	notify_event(parent_conf, NOTIFY_AUTH_NEEDED, account, url, code,
	    expiry);
}

/* One printable line: what may go in notify_command's environment. */
static int
event_str_ok(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return (0);
	return (1);
}

/*
 * A child's event for notify_command: each event comes from the one
 * child that sees it happen.  DISPATCH_BAD for anything else.
 */
static int
parent_event(const struct child *c, struct imsg *imsg)
{
	struct msgr	 r;
	const char	*account, *url;
	uint32_t	 event;
	enum emailproxy_proc from;

	msg_read_init(&r, imsg);
	event = msg_get_u32(&r);
	account = msg_get_str(&r);
	url = msg_get_str(&r);
	switch (event) {
	case NOTIFY_AUTH_COMPLETED:
		from = PROC_AUTHD;
		break;
	case NOTIFY_REFRESH_FAILED:
		from = PROC_TOKEND;
		break;
	case NOTIFY_TOKEN_REVOKED:
		from = PROC_PROXY;
		break;
	default:
		from = PROC_PARENT;
		break;
	}
	if (msg_read_end(&r) == -1 || from != c->proc || account == NULL ||
	    *account == '\0' || !event_str_ok(account) ||
	    !event_str_ok(url)) {
		log_warnx("malformed EVENT from %s", c->name);
		return (DISPATCH_BAD);
	}
	log_debug("event %s of %s from %s", notify_event_name(event),
	    account, c->name);
	notify_event(parent_conf, event, account, url, NULL, 0);
	return (DISPATCH_OK);
}

/* A child closed its socket, or it failed: stop the daemon. */
static void
parent_child_lost(struct imsgev *iev)
{
	if (stopping)
		return;
	parent_child_gone(iev->data);
}

/*
 * c answered CONF_DONE: once every child has, the daemon is ready.
 * The control process gets its part once the others have theirs in
 * place, so that a request it sends on meets the configuration that
 * its tool, or a reload it asked for, expects.  -1 when c had not been
 * sent a configuration to answer.
 */
int
child_configured(struct child *c)
{
	int	i, all, others;

	if (c->configured)
		return (-1);
	c->configured = 1;
	for (others = 1, i = PROC_PROXY; i < PROC_MAX; i++)
		if (i != PROC_CONTROL)
			others &= children[i].configured;
	if (others && c->proc != PROC_CONTROL)
		control_conf_send(&children[PROC_CONTROL].iev, parent_conf);
	all = others && children[PROC_CONTROL].configured;
	if (all) {
		log_info("configuration of %s in place: ready",
		    parent_conf->path);
		sdnotify("READY=1");
	}
	return (0);
}

/*
 * The messages of a child, c = iev->data; the control process's are
 * read by control_dispatch_proc (control.c).
 */
static int
parent_dispatch_child(struct imsgev *iev, struct imsg *imsg)
{
	struct child	*c = iev->data;

	switch (imsg_get_type(imsg)) {
	case IMSG_CONF_DONE:
		if (child_configured(c) == -1)
			fatalx("unexpected CONF_DONE from %s", c->name);
		return (DISPATCH_OK);
	case IMSG_AUTH_PENDING:
		if (c->proc != PROC_AUTHD)
			return (DISPATCH_UNKNOWN);
		parent_auth_pending(imsg);
		return (DISPATCH_OK);
	case IMSG_EVENT:
		return (parent_event(c, imsg));
	case IMSG_REDIS_CONNECT:
		if (c->proc != PROC_TOKEND)
			return (DISPATCH_UNKNOWN);
		parent_redis_request(&c->iev, parent_conf);
		return (DISPATCH_OK);
	}
	return (DISPATCH_UNKNOWN);
}

static int
check_dir(const char *dir, uid_t uid, mode_t mode, const char *what)
{
	struct stat	st;

	if (stat(dir, &st) == -1) {
		if (errno != ENOENT) {
			log_warn("%s %s", what, dir);
			return (-1);
		}
		if (mkdir(dir, mode) == -1 || chmod(dir, mode) == -1 ||
		    (geteuid() == 0 && chown(dir, uid, (gid_t)-1) == -1)) {
			log_warn("cannot create %s %s", what, dir);
			return (-1);
		}
		if (stat(dir, &st) == -1) {
			log_warn("%s %s", what, dir);
			return (-1);
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		log_warnx("%s %s is not a directory", what, dir);
		return (-1);
	}
	if (geteuid() != 0)
		return (0);
	if (st.st_uid != uid || (st.st_mode & 077 & ~mode) != 0) {
		log_warnx("%s %s must be owned by uid %u and not writable "
		    "(%s) by others", what, dir, (unsigned)uid,
		    mode == 0700 ? "nor readable" : "");
		return (-1);
	}
	return (0);
}

/*
 * The chroot of proxy and authd must be root's and read-only to them;
 * the token store must be the unprivileged user's alone.
 */
int
parent_prepare_dirs(const struct emailproxy_conf *conf)
{
	struct passwd	*pw;
	uid_t		 uid = geteuid();

	if (geteuid() == 0) {
		if ((pw = getpwnam(conf->user)) == NULL) {
			log_warnx("%s: user: unknown user %s (create it, "
			    "see emailproxy(8))", conf->path, conf->user);
			return (-1);
		}
		uid = pw->pw_uid;
	}
	if (check_dir(conf->empty_dir, 0, 0755, "empty_dir") == -1 ||
	    check_dir(conf->store_dir, uid, 0700, "store_dir") == -1)
		return (-1);
	return (0);
}

/*
 * Each session takes two descriptors in the proxy, which inherits the
 * parent's limit, and each upstream_pool connection one.  What the
 * servers' max_connections and upstream_pool need, 0 when one of them
 * has no limit (nothing to compare against).
 */
static rlim_t
nofile_need(const struct emailproxy_conf *conf)
{
	struct server_conf	*srv;
	rlim_t			 need = NOFILE_RESERVE;

	TAILQ_FOREACH(srv, &conf->servers, entry) {
		if (srv->max_connections == 0)
			return (0);
		need += 2 * (rlim_t)srv->max_connections +
		    srv->upstream_pool;
	}
	return (need);
}

/*
 * Lift the soft limit to the hard one, and first the hard one to what
 * the kernel allows when we may (root with CAP_SYS_RESOURCE); without
 * that privilege the hard limit stays as it is.  Say so only when the
 * result is below what max_connections needs.
 */
static void
raise_nofile(const struct emailproxy_conf *conf)
{
	struct rlimit	 rl, want;
	FILE		*f;
	unsigned long	 nr_open = 65536;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit RLIMIT_NOFILE");
		return;
	}
	if (geteuid() == 0) {
		if ((f = fopen("/proc/sys/fs/nr_open", "r")) != NULL) {
			if (fscanf(f, "%lu", &nr_open) != 1)
				nr_open = 65536;
			fclose(f);
		}
		if (nr_open > 1048576)
			nr_open = 1048576;
		if (rl.rlim_max < nr_open) {
			want.rlim_cur = want.rlim_max = nr_open;
			if (setrlimit(RLIMIT_NOFILE, &want) == 0)
				rl = want;
		}
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			log_warn("setrlimit RLIMIT_NOFILE");
			(void)getrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	log_debug("open files limit %llu", (unsigned long long)rl.rlim_cur);
	nofile_check(conf);
}

/* At start and at every reload: is the limit the proxy has enough? */
static void
nofile_check(const struct emailproxy_conf *conf)
{
	struct rlimit	 rl;
	rlim_t		 need;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	need = nofile_need(conf);
	if (need > 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		log_warnx("open files limit %llu is below the %llu that "
		    "max_connections needs (two per session, and one per "
		    "upstream_pool connection): raise the hard limit "
		    "(LimitNOFILE=, ulimit -Hn)",
		    (unsigned long long)rl.rlim_cur,
		    (unsigned long long)need);
}

void
parent_run(const char *self, struct parent_opts *o,
    struct emailproxy_conf *conf)
{
	struct event	 ev_sigterm, ev_sigint, ev_sighup, ev_sigchld;
	struct event	 ev_sigusr1, ev_sigusr2;
	struct timespec	 now;
	long long	 deadline;
	int		 fd, i;

	opts = o;
	parent_conf = conf;
	sdnotify_init();
	start_verbose = opts->verbose;

	if (parent_prepare_dirs(conf) == -1)
		exit(1);
	raise_nofile(conf);
	/* A port still held by a daemon going away gets a moment. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	deadline = now.tv_sec * 1000LL + now.tv_nsec / 1000000 +
	    START_BIND_WAIT;
	if (listeners_prepare(conf, NULL, &deadline) == -1 ||
	    redirect_prepare(conf, &deadline) == -1) {
		log_warnx("%s: cannot start: a listener cannot serve",
		    conf->path);
		exit(1);
	}
	if (control_init(conf) == -1)
		exit(1);
	if (!opts->debug && daemon(0, 0) == -1)
		fatal("daemon");
	log_info("%s %s starting with %s", EMAILPROXY_NAME,
	    EMAILPROXY_VERSION, conf->path);

	signal(SIGPIPE, SIG_IGN);
	if (opts->debug)
		logrelay_enable();
	children_start(self, opts);
#ifdef __OpenBSD__
	/* What it keeps for reloads; Linux has no such filter (platform.h). */
	sandbox_parent();
#endif

	event_init();
	logrelay_start();
	/* tokend gets descriptors only for a shared store (parent/redis.c). */
	for (i = PROC_PROXY; i < PROC_MAX; i++) {
		fd = children[i].iev.ibuf.fd;
		imsgev_peer(&children[i].iev, fd, children[i].name,
		    i == PROC_CONTROL ? control_dispatch_proc :
		    parent_dispatch_child, parent_child_lost, &children[i],
		    IMSG_MAXSIZE_PARENT, i == PROC_PROXY || i == PROC_AUTHD ||
		    (i == PROC_TOKEND &&
		    strcmp(parent_conf->token_store, "redis") == 0));
	}
	/* What anyone in control_group writes reaches that process. */
	children[PROC_CONTROL].iev.untrusted = 1;
	signal_set(&ev_sigterm, SIGTERM, parent_sig_handler, NULL);
	signal_set(&ev_sigint, SIGINT, parent_sig_handler, NULL);
	signal_set(&ev_sighup, SIGHUP, parent_sig_handler, NULL);
	signal_set(&ev_sigchld, SIGCHLD, parent_sig_handler, NULL);
	signal_set(&ev_sigusr1, SIGUSR1, parent_sig_handler, NULL);
	signal_set(&ev_sigusr2, SIGUSR2, parent_sig_handler, NULL);
	signal_add(&ev_sigterm, NULL);
	signal_add(&ev_sigint, NULL);
	signal_add(&ev_sighup, NULL);
	signal_add(&ev_sigchld, NULL);
	signal_add(&ev_sigusr1, NULL);
	signal_add(&ev_sigusr2, NULL);

	for (i = PROC_PROXY; i < PROC_MAX; i++)
		send_config(&children[i], conf);
	listeners_send(&children[PROC_PROXY].iev);
	redirect_send(&children[PROC_PROXY].iev);

	event_dispatch();
	fatalx("event loop ended");
}
