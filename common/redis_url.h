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
 * The redis_url key: where the shared token store's Redis listens.
 *
 *	redis://HOST[:PORT][/DB]	TCP (PORT 6379, DB 0 by default)
 *	unix:PATH[?db=DB]		a unix socket, PATH absolute
 *
 * HOST is a name, an IPv4 address or an IPv6 address in brackets.
 * Parsed by the configuration check and by the parent, which connects.
 */

#ifndef REDIS_URL_H
#define REDIS_URL_H

#define REDIS_URL_MAX	1024

struct redis_url {
	char		 host[256];	/* "" for a unix socket */
	char		 path[256];	/* the socket, or "" */
	unsigned int	 port;
	unsigned int	 db;
};

/* 0, or -1 with *why saying what is wrong. */
int	 redis_url_parse(const char *, struct redis_url *, const char **why);

#endif /* REDIS_URL_H */
