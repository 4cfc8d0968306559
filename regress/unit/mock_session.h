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
 * The session, as a protocol module sees it (session.h, starttls.h),
 * for the POP and SMTP unit tests (mock_session.c): every write is
 * recorded, token requests and STARTTLS calls are noted, and the test
 * plays tokend and the TLS layer by calling the module back itself.
 */

#ifndef MOCK_SESSION_H
#define MOCK_SESSION_H

#include <stddef.h>

struct proto_ops;

struct rec {
	char	*buf;
	size_t	 len;
};

extern int			 failures;
extern const struct proto_ops	*ops;
extern void			*mod;
/* Written to the client and server, the trace, and input not consumed. */
extern struct rec		 cout, sout, trace, cin, sin_;
extern unsigned int		 tlsflags;	/* session_tls_flags() */
extern int			 closed, done, reconnects, tokget_rc;
extern int			 ntokget, nrejected, nrevoked;
extern char			 tok_user[256], tok_pass[256], tok_rej[256];
extern char			 bye_reason[256];
extern void			(*tls_server_cb)(void *, int, const char *);
extern void			(*tls_client_cb)(void *, int, const char *);

void		 check(int, const char *, ...)
		    __attribute__((__format__(__printf__, 2, 3)));
void		 rec_add(struct rec *, const void *, size_t);
void		 rec_clear(struct rec *);
const char	*rec_str(struct rec *);
void		 pump(void);
void		 from_client(const char *);
void		 from_server(const char *);
void		 start(const struct proto_ops *, unsigned int);
void		 expect(struct rec *, const char *, const char *);
void		 trace_clean(const char *, const char *);
char		*b64(const char *, size_t);
int		 mock_finish(void);

#endif /* MOCK_SESSION_H */
