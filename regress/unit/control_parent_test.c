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
 * The parent's side of its link to the control process
 * (parent/control.c control_dispatch_proc, through the common dispatch
 * loop on a link marked untrusted): whatever the unprivileged control
 * process sends, the parent lives on.  A type it may not send, a
 * malformed reload or log request, a second CONF_DONE: a CTL_FAIL (or
 * a log line) and nothing done.  A good log request is done and
 * answered; a reload is answered after the control process's
 * IMSG_CONTROL_CONF, which the parent sends once the other children
 * have the new configuration; a failed one with its reason.  A
 * malformed frame ends the link (its gone hook), not the process.
 *
 * DEPS: parent/control.c common/proc.c common/platform_linux.c common/dispatch.c common/msg.c common/imsg.c common/imsg_buffer.c common/config.c common/config_keys.c common/config_parse.c common/config_check.c common/account_complete.c common/config_files.c common/config_imsg.c common/cidr.c common/secret.c common/log.c common/redis_url.c
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>

#include "emailproxy.h"
#include "config.h"
#include "log.h"
#include "msg.h"
#include "parent.h"

#define WAIT_MS		3000

struct child		 children[PROC_MAX];
struct emailproxy_conf	*parent_conf;
static int		 failures;
static int		 reloads, reload_fails, verbose = -1, configured;
static int		 gone;

static void	 check(int, const char *, ...)
		    __attribute__((__format__(__printf__, 2, 3)));

static void
check(int ok, const char *fmt, ...)
{
	va_list	 ap;

	printf(ok ? "PASS: " : "FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok)
		failures++;
	printf("\n");
	fflush(stdout);
}

int
parent_reload(char *reason, size_t size)
{
	reloads++;
	if (reload_fails) {
		strlcpy(reason, " server IMAP-1: no such file", size);
		return (-1);
	}
	return (0);
}

void
parent_set_verbose(int level)
{
	verbose = level;
}

int
child_configured(struct child *c)
{
	if (configured)
		return (-1);
	configured = 1;
	return (0);
}

static void
control_lost(struct imsgev *iev)
{
	gone = 1;
}

/* Send one message as the control process; turn the parent's loop. */
static void
send_raw(struct imsgbuf *ib, const void *buf, size_t len)
{
	if (write(ib->fd, buf, len) != (ssize_t)len)
		fatal("write");
}

static void
send_msg(struct imsgbuf *ib, uint32_t type, uint32_t id, const void *data,
    size_t len)
{
	if (imsg_compose(ib, type, id, 0, -1, data, len) == -1 ||
	    imsgbuf_flush(ib) == -1)
		fatal("compose");
}

/* The parent's next message to the control process, or 0 if none. */
static int
next_msg(struct imsgbuf *ib, struct imsg *imsg)
{
	struct pollfd	 pfd;
	ssize_t		 n;
	int		 i;

	for (i = 0; i < WAIT_MS / 10; i++) {
		if ((n = imsg_get(ib, imsg)) > 0)
			return (1);
		if (n == -1)
			return (0);
		event_loop(EVLOOP_NONBLOCK);
		pfd.fd = ib->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 10) == 1 && imsgbuf_read(ib) != 1)
			return (0);
	}
	return (0);
}

/* Nothing from the parent for a while. */
static int
quiet(struct imsgbuf *ib)
{
	struct imsg	 imsg;
	struct pollfd	 pfd;
	int		 i;

	for (i = 0; i < 20; i++) {
		event_loop(EVLOOP_NONBLOCK);
		if (imsg_get(ib, &imsg) > 0) {
			imsg_free(&imsg);
			return (0);
		}
		pfd.fd = ib->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 10) == 1 && imsgbuf_read(ib) == 1 &&
		    imsg_get(ib, &imsg) > 0) {
			imsg_free(&imsg);
			return (0);
		}
	}
	return (1);
}

/* The answer to id: CTL_END (NULL text) or CTL_FAIL holding text. */
static int
answered(struct imsgbuf *ib, uint32_t id, const char *text)
{
	struct imsg	 imsg;
	struct msgr	 r;
	const char	*s;
	int		 ok;

	if (!next_msg(ib, &imsg))
		return (0);
	ok = imsg_get_id(&imsg) == id;
	if (text == NULL)
		ok = ok && imsg_get_type(&imsg) == IMSG_CTL_END &&
		    imsg_get_len(&imsg) == 0;
	else {
		msg_read_init(&r, &imsg);
		s = msg_get_str(&r);
		ok = ok && imsg_get_type(&imsg) == IMSG_CTL_FAIL &&
		    msg_read_end(&r) == 0 && s != NULL &&
		    strstr(s, text) != NULL;
	}
	imsg_free(&imsg);
	return (ok);
}

int
main(void)
{
	struct imsgbuf	 ctl;
	struct imsg	 imsg;
	struct msgr	 r;
	const char	*user;
	uint32_t	 level, hdr[4];
	int		 sv[2], got;

	log_init(1, 0);
	event_init();
	if ((parent_conf = config_new()) == NULL)
		fatal("config_new");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
		fatal("socketpair");
	children[PROC_CONTROL].proc = PROC_CONTROL;
	children[PROC_CONTROL].name = "control";
	imsgev_peer(&children[PROC_CONTROL].iev, sv[0], "control",
	    control_dispatch_proc, control_lost, &children[PROC_CONTROL],
	    IMSG_MAXSIZE_PARENT, 0);
	children[PROC_CONTROL].iev.untrusted = 1;
	if (imsgbuf_init(&ctl, sv[1]) == -1 ||
	    imsgbuf_set_maxsize(&ctl, IMSG_MAXSIZE_PARENT) == -1)
		fatal("imsgbuf_init");

	send_msg(&ctl, IMSG_TOKEN_GET, 5, "xxxx", 4);
	check(answered(&ctl, 5, "request refused"),
	    "a type the control process may not send: CTL_FAIL, the parent "
	    "lives on");
	level = 9;
	send_msg(&ctl, IMSG_CTL_LOG_VERBOSE, 6, &level, sizeof(level));
	check(answered(&ctl, 6, "malformed request") && verbose == -1,
	    "log level 9: CTL_FAIL, the verbosity untouched");
	send_msg(&ctl, IMSG_CTL_LOG_VERBOSE, 7, "ab", 2);
	check(answered(&ctl, 7, "malformed request") && verbose == -1,
	    "a log request cut short: CTL_FAIL, the verbosity untouched");
	send_msg(&ctl, IMSG_CTL_RELOAD, 8, "zz", 2);
	check(answered(&ctl, 8, "malformed request") && reloads == 0,
	    "a reload with a payload: CTL_FAIL, no reload");
	send_msg(&ctl, IMSG_CONF_DONE, 0, NULL, 0);
	send_msg(&ctl, IMSG_CONF_DONE, 0, NULL, 0);
	check(quiet(&ctl) && configured == 1 && !gone,
	    "CONF_DONE twice: the second ignored");
	level = 2;
	send_msg(&ctl, IMSG_CTL_LOG_VERBOSE, 9, &level, sizeof(level));
	check(answered(&ctl, 9, NULL) && verbose == 2,
	    "log level 2: done, CTL_END");

	send_msg(&ctl, IMSG_CTL_RELOAD, 10, NULL, 0);
	check(quiet(&ctl) && reloads == 1,
	    "a reload: done, and not answered before the children have the "
	    "configuration");
	control_conf_due();
	control_conf_send(&children[PROC_CONTROL].iev, parent_conf);
	got = next_msg(&ctl, &imsg) &&
	    imsg_get_type(&imsg) == IMSG_CONTROL_CONF;
	if (got) {
		msg_read_init(&r, &imsg);
		user = msg_get_str(&r);
		(void)msg_get_str(&r);
		level = msg_get_u32(&r);
		(void)msg_get_data(&r, &(size_t){ 0 });
		got = msg_read_end(&r) == 0 && user != NULL &&
		    strcmp(user, EMAILPROXY_USER) == 0 &&
		    level == CONTROL_NO_GID;
		imsg_free(&imsg);
	}
	check(got, "then IMSG_CONTROL_CONF: the user, no admin group");
	check(answered(&ctl, 10, NULL), "then the reload's CTL_END");
	control_conf_send(&children[PROC_CONTROL].iev, parent_conf);
	check(quiet(&ctl), "no second IMSG_CONTROL_CONF without a new "
	    "configuration");
	reload_fails = 1;
	send_msg(&ctl, IMSG_CTL_RELOAD, 11, NULL, 0);
	check(answered(&ctl, 11, "running configuration stays: server "
	    "IMAP-1: no such file"), "a failed reload: CTL_FAIL with the "
	    "reason");

	/* A header shorter than itself. */
	hdr[0] = IMSG_CTL_RELOAD;
	hdr[1] = 4;
	hdr[2] = 12;
	hdr[3] = 0;
	send_raw(&ctl, hdr, sizeof(hdr));
	(void)quiet(&ctl);
	check(gone && reloads == 2,
	    "a malformed frame ends the link, not the parent");
	imsgbuf_clear(&ctl);
	close(sv[1]);
	config_free(parent_conf);
	return (failures != 0);
}
