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
 * notify_command: the one program the daemon runs, on the events a
 * person may want to hear of (after pizauth's auth_notify_cmd): an
 * authorisation needed (authd's AUTH_PENDING) or completed, a refresh
 * token refused (invalid_grant) and a token the server refused even
 * after a new one (the children's EVENT).  It runs as the unprivileged
 * user through /bin/sh with the details in its environment, never on
 * its command line.  One runs at a time, in a process group of its own;
 * the others wait in a bounded queue, each run once.  One still running
 * after notify_timeout is killed, and the log says so.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>

#include "emailproxy.h"
#include "config.h"
#include "log.h"
#include "parent.h"

#define NOTIFY_QUEUE_MAX	256	/* events waiting for their turn */

struct notify {
	TAILQ_ENTRY(notify)	 entry;
	enum notify_event	 event;
	char			*account;
	char			*url;		/* or NULL */
	char			*code;		/* or NULL */
	uint64_t		 expiry;	/* 0: none */
};
TAILQ_HEAD(notify_queue, notify);

static struct notify_queue	 queue = TAILQ_HEAD_INITIALIZER(queue);
static unsigned int		 queued;
static struct notify		*running;
static pid_t			 running_pid;
static int			 running_killed;
static struct event		 timeout_ev;
static int			 timeout_set;

static void	 notify_next(void);

const char *
notify_event_name(enum notify_event e)
{
	switch (e) {
	case NOTIFY_AUTH_NEEDED:
		return ("auth-needed");
	case NOTIFY_AUTH_COMPLETED:
		return ("auth-completed");
	case NOTIFY_REFRESH_FAILED:
		return ("refresh-failed");
	case NOTIFY_TOKEN_REVOKED:
		return ("token-revoked");
	}
	return ("?");
}

static char *
dupnull(const char *s)
{
	char	*d;

	if (s == NULL)
		return (NULL);
	if ((d = strdup(s)) == NULL)
		fatal(NULL);
	return (d);
}

static void
notify_free(struct notify *n)
{
	if (n == NULL)
		return;
	free(n->account);
	free(n->url);
	free(n->code);
	free(n);
}

/*
 * Queue an event for notify_command (none configured: nothing).  The
 * strings come from a child: the caller checked they are there.
 */
void
notify_event(const struct emailproxy_conf *conf, enum notify_event event,
    const char *account, const char *url, const char *code, uint64_t expiry)
{
	struct notify	*n;

	if (conf->notify_command == NULL)
		return;
	if (queued >= NOTIFY_QUEUE_MAX) {
		log_warnx("notify_command: %u events wait already; %s of %s "
		    "dropped", queued, notify_event_name(event), account);
		return;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL)
		fatal(NULL);
	n->event = event;
	n->account = dupnull(account);
	n->url = dupnull(url);
	n->code = dupnull(code);
	n->expiry = expiry;
	TAILQ_INSERT_TAIL(&queue, n, entry);
	queued++;
	if (running == NULL)
		notify_next();
}

static void
notify_timeout(int fd, short ev, void *arg)
{
	if (running == NULL || running_pid <= 0)
		return;
	log_warnx("notify_command for %s of %s still runs after %u s: "
	    "killed", notify_event_name(running->event), running->account,
	    parent_conf->notify_timeout);
	running_killed = 1;
	/* The shell and whatever it started. */
	if (kill(-running_pid, SIGKILL) == -1)
		(void)kill(running_pid, SIGKILL);
}

/* The child's side: environment, user, then the shell. */
static __dead void
notify_exec(const struct emailproxy_conf *conf, const struct passwd *pw,
    const struct notify *n, int errfd)
{
	char	 exp[32];
	int	 devnull;

	(void)setpgid(0, 0);
	if ((devnull = open("/dev/null", O_RDWR)) == -1 ||
	    dup2(devnull, STDIN_FILENO) == -1 ||
	    dup2(errfd != -1 ? errfd : devnull, STDOUT_FILENO) == -1 ||
	    dup2(errfd != -1 ? errfd : devnull, STDERR_FILENO) == -1)
		_exit(127);
	closefrom(STDERR_FILENO + 1);
	if (pw != NULL && (chdir("/") == -1 ||
	    setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1))
		_exit(127);
	snprintf(exp, sizeof(exp), "%" PRIu64, n->expiry);
	if (setenv("EMAILPROXY_EVENT", notify_event_name(n->event), 1) ==
	    -1 || setenv("EMAILPROXY_ACCOUNT", n->account, 1) == -1 ||
	    (n->url != NULL ? setenv("EMAILPROXY_URL", n->url, 1) :
	    unsetenv("EMAILPROXY_URL")) == -1 ||
	    (n->code != NULL ? setenv("EMAILPROXY_USER_CODE", n->code, 1) :
	    unsetenv("EMAILPROXY_USER_CODE")) == -1 ||
	    (n->expiry != 0 ? setenv("EMAILPROXY_EXPIRES", exp, 1) :
	    unsetenv("EMAILPROXY_EXPIRES")) == -1)
		_exit(127);
	execl("/bin/sh", "sh", "-c", conf->notify_command, (char *)NULL);
	_exit(127);
}

/* Start the first event of the queue, if nothing runs. */
static void
notify_next(void)
{
	const struct emailproxy_conf	*conf = parent_conf;
	struct notify			*n;
	struct passwd			*pw = NULL;
	struct timeval			 tv;
	pid_t				 pid;
	int				 errfd;

	while (running == NULL && (n = TAILQ_FIRST(&queue)) != NULL) {
		TAILQ_REMOVE(&queue, n, entry);
		queued--;
		/* A reload may have removed it meanwhile. */
		if (conf == NULL || conf->notify_command == NULL) {
			notify_free(n);
			continue;
		}
		if (geteuid() == 0 && (pw = getpwnam(conf->user)) == NULL) {
			log_warnx("notify_command: unknown user %s",
			    conf->user);
			notify_free(n);
			continue;
		}
		/* Its output goes to the log, never to our terminal. */
		errfd = logrelay_open();
		switch (pid = fork()) {
		case -1:
			log_warn("notify_command: fork");
			if (errfd != -1)
				close(errfd);
			notify_free(n);
			continue;
		case 0:
			notify_exec(conf, pw, n, errfd);
		default:
			break;
		}
		if (errfd != -1)
			close(errfd);
		(void)setpgid(pid, pid);
		running = n;
		running_pid = pid;
		running_killed = 0;
		log_debug("notify_command for %s of %s started (pid %ld)",
		    notify_event_name(n->event), n->account, (long)pid);
		if (!timeout_set) {
			evtimer_set(&timeout_ev, notify_timeout, NULL);
			timeout_set = 1;
		}
		timerclear(&tv);
		tv.tv_sec = conf->notify_timeout > 0 ? conf->notify_timeout :
		    30;
		evtimer_add(&timeout_ev, &tv);
	}
}

/* waitpid() returned pid: 1 if it was notify_command's, then the next. */
int
notify_reaped(pid_t pid, int status)
{
	if (running == NULL || pid != running_pid)
		return (0);
	if (timeout_set)
		evtimer_del(&timeout_ev);
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		log_warnx("notify_command for %s of %s exited with status %d",
		    notify_event_name(running->event), running->account,
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status) && !running_killed)
		log_warnx("notify_command for %s of %s killed by signal %d",
		    notify_event_name(running->event), running->account,
		    WTERMSIG(status));
	else
		log_debug("notify_command for %s of %s done",
		    notify_event_name(running->event), running->account);
	notify_free(running);
	running = NULL;
	running_pid = 0;
	notify_next();
	return (1);
}
