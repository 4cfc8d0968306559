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
 * Byte buffers (ibuf) and the stream under an imsgbuf (msgbuf): a write
 * queue of ibufs and a reader that cuts the byte stream into messages
 * with a header callback.  Every buffer is wiped when freed, since some
 * carry tokens and passwords.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"

/* fd value of an ibuf that views memory it does not own. */
#define IBUF_FD_VIEW		-2
/* Placeholder for an fd the kernel dropped (MSG_CTRUNC). */
#define MSGBUF_FD_LOST		-3

#define MSGBUF_IOV_MAX		(IOV_MAX < 256 ? IOV_MAX : 256)

TAILQ_HEAD(ibufq, ibuf);

struct msgbuf {
	struct ibufq	 bufs;		/* write queue */
	uint32_t	 queued;
	struct ibufq	 rbufs;		/* received messages */
	unsigned char	*rbuf;		/* IBUF_READ_SIZE bytes */
	size_t		 roff;		/* unparsed bytes in rbuf */
	struct ibuf	*rpmsg;		/* message being assembled */
	struct ibuf	*(*readhdr)(struct ibuf *, void *, int *);
	void		*rarg;
	size_t		 hdrsize;
	int		 rerrno;	/* sticky framing error */
	/*
	 * Received fds not yet claimed by a header, oldest first.  At
	 * most one arrives per recvmsg; one may wait for a header that
	 * is still incomplete.
	 */
	int		 rfds[2];
	int		 nrfds;
};

static void	 ibufq_flush(struct ibufq *);
static void	 msgbuf_drain(struct msgbuf *, size_t);
static int	 msgbuf_recv(int, struct msgbuf *, int);
static void	 msgbuf_process(struct msgbuf *);
static void	 msgbuf_addfd(struct msgbuf *, int);
static void	 msgbuf_dropfds(struct msgbuf *, int);

struct ibuf *
ibuf_open(size_t len)
{
	struct ibuf	*buf;

	if ((buf = calloc(1, sizeof(*buf))) == NULL)
		return (NULL);
	if (len > 0 && (buf->buf = calloc(len, 1)) == NULL) {
		free(buf);
		return (NULL);
	}
	buf->size = buf->max = len;
	buf->fd = -1;
	return (buf);
}

struct ibuf *
ibuf_dynamic(size_t len, size_t max)
{
	struct ibuf	*buf;

	if (max == 0 || max < len) {
		errno = EINVAL;
		return (NULL);
	}
	if ((buf = ibuf_open(len)) == NULL)
		return (NULL);
	buf->max = max;
	return (buf);
}

void *
ibuf_reserve(struct ibuf *buf, size_t len)
{
	unsigned char	*nb;
	size_t		 need, nsize;
	void		*p;

	if (buf->fd == IBUF_FD_VIEW) {
		errno = EINVAL;
		return (NULL);
	}
	if (len > buf->max - buf->wpos) {
		errno = ERANGE;
		return (NULL);
	}
	need = buf->wpos + len;
	if (need > buf->size) {
		/* Grow by doubling, capped at max; the old copy is wiped. */
		nsize = buf->size > buf->max / 2 ? buf->max : buf->size * 2;
		if (nsize < need)
			nsize = need;
		if ((nb = recallocarray(buf->buf, buf->size, nsize, 1)) == NULL)
			return (NULL);
		buf->buf = nb;
		buf->size = nsize;
	}
	p = buf->buf + buf->wpos;
	buf->wpos += len;
	return (p);
}

int
ibuf_add(struct ibuf *buf, const void *data, size_t len)
{
	void	*p;

	if (len == 0)
		return (0);
	if ((p = ibuf_reserve(buf, len)) == NULL)
		return (-1);
	memcpy(p, data, len);
	return (0);
}

int
ibuf_add_ibuf(struct ibuf *buf, const struct ibuf *from)
{
	return (ibuf_add(buf, ibuf_data(from), ibuf_size(from)));
}

int
ibuf_add_zero(struct ibuf *buf, size_t len)
{
	void	*p;

	if (len == 0)
		return (0);
	if ((p = ibuf_reserve(buf, len)) == NULL)
		return (-1);
	memset(p, 0, len);
	return (0);
}

/* Positions are relative to the read cursor, within written data. */
void *
ibuf_seek(struct ibuf *buf, size_t pos, size_t len)
{
	if (buf->buf == NULL || pos > ibuf_size(buf) ||
	    len > ibuf_size(buf) - pos) {
		errno = ERANGE;
		return (NULL);
	}
	return (buf->buf + buf->rpos + pos);
}

int
ibuf_set(struct ibuf *buf, size_t pos, const void *data, size_t len)
{
	void	*p;

	if ((p = ibuf_seek(buf, pos, len)) == NULL)
		return (-1);
	if (len > 0)
		memcpy(p, data, len);
	return (0);
}

void *
ibuf_data(const struct ibuf *buf)
{
	if (buf->buf == NULL)
		return (NULL);
	return (buf->buf + buf->rpos);
}

size_t
ibuf_size(const struct ibuf *buf)
{
	return (buf->wpos - buf->rpos);
}

size_t
ibuf_left(const struct ibuf *buf)
{
	if (buf->fd == IBUF_FD_VIEW)
		return (0);
	return (buf->max - buf->wpos);
}

int
ibuf_truncate(struct ibuf *buf, size_t len)
{
	if (ibuf_size(buf) >= len) {
		buf->wpos = buf->rpos + len;
		return (0);
	}
	return (ibuf_add_zero(buf, len - ibuf_size(buf)));
}

void
ibuf_rewind(struct ibuf *buf)
{
	buf->rpos = 0;
}

/* A read-only view of memory owned by someone else; never ibuf_free it. */
void
ibuf_from_buffer(struct ibuf *buf, void *data, size_t len)
{
	memset(buf, 0, sizeof(*buf));
	buf->buf = data;
	buf->size = buf->wpos = len;
	buf->fd = IBUF_FD_VIEW;
}

void
ibuf_from_ibuf(struct ibuf *buf, const struct ibuf *from)
{
	ibuf_from_buffer(buf, ibuf_data(from), ibuf_size(from));
}

int
ibuf_get(struct ibuf *buf, void *data, size_t len)
{
	if (ibuf_size(buf) < len) {
		errno = EBADMSG;
		return (-1);
	}
	if (len > 0)
		memcpy(data, ibuf_data(buf), len);
	buf->rpos += len;
	return (0);
}

int
ibuf_get_ibuf(struct ibuf *buf, size_t len, struct ibuf *new)
{
	if (ibuf_size(buf) < len) {
		errno = EBADMSG;
		return (-1);
	}
	ibuf_from_buffer(new, ibuf_data(buf), len);
	buf->rpos += len;
	return (0);
}

/* Take exactly len bytes; they must end with a NUL. */
int
ibuf_get_strbuf(struct ibuf *buf, char *str, size_t len)
{
	if (len == 0) {
		errno = EINVAL;
		return (-1);
	}
	if (ibuf_get(buf, str, len) == -1)
		return (-1);
	if (str[len - 1] != '\0') {
		str[len - 1] = '\0';
		errno = EOVERFLOW;
		return (-1);
	}
	return (0);
}

int
ibuf_skip(struct ibuf *buf, size_t len)
{
	if (ibuf_size(buf) < len) {
		errno = EBADMSG;
		return (-1);
	}
	buf->rpos += len;
	return (0);
}

void
ibuf_free(struct ibuf *buf)
{
	int	 saved_errno = errno;

	if (buf == NULL)
		return;
	/* Freeing a view would free someone else's memory. */
	if (buf->fd == IBUF_FD_VIEW)
		abort();
	if (buf->fd >= 0)
		close(buf->fd);
	freezero(buf->buf, buf->size);
	free(buf);
	errno = saved_errno;
}

int
ibuf_fd_avail(struct ibuf *buf)
{
	return (buf->fd >= 0);
}

/* Hand the fd over to the caller; -1 if there is none. */
int
ibuf_fd_get(struct ibuf *buf)
{
	int	 fd;

	if (buf->fd < 0)
		return (-1);
	fd = buf->fd;
	buf->fd = -1;
	return (fd);
}

/* The ibuf owns fd from now on; a previous one is closed. */
void
ibuf_fd_set(struct ibuf *buf, int fd)
{
	if (buf->fd == IBUF_FD_VIEW)
		abort();
	if (buf->fd >= 0)
		close(buf->fd);
	buf->fd = fd >= 0 ? fd : -1;
}

static void
ibufq_flush(struct ibufq *q)
{
	struct ibuf	*buf;

	while ((buf = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, buf, entry);
		ibuf_free(buf);
	}
}

struct msgbuf *
msgbuf_new(void)
{
	struct msgbuf	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return (NULL);
	TAILQ_INIT(&m->bufs);
	TAILQ_INIT(&m->rbufs);
	return (m);
}

struct msgbuf *
msgbuf_new_reader(size_t hdrsize,
    struct ibuf *(*readhdr)(struct ibuf *, void *, int *), void *arg)
{
	struct msgbuf	*m;

	if (hdrsize == 0 || hdrsize > IBUF_READ_SIZE / 2 || readhdr == NULL) {
		errno = EINVAL;
		return (NULL);
	}
	if ((m = msgbuf_new()) == NULL)
		return (NULL);
	if ((m->rbuf = calloc(IBUF_READ_SIZE, 1)) == NULL) {
		free(m);
		return (NULL);
	}
	m->hdrsize = hdrsize;
	m->readhdr = readhdr;
	m->rarg = arg;
	return (m);
}

void
msgbuf_free(struct msgbuf *m)
{
	if (m == NULL)
		return;
	msgbuf_clear(m);
	freezero(m->rbuf, m->rbuf != NULL ? IBUF_READ_SIZE : 0);
	free(m);
}

/* Drop everything queued or received; the reader starts afresh. */
void
msgbuf_clear(struct msgbuf *m)
{
	ibufq_flush(&m->bufs);
	m->queued = 0;
	ibufq_flush(&m->rbufs);
	ibuf_free(m->rpmsg);
	m->rpmsg = NULL;
	if (m->rbuf != NULL)
		explicit_bzero(m->rbuf, m->roff);
	m->roff = 0;
	m->rerrno = 0;
	msgbuf_dropfds(m, 0);
}

uint32_t
msgbuf_queuelen(struct msgbuf *m)
{
	return (m->queued);
}

void
ibuf_close(struct msgbuf *m, struct ibuf *buf)
{
	TAILQ_INSERT_TAIL(&m->bufs, buf, entry);
	m->queued++;
}

struct ibuf *
msgbuf_get(struct msgbuf *m)
{
	struct ibuf	*buf;

	if ((buf = TAILQ_FIRST(&m->rbufs)) != NULL)
		TAILQ_REMOVE(&m->rbufs, buf, entry);
	return (buf);
}

int
msgbuf_rerror(struct msgbuf *m)
{
	return (m->rerrno);
}

/* Forget the first n bytes of the write queue. */
static void
msgbuf_drain(struct msgbuf *m, size_t n)
{
	struct ibuf	*buf;

	/* empty buffers at the head go too, or they would stay forever */
	while ((buf = TAILQ_FIRST(&m->bufs)) != NULL) {
		if (n < ibuf_size(buf)) {
			buf->rpos += n;
			return;
		}
		n -= ibuf_size(buf);
		TAILQ_REMOVE(&m->bufs, buf, entry);
		m->queued--;
		ibuf_free(buf);
	}
}

/*
 * One sendmsg of as much of the queue as fits.  A buffer carrying an fd
 * always starts a sendmsg, so the fd travels with the first byte of its
 * message; once any byte has gone the fd has gone and our copy is
 * closed.  MSG_NOSIGNAL: a dead peer is an EPIPE error, not a signal.
 * Returns 0 (EAGAIN and ENOBUFS included: retry later) or -1.
 */
static int
msgbuf_send(int fd, struct msgbuf *m, int fdpass)
{
	struct iovec	 iov[MSGBUF_IOV_MAX];
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct ibuf	*buf, *fdbuf = NULL;
	unsigned int	 i = 0;
	ssize_t		 n;

	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	TAILQ_FOREACH(buf, &m->bufs, entry) {
		if (i >= MSGBUF_IOV_MAX)
			break;
		if (fdpass && i > 0 && buf->fd >= 0)
			break;
		iov[i].iov_base = ibuf_data(buf);
		iov[i].iov_len = ibuf_size(buf);
		i++;
		if (fdpass && buf->fd >= 0)
			fdbuf = buf;
	}
	if (i == 0)
		return (0);

	msg.msg_iov = iov;
	msg.msg_iovlen = i;
	if (fdbuf != NULL) {
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cmsg), &fdbuf->fd, sizeof(int));
	}

	while ((n = sendmsg(fd, &msg, MSG_NOSIGNAL)) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == ENOBUFS)
			return (0);
		return (-1);
	}
	if (fdbuf != NULL)
		ibuf_fd_set(fdbuf, -1);
	msgbuf_drain(m, n);
	return (0);
}

/* Without fd passing: fds still queued are closed when sent. */
int
ibuf_write(int fd, struct msgbuf *m)
{
	return (msgbuf_send(fd, m, 0));
}

int
msgbuf_write(int fd, struct msgbuf *m)
{
	return (msgbuf_send(fd, m, 1));
}

int
ibuf_read(int fd, struct msgbuf *m)
{
	return (msgbuf_recv(fd, m, 0));
}

int
msgbuf_read(int fd, struct msgbuf *m)
{
	return (msgbuf_recv(fd, m, 1));
}

/*
 * One recvmsg into the read buffer, then cut it into messages.
 * Returns 1 (EAGAIN included), 0 when the peer closed, -1 on error,
 * including a framing error seen by an earlier read.
 */
static int
msgbuf_recv(int fd, struct msgbuf *m, int fdpass)
{
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct iovec	 iov;
	ssize_t		 n;
	size_t		 i, nfds;
	int		 f, newfd = -1;

	if (m->rbuf == NULL) {
		errno = EINVAL;
		return (-1);
	}
	if (m->rerrno != 0) {
		errno = m->rerrno;
		return (-1);
	}

	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	iov.iov_base = m->rbuf + m->roff;
	iov.iov_len = IBUF_READ_SIZE - m->roff;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fdpass) {
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
	}

	while ((n = recvmsg(fd, &msg, fdpass ? MSG_CMSG_CLOEXEC : 0)) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return (1);
		return (-1);
	}

	/* Keep the first fd we are given, close any other. */
	for (cmsg = CMSG_FIRSTHDR(&msg); fdpass && cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS ||
		    cmsg->cmsg_len < CMSG_LEN(0))
			continue;
		nfds = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfds; i++) {
			memcpy(&f, CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
			if (newfd == -1)
				newfd = f;
			else
				close(f);
		}
	}
	/*
	 * Truncated ancillary data (fd table full, or a peer sending more
	 * than fits): whatever fd we got may not be the right one.  Close
	 * it and leave a placeholder, so the message that expected an fd
	 * gets -1 and the next fd is not given to the wrong message.
	 */
	if (fdpass && (msg.msg_flags & MSG_CTRUNC)) {
		if (newfd != -1)
			close(newfd);
		newfd = MSGBUF_FD_LOST;
	}

	if (n == 0) {
		if (newfd >= 0)
			close(newfd);
		return (0);
	}
	if (newfd != -1)
		msgbuf_addfd(m, newfd);
	m->roff += n;
	msgbuf_process(m);
	return (1);
}

static void
msgbuf_addfd(struct msgbuf *m, int fd)
{
	/* Only reached if a peer breaks the one-fd-per-message rule. */
	if (m->nrfds == 2)
		msgbuf_dropfds(m, 1);
	m->rfds[m->nrfds++] = fd;
}

/* Close received fds not claimed, keeping the newest keep of them. */
static void
msgbuf_dropfds(struct msgbuf *m, int keep)
{
	int	 i, drop;

	drop = m->nrfds > keep ? m->nrfds - keep : 0;
	for (i = 0; i < drop; i++)
		if (m->rfds[i] >= 0)
			close(m->rfds[i]);
	for (i = drop; i < m->nrfds; i++)
		m->rfds[i - drop] = m->rfds[i];
	m->nrfds -= drop;
}

/*
 * Cut the read buffer into messages.  The header callback sizes the
 * message (or fails: the stream is then unusable and the error sticks)
 * and claims the oldest pending fd by setting *fd to -1.  Consumed bytes
 * are wiped; an incomplete header stays at the start of the buffer.
 */
static void
msgbuf_process(struct msgbuf *m)
{
	struct ibuf	 hdr;
	size_t		 off = 0, n;
	int		 fd, claim;

	while (off < m->roff) {
		if (m->rpmsg == NULL) {
			if (m->roff - off < m->hdrsize)
				break;
			ibuf_from_buffer(&hdr, m->rbuf + off, m->hdrsize);
			fd = m->nrfds > 0 ? m->rfds[0] : -1;
			claim = fd;
			m->rpmsg = m->readhdr(&hdr, m->rarg, &claim);
			if (m->rpmsg == NULL) {
				m->rerrno = errno != 0 ? errno : EBADMSG;
				off = m->roff;
				break;
			}
			if (fd != -1 && claim == -1) {
				/* taken: the ibuf owns it now */
				m->rfds[0] = -1;
				msgbuf_dropfds(m, m->nrfds - 1);
			}
		}
		n = ibuf_left(m->rpmsg);
		if (n > m->roff - off)
			n = m->roff - off;
		/* cannot fail: the message buffer was sized by readhdr */
		if (ibuf_add(m->rpmsg, m->rbuf + off, n) == -1)
			abort();
		off += n;
		if (ibuf_left(m->rpmsg) == 0) {
			TAILQ_INSERT_TAIL(&m->rbufs, m->rpmsg, entry);
			m->rpmsg = NULL;
		}
	}

	n = m->roff - off;
	if (n > 0 && off > 0)
		memmove(m->rbuf, m->rbuf + off, n);
	explicit_bzero(m->rbuf + n, m->roff - n);
	m->roff = n;

	/* An fd can only still belong to a header not yet complete. */
	msgbuf_dropfds(m, m->roff > 0 && m->rerrno == 0 ? 1 : 0);
}
