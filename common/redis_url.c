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


#include <stdlib.h>
#include <string.h>

#include "redis_url.h"

static int
redis_url_number(const char *s, size_t len, unsigned int max,
    unsigned int *out)
{
	unsigned long	n = 0;
	size_t		i;

	if (len == 0 || len > 10)
		return (-1);
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		n = n * 10 + (s[i] - '0');
	}
	if (n > max)
		return (-1);
	*out = n;
	return (0);
}

int
redis_url_parse(const char *url, struct redis_url *u, const char **why)
{
	const char	*p, *end, *q;
	size_t		 len;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	*why = "not redis://HOST[:PORT][/DB] or unix:PATH[?db=DB]";
	if (strlen(url) > REDIS_URL_MAX)
		return (-1);
	if (strncmp(url, "unix:", 5) == 0) {
		p = url + 5;
		if ((q = strchr(p, '?')) != NULL) {
			if (strncmp(q, "?db=", 4) != 0 ||
			    redis_url_number(q + 4, strlen(q + 4), 1000000,
			    &u->db) == -1)
				return (-1);
			len = q - p;
		} else
			len = strlen(p);
		if (len == 0 || *p != '/') {
			*why = "the socket must be an absolute path";
			return (-1);
		}
		if (len >= sizeof(u->path)) {
			*why = "the socket path is too long";
			return (-1);
		}
		memcpy(u->path, p, len);
		return (0);
	}
	if (strncmp(url, "redis://", 8) != 0)
		return (-1);
	p = url + 8;
	if ((end = strchr(p, '/')) == NULL)
		end = p + strlen(p);
	else if (redis_url_number(end + 1, strlen(end + 1), 1000000,
	    &u->db) == -1)
		return (-1);
	if (memchr(p, '@', end - p) != NULL) {
		*why = "a password goes in redis_password_file, not the URL";
		return (-1);
	}
	if (*p == '[') {
		if ((q = memchr(p, ']', end - p)) == NULL)
			return (-1);
		len = q - p - 1;
		if (len == 0 || len >= sizeof(u->host))
			return (-1);
		memcpy(u->host, p + 1, len);
		q++;
	} else {
		for (q = p; q < end && *q != ':'; q++)
			;
		len = q - p;
		if (len == 0 || len >= sizeof(u->host))
			return (-1);
		memcpy(u->host, p, len);
	}
	if (q < end) {
		if (*q != ':' || redis_url_number(q + 1, end - q - 1, 65535,
		    &u->port) == -1 || u->port == 0)
			return (-1);
	}
	return (0);
}
