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
 * Form bodies, URL escaping and the text hygiene every message to a
 * client or a browser needs.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emailproxy.h"
#include "authd.h"

#define FORM_MAX	(64 * 1024)

static const char	 hexdigits[] = "0123456789ABCDEF";

void
form_init(struct form *f)
{
	memset(f, 0, sizeof(*f));
}

/* Keep the buffer's old contents out of freed memory: it holds secrets. */
static int
form_grow(struct form *f, size_t need)
{
	char	*n;
	size_t	 size;

	if (f->len + need + 1 <= f->size)
		return (0);
	if (f->len + need + 1 > FORM_MAX)
		return (-1);
	size = f->size ? f->size : 256;
	while (size < f->len + need + 1)
		size *= 2;
	if ((n = malloc(size)) == NULL)
		return (-1);
	if (f->buf != NULL) {
		memcpy(n, f->buf, f->len + 1);
		freezero(f->buf, f->size);
	}
	f->buf = n;
	f->size = size;
	return (0);
}

/* RFC 3986: everything but the unreserved characters is escaped. */
static void
form_escape(struct form *f, const char *s)
{
	unsigned char	 c;

	for (; *s != '\0'; s++) {
		c = *s;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' ||
		    c == '~') {
			f->buf[f->len++] = c;
		} else {
			f->buf[f->len++] = '%';
			f->buf[f->len++] = hexdigits[c >> 4];
			f->buf[f->len++] = hexdigits[c & 15];
		}
	}
	f->buf[f->len] = '\0';
}

/* A NULL value leaves the parameter out. */
void
form_add(struct form *f, const char *name, const char *value)
{
	if (value == NULL || f->error)
		return;
	if (form_grow(f, 3 * (strlen(name) + strlen(value)) + 2) == -1) {
		f->error = 1;
		return;
	}
	if (f->len > 0)
		f->buf[f->len++] = '&';
	form_escape(f, name);
	f->buf[f->len++] = '=';
	form_escape(f, value);
	if (f->names[0] != '\0')
		strlcat(f->names, ",", sizeof(f->names));
	strlcat(f->names, name, sizeof(f->names));
}

void
form_clear(struct form *f)
{
	if (f->buf != NULL)
		freezero(f->buf, f->size);
	form_init(f);
}

/*
 * Provider text for one log or protocol line: printable ASCII only,
 * bounded.  NULL in, NULL out.
 */
char *
clean_text(const char *s, size_t max)
{
	char	*out;
	size_t	 i;

	if (s == NULL)
		return (NULL);
	if ((out = strndup(s, max)) == NULL)
		return (NULL);
	for (i = 0; out[i] != '\0'; i++)
		if (!isprint((unsigned char)out[i]))
			out[i] = ' ';
	return (out);
}
