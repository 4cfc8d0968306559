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
 * The proxy's buffered connection over a socketpair: drained bytes are
 * wiped, writes arrive in order, reading stops at IO_IN_MAX and restarts
 * after a drain, pause/resume, IO_LOWAT, EOF, shutdown after flushing,
 * STARTTLS ordering (bytes queued before the upgrade go out in clear,
 * then the TLS handshake starts), and the relay phase: emptied buffers
 * given back (large ones reused from the pool), no wiping after
 * io_nowipe, buffers handed over by iobuf_move/io_relay, and a 1 MiB
 * stream relayed intact from one connection to another.
 *
 * DEPS: proxy/io.c proxy/iobuf.c proxy/tls_ossl.c proxy/tlsverify.c
 * DEPS: common/log.c
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "io.h"
#include "tls_ossl.h"
#include "tlsverify.h"

static int	failures;
static int	nev[IO_CLOSED + 1];

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
cb(struct io *io, enum io_event ev, void *arg)
{
	nev[ev]++;
}

/* Run the loop for about ms milliseconds. */
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

/* Read whatever the peer end has, up to len bytes, for about ms. */
static size_t
peer_read(int fd, uint8_t *buf, size_t len, int ms)
{
	size_t	got = 0;
	ssize_t	n;
	int	i;

	for (i = 0; i < ms / 10 && got < len; i++) {
		spin(10);
		while (got < len &&
		    (n = read(fd, buf + got, len - got)) > 0)
			got += n;
	}
	return got;
}

static void
pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1) {
		perror("socketpair");
		exit(1);
	}
}

int
main(void)
{
	struct io		 io;
	struct iobuf		 b;
	struct tlsx_ctx		*cfg;
	struct x509_store_st	*store;
	int			 sv[2];
	uint8_t			*big, *got, *p;
	size_t			 n, i;
	ssize_t			 w;
	size_t			 bigsz = 1024 * 1024;

	event_init();

	/* iobuf: drained bytes are wiped, the rest kept in order. */
	memset(&b, 0, sizeof(b));
	iobuf_add(&b, "password123rest", 15);
	p = b.buf;
	iobuf_drain(&b, 11);
	check(memcmp(p, "\0\0\0\0\0\0\0\0\0\0\0", 11) == 0 &&
	    iobuf_len(&b) == 4 && memcmp(iobuf_data(&b), "rest", 4) == 0,
	    "iobuf_drain wipes what it drops, keeps the rest");
	iobuf_clear(&b);

	/* An emptied buffer is given back; a large one is pooled. */
	memset(&b, 0, sizeof(b));
	iobuf_add(&b, "abc", 3);
	iobuf_drain(&b, 3);
	check(b.buf == NULL && b.size == 0,
	    "an emptied buffer is given back (an idle connection holds none)");
	p = iobuf_reserve(&b, IO_READ_CHUNK);
	iobuf_commit(&b, IO_READ_CHUNK);
	iobuf_drain(&b, IO_READ_CHUNK);
	check(iobuf_reserve(&b, IO_READ_CHUNK) == p,
	    "a large emptied buffer is reused from the pool");
	iobuf_clear(&b);
	iobuf_pool_flush();

	/* Relay data (after login) is not wiped. */
	iobuf_nowipe(&b);
	iobuf_add(&b, "mailbody", 8);
	p = b.buf;
	iobuf_drain(&b, 4);
	check(memcmp(p, "mailbody", 8) == 0 && iobuf_len(&b) == 4,
	    "after iobuf_nowipe drained bytes are left as they were");
	iobuf_clear(&b);

	/* iobuf_move: hand over to an empty target, append otherwise. */
	{
		struct iobuf	 t;

		memset(&t, 0, sizeof(t));
		memset(&b, 0, sizeof(b));
		iobuf_add(&b, "one", 3);
		p = b.buf;
		check(iobuf_move(&t, &b) == 0 && t.buf == p &&
		    b.buf == NULL && iobuf_len(&b) == 0 &&
		    iobuf_len(&t) == 3 && memcmp(iobuf_data(&t), "one", 3) == 0,
		    "iobuf_move hands the buffer to an empty target");
		iobuf_add(&b, "two", 3);
		check(iobuf_move(&t, &b) == 0 && iobuf_len(&b) == 0 &&
		    iobuf_len(&t) == 6 &&
		    memcmp(iobuf_data(&t), "onetwo", 6) == 0,
		    "iobuf_move appends to a target that has data");
		iobuf_clear(&t);
		iobuf_clear(&b);
	}

	big = malloc(bigsz);
	got = malloc(bigsz);
	for (i = 0; i < bigsz; i++)
		big[i] = (uint8_t)(i * 7 + (i >> 11));

	/* Writes arrive in order; reads land in io.in. */
	pair(sv);
	io_init(&io, sv[0], cb, NULL);
	io_write(&io, "hello ", 6);
	io_write(&io, "world", 5);
	n = peer_read(sv[1], got, 11, 200);
	check(n == 11 && memcmp(got, "hello world", 11) == 0,
	    "queued writes arrive in order");
	write(sv[1], "abc\r\n", 5);
	spin(50);
	check(nev[IO_DATAIN] > 0 && iobuf_len(&io.in) == 5 &&
	    memcmp(iobuf_data(&io.in), "abc\r\n", 5) == 0,
	    "peer bytes reported as IO_DATAIN");
	io_drain(&io, 5);

	/* Reading stops at IO_IN_MAX and goes on after a drain. */
	for (n = 0; n < bigsz; n += w) {
		spin(10);
		if ((w = write(sv[1], big + n, bigsz - n)) <= 0)
			w = 0;
		if (iobuf_len(&io.in) >= IO_IN_MAX && w == 0)
			break;
	}
	check(iobuf_len(&io.in) >= IO_IN_MAX &&
	    iobuf_len(&io.in) < IO_IN_MAX + IO_READ_CHUNK,
	    "reading stops at IO_IN_MAX (%zu buffered)", iobuf_len(&io.in));
	i = 0;
	while (n < bigsz || iobuf_len(&io.in) > 0) {
		size_t	len = iobuf_len(&io.in);

		if (len > 0 && memcmp(iobuf_data(&io.in), big + i, len) != 0)
			break;
		i += len;
		io_drain(&io, len);
		if (n < bigsz && (w = write(sv[1], big + n, bigsz - n)) > 0)
			n += w;
		spin(10);
		if (i >= bigsz)
			break;
	}
	check(i == bigsz, "after drains all %zu bytes arrive intact", i);

	/* io_relay: 1 MiB from one connection to another, intact. */
	{
		struct io	 a, o;
		int		 sa[2], so[2], k;

		pair(sa);
		pair(so);
		io_init(&a, sa[0], cb, NULL);
		io_init(&o, so[0], cb, NULL);
		io_nowipe(&a);
		io_nowipe(&o);
		n = i = 0;
		for (k = 0; k < 3000 && i < bigsz; k++) {
			if (n < bigsz &&
			    (w = write(sa[1], big + n, bigsz - n)) > 0)
				n += w;
			spin(10);
			if (io_relay(&a, &o) == -1)
				break;
			while (i < bigsz &&
			    (w = read(so[1], got + i, bigsz - i)) > 0)
				i += w;
		}
		check(i == bigsz && memcmp(got, big, bigsz) == 0 &&
		    a.nread == bigsz && o.nwritten == bigsz,
		    "io_relay moves a 1 MiB stream intact (%zu bytes)", i);
		io_close(&a);
		io_close(&o);
		close(sa[1]);
		close(so[1]);
		iobuf_pool_flush();
	}

	/* Pause and resume. */
	io_pause(&io);
	nev[IO_DATAIN] = 0;
	write(sv[1], "xyz", 3);
	spin(50);
	check(nev[IO_DATAIN] == 0 && iobuf_len(&io.in) == 0,
	    "nothing read while paused");
	io_resume(&io);
	spin(50);
	check(nev[IO_DATAIN] == 1 && iobuf_len(&io.in) == 3,
	    "resume reads what waited");
	io_drain(&io, 3);

	/* IO_LOWAT once the peer reads our backlog. */
	io_write(&io, big, bigsz);
	spin(20);
	check(io_queued(&io) > IO_LOWAT_BYTES, "output queued while the peer "
	    "does not read (%zu)", io_queued(&io));
	io_want_lowat(&io);
	n = peer_read(sv[1], got, bigsz, 3000);
	check(n == bigsz && memcmp(got, big, bigsz) == 0,
	    "peer gets the backlog intact");
	check(nev[IO_LOWAT] == 1, "IO_LOWAT reported once");

	/* Shutdown: flush, then close; the peer sees the data and EOF. */
	io_write(&io, "bye\r\n", 5);
	io_shutdown(&io);
	n = peer_read(sv[1], got, 5, 200);
	spin(20);
	check(n == 5 && memcmp(got, "bye\r\n", 5) == 0 &&
	    nev[IO_CLOSED] == 1 && io.state == IO_S_CLOSED,
	    "shutdown flushes, closes, reports IO_CLOSED");
	check(read(sv[1], got, 1) == 0, "peer sees EOF after shutdown");
	close(sv[1]);

	/* The peer closes: IO_EOF. */
	pair(sv);
	io_init(&io, sv[0], cb, NULL);
	close(sv[1]);
	spin(50);
	check(nev[IO_EOF] == 1, "peer close reported as IO_EOF");
	io_close(&io);

	/* STARTTLS: queued plaintext first, then a TLS ClientHello. */
	pair(sv);
	io_init(&io, sv[0], cb, NULL);
	if ((store = tlsverify_store(NULL, 0, "none")) == NULL ||
	    (cfg = tlsx_client_ctx("test", store)) == NULL) {
		printf("FAIL: a TLS client context\n");
		return 1;
	}
	X509_STORE_free(store);
	io_write(&io, "a STARTTLS\r\n", 12);
	check(io_start_tls_client(&io, cfg, "localhost") == 0,
	    "STARTTLS on a connection in use");
	io_write(&io, "secret\r\n", 8);
	n = peer_read(sv[1], got, 12 + 6, 300);
	check(n >= 13 && memcmp(got, "a STARTTLS\r\n", 12) == 0 &&
	    got[12] == 0x16, "plaintext before the upgrade, then a TLS "
	    "handshake record");
	check(memmem(got, n, "secret", 6) == NULL,
	    "bytes queued after the upgrade never go out in clear");
	check(io_start_tls_client(&io, cfg, "localhost") == -1,
	    "a second upgrade is refused");
	close(sv[1]);
	spin(50);
	check(nev[IO_ERROR] == 1, "peer gone mid-handshake: IO_ERROR");
	io_close(&io);
	tlsx_ctx_unref(cfg);

	free(big);
	free(got);
	return failures ? 1 : 0;
}
