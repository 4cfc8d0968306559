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
 * notify_command: the one program the daemon runs, when an account needs
 * a person (after pizauth's auth_notify_cmd).  It runs as the
 * unprivileged user through /bin/sh with the details in its environment;
 * the parent reaps it and never waits for it.
 */

#include <sys/types.h>

#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "emailproxy.h"
#include "config.h"
#include "log.h"
#include "parent.h"

void
notify_pending(const struct emailproxy_conf *conf, const char *account,
    const char *url, const char *code, uint64_t expiry)
{
	struct passwd	*pw = NULL;
	char		 exp[32];
	pid_t		 pid;
	int		 errfd, devnull;

	if (conf->notify_command == NULL)
		return;
	if (geteuid() == 0 && (pw = getpwnam(conf->user)) == NULL) {
		log_warnx("notify_command: unknown user %s", conf->user);
		return;
	}
	/* Its output goes to the log, never to our terminal. */
	errfd = logrelay_open();
	switch (pid = fork()) {
	case -1:
		log_warn("notify_command: fork");
		if (errfd != -1)
			close(errfd);
		return;
	case 0:
		break;
	default:
		if (errfd != -1)
			close(errfd);
		log_debug("notify_command for %s started (pid %ld)", account,
		    (long)pid);
		return;
	}
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
	snprintf(exp, sizeof(exp), "%" PRIu64, expiry);
	if (setenv("EMAILPROXY_ACCOUNT", account, 1) == -1 ||
	    setenv("EMAILPROXY_URL", url, 1) == -1 ||
	    (code != NULL && setenv("EMAILPROXY_USER_CODE", code, 1) == -1) ||
	    setenv("EMAILPROXY_EXPIRES", exp, 1) == -1)
		_exit(127);
	execl("/bin/sh", "sh", "-c", conf->notify_command, (char *)NULL);
	_exit(127);
}
