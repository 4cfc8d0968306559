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
 * The pre-login pieces the IMAP, POP and SMTP modules have in common
 * (proto.h).  Nothing here knows a protocol's replies: a module asks,
 * and writes its own status lines.
 */

#include <sys/types.h>

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "proto.h"
#include "sasl.h"
#include "starttls.h"

#define SERVER_LINE_MAX	65536
#define REASON_MAX	256
#define RECONNECT_MAX	2	/* fresh upstream connections per login */


/* Offset of the CRLF ending the first line, or -1. */
static ssize_t
proto_find_crlf(const uint8_t *buf, size_t len)
{
	const uint8_t	*q = buf;

	while ((q = memchr(q, '\r', len - (q - buf))) != NULL) {
		if ((size_t)(q - buf) + 1 < len && q[1] == '\n')
			return q - buf;
		q++;
	}
	return -1;
}

/*
 * Offset of the first line end a server could see in a client's bytes:
 * the first LF, or the first CR (servers take a bare LF, some a bare
 * CR, as the end of a command).  -1 while there is none, or while a CR
 * ends the bytes.  *bare is set when that end is not a CRLF.
 */
static ssize_t
proto_find_eol(const uint8_t *buf, size_t len, int *bare)
{
	size_t	i;

	*bare = 0;
	for (i = 0; i < len; i++) {
		if (buf[i] == '\n') {
			*bare = 1;
			return i;
		}
		if (buf[i] == '\r') {
			if (i + 1 == len)
				return -1;
			*bare = buf[i + 1] != '\n';
			return i;
		}
	}
	return -1;
}

/*
 * The length of the client's first line, CRLF included; 0 while it is
 * not whole; -1 when it is longer than SESSION_LINE_MAX, or ends in a
 * bare LF or CR (the session is ended: a server would see two commands
 * where we see one).  What an input callback returns, either way.
 */
ssize_t
proto_client_line(struct session *s, const uint8_t *buf, size_t len)
{
	ssize_t	eol;
	int	bare;

	eol = proto_find_eol(buf, len, &bare);
	if ((eol == -1 && len >= SESSION_LINE_MAX) ||
	    (eol != -1 && (size_t)eol + 2 > SESSION_LINE_MAX)) {
		session_bye(s, "Line too long");
		return -1;
	}
	if (eol != -1 && bare) {
		session_bye(s, "Line not ended by CRLF");
		return -1;
	}
	return eol == -1 ? 0 : eol + 2;
}

/*
 * The same for a server line, traced once whole: a server is allowed
 * longer lines (capabilities); when over, the client gets the bye.
 */
ssize_t
proto_server_line(struct session *s, const uint8_t *buf, size_t len)
{
	ssize_t	eol = proto_find_crlf(buf, len);

	if (eol == -1) {
		if (len < SERVER_LINE_MAX)
			return 0;
		log_warnx("session %u: server line longer than %d bytes",
		    session_id(s), SERVER_LINE_MAX);
		session_bye(s, "Server unavailable");
		return -1;
	}
	session_trace(s, "S>", buf, eol);
	return eol + 2;
}

/* Is the line "word" or "word SP ..." (case-insensitive)? */
int
proto_verb_is(const uint8_t *line, size_t len, const char *word)
{
	size_t	wlen = strlen(word);

	return len >= wlen && strncasecmp((const char *)line, word,
	    wlen) == 0 && (len == wlen || line[wlen] == ' ');
}

/*
 * Does the line start with a command word (ASCII letters, digits, "-")
 * ended by SP or the end of the line?  Anything else (a TAB, a leading
 * or a second space, a control) a server may split otherwise than we
 * do, so it is answered locally, never forwarded.
 */
int
proto_verb_valid(const uint8_t *line, size_t len)
{
	size_t	i;

	for (i = 0; i < len && line[i] != ' '; i++)
		if (!isalnum(line[i]) && line[i] != '-')
			return 0;
	return i > 0 && (i == len || i + 1 == len || line[i + 1] != ' ');
}

/* A SASL mechanism name (RFC 4422 3.1): 1 to 20 of A-Z 0-9 - _. */
int
proto_mech_valid(const uint8_t *mech, size_t len)
{
	size_t	i;

	if (len == 0 || len > 20)
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum(mech[i]) && mech[i] != '-' && mech[i] != '_')
			return 0;
	return 1;
}

/* Is the line (or word) exactly w, case aside? */
int
proto_word_is(const uint8_t *line, size_t len, const char *w)
{
	return len == strlen(w) &&
	    strncasecmp((const char *)line, w, len) == 0;
}

/* "keep" bytes of the line, then the censor mark: for -vv only. */
void
proto_trace_censored(struct session *s, const char *dir,
    const uint8_t *line, size_t keep)
{
	char	*t;

	if (!session_tracing())
		return;
	if (asprintf(&t, "%.*s%s%s", (int)keep, line, keep ? " " : "",
	    PROTO_CENSOR) != -1) {
		session_trace(s, dir, t, strlen(t));
		free(t);
	}
}

/* The client's own SASL exchange: not ours to read, nor to trace. */
void
proto_forward_secret(struct session *s, const uint8_t *buf, size_t len)
{
	session_trace(s, "C>", PROTO_CENSOR, strlen(PROTO_CENSOR));
	session_server_write(s, buf, len);
}

/* One line of ours to the server, traced. */
void
proto_send_line(struct session *s, const char *line)
{
	session_server_printf(s, "%s\r\n", line);
	session_trace(s, ">S", line, strlen(line));
}

/* A local failure's status line, with tokend's message if there is one. */
void
proto_fail_reply(struct session *s, const char *status, const char *msg)
{
	if (msg != NULL)
		session_client_printf(s, "%s %s\r\n", status, msg);
	else
		session_client_printf(s, "%s\r\n", status);
}

/* The server's final refusal, with its challenge's reason if it gave one. */
void
proto_reply_refused(struct session *s, const uint8_t *line, size_t len,
    const char *reason)
{
	if (reason != NULL)
		session_client_printf(s, "%.*s (server said: %s)\r\n",
		    (int)len, line, reason);
	else
		session_client_write(s, line, len + 2);
}

void
proto_log_retry(struct session *s, const char *user, const char *reason)
{
	log_info("session %u: server rejected the token for %s%s%s, "
	    "retrying with a new one", session_id(s), user,
	    reason ? ": " : "", reason ? reason : "");
}

void
proto_log_refused(struct session *s, const char *user, const uint8_t *text,
    size_t len, const char *reason)
{
	log_info("session %u: server refused the login of %s: %.*s%s%s",
	    session_id(s), user ? user : "?", (int)len, text,
	    reason ? " " : "", reason ? reason : "");
}

/* The server took the token: the client sees its answer, then relay. */
void
proto_accepted(struct session *s, const uint8_t *line, size_t len)
{
	session_client_write(s, line, len + 2);
	log_debug("session %u: upstream accepted the token", session_id(s));
	session_login_done(s);
}

/* The server will not do XOAUTH2 at all: nothing to retry, the end. */
void
proto_no_xoauth2(struct session *s, const uint8_t *line, size_t len)
{
	session_client_write(s, line, len + 2);
	log_warnx("session %u: server refused AUTH XOAUTH2: %.*s",
	    session_id(s), (int)len, line);
	session_login_rejected(s);
	session_close(s, "server refused AUTH XOAUTH2");
}

/* Logins only on a TLS client side, when the section says so. */
int
proto_require_tls(struct session *s)
{
	unsigned int	f = session_tls_flags(s);

	return (f & SESSION_REQUIRE_TLS_LOGIN) && !(f & SESSION_TLS_CLIENT);
}

/* Is the upstream still plain where server_starttls wants TLS? */
int
proto_server_tls_due(struct session *s)
{
	unsigned int	f = session_tls_flags(s);

	return (f & SESSION_SERVER_STARTTLS) && !(f & SESSION_TLS_SERVER);
}

/* Start TLS with the client after the module's "ready" reply; -1: ended. */
int
proto_client_starttls(struct session *s,
    void (*done)(void *, int, const char *))
{
	if (session_starttls_client(s, done) == -1) {
		session_close(s, "cannot start TLS with the client");
		return -1;
	}
	return 0;
}

/* The client handshake's end; -1 when it failed (nothing left to say). */
int
proto_client_tls_done(struct session *s, int ok, const char *error)
{
	if (!ok) {
		session_close(s, error ? error :
		    "TLS negotiation with the client failed");
		return -1;
	}
	return 0;
}

/* The server handshake's end for POP and SMTP; -1 when it failed. */
int
proto_server_tls_done(struct session *s, int ok, const char *error)
{
	if (!ok) {
		log_warnx("session %u: TLS with the server failed: %s",
		    session_id(s), error ? error : "?");
		session_bye(s, "TLS negotiation with the server failed");
		return -1;
	}
	return 0;
}

/* Forget the login in progress, wiping every credential. */
void
proto_login_clear(struct proto_login *lg)
{
	str_wipe(&lg->user);
	str_wipe(&lg->pass);
	str_wipe(&lg->token);
	str_wipe(&lg->b64);
	free(lg->failmsg);
	lg->failmsg = NULL;
	lg->failpending = 0;
	lg->failtemp = 0;
	free(lg->reason);
	lg->reason = NULL;
	lg->cont = lg->tokwait = lg->retried = lg->reconnects = 0;
	lg->xo = PROTO_XO_NONE;
}

/* tokend's token and the XOAUTH2 response made of it; -1: no memory. */
int
proto_login_keep_token(struct proto_login *lg, const char *user,
    const char *token)
{
	str_wipe(&lg->token);
	str_wipe(&lg->b64);
	if ((lg->token = strdup(token)) == NULL ||
	    (lg->b64 = sasl_xoauth2(user, token)) == NULL)
		return -1;
	return 0;
}

/*
 * Decode the server's XOAUTH2 error challenge into a printable line for
 * the log and the client: the server's words, never ours to trust.
 */
void
proto_login_keep_reason(struct proto_login *lg, const uint8_t *b64,
    size_t len)
{
	uint8_t	*d;
	size_t	 dlen, i, o;

	free(lg->reason);
	lg->reason = NULL;
	if ((d = b64_decode_len((const char *)b64, len, &dlen,
	    B64_PADDED)) == NULL)
		return;
	for (i = o = 0; i < dlen && o < REASON_MAX; i++)
		if (d[i] >= 0x20 && d[i] < 0x7f)
			d[o++] = d[i];
	d[o] = '\0';
	if (o > 0)
		lg->reason = (char *)d;
	else
		freezero(d, dlen + 1);
}

/* Ask tokend (naming the token the server refused on a retry). */
static int
proto_login_ask(struct proto_login *lg, const char *rejected)
{
	lg->xo = PROTO_XO_AUTH;
	lg->tokwait = 1;
	if (session_token_get(lg->s, lg->user, lg->pass, rejected) == -1) {
		lg->tokwait = 0;
		return -1;
	}
	return 0;
}

/* "AUTH XOAUTH2" now, or once a new connection is ready (ready 0). */
void
proto_login_send_auth(struct proto_login *lg, int ready)
{
	lg->cont = 0;
	if (ready)
		proto_send_line(lg->s, "AUTH XOAUTH2");
}

/*
 * The credentials are in: ask tokend and start AUTH XOAUTH2 at once,
 * so both answers travel together.  -1 with *why the failure's
 * message (NULL for none) when nothing was started.
 */
int
proto_login_start(struct proto_login *lg, int ready, const char **why)
{
	if (lg->user == NULL || lg->pass == NULL || *lg->user == '\0' ||
	    *lg->pass == '\0') {
		*why = NULL;
		return -1;
	}
	session_set_account(lg->s, lg->user);
	if (proto_login_ask(lg, NULL) == -1) {
		*why = PROTO_INTERNAL_RETRY;
		return -1;
	}
	if (lg->xo == PROTO_XO_AUTH)
		proto_login_send_auth(lg, ready);
	return 0;
}

/*
 * The server refused the token, which may be stale; get a
 * new one and try once more.  -1 when tokend could not be asked.
 */
int
proto_login_retry(struct proto_login *lg, int ready)
{
	proto_log_retry(lg->s, lg->user, lg->reason);
	lg->retried = 1;
	if (proto_login_ask(lg, lg->token) == -1)
		return -1;
	if (lg->xo == PROTO_XO_AUTH)
		proto_login_send_auth(lg, ready);
	return 0;
}

/* Both the server's go-ahead and tokend's answer are in: respond. */
static void
proto_login_respond(struct proto_login *lg)
{
	if (!lg->cont)
		return;
	if (lg->b64 != NULL) {
		if (proto_server_tls_due(lg->s)) {
			/* Never a token over a connection meant to be TLS. */
			session_bye(lg->s, "Internal error: upstream not TLS");
			return;
		}
		session_server_printf(lg->s, "%s\r\n", lg->b64);
		session_trace(lg->s, ">S", PROTO_CENSOR, strlen(PROTO_CENSOR));
		str_wipe(&lg->b64);
		lg->cont = 0;
		lg->xo = PROTO_XO_SENT;
	} else if (lg->failmsg != NULL) {
		/* A local failure: cancel, the client may try again. */
		proto_send_line(lg->s, "*");
		lg->cont = 0;
		lg->xo = PROTO_XO_CANCEL;
	}
}

/* The server's go-ahead ("+", 334) for the response. */
void
proto_login_cont(struct proto_login *lg)
{
	lg->cont = 1;
	proto_login_respond(lg);
}

/* tokend's token, if this exchange still waits for it. */
void
proto_login_token(struct proto_login *lg, const char *user,
    const char *token)
{
	if (lg->xo != PROTO_XO_AUTH || !lg->tokwait)
		return;
	lg->tokwait = 0;
	if (proto_login_keep_token(lg, user, token) == -1) {
		session_close(lg->s, "out of memory");
		return;
	}
	proto_login_respond(lg);
}

/* tokend's refusal: kept for the client, the password is not needed. */
void
proto_login_token_fail(struct proto_login *lg, enum token_fail reason,
    const char *message)
{
	if (lg->xo != PROTO_XO_AUTH || !lg->tokwait)
		return;
	lg->tokwait = 0;
	lg->failpending = reason == TOKEN_FAIL_AUTH_PENDING;
	lg->failtemp = reason == TOKEN_FAIL_UNAVAILABLE;
	free(lg->failmsg);
	if ((lg->failmsg = strdup(message)) == NULL) {
		session_close(lg->s, "out of memory");
		return;
	}
	str_wipe(&lg->pass);
	str_wipe(&lg->token);
	proto_login_respond(lg);
}

/*
 * An error challenge after our response: keep its reason (if b64 has
 * any) and answer with an empty line; the client never sees it.
 */
void
proto_login_challenge(struct proto_login *lg, const uint8_t *b64,
    size_t len)
{
	if (len > 0)
		proto_login_keep_reason(lg, b64, len);
	session_server_write(lg->s, "\r\n", 2);
	session_trace(lg->s, ">S", "", 0);
}

/* The refusal after the retry: the client and the audit hear of it. */
void
proto_login_rejected(struct proto_login *lg, const uint8_t *line,
    size_t len)
{
	proto_reply_refused(lg->s, line, len, lg->reason);
	session_login_rejected(lg->s);
	session_token_revoked(lg->s);
	proto_log_refused(lg->s, lg->user, line, len, lg->reason);
}

/*
 * The upstream closed during the exchange.  PROTO_CLOSED_RETRY: a new
 * connection carries the login on (waiting, a bounded number of times;
 * or the one retry if it closed instead of answering our response).
 * PROTO_CLOSED_FAIL: our cancel was answered by a close, still a local
 * failure for the module to report.  PROTO_CLOSED_END: give up.
 */
int
proto_login_closed(struct proto_login *lg)
{
	switch (lg->xo) {
	case PROTO_XO_AUTH:
		if (lg->reconnects >= RECONNECT_MAX)
			return PROTO_CLOSED_END;
		lg->reconnects++;
		break;
	case PROTO_XO_SENT:
		if (lg->retried)
			return PROTO_CLOSED_END;
		lg->retried = 1;
		if (proto_login_ask(lg, lg->token) == -1)
			return PROTO_CLOSED_END;
		break;
	case PROTO_XO_CANCEL:
		return PROTO_CLOSED_FAIL;
	default:
		return PROTO_CLOSED_END;
	}
	lg->cont = 0;
	return PROTO_CLOSED_RETRY;
}
