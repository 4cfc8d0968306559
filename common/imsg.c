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
 * imsg: typed messages over a socketpair, framed by struct imsg_hdr,
 * on top of the ibuf/msgbuf layer in imsg_buffer.c.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"

/* imsgbuf_flush gives up when the peer reads nothing for this long. */
#define IMSG_FLUSH_TIMEOUT	30000	/* ms */

static struct ibuf	*imsg_parse_hdr(struct ibuf *, void *, int *);

/*
 * The reader keeps a pointer to imsgbuf (for maxsize): an imsgbuf must
 * stay where it is between imsgbuf_init and imsgbuf_clear.
 */
int
imsgbuf_init(struct imsgbuf *imsgbuf, int fd)
{
	memset(imsgbuf, 0, sizeof(*imsgbuf));
	imsgbuf->w = msgbuf_new_reader(IMSG_HEADER_SIZE, imsg_parse_hdr,
	    imsgbuf);
	if (imsgbuf->w == NULL)
		return (-1);
	imsgbuf->pid = getpid();
	imsgbuf->maxsize = MAX_IMSGSIZE;
	imsgbuf->fd = fd;
	imsgbuf->flags = 0;
	return (0);
}

/* Both ends must allow it: fds are sent and accepted only then. */
void
imsgbuf_allow_fdpass(struct imsgbuf *imsgbuf)
{
	imsgbuf->flags |= IMSG_ALLOW_FDPASS;
}

/* max is the largest payload; the header comes on top. */
int
imsgbuf_set_maxsize(struct imsgbuf *imsgbuf, uint32_t max)
{
	if (max > UINT32_MAX - IMSG_HEADER_SIZE) {
		errno = ERANGE;
		return (-1);
	}
	max += IMSG_HEADER_SIZE;
	if (max & IMSG_FD_MARK) {
		errno = EINVAL;
		return (-1);
	}
	imsgbuf->maxsize = max;
	return (0);
}

/* 1: read something or nothing to read (EAGAIN), 0: peer closed, -1. */
int
imsgbuf_read(struct imsgbuf *imsgbuf)
{
	if (imsgbuf->w == NULL) {
		errno = EINVAL;
		return (-1);
	}
	if (imsgbuf->flags & IMSG_ALLOW_FDPASS)
		return (msgbuf_read(imsgbuf->fd, imsgbuf->w));
	return (ibuf_read(imsgbuf->fd, imsgbuf->w));
}

/* 0 (EAGAIN included: call again when writable) or -1. */
int
imsgbuf_write(struct imsgbuf *imsgbuf)
{
	if (imsgbuf->w == NULL) {
		errno = EINVAL;
		return (-1);
	}
	if (imsgbuf->flags & IMSG_ALLOW_FDPASS)
		return (msgbuf_write(imsgbuf->fd, imsgbuf->w));
	return (ibuf_write(imsgbuf->fd, imsgbuf->w));
}

/*
 * Write until the queue is empty.  On a non-blocking socket wait for it
 * to become writable instead of spinning, and give up (ETIMEDOUT) if the
 * peer takes nothing for IMSG_FLUSH_TIMEOUT.
 */
int
imsgbuf_flush(struct imsgbuf *imsgbuf)
{
	struct pollfd	 pfd;
	uint32_t	 before;
	int		 r;

	while ((before = imsgbuf_queuelen(imsgbuf)) > 0) {
		if (imsgbuf_write(imsgbuf) == -1)
			return (-1);
		if (imsgbuf_queuelen(imsgbuf) < before)
			continue;
		pfd.fd = imsgbuf->fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		while ((r = poll(&pfd, 1, IMSG_FLUSH_TIMEOUT)) == -1 &&
		    errno == EINTR)
			;
		if (r == -1)
			return (-1);
		if (r == 0) {
			errno = ETIMEDOUT;
			return (-1);
		}
	}
	return (0);
}

/* Free both queues (wiping them); the fd stays open. */
void
imsgbuf_clear(struct imsgbuf *imsgbuf)
{
	msgbuf_free(imsgbuf->w);
	imsgbuf->w = NULL;
}

uint32_t
imsgbuf_queuelen(struct imsgbuf *imsgbuf)
{
	if (imsgbuf->w == NULL)
		return (0);
	return (msgbuf_queuelen(imsgbuf->w));
}

/*
 * 1 and a message, 0 if none is complete, -1 if the stream is broken
 * (a header that is too short: EBADMSG, or too long: ERANGE).  Messages
 * received before the bad header are returned first.
 */
int
imsgbuf_get(struct imsgbuf *imsgbuf, struct imsg *imsg)
{
	struct imsg	 m;
	struct ibuf	*buf;

	if (imsgbuf->w == NULL) {
		errno = EINVAL;
		return (-1);
	}
	if ((buf = msgbuf_get(imsgbuf->w)) == NULL) {
		if ((errno = msgbuf_rerror(imsgbuf->w)) != 0)
			return (-1);
		return (0);
	}
	if (ibuf_get(buf, &m.hdr, sizeof(m.hdr)) == -1) {
		ibuf_free(buf);
		return (-1);
	}
	m.hdr.len &= ~IMSG_FD_MARK;
	m.data = ibuf_size(buf) > 0 ? ibuf_data(buf) : NULL;
	m.buf = buf;
	*imsg = m;
	return (1);
}

/* The message length including its header, 0 if none, -1 as above. */
ssize_t
imsg_get(struct imsgbuf *imsgbuf, struct imsg *imsg)
{
	int	 r;

	if ((r = imsgbuf_get(imsgbuf, imsg)) != 1)
		return (r);
	return (imsg_get_len(imsg) + IMSG_HEADER_SIZE);
}

uint32_t
imsg_get_type(struct imsg *imsg)
{
	return (imsg->hdr.type);
}

uint32_t
imsg_get_id(struct imsg *imsg)
{
	return (imsg->hdr.peerid);
}

pid_t
imsg_get_pid(struct imsg *imsg)
{
	return (imsg->hdr.pid);
}

/* Payload bytes not yet taken by imsg_get_buf and friends. */
size_t
imsg_get_len(struct imsg *imsg)
{
	if (imsg->buf == NULL)
		return (0);
	return (ibuf_size(imsg->buf));
}

/* The caller owns the returned fd; -1 if none came. */
int
imsg_get_fd(struct imsg *imsg)
{
	if (imsg->buf == NULL)
		return (-1);
	return (ibuf_fd_get(imsg->buf));
}

/* A view of the payload in ibuf, valid until imsg_free. */
int
imsg_get_ibuf(struct imsg *imsg, struct ibuf *ibuf)
{
	if (imsg->buf == NULL || ibuf_size(imsg->buf) == 0) {
		errno = EBADMSG;
		return (-1);
	}
	return (ibuf_get_ibuf(imsg->buf, ibuf_size(imsg->buf), ibuf));
}

/* Copy the payload, which must be exactly len bytes. */
int
imsg_get_data(struct imsg *imsg, void *data, size_t len)
{
	if (len == 0) {
		errno = EINVAL;
		return (-1);
	}
	if (imsg->buf == NULL || ibuf_size(imsg->buf) != len) {
		errno = EBADMSG;
		return (-1);
	}
	return (ibuf_get(imsg->buf, data, len));
}

/* Take the next len bytes of the payload. */
int
imsg_get_buf(struct imsg *imsg, void *data, size_t len)
{
	if (imsg->buf == NULL) {
		errno = EBADMSG;
		return (-1);
	}
	return (ibuf_get(imsg->buf, data, len));
}

/* Take the next len bytes as a string, which must end in a NUL. */
int
imsg_get_strbuf(struct imsg *imsg, char *str, size_t len)
{
	if (imsg->buf == NULL) {
		errno = EBADMSG;
		return (-1);
	}
	return (ibuf_get_strbuf(imsg->buf, str, len));
}

int
imsg_compose(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id, pid_t pid,
    int fd, const void *data, size_t datalen)
{
	struct iovec	 iov;

	iov.iov_base = (void *)data;
	iov.iov_len = datalen;
	return (imsg_composev(imsgbuf, type, id, pid, fd, &iov,
	    datalen > 0 ? 1 : 0));
}

/*
 * Returns 1, or -1: ERANGE if the message would exceed maxsize, EINVAL
 * for an fd on an imsgbuf without fd passing.  On failure the caller
 * still owns fd; on success it is closed once sent.
 */
int
imsg_composev(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id, pid_t pid,
    int fd, const struct iovec *iov, int iovcnt)
{
	struct ibuf	*wbuf;
	size_t		 datalen = 0;
	int		 i;

	if (fd >= 0 && !(imsgbuf->flags & IMSG_ALLOW_FDPASS)) {
		errno = EINVAL;
		return (-1);
	}
	if (iovcnt < 0) {
		errno = EINVAL;
		return (-1);
	}
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > imsgbuf->maxsize - datalen) {
			errno = ERANGE;
			return (-1);
		}
		datalen += iov[i].iov_len;
	}
	if ((wbuf = imsg_create(imsgbuf, type, id, pid, datalen)) == NULL)
		return (-1);
	for (i = 0; i < iovcnt; i++)
		if (imsg_add(wbuf, iov[i].iov_base, iov[i].iov_len) == -1)
			return (-1);
	ibuf_fd_set(wbuf, fd);
	imsg_close(imsgbuf, wbuf);
	return (1);
}

/* Queue a header, then buf as the payload (no fd); buf is consumed. */
int
imsg_compose_ibuf(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id,
    pid_t pid, struct ibuf *buf)
{
	struct ibuf	*hdrbuf;
	struct imsg_hdr	 hdr;

	if (ibuf_size(buf) > imsgbuf->maxsize - IMSG_HEADER_SIZE) {
		ibuf_free(buf);
		errno = ERANGE;
		return (-1);
	}
	memset(&hdr, 0, sizeof(hdr));
	hdr.type = type;
	hdr.len = ibuf_size(buf) + IMSG_HEADER_SIZE;
	hdr.peerid = id;
	hdr.pid = pid != 0 ? (uint32_t)pid : (uint32_t)imsgbuf->pid;
	if ((hdrbuf = ibuf_open(IMSG_HEADER_SIZE)) == NULL ||
	    ibuf_add(hdrbuf, &hdr, sizeof(hdr)) == -1) {
		ibuf_free(hdrbuf);
		ibuf_free(buf);
		return (-1);
	}
	ibuf_fd_set(buf, -1);
	ibuf_close(imsgbuf->w, hdrbuf);
	ibuf_close(imsgbuf->w, buf);
	return (1);
}

/* Queue a copy of a received message on another imsgbuf, without fd. */
int
imsg_forward(struct imsgbuf *imsgbuf, struct imsg *msg)
{
	struct ibuf	*wbuf;
	size_t		 len;

	ibuf_rewind(msg->buf);
	if (ibuf_skip(msg->buf, IMSG_HEADER_SIZE) == -1)
		return (-1);
	len = ibuf_size(msg->buf);
	if ((wbuf = imsg_create(imsgbuf, msg->hdr.type, msg->hdr.peerid,
	    msg->hdr.pid, len)) == NULL)
		return (-1);
	if (imsg_add(wbuf, ibuf_data(msg->buf), len) == -1)
		return (-1);
	imsg_close(imsgbuf, wbuf);
	return (1);
}

/*
 * A message buffer with its header, growing up to maxsize as imsg_add
 * appends; datalen is only the expected payload size.
 */
struct ibuf *
imsg_create(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id, pid_t pid,
    size_t datalen)
{
	struct ibuf	*wbuf;
	struct imsg_hdr	 hdr;

	if (datalen > imsgbuf->maxsize - IMSG_HEADER_SIZE) {
		errno = ERANGE;
		return (NULL);
	}
	memset(&hdr, 0, sizeof(hdr));
	hdr.type = type;
	hdr.peerid = id;
	hdr.pid = pid != 0 ? (uint32_t)pid : (uint32_t)imsgbuf->pid;
	if ((wbuf = ibuf_dynamic(datalen + IMSG_HEADER_SIZE,
	    imsgbuf->maxsize)) == NULL)
		return (NULL);
	if (ibuf_add(wbuf, &hdr, sizeof(hdr)) == -1) {
		ibuf_free(wbuf);
		return (NULL);
	}
	return (wbuf);
}

/* Append; on failure (ERANGE past maxsize) msg is freed. */
int
imsg_add(struct ibuf *msg, const void *data, size_t datalen)
{
	if (datalen > 0 && ibuf_add(msg, data, datalen) == -1) {
		ibuf_free(msg);
		return (-1);
	}
	return (datalen > INT32_MAX ? INT32_MAX : (int)datalen);
}

/*
 * Patch the length and fd mark into the header and queue the message.
 * An fd on an imsgbuf without fd passing is closed and not announced.
 */
void
imsg_close(struct imsgbuf *imsgbuf, struct ibuf *msg)
{
	uint32_t	 len;

	if (!(imsgbuf->flags & IMSG_ALLOW_FDPASS))
		ibuf_fd_set(msg, -1);
	len = ibuf_size(msg);
	if (ibuf_fd_avail(msg))
		len |= IMSG_FD_MARK;
	if (ibuf_set(msg, offsetof(struct imsg_hdr, len), &len,
	    sizeof(len)) == -1) {
		/* not a message built by imsg_create */
		ibuf_free(msg);
		return;
	}
	ibuf_close(imsgbuf->w, msg);
}

/* Wipe and free the message; an fd not taken is closed. */
void
imsg_free(struct imsg *imsg)
{
	ibuf_free(imsg->buf);
	imsg->buf = NULL;
	imsg->data = NULL;
}

/* Reader callback: size the next message from its header. */
static struct ibuf *
imsg_parse_hdr(struct ibuf *buf, void *arg, int *fd)
{
	struct imsgbuf	*imsgbuf = arg;
	struct imsg_hdr	 hdr;
	struct ibuf	*b;
	uint32_t	 len;

	if (ibuf_get(buf, &hdr, sizeof(hdr)) == -1)
		return (NULL);
	len = hdr.len & ~IMSG_FD_MARK;
	if (len < IMSG_HEADER_SIZE) {
		errno = EBADMSG;
		return (NULL);
	}
	if (len > imsgbuf->maxsize) {
		errno = ERANGE;
		return (NULL);
	}
	if ((b = ibuf_open(len)) == NULL)
		return (NULL);
	if (hdr.len & IMSG_FD_MARK) {
		/* -1 if the fd was lost or never sent */
		ibuf_fd_set(b, *fd);
		*fd = -1;
	}
	return (b);
}
