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
 * IMAP before login as a hostile client writes it: commands whose tags
 * repeat (an earlier command's answer never passes for a login's),
 * lines a server would split otherwise than the proxy (bare LF, bare
 * CR, two spaces, a TAB, "UID LOGIN"), forwarded literals the server
 * may refuse or that are too long, and the greeting rebuilt after the
 * server's STARTTLS when it lists no capabilities.  Every byte each
 * side gets is checked, and the -vv trace never shows a password.
 *
 * DEPS: proxy/imap.c proxy/imap_cap.c proxy/proto.c proxy/sasl.c regress/unit/mock_session.c common/log.c common/secret.c common/base64.c
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

#define GREETING	"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n"

static void
greeted(unsigned int flags)
{
	start(&imap_ops, flags);
	from_server(GREETING);
	rec_clear(&cout);
}

static char *
xoauth2_cmd(const char *tag, const char *user, const char *token)
{
	char	*b, *r;

	b = sasl_xoauth2(user, token);
	if (asprintf(&r, "%s AUTHENTICATE XOAUTH2 %s\r\n", tag, b) == -1)
		abort();
	free(b);
	return r;
}

/* Answers are matched to commands, not to tags alone. */
static void
test_tags(void)
{
	char	*want;

	/* A repeated tag: the CAPABILITY's OK is not the AUTHENTICATE's. */
	greeted(0);
	from_client("a CAPABILITY\r\na AUTHENTICATE FOO\r\n");
	expect(&sout, "a CAPABILITY\r\n",
	    "AUTHENTICATE waits for the answer to the CAPABILITY before it");
	from_server("* CAPABILITY IMAP4rev1\r\na OK done\r\n");
	check(!done, "the CAPABILITY's OK is not a login");
	expect(&cout, "* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR\r\na OK done\r\n",
	    "the client gets the CAPABILITY answer");
	expect(&sout, "a AUTHENTICATE FOO\r\n",
	    "then the AUTHENTICATE goes upstream");
	from_server("a NO [CANNOT] unsupported mechanism\r\n");
	check(!done && !closed, "its refusal: no relay, session open");
	from_client("b NOOP\r\n");
	expect(&sout, "b NOOP\r\n", "commands flow again after it");

	/* A repeated tag and a tokend faster than the server. */
	greeted(0);
	from_client("a NOOP\r\na LOGIN alice secret\r\n");
	expect(&sout, "a NOOP\r\n", "NOOP forwarded");
	check(ntokget == 0, "LOGIN waits for the NOOP's answer");
	if (ntokget == 1) {
		/* tokend answers before the server: the old behaviour */
		ops->token_ok(mod, "alice", "TOK");
		pump();
	}
	rec_clear(&sout);
	from_server("a OK NOOP completed\r\n");
	check(!done, "the NOOP's OK is not the XOAUTH2 success");
	expect(&cout, "a OK NOOP completed\r\n", "the NOOP's OK forwarded");
	check(ntokget == 1 && strcmp(tok_pass, "secret") == 0,
	    "then the LOGIN asks tokend");
	ops->token_ok(mod, "alice", "TOK");
	pump();
	want = xoauth2_cmd("a", "alice", "TOK");
	expect(&sout, want, "XOAUTH2 once no earlier answer is due");
	free(want);
	from_server("a OK logged in\r\n");
	check(done, "the real answer logs in");
	trace_clean("repeated tags", "secret");
}

/* Lines a server splits otherwise are never forwarded nor traced. */
static void
test_framing(void)
{
	greeted(0);
	from_client("x NOOP\na LOGIN alice pass1\r\n");
	check(closed && strcmp(rec_str(&cout),
	    "* BYE Line not ended by CRLF\r\n") == 0,
	    "bare LF: BYE");
	expect(&sout, "", "bare LF: nothing forwarded");
	trace_clean("bare LF", "pass1");

	greeted(0);
	from_client("x NOOP\ra LOGIN alice pass2\r\n");
	check(closed, "bare CR: BYE");
	expect(&sout, "", "bare CR: nothing forwarded");
	trace_clean("bare CR", "pass2");

	greeted(0);
	from_client("x NOOP\r");
	check(!closed && sout.len == 0, "a CR at the end waits for more");
	from_client("\n");
	expect(&sout, "x NOOP\r\n", "then CRLF ends the line");

	greeted(0);
	from_client("a  LOGIN alice pass3\r\n");
	expect(&cout, "a BAD Invalid command\r\n", "two spaces: BAD");
	from_client("a LOGIN\talice pass4\r\n");
	expect(&cout, "a BAD Unknown command or not allowed before login\r\n",
	    "LOGIN<TAB>: BAD");
	from_client("a UID LOGIN alice pass5\r\n");
	expect(&cout, "a BAD Unknown command or not allowed before login\r\n",
	    "UID LOGIN: BAD");
	from_client("a AUTHENTICATE  PLAIN AGFsaWNlAHBhc3M2\r\n");
	expect(&cout, "a BAD Invalid AUTHENTICATE arguments\r\n",
	    "AUTHENTICATE with two spaces: BAD");
	from_client("a AUTHENTICATE X\tAGFsaWNlAHBhc3M2\r\n");
	expect(&cout, "a BAD Invalid AUTHENTICATE arguments\r\n",
	    "AUTHENTICATE mechanism with a TAB: BAD");
	from_client("a SELECT INBOX\r\n");
	expect(&cout, "a BAD Unknown command or not allowed before login\r\n",
	    "a command of the authenticated state: BAD");
	from_client("\tLOGIN alice pass7\r\n");
	expect(&cout, "* BAD Invalid tag\r\n", "no tag: BAD");
	expect(&sout, "", "none of them forwarded");
	check(ntokget == 0 && !closed, "no login, session open");
	trace_clean("two spaces", "pass3");
	trace_clean("TAB", "pass4");
	trace_clean("UID LOGIN", "pass5");
	trace_clean("AUTHENTICATE", "AGFsaWNlAHBhc3M2");
	trace_clean("no tag", "pass7");
	from_client("b ID (\"name\" \"x\")\r\n");
	expect(&sout, "b ID (\"name\" \"x\")\r\n", "ID is forwarded");
}

/* A forwarded command's literal waits for the server's "+". */
static void
test_literal(void)
{
	greeted(0);
	from_client("t ID {22}\r\n");
	expect(&sout, "t ID {22}\r\n", "command with a literal forwarded");
	from_client("a LOGIN alice secret\r\n");
	expect(&sout, "", "no literal bytes before the server's \"+\"");
	from_server("t BAD literals not accepted here\r\n");
	expect(&cout, "t BAD literals not accepted here\r\n",
	    "the refusal reaches the client");
	check(ntokget == 1 && strcmp(tok_pass, "secret") == 0,
	    "refused literal: the next line is a LOGIN, read by us");
	expect(&sout, "", "and never sent upstream as literal data");
	trace_clean("refused literal", "secret");

	greeted(0);
	from_client("t ID (\"name\" {5}\r\n");
	from_server("+ go ahead\r\n");
	expect(&cout, "+ go ahead\r\n", "the server's go-ahead is the client's");
	from_client("hello \"v\")\r\n");
	expect(&sout, "t ID (\"name\" {5}\r\nhello \"v\")\r\n",
	    "accepted literal and the rest of the line forwarded");
	from_server("* ID NIL\r\nt OK done\r\n");
	from_client("a LOGIN alice pw\r\n");
	check(ntokget == 1, "LOGIN after the command is answered");

	greeted(0);
	from_client("t ID {4097}\r\n");
	check(closed && strcmp(bye_reason, "Literal too long") == 0,
	    "a 4097-byte literal before login: BYE");
	expect(&sout, "", "and not forwarded");

	greeted(0);
	from_client("t ID {1000000000000}\r\n");
	check(closed, "a 10^12-byte literal: BYE");
	expect(&sout, "", "and not forwarded");

	greeted(0);
	from_client("t ID {20+}\r\na LOGIN alice secret\r\n");
	check(closed, "a non-synchronising literal before login: BYE");
	expect(&sout, "", "and not forwarded");
	trace_clean("LITERAL+", "secret");

	/* A server literal: its bytes are not lines, nor its rest a tag. */
	greeted(0);
	from_client("a NOOP\r\n");
	from_server("* ID (\"x\" {3}\r\nabc)\r\n");
	from_client("b LOGIN alice pw\r\n");
	check(ntokget == 0, "a server line after its literal is no answer");
	from_server("a OK\r\n");
	check(ntokget == 1, "the tagged answer is");
}

/* server_starttls and a CAPABILITY over TLS with no untagged line. */
static void
test_greeting(void)
{
	start(&imap_ops, SESSION_SERVER_STARTTLS);
	from_server("* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n");
	expect(&sout, "epx2 STARTTLS\r\n", "STARTTLS first");
	from_server("epx2 OK go\r\n");
	check(tls_server_cb != NULL, "handshake started");
	tlsflags |= SESSION_TLS_SERVER;
	tls_server_cb(mod, 1, NULL);
	pump();
	expect(&sout, "epx3 CAPABILITY\r\n", "capabilities asked over TLS");
	from_server("epx3 OK done\r\n");
	expect(&cout, "* OK hi\r\n", "greeting rebuilt with its CRLF");
	check(!closed, "session open");
}

int
main(void)
{
	log_init(1, 0);
	log_procinit("imap_wire_test");
	test_tags();
	test_framing();
	test_literal();
	test_greeting();
	return mock_finish();
}
