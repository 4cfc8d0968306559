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
 * The control socket as the control process reads it (control/conn.c):
 * imsg framing, request types, their payloads, one request at a time,
 * what an unprivileged member of control_group may not do.  The first
 * byte picks the peer (bit 0: root, else an unprivileged uid; bit 3:
 * that uid is a member of control_admin_group by the group database);
 * the rest is what it writes before closing.  The harness plays the
 * other processes: each request sent to one (the parent for reload and
 * log) is answered (bits 1-2 of the first byte: end, data and end,
 * failure).
 *
 * DEPS: control/conn.c common/dispatch.c common/msg.c common/imsg.c common/imsg_buffer.c common/log.c
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>

#include "emailproxy.h"
#include "msg.h"
#include "control.h"
#include "fuzz.h"

static struct imsgev	 peers[PROC_CONTROL];	/* the control process's */
static struct imsgbuf	 child_peer[PROC_CONTROL];	/* theirs */
static int		 answer_kind;

/* The control process's end of a peer's link, as control.c reads it. */
static int
child_dispatch(struct imsgev *iev, struct imsg *imsg)
{
	control_answer(imsg);
	return (DISPATCH_OK);
}

static void
child_gone(struct imsgev *iev)
{
	abort();
}

/* The child: answer each request it was relayed. */
static void
child_answer(struct imsgbuf *ibuf)
{
	static const char	 obj[] = "{\"account\":\"a\"}";
	struct imsg		 imsg;
	struct msgr		 r;
	uint32_t		 id, len = sizeof(obj) - 1;
	uint8_t			 payload[4 + sizeof(obj)];
	ssize_t			 n;

	if (imsgbuf_read(ibuf) == -1)
		abort();
	while ((n = imsg_get(ibuf, &imsg)) > 0) {
		id = imsg_get_id(&imsg);
		/* conn.c sends on only what it checked. */
		msg_read_init(&r, &imsg);
		if (imsg_get_type(&imsg) == IMSG_CTL_LOG_VERBOSE &&
		    (msg_get_u32(&r) > 3 || msg_read_end(&r) == -1))
			abort();
		imsg_free(&imsg);
		memcpy(payload, &len, 4);
		memcpy(payload + 4, obj, sizeof(obj));
		switch (answer_kind) {
		case 1:
			imsg_compose(ibuf, IMSG_CTL_DATA, id, 0, -1, payload,
			    sizeof(payload));
			/* FALLTHROUGH */
		case 0:
		case 3:
			imsg_compose(ibuf, IMSG_CTL_END, id, 0, -1, NULL, 0);
			break;
		case 2:
			imsg_compose(ibuf, IMSG_CTL_FAIL, id, 0, -1, payload,
			    sizeof(payload));
			break;
		}
	}
	if (n == -1 || imsgbuf_flush(ibuf) == -1)
		abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int	 i, sv[2];

	fuzz_log_init(0);
	event_init();
	for (i = PROC_PARENT; i < PROC_CONTROL; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
		    fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1 ||
		    fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
			abort();
		imsgev_peer(&peers[i], sv[0], "peer", child_dispatch,
		    child_gone, NULL, IMSG_MAXSIZE_PARENT, 0);
		control_peers[i] = &peers[i];
		if (imsgbuf_init(&child_peer[i], sv[1]) == -1 ||
		    imsgbuf_set_maxsize(&child_peer[i],
		    IMSG_MAXSIZE_PARENT) == -1)
			abort();
	}
	return (0);
}

/* Read and drop what the tool got; 1 once the parent closed. */
static int
drain(int fd)
{
	char	 buf[4096];
	ssize_t	 n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	if (n == -1 && errno != EAGAIN)
		abort();
	return (n == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*p;
	size_t		 left;
	ssize_t		 n;
	uint32_t	 admin_uid;
	int		 sv[2], i, rounds, closed = 0;

	if (size < 1)
		return (0);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
		abort();
	answer_kind = (data[0] >> 1) & 3;
	admin_uid = 1000;
	control_admins_set(2000, &admin_uid, data[0] & 8 ? 1 : 0);
	control_conn_add(sv[0], data[0] & 1 ? 0 : 1000, 1000);
	p = data + 1;
	left = size - 1;
	if (left == 0)
		shutdown(sv[1], SHUT_WR);
	for (rounds = 0; !closed && rounds < 10000; rounds++) {
		if (left > 0) {
			if ((n = write(sv[1], p, left)) == -1) {
				if (errno != EAGAIN)
					abort();
				n = 0;
			}
			p += n;
			left -= n;
			if (left == 0)
				shutdown(sv[1], SHUT_WR);
		}
		event_loop(EVLOOP_NONBLOCK);
		for (i = PROC_PARENT; i < PROC_CONTROL; i++)
			child_answer(&child_peer[i]);
		event_loop(EVLOOP_NONBLOCK);
		closed = drain(sv[1]);
	}
	/* At its end of file the control process closes the connection. */
	if (!closed)
		abort();
	close(sv[1]);
	return (0);
}
