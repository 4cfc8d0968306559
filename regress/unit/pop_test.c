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
 * The POP3 module without sockets: the CAPA rewrite, bare AUTH, AUTH
 * PLAIN (both forms, "*"), USER/PASS, local failures, the error
 * challenge and its one retry, reconnection, pipelining, STLS towards
 * the server and the client, require_tls_login, and a -vv trace that
 * never shows a credential.
 *
 * DEPS: common/log.c proxy/sasl.c proxy/proto.c proxy/pop.c regress/unit/mock_session.c common/secret.c common/base64.c
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mock_session.h"
#include "sasl.h"
#include "session.h"
#include "starttls.h"

#define GREETING	"+OK Dovecot ready.\r\n"
#define FAILMSG		"Email OAuth 2.0 Proxy: Login failed - the password " \
			"for account alice@example.com is incorrect"

/* A greeted session on a plain (implicit TLS upstream) server. */
static void
greeted(unsigned int flags)
{
	start(&pop_ops, flags);
	from_server(GREETING);
	expect(&cout, GREETING, "greeting passes through");
	expect(&sout, "", "nothing sent upstream before the client speaks");
}

static void
test_capa(void)
{
	greeted(SESSION_TLS_SERVER);
	from_client("CAPA\r\n");
	expect(&sout, "CAPA\r\n", "CAPA forwarded");
	from_server("+OK\r\nTOP\r\nUIDL\r\nSASL XOAUTH2 PLAIN\r\n.\r\n");
	expect(&cout, "+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN\r\nUSER\r\n.\r\n",
	    "CAPA rewritten (SASL PLAIN, USER), byte for byte");

	from_client("capa\r\n");
	expect(&sout, "capa\r\n", "lower-case capa forwarded");
	from_server("+OK List follows\r\nUSER\r\nRESP-CODES\r\nSTLS\r\n"
	    "PIPELINING\r\n.\r\n");
	expect(&cout, "+OK List follows\r\nUSER\r\nRESP-CODES\r\n"
	    "PIPELINING\r\nSASL PLAIN\r\n.\r\n",
	    "CAPA: USER kept, the server's STLS dropped, SASL PLAIN added");

	from_client("CAPA\r\n");
	from_server("-ERR no\r\n");
	expect(&cout, "-ERR no\r\n", "CAPA refusal forwarded");
	from_client("AUTH\r\n");
	expect(&cout, "+OK\r\nPLAIN\r\n.\r\n", "bare AUTH answered locally");
	expect(&sout, "CAPA\r\n", "bare AUTH not forwarded");

	/* local_starttls on a plain client side: STLS is ours to offer */
	greeted(SESSION_TLS_SERVER | SESSION_LOCAL_STARTTLS);
	from_client("CAPA\r\n");
	from_server("+OK\r\nSTLS\r\nSASL XOAUTH2\r\n.\r\n");
	expect(&cout, "+OK\r\nSASL PLAIN\r\nUSER\r\nSTLS\r\n.\r\n",
	    "CAPA offers our own STLS at the end");
}

/* The upstream half of a successful login, token "tok1". */
static void
upstream_ok(const char *user, const char *what)
{
	char	*want, *x;

	check(ntokget == 1 && strcmp(tok_user, user) == 0 &&
	    tok_rej[0] == '\0', "%s: token asked for %s", what, tok_user);
	expect(&sout, "AUTH XOAUTH2\r\n", "AUTH XOAUTH2 sent upstream");
	from_server("+ \r\n");
	expect(&sout, "", "no response before the token is there");
	ops->token_ok(mod, user, "tok1");
	x = sasl_xoauth2(user, "tok1");
	if (asprintf(&want, "%s\r\n", x) == -1)
		abort();
	expect(&sout, want, "XOAUTH2 response after the server's +");
	from_server("+OK Logged in.\r\n");
	expect(&cout, "+OK Logged in.\r\n", "+OK relayed to the client");
	check(done && !closed, "%s: relay after +OK", what);
	trace_clean(what, x);
	trace_clean(what, "tok1");
	free(want);
	free(x);
}

static void
test_plain(void)
{
	char	*ir, *line;

	ir = b64("\0alice@example.com\0s3cret pw", 28);
	greeted(SESSION_TLS_SERVER);
	if (asprintf(&line, "AUTH PLAIN %s\r\n", ir) == -1)
		abort();
	from_client(line);
	check(strcmp(tok_pass, "s3cret pw") == 0, "AUTH PLAIN inline: "
	    "password decoded");
	upstream_ok("alice@example.com", "AUTH PLAIN inline");
	trace_clean("AUTH PLAIN inline", "s3cret");
	trace_clean("AUTH PLAIN inline", ir);
	free(line);

	greeted(SESSION_TLS_SERVER);
	from_client("auth plain\r\n");
	expect(&cout, "+ \r\n", "AUTH PLAIN continuation prompt");
	if (asprintf(&line, "%s\r\n", ir) == -1)
		abort();
	from_client(line);
	/* token first, then the server's + */
	expect(&sout, "AUTH XOAUTH2\r\n", "continuation: AUTH XOAUTH2 sent");
	ops->token_ok(mod, "alice@example.com", "tok1");
	expect(&sout, "", "continuation: waiting for the server's +");
	from_server("+\r\n");
	check(strstr(rec_str(&sout), "\r\n") != NULL && sout.len > 10,
	    "continuation: response after a bare +");
	rec_clear(&sout);
	from_server("+OK\r\n");
	check(done, "continuation: logged in");
	trace_clean("AUTH PLAIN continuation", "s3cret");
	trace_clean("AUTH PLAIN continuation", ir);
	free(line);

	greeted(SESSION_TLS_SERVER);
	from_client("AUTH PLAIN\r\n");
	rec_clear(&cout);
	from_client("*\r\n");
	expect(&cout, "-ERR\r\n", "AUTH PLAIN cancelled with *");
	expect(&sout, "", "cancel: nothing upstream");
	check(ntokget == 0 && !closed, "cancel: no token asked, still open");

	from_client("AUTH PLAIN !!!!\r\n");
	expect(&cout, "-ERR Authentication failed.\r\n", "bad base64");
	from_client("AUTH PLAIN =\r\n");
	expect(&cout, "-ERR Authentication failed.\r\n",
	    "empty PLAIN response");
	from_client("AUTH XOAUTH2 dXNlcj1h\r\n");
	expect(&sout, "AUTH XOAUTH2 dXNlcj1h\r\n",
	    "another mechanism is forwarded");
	trace_clean("forwarded AUTH", "dXNlcj1h");
	from_server("+OK\r\n");
	check(done, "the client's own AUTH XOAUTH2 logs in");
	free(ir);
}

static void
test_userpass(void)
{
	greeted(SESSION_TLS_SERVER);
	from_client("USER alice@example.com\r\n");
	expect(&cout, "+OK\r\n", "USER answered locally");
	expect(&sout, "", "USER not forwarded");
	from_client("PASS pass word \r\n");
	check(strcmp(tok_pass, "pass word ") == 0,
	    "PASS: the whole rest of the line is the password");
	upstream_ok("alice@example.com", "USER/PASS");
	trace_clean("USER/PASS", "pass word");

	greeted(SESSION_TLS_SERVER);
	from_client("USER alice\r\nPASS\r\n");
	expect(&cout, "+OK\r\n-ERR Authentication failed.\r\n",
	    "empty password: missing credentials reply");
	check(ntokget == 0 && !closed, "empty password: nothing asked");

	from_client("USER alice\r\nQUIT\r\n");
	expect(&cout, "+OK\r\n+OK Bye\r\n", "non-PASS after USER: +OK Bye");
	check(closed, "non-PASS after USER closes");
}

static void
test_local_failure(void)
{
	greeted(SESSION_TLS_SERVER);
	from_client("USER alice@example.com\r\nPASS wrong\r\n");
	rec_clear(&cout);
	expect(&sout, "AUTH XOAUTH2\r\n", "failure: AUTH XOAUTH2 sent");
	from_server("+ \r\n");
	ops->token_fail(mod, TOKEN_FAIL_BAD_PASSWORD, FAILMSG);
	expect(&sout, "*\r\n", "local failure cancels with *");
	from_server("-ERR Authentication cancelled\r\n");
	expect(&cout, "-ERR Authentication failed. " FAILMSG "\r\n",
	    "local failure reply");
	check(!closed && !done, "local failure: session stays open");

	/* Refusal before the +: the * waits for it. */
	from_client("USER alice@example.com\r\nPASS wrong\r\n");
	rec_clear(&cout);
	rec_clear(&sout);
	ops->token_fail(mod, TOKEN_FAIL_BAD_PASSWORD, FAILMSG);
	expect(&sout, "", "no * before the server's +");
	from_server("+ \r\n");
	expect(&sout, "*\r\n", "* after the server's +");
	from_server("-ERR [AUTH] cancelled\r\n");
	expect(&cout, "-ERR Authentication failed. " FAILMSG "\r\n",
	    "second local failure reply");

	/* An authorisation that waits for a person: -ERR [AUTH]. */
	from_client("USER alice@example.com\r\nPASS right\r\n");
	rec_clear(&cout);
	rec_clear(&sout);
	from_server("+ \r\n");
	ops->token_fail(mod, TOKEN_FAIL_AUTH_PENDING, FAILMSG);
	expect(&sout, "*\r\n", "pending: cancels with *");
	from_server("-ERR cancelled\r\n");
	expect(&cout, "-ERR [AUTH] " FAILMSG "\r\n",
	    "pending authorisation: -ERR [AUTH] with tokend's words");

	/* and the session is still usable */
	from_client("USER alice@example.com\r\nPASS right\r\n");
	rec_clear(&cout);
	check(ntokget == 4, "a fourth login after three failures");
	ntokget = 1;
	upstream_ok("alice@example.com", "login after local failures");
	trace_clean("local failure", "wrong");
}

#define CHALLENGE	"eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIn0="

static void
test_challenge(void)
{
	char	*x2, *want;

	greeted(SESSION_TLS_SERVER);
	from_client("USER alice@example.com\r\nPASS pw\r\n");
	rec_clear(&cout);
	from_server("+ \r\n");
	ops->token_ok(mod, "alice@example.com", "stale");
	rec_clear(&sout);
	from_server("+ " CHALLENGE "\r\n");
	expect(&sout, "\r\n", "error challenge answered with an empty line");
	expect(&cout, "", "the client never sees the challenge");
	from_server("-ERR [AUTH] Authentication failed.\r\n");
	check(ntokget == 2 && strcmp(tok_rej, "stale") == 0 &&
	    strcmp(tok_pass, "pw") == 0,
	    "token asked again with the rejected one (TOKEN_F_REJECTED)");
	expect(&cout, "", "the client waits during the retry");
	expect(&sout, "AUTH XOAUTH2\r\n", "retry: AUTH XOAUTH2 again");
	from_server("+ \r\n");
	ops->token_ok(mod, "alice@example.com", "fresh");
	x2 = sasl_xoauth2("alice@example.com", "fresh");
	if (asprintf(&want, "%s\r\n", x2) == -1)
		abort();
	expect(&sout, want, "retry: response with the new token");
	from_server("+OK Logged in.\r\n");
	expect(&cout, "+OK Logged in.\r\n", "retry succeeded");
	check(done, "retry: relay");
	free(want);
	free(x2);

	/* the retry fails too: -ERR with the decoded reason */
	greeted(SESSION_TLS_SERVER);
	from_client("USER alice@example.com\r\nPASS pw\r\n");
	from_server("+ \r\n");
	ops->token_ok(mod, "alice@example.com", "stale");
	from_server("+ " CHALLENGE "\r\n-ERR [AUTH] Authentication "
	    "failed.\r\n");
	from_server("+ \r\n");
	ops->token_ok(mod, "alice@example.com", "stale2");
	rec_clear(&cout);
	from_server("+ " CHALLENGE "\r\n-ERR [AUTH] Authentication "
	    "failed.\r\n");
	expect(&cout, "-ERR [AUTH] Authentication failed. (server said: "
	    "{\"status\":\"401\",\"schemes\":\"Bearer\"})\r\n",
	    "second refusal: -ERR with the server's decoded reason");
	check(ntokget == 2 && !closed && !done,
	    "only one retry; the session stays open");
	check(nrejected == 1, "the refusal after the retry is audited as "
	    "upstream-rejected, once");
	check(nrevoked == 1, "the refusal after the retry is a token-revoked "
	    "event, once");

	/* the server closes after the refusal: a fresh connection */
	greeted(SESSION_TLS_SERVER);
	from_client("USER alice@example.com\r\nPASS pw\r\n");
	from_server("+ \r\n");
	ops->token_ok(mod, "alice@example.com", "stale");
	rec_clear(&sout);
	rec_clear(&cout);
	check(ops->server_closed(mod) == 1 && reconnects == 1,
	    "server closed after our response: reconnect");
	check(ntokget == 2 && strcmp(tok_rej, "stale") == 0,
	    "reconnect: token asked again with the rejected one");
	from_server("+OK new connection\r\n");
	expect(&cout, "", "the new greeting is not the client's");
	expect(&sout, "AUTH XOAUTH2\r\n", "AUTH XOAUTH2 on the new connection");
	from_server("+ \r\n");
	ops->token_ok(mod, "alice@example.com", "fresh");
	from_server("+OK\r\n");
	check(done, "login on the new connection");
	check(ops->server_closed(mod) == 0 || done,
	    "a closed server after login is the session's business");
}

static void
test_pipelining(void)
{
	greeted(SESSION_TLS_SERVER);
	from_client("NOOP\r\nUSER alice\r\n");
	expect(&sout, "NOOP\r\n", "pipelined NOOP forwarded");
	expect(&cout, "", "USER waits for the NOOP answer");
	from_server("+OK\r\n");
	expect(&cout, "+OK\r\n+OK\r\n", "answers in order");
	from_client("QUIT\r\n");
	check(closed, "QUIT after USER ends the session");

	greeted(SESSION_TLS_SERVER);
	from_client("CAPA\r\nAUTH\r\n");
	from_server("+OK\r\nSASL XOAUTH2\r\nUSER\r\n.\r\n");
	expect(&cout, "+OK\r\nSASL PLAIN\r\nUSER\r\n.\r\n+OK\r\nPLAIN\r\n"
	    ".\r\n", "bare AUTH answered after the pipelined CAPA");

	greeted(SESSION_TLS_SERVER);
	{
		char	line[SESSION_LINE_MAX + 2];

		memset(line, 'a', sizeof(line) - 1);
		line[sizeof(line) - 1] = '\0';
		from_client(line);
	}
	check(closed && strcmp(bye_reason, "Line too long") == 0,
	    "a line over 8 KiB ends the session");
}

static void
test_server_stls(void)
{
	start(&pop_ops, SESSION_SERVER_STARTTLS);
	from_server(GREETING);
	expect(&cout, "", "server_starttls: greeting held");
	expect(&sout, "STLS\r\n", "server_starttls: STLS sent");
	from_client("USER alice\r\n");
	expect(&cout, "", "client waits during STLS");
	from_server("+OK Begin TLS negotiation now.\r\n");
	check(tls_server_cb != NULL, "session_starttls_server called");
	tlsflags |= SESSION_TLS_SERVER;
	tls_server_cb(mod, 1, NULL);
	pump();
	expect(&cout, GREETING "+OK\r\n",
	    "greeting, then the pipelined USER, after TLS");
	from_client("PASS pw\r\n");
	expect(&sout, "AUTH XOAUTH2\r\n", "login over TLS");

	start(&pop_ops, SESSION_SERVER_STARTTLS);
	from_server(GREETING);
	from_client("USER alice\r\nPASS pw\r\n");
	from_server("-ERR STLS not here\r\n");
	check(closed && tls_server_cb == NULL, "STLS refused: session ends");
	expect(&cout, "-ERR The server refused STLS\r\n",
	    "STLS refused: the client gets an error");
	expect(&sout, "STLS\r\n", "STLS refused: no login upstream");

	start(&pop_ops, SESSION_SERVER_STARTTLS);
	from_server(GREETING);
	from_server("+OK go\r\nINJECTED\r\n");
	check(closed && tls_server_cb == NULL,
	    "data after the STLS reply: session ends");

	start(&pop_ops, SESSION_SERVER_STARTTLS);
	from_server(GREETING);
	from_client("USER alice\r\nPASS pw\r\n");
	from_server("+OK go\r\n");
	tls_server_cb(mod, 0, "certificate verify failed");
	check(closed, "handshake failure: session ends");
	expect(&cout, "-ERR TLS negotiation with the server failed\r\n",
	    "handshake failure: the client gets an error");
	expect(&sout, "STLS\r\n", "handshake failure: no login upstream");
	check(ntokget == 0, "handshake failure: no token asked");

	/* a retried login on a fresh connection does STLS again */
	greeted(SESSION_SERVER_STARTTLS | SESSION_TLS_SERVER);
	from_client("USER alice\r\nPASS pw\r\n");
	from_server("+ \r\n");
	ops->token_ok(mod, "alice", "stale");
	rec_clear(&sout);
	check(ops->server_closed(mod) == 1, "reconnect with server_starttls");
	from_server(GREETING);
	expect(&sout, "STLS\r\n", "STLS on the new connection");
	from_server("+OK\r\n");
	ops->token_ok(mod, "alice", "fresh");
	expect(&sout, "", "no token before the new handshake");
	tlsflags |= SESSION_TLS_SERVER;
	tls_server_cb(mod, 1, NULL);
	expect(&sout, "AUTH XOAUTH2\r\n", "AUTH XOAUTH2 after the handshake");
}

static void
test_local_stls(void)
{
	greeted(SESSION_TLS_SERVER | SESSION_LOCAL_STARTTLS);
	from_client("STLS\r\n");
	expect(&cout, "+OK Begin TLS negotiation\r\n", "local STLS answered");
	expect(&sout, "", "local STLS not forwarded");
	check(tls_client_cb != NULL, "session_starttls_client called");
	tlsflags |= SESSION_TLS_CLIENT;
	tls_client_cb(mod, 1, NULL);
	from_client("CAPA\r\n");
	from_server("+OK\r\nSASL XOAUTH2\r\n.\r\n");
	expect(&cout, "+OK\r\nSASL PLAIN\r\nUSER\r\n.\r\n",
	    "CAPA after TLS: no STLS");
	from_client("STLS\r\n");
	expect(&cout, "-ERR STLS not available\r\n", "second STLS refused");

	greeted(SESSION_TLS_SERVER);
	from_client("STLS\r\n");
	expect(&cout, "-ERR STLS not available\r\n",
	    "STLS without local_starttls refused");
	expect(&sout, "", "and not forwarded");

	greeted(SESSION_TLS_SERVER | SESSION_LOCAL_STARTTLS);
	from_client("STLS\r\nUSER x\r\n");
	check(closed && tls_client_cb == NULL,
	    "data pipelined after STLS: session ends");

	greeted(SESSION_TLS_SERVER | SESSION_LOCAL_STARTTLS);
	from_client("STLS\r\n");
	tls_client_cb(mod, 0, "handshake failed");
	check(closed, "client handshake failure: session ends");
}

static void
test_require_tls(void)
{
	unsigned int	f = SESSION_TLS_SERVER | SESSION_LOCAL_STARTTLS |
	    SESSION_REQUIRE_TLS_LOGIN;

	greeted(f);
	from_client("CAPA\r\n");
	from_server("+OK\r\nTOP\r\nSASL XOAUTH2\r\nUSER\r\n.\r\n");
	expect(&cout, "+OK\r\nTOP\r\nSTLS\r\n.\r\n",
	    "require_tls_login: CAPA offers STLS, no login before TLS");
	from_client("USER alice\r\n");
	expect(&cout, "-ERR [AUTH] TLS is required: use STLS first\r\n",
	    "require_tls_login: USER refused in clear");
	from_client("AUTH PLAIN AGEAYg==\r\n");
	expect(&cout, "-ERR [AUTH] TLS is required: use STLS first\r\n",
	    "require_tls_login: AUTH PLAIN refused in clear");
	check(ntokget == 0, "require_tls_login: nothing asked");
	from_client("STLS\r\n");
	tlsflags |= SESSION_TLS_CLIENT;
	tls_client_cb(mod, 1, NULL);
	rec_clear(&cout);
	from_client("USER alice\r\n");
	expect(&cout, "+OK\r\n", "require_tls_login: USER after TLS");
}

/* Lines a server splits otherwise: never forwarded, never traced. */
static void
test_framing(void)
{
	greeted(SESSION_TLS_SERVER);
	from_client("NOOP\nPASS pass1\r\n");
	check(closed && strcmp(bye_reason, "Line not ended by CRLF") == 0,
	    "bare LF: the session ends");
	expect(&sout, "", "bare LF: nothing forwarded");
	trace_clean("bare LF", "pass1");

	greeted(SESSION_TLS_SERVER);
	from_client("NOOP\rPASS pass2\r\n");
	check(closed, "bare CR: the session ends");
	expect(&sout, "", "bare CR: nothing forwarded");
	trace_clean("bare CR", "pass2");

	greeted(SESSION_TLS_SERVER);
	from_client("PASS\tpass3\r\n AUTH PLAIN AGFsaWNlAHBhc3M0\r\n"
	    "AUTH  PLAIN AGFsaWNlAHBhc3M0\r\n");
	expect(&cout, "-ERR Unknown command\r\n-ERR Unknown command\r\n"
	    "-ERR Unknown command\r\n", "TAB, leading or double space: -ERR");
	from_client("AUTH PLAIN\tAGFsaWNlAHBhc3M0\r\nPASS pass5\r\n");
	expect(&cout, "-ERR Invalid mechanism\r\n-ERR USER first\r\n",
	    "a TAB in the mechanism, PASS without USER: -ERR");
	expect(&sout, "", "none of them forwarded");
	check(ntokget == 0 && !closed, "no login, session open");
	trace_clean("TAB", "pass3");
	trace_clean("AUTH", "AGFsaWNlAHBhc3M0");
	trace_clean("PASS", "pass5");

	/* The client's own AUTH: a line only when the server asks. */
	greeted(SESSION_TLS_SERVER);
	from_client("AUTH FOO\r\nUSER alice\r\nPASS pass6\r\n");
	expect(&sout, "AUTH FOO\r\n", "forwarded AUTH, nothing after it");
	from_server("-ERR unknown mechanism\r\n");
	expect(&cout, "-ERR unknown mechanism\r\n+OK\r\n",
	    "its refusal, then USER answered by us");
	check(ntokget == 1 && strcmp(tok_pass, "pass6") == 0,
	    "the pipelined USER/PASS are ours");
	expect(&sout, "AUTH XOAUTH2\r\n", "no password upstream");

	greeted(SESSION_TLS_SERVER);
	from_client("AUTH FOO\r\nZm9v\r\n");
	expect(&sout, "AUTH FOO\r\n", "SASL line waits for \"+\"");
	from_server("+ \r\n");
	expect(&sout, "Zm9v\r\n", "then goes");
	from_server("+OK in\r\n");
	check(done, "their login: relay");
}

int
main(void)
{
	log_init(1, 0);
	test_capa();
	test_plain();
	test_userpass();
	test_local_failure();
	test_challenge();
	test_pipelining();
	test_server_stls();
	test_local_stls();
	test_require_tls();
	test_framing();
	return mock_finish();
}
