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
 * A non-blocking buffered connection on libevent, plain or TLS
 * (tls_ossl.c), after OpenSMTPD's ioev.c (our own code).  TLS can start
 * on a connection that is already up (STARTTLS), on either side.
 */

#ifndef IO_H
#define IO_H

#include <sys/types.h>

#include <event.h>
#include <stdint.h>

#define IO_READ_CHUNK	65536
#define IO_IN_MAX	(256 * 1024)	/* stop reading above this */
#define IO_HIWAT_BYTES	(256 * 1024)	/* a relay pauses its source above */
#define IO_LOWAT_BYTES	(64 * 1024)	/* ... and resumes below this */

struct tlsx;
struct tlsx_ctx;

struct iobuf {
	uint8_t		*buf;
	size_t		 size;
	size_t		 rpos;		/* first unread byte */
	size_t		 wpos;		/* end of the data */
	int		 nowipe;	/* mail, not credentials */
};

size_t	 iobuf_len(const struct iobuf *);
uint8_t	*iobuf_data(const struct iobuf *);
int	 iobuf_add(struct iobuf *, const void *, size_t);
/* Room for at least n more bytes at the end; NULL on failure. */
uint8_t	*iobuf_reserve(struct iobuf *, size_t);
void	 iobuf_commit(struct iobuf *, size_t);
/*
 * Drop n bytes from the front; they are wiped (they may be secrets)
 * unless iobuf_nowipe was called.  An emptied buffer is given back.
 */
void	 iobuf_drain(struct iobuf *, size_t);
void	 iobuf_clear(struct iobuf *);
/* From now on the bytes are mail, not credentials: do not wipe them. */
void	 iobuf_nowipe(struct iobuf *);
/* Append all of from to to, handing the buffer over when to is empty. */
int	 iobuf_move(struct iobuf *to, struct iobuf *from);
/* Free the pool of large emptied buffers (when no session is open). */
void	 iobuf_pool_flush(void);

enum io_event {
	IO_TLSREADY,		/* the TLS handshake finished */
	IO_DATAIN,		/* new bytes in io->in */
	IO_LOWAT,		/* output fell below IO_LOWAT_BYTES */
	IO_EOF,			/* the peer closed */
	IO_ERROR,		/* io_error() says why */
	IO_CLOSED		/* io_shutdown finished */
};

enum io_state {
	IO_S_IDLE,
	IO_S_PRETLS,		/* flushing plaintext before a handshake */
	IO_S_HANDSHAKE,
	IO_S_UP,
	IO_S_CLOSED
};

struct io {
	int		 fd;
	struct tlsx	*tls;		/* tls_ossl.h */
	enum io_state	 state;
	int		 flags;
	short		 rwait;		/* what reading waits for */
	short		 wwait;		/* what writing waits for */
	short		 hwait;		/* what the handshake waits for */
	short		 armed;		/* events registered */
	struct event	 ev;
	struct event	 kick;		/* run the dispatcher again soon */
	struct iobuf	 in;
	struct iobuf	 out;
	struct iobuf	 pre;		/* plaintext queued before STARTTLS */
	void		(*cb)(struct io *, enum io_event, void *);
	void		*arg;
	uint64_t	 nread;
	uint64_t	 nwritten;
	char		 error[256];
};

/* Take over a connected non-blocking socket. */
void	 io_init(struct io *, int fd,
	    void (*)(struct io *, enum io_event, void *), void *);
/*
 * Start TLS, also on a connection already in use (STARTTLS): what was
 * queued before the call goes out in clear first, what is queued after
 * it goes out encrypted; nothing is read until the handshake is done.
 * 0, or -1 with io_error set.  IO_TLSREADY (or IO_ERROR) when done;
 * a server's chain and name are verified in the handshake.  The
 * connection holds a reference to the context.
 */
int	 io_start_tls_client(struct io *, struct tlsx_ctx *,
	    const char *servername);
int	 io_start_tls_server(struct io *, struct tlsx_ctx *);
int	 io_write(struct io *, const void *, size_t);
/* Consume n bytes of io->in (and read again if reading had stopped). */
void	 io_drain(struct io *, size_t);
/*
 * Move all of from's input to to's output (io_write then io_drain, but
 * without copying when to's output is empty).  0, or -1 on failure.
 */
int	 io_relay(struct io *from, struct io *to);
/* After login: what passes is mail and is no longer wiped (iobuf.c). */
void	 io_nowipe(struct io *);
void	 io_pause(struct io *);
void	 io_resume(struct io *);
/* Report IO_LOWAT once when the output drains below IO_LOWAT_BYTES. */
void	 io_want_lowat(struct io *);
/* Stop reading, flush the output, close; IO_CLOSED (or IO_ERROR). */
void	 io_shutdown(struct io *);
/*
 * Hand a connection over to another owner: to takes from's socket, TLS
 * and buffers (unread input included) and reports to cb; from is left
 * idle, as if never started.
 */
void	 io_move(struct io *to, struct io *from,
	    void (*)(struct io *, enum io_event, void *), void *);
/* Close now, no callback; safe on a closed or never started io. */
void	 io_close(struct io *);
const char *io_error(struct io *);
int	 io_is_tls(struct io *);
/* "TLSv1.3" and the like. */
const char *io_tls_version(struct io *);
size_t	 io_queued(struct io *);

#endif /* IO_H */
