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
 * The IMAP pre-login state machine without sockets: this file plays the
 * session (session.h) and checks every byte imap.c sends either way.
 * LOGIN (quoted strings with escapes, atoms, literals {N} and {N+} with
 * CRLF inside, limits), AUTHENTICATE PLAIN (SASL-IR, continuation, "*",
 * malformed), token answers, SASL-IR or not upstream, the rejected-token
 * retry, pipelining, forwarded literals.  STARTTLS on both sides
 * (server_starttls: the commands the server gets, refusals, nothing
 * in clear; local_starttls and require_tls_login: the capabilities and
 * answers the client gets).
 *
 * DEPS: proxy/imap.c proxy/imap_cap.c proxy/proto.c proxy/sasl.c common/log.c common/secret.c common/base64.c
 */

#include <sys/types.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sasl.h"
#include "session.h"
#include "starttls.h"

#define BUFMAX	65536

struct session {
	void	*im;
	char	 cli[BUFMAX];		/* sent to the client */
	size_t	 clilen;
	char	 srv[BUFMAX];		/* sent to the server */
	size_t	 srvlen;
	char	 in_c[BUFMAX];		/* from the client, not consumed */
	size_t	 in_clen;
	char	 in_s[BUFMAX];
	size_t	 in_slen;
	int	 token_reqs;
	char	 user[BUFMAX];
	char	 pass[BUFMAX];
	char	 rejected[256];
	int	 login_done;
	int	 closed;
	char	 bye[256];
	int	 reconnects;
	int	 rejected_logins;
	int	 revoked_logins;
	unsigned int tlsflags;
	void	(*tls_server_done)(void *, int, const char *);
	void	(*tls_client_done)(void *, int, const char *);
};

static int	failures;

static void
check(int ok, const char *fmt, ...)
{
	va_list	ap;

	printf(ok ? "PASS: " : "FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok)
		failures++;
}

/* The session side, as session.c provides it. */

void
session_client_write(struct session *s, const void *p, size_t n)
{
	if (s->clilen + n <= BUFMAX) {
		memcpy(s->cli + s->clilen, p, n);
		s->clilen += n;
	}
}

void
session_server_write(struct session *s, const void *p, size_t n)
{
	if (s->srvlen + n <= BUFMAX) {
		memcpy(s->srv + s->srvlen, p, n);
		s->srvlen += n;
	}
}

void
session_client_printf(struct session *s, const char *fmt, ...)
{
	char	buf[BUFMAX];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	session_client_write(s, buf, n);
}

void
session_server_printf(struct session *s, const char *fmt, ...)
{
	char	buf[BUFMAX];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	session_server_write(s, buf, n);
}

int
session_token_get(struct session *s, const char *user, const char *pass,
    const char *rejected)
{
	s->token_reqs++;
	strlcpy(s->user, user, sizeof(s->user));
	strlcpy(s->pass, pass, sizeof(s->pass));
	strlcpy(s->rejected, rejected ? rejected : "", sizeof(s->rejected));
	return 0;
}

void
session_set_account(struct session *s, const char *a)
{
}

void
session_login_rejected(struct session *s)
{
	s->rejected_logins++;
}

void
session_token_revoked(struct session *s)
{
	s->revoked_logins++;
}

void
session_login_done(struct session *s)
{
	s->login_done = 1;
}

void
session_bye(struct session *s, const char *reason)
{
	session_client_printf(s, imap_ops.bye_fmt, reason);
	strlcpy(s->bye, reason, sizeof(s->bye));
	s->closed = 1;
}

void
session_close(struct session *s, const char *why)
{
	s->closed = 1;
}

void
session_reconnect(struct session *s)
{
	s->reconnects++;
}

void
session_trace(struct session *s, const char *d, const void *p, size_t n)
{
}

int
session_tracing(void)
{
	return 0;
}

uint32_t
session_id(struct session *s)
{
	return 1;
}

unsigned int
session_tls_flags(struct session *s)
{
	return s->tlsflags;
}

int
session_starttls_server(struct session *s,
    void (*cb)(void *, int, const char *))
{
	s->tls_server_done = cb;
	return 0;
}

int
session_starttls_client(struct session *s,
    void (*cb)(void *, int, const char *))
{
	s->tls_client_done = cb;
	return 0;
}

/* Driving it, as session_process does. */

static void
pump(struct session *s)
{
	ssize_t	n;
	int	progress;

	do {
		progress = 0;
		while (!s->closed && !s->login_done && s->in_slen > 0 &&
		    (n = imap_ops.server_input(s->im, (uint8_t *)s->in_s,
		    s->in_slen)) > 0) {
			memmove(s->in_s, s->in_s + n, s->in_slen - n);
			s->in_slen -= n;
			progress = 1;
		}
		while (!s->closed && !s->login_done && s->in_clen > 0 &&
		    (n = imap_ops.client_input(s->im, (uint8_t *)s->in_c,
		    s->in_clen)) > 0) {
			memmove(s->in_c, s->in_c + n, s->in_clen - n);
			s->in_clen -= n;
			progress = 1;
		}
	} while (progress && !s->closed && !s->login_done);
}

static void
from_client(struct session *s, const char *p, size_t n)
{
	memcpy(s->in_c + s->in_clen, p, n);
	s->in_clen += n;
	pump(s);
}

static void
from_server(struct session *s, const char *p)
{
	size_t	n = strlen(p);

	memcpy(s->in_s + s->in_slen, p, n);
	s->in_slen += n;
	pump(s);
}

static void
token_ok(struct session *s, const char *user, const char *token)
{
	imap_ops.token_ok(s->im, user, token);
	pump(s);
}

static void
token_fail(struct session *s, const char *msg)
{
	imap_ops.token_fail(s->im, TOKEN_FAIL_BAD_PASSWORD, msg);
	pump(s);
}

/* Compare and clear what went to one side. */
static void
expect(const char *what, char *buf, size_t *len, const char *want,
    size_t wlen)
{
	char	got[512];
	size_t	i, o = 0;

	for (i = 0; i < *len && o < sizeof(got) - 5; i++) {
		if (buf[i] >= 0x20 && buf[i] < 0x7f)
			got[o++] = buf[i];
		else
			o += snprintf(got + o, sizeof(got) - o, "\\x%02x",
			    (unsigned char)buf[i]);
	}
	got[o] = '\0';
	check(*len == wlen && memcmp(buf, want, wlen) == 0,
	    "%s: %zu bytes as expected%s%s", what, wlen,
	    *len == wlen && memcmp(buf, want, wlen) == 0 ? "" : "; got: ",
	    *len == wlen && memcmp(buf, want, wlen) == 0 ? "" : got);
	*len = 0;
}

#define SEND(s, lit)		from_client(s, lit, sizeof(lit) - 1)
#define CLIENT(s, w, what)	expect(what, (s)->cli, &(s)->clilen, w, \
				    sizeof(w) - 1)
#define SERVER(s, w, what)	expect(what, (s)->srv, &(s)->srvlen, w, \
				    sizeof(w) - 1)

static struct session *
start_flags(const char *greeting, unsigned int flags)
{
	struct session	*s = calloc(1, sizeof(*s));

	s->tlsflags = flags;
	s->im = imap_ops.init(s);
	from_server(s, greeting);
	return s;
}

static struct session *
start(const char *greeting)
{
	return start_flags(greeting, 0);
}

static void
done(struct session *s)
{
	imap_ops.free(s->im);
	free(s);
}

static char *
xoauth2_cmd(const char *tag, const char *user, const char *token, int ir)
{
	static char	 buf[1024];
	char		*b = sasl_xoauth2(user, token);

	if (ir)
		snprintf(buf, sizeof(buf), "%s AUTHENTICATE XOAUTH2 %s\r\n",
		    tag, b);
	else
		snprintf(buf, sizeof(buf), "%s\r\n", b);
	free(b);
	return buf;
}

static void
expect_server_str(struct session *s, const char *want, const char *what)
{
	expect(what, s->srv, &s->srvlen, want, strlen(want));
}

#define NO_LINE	"a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
#define GREETING_IR \
    "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGINDISABLED AUTH=XOAUTH2] hi\r\n"

/* A whole LOGIN through to the server's OK. */
static void
login_quoted(void)
{
	struct session	*s = start(GREETING_IR);
	const char	 cmd[] = "a1 LOGIN \"alice@example.com\" "
	    "\"p a\\\\ss\\\"w\"\r\n";

	CLIENT(s, "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi\r\n",
	    "greeting rewritten");
	SEND(s, "a0 CAPABILITY\r\n");
	SERVER(s, "a0 CAPABILITY\r\n", "CAPABILITY forwarded");
	from_server(s, "* CAPABILITY IMAP4rev1 AUTH=XOAUTH2\r\n"
	    "a0 OK done\r\n");
	CLIENT(s, "* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR\r\na0 OK done\r\n",
	    "untagged CAPABILITY rewritten, tagged OK untouched");
	from_client(s, cmd, sizeof(cmd) - 1);
	check(s->token_reqs == 1 && strcmp(s->user, "alice@example.com") ==
	    0 && strcmp(s->pass, "p a\\ss\"w") == 0,
	    "quoted LOGIN: spaces, \\\\ and \\\" unescaped");
	check(s->srvlen == 0 && s->clilen == 0,
	    "nothing sent while tokend works");
	token_ok(s, "alice@example.com", "TOK");
	expect_server_str(s, xoauth2_cmd("a1", "alice@example.com", "TOK", 1),
	    "AUTHENTICATE XOAUTH2 with SASL-IR, client's tag");
	from_server(s, "a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n");
	CLIENT(s, "a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n",
	    "tagged OK [CAPABILITY] after login passed untouched");
	check(s->login_done, "relay after the server's OK");
	done(s);
}

static void
login_forms(void)
{
	struct session	*s;
	const char	 lit[] = "b LOGIN {5}\r\n";
	const char	 lit2[] = "alice {6}\r\n";
	const char	 lit3[] = "se\r\nrt\r\n";
	const char	 nonsync[] = "c LOGIN {5+}\r\nalice {3+}\r\nabc\r\n";
	const char	 mixed[] = "d LOGIN \"al ice\" {2}\r\n";

	s = start(GREETING_IR);
	s->clilen = 0;
	SEND(s, "a LOGIN alice secret\r\n");
	check(s->token_reqs == 1 && strcmp(s->user, "alice") == 0 &&
	    strcmp(s->pass, "secret") == 0, "atom LOGIN");
	done(s);

	s = start(GREETING_IR);
	s->clilen = 0;
	from_client(s, lit, sizeof(lit) - 1);
	CLIENT(s, "+ \r\n", "synchronising literal: continuation");
	from_client(s, lit2, sizeof(lit2) - 1);
	CLIENT(s, "+ \r\n", "second literal: continuation");
	from_client(s, lit3, sizeof(lit3) - 1);
	check(s->token_reqs == 1 && strcmp(s->user, "alice") == 0 &&
	    strcmp(s->pass, "se\r\nrt") == 0,
	    "literals counted exactly, CRLF inside the password");
	check(s->srvlen == 0, "literal LOGIN not forwarded");
	done(s);

	s = start(GREETING_IR);
	s->clilen = 0;
	from_client(s, nonsync, sizeof(nonsync) - 1);
	check(s->clilen == 0, "non-synchronising literals: no continuation");
	check(s->token_reqs == 1 && strcmp(s->user, "alice") == 0 &&
	    strcmp(s->pass, "abc") == 0, "non-synchronising literals parsed");
	done(s);

	s = start(GREETING_IR);
	s->clilen = 0;
	from_client(s, mixed, sizeof(mixed) - 1);
	SEND(s, "pw\r\n");
	check(s->token_reqs == 1 && strcmp(s->user, "al ice") == 0 &&
	    strcmp(s->pass, "pw") == 0, "quoted user, literal password");
	done(s);

	/* One byte at a time. */
	s = start(GREETING_IR);
	s->clilen = 0;
	{
		const char	 slow[] = "e LOGIN {3+}\r\nbob \"x y\"\r\n";
		size_t		 i;

		for (i = 0; i < sizeof(slow) - 1; i++)
			from_client(s, slow + i, 1);
	}
	check(s->token_reqs == 1 && strcmp(s->user, "bob") == 0 &&
	    strcmp(s->pass, "x y") == 0, "LOGIN arriving byte by byte");
	done(s);
}

static void
login_bad(void)
{
	struct session	*s;
	char		*big;
	size_t		 n;

	s = start(GREETING_IR);
	s->clilen = 0;
	SEND(s, "a LOGIN \"unterminated\r\n");
	CLIENT(s, "a BAD Invalid LOGIN arguments\r\n", "unterminated quote");
	SEND(s, "b LOGIN one two three\r\n");
	CLIENT(s, "b BAD Invalid LOGIN arguments\r\n", "three arguments");
	SEND(s, "c LOGIN \"a\\x\" b\r\n");
	CLIENT(s, "c BAD Invalid LOGIN arguments\r\n", "bad escape \\x");
	SEND(s, "d LOGIN {3}x\r\n");
	CLIENT(s, "d BAD Invalid LOGIN arguments\r\n", "junk after {3}");
	check(s->srvlen == 0 && s->token_reqs == 0 && !s->closed,
	    "bad LOGINs answered locally, never forwarded, session open");
	SEND(s, "e LOGIN ok fine\r\n");
	check(s->token_reqs == 1, "a good LOGIN after bad ones");
	done(s);

	s = start(GREETING_IR);
	s->clilen = 0;
	SEND(s, "a LOGIN {4096}\r\n");
	CLIENT(s, "+ \r\n", "4096-byte literal accepted");
	done(s);

	s = start(GREETING_IR);
	s->clilen = 0;
	SEND(s, "a LOGIN {4097}\r\n");
	CLIENT(s, "* BYE Literal too long\r\n", "4097-byte literal: BYE");
	check(s->closed, "over-long literal closes the session");
	done(s);

	s = start(GREETING_IR);
	s->clilen = 0;
	SEND(s, "a LOGIN {99999999999999999999}\r\n");
	CLIENT(s, "* BYE Literal too long\r\n", "huge literal size: BYE");
	done(s);

	/* 8190 bytes + CRLF = 8192 is allowed; one more is not. */
	big = malloc(8200);
	memset(big, 'x', 8200);
	s = start(GREETING_IR);
	s->clilen = 0;
	memcpy(big, "a NOOP ", 7);
	memcpy(big + 8190, "\r\n", 2);
	from_client(s, big, 8192);
	check(!s->closed && s->srvlen == 8192, "8192-byte line forwarded");
	done(s);

	s = start(GREETING_IR);
	s->clilen = 0;
	memset(big, 'x', 8200);
	memcpy(big, "a NOOP ", 7);
	memcpy(big + 8191, "\r\n", 2);
	from_client(s, big, 8193);
	CLIENT(s, "* BYE Line too long\r\n", "8193-byte line: BYE");
	check(s->srvlen == 0, "over-long line not forwarded");
	done(s);

	s = start(GREETING_IR);
	s->clilen = 0;
	memset(big, 'x', 8200);
	for (n = 0; n < 8192 && !s->closed; n += 1024)
		from_client(s, big + n, 1024);
	CLIENT(s, "* BYE Line too long\r\n", "8 KiB without CRLF: BYE");
	done(s);
	free(big);
}

static void
authenticate(void)
{
	struct session	*s;
	char		 line[256];
	/* "\0alice\0pa ss" */
	const char	 ir[] = "AGFsaWNlAHBhIHNz";

	s = start(GREETING_IR);
	s->clilen = 0;
	snprintf(line, sizeof(line), "a AUTHENTICATE PLAIN %s\r\n", ir);
	from_client(s, line, strlen(line));
	check(s->token_reqs == 1 && strcmp(s->user, "alice") == 0 &&
	    strcmp(s->pass, "pa ss") == 0, "AUTHENTICATE PLAIN with SASL-IR");
	check(s->clilen == 0 && s->srvlen == 0, "nothing forwarded");
	token_fail(s, "Email OAuth 2.0 Proxy: Login failed - the password "
	    "for account alice is incorrect");
	CLIENT(s, "a NO [AUTHENTICATIONFAILED] Email OAuth 2.0 Proxy: Login "
	    "failed - the password for account alice is incorrect\r\n",
	    "tokend failure: tagged NO");
	SEND(s, "p AUTHENTICATE PLAIN AGFsaWNlAHBhIHNz\r\n");
	imap_ops.token_fail(s->im, TOKEN_FAIL_AUTH_PENDING, "emailproxy: "
	    "account alice needs authorisation");
	pump(s);
	CLIENT(s, "p NO [ALERT] emailproxy: account alice needs "
	    "authorisation\r\n", "pending authorisation: tagged NO [ALERT]");
	SEND(s, "b authenticate plain\r\n");
	CLIENT(s, "+ \r\n", "AUTHENTICATE PLAIN without SASL-IR: continuation");
	snprintf(line, sizeof(line), "%s\r\n", ir);
	from_client(s, line, strlen(line));
	check(s->token_reqs == 3 && strcmp(s->pass, "pa ss") == 0,
	    "continuation response decoded; session usable after NO");
	token_ok(s, "alice", "T");
	expect_server_str(s, xoauth2_cmd("b", "alice", "T", 1),
	    "tag b goes upstream");
	done(s);

	s = start(GREETING_IR);
	s->clilen = 0;
	SEND(s, "c AUTHENTICATE PLAIN\r\n*\r\n");
	CLIENT(s, "+ \r\nc BAD AUTHENTICATE cancelled\r\n", "\"*\" cancels");
	SEND(s, "d AUTHENTICATE PLAIN AGFsaWNl*\r\n");
	CLIENT(s, "d BAD Invalid base64 in AUTHENTICATE PLAIN response\r\n",
	    "malformed base64: BAD");
	SEND(s, "e AUTHENTICATE PLAIN YWxpY2U=\r\n");
	CLIENT(s, "e NO [AUTHENTICATIONFAILED] Malformed AUTHENTICATE PLAIN "
	    "response\r\n", "no NUL: NO");
	SEND(s, "f AUTHENTICATE PLAIN AGEAYgBj\r\n");
	CLIENT(s, "f NO [AUTHENTICATIONFAILED] Malformed AUTHENTICATE PLAIN "
	    "response\r\n", "three NULs: NO");
	check(s->token_reqs == 0 && s->srvlen == 0, "none reached tokend");
	SEND(s, "g AUTHENTICATE XOAUTH2 dXNlcj0=\r\n");
	SERVER(s, "g AUTHENTICATE XOAUTH2 dXNlcj0=\r\n",
	    "other mechanisms forwarded untouched");
	from_server(s, "g OK welcome\r\n");
	CLIENT(s, "g OK welcome\r\n", "their OK forwarded");
	check(s->login_done, "relay after a forwarded mechanism's OK");
	done(s);
}

static void
no_sasl_ir(void)
{
	struct session	*s = start("* OK ready\r\n");

	CLIENT(s, "* OK ready\r\n", "greeting without capabilities as is");
	SEND(s, "a LOGIN alice pw\r\n");
	token_ok(s, "alice", "TOK");
	SERVER(s, "a AUTHENTICATE XOAUTH2\r\n",
	    "no SASL-IR advertised: command alone");
	from_server(s, "+ \r\n");
	expect_server_str(s, xoauth2_cmd("a", "alice", "TOK", 0),
	    "response after the server's continuation");
	check(s->clilen == 0, "the continuation is not the client's");
	from_server(s, "a OK in\r\n");
	CLIENT(s, "a OK in\r\n", "OK forwarded");
	done(s);
}

static void
rejected_token(void)
{
	struct session	*s;
	/* {"status":"401","schemes":"bearer"} */
	const char	 ch[] =
	    "+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIn0=\r\n";

	s = start(GREETING_IR);
	s->clilen = 0;
	SEND(s, "a LOGIN alice pw\r\n");
	token_ok(s, "alice", "OLD");
	s->srvlen = 0;
	from_server(s, ch);
	SERVER(s, "\r\n", "error challenge answered with an empty line");
	from_server(s, NO_LINE);
	check(s->clilen == 0, "client sees neither challenge nor first NO");
	check(s->token_reqs == 2 && strcmp(s->rejected, "OLD") == 0 &&
	    strcmp(s->pass, "pw") == 0,
	    "second TOKEN_GET names the rejected token, same password");
	token_ok(s, "alice", "NEW");
	expect_server_str(s, xoauth2_cmd("a", "alice", "NEW", 1),
	    "retry with the new token");
	from_server(s, "a OK Logged in\r\n");
	CLIENT(s, "a OK Logged in\r\n", "retry succeeded");
	check(s->login_done, "relay after the retry");
	done(s);

	s = start(GREETING_IR);
	s->clilen = 0;
	SEND(s, "a LOGIN alice pw\r\n");
	token_ok(s, "alice", "OLD");
	from_server(s, ch);
	from_server(s, NO_LINE);
	token_ok(s, "alice", "STILLBAD");
	from_server(s, ch);
	from_server(s, NO_LINE);
	CLIENT(s, "a NO [AUTHENTICATIONFAILED] Authentication failed. (server "
	    "said: {\"status\":\"401\",\"schemes\":\"bearer\"})\r\n",
	    "retry failed: server's NO with the decoded reason");
	check(s->token_reqs == 2 && !s->closed && !s->login_done,
	    "one retry only, session open");
	check(s->rejected_logins == 1, "the final NO is audited as "
	    "upstream-rejected, once");
	check(s->revoked_logins == 1, "the final NO is a token-revoked event, "
	    "once");
	s->srvlen = 0;
	SEND(s, "b NOOP\r\n");
	SERVER(s, "b NOOP\r\n", "session usable afterwards");
	done(s);

	/* The server hangs up after its NO: a new connection. */
	s = start(GREETING_IR);
	s->clilen = 0;
	SEND(s, "a LOGIN alice pw\r\n");
	token_ok(s, "alice", "OLD");
	from_server(s, ch);
	from_server(s, NO_LINE);
	check(imap_ops.server_closed(s->im) == 1 && s->reconnects == 1,
	    "server gone after NO: reconnect");
	s->srvlen = 0;
	from_server(s, "* OK [CAPABILITY IMAP4rev1 SASL-IR] again\r\n");
	check(s->clilen == 0 && s->srvlen == 0,
	    "new greeting not shown, nothing sent before the new token");
	token_ok(s, "alice", "NEW");
	expect_server_str(s, xoauth2_cmd("a", "alice", "NEW", 1),
	    "retry on the new connection");
	from_server(s, "a OK yes\r\n");
	CLIENT(s, "a OK yes\r\n", "login completes on the new connection");
	done(s);

	/* Idle connection closed while tokend waited for a person. */
	s = start(GREETING_IR);
	s->clilen = 0;
	SEND(s, "a LOGIN alice pw\r\n");
	from_server(s, "* BYE Disconnected for inactivity\r\n");
	check(s->clilen == 0, "server BYE while waiting for tokend hidden");
	check(imap_ops.server_closed(s->im) == 1 && s->reconnects == 1,
	    "reconnect while waiting for tokend");
	token_ok(s, "alice", "T");
	check(s->srvlen == 0, "token kept until the new greeting");
	from_server(s, "* OK [CAPABILITY IMAP4rev1 SASL-IR] back\r\n");
	expect_server_str(s, xoauth2_cmd("a", "alice", "T", 1),
	    "sent after the new greeting");
	done(s);

	s = start(GREETING_IR);
	check(imap_ops.server_closed(s->im) == 0,
	    "server gone with no login in progress: session ends");
	done(s);
}

static void
pipelining(void)
{
	struct session	*s = start(GREETING_IR);
	const char	 two[] = "a LOGIN alice pw\r\nb SELECT INBOX\r\n";
	const char	 fwd[] = "t ID {13}\r\na LOGIN b c\r\n)\r\n";

	s->clilen = 0;
	from_client(s, fwd, sizeof(fwd) - 1);
	SERVER(s, "t ID {13}\r\n", "a forwarded literal waits for \"+\"");
	from_server(s, "+ ok\r\n");
	SERVER(s, "a LOGIN b c\r\n)\r\n",
	    "a forwarded command's literal passes raw after \"+\"");
	check(s->token_reqs == 0, "LOGIN inside a literal is data");
	from_server(s, "t OK\r\n");
	s->clilen = 0;
	from_client(s, two, sizeof(two) - 1);
	check(s->token_reqs == 1, "pipelined LOGIN seen");
	token_ok(s, "alice", "T");
	s->srvlen = 0;
	from_server(s, "a OK in\r\n");
	check(s->login_done && s->in_clen == 16 &&
	    memcmp(s->in_c, "b SELECT INBOX\r\n", 16) == 0,
	    "bytes after LOGIN kept for the relay");
	check(s->srvlen == 0, "and not sent before the OK");
	done(s);
}

/* server_starttls: STARTTLS before anything, capabilities again. */
static void
server_starttls(void)
{
	struct session	*s;

	/* The greeting lists STARTTLS: straight to it. */
	s = start_flags("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] "
	    "Dovecot ready.\r\n", SESSION_SERVER_STARTTLS);
	SERVER(s, "epx2 STARTTLS\r\n", "STARTTLS sent after the greeting");
	CLIENT(s, "", "the client waits for the upgrade");
	SEND(s, "a LOGIN alice pw\r\n");
	check(s->token_reqs == 0, "no login read before the upgrade");
	from_server(s, "epx2 OK Begin TLS negotiation now.\r\n");
	check(s->tls_server_done != NULL, "the handshake is started");
	s->tlsflags |= SESSION_TLS_SERVER;
	s->tls_server_done(s->im, 1, NULL);
	pump(s);
	SERVER(s, "epx3 CAPABILITY\r\n", "capabilities refreshed over TLS");
	from_server(s, "* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN "
	    "AUTH=XOAUTH2\r\nepx3 OK done\r\n");
	CLIENT(s, "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] "
	    "Dovecot ready.\r\n",
	    "the client's greeting lists the TLS capabilities, no STARTTLS");
	check(s->token_reqs == 1, "the pending LOGIN goes on");
	token_ok(s, "alice", "T");
	expect_server_str(s, xoauth2_cmd("a", "alice", "T", 1),
	    "XOAUTH2 with SASL-IR learnt over TLS");
	from_server(s, "a OK in\r\n");
	check(s->login_done, "logged in");
	done(s);

	/* No capabilities in the greeting: ask. */
	s = start_flags("* OK hi\r\n", SESSION_SERVER_STARTTLS);
	SERVER(s, "epx1 CAPABILITY\r\n", "CAPABILITY asked in clear");
	from_server(s, "* CAPABILITY IMAP4rev1 STARTTLS\r\nepx1 OK\r\n");
	SERVER(s, "epx2 STARTTLS\r\n", "then STARTTLS");
	done(s);

	/* Not offered, refused, or injected: bye, nothing else upstream. */
	s = start_flags("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n",
	    SESSION_SERVER_STARTTLS);
	check(s->closed && strstr(s->cli, "* BYE ") == s->cli &&
	    s->srvlen == 0, "STARTTLS not offered: BYE, nothing sent");
	done(s);
	s = start_flags("* OK hi\r\n", SESSION_SERVER_STARTTLS);
	from_server(s, "* CAPABILITY IMAP4rev1\r\nepx1 OK\r\n");
	check(s->closed && strstr(s->cli, "* BYE ") == s->cli,
	    "CAPABILITY without STARTTLS: BYE");
	done(s);
	s = start_flags("* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n",
	    SESSION_SERVER_STARTTLS);
	s->srvlen = 0;
	from_server(s, "epx2 NO not today\r\n");
	check(s->closed && strstr(s->cli, "* BYE ") == s->cli &&
	    s->tls_server_done == NULL, "STARTTLS refused: BYE, no TLS");
	done(s);
	s = start_flags("* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n",
	    SESSION_SERVER_STARTTLS);
	from_server(s, "epx2 OK go\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n");
	check(s->closed && s->tls_server_done == NULL,
	    "bytes after the STARTTLS answer: refused");
	done(s);
	s = start_flags("* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n",
	    SESSION_SERVER_STARTTLS);
	from_server(s, "epx2 OK go\r\n");
	s->tls_server_done(s->im, 0, "handshake failed");
	check(s->closed && strstr(s->cli, "* BYE ") == s->cli,
	    "TLS failure: BYE");
	done(s);
}

/* local_starttls and require_tls_login, towards the client. */
static void
local_starttls(void)
{
	struct session	*s;
	unsigned int	 f = SESSION_LOCAL_STARTTLS | SESSION_TLS_SERVER;

	s = start_flags("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] "
	    "hi\r\n", f);
	CLIENT(s, "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN STARTTLS] "
	    "hi\r\n", "STARTTLS offered to a plain client");
	SEND(s, "s1 STARTTLS\r\n");
	CLIENT(s, "s1 OK Begin TLS negotiation now\r\n", "STARTTLS answered");
	check(s->tls_client_done != NULL && s->srvlen == 0,
	    "upgrade started, nothing sent upstream");
	SEND(s, "c CAPABILITY\r\n");
	check(s->srvlen == 0, "nothing read during the handshake");
	s->tlsflags |= SESSION_TLS_CLIENT;
	s->tls_client_done(s->im, 1, NULL);
	pump(s);
	SERVER(s, "c CAPABILITY\r\n", "commands flow after the upgrade");
	from_server(s, "* CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2\r\n");
	CLIENT(s, "* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN\r\n",
	    "no STARTTLS once TLS");
	from_server(s, "c OK\r\n");
	s->clilen = 0;
	SEND(s, "s2 STARTTLS\r\n");
	CLIENT(s, "s2 BAD STARTTLS not available\r\n", "a second STARTTLS");
	done(s);

	s = start_flags("* OK hi\r\n", f);
	s->clilen = 0;
	SEND(s, "s1 STARTTLS\r\nx NOOP\r\n");
	check(s->closed && s->tls_client_done == NULL,
	    "data after STARTTLS in the same packet: closed");
	done(s);

	f |= SESSION_REQUIRE_TLS_LOGIN;
	s = start_flags("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] "
	    "hi\r\n", f);
	CLIENT(s, "* OK [CAPABILITY IMAP4rev1 SASL-IR STARTTLS "
	    "LOGINDISABLED] hi\r\n",
	    "require_tls_login: LOGINDISABLED, no AUTH= in clear");
	SEND(s, "a LOGIN alice pw\r\n");
	CLIENT(s, "a NO [PRIVACYREQUIRED] Login only after STARTTLS\r\n",
	    "LOGIN in clear refused");
	SEND(s, "b AUTHENTICATE PLAIN AGFsaWNlAHB3\r\n");
	CLIENT(s, "b NO [PRIVACYREQUIRED] Login only after STARTTLS\r\n",
	    "AUTHENTICATE in clear refused");
	SEND(s, "c LOGIN alice {2+}\r\npw\r\n");
	check(s->closed, "a non-synchronising literal in clear: BYE");
	check(s->token_reqs == 0 && s->srvlen == 0,
	    "no credentials asked for, none sent upstream");
	done(s);
	s = start_flags("* OK hi\r\n", f);
	SEND(s, "s STARTTLS\r\n");
	s->tlsflags |= SESSION_TLS_CLIENT;
	s->tls_client_done(s->im, 1, NULL);
	pump(s);
	s->clilen = 0;
	SEND(s, "a LOGIN alice pw\r\n");
	check(s->token_reqs == 1, "LOGIN after STARTTLS goes on");
	done(s);
}

int
main(void)
{
	log_init(1, 0);
	log_procinit("imap_login_test");
	login_quoted();
	login_forms();
	login_bad();
	authenticate();
	no_sasl_ir();
	rejected_token();
	pipelining();
	server_starttls();
	local_starttls();
	return failures ? 1 : 0;
}
