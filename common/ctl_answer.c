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

#include <stdint.h>

#include <jansson.h>

#include "emailproxy.h"
#include "imsg.h"
#include "log.h"
#include "msg.h"
#include "ctl_answer.h"

void
ctl_answer_data(struct imsgbuf *ibuf, uint32_t id, const json_t *obj)
{
	struct msgw	 w;
	json_free_t	 json_free;
	char		*s;

	if (obj == NULL || (s = json_dumps(obj, JSON_COMPACT)) == NULL)
		fatalx("control answer: json");
	msg_begin(&w, ibuf, IMSG_CTL_DATA, id, -1);
	msg_put_str(&w, s);
	if (msg_end(&w, ibuf) == -1)
		fatal("control answer: CTL_DATA");
	/* The process may have given jansson a wiping allocator. */
	json_get_alloc_funcs(NULL, &json_free);
	json_free(s);
}

void
ctl_answer_end(struct imsgbuf *ibuf, uint32_t id, const char *fail)
{
	struct msgw	w;

	if (fail != NULL) {
		msg_begin(&w, ibuf, IMSG_CTL_FAIL, id, -1);
		msg_put_str(&w, fail);
		if (msg_end(&w, ibuf) == -1)
			fatal("control answer: CTL_FAIL");
	} else if (imsg_compose(ibuf, IMSG_CTL_END, id, 0, -1, NULL, 0) == -1)
		fatal("control answer: CTL_END");
}
