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
 * An imsg link driven by a libevent event, and the one loop that
 * reads it and hands each message to the handler of its peer (after
 * smtpd's mproc_dispatch).
 *
 * imsgev_dispatch, on every event: write what is queued, read what
 * came, then give each whole message to iev->dispatch, which switches
 * on the type (one handler per peer per process) and answers
 *	DISPATCH_OK	handled; the loop frees it and takes the next
 *	DISPATCH_UNKNOWN not a type this peer may send: fatal, naming the
 *			type (imsg_type_name) and the peer
 *	DISPATCH_BAD	a malformed payload (the handler logged what is
 *			wrong): fatal, naming the type and the peer
 *	DISPATCH_GONE	the handler closed or freed the link: stop now
 * The handler never frees the message; it may wipe its payload.
 *
 * The link ends the same way everywhere: the peer closed it, reading
 * or writing failed, or (for a client) a frame was malformed.  Then
 * the link's events are cleared (imsgev_clear) and iev->gone(iev)
 * runs when set, else the process dies naming the peer.
 * A malformed frame from a process of the daemon is fatal, except
 * on a link marked untrusted (the parent's link to the control
 * process), where it ends the link.
 *
 * A client (iev->client: an emailproxyctl connection, not a process
 * of the daemon) is served one request at a time: while iev->busy(iev)
 * says an answer is being made nothing more is read or taken, what
 * could be written goes at once after each request, and once
 * iev->closing is set the link closes when its queue is written.
 */

#ifndef DISPATCH_H
#define DISPATCH_H

#include <sys/types.h>

#include <event.h>

#include "imsg.h"

#define DISPATCH_OK		0
#define DISPATCH_BAD		(-1)
#define DISPATCH_UNKNOWN	(-2)
#define DISPATCH_GONE		1

struct imsgev {
	struct imsgbuf	 ibuf;
	void		(*handler)(int, short, void *);
	struct event	 ev;		/* the socket: read, write when blocked */
	struct event	 flushev;	/* end of turn: write what was queued */
	void		*data;
	short		 events;
	const char	*name;		/* peer, for log lines */
	int		(*dispatch)(struct imsgev *, struct imsg *);
	void		(*gone)(struct imsgev *);
	int		(*busy)(struct imsgev *);
	int		 client;
	int		 untrusted;	/* a malformed frame ends the link */
	int		 closing;	/* close once written */
	int		 wblocked;	/* the socket took not all: EV_WRITE */
};

/*
 * Set up iev on fd; handler(fd, event, iev) is called when it is
 * readable or writable.  maxsize 0 keeps the default (16 KiB).
 */
void	 imsgev_init(struct imsgev *, int fd, const char *name,
	    void (*handler)(int, short, void *), void *data,
	    size_t maxsize, int fdpass);
/*
 * imsgev_init with imsgev_dispatch as the handler: dispatch(iev, imsg)
 * gets the messages, gone(iev) (NULL: fatal) the end of the link.
 */
void	 imsgev_peer(struct imsgev *, int fd, const char *name,
	    int (*dispatch)(struct imsgev *, struct imsg *),
	    void (*gone)(struct imsgev *), void *data, size_t maxsize,
	    int fdpass);
/* Arm the events of a link whose imsgbuf and handler are set. */
void	 imsgev_start(struct imsgev *);
/* No more events for the link: it has ended, or is about to be freed. */
void	 imsgev_clear(struct imsgev *);
/* The loop; event 0 only takes the messages already read. */
void	 imsgev_dispatch(int fd, short event, void *arg);
/*
 * Re-arm the link: EV_READ unless it is busy or closing; what is
 * queued is written at the end of the loop turn, and EV_WRITE waited
 * for only when the socket would not take it all.
 */
void	 imsg_event_add(struct imsgev *);
int	 imsg_compose_event(struct imsgev *, uint32_t type, uint32_t peerid,
	    pid_t pid, int fd, const void *data, size_t datalen);
/*
 * Read on EV_READ, write on EV_WRITE.  Returns -1 when the link has
 * ended (a read error is logged), else 0.
 */
int	 imsgev_io(struct imsgev *, short event);

/* "IMSG_CTL_END"; a number outside the catalogue as "type 77". */
const char *imsg_type_name(uint32_t);

#endif /* DISPATCH_H */
