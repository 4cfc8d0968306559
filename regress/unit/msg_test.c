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
 * Typed payloads: every field type round trips; the reader rejects
 * short, malformed and over-long payloads; the writer refuses what
 * does not fit and never leaks the fd it was given.
 *
 * DEPS: common/imsg.c common/imsg_buffer.c common/msg.c
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"
#include "msg.h"

#define WAIT_MS		5000

static int		 failures;
static struct imsgbuf	 wr, rd;	/* two ends of one socketpair */

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

/* Flush wr and take the next message on rd; 0 if none came. */
static int
next(struct imsg *imsg)
{
	struct pollfd	 pfd;
	ssize_t		 n;
	int		 i;

	if (imsgbuf_flush(&wr) == -1)
		return (0);
	for (i = 0; i < 100; i++) {
		if ((n = imsg_get(&rd, imsg)) != 0)
			return (n > 0);
		pfd.fd = rd.fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, WAIT_MS) != 1 || imsgbuf_read(&rd) != 1)
			return (0);
	}
	return (0);
}

/* Send a hand-made payload, to feed the reader bad input. */
static int
raw(struct imsg *imsg, const void *p, size_t len)
{
	if (imsg_compose(&wr, 99, 0, 0, -1, p, len) != 1)
		return (0);
	return (next(imsg));
}

static void
test_types(void)
{
	struct msgw	 w;
	struct msgr	 r;
	struct imsg	 imsg;
	const char	*s1, *s2, *s3, *s4;
	const void	*d1, *d2;
	size_t		 l1 = 99, l2 = 99;
	uint32_t	 a, b;
	uint64_t	 c, e;
	const unsigned char bin[] = { 0, 1, 0, 0xff, 'x' };

	msg_begin(&w, &wr, 5, 77, -1);
	msg_put_u32(&w, 0);
	msg_put_u32(&w, UINT32_MAX);
	msg_put_u64(&w, UINT64_MAX);
	msg_put_u64(&w, 0x0102030405060708ULL);
	msg_put_str(&w, "user@example.org");
	msg_put_str(&w, "");
	msg_put_str(&w, NULL);
	msg_put_str(&w, "last");
	msg_put_data(&w, bin, sizeof(bin));
	msg_put_data(&w, NULL, 0);
	check(msg_end(&w, &wr) == 0 && imsgbuf_queuelen(&wr) == 1,
	    "writer with every field type queues one message");
	if (!next(&imsg)) {
		check(0, "message received");
		return;
	}
	check(imsg_get_type(&imsg) == 5 && imsg_get_id(&imsg) == 77 &&
	    imsg_get_pid(&imsg) == getpid() && imsg_get_fd(&imsg) == -1,
	    "type and peerid as given, our pid, no fd");
	msg_read_init(&r, &imsg);
	a = msg_get_u32(&r);
	b = msg_get_u32(&r);
	c = msg_get_u64(&r);
	e = msg_get_u64(&r);
	s1 = msg_get_str(&r);
	s2 = msg_get_str(&r);
	s3 = msg_get_str(&r);
	s4 = msg_get_str(&r);
	d1 = msg_get_data(&r, &l1);
	d2 = msg_get_data(&r, &l2);
	check(a == 0 && b == UINT32_MAX, "u32 0 and UINT32_MAX");
	check(c == UINT64_MAX && e == 0x0102030405060708ULL,
	    "u64 UINT64_MAX and a byte pattern");
	check(s1 != NULL && strcmp(s1, "user@example.org") == 0,
	    "string round trips");
	check(s2 != NULL && s2[0] == '\0', "empty string stays empty, "
	    "not NULL");
	check(s3 == NULL, "NULL string stays NULL");
	check(s4 != NULL && strcmp(s4, "last") == 0,
	    "string after a NULL one");
	check(d1 != NULL && l1 == sizeof(bin) &&
	    memcmp(d1, bin, sizeof(bin)) == 0,
	    "data with NUL bytes round trips");
	check(d2 != NULL && l2 == 0, "empty data has length 0");
	check(msg_read_end(&r) == 0, "msg_read_end: all consumed, valid");
	imsg_free(&imsg);
}

static void
test_reader_rejects(void)
{
	struct msgr	 r;
	struct imsg	 imsg;
	unsigned char	 p[64];
	const char	*s;
	const void	*d;
	uint32_t	 u, v;
	uint64_t	 q;
	size_t		 len;

	/* a u32 with only three bytes */
	u = 7;
	if (raw(&imsg, &u, 3)) {
		msg_read_init(&r, &imsg);
		v = msg_get_u32(&r);
		check(v == 0 && msg_read_end(&r) == -1 && errno == EBADMSG,
		    "truncated u32 detected");
		imsg_free(&imsg);
	}

	/* u64 with seven bytes */
	memset(p, 1, 7);
	if (raw(&imsg, p, 7)) {
		msg_read_init(&r, &imsg);
		q = msg_get_u64(&r);
		check(q == 0 && msg_read_end(&r) == -1,
		    "truncated u64 detected");
		imsg_free(&imsg);
	}

	/* empty payload: any field is short */
	if (raw(&imsg, NULL, 0)) {
		msg_read_init(&r, &imsg);
		s = msg_get_str(&r);
		check(s == NULL && msg_read_end(&r) == -1,
		    "string from an empty payload detected");
		imsg_free(&imsg);
	}
	if (raw(&imsg, NULL, 0)) {
		msg_read_init(&r, &imsg);
		check(msg_read_end(&r) == 0,
		    "empty payload with no fields is valid");
		imsg_free(&imsg);
	}

	/* string claims 10 bytes, 5 follow */
	u = 10;
	memcpy(p, &u, 4);
	memcpy(p + 4, "abcde", 5);
	if (raw(&imsg, p, 9)) {
		msg_read_init(&r, &imsg);
		s = msg_get_str(&r);
		check(s == NULL && msg_read_end(&r) == -1,
		    "truncated string detected");
		imsg_free(&imsg);
	}

	/* string of 5 with its bytes but without the NUL */
	u = 5;
	memcpy(p, &u, 4);
	memcpy(p + 4, "abcde", 5);
	if (raw(&imsg, p, 9)) {
		msg_read_init(&r, &imsg);
		s = msg_get_str(&r);
		check(s == NULL && msg_read_end(&r) == -1,
		    "string missing its NUL detected");
		imsg_free(&imsg);
	}

	/* string of 5 whose terminator is another byte */
	memcpy(p + 4, "abcdeX", 6);
	if (raw(&imsg, p, 10)) {
		msg_read_init(&r, &imsg);
		s = msg_get_str(&r);
		check(s == NULL && msg_read_end(&r) == -1,
		    "string not ending in NUL detected");
		imsg_free(&imsg);
	}

	/* embedded NUL: "ab\0cd" as a 5-byte string */
	memcpy(p + 4, "ab\0cd", 6);
	if (raw(&imsg, p, 10)) {
		msg_read_init(&r, &imsg);
		s = msg_get_str(&r);
		check(s == NULL && msg_read_end(&r) == -1,
		    "string with an embedded NUL rejected");
		imsg_free(&imsg);
	}

	/* a length one below the NULL marker: no overflow, just short */
	u = 0xfffffffe;
	memcpy(p, &u, 4);
	memcpy(p + 4, "abc", 4);
	if (raw(&imsg, p, 8)) {
		msg_read_init(&r, &imsg);
		s = msg_get_str(&r);
		check(s == NULL && msg_read_end(&r) == -1,
		    "string length 0xfffffffe with 4 bytes detected");
		imsg_free(&imsg);
	}
	if (raw(&imsg, p, 8)) {
		msg_read_init(&r, &imsg);
		d = msg_get_data(&r, &len);
		check(d == NULL && len == 0 && msg_read_end(&r) == -1,
		    "data length 0xfffffffe with 4 bytes detected");
		imsg_free(&imsg);
	}

	/* data claims 8, 4 follow */
	u = 8;
	memcpy(p, &u, 4);
	if (raw(&imsg, p, 8)) {
		msg_read_init(&r, &imsg);
		d = msg_get_data(&r, &len);
		check(d == NULL && len == 0 && msg_read_end(&r) == -1,
		    "truncated data detected");
		imsg_free(&imsg);
	}

	/* trailing bytes after the last field */
	u = 42;
	memcpy(p, &u, 4);
	p[4] = 0;
	if (raw(&imsg, p, 5)) {
		msg_read_init(&r, &imsg);
		v = msg_get_u32(&r);
		check(v == 42 && msg_read_end(&r) == -1 && errno == EBADMSG,
		    "trailing byte detected by msg_read_end");
		imsg_free(&imsg);
	}

	/* once failed, later fields fail too, even if bytes remain */
	u = 3;
	memcpy(p, &u, 4);
	memcpy(p + 4, "ab\0", 3);	/* short by one */
	if (raw(&imsg, p, 7)) {
		msg_read_init(&r, &imsg);
		s = msg_get_str(&r);
		v = msg_get_u32(&r);
		check(s == NULL && v == 0 && msg_read_end(&r) == -1,
		    "errors are sticky");
		imsg_free(&imsg);
	}
}

static void
test_writer_limits(void)
{
	struct msgw	 w;
	struct imsg	 imsg;
	char		*big;
	size_t		 bigsz = MAX_IMSGSIZE;
	uint32_t	 before;

	if ((big = malloc(bigsz + 1)) == NULL)
		exit(1);
	memset(big, 'a', bigsz);
	big[bigsz] = '\0';

	before = imsgbuf_queuelen(&wr);
	msg_begin(&w, &wr, 6, 0, -1);
	msg_put_u32(&w, 1);
	msg_put_str(&w, big);		/* does not fit in 16 KB */
	msg_put_u32(&w, 2);
	errno = 0;
	check(msg_end(&w, &wr) == -1 && errno == ERANGE &&
	    imsgbuf_queuelen(&wr) == before,
	    "oversized string: msg_end -1 (ERANGE), nothing queued");

	msg_begin(&w, &wr, 6, 0, -1);
	msg_put_data(&w, big, bigsz - IMSG_HEADER_SIZE - 4);
	check(msg_end(&w, &wr) == 0, "data filling maxsize exactly fits");
	if (next(&imsg)) {
		check(imsg_get_len(&imsg) == bigsz - IMSG_HEADER_SIZE,
		    "the full-size message arrives");
		imsg_free(&imsg);
	}
	msg_begin(&w, &wr, 6, 0, -1);
	msg_put_data(&w, big, bigsz - IMSG_HEADER_SIZE - 3);
	check(msg_end(&w, &wr) == -1 && errno == ERANGE,
	    "one byte more is refused");
	free(big);
}

static void
test_fd(void)
{
	struct imsgbuf	 fw, fr;
	struct msgw	 w;
	struct msgr	 r;
	struct imsg	 imsg;
	const char	*s;
	char		 c;
	int		 sv[2], p[2], fd = -1;
	struct pollfd	 pfd;

	if (pipe(p) == -1)
		exit(1);
	/* wr does not pass fds: refused, and the fd is closed */
	msg_begin(&w, &wr, 7, 0, p[1]);
	msg_put_u32(&w, 1);
	check(msg_end(&w, &wr) == -1 && errno == EINVAL &&
	    read(p[0], &c, 1) == 0,
	    "fd on an imsgbuf without fd passing: EINVAL, fd closed");
	close(p[0]);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1 || pipe(p) == -1 || imsgbuf_init(&fw, sv[0]) == -1 ||
	    imsgbuf_init(&fr, sv[1]) == -1)
		exit(1);
	imsgbuf_allow_fdpass(&fw);
	imsgbuf_allow_fdpass(&fr);

	/* a failed message closes its fd */
	msg_begin(&w, &fw, 8, 0, dup(p[1]));
	msg_put_data(&w, NULL, UINT32_MAX + (size_t)1);
	check(msg_end(&w, &fw) == -1 && errno == ERANGE &&
	    imsgbuf_queuelen(&fw) == 0, "data over 4 GB refused (ERANGE)");

	msg_begin(&w, &fw, 9, 3, p[1]);
	msg_put_str(&w, "with fd");
	check(msg_end(&w, &fw) == 0 && imsgbuf_flush(&fw) == 0 &&
	    fcntl(p[1], F_GETFD) == -1, "message with an fd sent, our copy "
	    "closed");
	pfd.fd = fr.fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, WAIT_MS) == 1 && imsgbuf_read(&fr) == 1 &&
	    imsg_get(&fr, &imsg) > 0) {
		fd = imsg_get_fd(&imsg);
		msg_read_init(&r, &imsg);
		s = msg_get_str(&r);
		check(s != NULL && strcmp(s, "with fd") == 0 &&
		    msg_read_end(&r) == 0 && imsg_get_type(&imsg) == 9 &&
		    imsg_get_id(&imsg) == 3,
		    "payload of the fd message");
		imsg_free(&imsg);
	}
	check(fd >= 0 && write(fd, "k", 1) == 1 && read(p[0], &c, 1) == 1 &&
	    c == 'k', "fd given to msg_begin arrives and works");
	if (fd >= 0)
		close(fd);
	close(p[0]);
	imsgbuf_clear(&fw);
	imsgbuf_clear(&fr);
	close(sv[0]);
	close(sv[1]);
}

static int
count_fds(void)
{
	int	 fd, n = 0;

	for (fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return (n);
}

int
main(void)
{
	int	 sv[2], nfds;

	nfds = count_fds();

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1 || imsgbuf_init(&wr, sv[0]) == -1 ||
	    imsgbuf_init(&rd, sv[1]) == -1) {
		perror("setup");
		return (1);
	}
	test_types();
	test_reader_rejects();
	test_writer_limits();
	test_fd();
	imsgbuf_clear(&wr);
	imsgbuf_clear(&rd);
	close(sv[0]);
	close(sv[1]);
	check(count_fds() == nfds, "no fd leaked (%d open before, %d after)",
	    nfds, count_fds());
	return (failures != 0);
}
