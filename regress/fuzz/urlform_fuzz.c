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
 * What the authorisation page takes from a browser (common/urlform.c):
 * the form's body or a query (csrf, address, password; state, code,
 * error), the Cookie header's session cookie, and the HTML escaping of
 * what it echoes.  The input is the form, a NUL, then the Cookie header.
 * Besides crashes it fails when an escaped string still holds a
 * character that is not allowed in HTML text or attributes, or when a
 * cookie value overflows or is not terminated.
 *
 * DEPS: common/urlform.c common/secret.c common/log.c
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "urlform.h"
#include "secret.h"
#include "fuzz.h"

static const char *const names[] = {
	"csrf", "address", "password", "state", "code", "error",
	"error_description", "", "a"
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init(0);
	return (0);
}

static void
escaped(const char *s)
{
	char	*e;

	if (s == NULL || (e = html_escape(s)) == NULL)
		return;
	if (strpbrk(e, "<>\"'") != NULL)
		abort();
	free(e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*buf, *form, *cookie, *v, val[44], small[2];
	size_t	 i;

	if ((buf = malloc(size + 1)) == NULL)
		abort();
	if (size > 0)
		memcpy(buf, data, size);
	buf[size] = '\0';
	form = buf;
	cookie = buf + strlen(buf) < buf + size ? buf + strlen(buf) + 1 :
	    NULL;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		v = urlform_get(form, names[i]);
		escaped(v);
		str_wipe(&v);
	}
	escaped(form);
	if (cookie != NULL) {
		memset(val, 'x', sizeof(val));
		if (cookie_get(cookie, "emailproxy_page", val,
		    sizeof(val)) == 0 && memchr(val, '\0', sizeof(val)) == NULL)
			abort();
		if (cookie_get(cookie, "emailproxy_page", small,
		    sizeof(small)) == 0 && small[strnlen(small,
		    sizeof(small) - 1)] != '\0')
			abort();
		(void)cookie_get(cookie, "", val, sizeof(val));
		escaped(cookie);
	}
	free(buf);
	return (0);
}
