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

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_request.h"

/* RFC 9110 tchar. */
static int
http_tchar(unsigned char c)
{
	return (isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) !=
	    NULL));
}

/* Visible ASCII, obs-text, SP and HT: what a field value may hold. */
static int
http_vchar(unsigned char c)
{
	return (c == '\t' || (c >= 0x20 && c != 0x7f));
}

/*
 * The end of the head: the offset just past the blank line, or 0 if
 * there is none within len bytes.
 */
static size_t
http_head_end(const char *buf, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n')
			return (i + 2);
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return (i + 3);
	}
	return (0);
}

/* Cut the next line of the head at *p, without its CRLF or LF. */
static char *
http_next_line(char **p)
{
	char	*line = *p, *nl;
	size_t	 n;

	if ((nl = strchr(line, '\n')) == NULL)
		return (NULL);
	*nl = '\0';
	*p = nl + 1;
	n = nl - line;
	if (n > 0 && line[n - 1] == '\r')
		line[n - 1] = '\0';
	return (line);
}

static int
http_request_line(struct http_request *req, char *line)
{
	char		*sp, *target, *version;
	size_t		 n;

	/* method */
	for (sp = line; http_tchar((unsigned char)*sp); sp++)
		;
	if (sp == line || *sp != ' ')
		return (400);
	*sp = '\0';
	req->method = line;
	target = sp + 1;
	if ((sp = strchr(target, ' ')) == NULL)
		return (400);
	*sp = '\0';
	version = sp + 1;
	if (strncmp(version, "HTTP/", 5) != 0)
		return (400);
	if (strcmp(version, "HTTP/1.0") == 0)
		req->minor = 0;
	else if (strcmp(version, "HTTP/1.1") == 0)
		req->minor = 1;
	else if (isdigit((unsigned char)version[5]) && version[6] == '.' &&
	    isdigit((unsigned char)version[7]) && version[8] == '\0')
		return (505);
	else
		return (400);
	/* origin-form: "/" and visible ASCII only */
	if (*target != '/')
		return (400);
	for (sp = target; *sp != '\0'; sp++)
		if ((unsigned char)*sp <= 0x20 || (unsigned char)*sp >= 0x7f)
			return (400);
	n = strcspn(target, "#");
	target[n] = '\0';
	req->target = target;
	/* path and query in a copy, so target stays whole */
	req->target_len = n + 1;
	if ((req->target_copy = malloc(req->target_len)) == NULL)
		return (500);
	memcpy(req->target_copy, target, req->target_len);
	n = strcspn(req->target_copy, "?");
	req->path = req->target_copy;
	if (req->target_copy[n] == '?') {
		req->target_copy[n] = '\0';
		req->query = req->target_copy + n + 1;
	}
	return (0);
}

static int
http_header_line(struct http_request *req, char *line)
{
	struct http_header	*h;
	char			*colon, *v, *end;

	if (*line == ' ' || *line == '\t')
		return (400);	/* obsolete line folding */
	for (colon = line; http_tchar((unsigned char)*colon); colon++)
		;
	if (colon == line || *colon != ':')
		return (400);
	*colon = '\0';
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (end = v; *end != '\0'; end++)
		if (!http_vchar((unsigned char)*end))
			return (400);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	if (req->nheaders >= HTTP_HEADERS_MAX)
		return (413);
	h = &req->headers[req->nheaders++];
	h->name = line;
	h->value = v;
	return (0);
}

/* The one Content-Length (repeats must agree), or -1 if malformed. */
static int
http_content_length(struct http_request *req, size_t *len)
{
	size_t		 i, n;
	const char	*p;
	int		 seen = 0;

	*len = 0;
	for (i = 0; i < req->nheaders; i++) {
		if (strcasecmp(req->headers[i].name, "Content-Length") != 0)
			continue;
		p = req->headers[i].value;
		if (*p == '\0')
			return (-1);
		for (n = 0; *p != '\0'; p++) {
			if (!isdigit((unsigned char)*p) ||
			    n > (SIZE_MAX - 9) / 10)
				return (-1);
			n = n * 10 + (*p - '0');
		}
		if (seen && n != *len)
			return (-1);
		seen = 1;
		*len = n;
	}
	return (0);
}

int
http_request_parse(const char *buf, size_t len,
    const struct http_limits *lim, struct http_request *req, size_t *used)
{
	size_t	 headlen, clen, n;
	char	*p, *line;
	int	 status;

	memset(req, 0, sizeof(*req));
	*used = 0;
	/* Blank lines before the request line are allowed (RFC 9112 2.2). */
	while (len > 0) {
		if (buf[0] == '\n')
			n = 1;
		else if (len >= 2 && buf[0] == '\r' && buf[1] == '\n')
			n = 2;
		else
			break;
		*used += n;
		buf += n;
		len -= n;
	}
	if ((headlen = http_head_end(buf, len)) == 0) {
		n = len + *used;
		*used = 0;
		return (n > lim->head_max ? 413 : HTTP_REQ_MORE);
	}
	if (headlen + *used > lim->head_max) {
		*used = 0;
		return (413);
	}
	if (memchr(buf, '\0', headlen) != NULL) {
		*used = 0;
		return (400);
	}
	if ((req->head = malloc(headlen + 1)) == NULL ||
	    (req->headers = calloc(HTTP_HEADERS_MAX,
	    sizeof(*req->headers))) == NULL) {
		status = 500;
		goto fail;
	}
	memcpy(req->head, buf, headlen);
	req->head[headlen] = '\0';
	req->headlen = headlen + 1;
	p = req->head;
	if ((line = http_next_line(&p)) == NULL) {
		status = 400;
		goto fail;
	}
	if ((status = http_request_line(req, line)) != 0)
		goto fail;
	while ((line = http_next_line(&p)) != NULL && *line != '\0')
		if ((status = http_header_line(req, line)) != 0)
			goto fail;
	/*
	 * Bodies here are small forms, sent with a Content-Length; a
	 * transfer coding is refused as RFC 9112 6.1 says a server that
	 * does not take it answers: 501 Not Implemented.
	 */
	if (http_request_header(req, "Transfer-Encoding") != NULL) {
		status = 501;
		goto fail;
	}
	if (http_content_length(req, &clen) == -1) {
		status = 400;
		goto fail;
	}
	if (clen > lim->body_max) {
		status = 413;
		goto fail;
	}
	if (len - headlen < clen) {
		http_request_clear(req);
		*used = 0;
		return (HTTP_REQ_MORE);
	}
	if ((req->body = malloc(clen + 1)) == NULL) {
		status = 500;
		goto fail;
	}
	memcpy(req->body, buf + headlen, clen);
	req->body[clen] = '\0';
	req->content_length = clen;
	req->host = http_request_header(req, "Host");
	req->accept = http_request_header(req, "Accept");
	req->cookie = http_request_header(req, "Cookie");
	req->content_type = http_request_header(req, "Content-Type");
	*used += headlen + clen;
	return (HTTP_REQ_DONE);
 fail:
	http_request_clear(req);
	*used = 0;
	return (status);
}

void
http_request_clear(struct http_request *req)
{
	if (req->head != NULL)
		freezero(req->head, req->headlen);
	if (req->target_copy != NULL)
		freezero(req->target_copy, req->target_len);
	if (req->body != NULL)
		freezero(req->body, req->content_length + 1);
	free(req->headers);
	memset(req, 0, sizeof(*req));
}

const char *
http_request_header(const struct http_request *req, const char *name)
{
	size_t	 i;

	for (i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return (req->headers[i].value);
	return (NULL);
}

/* "q=0.5" -> 500; -1 if malformed (RFC 9110 12.4.2 qvalue). */
static int
http_qvalue(const char *s, size_t n)
{
	int	 q, i, scale;

	if (n < 1 || (s[0] != '0' && s[0] != '1'))
		return (-1);
	q = (s[0] - '0') * 1000;
	if (n == 1)
		return (q);
	if (s[1] != '.' || n > 5)
		return (-1);
	for (i = 2, scale = 100; (size_t)i < n; i++, scale /= 10) {
		if (!isdigit((unsigned char)s[i]))
			return (-1);
		q += (s[i] - '0') * scale;
	}
	return (q > 1000 ? -1 : q);
}

int
http_accept_quality(const char *accept, const char *type)
{
	const char	*p, *e, *semi, *param, *slash, *next, *pe;
	size_t		 tlen, rlen, plen;
	int		 best = -1, bestspec = -1, spec, q, v;

	if (accept == NULL)
		return (1000);
	tlen = strlen(type);
	if ((slash = strchr(type, '/')) == NULL)
		return (0);
	for (p = accept; *p != '\0'; p = *e == ',' ? e + 1 : e) {
		e = p + strcspn(p, ",");
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		semi = memchr(p, ';', e - p);
		rlen = (semi != NULL ? semi : e) - p;
		while (rlen > 0 && (p[rlen - 1] == ' ' || p[rlen - 1] == '\t'))
			rlen--;
		if (rlen == 0)
			continue;
		if (rlen == 3 && strncmp(p, "*/*", 3) == 0)
			spec = 0;
		else if (rlen == (size_t)(slash - type) + 2 &&
		    strncasecmp(p, type, slash - type + 1) == 0 &&
		    p[rlen - 1] == '*')
			spec = 1;
		else if (rlen == tlen && strncasecmp(p, type, tlen) == 0)
			spec = 2;
		else
			continue;
		/* parameters: only q matters, the last one counts */
		q = 1000;
		v = 0;
		for (param = semi; param != NULL; param = next) {
			param++;
			next = memchr(param, ';', e - param);
			pe = next != NULL ? next : e;
			while (param < pe && (*param == ' ' || *param == '\t'))
				param++;
			plen = pe - param;
			while (plen > 0 && (param[plen - 1] == ' ' ||
			    param[plen - 1] == '\t'))
				plen--;
			if (plen >= 2 && (param[0] == 'q' || param[0] == 'Q') &&
			    param[1] == '=') {
				if ((v = http_qvalue(param + 2, plen - 2)) == -1)
					break;
				q = v;
			}
		}
		if (v == -1)
			continue;
		if (spec > bestspec || (spec == bestspec && q > best)) {
			bestspec = spec;
			best = q;
		}
	}
	if (*accept != '\0' && best == -1) {
		/* nothing but blanks and commas accepts everything */
		for (p = accept; *p != '\0'; p++)
			if (*p != ' ' && *p != '\t' && *p != ',')
				return (0);
		return (1000);
	}
	return (best == -1 ? 1000 : best);
}

const char *
http_status_text(int status)
{
	switch (status) {
	case 200:
		return ("OK");
	case 204:
		return ("No Content");
	case 302:
		return ("Found");
	case 303:
		return ("See Other");
	case 304:
		return ("Not Modified");
	case 400:
		return ("Bad Request");
	case 403:
		return ("Forbidden");
	case 404:
		return ("Not Found");
	case 405:
		return ("Method Not Allowed");
	case 406:
		return ("Not Acceptable");
	case 408:
		return ("Request Timeout");
	case 413:
		return ("Content Too Large");
	case 415:
		return ("Unsupported Media Type");
	case 429:
		return ("Too Many Requests");
	case 500:
		return ("Internal Server Error");
	case 501:
		return ("Not Implemented");
	case 503:
		return ("Service Unavailable");
	case 505:
		return ("HTTP Version Not Supported");
	}
	return ("Error");
}
