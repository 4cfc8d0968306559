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
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emailproxy.h"
#include "../unit/mock_session.h"
#include "../../proxy/session.h"
#include "../../proxy/starttls.h"
#include "fuzz.h"

#define FLAGS_MASK	(SESSION_TLS_CLIENT | SESSION_TLS_SERVER | \
	SESSION_SERVER_STARTTLS | SESSION_LOCAL_STARTTLS | \
	SESSION_REQUIRE_TLS_LOGIN)

static const char	 opnames[] = "CSTFXLR";

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

void
proto_fuzz(const struct proto_ops *o, const uint8_t *data, size_t size)
{
	const char	*op;
	char		*s;
	size_t		 n;
	int		 answered = 0, c;

	if (size < 1)
		return;
	start(o, data[0] & FLAGS_MASK);
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
			c = n > 0 ? data[0] % (TOKEN_FAIL_NOT_ALLOWED + 1) : 0;
			s = n > 0 ? data_str(data + 1, n - 1) : data_str(data, 0);
			ops->token_fail(mod, c, s);
			free(s);
			pump();
			break;
		case 'X':
			rec_clear(&sin_);
			if (ops->server_closed(mod) == 0)
				closed = 1;
			pump();
			break;
		case 'L':
			tls_done(&tls_client_cb, SESSION_TLS_CLIENT, data, n);
			pump();
			break;
		case 'R':
			tls_done(&tls_server_cb, SESSION_TLS_SERVER, data, n);
			pump();
			break;
		}
		data += n;
		size -= n;
	}
	(void)mock_finish();
	mod = NULL;
}
