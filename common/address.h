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
 * Mail addresses as account names.  Every process compares them the
 * same way: the local part and the domain without the case of ASCII
 * letters ("Alice@Example.COM" is "alice@example.com"), every other
 * byte as it is, whatever the locale.  Section lookup, catch-all
 * domains, duplicate sections, local_password_file users and pending
 * authorisations go through address_equal(); token records and
 * throttling use the key tokend derives with it (tokend/account.c).
 */

#ifndef ADDRESS_H
#define ADDRESS_H

#include <stddef.h>

static inline int
address_lower(int c)
{
	return (c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
}

/* <0, 0, >0 as strcmp(3), comparing at most n bytes, without case. */
static inline int
address_ncmp(const char *a, const char *b, size_t n)
{
	const unsigned char	*p = (const unsigned char *)a;
	const unsigned char	*q = (const unsigned char *)b;
	int			 d;

	for (; n > 0; n--, p++, q++) {
		if ((d = address_lower(*p) - address_lower(*q)) != 0)
			return (d);
		if (*p == '\0')
			break;
	}
	return (0);
}

static inline int
address_cmp(const char *a, const char *b)
{
	return (address_ncmp(a, b, (size_t)-1));
}

/* 1 when a and b name the same account; NULL equals only NULL. */
static inline int
address_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (address_cmp(a, b) == 0);
}

#endif /* ADDRESS_H */
