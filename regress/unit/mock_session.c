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
 * The session of session.h and starttls.h for the POP and SMTP unit
 * tests (see mock_session.h).  Not a test itself: listed on their DEPS
 * lines.  The proxy headers are named by path, as this file is built
 * without -Iproxy.
 */

#include <sys/types.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock_session.h"
#include "../../proxy/sasl.h"
#include "../../proxy/starttls.h"

int			 failures;
const struct proto_ops	*ops;
void			*mod;
struct rec		 cout, sout, trace, cin, sin_;
unsigned int		 tlsflags;
int			 closed, done, reconnects, tokget_rc;
int			 ntokget, nrejected, nrevoked;
char			 tok_user[256], tok_pass[256], tok_rej[256];
char			 bye_reason[256];
void			(*tls_server_cb)(void *, int, const char *);
void			(*tls_client_cb)(void *, int, const char *);

void
check(int ok, const char *fmt, ...)
{
	va_list	 ap;

	printf(ok ? "PASS: " : "FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok)
		failures++;
	printf("\n");
	fflush(stdout);
}

void
rec_add(struct rec *r, const void *p, size_t n)
{
	if ((r->buf = realloc(r->buf, r->len + n + 1)) == NULL)
		abort();
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->buf[r->len] = '\0';
}

void
rec_clear(struct rec *r)
{
	free(r->buf);
	r->buf = NULL;
	r->len = 0;
}

/* The bytes recorded so far, as a C string ("" if none). */
const char *
rec_str(struct rec *r)
{
	return r->buf ? r->buf : "";
}

static void
rec_vprintf(struct rec *r, const char *fmt, va_list ap)
{
	char	*t;
	int	 n;

	if ((n = vasprintf(&t, fmt, ap)) == -1)
		abort();
	rec_add(r, t, n);
	free(t);
}

void
session_client_write(struct session *s, const void *p, size_t n)
{
	rec_add(&cout, p, n);
}

void
session_server_write(struct session *s, const void *p, size_t n)
{
	rec_add(&sout, p, n);
}

void
session_client_printf(struct session *s, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	rec_vprintf(&cout, fmt, ap);
	va_end(ap);
}

void
session_server_printf(struct session *s, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	rec_vprintf(&sout, fmt, ap);
	va_end(ap);
}

int
session_token_get(struct session *s, const char *user, const char *pass,
    const char *rejected)
{
	ntokget++;
	strlcpy(tok_user, user, sizeof(tok_user));
	strlcpy(tok_pass, pass, sizeof(tok_pass));
	strlcpy(tok_rej, rejected ? rejected : "", sizeof(tok_rej));
	return tokget_rc;
}

void
session_set_account(struct session *s, const char *a)
{
}

void
session_login_rejected(struct session *s)
{
	nrejected++;
}

void
session_token_revoked(struct session *s)
{
	nrevoked++;
}

void
session_login_done(struct session *s)
{
	done = 1;
}

void
session_bye(struct session *s, const char *reason)
{
	strlcpy(bye_reason, reason, sizeof(bye_reason));
	session_client_printf(s, ops->bye_fmt, reason);
	closed = 1;
}

void
session_close(struct session *s, const char *why)
{
	closed = 1;
}

void
session_reconnect(struct session *s)
{
	reconnects++;
	tlsflags &= ~SESSION_TLS_SERVER;
}

void
session_trace(struct session *s, const char *dir, const void *p, size_t n)
{
	rec_add(&trace, dir, strlen(dir));
	rec_add(&trace, " ", 1);
	rec_add(&trace, p, n);
	rec_add(&trace, "\n", 1);
}

int
session_tracing(void)
{
	return 1;
}

uint32_t
session_id(struct session *s)
{
	return 1;
}

unsigned int
session_tls_flags(struct session *s)
{
	return tlsflags;
}

int
session_starttls_server(struct session *s,
    void (*cb)(void *, int, const char *))
{
	tls_server_cb = cb;
	return 0;
}

int
session_starttls_client(struct session *s,
    void (*cb)(void *, int, const char *))
{
	tls_client_cb = cb;
	return 0;
}

/* Feed the module what each side sent, as the session would. */
void
pump(void)
{
	ssize_t	n;
	int	progress;

	do {
		progress = 0;
		if (!closed && !done && cin.len > 0) {
			n = ops->client_input(mod, (uint8_t *)cin.buf,
			    cin.len);
			if (n < 0)
				closed = 1;
			else if (n > 0) {
				memmove(cin.buf, cin.buf + n, cin.len - n);
				cin.len -= n;
				progress = 1;
			}
		}
		if (!closed && !done && sin_.len > 0) {
			n = ops->server_input(mod, (uint8_t *)sin_.buf,
			    sin_.len);
			if (n < 0)
				closed = 1;
			else if (n > 0) {
				memmove(sin_.buf, sin_.buf + n, sin_.len - n);
				sin_.len -= n;
				progress = 1;
			}
		}
	} while (progress);
}

void
from_client(const char *s)
{
	rec_add(&cin, s, strlen(s));
	pump();
}

void
from_server(const char *s)
{
	rec_add(&sin_, s, strlen(s));
	pump();
}

/* A fresh module with nothing recorded. */
void
start(const struct proto_ops *o, unsigned int flags)
{
	if (mod != NULL)
		ops->free(mod);
	ops = o;
	rec_clear(&cout);
	rec_clear(&sout);
	rec_clear(&trace);
	rec_clear(&cin);
	rec_clear(&sin_);
	tlsflags = flags;
	closed = done = reconnects = ntokget = tokget_rc = 0;
	tok_user[0] = tok_pass[0] = tok_rej[0] = bye_reason[0] = '\0';
	tls_server_cb = tls_client_cb = NULL;
	if ((mod = ops->init((struct session *)&mod)) == NULL)
		abort();
}

/* s with CR, LF and other controls escaped, for a one-line report. */
static char *
esc(const char *s)
{
	char	*r, *o;

	if ((r = o = malloc(strlen(s) * 4 + 1)) == NULL)
		abort();
	for (; *s != '\0'; s++) {
		if (*s == '\r')
			o += sprintf(o, "\\r");
		else if (*s == '\n')
			o += sprintf(o, "\\n");
		else if ((unsigned char)*s < 0x20)
			o += sprintf(o, "\\x%02x", (unsigned char)*s);
		else
			*o++ = *s;
	}
	*o = '\0';
	return r;
}

/* Compare what one side received with want, then forget it. */
void
expect(struct rec *r, const char *want, const char *what)
{
	const char	*got = rec_str(r);
	char		*g, *w;

	if (strcmp(got, want) == 0)
		check(1, "%s", what);
	else {
		g = esc(got);
		w = esc(want);
		check(0, "%s: got \"%s\", want \"%s\"", what, g, w);
		free(g);
		free(w);
	}
	rec_clear(r);
}

/* No secret in the -vv trace. */
void
trace_clean(const char *what, const char *secret)
{
	check(strstr(rec_str(&trace), secret) == NULL,
	    "%s: trace has no \"%s\"", what, secret);
}

char *
b64(const char *s, size_t n)
{
	char	*r;

	if ((r = b64_encode(s, n, 0)) == NULL)
		abort();
	return r;
}

/* Free what is left and say how the test went, for main to return. */
int
mock_finish(void)
{
	if (mod != NULL)
		ops->free(mod);
	rec_clear(&cout);
	rec_clear(&sout);
	rec_clear(&trace);
	rec_clear(&cin);
	rec_clear(&sin_);
	return failures != 0;
}
