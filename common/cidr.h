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
 * Address lists for allowlists: "127.0.0.1, 10.0.0.0/8, ::1, 2001:db8::/32"
 * (commas and/or spaces).  An IPv4-mapped IPv6 address (::ffff:a.b.c.d),
 * as a dual-stack listener reports IPv4 clients, matches the IPv4 entries.
 */

#ifndef CIDR_H
#define CIDR_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

struct cidr {
	int		 af;		/* AF_INET or AF_INET6 */
	uint8_t		 addr[16];	/* network byte order, masked */
	unsigned int	 prefix;	/* bits */
};

struct cidr_list {
	size_t		 n;
	struct cidr	*v;
	char		*text;		/* as written, for -n and logs */
};

/* NULL and *err set to a reason (static) on a malformed list. */
struct cidr_list *cidr_list_parse(const char *, const char **err);
void		  cidr_list_free(struct cidr_list *);
struct cidr_list *cidr_list_dup(const struct cidr_list *);
int		  cidr_list_equal(const struct cidr_list *,
		    const struct cidr_list *);
/* 1 if the address is in the list (a NULL list allows everyone). */
int		  cidr_list_match(const struct cidr_list *,
		    const struct sockaddr *);
/* The same for an address written as text ("127.0.0.1", "::1"). */
int		  cidr_list_match_str(const struct cidr_list *, const char *);

#endif /* CIDR_H */
