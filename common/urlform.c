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
 * application/x-www-form-urlencoded values (a URL's query, a form's
 * body) and HTML escaping, for the proxy's HTTP pages and authd's
 * pasted URLs.  Every input is hostile: a value that decodes to a NUL
 * or holds a broken escape is refused.
 */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "urlform.h"

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

/* Decode %XX and '+'; NULL if malformed or if it decodes to a NUL. */
static char *
url_unescape(const char *s, size_t len)
{
	char	*out, *p;
	size_t	 i;
	int	 hi, lo;

	if ((out = malloc(len + 1)) == NULL)
		return (NULL);
	for (i = 0, p = out; i < len; i++) {
		if (s[i] == '+')
			*p++ = ' ';
		else if (s[i] == '%') {
			if (i + 2 >= len)
				goto bad;
			if ((hi = hexval((unsigned char)s[i + 1])) == -1 ||
			    (lo = hexval((unsigned char)s[i + 2])) == -1 ||
			    (hi == 0 && lo == 0))
				goto bad;
			*p++ = hi << 4 | lo;
			i += 2;
		} else
			*p++ = s[i];
	}
	*p = '\0';
	return (out);
 bad:
	freezero(out, len + 1);
	return (NULL);
}

/* The decoded value of name in a query string, or NULL. */
char *
urlform_get(const char *query, const char *name)
{
	const char	*p, *amp, *eq;
	size_t		 nlen = strlen(name);

	for (p = query; p != NULL && *p != '\0'; p = amp ? amp + 1 : NULL) {
		amp = strchr(p, '&');
		eq = memchr(p, '=', amp ? (size_t)(amp - p) : strlen(p));
		if (eq == NULL || (size_t)(eq - p) != nlen ||
		    strncmp(p, name, nlen) != 0)
			continue;
		eq++;
		return (url_unescape(eq, amp ? (size_t)(amp - eq) :
		    strlen(eq)));
	}
	return (NULL);
}

char *
html_escape(const char *s)
{
	char	*out, *p;
	size_t	 n = 0;

	for (p = (char *)s; *p != '\0'; p++)
		n += (*p == '<' || *p == '>' || *p == '&' || *p == '"' ||
		    *p == '\'') ? 6 : 1;
	if ((out = malloc(n + 1)) == NULL)
		return (NULL);
	for (p = out; *s != '\0'; s++) {
		switch (*s) {
		case '<':
			p = stpcpy(p, "&lt;");
			break;
		case '>':
			p = stpcpy(p, "&gt;");
			break;
		case '&':
			p = stpcpy(p, "&amp;");
			break;
		case '"':
			p = stpcpy(p, "&quot;");
			break;
		case '\'':
			p = stpcpy(p, "&#39;");
			break;
		default:
			*p++ = *s;
		}
	}
	*p = '\0';
	return (out);
}

/*
 * The value of cookie name in a Cookie header ("a=b; name=v; c=d"),
 * copied into out when it is shorter than outlen; 0, or -1 when it is
 * absent or too long.  The last one of that name wins.
 */
int
cookie_get(const char *header, const char *name, char *out, size_t outlen)
{
	const char	*p, *v;
	size_t		 n, vl, nl = strlen(name);
	int		 found = -1;

	if (outlen > 0)
		out[0] = '\0';
	for (p = header; p != NULL && *p != '\0'; p += strspn(p, "; ")) {
		n = strcspn(p, ";");
		if (n > nl && p[nl] == '=' && strncmp(p, name, nl) == 0) {
			v = p + nl + 1;
			vl = n - nl - 1;
			while (vl > 0 && v[vl - 1] == ' ')
				vl--;
			if (vl < outlen) {
				memcpy(out, v, vl);
				out[vl] = '\0';
				found = 0;
			} else
				found = -1;
		}
		p += n;
	}
	if (found == -1 && outlen > 0)
		explicit_bzero(out, outlen);
	return (found);
}
