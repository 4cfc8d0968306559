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
 * The control socket as the root parent reads it (parent/control.c):
 * imsg framing, request types, their payloads, one request at a time,
 * what an unprivileged member of control_group may not do.  The first
 * byte picks the peer (bit 0: root, else an unprivileged uid); the rest
 * is what it writes before closing.  The children are sockets read by
 * the harness; a reload succeeds without reading any file.
 *
 * DEPS: parent/control.c common/proc.c common/msg.c common/imsg.c common/imsg_buffer.c common/config.c common/config_parse.c common/config_check.c common/config_files.c common/config_imsg.c common/cidr.c common/secret.c common/log.c
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
#include "config.h"
#include "parent.h"
#include "fuzz.h"

struct child		 children[PROC_MAX];
struct emailproxy_conf	*parent_conf;
static int		 child_peer[PROC_MAX];

int
parent_reload(void)
{
	return (0);
}

void
parent_set_verbose(int level)
{
	/* control.c lets only 0 to 3 through. */
	if (level < 0 || level > 3)
		abort();
}

/* A child: takes what the parent relays (the harness drops it). */
static void
child_io(int fd, short event, void *arg)
{
	struct child	*c = arg;

	if (imsgev_io(&c->iev, event) == -1)
		abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int	 i, sv[2];

	fuzz_log_init(0);
	event_init();
	if ((parent_conf = config_new()) == NULL)
		abort();
	for (i = PROC_PROXY; i < PROC_MAX; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
		    fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1 ||
		    fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
			abort();
		children[i].proc = i;
		children[i].name = "child";
		imsgev_init(&children[i].iev, sv[0], "child", child_io,
		    &children[i], IMSG_MAXSIZE_PARENT, 0);
		child_peer[i] = sv[1];
	}
	return (0);
}

/* Read and drop what fd has; 1 once the other end closed. */
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
	int		 sv[2], i, rounds, closed = 0;

	if (size < 1)
		return (0);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
		abort();
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
		for (i = PROC_PROXY; i < PROC_MAX; i++)
			(void)drain(child_peer[i]);
		closed = drain(sv[1]);
	}
	/* At its end of file the parent closes the connection. */
	if (!closed)
		abort();
	close(sv[1]);
	return (0);
}
