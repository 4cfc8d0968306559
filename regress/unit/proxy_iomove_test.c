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
 * io_move, as the upstream pool hands a connection to a session: the
 * unread input (a greeting) goes with it, later events reach the new
 * owner only, writes go out through it, and the old io is left idle
 * (io_close on it does nothing).
 *
 * DEPS: proxy/io.c proxy/iobuf.c proxy/tls_ossl.c proxy/tlsverify.c
 * DEPS: common/log.c
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <event.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"

static int	failures;
static int	nev_a[IO_CLOSED + 1], nev_b[IO_CLOSED + 1];

static void
check(int ok, const char *fmt, ...)
{
	va_list	ap;

	printf(ok ? "PASS: " : "FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok)
		failures++;
}

static void
cb_a(struct io *io, enum io_event ev, void *arg)
{
	nev_a[ev]++;
}

static void
cb_b(struct io *io, enum io_event ev, void *arg)
{
	nev_b[ev]++;
	check(arg == (void *)cb_b, "the new owner's argument comes with "
	    "event %d", (int)ev);
}

/* The descriptor is still open. */
static int
fcntl_ok(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static void
spin(int ms)
{
	struct timeval	tv = { 0, 10000 };
	int		i;

	for (i = 0; i < ms / 10; i++) {
		event_loopexit(&tv);
		event_dispatch();
	}
}

int
main(void)
{
	struct io	a, b;
	int		sv[2], fd, i;
	char		buf[64];
	ssize_t		n = 0;

	event_init();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1) {
		perror("socketpair");
		return 1;
	}
	io_init(&a, sv[0], cb_a, NULL);
	write(sv[1], "* OK ready\r\n", 12);
	spin(50);
	check(nev_a[IO_DATAIN] == 1 && iobuf_len(&a.in) == 12,
	    "the first owner read the greeting and left it unread");
	fd = a.fd;
	memset(&b, 0xa5, sizeof(b));
	io_move(&b, &a, cb_b, (void *)cb_b);
	check(b.fd == fd && b.state == IO_S_UP && iobuf_len(&b.in) == 12 &&
	    memcmp(iobuf_data(&b.in), "* OK ready\r\n", 12) == 0,
	    "io_move: the socket and the unread greeting go to the new io");
	check(a.state == IO_S_IDLE && a.fd == -1 && a.in.buf == NULL,
	    "the old io is left idle, holding nothing");
	io_close(&a);
	check(fcntl_ok(fd), "io_close on the old io does not close the socket");
	write(sv[1], "* 1 EXISTS\r\n", 12);
	spin(50);
	check(nev_a[IO_DATAIN] == 1 && nev_b[IO_DATAIN] == 1 &&
	    iobuf_len(&b.in) == 24,
	    "later input is reported to the new owner only");
	io_write(&b, "a LOGIN\r\n", 9);
	for (i = 0; i < 20 && n <= 0; i++) {
		spin(10);
		n = read(sv[1], buf, sizeof(buf));
	}
	check(n == 9 && memcmp(buf, "a LOGIN\r\n", 9) == 0,
	    "writes go out through the new io");
	close(sv[1]);
	spin(50);
	check(nev_b[IO_EOF] == 1 && nev_a[IO_EOF] == 0,
	    "the peer's close reaches the new owner");
	io_close(&b);
	return failures ? 1 : 0;
}
