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
 * What a compromised child can write on its socket to another process:
 * the imsg framing (common/imsg.c, imsg_buffer.c) as the receiving
 * process reads it, the typed payload reader (common/msg.c) with a
 * field layout taken from each message's peer id, and the
 * configuration messages every child decodes (common/config_imsg.c),
 * accumulated across messages as proc_wait_config does.
 *
 * DEPS: common/imsg.c common/imsg_buffer.c common/msg.c common/config.c common/config_parse.c common/config_check.c common/config_keys.c common/account_complete.c common/config_files.c common/config_imsg.c common/cidr.c common/secret.c common/log.c common/redis_url.c
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emailproxy.h"
#include "config.h"
#include "imsg.h"
#include "msg.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init(0);
	return (0);
}

/* Fields by two bits of the peer id each: u32, u64, str, data. */
static void
read_fields(struct imsg *imsg)
{
	struct msgr	 r;
	uint32_t	 layout = imsg_get_id(imsg);
	const char	*s;
	size_t		 len;
	int		 i;

	msg_read_init(&r, imsg);
	for (i = 0; i < 16 && r.error == 0 && r.left > 0; i++) {
		switch ((layout >> (2 * i)) & 3) {
		case 0:
			(void)msg_get_u32(&r);
			break;
		case 1:
			(void)msg_get_u64(&r);
			break;
		case 2:
			if ((s = msg_get_str(&r)) != NULL)
				(void)strlen(s);
			break;
		case 3:
			if (msg_get_data(&r, &len) != NULL && len > 0 &&
			    r.error != 0)
				abort();
			break;
		}
	}
	(void)msg_read_end(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imsgbuf		 ibuf;
	struct imsg		 imsg;
	struct emailproxy_conf	*pending = NULL;
	const uint8_t		*p = data;
	size_t			 left = size;
	ssize_t			 n;
	int			 sv[2], rc;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
		abort();
	if (imsgbuf_init(&ibuf, sv[0]) == -1 ||
	    imsgbuf_set_maxsize(&ibuf, IMSG_MAXSIZE_PARENT) == -1)
		abort();
	if (left == 0)
		shutdown(sv[1], SHUT_WR);
	for (;;) {
		/* Write what fits, read what came, as the event loop does. */
		if (left > 0) {
			if ((n = write(sv[1], p, left)) == -1) {
				if (errno != EAGAIN)
					abort();
				n = 0;
			}
			p += n;
			left -= n;
			if (left == 0)
				shutdown(sv[1], SHUT_WR);
		}
		if ((rc = imsgbuf_read(&ibuf)) == -1 || rc == 0)
			break;
		while ((n = imsg_get(&ibuf, &imsg)) > 0) {
			read_fields(&imsg);
			if (config_recv(&imsg, &pending) == 1) {
				config_free(pending);
				pending = NULL;
			}
			imsg_free(&imsg);
		}
		if (n == -1)
			break;
	}
	config_free(pending);
	imsgbuf_clear(&ibuf);
	close(sv[0]);
	close(sv[1]);
	return (0);
}
