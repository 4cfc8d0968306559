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

#ifndef URLFORM_H
#define URLFORM_H

/*
 * The decoded value of the first name=value in query ("a=1&b=2": %XX
 * and '+' decoded), or NULL when it is absent or malformed (a broken
 * escape, an escaped NUL).  Heap; wipe it if it may hold a secret.
 */
char	*urlform_get(const char *query, const char *name);
/*
 * The value of cookie name in a Cookie header, copied into out (NUL
 * terminated) when shorter than outlen: 0; -1 when absent or too long.
 */
int	 cookie_get(const char *header, const char *name, char *out,
	    size_t outlen);
/* s with < > & " ' as HTML character references (heap), or NULL. */
char	*html_escape(const char *s);

#endif /* URLFORM_H */
