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
 * One pre-login session of a protocol module (proxy/imap.c, pop.c,
 * smtp.c) played from a fuzz input, with the session of
 * regress/unit/mock_session.c.  The input is a flags byte (the
 * section's STARTTLS settings, starttls.h) and then events, each an
 * op byte, a length byte and that many bytes of data:
 *
 *	C  bytes from the client	S  bytes from the server
 *	T  tokend's token (data)	F  tokend's refusal: reason, message
 *	X  the server closed		L  client-side TLS handshake done
 *	R  server-side TLS handshake done (first data byte odd: failed)
 *
 * Any other op byte is one of these by its value mod 7.  Events are
 * only played when the session could see them: a token answer only for
 * a request that is out, a handshake only after the module started it.
 *
 * Besides crashes, it checks that with server_starttls no login command
 * (LOGIN, AUTHENTICATE, AUTH, USER, PASS, APOP) reaches a server before
 * its TLS is up, in any line the server may see: lines end at LF or CR.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emailproxy.h"
#include "../unit/mock_session.h"
#include "../../proxy/session.h"
#include "../../proxy/starttls.h"
#include "fuzz.h"

#define FLAGS_MASK	(SESSION_TLS_CLIENT | SESSION_TLS_SERVER | \
	SESSION_SERVER_STARTTLS | SESSION_LOCAL_STARTTLS | \
	SESSION_REQUIRE_TLS_LOGIN)

static const char	 opnames[] = "CSTFXLR";
static const char	*logins[] = {
	"LOGIN", "AUTHENTICATE", "AUTH", "USER", "PASS", "APOP"
};

static char *
data_str(const uint8_t *p, size_t n)
{
	char	*s;

	if ((s = malloc(n + 1)) == NULL)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return (s);
}

static void
tls_done(void (**cb)(void *, int, const char *), unsigned int flag,
    const uint8_t *p, size_t n)
{
	void	(*f)(void *, int, const char *) = *cb;

	if (f == NULL)
		return;
	*cb = NULL;
	if (n > 0 && (p[0] & 1)) {
		f(mod, 0, "handshake failed");
		return;
	}
	tlsflags |= flag;
	f(mod, 1, NULL);
}

/* Is the word at p (n bytes) a login command? */
static int
is_login(const char *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < sizeof(logins) / sizeof(logins[0]); i++)
		if (strlen(logins[i]) == n && strncasecmp(p, logins[i], n) == 0)
			return (1);
	return (0);
}

/* Abort if a line of p, as a server splits them, is a login command. */
static void
check_clear(const char *p, size_t len)
{
	const char	*end = p + len, *eol, *w[3];
	size_t		 wl[3];
	int		 nw;

	for (; p < end; p = eol + 1) {
		for (eol = p; eol < end && *eol != '\r' && *eol != '\n'; eol++)
			;
		/* The first three words: "tag UID LOGIN" at most. */
		for (nw = 0; nw < 3 && p < eol; nw++) {
			while (p < eol && (*p == ' ' || *p == '\t'))
				p++;
			w[nw] = p;
			while (p < eol && *p != ' ' && *p != '\t')
				p++;
			wl[nw] = p - w[nw];
		}
		if (nw == 0)
			continue;
		if (ops->proto != PROTO_IMAP) {
			if (is_login(w[0], wl[0]))
				abort();
		} else if ((nw > 1 && is_login(w[1], wl[1])) ||
		    (nw > 2 && wl[1] == 3 && strncasecmp(w[1], "UID", 3) == 0 &&
		    is_login(w[2], wl[2])))
			abort();
	}
}

void
proto_fuzz(const struct proto_ops *o, const uint8_t *data, size_t size)
{
	const char	*op;
	char		*s;
	size_t		 n, clear_start = 0;
	int		 answered = 0, c, in_clear;

	if (size < 1)
		return;
	start(o, data[0] & FLAGS_MASK);
	in_clear = (tlsflags & SESSION_SERVER_STARTTLS) &&
	    !(tlsflags & SESSION_TLS_SERVER);
	data++;
	size--;
	while (size >= 2 && !closed && !done) {
		if ((op = memchr(opnames, data[0], sizeof(opnames) - 1)) ==
		    NULL)
			op = &opnames[data[0] % (sizeof(opnames) - 1)];
		n = data[1];
		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		switch (*op) {
		case 'C':
			rec_add(&cin, data, n);
			pump();
			break;
		case 'S':
			rec_add(&sin_, data, n);
			pump();
			break;
		case 'T':
			if (answered >= ntokget)
				break;
			answered++;
			s = data_str(data, n);
			ops->token_ok(mod, tok_user, s);
			free(s);
			pump();
			break;
		case 'F':
			if (answered >= ntokget)
				break;
			answered++;
			c = n > 0 ? data[0] % (TOKEN_FAIL_AUTH_PENDING + 1) : 0;
			s = n > 0 ? data_str(data + 1, n - 1) : data_str(data, 0);
			ops->token_fail(mod, c, s);
			free(s);
			pump();
			break;
		case 'X':
			rec_clear(&sin_);
			/* A new connection starts in clear. */
			if (tlsflags & SESSION_SERVER_STARTTLS) {
				in_clear = 1;
				clear_start = sout.len;
			}
			if (ops->server_closed(mod) == 0)
				closed = 1;
			pump();
			break;
		case 'L':
			tls_done(&tls_client_cb, SESSION_TLS_CLIENT, data, n);
			pump();
			break;
		case 'R':
			/* What the handshake's end sends goes over TLS. */
			if (in_clear)
				check_clear(rec_str(&sout) + clear_start,
				    sout.len - clear_start);
			tls_done(&tls_server_cb, SESSION_TLS_SERVER, data, n);
			if (tlsflags & SESSION_TLS_SERVER)
				in_clear = 0;
			pump();
			break;
		}
		data += n;
		size -= n;
		if (in_clear)
			check_clear(rec_str(&sout) + clear_start,
			    sout.len - clear_start);
		if (tlsflags & SESSION_TLS_SERVER)
			in_clear = 0;
	}
	(void)mock_finish();
	mod = NULL;
}
