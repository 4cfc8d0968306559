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
 * One persistent event per connection, changed only when what the
 * connection waits for changes (a one-shot event cost two epoll_ctl
 * calls per wake-up, about 40 per login).  Whatever fires, the
 * dispatcher tries to write what is queued and to read, and re-arms for
 * what each side then waits for: with TLS a read may wait for
 * writability and a write for readability (TLSX_WANT_POLLOUT /
 * TLSX_WANT_POLLIN).  OpenSSL may hold decrypted bytes the kernel no
 * longer signals, so whenever reading restarts the dispatcher is run
 * once without waiting (the kick event).
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "tls_ossl.h"

#define IO_F_PAUSE	0x01	/* the owner stopped reading */
#define IO_F_SHUTDOWN	0x02	/* flush, then close */
#define IO_F_EOF	0x04	/* the peer closed */
#define IO_F_LOWAT	0x08	/* report IO_LOWAT */
#define IO_F_ERROR	0x10	/* report IO_ERROR after the bytes read */

#define IO_READ_MIN	16384	/* a TLS record's plaintext */

static void	 io_dispatch(int, short, void *);
static void	 io_update(struct io *);

static void
io_seterror(struct io *io, const char *what, const char *why)
{
	snprintf(io->error, sizeof(io->error), "%s: %s", what,
	    why ? why : "unknown error");
}

static void
io_kick(struct io *io)
{
	struct timeval	tv = { 0, 0 };

	evtimer_add(&io->kick, &tv);
}

void
io_init(struct io *io, int fd, void (*cb)(struct io *, enum io_event, void *),
    void *arg)
{
	memset(io, 0, sizeof(*io));
	io->fd = fd;
	io->cb = cb;
	io->arg = arg;
	io->state = IO_S_UP;
	io->rwait = EV_READ;
	event_set(&io->ev, fd, 0, io_dispatch, io);
	evtimer_set(&io->kick, io_dispatch, io);
	io_update(io);
}

/* The context is set up (no I/O yet): flush plaintext, then shake. */
static void
io_tls_begin(struct io *io, short first)
{
	struct iobuf	tmp;

	if (iobuf_len(&io->out) > 0) {
		tmp = io->pre;
		io->pre = io->out;
		io->out = tmp;
		io->state = IO_S_PRETLS;
	} else
		io->state = IO_S_HANDSHAKE;
	io->hwait = first;
	io->rwait = EV_READ;
	io->wwait = 0;
	io_kick(io);
}

int
io_start_tls_client(struct io *io, struct tlsx_ctx *ctx,
    const char *servername)
{
	if (io->state != IO_S_UP || io->tls != NULL) {
		io_seterror(io, "TLS", "connection not ready for TLS");
		return -1;
	}
	if ((io->tls = tlsx_connect(ctx, io->fd, servername, io->error,
	    sizeof(io->error))) == NULL)
		return -1;
	io_tls_begin(io, EV_WRITE);
	return 0;
}

int
io_start_tls_server(struct io *io, struct tlsx_ctx *ctx)
{
	if (io->state != IO_S_UP || io->tls != NULL) {
		io_seterror(io, "TLS", "connection not ready for TLS");
		return -1;
	}
	if ((io->tls = tlsx_accept(ctx, io->fd, io->error,
	    sizeof(io->error))) == NULL)
		return -1;
	io_tls_begin(io, EV_READ);
	return 0;
}

int
io_write(struct io *io, const void *data, size_t len)
{
	if (io->state == IO_S_CLOSED || io->state == IO_S_IDLE)
		return -1;
	if (iobuf_add(&io->out, data, len) == -1)
		return -1;
	io_update(io);
	return 0;
}

static int
io_reading(struct io *io)
{
	return io->state == IO_S_UP &&
	    (io->flags & (IO_F_PAUSE | IO_F_SHUTDOWN | IO_F_EOF |
	    IO_F_ERROR)) == 0 &&
	    iobuf_len(&io->in) < IO_IN_MAX;
}

void
io_drain(struct io *io, size_t n)
{
	int	was = io_reading(io);

	iobuf_drain(&io->in, n);
	if (!was && io_reading(io))
		io_kick(io);
}

int
io_relay(struct io *from, struct io *to)
{
	int	was = io_reading(from);

	if (iobuf_len(&from->in) == 0)
		return 0;
	if (to->state == IO_S_CLOSED || to->state == IO_S_IDLE ||
	    iobuf_move(&to->out, &from->in) == -1)
		return -1;
	io_update(to);
	if (!was && io_reading(from))
		io_kick(from);
	return 0;
}

void
io_nowipe(struct io *io)
{
	iobuf_nowipe(&io->in);
	iobuf_nowipe(&io->out);
	iobuf_nowipe(&io->pre);
}

void
io_pause(struct io *io)
{
	io->flags |= IO_F_PAUSE;
	io_update(io);
}

void
io_resume(struct io *io)
{
	if ((io->flags & IO_F_PAUSE) == 0)
		return;
	io->flags &= ~IO_F_PAUSE;
	if (io_reading(io))
		io_kick(io);
}

void
io_want_lowat(struct io *io)
{
	io->flags |= IO_F_LOWAT;
}

void
io_shutdown(struct io *io)
{
	if (io->state == IO_S_CLOSED || io->state == IO_S_IDLE)
		return;
	io->flags |= IO_F_SHUTDOWN;
	io_kick(io);
}

void
io_move(struct io *to, struct io *from,
    void (*cb)(struct io *, enum io_event, void *), void *arg)
{
	event_del(&from->ev);
	evtimer_del(&from->kick);
	*to = *from;
	to->cb = cb;
	to->arg = arg;
	to->armed = 0;
	event_set(&to->ev, to->fd, 0, io_dispatch, to);
	evtimer_set(&to->kick, io_dispatch, to);
	memset(from, 0, sizeof(*from));
	from->fd = -1;
	from->state = IO_S_IDLE;
	io_update(to);
}

void
io_close(struct io *io)
{
	if (io->state == IO_S_IDLE)
		return;
	event_del(&io->ev);
	evtimer_del(&io->kick);
	io->armed = 0;
	/* Best effort close_notify; we do not wait for the peer. */
	tlsx_free(io->tls, io->state == IO_S_UP);
	io->tls = NULL;
	if (io->fd != -1) {
		close(io->fd);
		io->fd = -1;
	}
	iobuf_clear(&io->in);
	iobuf_clear(&io->out);
	iobuf_clear(&io->pre);
	io->state = IO_S_CLOSED;
}

const char *
io_error(struct io *io)
{
	return io->error[0] ? io->error : "connection error";
}

int
io_is_tls(struct io *io)
{
	return io->tls != NULL;
}

const char *
io_tls_version(struct io *io)
{
	return io->tls != NULL ? tlsx_version(io->tls) : "none";
}

size_t
io_queued(struct io *io)
{
	return iobuf_len(&io->out);
}

static void
io_update(struct io *io)
{
	short	want = 0;

	switch (io->state) {
	case IO_S_PRETLS:
		want = EV_WRITE;
		break;
	case IO_S_HANDSHAKE:
		want = io->hwait;
		break;
	case IO_S_UP:
		if (io_reading(io))
			want |= io->rwait;
		/*
		 * Output is written at the next loop turn (the kick) and
		 * waits for the socket only once a write could not finish:
		 * most writes go out at once, without arming for EV_WRITE
		 * and disarming again (four epoll_ctl calls).
		 */
		if (iobuf_len(&io->out) > 0) {
			if (io->wwait)
				want |= io->wwait;
			else if (!evtimer_pending(&io->kick, NULL))
				io_kick(io);
		}
		break;
	default:
		return;
	}
	if (want == io->armed)
		return;
	event_del(&io->ev);
	io->armed = 0;
	if (want == 0)
		return;
	event_set(&io->ev, io->fd, want | EV_PERSIST, io_dispatch, io);
	if (event_add(&io->ev, NULL) == 0)
		io->armed = want;
}

/*
 * Before reporting IO_ERROR: nothing more will be read or written, so
 * the (persistent) event goes, and the owner is not called again before
 * it closes the connection.
 */
static void
io_fail(struct io *io)
{
	if (io->armed) {
		event_del(&io->ev);
		io->armed = 0;
	}
	io->cb(io, IO_ERROR, io->arg);
}

/* Write what is queued: 0, or -1 on error. */
static int
io_flush(struct io *io)
{
	ssize_t	n;
	size_t	len;

	io->wwait = 0;
	while ((len = iobuf_len(&io->out)) > 0) {
		if (io->tls != NULL) {
			n = tlsx_write(io->tls, iobuf_data(&io->out), len);
			if (n == TLSX_WANT_POLLIN) {
				io->wwait = EV_READ;
				break;
			}
			if (n == TLSX_WANT_POLLOUT) {
				io->wwait = EV_WRITE;
				break;
			}
			if (n == -1) {
				io_seterror(io, "TLS",
				    tlsx_error(io->tls));
				return -1;
			}
		} else {
			n = write(io->fd, iobuf_data(&io->out), len);
			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN) {
					io->wwait = EV_WRITE;
					break;
				}
				io_seterror(io, "write", strerror(errno));
				return -1;
			}
		}
		iobuf_drain(&io->out, n);
		io->nwritten += n;
	}
	return 0;
}

/*
 * Read what is there: bytes read, or -1 on error (EOF sets the flag).
 * An error that follows bytes read in the same call (a peer that sends
 * its last bytes and closes without a TLS close_notify, or resets) sets
 * IO_F_ERROR instead: those bytes are the peer's last words and are
 * reported first.  Credentials are read through one shared buffer,
 * wiped after use, so that an idle connection holds only what it was
 * sent, not a whole read chunk; mail (after io_nowipe) straight into the
 * input buffer.
 */
static ssize_t
io_fill(struct io *io)
{
	static uint8_t	 rbuf[IO_READ_CHUNK];
	uint8_t		*p;
	size_t		 room;
	ssize_t		 n, total = 0;

	io->rwait = EV_READ;
	while (iobuf_len(&io->in) < IO_IN_MAX) {
		p = rbuf;
		room = sizeof(rbuf);
		if (io->in.nowipe) {
			/* Room for a whole TLS record at least. */
			room = io->in.size - io->in.wpos;
			if (room < IO_READ_MIN && (p = iobuf_reserve(&io->in,
			    IO_READ_CHUNK)) == NULL) {
				io_seterror(io, "read", "out of memory");
				return -1;
			}
			p = io->in.buf + io->in.wpos;
			room = io->in.size - io->in.wpos;
			if (room > IO_READ_CHUNK)
				room = IO_READ_CHUNK;
		}
		if (io->tls != NULL) {
			n = tlsx_read(io->tls, p, room);
			if (n == TLSX_WANT_POLLIN)
				break;
			if (n == TLSX_WANT_POLLOUT) {
				io->rwait = EV_WRITE;
				break;
			}
			if (n == -1) {
				io_seterror(io, "TLS",
				    tlsx_error(io->tls));
				goto fail;
			}
		} else {
			n = read(io->fd, p, room);
			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN)
					break;
				io_seterror(io, "read", strerror(errno));
				goto fail;
			}
		}
		if (n == 0) {
			io->flags |= IO_F_EOF;
			break;
		}
		if (p != rbuf)
			iobuf_commit(&io->in, n);
		else if (iobuf_add(&io->in, rbuf, n) == -1) {
			explicit_bzero(rbuf, n);
			io_seterror(io, "read", "out of memory");
			return -1;
		} else
			explicit_bzero(rbuf, n);
		io->nread += n;
		total += n;
	}
	/* Nothing read into a reserved buffer: give it back. */
	if (iobuf_len(&io->in) == 0)
		iobuf_clear(&io->in);
	return total;

 fail:
	if (iobuf_len(&io->in) == 0)
		iobuf_clear(&io->in);
	if (total == 0)
		return -1;
	io->flags |= IO_F_ERROR;
	return total;
}

/* Plaintext queued before STARTTLS: 1 when all out, 0 later, -1 error. */
static int
io_flush_pre(struct io *io)
{
	ssize_t	n;

	while (iobuf_len(&io->pre) > 0) {
		n = write(io->fd, iobuf_data(&io->pre), iobuf_len(&io->pre));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			io_seterror(io, "write", strerror(errno));
			return -1;
		}
		iobuf_drain(&io->pre, n);
		io->nwritten += n;
	}
	return 1;
}

/*
 * Writing failed (the peer reset, or closed its end): what it sent
 * before, its last answer to a command it would not take whole, say,
 * is still to be read, and is reported before the write error.
 */
static void
io_write_failed(struct io *io)
{
	char	error[sizeof(io->error)];
	ssize_t	n;

	if (io_reading(io)) {
		strlcpy(error, io->error, sizeof(error));
		n = io_fill(io);
		io->flags &= ~IO_F_ERROR;
		strlcpy(io->error, error, sizeof(io->error));
		if (n > 0) {
			io->cb(io, IO_DATAIN, io->arg);
			if (io->state != IO_S_UP)
				return;
		}
	}
	io_fail(io);
}

static void
io_dispatch(int fd, short event, void *arg)
{
	struct io	*io = arg;
	ssize_t		 n;
	int		 r;

	if (io->state == IO_S_PRETLS) {
		if ((r = io_flush_pre(io)) == -1) {
			io_fail(io);
			return;
		}
		if (r == 0) {
			io_update(io);
			return;
		}
		io->state = IO_S_HANDSHAKE;
	}
	if (io->state == IO_S_HANDSHAKE) {
		if ((r = tlsx_handshake(io->tls)) == TLSX_WANT_POLLIN ||
		    r == TLSX_WANT_POLLOUT) {
			io->hwait = r == TLSX_WANT_POLLIN ? EV_READ : EV_WRITE;
			io_update(io);
			return;
		}
		if (r == -1) {
			io_seterror(io, "TLS handshake", tlsx_error(io->tls));
			io_fail(io);
			return;
		}
		io->state = IO_S_UP;
		io->cb(io, IO_TLSREADY, io->arg);
		if (io->state != IO_S_UP)
			return;
	}
	if (io->state != IO_S_UP)
		return;

	if (iobuf_len(&io->out) > 0 && io_flush(io) == -1) {
		io_write_failed(io);
		return;
	}
	if ((io->flags & IO_F_LOWAT) && iobuf_len(&io->out) < IO_LOWAT_BYTES) {
		io->flags &= ~IO_F_LOWAT;
		io->cb(io, IO_LOWAT, io->arg);
		if (io->state != IO_S_UP)
			return;
	}
	if ((io->flags & IO_F_SHUTDOWN) && iobuf_len(&io->out) == 0) {
		io_close(io);
		io->cb(io, IO_CLOSED, io->arg);
		return;
	}
	if (io_reading(io)) {
		if ((n = io_fill(io)) == -1) {
			io_fail(io);
			return;
		}
		if (n > 0) {
			io->cb(io, IO_DATAIN, io->arg);
			if (io->state != IO_S_UP)
				return;
		}
		if (io->flags & IO_F_ERROR) {
			io->flags &= ~IO_F_ERROR;
			io_fail(io);
			return;
		}
		if (io->flags & IO_F_EOF) {
			io->cb(io, IO_EOF, io->arg);
			if (io->state != IO_S_UP)
				return;
		}
	}
	io_update(io);
}
