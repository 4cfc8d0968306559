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
 * emailproxyctl show pending through the control process's code
 * (control/conn.c): neither it nor the parent holds a pending
 * authorisation of its own.  It sends the request to authd with the
 * connection's id, and the tool gets exactly what authd answers: an
 * account authd lists, then nothing once authd lists nothing, with no
 * other message from authd in between that could keep a copy in step.
 * Requests of the tool carry CTL_VERSION.
 *
 * DEPS: control/conn.c common/dispatch.c common/msg.c common/imsg.c common/imsg_buffer.c common/log.c
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <fcntl.h>
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
#include "control.h"

#define WAIT_MS		5000

static struct imsgev	 peers[PROC_MAX];		/* control's ends */
static struct imsgbuf	 child_end[PROC_MAX];	/* the peers' ends */
static int		 failures;

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

/* The control process's end of a peer's link, as control.c reads it. */
static int
child_dispatch(struct imsgev *iev, struct imsg *imsg)
{
	control_answer(imsg);
	return (DISPATCH_OK);
}

/*
 * Turn the event loop until a whole message is on ib (fd readable by
 * poll), or WAIT_MS pass; 1 with it in imsg, 0 if none came.
 */
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

/* Nothing more on ib for a while: 1 if quiet. */
static int
quiet(struct imsgbuf *ib)
{
	struct pollfd	 pfd;
	struct imsg	 imsg;
	int		 i;

	for (i = 0; i < 20; i++) {
		event_loop(EVLOOP_NONBLOCK);
		if (imsg_get(ib, &imsg) > 0) {
			imsg_free(&imsg);
			return (0);
		}
		pfd.fd = ib->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 10) == 1) {
			if (imsgbuf_read(ib) != 1)
				return (1);
			if (imsg_get(ib, &imsg) > 0) {
				imsg_free(&imsg);
				return (0);
			}
		}
	}
	return (1);
}

static void
answer(int proc, uint32_t type, uint32_t id, const char *json)
{
	struct msgw	 w;

	msg_begin(&w, &child_end[proc], type, id, -1);
	if (json != NULL)
		msg_put_str(&w, json);
	if (msg_end(&w, &child_end[proc]) == -1 ||
	    imsgbuf_flush(&child_end[proc]) == -1)
		fatal("answer");
}

/*
 * show pending from the tool; authd answers with json (NULL: nothing
 * pending).  Returns what the tool got: the CTL_DATA string or "" when
 * it got only CTL_END, NULL when the exchange went otherwise.
 */
static char *
show_pending(struct imsgbuf *tool, const char *json, const char *what)
{
	struct imsg	 imsg;
	struct msgr	 r;
	const char	*s;
	char		*got = NULL;
	uint32_t	 id;
	int		 relayed, i;

	if (imsg_compose(tool, IMSG_CTL_SHOW_PENDING, CTL_VERSION, 0, -1,
	    NULL, 0) == -1 || imsgbuf_flush(tool) == -1)
		fatal("request");
	relayed = next_msg(&child_end[PROC_AUTHD], &imsg) &&
	    imsg_get_type(&imsg) == IMSG_CTL_SHOW_PENDING;
	id = relayed ? imsg_get_id(&imsg) : 0;
	if (relayed)
		imsg_free(&imsg);
	check(relayed, "%s: show pending is relayed to authd", what);
	for (i = PROC_PARENT; i < PROC_MAX; i++)
		if (i != PROC_AUTHD && i != PROC_CONTROL)
			check(quiet(&child_end[i]), "%s: %s is not asked",
			    what, peers[i].name);
	check(quiet(tool), "%s: the control process answers nothing of "
	    "its own", what);
	if (!relayed)
		return (NULL);
	if (json != NULL)
		answer(PROC_AUTHD, IMSG_CTL_DATA, id, json);
	answer(PROC_AUTHD, IMSG_CTL_END, id, NULL);
	while (next_msg(tool, &imsg)) {
		if (imsg_get_id(&imsg) != CTL_VERSION) {
			imsg_free(&imsg);
			break;
		}
		if (imsg_get_type(&imsg) == IMSG_CTL_END) {
			imsg_free(&imsg);
			if (got == NULL && (got = strdup("")) == NULL)
				fatal(NULL);
			return (got);
		}
		msg_read_init(&r, &imsg);
		s = msg_get_str(&r);
		if (imsg_get_type(&imsg) != IMSG_CTL_DATA ||
		    msg_read_end(&r) == -1 || s == NULL || got != NULL) {
			imsg_free(&imsg);
			break;
		}
		if ((got = strdup(s)) == NULL)
			fatal(NULL);
		imsg_free(&imsg);
	}
	free(got);
	return (NULL);
}

int
main(void)
{
	static const char	*names[PROC_MAX] = { "parent", "proxy",
				    "tokend", "authd", "control" };
	static const char	 pend[] = "{\"account\":\"code@example.com\","
				    "\"url\":\"https://auth.example/x\","
				    "\"expires\":1}";
	struct imsgbuf		 tool;
	char			*got;
	int			 i, sv[2];

	log_init(1, 0);
	event_init();
	for (i = PROC_PARENT; i < PROC_CONTROL; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
		    sv) == -1)
			fatal("socketpair");
		imsgev_peer(&peers[i], sv[0], names[i], child_dispatch,
		    NULL, NULL, IMSG_MAXSIZE_PARENT, 0);
		control_peers[i] = &peers[i];
		if (imsgbuf_init(&child_end[i], sv[1]) == -1)
			fatal("imsgbuf_init");
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1 ||
	    imsgbuf_init(&tool, sv[1]) == -1 ||
	    imsgbuf_set_maxsize(&tool, IMSG_MAXSIZE_PARENT) == -1)
		fatal("tool");
	control_conn_add(sv[0], 0, 0);

	got = show_pending(&tool, pend, "authd lists an account");
	check(got != NULL && strcmp(got, pend) == 0,
	    "the tool gets the account authd lists");
	free(got);
	got = show_pending(&tool, NULL, "authd lists nothing");
	check(got != NULL && *got == '\0', "then, authd listing nothing, the "
	    "tool gets nothing: no copy in the control process");
	free(got);
	imsgbuf_clear(&tool);
	close(sv[1]);
	return (failures != 0);
}
