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
 * Typed payloads over imsg (after OpenSMTPD's mproc m_add/m_get).
 *
 * Writer: msg_begin, any number of msg_put_*, msg_end.  An error in any
 * step is remembered and reported by msg_end, so callers check once.
 * Reader: msg_read_init, msg_get_* in the same order, msg_read_end, which
 * fails if a field was short, malformed, or bytes are left over.
 *
 * Encoding, host byte order (same host only):
 *   u32, u64:	the integer
 *   str:	u32 length L, then L bytes and a NUL; L = 0xffffffff is NULL.
 *		A string with an embedded NUL is malformed.
 *   data:	u32 length L, then L bytes.
 */

#ifndef MSG_H
#define MSG_H

#include <stddef.h>
#include <stdint.h>

#include "imsg.h"

struct msgw {
	struct ibuf	*buf;
	int		 error;
};

struct msgr {
	const uint8_t	*p;
	size_t		 left;
	int		 error;
};

void		 msg_begin(struct msgw *, struct imsgbuf *, uint32_t type,
		    uint32_t peerid, int fd);
void		 msg_put_u32(struct msgw *, uint32_t);
void		 msg_put_u64(struct msgw *, uint64_t);
void		 msg_put_str(struct msgw *, const char *);
void		 msg_put_data(struct msgw *, const void *, size_t);
/* Queue the message; -1 if any step failed (nothing is queued then). */
int		 msg_end(struct msgw *, struct imsgbuf *);

void		 msg_read_init(struct msgr *, struct imsg *);
uint32_t	 msg_get_u32(struct msgr *);
uint64_t	 msg_get_u64(struct msgr *);
/* Points into the imsg: valid until imsg_free. */
const char	*msg_get_str(struct msgr *);
const void	*msg_get_data(struct msgr *, size_t *);
/* 0 if every field was well formed and nothing is left; else -1. */
int		 msg_read_end(struct msgr *);

#endif /* MSG_H */
