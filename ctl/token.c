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
 * emailproxyctl token: the password comes from a descriptor, never the
 * command line (where ps(1) would show it); the access token the daemon
 * answers is printed and wiped from memory.
 */

#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"

/* A longer line is no password this daemon takes. */
#define TOKEN_PASSWORD_MAX	4096

/*
 * Byte by byte: what follows the first line on fd stays there for
 * whoever reads next.
 */
char *
token_password(int fd)
{
	char	*buf;
	size_t	 len = 0;
	ssize_t	 n;
	char	 c;

	if ((buf = malloc(TOKEN_PASSWORD_MAX + 1)) == NULL)
		err(1, NULL);
	for (;;) {
		if ((n = read(fd, &c, 1)) == -1) {
			if (errno == EINTR)
				continue;
			freezero(buf, TOKEN_PASSWORD_MAX + 1);
			err(1, "reading the password from descriptor %d", fd);
		}
		if (n == 0 || c == '\n')
			break;
		if (len == TOKEN_PASSWORD_MAX) {
			freezero(buf, TOKEN_PASSWORD_MAX + 1);
			errx(1, "the password on descriptor %d is longer than "
			    "%d bytes", fd, TOKEN_PASSWORD_MAX);
		}
		buf[len++] = c;
	}
	explicit_bzero(&c, sizeof(c));
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (len == 0) {
		freezero(buf, TOKEN_PASSWORD_MAX + 1);
		errx(1, "no password on descriptor %d: give the account's "
		    "password as the first line", fd);
	}
	return (buf);
}

static void
token_json_free(void *p)
{
	if (p != NULL) {
		explicit_bzero(p, malloc_usable_size(p));
		free(p);
	}
}

void
token_wipe_json(void)
{
	json_set_alloc_funcs(malloc, token_json_free);
}
