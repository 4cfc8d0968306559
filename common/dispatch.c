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
 * The imsg links of every process: their events, their I/O and the one
 * dispatch loop (dispatch.h), and the names of the message types.
 */

#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event.h>

#include "emailproxy.h"
#include "log.h"
#include "dispatch.h"

/*
 * One name per enum imsg_type value, in common/emailproxy.h's order;
 * regress/unit/dispatch_test.c checks it against the enum.
 */
static const char *const imsg_names[IMSG_MAX] = {
	[IMSG_NONE] = "IMSG_NONE",
	[IMSG_CONF_START] = "IMSG_CONF_START",
	[IMSG_CONF_GLOBALS] = "IMSG_CONF_GLOBALS",
	[IMSG_CONF_SERVER] = "IMSG_CONF_SERVER",
	[IMSG_CONF_ACCOUNT] = "IMSG_CONF_ACCOUNT",
	[IMSG_CONF_END] = "IMSG_CONF_END",
	[IMSG_CONF_DONE] = "IMSG_CONF_DONE",
	[IMSG_LISTENER] = "IMSG_LISTENER",
	[IMSG_CTL_VERBOSE] = "IMSG_CTL_VERBOSE",
	[IMSG_SHUTDOWN] = "IMSG_SHUTDOWN",
	[IMSG_TOKEN_GET] = "IMSG_TOKEN_GET",
	[IMSG_TOKEN_OK] = "IMSG_TOKEN_OK",
	[IMSG_TOKEN_FAIL] = "IMSG_TOKEN_FAIL",
	[IMSG_TOKEN_CANCEL] = "IMSG_TOKEN_CANCEL",
	[IMSG_PAGE_LOGIN] = "IMSG_PAGE_LOGIN",
	[IMSG_PAGE_CANCEL] = "IMSG_PAGE_CANCEL",
	[IMSG_PAGE_CONSENT] = "IMSG_PAGE_CONSENT",
	[IMSG_PAGE_DONE] = "IMSG_PAGE_DONE",
	[IMSG_PAGE_FAIL] = "IMSG_PAGE_FAIL",
	[IMSG_REDIRECT_RESPONSE] = "IMSG_REDIRECT_RESPONSE",
	[IMSG_REDIRECT_RESULT] = "IMSG_REDIRECT_RESULT",
	[IMSG_AUTH_REQUEST] = "IMSG_AUTH_REQUEST",
	[IMSG_AUTH_CANCEL] = "IMSG_AUTH_CANCEL",
	[IMSG_AUTH_TOKENS] = "IMSG_AUTH_TOKENS",
	[IMSG_AUTH_FAIL] = "IMSG_AUTH_FAIL",
	[IMSG_AUTH_CONSENT] = "IMSG_AUTH_CONSENT",
	[IMSG_AUTH_AUTHORISED] = "IMSG_AUTH_AUTHORISED",
	[IMSG_AUTH_PENDING] = "IMSG_AUTH_PENDING",
	[IMSG_REDIRECT_LISTENER] = "IMSG_REDIRECT_LISTENER",
	[IMSG_PAGE_LISTENER] = "IMSG_PAGE_LISTENER",
	[IMSG_CTL_SHOW_ACCOUNTS] = "IMSG_CTL_SHOW_ACCOUNTS",
	[IMSG_CTL_SHOW_SESSIONS] = "IMSG_CTL_SHOW_SESSIONS",
	[IMSG_CTL_SHOW_PENDING] = "IMSG_CTL_SHOW_PENDING",
	[IMSG_CTL_SHOW_STATS] = "IMSG_CTL_SHOW_STATS",
	[IMSG_CTL_AUTHORISE] = "IMSG_CTL_AUTHORISE",
	[IMSG_CTL_FORGET] = "IMSG_CTL_FORGET",
	[IMSG_CTL_RELOAD] = "IMSG_CTL_RELOAD",
	[IMSG_CTL_LOG_VERBOSE] = "IMSG_CTL_LOG_VERBOSE",
	[IMSG_CTL_TOKEN] = "IMSG_CTL_TOKEN",
	[IMSG_CTL_DATA] = "IMSG_CTL_DATA",
	[IMSG_CTL_FAIL] = "IMSG_CTL_FAIL",
	[IMSG_CTL_END] = "IMSG_CTL_END",
	[IMSG_CTL_HEALTH] = "IMSG_CTL_HEALTH",
	[IMSG_REDIS_CONNECT] = "IMSG_REDIS_CONNECT",
	[IMSG_REDIS_FD] = "IMSG_REDIS_FD",
	[IMSG_CONTROL_CONF] = "IMSG_CONTROL_CONF",
	[IMSG_EVENT] = "IMSG_EVENT",
	[IMSG_METRICS_LISTENER] = "IMSG_METRICS_LISTENER",
	[IMSG_METRICS_REQUEST] = "IMSG_METRICS_REQUEST",
};

const char *
imsg_type_name(uint32_t type)
{
	static char	 buf[32];

	if (type < IMSG_MAX && imsg_names[type] != NULL)
		return (imsg_names[type]);
	snprintf(buf, sizeof(buf), "type %u", type);
	return (buf);
}

static void	imsgev_flush(int, short, void *);

void
imsgev_init(struct imsgev *iev, int fd, const char *name,
    void (*handler)(int, short, void *), void *data, size_t maxsize,
    int fdpass)
{
	memset(iev, 0, sizeof(*iev));
	if (imsgbuf_init(&iev->ibuf, fd) == -1)
		fatal("imsgbuf_init %s", name);
	if (maxsize != 0 && imsgbuf_set_maxsize(&iev->ibuf, maxsize) == -1)
		fatal("imsgbuf_set_maxsize %s", name);
	if (fdpass)
		imsgbuf_allow_fdpass(&iev->ibuf);
	iev->handler = handler;
	iev->data = data;
	iev->name = name;
	imsgev_start(iev);
}

void
imsgev_start(struct imsgev *iev)
{
	iev->events = 0;
	iev->wblocked = 0;
	event_set(&iev->flushev, -1, 0, imsgev_flush, iev);
	imsg_event_add(iev);
}

void
imsgev_clear(struct imsgev *iev)
{
	if (event_initialized(&iev->ev))
		event_del(&iev->ev);
	if (event_initialized(&iev->flushev))
		event_del(&iev->flushev);
	iev->events = 0;
}

void
imsgev_peer(struct imsgev *iev, int fd, const char *name,
    int (*dispatch)(struct imsgev *, struct imsg *),
    void (*gone)(struct imsgev *), void *data, size_t maxsize, int fdpass)
{
	imsgev_init(iev, fd, name, imsgev_dispatch, data, maxsize, fdpass);
	iev->dispatch = dispatch;
	iev->gone = gone;
}

static int
imsgev_busy(struct imsgev *iev)
{
	return (iev->closing || (iev->busy != NULL && iev->busy(iev)));
}

/*
 * Arm the link for its state: reading unless busy or closing; what was
 * queued is written at the end of this loop turn (imsgev_flush, with
 * whatever else is queued by then), and waits for EV_WRITE only when the
 * socket would not take it all.  The read event is persistent and
 * changed only when what the link waits for changes, so a message in
 * each direction costs no epoll_ctl(2).
 */
void
imsg_event_add(struct imsgev *iev)
{
	short	want = 0;

	if (!imsgev_busy(iev))
		want |= EV_READ;
	if (imsgbuf_queuelen(&iev->ibuf) > 0) {
		if (iev->wblocked)
			want |= EV_WRITE;
		else if (!event_pending(&iev->flushev, EV_WRITE, NULL))
			event_active(&iev->flushev, EV_WRITE, 1);
	}
	if (want == iev->events && (want == 0 ||
	    event_pending(&iev->ev, want, NULL) == want))
		return;
	if (event_initialized(&iev->ev))
		event_del(&iev->ev);
	iev->events = want;
	/* A busy link is re-armed by whoever finishes its answer. */
	if (want == 0)
		return;
	event_set(&iev->ev, iev->ibuf.fd, want | EV_PERSIST, iev->handler,
	    iev);
	event_add(&iev->ev, NULL);
}

/*
 * The end of the loop turn in which messages were queued: the link is
 * handled as when its socket turns writable, so that requests already
 * read, held while it was busy, are taken up once the answers are out.
 */
static void
imsgev_flush(int fd, short event, void *arg)
{
	struct imsgev	*iev = arg;

	if (imsgbuf_queuelen(&iev->ibuf) == 0)
		return;
	iev->handler(iev->ibuf.fd, EV_WRITE, iev);
}

int
imsg_compose_event(struct imsgev *iev, uint32_t type, uint32_t peerid,
    pid_t pid, int fd, const void *data, size_t datalen)
{
	int	ret;

	if ((ret = imsg_compose(&iev->ibuf, type, peerid, pid, fd, data,
	    datalen)) == -1)
		return (-1);
	imsg_event_add(iev);
	return (ret);
}

int
imsgev_io(struct imsgev *iev, short event)
{
	if (event & EV_READ) {
		switch (imsgbuf_read(&iev->ibuf)) {
		case -1:
			log_warn("read from %s", iev->name);
			return (-1);
		case 0:
			return (-1);	/* peer closed */
		}
	}
	if (event & EV_WRITE) {
		if (imsgbuf_write(&iev->ibuf) == -1) {
			if (errno != EPIPE)
				log_warn("write to %s", iev->name);
			return (-1);
		}
		iev->wblocked = imsgbuf_queuelen(&iev->ibuf) > 0;
	}
	imsg_event_add(iev);
	return (0);
}

/* The link has ended: no more events for it, then its hook. */
static void
imsgev_gone(struct imsgev *iev)
{
	if (iev->gone == NULL)
		fatalx("lost the connection to %s", iev->name);
	imsgev_clear(iev);
	iev->gone(iev);
}

void
imsgev_dispatch(int fd, short event, void *arg)
{
	struct imsgev	*iev = arg;
	struct imsg	 imsg;
	ssize_t		 n;
	int		 rc;

	if (imsgev_io(iev, event) == -1) {
		imsgev_gone(iev);
		return;
	}
	/* Requests already read wait in the buffer while a client is busy. */
	while (!imsgev_busy(iev)) {
		if ((n = imsg_get(&iev->ibuf, &imsg)) == -1) {
			if (!iev->client && !iev->untrusted)
				fatal("malformed message from %s", iev->name);
			log_warn("%s: malformed request", iev->name);
			imsgev_gone(iev);
			return;
		}
		if (n == 0)
			break;
		if ((rc = iev->dispatch(iev, &imsg)) == DISPATCH_UNKNOWN)
			fatalx("unexpected %s from %s",
			    imsg_type_name(imsg_get_type(&imsg)), iev->name);
		if (rc == DISPATCH_BAD)
			fatalx("malformed %s from %s",
			    imsg_type_name(imsg_get_type(&imsg)), iev->name);
		imsg_free(&imsg);
		if (rc == DISPATCH_GONE)
			return;
		/* What could be written at once goes now. */
		if (iev->client && imsgbuf_queuelen(&iev->ibuf) > 0 &&
		    imsgbuf_write(&iev->ibuf) == -1) {
			imsgev_gone(iev);
			return;
		}
	}
	if (iev->closing && imsgbuf_queuelen(&iev->ibuf) == 0) {
		imsgev_gone(iev);
		return;
	}
	imsg_event_add(iev);
}
