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
 * imsg over socketpairs: round trips, framing across and within reads,
 * fd passing, size limits, malformed headers, the ibuf helpers.
 *
 * DEPS: common/imsg.c common/imsg_buffer.c
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>

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

#define WAIT_MS		5000	/* per poll: a test never hangs */
#define WIRE_MAX	(4 * 1024 * 1024)

static int	 failures;

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
	if (!ok) {
		printf(": errno %d (%s)", errno, strerror(errno));
		failures++;
	}
	printf("\n");
	fflush(stdout);
}

static void
pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1) {
		perror("socketpair");
		exit(1);
	}
}

static int
wait_fd(int fd, short events)
{
	struct pollfd	 pfd;

	pfd.fd = fd;
	pfd.events = events;
	pfd.revents = 0;
	return (poll(&pfd, 1, WAIT_MS) == 1);
}

/* Next message: imsg_get, reading when needed; bounded by WAIT_MS. */
static ssize_t
recv_one(struct imsgbuf *ib, struct imsg *imsg)
{
	ssize_t	 n;
	int	 i, r;

	for (i = 0; i < 1000; i++) {
		if ((n = imsg_get(ib, imsg)) != 0)
			return (n);
		if (!wait_fd(ib->fd, POLLIN)) {
			errno = ETIMEDOUT;
			return (-1);
		}
		if ((r = imsgbuf_read(ib)) != 1) {
			if (r == 0)
				errno = ECONNRESET;
			return (-1);
		}
	}
	errno = ELOOP;
	return (-1);
}

/* Read what a flush left in the socket (the raw wire bytes). */
static size_t
drain_raw(int fd, unsigned char *buf, size_t len)
{
	size_t	 got = 0;
	ssize_t	 n;

	if (!wait_fd(fd, POLLIN))
		return (0);
	while (got < len && (n = read(fd, buf + got, len - got)) > 0)
		got += n;
	return (got);
}

/* Readable right now, without waiting. */
static int
wait_fd_now(int fd)
{
	struct pollfd	 pfd;

	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	return (poll(&pfd, 1, 0) == 1);
}

static int
fd_is_open(int fd)
{
	return (fcntl(fd, F_GETFD) != -1);
}

static void
test_roundtrip(void)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	struct iovec	 iov[3];
	char		 payload[] = "hello imsg", big[64];
	uint32_t	 v = 0xdeadbeef, out;
	ssize_t		 n;
	int		 sv[2], ok;

	pair(sv);
	check(imsgbuf_init(&a, sv[0]) == 0 && imsgbuf_init(&b, sv[1]) == 0,
	    "imsgbuf_init on a socketpair");
	check(imsg_compose(&a, 7, 42, 0, -1, payload, sizeof(payload)) == 1,
	    "imsg_compose returns 1");
	check(imsg_compose(&a, 8, 0, 1234, -1, NULL, 0) == 1,
	    "imsg_compose of an empty message");
	iov[0].iov_base = &v;
	iov[0].iov_len = sizeof(v);
	iov[1].iov_base = payload;
	iov[1].iov_len = 5;
	iov[2].iov_base = NULL;
	iov[2].iov_len = 0;
	check(imsg_composev(&a, 9, 1, 0, -1, iov, 3) == 1,
	    "imsg_composev of three iovecs");
	check(imsgbuf_queuelen(&a) == 3, "imsgbuf_queuelen counts 3");
	check(imsgbuf_flush(&a) == 0 && imsgbuf_queuelen(&a) == 0,
	    "imsgbuf_flush empties the queue");

	n = recv_one(&b, &imsg);
	check(n == (ssize_t)(IMSG_HEADER_SIZE + sizeof(payload)),
	    "imsg_get returns header + payload length (%zd)", n);
	if (n > 0) {
		check(imsg_get_type(&imsg) == 7 && imsg_get_id(&imsg) == 42 &&
		    imsg_get_pid(&imsg) == getpid(),
		    "type, peerid and pid (0 means ours) arrive");
		check(imsg_get_len(&imsg) == sizeof(payload) &&
		    memcmp(imsg.data, payload, sizeof(payload)) == 0,
		    "payload arrives intact");
		check(imsg.hdr.len == IMSG_HEADER_SIZE + sizeof(payload),
		    "hdr.len is the total length without the fd bit");
		check(imsg_get_fd(&imsg) == -1, "no fd: imsg_get_fd is -1");
		check(imsg_get_data(&imsg, big, sizeof(big)) == -1 &&
		    errno == EBADMSG,
		    "imsg_get_data with the wrong size fails (EBADMSG)");
		check(imsg_get_data(&imsg, big, sizeof(payload)) == 0 &&
		    strcmp(big, payload) == 0,
		    "imsg_get_data with the exact size copies");
		imsg_free(&imsg);
	}
	n = recv_one(&b, &imsg);
	check(n == IMSG_HEADER_SIZE && imsg_get_type(&imsg) == 8 &&
	    imsg.data == NULL && imsg_get_len(&imsg) == 0 &&
	    imsg_get_pid(&imsg) == 1234,
	    "empty message: no data, given pid kept");
	if (n > 0) {
		check(imsg_get_data(&imsg, big, 0) == -1 && errno == EINVAL,
		    "imsg_get_data of 0 bytes is EINVAL");
		imsg_free(&imsg);
	}
	n = recv_one(&b, &imsg);
	ok = n == IMSG_HEADER_SIZE + 9 && imsg_get_type(&imsg) == 9;
	if (n > 0) {
		ok = ok && imsg_get_buf(&imsg, &out, sizeof(out)) == 0 &&
		    out == v && imsg_get_len(&imsg) == 5 &&
		    imsg_get_buf(&imsg, big, 5) == 0 &&
		    memcmp(big, "hello", 5) == 0 &&
		    imsg_get_buf(&imsg, big, 1) == -1 && errno == EBADMSG;
		imsg_free(&imsg);
	}
	check(ok, "imsg_composev payload read back with imsg_get_buf");
	check(imsg_get(&b, &imsg) == 0, "imsg_get returns 0 when drained");
	check(imsgbuf_get(&b, &imsg) == 0, "imsgbuf_get returns 0 too");

	check(imsg_compose(&a, 10, 0, 0, -1, "x", 1) == 1 &&
	    imsgbuf_flush(&a) == 0 && wait_fd(b.fd, POLLIN) &&
	    imsgbuf_read(&b) == 1 && imsgbuf_get(&b, &imsg) == 1 &&
	    imsg_get_type(&imsg) == 10, "imsgbuf_get returns 1 and a message");
	imsg_free(&imsg);

	check(imsg_compose_ibuf(&a, 12, 5, 0, ibuf_open(0)) == 1 &&
	    imsgbuf_flush(&a) == 0 && recv_one(&b, &imsg) == IMSG_HEADER_SIZE &&
	    imsg_get_type(&imsg) == 12 && imsg_get_id(&imsg) == 5,
	    "imsg_compose_ibuf with an empty payload is sent");
	imsg_free(&imsg);

	check(imsgbuf_read(&b) == 1, "imsgbuf_read with nothing to read is 1");
	imsgbuf_clear(&a);
	close(sv[0]);
	check(wait_fd(b.fd, POLLIN) && imsgbuf_read(&b) == 0,
	    "imsgbuf_read returns 0 when the peer closed");
	/* MSG_NOSIGNAL: a write to a closed peer fails instead of killing */
	check(imsg_compose(&b, 11, 0, 0, -1, "y", 1) == 1 &&
	    imsgbuf_write(&b) == -1 && errno == EPIPE,
	    "imsgbuf_write to a closed peer is EPIPE, no SIGPIPE");
	imsgbuf_clear(&b);
	close(sv[1]);
}

/* A message written one byte at a time arrives whole, once. */
static void
test_split(void)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	unsigned char	 wire[256], payload[100];
	int		 sv[2], raw[2], early = 0, got = 0, r;
	size_t		 len, i;

	memset(payload, 'p', sizeof(payload));
	pair(sv);
	pair(raw);
	if (imsgbuf_init(&a, sv[0]) == -1 || imsgbuf_init(&b, raw[1]) == -1)
		exit(1);
	imsg_compose(&a, 20, 3, 0, -1, payload, sizeof(payload));
	imsg_compose(&a, 21, 4, 0, -1, payload, 1);
	imsgbuf_flush(&a);
	len = drain_raw(sv[1], wire, sizeof(wire));
	check(len == 2 * IMSG_HEADER_SIZE + sizeof(payload) + 1,
	    "wire bytes of two messages captured (%zu)", len);

	for (i = 0; i < len; i++) {
		if (write(raw[0], wire + i, 1) != 1)
			break;
		if (!wait_fd(raw[1], POLLIN) || imsgbuf_read(&b) != 1)
			break;
		while ((r = imsgbuf_get(&b, &imsg)) == 1) {
			if (got == 0 && i + 1 < IMSG_HEADER_SIZE +
			    sizeof(payload))
				early = 1;
			if ((got == 0 && (imsg_get_type(&imsg) != 20 ||
			    imsg_get_id(&imsg) != 3 ||
			    imsg_get_len(&imsg) != sizeof(payload) ||
			    memcmp(imsg.data, payload, sizeof(payload)))) ||
			    (got == 1 && (imsg_get_type(&imsg) != 21 ||
			    imsg_get_len(&imsg) != 1)))
				early = 1;
			got++;
			imsg_free(&imsg);
		}
		if (r == -1)
			break;
	}
	check(i == len, "%zu single-byte reads all succeed", len);
	check(got == 2 && !early,
	    "split messages are delivered only when complete, intact (%d)",
	    got);
	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	close(sv[0]);
	close(sv[1]);
	close(raw[0]);
	close(raw[1]);
}

/* Many messages queued, then taken by one read. */
static void
test_many(void)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	uint64_t	 v;
	int		 sv[2], i, got = 0, inorder = 1, reads;

	pair(sv);
	if (imsgbuf_init(&a, sv[0]) == -1 || imsgbuf_init(&b, sv[1]) == -1)
		exit(1);
	for (i = 0; i < 1000; i++) {
		v = i;
		if (imsg_compose(&a, 30, i, 0, -1, &v, sizeof(v)) != 1)
			break;
	}
	check(i == 1000 && imsgbuf_queuelen(&a) == 1000,
	    "1000 messages queued");
	check(imsgbuf_flush(&a) == 0, "flush of 1000 messages");
	/* 24 KB: one read takes them all (the read buffer is 64 KB) */
	check(wait_fd(b.fd, POLLIN) && imsgbuf_read(&b) == 1, "one read");
	while (imsg_get(&b, &imsg) > 0) {
		if (imsg_get_data(&imsg, &v, sizeof(v)) == -1 ||
		    v != (uint64_t)got || imsg_get_id(&imsg) != (uint32_t)got)
			inorder = 0;
		got++;
		imsg_free(&imsg);
	}
	check(got == 1000 && inorder,
	    "one read yields all 1000 messages, in order (%d)", got);

	/* more than the read buffer holds: several reads, none lost */
	for (i = 0; i < 5000; i++) {
		v = i;
		imsg_compose(&a, 31, i, 0, -1, &v, sizeof(v));
	}
	got = 0;
	inorder = 1;
	for (reads = 0; reads < 100 && got < 5000; reads++) {
		if (imsgbuf_write(&a) == -1)
			break;
		if (!wait_fd(b.fd, POLLIN) || imsgbuf_read(&b) != 1)
			break;
		while (imsg_get(&b, &imsg) > 0) {
			if (imsg_get_data(&imsg, &v, sizeof(v)) == -1 ||
			    v != (uint64_t)got)
				inorder = 0;
			got++;
			imsg_free(&imsg);
		}
	}
	check(got == 5000 && inorder && reads > 1,
	    "5000 messages (120 KB) over %d reads, in order", reads);
	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	close(sv[0]);
	close(sv[1]);
}

/* Send the write end of a pipe, write through it, read it here. */
static void
test_fdpass(void)
{
	struct imsgbuf	 a, b, c;
	struct imsg	 imsg;
	char		 buf[32];
	ssize_t		 n;
	int		 sv[2], p1[2], p2[2], fd, fd2, ok;

	pair(sv);
	if (imsgbuf_init(&a, sv[0]) == -1 || imsgbuf_init(&b, sv[1]) == -1 ||
	    pipe(p1) == -1 || pipe(p2) == -1)
		exit(1);

	check(imsg_compose(&a, 40, 0, 0, p1[1], NULL, 0) == -1 &&
	    errno == EINVAL && fd_is_open(p1[1]),
	    "compose with an fd but no fd passing: EINVAL, fd left open");

	imsgbuf_allow_fdpass(&a);
	imsgbuf_allow_fdpass(&b);
	imsg_compose(&a, 40, 1, 0, -1, "before", 6);
	check(imsg_compose(&a, 41, 2, 0, p1[1], "fd1", 3) == 1,
	    "compose with an fd");
	imsg_compose(&a, 42, 3, 0, -1, "between", 7);
	imsg_compose(&a, 43, 4, 0, p2[1], "fd2", 3);
	imsg_compose(&a, 44, 5, 0, -1, "after", 5);
	check(imsgbuf_flush(&a) == 0, "flush messages with fds");
	check(!fd_is_open(p1[1]) && !fd_is_open(p2[1]),
	    "sender's copies of the fds closed after sending");

	ok = 1;
	for (n = 0; n < 5; n++) {
		if (recv_one(&b, &imsg) <= 0) {
			ok = 0;
			break;
		}
		fd = imsg_get_fd(&imsg);
		switch (imsg_get_type(&imsg)) {
		case 41:
			ok = ok && fd != -1 &&
			    (fcntl(fd, F_GETFD) & FD_CLOEXEC) &&
			    write(fd, "through1", 8) == 8;
			check(imsg_get_fd(&imsg) == -1,
			    "imsg_get_fd hands the fd over only once");
			break;
		case 43:
			ok = ok && fd != -1 && write(fd, "through2", 8) == 8;
			break;
		default:
			ok = ok && fd == -1;
			break;
		}
		if (fd != -1)
			close(fd);
		imsg_free(&imsg);
	}
	check(ok, "each fd arrives with its own message, close-on-exec");
	memset(buf, 0, sizeof(buf));
	check(read(p1[0], buf, sizeof(buf)) == 8 &&
	    memcmp(buf, "through1", 8) == 0,
	    "data written through the first passed fd arrives");
	memset(buf, 0, sizeof(buf));
	check(read(p2[0], buf, sizeof(buf)) == 8 &&
	    memcmp(buf, "through2", 8) == 0,
	    "data written through the second passed fd arrives");
	close(p1[0]);
	close(p2[0]);

	/* an fd not taken is closed by imsg_free: the pipe sees EOF */
	if (pipe(p1) == -1)
		exit(1);
	imsg_compose(&a, 45, 0, 0, p1[1], NULL, 0);
	imsgbuf_flush(&a);
	if (recv_one(&b, &imsg) > 0)
		imsg_free(&imsg);
	check(read(p1[0], buf, sizeof(buf)) == 0,
	    "imsg_free closes an fd nobody took");
	close(p1[0]);

	/* the receiver must allow fd passing too: otherwise no fd */
	if (pipe(p1) == -1)
		exit(1);
	imsgbuf_clear(&b);
	if (imsgbuf_init(&c, sv[1]) == -1)
		exit(1);
	imsg_compose(&a, 46, 0, 0, p1[1], "z", 1);
	imsgbuf_flush(&a);
	fd2 = -2;
	if (recv_one(&c, &imsg) > 0) {
		fd2 = imsg_get_fd(&imsg);
		imsg_free(&imsg);
	}
	check(fd2 == -1 && read(p1[0], buf, sizeof(buf)) == 0,
	    "receiver without fd passing gets the message, no fd");
	close(p1[0]);
	imsgbuf_clear(&a);
	imsgbuf_clear(&c);
	close(sv[0]);
	close(sv[1]);
}

/*
 * The fd comes with the first byte; the header then trickles in one
 * byte per read.  The fd must wait for its header, not be dropped.
 */
static void
test_fd_split(void)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct iovec	 iov;
	unsigned char	 wire[128];
	char		 c;
	size_t		 len, i;
	int		 sv[2], raw[2], p[2], fd = -1, got = 0;

	pair(sv);
	pair(raw);
	if (imsgbuf_init(&a, sv[0]) == -1 || imsgbuf_init(&b, raw[1]) == -1 ||
	    pipe(p) == -1)
		exit(1);
	imsgbuf_allow_fdpass(&a);
	imsgbuf_allow_fdpass(&b);
	/* capture the wire form of a message announcing an fd */
	imsg_compose(&a, 50, 0, 0, dup(p[1]), "data", 4);
	imsgbuf_flush(&a);
	len = drain_raw(sv[1], wire, sizeof(wire));
	/* close what the capture end received */
	imsgbuf_clear(&a);
	close(sv[0]);
	close(sv[1]);

	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	iov.iov_base = wire;
	iov.iov_len = 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	memcpy(CMSG_DATA(cmsg), &p[1], sizeof(int));
	check(len == IMSG_HEADER_SIZE + 4 && sendmsg(raw[0], &msg, 0) == 1,
	    "first byte sent with the fd");
	close(p[1]);
	for (i = 1; i <= len; i++) {
		if (!wait_fd(raw[1], POLLIN) || imsgbuf_read(&b) != 1)
			break;
		while (imsg_get(&b, &imsg) > 0) {
			got++;
			fd = imsg_get_fd(&imsg);
			imsg_free(&imsg);
		}
		if (i < len && write(raw[0], wire + i, 1) != 1)
			break;
	}
	check(got == 1 && fd != -1 && write(fd, "q", 1) == 1 &&
	    read(p[0], &c, 1) == 1 && c == 'q',
	    "fd kept across %zu partial reads, delivered with its message",
	    len);
	if (fd != -1)
		close(fd);
	close(p[0]);
	imsgbuf_clear(&b);
	close(raw[0]);
	close(raw[1]);
}

/* fd table full: the kernel drops the fd (MSG_CTRUNC); message -1. */
static void
test_ctrunc(void)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	struct rlimit	 rl, low;
	int		 sv[2], p[2], fd, lowest, got = 0;
	int		 fd41 = -2, fd42 = -2;

	pair(sv);
	if (imsgbuf_init(&a, sv[0]) == -1 || imsgbuf_init(&b, sv[1]) == -1 ||
	    pipe(p) == -1)
		exit(1);
	imsgbuf_allow_fdpass(&a);
	imsgbuf_allow_fdpass(&b);
	imsg_compose(&a, 41, 0, 0, dup(p[1]), "a", 1);
	imsgbuf_flush(&a);
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || (lowest = dup(0)) == -1)
		exit(1);
	close(lowest);
	/* no free slot below the limit: receiving an fd must fail */
	low = rl;
	low.rlim_cur = lowest;
	if (setrlimit(RLIMIT_NOFILE, &low) == -1) {
		check(0, "setrlimit to fill the fd table");
		return;
	}
	if (recv_one(&b, &imsg) > 0) {
		got++;
		fd41 = imsg_get_fd(&imsg);
		imsg_free(&imsg);
	}
	setrlimit(RLIMIT_NOFILE, &rl);
	check(got == 1 && fd41 == -1,
	    "fd dropped by the kernel: message delivered with fd -1");

	/* the next fd goes to its own message, not the one that lost it */
	imsg_compose(&a, 42, 0, 0, dup(p[1]), "b", 1);
	imsgbuf_flush(&a);
	if (recv_one(&b, &imsg) > 0) {
		fd42 = imsg_get_fd(&imsg);
		imsg_free(&imsg);
	}
	check(fd42 >= 0, "later fd passing works again");
	fd = fd42;
	if (fd >= 0)
		close(fd);
	close(p[0]);
	close(p[1]);
	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	close(sv[0]);
	close(sv[1]);
}

static void
test_sizes(void)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	struct ibuf	*wbuf;
	unsigned char	*big;
	size_t		 bigsz = 200000, i;
	ssize_t		 n;
	int		 sv[2], ok;

	if ((big = malloc(bigsz)) == NULL)
		exit(1);
	for (i = 0; i < bigsz; i++)
		big[i] = i * 7;
	pair(sv);
	if (imsgbuf_init(&a, sv[0]) == -1 || imsgbuf_init(&b, sv[1]) == -1)
		exit(1);
	check(a.maxsize == MAX_IMSGSIZE && MAX_IMSGSIZE == 16384 &&
	    IMSG_HEADER_SIZE == 16, "default maxsize 16384, header 16");
	check(imsg_compose(&a, 1, 0, 0, -1, big,
	    MAX_IMSGSIZE - IMSG_HEADER_SIZE) == 1,
	    "compose of exactly the maximum payload");
	errno = 0;
	check(imsg_compose(&a, 1, 0, 0, -1, big,
	    MAX_IMSGSIZE - IMSG_HEADER_SIZE + 1) == -1 && errno == ERANGE,
	    "compose one byte over the maximum fails with ERANGE");
	check(imsgbuf_queuelen(&a) == 1, "refused message not queued");
	wbuf = imsg_create(&a, 2, 0, 0, 10);
	ok = wbuf != NULL && imsg_add(wbuf, big, 10000) == 10000 &&
	    imsg_add(wbuf, big, MAX_IMSGSIZE - IMSG_HEADER_SIZE - 10000) > 0;
	errno = 0;
	ok = ok && imsg_add(wbuf, big, 1) == -1 && errno == ERANGE;
	check(ok, "imsg_add past the maximum fails with ERANGE (and frees)");
	errno = 0;
	check(imsg_create(&a, 2, 0, 0, MAX_IMSGSIZE) == NULL &&
	    errno == ERANGE, "imsg_create over the maximum is ERANGE");

	check(imsgbuf_set_maxsize(&a, UINT32_MAX) == -1 && errno == ERANGE,
	    "set_maxsize beyond UINT32_MAX - header is ERANGE");
	check(imsgbuf_set_maxsize(&a, 0x80000000U) == -1 && errno == EINVAL,
	    "set_maxsize touching the fd bit is EINVAL");
	check(imsgbuf_set_maxsize(&a, bigsz) == 0 &&
	    imsgbuf_set_maxsize(&b, bigsz) == 0 &&
	    a.maxsize == bigsz + IMSG_HEADER_SIZE,
	    "set_maxsize adds the header size");
	check(imsg_compose(&a, 3, 0, 0, -1, big, bigsz) == 1,
	    "compose %zu bytes after raising maxsize", bigsz);
	n = 0;
	ok = 0;
	/* the first message (16368 bytes) and the big one */
	for (i = 0; i < 2; i++) {
		imsgbuf_write(&a);
		while ((n = imsg_get(&b, &imsg)) == 0) {
			if (imsgbuf_write(&a) == -1 ||
			    !wait_fd(b.fd, POLLIN) || imsgbuf_read(&b) != 1)
				break;
		}
		if (n <= 0)
			break;
		if (imsg_get_type(&imsg) == 3)
			ok = imsg_get_len(&imsg) == bigsz &&
			    memcmp(imsg.data, big, bigsz) == 0;
		imsg_free(&imsg);
	}
	check(ok, "a %zu byte message larger than the read buffer arrives "
	    "intact", bigsz);

	/* the receiver enforces its own limit */
	imsgbuf_set_maxsize(&b, 1000);
	imsg_compose(&a, 4, 0, 0, -1, big, 1001);
	imsgbuf_flush(&a);
	errno = 0;
	check(recv_one(&b, &imsg) == -1 && errno == ERANGE,
	    "message over the receiver's maxsize: imsg_get fails, ERANGE");
	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	close(sv[0]);
	close(sv[1]);
	free(big);
}

/* Hand-written headers: bad lengths fail imsg_get, never crash. */
static void
bad_header(uint32_t len, int want_errno, const char *what)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	struct imsg_hdr	 hdr;
	unsigned char	 junk[64];
	int		 sv[2], first = 0;
	ssize_t		 n;

	pair(sv);
	if (imsgbuf_init(&a, sv[0]) == -1 || imsgbuf_init(&b, sv[1]) == -1)
		exit(1);
	/* a good message first: it is still delivered */
	imsg_compose(&a, 60, 0, 0, -1, "ok", 2);
	imsgbuf_flush(&a);
	memset(&hdr, 0, sizeof(hdr));
	hdr.type = 61;
	hdr.len = len;
	memset(junk, 0xff, sizeof(junk));
	if (write(sv[0], &hdr, sizeof(hdr)) != sizeof(hdr) ||
	    write(sv[0], junk, sizeof(junk)) != sizeof(junk))
		exit(1);
	if (recv_one(&b, &imsg) > 0) {
		first = imsg_get_type(&imsg) == 60;
		imsg_free(&imsg);
	}
	errno = 0;
	n = recv_one(&b, &imsg);
	check(first && n == -1 && errno == want_errno,
	    "header len %u (%s): earlier message delivered, then imsg_get "
	    "-1 with %s", len, what, strerror(want_errno));
	check(imsg_get(&b, &imsg) == -1 && imsgbuf_read(&b) == -1 &&
	    errno == want_errno, "header len %u: the error sticks", len);
	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	close(sv[0]);
	close(sv[1]);
}

static void
test_malformed(void)
{
	bad_header(0, EBADMSG, "zero");
	bad_header(8, EBADMSG, "shorter than the header");
	bad_header(15, EBADMSG, "one byte short");
	bad_header(MAX_IMSGSIZE + 1, ERANGE, "one byte over the maximum");
	bad_header(0x7fffffff, ERANGE, "huge");
	bad_header(0xffffffff, ERANGE, "huge, with the fd bit");
	bad_header(IMSG_FD_MARK | 4, EBADMSG, "short, with the fd bit");
}

static void
test_strbuf_forward(void)
{
	struct imsgbuf	 a, b, c;
	struct imsg	 imsg;
	struct ibuf	 view;
	char		 str[16];
	int		 sv[2], sv2[2], ok = 0;

	pair(sv);
	pair(sv2);
	if (imsgbuf_init(&a, sv[0]) == -1 || imsgbuf_init(&b, sv[1]) == -1 ||
	    imsgbuf_init(&c, sv2[1]) == -1)
		exit(1);
	imsg_compose(&a, 70, 0, 0, -1, "name\0\0\0\0unterm!!", 16);
	imsgbuf_flush(&a);
	if (recv_one(&b, &imsg) > 0) {
		ok = imsg_get_strbuf(&imsg, str, 8) == 0 &&
		    strcmp(str, "name") == 0;
		errno = 0;
		ok = ok && imsg_get_strbuf(&imsg, str, 8) == -1 &&
		    errno == EOVERFLOW && str[7] == '\0';
		imsg_free(&imsg);
	}
	check(ok, "imsg_get_strbuf: NUL-terminated ok, else EOVERFLOW");

	imsg_compose(&a, 71, 9, 77, -1, "forward me", 10);
	imsgbuf_flush(&a);
	ok = 0;
	if (recv_one(&b, &imsg) > 0) {
		/* b writes to sv[1]; forward on a third imsgbuf instead */
		struct imsgbuf	 f;

		if (imsgbuf_init(&f, sv2[0]) == -1)
			exit(1);
		ok = imsg_get_ibuf(&imsg, &view) == 0 &&
		    ibuf_size(&view) == 10 &&
		    imsg_get_len(&imsg) == 0 &&
		    imsg_forward(&f, &imsg) == 1 && imsgbuf_flush(&f) == 0;
		imsg_free(&imsg);
		imsgbuf_clear(&f);
	}
	if (ok && recv_one(&c, &imsg) > 0) {
		ok = imsg_get_type(&imsg) == 71 && imsg_get_id(&imsg) == 9 &&
		    imsg_get_pid(&imsg) == 77 && imsg_get_len(&imsg) == 10 &&
		    memcmp(imsg.data, "forward me", 10) == 0;
		imsg_free(&imsg);
	} else
		ok = 0;
	check(ok, "imsg_get_ibuf views the payload; imsg_forward copies it");
	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	imsgbuf_clear(&c);
	close(sv[0]);
	close(sv[1]);
	close(sv2[0]);
	close(sv2[1]);
}

static void
test_ibuf(void)
{
	struct ibuf	*buf, view;
	unsigned char	 out[8];
	uint32_t	 v;
	int		 i, ok;

	buf = ibuf_open(4);
	check(buf != NULL && ibuf_add(buf, "abcd", 4) == 0 &&
	    ibuf_add(buf, "e", 1) == -1 && errno == ERANGE,
	    "ibuf_open is fixed size: overflow is ERANGE");
	ibuf_free(buf);

	buf = ibuf_dynamic(2, 1000);
	ok = buf != NULL;
	for (i = 0; ok && i < 250; i++) {
		v = i;
		ok = ibuf_add(buf, &v, sizeof(v)) == 0;
	}
	check(ok && ibuf_size(buf) == 1000 && ibuf_left(buf) == 0 &&
	    ibuf_add_zero(buf, 1) == -1 && errno == ERANGE,
	    "ibuf_dynamic grows to its max and no further");
	ok = 1;
	for (i = 0; ok && i < 250; i++)
		ok = ibuf_get(buf, &v, sizeof(v)) == 0 && v == (uint32_t)i;
	check(ok && ibuf_size(buf) == 0 &&
	    ibuf_get(buf, &v, 1) == -1 && errno == EBADMSG,
	    "ibuf_get reads back in order, then EBADMSG");
	ibuf_rewind(buf);
	check(ibuf_size(buf) == 1000 && ibuf_skip(buf, 996) == 0 &&
	    ibuf_get(buf, &v, 4) == 0 && v == 249 &&
	    ibuf_skip(buf, 1) == -1, "ibuf_rewind and ibuf_skip");
	ibuf_rewind(buf);
	check(ibuf_seek(buf, 996, 4) != NULL && ibuf_seek(buf, 997, 4) ==
	    NULL && ibuf_seek(buf, SIZE_MAX, 2) == NULL &&
	    ibuf_set(buf, 0, "zz", 2) == 0 && memcmp(ibuf_data(buf), "zz", 2)
	    == 0, "ibuf_seek/ibuf_set stay within written data");
	check(ibuf_truncate(buf, 6) == 0 && ibuf_size(buf) == 6,
	    "ibuf_truncate shortens");
	check(ibuf_get_ibuf(buf, 4, &view) == 0 && ibuf_size(&view) == 4 &&
	    ibuf_left(&view) == 0 && ibuf_add(&view, "x", 1) == -1 &&
	    ibuf_size(buf) == 2 && ibuf_get_ibuf(buf, 3, &view) == -1,
	    "ibuf_get_ibuf gives a read-only view, bounded");
	check(ibuf_fd_avail(buf) == 0 && ibuf_fd_get(buf) == -1,
	    "no fd on a fresh ibuf");
	ibuf_free(buf);
	ibuf_free(NULL);

	ibuf_from_buffer(&view, out, 0);
	check(ibuf_size(&view) == 0 && ibuf_get(&view, out, 1) == -1,
	    "an empty view has nothing to get");
	check(ibuf_dynamic(10, 5) == NULL && errno == EINVAL,
	    "ibuf_dynamic with max < len is EINVAL");
}

static uint32_t	 rnd_state = 0x2545f491;

/* xorshift32: deterministic, so a failure can be replayed */
static uint32_t
rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return (rnd_state);
}

/*
 * Messages of random sizes written in random-sized chunks reassemble
 * exactly; random garbage never crashes the reader.
 */
static void
test_random(void)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	unsigned char	*wire, *payload;
	size_t		 wlen, off, chunk, i, len;
	ssize_t		 n;
	int		 sv[2], raw[2], nmsg = 300, got = 0, ok = 1, r = 0;
	int		 round;
	int		 errs = 0, msgs = 0, stuck = 0;

	if ((wire = malloc(WIRE_MAX)) == NULL ||
	    (payload = malloc(MAX_IMSGSIZE)) == NULL)
		exit(1);
	pair(sv);
	pair(raw);
	if (imsgbuf_init(&a, sv[0]) == -1 || imsgbuf_init(&b, raw[1]) == -1)
		exit(1);
	for (i = 0; i < (size_t)nmsg; i++) {
		len = rnd() % (MAX_IMSGSIZE - IMSG_HEADER_SIZE + 1);
		memset(payload, (int)(i & 0xff), len);
		imsg_compose(&a, 80, i, 0, -1, payload, len);
	}
	/* capture the wire form */
	wlen = 0;
	while (imsgbuf_queuelen(&a) > 0 && wlen < WIRE_MAX) {
		if (imsgbuf_write(&a) == -1)
			break;
		while (wait_fd_now(sv[1]) && wlen < WIRE_MAX &&
		    (n = read(sv[1], wire + wlen, WIRE_MAX - wlen)) > 0) {
			wlen += n;
			if (imsgbuf_queuelen(&a) > 0)
				break;
		}
	}
	for (off = 0; off < wlen && ok; off += chunk) {
		chunk = 1 + rnd() % 9000;
		if (chunk > wlen - off)
			chunk = wlen - off;
		if (write(raw[0], wire + off, chunk) != (ssize_t)chunk) {
			ok = 0;
			break;
		}
		/* take everything this chunk completed */
		while (ok && wait_fd(raw[1], POLLIN)) {
			if (imsgbuf_read(&b) != 1)
				ok = 0;
			while (ok && (r = imsgbuf_get(&b, &imsg)) == 1) {
				len = imsg_get_len(&imsg);
				if (imsg_get_id(&imsg) != (uint32_t)got ||
				    (len > 0 && (((unsigned char *)imsg.data)
				    [0] != (got & 0xff) ||
				    ((unsigned char *)imsg.data)[len - 1] !=
				    (got & 0xff))))
					ok = 0;
				got++;
				imsg_free(&imsg);
			}
			if (r == -1)
				ok = 0;
			if (!wait_fd_now(raw[1]))
				break;
		}
	}
	check(ok && got == nmsg,
	    "%d messages of random size in random chunks reassemble (%d)",
	    nmsg, got);
	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	close(sv[0]);
	close(sv[1]);
	close(raw[0]);
	close(raw[1]);

	/* garbage: each round a fresh reader; it must fail or deliver */
	for (round = 0; round < 200; round++) {
		pair(raw);
		if (imsgbuf_init(&b, raw[1]) == -1)
			exit(1);
		imsgbuf_set_maxsize(&b, 4096);
		len = 1 + rnd() % 8192;
		for (i = 0; i < len; i++)
			wire[i] = rnd();
		/* small lengths now and then, so some headers are valid */
		for (i = 0; i + 8 <= len; i += 16)
			if (rnd() % 2)
				memset(wire + i + 5, 0, 3);
		if (write(raw[0], wire, len) != (ssize_t)len)
			exit(1);
		close(raw[0]);
		for (i = 0; i < 100; i++) {
			if (!wait_fd(raw[1], POLLIN))
				break;
			if ((r = imsgbuf_read(&b)) != 1)
				break;
		}
		if (i == 100)
			stuck++;
		while ((r = imsgbuf_get(&b, &imsg)) == 1) {
			if (imsg.hdr.len < IMSG_HEADER_SIZE ||
			    imsg.hdr.len > b.maxsize ||
			    imsg_get_len(&imsg) != imsg.hdr.len -
			    IMSG_HEADER_SIZE)
				stuck++;
			msgs++;
			imsg_free(&imsg);
		}
		if (r == -1)
			errs++;
		imsgbuf_clear(&b);
		close(raw[1]);
	}
	check(stuck == 0 && errs > 0 && msgs > 0,
	    "200 rounds of garbage: %d messages, %d framing errors, no crash",
	    msgs, errs);
	free(wire);
	free(payload);
}

static int
count_fds(void)
{
	int	 fd, n = 0;

	for (fd = 0; fd < 1024; fd++)
		if (fd_is_open(fd))
			n++;
	return (n);
}

int
main(void)
{
	int	 nfds;

	nfds = count_fds();
	test_roundtrip();
	test_split();
	test_many();
	test_fdpass();
	test_fd_split();
	test_ctrunc();
	test_sizes();
	test_malformed();
	test_strbuf_forward();
	test_ibuf();
	test_random();
	check(count_fds() == nfds, "no fd leaked (%d open before, %d after)",
	    nfds, count_fds());
	return (failures != 0);
}
