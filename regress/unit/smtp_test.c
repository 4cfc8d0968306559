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
 * The SMTP module without sockets: the EHLO rewrite (Gmail's reply
 * as example, a single-line reply, STARTTLS removed or offered), AUTH
 * PLAIN and AUTH LOGIN in both forms, the 535 replies, a cancelled
 * login answered by a multi-line 5xx, the error challenge and its one
 * retry, command state only (DATA bodies and BDAT chunks pass
 * untouched, pipelined replies stay in order), STARTTLS towards the
 * server and the client, require_tls_login, and a -vv trace without
 * credentials.
 *
 * DEPS: common/log.c proxy/sasl.c proxy/proto.c proxy/smtp.c regress/unit/mock_session.c common/secret.c common/base64.c
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

#define GREETING	"220 smtp.example.com ESMTP ready\r\n"
#define FAILMSG		"Email OAuth 2.0 Proxy: No config file entry found " \
			"for account bob@example.com"
#define CRED_INVALID	"535 5.7.8  Authentication credentials invalid."

#define GMAIL_EHLO \
	"250-smtp.gmail.com at your service\r\n" \
	"250-SIZE 35882577\r\n" \
	"250-8BITMIME\r\n" \
	"250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER " \
	"XOAUTH\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n" \
	"250-PIPELINING\r\n" \
	"250-CHUNKING\r\n" \
	"250 SMTPUTF8\r\n"
#define GMAIL_REWRITTEN \
	"250-smtp.gmail.com at your service\r\n" \
	"250-SIZE 35882577\r\n" \
	"250-8BITMIME\r\n" \
	"250-AUTH PLAIN LOGIN\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n" \
	"250-PIPELINING\r\n" \
	"250-CHUNKING\r\n" \
	"250 SMTPUTF8\r\n"

/* A greeted session after "EHLO client.example" (server: TLS). */
static void
ehloed(unsigned int flags)
{
	start(&smtp_ops, flags);
	from_server(GREETING);
	expect(&cout, GREETING, "greeting passes through");
	from_client("EHLO client.example\r\n");
	expect(&sout, "EHLO client.example\r\n", "EHLO forwarded");
	from_server("250-mx.example.com\r\n250-PIPELINING\r\n"
	    "250 AUTH XOAUTH2\r\n");
	if (flags & SESSION_LOCAL_STARTTLS)
		expect(&cout, "250-mx.example.com\r\n250-PIPELINING\r\n"
		    "250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n",
		    "EHLO reply rewritten, STARTTLS offered");
	else
		expect(&cout, "250-mx.example.com\r\n250-PIPELINING\r\n"
		    "250 AUTH PLAIN LOGIN\r\n", "EHLO reply rewritten");
}

static void
test_ehlo(void)
{
	start(&smtp_ops, SESSION_TLS_SERVER);
	from_server(GREETING);
	from_client("EHLO client.example\r\n");
	from_server(GMAIL_EHLO);
	expect(&cout, GREETING GMAIL_REWRITTEN,
	    "EHLO rewrite of Gmail's reply, byte for byte");

	from_client("EHLO again\r\n");
	from_server("250 smtp.example.com\r\n");
	expect(&cout, "250-smtp.example.com\r\n250 AUTH PLAIN LOGIN\r\n",
	    "single-line 250 reply rewritten");

	from_client("ehlo x\r\n");
	from_server("250-smtp.example.com\r\n250-STARTTLS\r\n250-SIZE 10\r\n"
	    "250 8BITMIME\r\n");
	expect(&cout, "250-smtp.example.com\r\n250-SIZE 10\r\n"
	    "250-8BITMIME\r\n250 AUTH PLAIN LOGIN\r\n",
	    "the server's STARTTLS removed, AUTH appended");

	from_client("HELO x\r\n");
	expect(&sout, "EHLO client.example\r\nEHLO again\r\nehlo x\r\n"
	    "HELO x\r\n", "EHLO and HELO forwarded as sent");
	from_server("250 smtp.example.com\r\n");
	expect(&cout, "250 smtp.example.com\r\n", "HELO reply untouched");

	from_client("EHLO bad..name\r\n");
	from_server("501-5.5.4 Syntax\r\n501 5.5.4 error\r\n");
	expect(&cout, "501-5.5.4 Syntax\r\n501 5.5.4 error\r\n",
	    "EHLO error reply forwarded as is");

	start(&smtp_ops, SESSION_TLS_SERVER | SESSION_LOCAL_STARTTLS);
	from_server(GREETING);
	rec_clear(&cout);
	from_client("EHLO c\r\n");
	from_server("250-smtp.example.com\r\n250-STARTTLS\r\n"
	    "250-AUTH=LOGIN PLAIN\r\n250 SIZE 10\r\n");
	expect(&cout, "250-smtp.example.com\r\n250-AUTH=LOGIN PLAIN\r\n"
	    "250-SIZE 10\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n",
	    "local_starttls: STARTTLS removed in place, offered at the end "
	    "(old-style AUTH= kept)");
}

/* The upstream half of a successful login (server says 334 first). */
static void
upstream_ok(const char *user, const char *pass, const char *what)
{
	char	*want, *x;

	check(ntokget == 1 && strcmp(tok_user, user) == 0 &&
	    strcmp(tok_pass, pass) == 0 && tok_rej[0] == '\0',
	    "%s: token asked for %s with the password", what, tok_user);
	expect(&sout, "AUTH XOAUTH2\r\n", "AUTH XOAUTH2 sent upstream");
	from_server("334 \r\n");
	expect(&sout, "", "no response before the token is there");
	ops->token_ok(mod, user, "tok1");
	x = sasl_xoauth2(user, "tok1");
	if (asprintf(&want, "%s\r\n", x) == -1)
		abort();
	expect(&sout, want, "XOAUTH2 response after 334");
	from_server("235 2.7.0 Accepted\r\n");
	expect(&cout, "235 2.7.0 Accepted\r\n", "235 relayed to the client");
	check(done && !closed, "%s: relay after 235", what);
	trace_clean(what, x);
	trace_clean(what, "tok1");
	trace_clean(what, pass);
	free(want);
	free(x);
}

static void
test_auth(void)
{
	char	*ir, *line;

	ir = b64("\0bob@example.com\0pw one", 23);
	ehloed(SESSION_TLS_SERVER);
	if (asprintf(&line, "AUTH PLAIN %s\r\n", ir) == -1)
		abort();
	from_client(line);
	upstream_ok("bob@example.com", "pw one", "AUTH PLAIN inline");
	trace_clean("AUTH PLAIN inline", ir);
	free(line);

	ehloed(SESSION_TLS_SERVER);
	from_client("auth plain\r\n");
	expect(&cout, "334 \r\n", "AUTH PLAIN continuation prompt");
	if (asprintf(&line, "%s\r\n", ir) == -1)
		abort();
	from_client(line);
	upstream_ok("bob@example.com", "pw one", "AUTH PLAIN continuation");
	trace_clean("AUTH PLAIN continuation", ir);
	free(line);
	free(ir);

	ehloed(SESSION_TLS_SERVER);
	from_client("AUTH LOGIN\r\n");
	expect(&cout, "334 VXNlcm5hbWU6\r\n", "AUTH LOGIN: Username prompt");
	from_client("Ym9iQGV4YW1wbGUuY29t\r\n");
	expect(&cout, "334 UGFzc3dvcmQ6\r\n", "AUTH LOGIN: Password prompt");
	from_client("cHcgdHdv\r\n");
	upstream_ok("bob@example.com", "pw two", "AUTH LOGIN, two prompts");
	trace_clean("AUTH LOGIN", "cHcgdHdv");

	ehloed(SESSION_TLS_SERVER);
	from_client("AUTH LOGIN Ym9iQGV4YW1wbGUuY29t\r\n");
	expect(&cout, "334 UGFzc3dvcmQ6\r\n",
	    "AUTH LOGIN with the username inline: Password prompt");
	from_client("cHcgdHdv\r\n");
	upstream_ok("bob@example.com", "pw two", "AUTH LOGIN, username inline");

	ehloed(SESSION_TLS_SERVER);
	from_client("AUTH LOGIN\r\n*\r\n");
	expect(&cout, "334 VXNlcm5hbWU6\r\n501 5.7.0 Authentication "
	    "cancelled\r\n", "AUTH LOGIN cancelled with *");
	from_client("AUTH PLAIN\r\n*\r\n");
	expect(&cout, "334 \r\n501 5.7.0 Authentication cancelled\r\n",
	    "AUTH PLAIN cancelled with *");
	from_client("AUTH LOGIN Ym9i\r\n\r\n");
	expect(&cout, "334 UGFzc3dvcmQ6\r\n" CRED_INVALID "\r\n",
	    "empty password: 535 with two spaces");
	from_client("AUTH PLAIN AGEA\r\n");
	expect(&cout, CRED_INVALID "\r\n", "PLAIN without a password: 535");
	from_client("AUTH\r\n");
	expect(&cout, "501 5.5.4 Syntax: AUTH mechanism\r\n", "bare AUTH");
	check(ntokget == 0 && !closed, "no token asked, session open");
	expect(&sout, "", "nothing sent upstream for refused logins");

	from_client("AUTH XOAUTH2 dXNlcj1i\r\n");
	expect(&sout, "AUTH XOAUTH2 dXNlcj1i\r\n",
	    "another mechanism is forwarded");
	trace_clean("forwarded AUTH", "dXNlcj1i");
	from_server("235 ok\r\n");
	check(done, "the client's own AUTH XOAUTH2 logs in");

	start(&smtp_ops, SESSION_TLS_SERVER);
	from_server(GREETING);
	rec_clear(&cout);
	from_client("AUTH PLAIN AGEAYg==\r\n");
	expect(&cout, "503 5.5.1 Send EHLO first\r\n", "AUTH before EHLO");
}

static void
test_local_failure(void)
{
	ehloed(SESSION_TLS_SERVER);
	from_client("AUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==\r\n");
	rec_clear(&sout);
	from_server("334 \r\n");
	ops->token_fail(mod, TOKEN_FAIL_UNKNOWN_ACCOUNT, FAILMSG);
	expect(&sout, "*\r\n", "local failure cancels with *");
	from_server("535-5.7.139 Authentication unsuccessful, the request "
	    "did not meet\r\n535-5.7.139 the criteria\r\n"
	    "535 5.7.139 [Hostname=X]\r\n");
	expect(&cout, CRED_INVALID " " FAILMSG "\r\n",
	    "multi-line 5xx after * swallowed: one 535 5.7.8 line");
	check(!closed && !done, "local failure: session stays open");

	from_client("AUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==\r\n");
	rec_clear(&sout);
	ops->token_fail(mod, TOKEN_FAIL_UNKNOWN_ACCOUNT, FAILMSG);
	expect(&sout, "", "no * before 334");
	from_server("334 \r\n");
	expect(&sout, "*\r\n", "* after 334");
	from_server("501 5.7.0 cancelled\r\n");
	expect(&cout, CRED_INVALID " " FAILMSG "\r\n",
	    "single-line 501 after *: local failure reply");

	/* An authorisation that waits for a person: 454 4.7.0. */
	from_client("AUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==\r\n");
	rec_clear(&sout);
	rec_clear(&cout);
	from_server("334 \r\n");
	ops->token_fail(mod, TOKEN_FAIL_AUTH_PENDING, FAILMSG);
	expect(&sout, "*\r\n", "pending: cancels with *");
	from_server("501 5.7.0 cancelled\r\n");
	expect(&cout, "454 4.7.0 " FAILMSG "\r\n",
	    "pending authorisation: 454 4.7.0 with tokend's words");

	from_client("AUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==\r\n");
	check(ntokget == 4, "a fourth login after three local failures");
	ntokget = 1;
	upstream_ok("bob@example.com", "pw", "login after local failures");
}

#define CHALLENGE	"eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIn0="

static void
test_challenge(void)
{
	ehloed(SESSION_TLS_SERVER);
	from_client("AUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==\r\n");
	from_server("334 \r\n");
	ops->token_ok(mod, "bob@example.com", "stale");
	rec_clear(&sout);
	from_server("334 " CHALLENGE "\r\n");
	expect(&sout, "\r\n", "error challenge answered with an empty line");
	from_server("535-5.7.8 Username and Password not accepted.\r\n"
	    "535 5.7.8 Learn more\r\n");
	expect(&cout, "", "the client sees neither challenge nor 535");
	check(ntokget == 2 && strcmp(tok_rej, "stale") == 0,
	    "token asked again with the rejected one");
	expect(&sout, "AUTH XOAUTH2\r\n", "retry: AUTH XOAUTH2 again");
	from_server("334 \r\n");
	ops->token_ok(mod, "bob@example.com", "fresh");
	from_server("235 2.7.0 Accepted\r\n");
	expect(&cout, "235 2.7.0 Accepted\r\n", "retry succeeded");
	check(done, "retry: relay");

	ehloed(SESSION_TLS_SERVER);
	from_client("AUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==\r\n");
	from_server("334 \r\n");
	ops->token_ok(mod, "bob@example.com", "stale");
	from_server("334 " CHALLENGE "\r\n535 5.7.8 no\r\n334 \r\n");
	ops->token_ok(mod, "bob@example.com", "stale2");
	from_server("334 " CHALLENGE "\r\n535-5.7.8 Username and Password "
	    "not accepted.\r\n535 5.7.8 Learn more\r\n");
	expect(&cout, "535-5.7.8 Username and Password not accepted.\r\n"
	    "535 5.7.8 Learn more (server said: {\"status\":\"401\","
	    "\"schemes\":\"Bearer\"})\r\n",
	    "second refusal: the server's reply with its decoded reason");
	check(ntokget == 2 && !closed && !done, "only one retry");
	check(nrejected == 1, "the refusal after the retry is audited as "
	    "upstream-rejected, once");
	check(nrevoked == 1, "the refusal after the retry is a token-revoked "
	    "event, once");

	/* the server closes: fresh connection, EHLO replayed */
	ehloed(SESSION_TLS_SERVER);
	from_client("AUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==\r\n");
	from_server("334 \r\n");
	ops->token_ok(mod, "bob@example.com", "stale");
	rec_clear(&sout);
	rec_clear(&cout);
	check(ops->server_closed(mod) == 1 && reconnects == 1,
	    "server closed after our response: reconnect");
	tlsflags |= SESSION_TLS_SERVER;	/* implicit TLS again */
	from_server(GREETING);
	expect(&sout, "EHLO client.example\r\n",
	    "the client's EHLO replayed on the new connection");
	from_server("250-x\r\n250 AUTH XOAUTH2\r\n");
	expect(&sout, "AUTH XOAUTH2\r\n", "then AUTH XOAUTH2");
	expect(&cout, "", "the client sees nothing of the new connection");
	from_server("334 \r\n");
	ops->token_ok(mod, "bob@example.com", "fresh");
	from_server("235 ok\r\n");
	check(done, "login on the new connection");
}

#define BODY \
	"Subject: test\r\n" \
	"\r\n" \
	"AUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==\r\n" \
	"EHLO x\r\n" \
	"STARTTLS\r\n" \
	"..dot\r\n" \
	".\r\n"

static void
test_body(void)
{
	ehloed(SESSION_TLS_SERVER);
	from_client("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
	    "DATA\r\n");
	expect(&sout, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>"
	    "\r\nDATA\r\n", "pipelined MAIL, RCPT, DATA forwarded");
	from_server("250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n");
	expect(&cout, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n",
	    "their replies forwarded");
	/* in pieces, the terminator split across reads */
	from_client("Subject: test\r\n\r\nAUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBw");
	from_client("dw==\r\nEHLO x\r\nSTARTTLS\r\n..dot\r\n.\r");
	from_client("\nAUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==\r\n");
	expect(&sout, BODY, "DATA body passed untouched, byte for byte");
	expect(&cout, "", "no body line answered locally");
	check(ntokget == 0, "no body line taken as a login");
	from_server("250 2.0.0 queued\r\n");
	expect(&cout, "250 2.0.0 queued\r\n", "the message's reply");
	check(ntokget == 1, "command state again after the lone dot");
	expect(&sout, "AUTH XOAUTH2\r\n", "AUTH after the body intercepted");

	/* A "." line next to a bare LF: some servers end the data there. */
	ehloed(SESSION_TLS_SERVER);
	from_client("DATA\r\n");
	from_server("354 go ahead\r\n");
	from_client("x\r\n.\nAUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==\r\n");
	check(closed, "\".\" then a bare LF: the session ends");
	check(strstr(rec_str(&sout), "AUTH PLAIN") == NULL,
	    "\".\" then a bare LF: what follows is not forwarded");
	ehloed(SESSION_TLS_SERVER);
	from_client("DATA\r\n");
	from_server("354 go ahead\r\n");
	from_client("x\n.\r\nAUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==\r\n");
	check(closed, "a bare LF then \".\": the session ends");
	check(strstr(rec_str(&sout), "AUTH PLAIN") == NULL,
	    "a bare LF then \".\": what follows is not forwarded");
	ehloed(SESSION_TLS_SERVER);
	from_client("DATA\r\n");
	from_server("354 go ahead\r\n");
	rec_clear(&sout);
	from_client("a\nb\r\n..\n\r\n.\r\n");
	expect(&sout, "a\nb\r\n..\n\r\n.\r\n",
	    "bare LFs elsewhere in the body pass untouched");
	check(!closed, "and the message ends at CRLF.CRLF");

	ehloed(SESSION_TLS_SERVER);
	from_client("DATA\r\n");
	from_server("554 no valid recipients\r\n");
	from_client("AUTH LOGIN\r\n");
	expect(&cout, "554 no valid recipients\r\n334 VXNlcm5hbWU6\r\n",
	    "DATA refused: command state continues");

	ehloed(SESSION_TLS_SERVER);
	from_client("BDAT 20\r\nAUTH LOGIN\r\nEHLO x\r\nBDAT 14 LAST\r\n"
	    "AUTH PLAIN =\r\n");
	expect(&sout, "BDAT 20\r\nAUTH LOGIN\r\nEHLO x\r\nBDAT 14 LAST\r\n"
	    "AUTH PLAIN =\r\n", "BDAT chunks passed untouched");
	expect(&cout, "", "no chunk line answered locally");
	from_server("250 20 octets\r\n250 message\r\n");
	expect(&cout, "250 20 octets\r\n250 message\r\n", "BDAT replies");
	from_client("BDAT 0 LAST\r\nAUTH LOGIN\r\n");
	from_server("250 ok\r\n");
	expect(&cout, "250 ok\r\n334 VXNlcm5hbWU6\r\n",
	    "AUTH answered after the pipelined BDAT's reply");

	ehloed(SESSION_TLS_SERVER);
	from_client("RSET\r\nAUTH PLAIN\r\n");
	expect(&cout, "", "AUTH waits for the pipelined RSET's reply");
	from_server("250 2.0.0 ok\r\n");
	expect(&cout, "250 2.0.0 ok\r\n334 \r\n", "then in order");
}

static void
test_server_starttls(void)
{
	start(&smtp_ops, SESSION_SERVER_STARTTLS);
	from_server(GREETING);
	expect(&cout, GREETING, "server_starttls: greeting passes through");
	from_client("EHLO client.example\r\n");
	expect(&sout, "EHLO client.example\r\n", "EHLO before STARTTLS");
	from_server("250-smtp.example.com\r\n250-STARTTLS\r\n"
	    "250 AUTH PLAIN\r\n");
	expect(&cout, "", "the pre-TLS EHLO reply is dropped");
	expect(&sout, "STARTTLS\r\n", "STARTTLS sent");
	from_server("220 2.0.0 Ready\r\n");
	check(tls_server_cb != NULL, "session_starttls_server called");
	tlsflags |= SESSION_TLS_SERVER;
	tls_server_cb(mod, 1, NULL);
	expect(&sout, "EHLO client.example\r\n", "EHLO replayed after TLS");
	from_server(GMAIL_EHLO);
	expect(&cout, GMAIL_REWRITTEN, "the TLS EHLO reply, rewritten, "
	    "answers the client's EHLO");
	from_client("AUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==\r\n");
	upstream_ok("bob@example.com", "pw", "login after server STARTTLS");

	start(&smtp_ops, SESSION_SERVER_STARTTLS);
	from_server(GREETING);
	rec_clear(&cout);
	from_client("MAIL FROM:<a@example.com>\r\nNOOP\r\n");
	expect(&cout, "503 5.5.1 Send EHLO first\r\n",
	    "server_starttls: MAIL before EHLO answered locally");
	expect(&sout, "NOOP\r\n", "and not sent upstream in clear");
	from_server("250 ok\r\n");
	rec_clear(&cout);
	from_client("HELO client.example\r\n");
	expect(&sout, "EHLO client.example\r\n", "HELO: EHLO before STARTTLS");
	from_server("250 ok\r\n220 go\r\n");
	tlsflags |= SESSION_TLS_SERVER;
	tls_server_cb(mod, 1, NULL);
	expect(&sout, "STARTTLS\r\nHELO client.example\r\n",
	    "HELO replayed after TLS");

	start(&smtp_ops, SESSION_SERVER_STARTTLS);
	from_server(GREETING);
	rec_clear(&cout);
	from_client("EHLO c\r\n");
	from_server("250 ok\r\n454 4.7.0 TLS not available\r\n");
	check(closed && tls_server_cb == NULL,
	    "server refuses STARTTLS: session ends");
	expect(&cout, "421 4.3.2 The server refused STARTTLS\r\n",
	    "the client gets an error");
	expect(&sout, "EHLO c\r\nSTARTTLS\r\n", "no login upstream");

	start(&smtp_ops, SESSION_SERVER_STARTTLS);
	from_server(GREETING);
	from_client("EHLO c\r\n");
	from_server("250 ok\r\n220 go\r\n250 injected\r\n");
	check(closed && tls_server_cb == NULL,
	    "data after the 220: session ends");

	start(&smtp_ops, SESSION_SERVER_STARTTLS);
	from_server(GREETING);
	from_client("EHLO c\r\nAUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==\r\n");
	from_server("250 ok\r\n220 go\r\n");
	tls_server_cb(mod, 0, "certificate verify failed");
	check(closed && ntokget == 0, "handshake failure: session ends, "
	    "no token asked");
	expect(&sout, "EHLO c\r\nSTARTTLS\r\n",
	    "handshake failure: nothing else upstream");

	/* a retried login on a fresh connection redoes STARTTLS */
	ehloed(SESSION_SERVER_STARTTLS | SESSION_TLS_SERVER);
	from_client("AUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==\r\n");
	from_server("334 \r\n");
	ops->token_ok(mod, "bob@example.com", "stale");
	rec_clear(&sout);
	check(ops->server_closed(mod) == 1, "reconnect");
	from_server(GREETING "250 ok\r\n220 go\r\n");
	expect(&sout, "EHLO client.example\r\nSTARTTLS\r\n",
	    "EHLO and STARTTLS on the new connection");
	ops->token_ok(mod, "bob@example.com", "fresh");
	expect(&sout, "", "nothing before the handshake");
	tlsflags |= SESSION_TLS_SERVER;
	tls_server_cb(mod, 1, NULL);
	from_server("250 ok\r\n");
	expect(&sout, "EHLO client.example\r\nAUTH XOAUTH2\r\n",
	    "EHLO replayed, then AUTH XOAUTH2");
	expect(&cout, "", "the client sees nothing of it");
}

static void
test_local_starttls(void)
{
	start(&smtp_ops, SESSION_TLS_SERVER | SESSION_LOCAL_STARTTLS);
	from_server(GREETING);
	from_client("EHLO c\r\n");
	from_server("250-smtp.example.com\r\n250 AUTH XOAUTH2\r\n");
	expect(&cout, GREETING "250-smtp.example.com\r\n"
	    "250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n",
	    "local_starttls: STARTTLS offered");
	from_client("STARTTLS\r\n");
	expect(&cout, "220 Ready to start TLS\r\n", "STARTTLS answered");
	check(tls_client_cb != NULL, "session_starttls_client called");
	tlsflags |= SESSION_TLS_CLIENT;
	tls_client_cb(mod, 1, NULL);
	from_client("AUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==\r\n");
	expect(&cout, "503 5.5.1 Send EHLO first\r\n",
	    "EHLO forgotten after TLS (RFC 3207)");
	rec_clear(&sout);
	from_client("EHLO c\r\n");
	expect(&sout, "EHLO c\r\n", "second EHLO forwarded");
	from_server("250-smtp.example.com\r\n250 AUTH XOAUTH2\r\n");
	expect(&cout, "250-smtp.example.com\r\n250 AUTH PLAIN LOGIN\r\n",
	    "EHLO after TLS: no STARTTLS");
	from_client("STARTTLS\r\n");
	expect(&cout, "454 STARTTLS not available\r\n",
	    "second STARTTLS refused");
	check(closed, "and the session ends");

	ehloed(SESSION_TLS_SERVER);
	from_client("STARTTLS\r\n");
	expect(&cout, "454 STARTTLS not available\r\n",
	    "STARTTLS without local_starttls refused");
	expect(&sout, "", "and not forwarded");

	ehloed(SESSION_TLS_SERVER | SESSION_LOCAL_STARTTLS);
	from_client("STARTTLS\r\nEHLO x\r\n");
	check(closed && tls_client_cb == NULL,
	    "data pipelined after STARTTLS: session ends");
}

static void
test_require_tls(void)
{
	unsigned int	f = SESSION_TLS_SERVER | SESSION_LOCAL_STARTTLS |
	    SESSION_REQUIRE_TLS_LOGIN;

	start(&smtp_ops, f);
	from_server(GREETING);
	rec_clear(&cout);
	from_client("EHLO c\r\n");
	from_server("250-smtp.example.com\r\n250-AUTH XOAUTH2\r\n"
	    "250 SIZE 1\r\n");
	expect(&cout, "250-smtp.example.com\r\n250-SIZE 1\r\n"
	    "250 STARTTLS\r\n", "require_tls_login: no AUTH before TLS");
	from_client("AUTH LOGIN\r\n");
	expect(&cout, "530 5.7.0 Must issue a STARTTLS command first\r\n",
	    "require_tls_login: AUTH refused in clear");
	from_client("STARTTLS\r\n");
	tlsflags |= SESSION_TLS_CLIENT;
	tls_client_cb(mod, 1, NULL);
	rec_clear(&cout);
	from_client("EHLO c\r\n");
	from_server("250-smtp.example.com\r\n250 AUTH XOAUTH2\r\n");
	from_client("AUTH LOGIN\r\n");
	expect(&cout, "250-smtp.example.com\r\n250 AUTH PLAIN LOGIN\r\n"
	    "334 VXNlcm5hbWU6\r\n", "require_tls_login: AUTH after TLS");
}

/* Lines a server splits otherwise: never forwarded, never traced. */
static void
test_framing(void)
{
	/* server_starttls: nothing but QUIT, NOOP, RSET in clear. */
	start(&smtp_ops, SESSION_SERVER_STARTTLS);
	from_server(GREETING);
	rec_clear(&cout);
	from_client("NOOP \nAUTH PLAIN AGFsaWNlAHBhc3Mx\r\n");
	check(closed && strcmp(bye_reason, "Line not ended by CRLF") == 0,
	    "bare LF before EHLO: the session ends");
	expect(&sout, "", "bare LF: nothing in clear");
	trace_clean("bare LF", "AGFsaWNlAHBhc3Mx");

	start(&smtp_ops, SESSION_SERVER_STARTTLS);
	from_server(GREETING);
	rec_clear(&cout);
	from_client("NOOP AUTH PLAIN AGFsaWNlAHBhc3My\r\nNOOP\r\n");
	expect(&cout, "503 5.5.1 Send EHLO first\r\n",
	    "NOOP with an argument before STARTTLS: answered locally");
	expect(&sout, "NOOP\r\n", "only a bare NOOP goes in clear");

	ehloed(SESSION_TLS_SERVER);
	from_client("NOOP\rAUTH PLAIN AGFsaWNlAHBhc3Mz\r\n");
	check(closed, "bare CR: the session ends");
	expect(&sout, "", "bare CR: nothing forwarded");
	trace_clean("bare CR", "AGFsaWNlAHBhc3Mz");

	ehloed(SESSION_TLS_SERVER);
	from_client("AUTH  PLAIN AGFsaWNlAHBhc3M0\r\n"
	    "AUTH\tPLAIN AGFsaWNlAHBhc3M0\r\n");
	expect(&cout, "500 5.5.2 Syntax error, command unrecognized\r\n"
	    "500 5.5.2 Syntax error, command unrecognized\r\n",
	    "double space, TAB: 500");
	from_client("AUTH PLAIN\tAGFsaWNlAHBhc3M0\r\n");
	expect(&cout, "501 5.5.4 Syntax: AUTH mechanism\r\n",
	    "a TAB in the mechanism: 501");
	expect(&sout, "", "none of them forwarded");
	check(ntokget == 0 && !closed, "no login, session open");
	trace_clean("AUTH", "AGFsaWNlAHBhc3M0");

	/* The client's own AUTH: a line only when the server asks. */
	ehloed(SESSION_TLS_SERVER);
	from_client("AUTH FOO\r\nAUTH PLAIN AGFsaWNlAHBhc3M1\r\n");
	expect(&sout, "AUTH FOO\r\n", "forwarded AUTH, nothing after it");
	from_server("504 5.5.4 Unrecognized authentication type\r\n");
	check(ntokget == 1 && strcmp(tok_pass, "pass5") == 0,
	    "after its refusal the pipelined AUTH PLAIN is ours");
	expect(&sout, "AUTH XOAUTH2\r\n", "no password upstream");
	trace_clean("forwarded AUTH", "AGFsaWNlAHBhc3M1");

	ehloed(SESSION_TLS_SERVER);
	from_client("AUTH FOO\r\nZm9v\r\n");
	expect(&sout, "AUTH FOO\r\n", "SASL line waits for 334");
	from_server("334 \r\n");
	expect(&sout, "Zm9v\r\n", "then goes");
	from_server("235 2.7.0 ok\r\n");
	check(done, "their login: relay");
}

int
main(void)
{
	log_init(1, 0);
	test_ehlo();
	test_auth();
	test_local_failure();
	test_challenge();
	test_body();
	test_server_starttls();
	test_local_starttls();
	test_require_tls();
	test_framing();
	return mock_finish();
}
