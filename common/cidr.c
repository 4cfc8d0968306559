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

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

static const uint8_t v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static void
cidr_mask(struct cidr *c)
{
	unsigned int	i, bits = c->prefix;
	size_t		len = c->af == AF_INET ? 4 : 16;

	for (i = 0; i < len; i++) {
		if (bits >= 8)
			bits -= 8;
		else {
			c->addr[i] &= (uint8_t)(0xff << (8 - bits));
			bits = 0;
		}
	}
}

static int
cidr_parse_one(const char *s, struct cidr *c)
{
	char		 buf[64], *slash;
	long		 prefix;
	char		*end;

	if (strlcpy(buf, s, sizeof(buf)) >= sizeof(buf))
		return (-1);
	memset(c, 0, sizeof(*c));
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->af = AF_INET;
		c->prefix = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->af = AF_INET6;
		c->prefix = 128;
		/* ::ffff:a.b.c.d/N is an IPv4 entry. */
		if (memcmp(c->addr, v4mapped, 12) == 0) {
			memmove(c->addr, c->addr + 12, 4);
			memset(c->addr + 4, 0, 12);
			c->af = AF_INET;
			c->prefix = 32;
			if (slash != NULL) {
				prefix = strtol(slash, &end, 10);
				if (*slash == '\0' || *end != '\0' ||
				    prefix < 96 || prefix > 128)
					return (-1);
				c->prefix = prefix - 96;
				slash = NULL;
			}
		}
	} else
		return (-1);
	if (slash != NULL) {
		if (*slash == '\0' || !isdigit((unsigned char)*slash))
			return (-1);
		prefix = strtol(slash, &end, 10);
		if (*end != '\0' || prefix < 0 || prefix > (long)c->prefix)
			return (-1);
		c->prefix = prefix;
	}
	cidr_mask(c);
	return (0);
}

struct cidr_list *
cidr_list_parse(const char *text, const char **err)
{
	struct cidr_list	*l;
	struct cidr		*v;
	char			*copy, *p, *tok;

	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->text = strdup(text)) == NULL ||
	    (copy = strdup(text)) == NULL) {
		cidr_list_free(l);
		*err = "out of memory";
		return (NULL);
	}
	p = copy;
	while ((tok = strsep(&p, ", \t\n")) != NULL) {
		if (*tok == '\0')
			continue;
		if ((v = reallocarray(l->v, l->n + 1, sizeof(*v))) == NULL) {
			*err = "out of memory";
			goto fail;
		}
		l->v = v;
		if (cidr_parse_one(tok, &l->v[l->n]) == -1) {
			*err = "not an address or address/prefix";
			goto fail;
		}
		l->n++;
	}
	free(copy);
	if (l->n == 0) {
		*err = "empty address list";
		cidr_list_free(l);
		return (NULL);
	}
	return (l);
 fail:
	free(copy);
	cidr_list_free(l);
	return (NULL);
}

void
cidr_list_free(struct cidr_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	free(l->text);
	free(l);
}

struct cidr_list *
cidr_list_dup(const struct cidr_list *l)
{
	const char	*err;

	if (l == NULL)
		return (NULL);
	return (cidr_list_parse(l->text, &err));
}

int
cidr_list_equal(const struct cidr_list *a, const struct cidr_list *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (a->n == b->n && memcmp(a->v, b->v, a->n * sizeof(*a->v)) == 0);
}

static int
cidr_match(const struct cidr *c, int af, const uint8_t *addr)
{
	struct cidr	probe;

	if (c->af != af)
		return (0);
	memset(&probe, 0, sizeof(probe));
	probe.af = af;
	probe.prefix = c->prefix;
	memcpy(probe.addr, addr, af == AF_INET ? 4 : 16);
	cidr_mask(&probe);
	return (memcmp(probe.addr, c->addr, af == AF_INET ? 4 : 16) == 0);
}

static int
cidr_list_match_addr(const struct cidr_list *l, int af, const uint8_t *addr)
{
	size_t	i;

	if (l == NULL)
		return (1);
	/* A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d. */
	if (af == AF_INET6 && memcmp(addr, v4mapped, 12) == 0) {
		af = AF_INET;
		addr += 12;
	}
	for (i = 0; i < l->n; i++)
		if (cidr_match(&l->v[i], af, addr))
			return (1);
	return (0);
}

int
cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa)
{
	if (l == NULL)
		return (1);
	switch (sa->sa_family) {
	case AF_INET:
		return (cidr_list_match_addr(l, AF_INET, (const uint8_t *)
		    &((const struct sockaddr_in *)sa)->sin_addr));
	case AF_INET6:
		return (cidr_list_match_addr(l, AF_INET6, (const uint8_t *)
		    &((const struct sockaddr_in6 *)sa)->sin6_addr));
	}
	return (0);
}

int
cidr_list_match_str(const struct cidr_list *l, const char *s)
{
	uint8_t	addr[16];

	if (l == NULL)
		return (1);
	if (inet_pton(AF_INET, s, addr) == 1)
		return (cidr_list_match_addr(l, AF_INET, addr));
	if (inet_pton(AF_INET6, s, addr) == 1)
		return (cidr_list_match_addr(l, AF_INET6, addr));
	return (0);
}
