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
 * The IMAP capability rewrite: the client must see
 * AUTH=PLAIN (and SASL-IR) and no LOGINDISABLED, whatever the server
 * offers.  The five steps reproduce the Python proxy's substitutions
 * byte for byte, including their substring (not token) semantics.
 */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap.h"

struct str {
	char	*p;
	size_t	 len;
};

static const char AUTHPLAIN[] = " AUTH=PLAIN";
#define AUTHPLAIN_LEN	(sizeof(AUTHPLAIN) - 1)

/* RFC 9051 capability characters as the Python pattern lists them. */
static int
capchar(unsigned char c)
{
	return (c >= '+' && c <= '[') || (c >= '^' && c <= 'z') ||
	    c == '!' || c == '#' || c == '$' || c == '&' || c == '\'' ||
	    c == '|' || c == '}' || c == '~';
}

static int
prefix_ci(const char *p, size_t left, const char *word)
{
	size_t	n = strlen(word);

	return left >= n && strncasecmp(p, word, n) == 0;
}

/* Offset of the first match of word at or after from, or -1. */
static ssize_t
find(const struct str *s, size_t from, const char *word, int ci)
{
	size_t	n = strlen(word), i;

	for (i = from; i + n <= s->len; i++) {
		if (ci ? strncasecmp(s->p + i, word, n) == 0 :
		    memcmp(s->p + i, word, n) == 0)
			return i;
	}
	return -1;
}

/* Replace [off, off+n) by rep; -1 on allocation failure. */
static int
splice(struct str *s, size_t off, size_t n, const char *rep)
{
	size_t	 rlen = strlen(rep);
	char	*p;

	if ((p = malloc(s->len - n + rlen + 1)) == NULL)
		return -1;
	memcpy(p, s->p, off);
	memcpy(p + off, rep, rlen);
	memcpy(p + off + rlen, s->p + off + n, s->len - off - n);
	s->len = s->len - n + rlen;
	p[s->len] = '\0';
	free(s->p);
	s->p = p;
	return 0;
}

/* Length of " <prefix><capchar>+" at off, or 0. */
static size_t
item(const struct str *s, size_t off, const char *prefix)
{
	size_t	i;

	if (!prefix_ci(s->p + off, s->len - off, prefix))
		return 0;
	i = off + strlen(prefix);
	if (i >= s->len || !capchar((unsigned char)s->p[i]))
		return 0;
	while (i < s->len && capchar((unsigned char)s->p[i]))
		i++;
	return i - off;
}

int
imap_cap_match(const char *line, size_t len)
{
	size_t	off = 2;

	if (len < 2 || memcmp(line, "* ", 2) != 0)
		return 0;
	/* ".*$" cannot cross a line feed. */
	if (memchr(line, '\n', len) != NULL)
		return 0;
	if (prefix_ci(line + off, len - off, "OK ["))
		off += 4;
	return prefix_ci(line + off, len - off, "CAPABILITY ");
}

char *
imap_cap_rewrite(const char *line, size_t len, size_t *outlen)
{
	struct str	 s;
	size_t		 i, n, run, count;
	ssize_t		 at;

	if (!imap_cap_match(line, len))
		return NULL;
	if ((s.p = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(s.p, line, len);
	s.p[len] = '\0';
	s.len = len;

	/* 1: every run of " AUTH=<cap>" items becomes one " AUTH=PLAIN". */
	for (i = 0; i < s.len; ) {
		run = 0;
		while ((n = item(&s, i + run, " AUTH=")) > 0)
			run += n;
		if (run == 0) {
			i++;
			continue;
		}
		if (splice(&s, i, run, AUTHPLAIN) == -1)
			goto fail;
		i += AUTHPLAIN_LEN;
	}

	/* 2: none at all: insert after CAPABILITY and any IMAP... items. */
	if (find(&s, 0, AUTHPLAIN, 1) == -1 &&
	    (at = find(&s, 0, "CAPABILITY", 1)) != -1) {
		i = at + strlen("CAPABILITY");
		while ((n = item(&s, i, " IMAP")) > 0)
			i += n;
		if (splice(&s, i, 0, AUTHPLAIN) == -1)
			goto fail;
	}

	/* 3: keep only the last " AUTH=PLAIN" (exact case). */
	count = 0;
	for (at = find(&s, 0, AUTHPLAIN, 0); at != -1;
	    at = find(&s, at + AUTHPLAIN_LEN, AUTHPLAIN, 0))
		count++;
	for (; count > 1; count--) {
		at = find(&s, 0, AUTHPLAIN, 0);
		if (splice(&s, at, AUTHPLAIN_LEN, "") == -1)
			goto fail;
	}

	/* 4: advertise SASL-IR, since we accept an initial response. */
	if (find(&s, 0, " SASL-IR", 1) == -1) {
		for (at = find(&s, 0, AUTHPLAIN, 0); at != -1;
		    at = find(&s, at + AUTHPLAIN_LEN + 8, AUTHPLAIN, 0))
			if (splice(&s, at, AUTHPLAIN_LEN,
			    " AUTH=PLAIN SASL-IR") == -1)
				goto fail;
	}

	/* 5: the first LOGINDISABLED goes: we accept LOGIN. */
	if ((at = find(&s, 0, " LOGINDISABLED", 1)) != -1 &&
	    splice(&s, at, strlen(" LOGINDISABLED"), "") == -1)
		goto fail;

	*outlen = s.len;
	return s.p;
 fail:
	free(s.p);
	return NULL;
}

/*
 * Does a capability line (rewritten or not) list SASL-IR?  Used to decide
 * whether the upstream takes an initial response.
 */
int
imap_cap_has(const char *line, size_t len, const char *cap)
{
	struct str	 s;
	size_t		 n = strlen(cap), i, start;

	s.p = (char *)line;
	s.len = len;
	for (i = 0; i < s.len; i++) {
		if (s.p[i] != ' ' && s.p[i] != '[')
			continue;
		start = i + 1;
		if (start + n <= s.len &&
		    strncasecmp(s.p + start, cap, n) == 0 &&
		    (start + n == s.len || s.p[start + n] == ' ' ||
		    s.p[start + n] == ']'))
			return 1;
	}
	return 0;
}

/*
 * STARTTLS on top of the capability rewrite: the server's STARTTLS is the
 * proxy's business, ours is offered while the client side is plain, and
 * with require_tls_login a plain client sees no way to log in.  Works on
 * whole space-separated tokens of the capability list, which ends at the
 * end of the line or at the ']' of a response code.
 */
char *
imap_cap_adjust(const char *line, size_t len, unsigned int flags,
    size_t *outlen)
{
	const char	*p, *end, *tok, *lend = line + len;
	char		*out, *o;
	size_t		 tlen;
	int		 starttls = 0, logindisabled = 0;

	if (!imap_cap_match(line, len))
		return NULL;
	/* Room for the line and the tokens we may add. */
	if ((out = malloc(len + sizeof(" STARTTLS LOGINDISABLED"))) == NULL)
		return NULL;
	p = line + 2;
	if (prefix_ci(p, lend - p, "OK ["))
		p += 4;
	p += strlen("CAPABILITY");
	for (end = p; end < lend && *end != ']'; end++)
		;
	memcpy(out, line, p - line);
	o = out + (p - line);
	while (p < end) {
		while (p < end && *p == ' ')
			p++;
		for (tok = p; p < end && *p != ' '; p++)
			;
		if ((tlen = p - tok) == 0)
			break;
		if (tlen == 8 && strncasecmp(tok, "STARTTLS", 8) == 0) {
			if (!(flags & IMAP_CAP_STARTTLS) || starttls)
				continue;
			starttls = 1;
		} else if (tlen == 13 &&
		    strncasecmp(tok, "LOGINDISABLED", 13) == 0) {
			if (!(flags & IMAP_CAP_LOGINDISABLED) || logindisabled)
				continue;
			logindisabled = 1;
		} else if ((flags & IMAP_CAP_LOGINDISABLED) && tlen >= 5 &&
		    strncasecmp(tok, "AUTH=", 5) == 0)
			continue;
		*o++ = ' ';
		memcpy(o, tok, tlen);
		o += tlen;
	}
	if ((flags & IMAP_CAP_STARTTLS) && !starttls) {
		memcpy(o, " STARTTLS", 9);
		o += 9;
	}
	if ((flags & IMAP_CAP_LOGINDISABLED) && !logindisabled) {
		memcpy(o, " LOGINDISABLED", 14);
		o += 14;
	}
	memcpy(o, end, lend - end);
	o += lend - end;
	*o = '\0';
	*outlen = o - out;
	return out;
}
