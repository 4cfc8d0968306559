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
 * Our own implementation of the OpenBSD 7.8 imsg API (the subset we use),
 * same names and semantics, so the daemons read like OpenBSD code.
 *
 * Receive loop: imsgbuf_read() (1 ok, 0 peer closed, -1 error), then
 * imsg_get() until it returns 0; imsg_free() each message.
 *
 * Worth knowing:
 *  - A malformed header in the stream (len < IMSG_HEADER_SIZE: EBADMSG,
 *    len > maxsize: ERANGE) does not fail imsgbuf_read: the messages
 *    before it are delivered, then imsg_get/imsgbuf_get return -1 with
 *    that errno, and so do later reads.  The stream cannot be
 *    resynchronised; treat it as fatal.
 *  - fd passing needs imsgbuf_allow_fdpass() on both ends.  Without it
 *    imsg_compose/composev with an fd fail with EINVAL (the caller keeps
 *    the fd), and imsg_close closes an fd set with ibuf_fd_set.  The fd
 *    belongs to the queue once compose succeeds and is closed after it
 *    is sent.  imsg_get_fd() hands the received fd over to the caller
 *    (-1 if none); an fd not taken is closed by imsg_free().
 *  - imsg_get_len() and imsg_get_ibuf/data/buf/strbuf work on a read
 *    cursor: each get consumes payload.  imsg_get_ibuf and imsg_get_data
 *    fail (EBADMSG) on an empty payload, as in OpenBSD.
 *  - If the kernel could not deliver an fd (MSG_CTRUNC: fd table full,
 *    or a peer sending several), every fd of that read is closed and
 *    the message still arrives, with imsg_get_fd() == -1: a message
 *    that needs an fd must check for -1.
 *  - The reader keeps a pointer to the imsgbuf: do not move or copy an
 *    imsgbuf between imsgbuf_init() and imsgbuf_clear().
 *  - Writes use MSG_NOSIGNAL: a dead peer gives EPIPE, not SIGPIPE.
 *    imsgbuf_flush() polls instead of spinning on EAGAIN and fails with
 *    ETIMEDOUT if the peer reads nothing for 30 seconds.
 *  - All buffers, sent or received, are wiped when freed.
 */

#ifndef IMSG_H
#define IMSG_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include <stddef.h>
#include <stdint.h>

#define IBUF_READ_SIZE		65535
#define IMSG_HEADER_SIZE	sizeof(struct imsg_hdr)
#define MAX_IMSGSIZE		16384	/* default, header included */

struct ibuf {
	TAILQ_ENTRY(ibuf)	 entry;
	unsigned char		*buf;
	size_t			 size;	/* allocated */
	size_t			 max;	/* growth limit */
	size_t			 wpos;	/* end of data */
	size_t			 rpos;	/* read cursor */
	int			 fd;	/* passed with the data, or -1 */
};

struct msgbuf;			/* opaque: queues, read state */

struct imsgbuf {
	struct msgbuf		*w;
	pid_t			 pid;
	uint32_t		 maxsize;	/* header included */
	int			 fd;
	int			 flags;
};

#define IMSG_ALLOW_FDPASS	0x01
#define IMSG_FD_MARK		0x80000000U

/* Host byte order: imsg only ever crosses a socketpair on one host. */
struct imsg_hdr {
	uint32_t	 type;
	uint32_t	 len;		/* header included; bit 31: fd */
	uint32_t	 peerid;
	uint32_t	 pid;
};

struct imsg {
	struct imsg_hdr	 hdr;
	void		*data;		/* payload, NULL if empty */
	struct ibuf	*buf;
};

/* imsg_buffer.c: byte buffers */
struct ibuf	*ibuf_open(size_t);
struct ibuf	*ibuf_dynamic(size_t, size_t);
int		 ibuf_add(struct ibuf *, const void *, size_t);
int		 ibuf_add_ibuf(struct ibuf *, const struct ibuf *);
int		 ibuf_add_zero(struct ibuf *, size_t);
void		*ibuf_reserve(struct ibuf *, size_t);
void		*ibuf_seek(struct ibuf *, size_t, size_t);
int		 ibuf_set(struct ibuf *, size_t, const void *, size_t);
void		*ibuf_data(const struct ibuf *);
size_t		 ibuf_size(const struct ibuf *);
size_t		 ibuf_left(const struct ibuf *);
int		 ibuf_truncate(struct ibuf *, size_t);
void		 ibuf_rewind(struct ibuf *);
void		 ibuf_from_buffer(struct ibuf *, void *, size_t);
void		 ibuf_from_ibuf(struct ibuf *, const struct ibuf *);
int		 ibuf_get(struct ibuf *, void *, size_t);
int		 ibuf_get_ibuf(struct ibuf *, size_t, struct ibuf *);
int		 ibuf_get_strbuf(struct ibuf *, char *, size_t);
int		 ibuf_skip(struct ibuf *, size_t);
void		 ibuf_free(struct ibuf *);
int		 ibuf_fd_avail(struct ibuf *);
int		 ibuf_fd_get(struct ibuf *);
void		 ibuf_fd_set(struct ibuf *, int);

/* imsg_buffer.c: write queue and framed reader under an imsgbuf */
struct msgbuf	*msgbuf_new(void);
struct msgbuf	*msgbuf_new_reader(size_t,
		    struct ibuf *(*)(struct ibuf *, void *, int *), void *);
void		 msgbuf_free(struct msgbuf *);
void		 msgbuf_clear(struct msgbuf *);
uint32_t	 msgbuf_queuelen(struct msgbuf *);
void		 ibuf_close(struct msgbuf *, struct ibuf *);
int		 ibuf_write(int, struct msgbuf *);
int		 msgbuf_write(int, struct msgbuf *);
int		 ibuf_read(int, struct msgbuf *);
int		 msgbuf_read(int, struct msgbuf *);
struct ibuf	*msgbuf_get(struct msgbuf *);
/* Ours: the errno of a framing error seen by the reader, else 0. */
int		 msgbuf_rerror(struct msgbuf *);

/* imsg.c */
int	 imsgbuf_init(struct imsgbuf *, int);
void	 imsgbuf_allow_fdpass(struct imsgbuf *);
int	 imsgbuf_set_maxsize(struct imsgbuf *, uint32_t);
int	 imsgbuf_read(struct imsgbuf *);
int	 imsgbuf_write(struct imsgbuf *);
int	 imsgbuf_flush(struct imsgbuf *);
void	 imsgbuf_clear(struct imsgbuf *);
uint32_t imsgbuf_queuelen(struct imsgbuf *);
int	 imsgbuf_get(struct imsgbuf *, struct imsg *);
ssize_t	 imsg_get(struct imsgbuf *, struct imsg *);
uint32_t imsg_get_type(struct imsg *);
uint32_t imsg_get_id(struct imsg *);
pid_t	 imsg_get_pid(struct imsg *);
size_t	 imsg_get_len(struct imsg *);
int	 imsg_get_fd(struct imsg *);
int	 imsg_get_ibuf(struct imsg *, struct ibuf *);
int	 imsg_get_data(struct imsg *, void *, size_t);
int	 imsg_get_buf(struct imsg *, void *, size_t);
int	 imsg_get_strbuf(struct imsg *, char *, size_t);
int	 imsg_forward(struct imsgbuf *, struct imsg *);
int	 imsg_compose(struct imsgbuf *, uint32_t, uint32_t, pid_t, int,
	    const void *, size_t);
int	 imsg_composev(struct imsgbuf *, uint32_t, uint32_t, pid_t, int,
	    const struct iovec *, int);
int	 imsg_compose_ibuf(struct imsgbuf *, uint32_t, uint32_t, pid_t,
	    struct ibuf *);
struct ibuf *imsg_create(struct imsgbuf *, uint32_t, uint32_t, pid_t, size_t);
int	 imsg_add(struct ibuf *, const void *, size_t);
void	 imsg_close(struct imsgbuf *, struct ibuf *);
void	 imsg_free(struct imsg *);

#endif /* IMSG_H */
