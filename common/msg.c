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
 * Typed message payloads; the encoding is described in msg.h.
 *
 * The fd given to msg_begin belongs to the message from then on: it is
 * sent by msg_end, or closed if any step failed.
 */

#include <sys/types.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"
#include "msg.h"

#define MSG_STR_NULL	0xffffffffU

static void	 msg_put(struct msgw *, const void *, size_t);
static int	 msg_get(struct msgr *, void *, size_t);

void
msg_begin(struct msgw *w, struct imsgbuf *ib, uint32_t type, uint32_t peerid,
    int fd)
{
	w->buf = NULL;
	w->error = 0;
	if (fd >= 0 && !(ib->flags & IMSG_ALLOW_FDPASS)) {
		w->error = EINVAL;
		close(fd);
		return;
	}
	/* pid 0: imsg fills in ours.  The buffer grows up to maxsize. */
	if ((w->buf = imsg_create(ib, type, peerid, 0, 0)) == NULL) {
		w->error = errno != 0 ? errno : ENOMEM;
		if (fd >= 0)
			close(fd);
		return;
	}
	ibuf_fd_set(w->buf, fd);
}

/* Append, or remember the first error and drop the message. */
static void
msg_put(struct msgw *w, const void *data, size_t len)
{
	if (w->error != 0 || w->buf == NULL)
		return;
	if (ibuf_add(w->buf, data, len) == -1) {
		w->error = errno != 0 ? errno : ENOMEM;
		ibuf_free(w->buf);
		w->buf = NULL;
	}
}

void
msg_put_u32(struct msgw *w, uint32_t v)
{
	msg_put(w, &v, sizeof(v));
}

void
msg_put_u64(struct msgw *w, uint64_t v)
{
	msg_put(w, &v, sizeof(v));
}

void
msg_put_str(struct msgw *w, const char *s)
{
	size_t	 len;

	if (s == NULL) {
		msg_put_u32(w, MSG_STR_NULL);
		return;
	}
	len = strlen(s);
	if (len >= MSG_STR_NULL) {
		if (w->error == 0)
			w->error = ERANGE;
		return;
	}
	msg_put_u32(w, (uint32_t)len);
	msg_put(w, s, len + 1);
}

void
msg_put_data(struct msgw *w, const void *data, size_t len)
{
	if (len > UINT32_MAX) {
		if (w->error == 0)
			w->error = ERANGE;
		return;
	}
	msg_put_u32(w, (uint32_t)len);
	if (len > 0)
		msg_put(w, data, len);
}

int
msg_end(struct msgw *w, struct imsgbuf *ib)
{
	if (w->error != 0 || w->buf == NULL) {
		/* wipes the partial payload and closes the fd */
		ibuf_free(w->buf);
		w->buf = NULL;
		errno = w->error != 0 ? w->error : EINVAL;
		return (-1);
	}
	imsg_close(ib, w->buf);
	w->buf = NULL;
	return (0);
}

void
msg_read_init(struct msgr *r, struct imsg *imsg)
{
	r->error = 0;
	if (imsg->buf == NULL) {
		r->p = NULL;
		r->left = 0;
		return;
	}
	r->p = ibuf_data(imsg->buf);
	r->left = ibuf_size(imsg->buf);
}

/* Take len bytes, or fail (and stay failed) if fewer are left. */
static int
msg_get(struct msgr *r, void *out, size_t len)
{
	if (r->error != 0 || r->left < len) {
		r->error = EBADMSG;
		return (-1);
	}
	if (len > 0) {
		memcpy(out, r->p, len);
		r->p += len;
		r->left -= len;
	}
	return (0);
}

uint32_t
msg_get_u32(struct msgr *r)
{
	uint32_t	 v;

	if (msg_get(r, &v, sizeof(v)) == -1)
		return (0);
	return (v);
}

uint64_t
msg_get_u64(struct msgr *r)
{
	uint64_t	 v;

	if (msg_get(r, &v, sizeof(v)) == -1)
		return (0);
	return (v);
}

/*
 * NULL for a NULL string and on error; msg_read_end tells them apart.
 * The string must end at its NUL and contain no other.
 */
const char *
msg_get_str(struct msgr *r)
{
	const char	*s;
	uint32_t	 len;

	len = msg_get_u32(r);
	if (r->error != 0 || len == MSG_STR_NULL)
		return (NULL);
	if (r->left <= len) {
		r->error = EBADMSG;
		return (NULL);
	}
	s = (const char *)r->p;
	if (s[len] != '\0' || memchr(s, '\0', len) != NULL) {
		r->error = EBADMSG;
		return (NULL);
	}
	r->p += (size_t)len + 1;
	r->left -= (size_t)len + 1;
	return (s);
}

const void *
msg_get_data(struct msgr *r, size_t *lenp)
{
	const void	*d;
	uint32_t	 len;

	*lenp = 0;
	len = msg_get_u32(r);
	if (r->error != 0)
		return (NULL);
	if (r->left < len) {
		r->error = EBADMSG;
		return (NULL);
	}
	d = r->p;
	r->p += len;
	r->left -= len;
	*lenp = len;
	return (d);
}

int
msg_read_end(struct msgr *r)
{
	if (r->error != 0 || r->left != 0) {
		errno = EBADMSG;
		return (-1);
	}
	return (0);
}
