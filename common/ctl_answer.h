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

#ifndef CTL_ANSWER_H
#define CTL_ANSWER_H

#include <stdint.h>

#include <jansson.h>

struct imsgbuf;

/*
 * Answers to a control request (IMSG_CTL_* in emailproxy.h), queued on
 * ibuf with the request's id; the caller arms its write event.
 * Queueing failures are fatal: a half answer would hang the tool.
 */
void	ctl_answer_data(struct imsgbuf *, uint32_t id, const json_t *);
/* CTL_END, or CTL_FAIL with the message when fail is not NULL. */
void	ctl_answer_end(struct imsgbuf *, uint32_t id, const char *fail);

#endif /* CTL_ANSWER_H */
