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
 * SMTP before login.
 *
 * Command state only: every client command is forwarded except EHLO
 * (whose reply we rewrite to offer AUTH PLAIN LOGIN and our own
 * STARTTLS), STARTTLS and AUTH, which we answer ourselves.  Replies are
 * matched to the commands they answer through a queue (RFC 2920
 * pipelining), so a local answer never overtakes a server reply.
 * After DATA's 354 the message body up to the lone "." line, and the
 * bytes of a BDAT chunk, pass untouched and unread.
 *
 * A login asks tokend for a token while "AUTH XOAUTH2" goes upstream;
 * the response follows the server's 334.  A local failure cancels with
 * "*" and the client may try again; a token the server refuses is
 * replaced once.  After the server's 235 the session
 * relays bytes.
 *
 * Upstream side (smtp->conn): with server_starttls the client's first
 * EHLO is preceded by our EHLO and STARTTLS (its reply is dropped) and
 * the TLS handshake; the client's EHLO then goes out over TLS.  A fresh
 * connection for a retried login replays the client's EHLO (and
 * STARTTLS) before AUTH.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "proto.h"
#include "sasl.h"
#include "session.h"
#include "starttls.h"

#define EXP_MAX		128	/* pipelined commands awaiting replies */
#define EHLO_LINES_MAX	64

#define CRED_INVALID	"535 5.7.8  Authentication credentials invalid."
/* RFC 4954: temporary; the person behind the credentials must act. */
#define AUTH_PENDING	"454 4.7.0"
/* RFC 4954: a temporary authentication failure. */
#define AUTH_TEMP	"454 4.7.0 Temporary authentication failure:"
#define CANCELLED	"501 5.7.0 Authentication cancelled\r\n"
#define BAD_BASE64	"501 5.5.2 Cannot decode the response\r\n"
#define TLS_REQUIRED	"530 5.7.0 Must issue a STARTTLS command first\r\n"
#define EHLO_FIRST	"503 5.5.1 Send EHLO first\r\n"
#define SYNTAX_AUTH	"501 5.5.4 Syntax: AUTH mechanism\r\n"
#define NO_STARTTLS	"454 STARTTLS not available\r\n"
#define SYNTAX		"500 5.5.2 Syntax error, command unrecognized\r\n"
#define PROMPT_USER	"334 VXNlcm5hbWU6\r\n"
#define PROMPT_PASS	"334 UGFzc3dvcmQ6\r\n"

enum smtp_state {
	SMTP_IDLE,		/* command state */
	SMTP_DATA_WAIT,		/* DATA forwarded, waiting for its reply */
	SMTP_BODY,		/* message body up to CRLF.CRLF */
	SMTP_BDAT,		/* the bytes of a BDAT chunk */
	SMTP_PLAIN_CONT,	/* sent "334 ", waiting for PLAIN */
	SMTP_LOGIN_USER,	/* sent the Username: prompt */
	SMTP_LOGIN_PASS,	/* sent the Password: prompt */
	SMTP_FWD_AUTH,		/* the client's own AUTH, forwarded */
	SMTP_TLS_CLIENT,	/* answered STARTTLS, client handshake */
	SMTP_XOAUTH2,		/* our AUTH XOAUTH2 exchange: see lg.xo */
	SMTP_DONE		/* logged in: the session relays */
};

enum smtp_conn {
	CONN_GREETING,		/* a new upstream connection */
	CONN_EHLO,		/* our EHLO before STARTTLS */
	CONN_STARTTLS,		/* STARTTLS sent */
	CONN_HANDSHAKE,		/* TLS handshake with the server */
	CONN_REPLAY,		/* the client's EHLO again, new connection */
	CONN_READY
};

/* What the reply to a forwarded command needs. */
enum expect {
	EXP_FWD,		/* forward it */
	EXP_EHLO,		/* rewrite it */
	EXP_DATA		/* 354: the body follows */
};

/* Body scanner states: where the last byte left us. */
enum body_state {
	BODY_BOL,		/* start of a line */
	BODY_DOT,		/* "." at the start of a line */
	BODY_DOTCR,		/* ".\r" */
	BODY_MID,		/* inside a line */
	BODY_CR			/* "\r" inside a line */
};

struct smtp {
	struct session	*s;
	enum smtp_state	 state;
	enum smtp_conn	 conn;
	char		*ehlo;		/* the client's EHLO/HELO, no CRLF */
	uint8_t		 exp[EXP_MAX];	/* ring of enum expect */
	unsigned int	 ehead;
	unsigned int	 ecount;
	int		 midreply;	/* inside a multi-line reply */
	char		*elines[EHLO_LINES_MAX]; /* EHLO reply texts */
	size_t		 nelines;
	int		 ehlo_auth;	/* an AUTH line was rewritten */
	int		 ehlo_raw;	/* not a 250 reply: forward as is */
	enum body_state	 bst;
	int		 lfbol;		/* that line began after a bare LF */
	uint64_t	 bdatleft;
	struct proto_login lg;		/* credentials, XOAUTH2 exchange */
	int		 greeted;	/* the client has had the greeting */
	int		 replay;	/* new connection: replies are ours */
	int		 authcont;	/* the server asked for a SASL line */
	int		 quit;		/* the client's QUIT went upstream */
};

static void	 smtp_tls_server_done(void *, int, const char *);
static void	 smtp_tls_client_done(void *, int, const char *);

static void *
smtp_init(struct session *s)
{
	struct smtp	*sm;

	if ((sm = calloc(1, sizeof(*sm))) == NULL)
		return NULL;
	sm->s = sm->lg.s = s;
	sm->state = SMTP_IDLE;
	sm->conn = CONN_GREETING;
	return sm;
}

static void
smtp_ehlo_clear(struct smtp *sm)
{
	size_t	i;

	for (i = 0; i < sm->nelines; i++)
		free(sm->elines[i]);
	sm->nelines = 0;
	sm->ehlo_auth = sm->ehlo_raw = 0;
}

/* Forget the login in progress, wiping every credential. */
static void
smtp_reset(struct smtp *sm)
{
	proto_login_clear(&sm->lg);
	sm->state = SMTP_IDLE;
}

static void
smtp_free(void *arg)
{
	struct smtp	*sm = arg;

	if (sm == NULL)
		return;
	smtp_reset(sm);
	smtp_ehlo_clear(sm);
	free(sm->ehlo);
	free(sm);
}

/* The reply code of a line, or 0 if it has none. */
static int
smtp_reply_code(const uint8_t *line, size_t len)
{
	if (len < 3 || line[0] < '1' || line[0] > '5' ||
	    line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9')
		return 0;
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + line[2] - '0';
}

/* Does the line end its reply ("NNN text", "NNN"; not "NNN-text")? */
static int
smtp_reply_final(const uint8_t *line, size_t len)
{
	return len < 4 || line[3] != '-';
}

static void
smtp_expect_push(struct smtp *sm, enum expect e)
{
	sm->exp[(sm->ehead + sm->ecount++) % EXP_MAX] = e;
}

static void
smtp_expect_pop(struct smtp *sm)
{
	sm->ehead = (sm->ehead + 1) % EXP_MAX;
	sm->ecount--;
}

static unsigned int
smtp_tls_flags(struct smtp *sm)
{
	return session_tls_flags(sm->s);
}

/* A local failure: 535, the session stays usable. */
static void
smtp_fail(struct smtp *sm, const char *msg)
{
	proto_fail_reply(sm->s, CRED_INVALID, msg);
	smtp_reset(sm);
}

/* tokend's refusal; an authorisation a person must give says so. */
static void
smtp_fail_token(struct smtp *sm)
{
	proto_fail_reply(sm->s, sm->lg.failpending ? AUTH_PENDING :
	    sm->lg.failtemp ? AUTH_TEMP : CRED_INVALID, sm->lg.failmsg);
	smtp_reset(sm);
}

/* EHLO client.example, even when the client said HELO. */
static void
smtp_send_pretls_ehlo(struct smtp *sm)
{
	char	*t;
	size_t	 vlen = 4;

	if (asprintf(&t, "EHLO%s", sm->ehlo + vlen) == -1) {
		session_close(sm->s, "out of memory");
		return;
	}
	proto_send_line(sm->s, t);
	free(t);
	sm->conn = CONN_EHLO;
}

/* The client's EHLO/HELO goes to the (secured) server. */
static void
smtp_forward_ehlo(struct smtp *sm)
{
	proto_send_line(sm->s, sm->ehlo);
	smtp_expect_push(sm, proto_verb_is((uint8_t *)sm->ehlo,
	    strlen(sm->ehlo), "EHLO") ? EXP_EHLO : EXP_FWD);
}

/* The credentials are in: ask tokend and start AUTH XOAUTH2. */
static void
smtp_login(struct smtp *sm)
{
	const char	*why;

	sm->state = SMTP_XOAUTH2;
	/* On a new connection AUTH goes after the EHLO replay. */
	if (proto_login_start(&sm->lg, sm->conn == CONN_READY, &why) == -1)
		smtp_fail(sm, why);
}

static void
smtp_plain_response(struct smtp *sm, const uint8_t *b64, size_t len)
{
	switch (sasl_plain_decode((const char *)b64, len, &sm->lg.user,
	    &sm->lg.pass)) {
	case SASL_PLAIN_OK:
		smtp_login(sm);
		break;
	case SASL_PLAIN_BADBASE64:
		session_client_printf(sm->s, BAD_BASE64);
		smtp_reset(sm);
		break;
	case SASL_PLAIN_MALFORMED:
		smtp_fail(sm, NULL);
		break;
	}
}

/* A LOGIN username or password; bad base64 or a NUL gives "". */
static char *
smtp_login_decode(const uint8_t *b64, size_t len)
{
	uint8_t	*d;
	size_t	 dlen;

	if (len == 1 && b64[0] == '=')
		len = 0;
	if ((d = b64_decode_len((const char *)b64, len, &dlen,
	    B64_PADDED)) == NULL)
		return strdup("");
	if (memchr(d, '\0', dlen) != NULL) {
		freezero(d, dlen + 1);
		return strdup("");
	}
	return (char *)d;
}

/* AUTH <mechanism> [initial-response] */
static ssize_t
smtp_auth_command(struct smtp *sm, const uint8_t *line, size_t len,
    size_t consumed)
{
	const uint8_t	*mech, *q, *end = line + len;
	size_t		 mlen;

	if (len <= 5) {
		session_trace(sm->s, "C>", line, len);
		session_client_printf(sm->s, SYNTAX_AUTH);
		return consumed;
	}
	mech = line + 5;
	for (q = mech; q < end && *q != ' '; q++)
		;
	mlen = q - mech;
	if (!proto_mech_valid(mech, mlen)) {
		proto_trace_censored(sm->s, "C>", line, 4);
		session_client_printf(sm->s, SYNTAX_AUTH);
		return consumed;
	}
	if (q == end)
		session_trace(sm->s, "C>", line, len);
	else
		proto_trace_censored(sm->s, "C>", line, q - line);
	if (proto_require_tls(sm->s)) {
		session_client_printf(sm->s, TLS_REQUIRED);
		return consumed;
	}
	if (sm->ehlo == NULL) {
		session_client_printf(sm->s, EHLO_FIRST);
		return consumed;
	}
	if (mlen == 5 && strncasecmp((const char *)mech, "PLAIN", 5) == 0) {
		if (q == end) {
			sm->state = SMTP_PLAIN_CONT;
			session_client_printf(sm->s, "334 \r\n");
		} else
			smtp_plain_response(sm, q + 1, end - q - 1);
		return consumed;
	}
	if (mlen == 5 && strncasecmp((const char *)mech, "LOGIN", 5) == 0) {
		if (q == end) {
			sm->state = SMTP_LOGIN_USER;
			session_client_printf(sm->s, PROMPT_USER);
			return consumed;
		}
		if ((sm->lg.user = smtp_login_decode(q + 1, end - q - 1)) ==
		    NULL) {
			session_close(sm->s, "out of memory");
			return -1;
		}
		sm->state = SMTP_LOGIN_PASS;
		session_client_printf(sm->s, PROMPT_PASS);
		return consumed;
	}
	/* Another mechanism is the server's business. */
	session_server_write(sm->s, line, len + 2);
	sm->authcont = 0;
	sm->state = SMTP_FWD_AUTH;
	return consumed;
}

/* STARTTLS from the client: ours to answer, never forwarded. */
static ssize_t
smtp_starttls_command(struct smtp *sm, size_t consumed, size_t avail)
{
	unsigned int	f = smtp_tls_flags(sm);

	if (!(f & SESSION_LOCAL_STARTTLS) || (f & SESSION_TLS_CLIENT)) {
		log_warnx("session %u: client sent STARTTLS but local_starttls "
		    "is not set (or TLS is already up): disable STARTTLS in "
		    "the client or set local_starttls", session_id(sm->s));
		session_client_printf(sm->s, NO_STARTTLS);
		session_close(sm->s, "STARTTLS not available");
		return -1;
	}
	if (avail > consumed) {
		/* RFC 3207: nothing may follow STARTTLS in clear. */
		session_close(sm->s, "client sent data after STARTTLS");
		return -1;
	}
	session_client_printf(sm->s, "220 Ready to start TLS\r\n");
	sm->state = SMTP_TLS_CLIENT;
	if (proto_client_starttls(sm->s, smtp_tls_client_done) == -1)
		return -1;
	return consumed;
}

/* "BDAT <size> [LAST]": the size, or -1. */
static int
smtp_bdat_size(const uint8_t *line, size_t len, uint64_t *size)
{
	size_t		i = 5;
	uint64_t	n = 0;

	if (i >= len || line[i] < '0' || line[i] > '9')
		return -1;
	for (; i < len && line[i] >= '0' && line[i] <= '9'; i++) {
		if (n > UINT64_MAX / 10 - 10)
			return -1;
		n = n * 10 + (line[i] - '0');
	}
	if (i < len && line[i] != ' ')
		return -1;
	*size = n;
	return 0;
}

/* A command line in SMTP_IDLE. */
static ssize_t
smtp_client_command(struct smtp *sm, const uint8_t *line, size_t len,
    size_t consumed, size_t avail)
{
	uint64_t	size;

	if (sm->ecount == EXP_MAX)
		return 0;
	if (!proto_verb_valid(line, len)) {
		/* A server might split it otherwise: not forwarded. */
		if (sm->ecount > 0)
			return 0;
		proto_trace_censored(sm->s, "C>", line, 0);
		session_client_printf(sm->s, SYNTAX);
		return consumed;
	}
	if (proto_verb_is(line, len, "EHLO") ||
	    proto_verb_is(line, len, "HELO")) {
		/* The last command of a group (RFC 2920). */
		if (sm->ecount > 0)
			return 0;
		session_trace(sm->s, "C>", line, len);
		free(sm->ehlo);
		if ((sm->ehlo = strndup((const char *)line, len)) == NULL) {
			session_close(sm->s, "out of memory");
			return -1;
		}
		if (proto_server_tls_due(sm->s))
			smtp_send_pretls_ehlo(sm);
		else
			smtp_forward_ehlo(sm);
		return consumed;
	}
	if (proto_verb_is(line, len, "STARTTLS")) {
		if (sm->ecount > 0)
			return 0;
		session_trace(sm->s, "C>", line, len);
		return smtp_starttls_command(sm, consumed, avail);
	}
	if (proto_verb_is(line, len, "AUTH")) {
		if (sm->ecount > 0)
			return 0;
		return smtp_auth_command(sm, line, len, consumed);
	}
	session_trace(sm->s, "C>", line, len);
	if (proto_server_tls_due(sm->s) &&
	    !proto_word_is(line, len, "QUIT") &&
	    !proto_word_is(line, len, "NOOP") &&
	    !proto_word_is(line, len, "RSET")) {
		/* Nothing else goes upstream in clear before STARTTLS. */
		if (sm->ecount > 0)
			return 0;
		session_client_printf(sm->s, EHLO_FIRST);
		return consumed;
	}
	session_server_write(sm->s, line, len + 2);
	if (proto_word_is(line, len, "QUIT"))
		sm->quit = 1;
	if (proto_verb_is(line, len, "DATA")) {
		smtp_expect_push(sm, EXP_DATA);
		sm->state = SMTP_DATA_WAIT;
	} else if (proto_verb_is(line, len, "BDAT") &&
	    smtp_bdat_size(line, len, &size) == 0) {
		smtp_expect_push(sm, EXP_FWD);
		if (size > 0) {
			sm->bdatleft = size;
			sm->state = SMTP_BDAT;
		}
	} else
		smtp_expect_push(sm, EXP_FWD);
	return consumed;
}

/*
 * Message body: pass bytes until the line "." (RFC 5321 4.1.1.4).  A
 * "." line next to a bare LF ends the data for some servers and not for
 * others (nor for us): the session ends rather than have the server
 * read the rest as commands we passed unread.
 */
static ssize_t
smtp_body_input(struct smtp *sm, const uint8_t *buf, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		switch (sm->bst) {
		case BODY_BOL:
			if (buf[i] == '\n') {
				sm->lfbol = 1;
				break;
			}
			sm->bst = buf[i] == '.' ? BODY_DOT :
			    buf[i] == '\r' ? BODY_CR : BODY_MID;
			break;
		case BODY_DOT:
			if (buf[i] == '\n')
				goto ambiguous;
			sm->bst = buf[i] == '\r' ? BODY_DOTCR : BODY_MID;
			break;
		case BODY_DOTCR:
			if (buf[i] == '\n') {
				if (sm->lfbol)
					goto ambiguous;
				session_server_write(sm->s, buf, i + 1);
				smtp_expect_push(sm, EXP_FWD);
				sm->state = SMTP_IDLE;
				return i + 1;
			}
			sm->bst = buf[i] == '\r' ? BODY_CR : BODY_MID;
			break;
		case BODY_MID:
			if (buf[i] == '\n') {
				sm->bst = BODY_BOL;
				sm->lfbol = 1;
			} else if (buf[i] == '\r')
				sm->bst = BODY_CR;
			break;
		case BODY_CR:
			if (buf[i] == '\n') {
				sm->bst = BODY_BOL;
				sm->lfbol = 0;
			} else if (buf[i] != '\r')
				sm->bst = BODY_MID;
			break;
		}
	}
	session_server_write(sm->s, buf, len);
	return len;

 ambiguous:
	session_bye(sm->s, "Bare LF next to the end of the message data");
	return -1;
}

static void
smtp_login_line(struct smtp *sm, const uint8_t *line, size_t len)
{
	char	**dst;

	if (sm->state == SMTP_LOGIN_USER) {
		session_trace(sm->s, "C>", line, len);
		dst = &sm->lg.user;
	} else {
		session_trace(sm->s, "C>", PROTO_CENSOR, strlen(PROTO_CENSOR));
		dst = &sm->lg.pass;
	}
	if (len == 1 && line[0] == '*') {
		session_client_printf(sm->s, CANCELLED);
		smtp_reset(sm);
		return;
	}
	str_wipe(dst);
	if ((*dst = smtp_login_decode(line, len)) == NULL) {
		session_close(sm->s, "out of memory");
		return;
	}
	if (sm->state == SMTP_LOGIN_USER) {
		sm->state = SMTP_LOGIN_PASS;
		session_client_printf(sm->s, PROMPT_PASS);
	} else
		smtp_login(sm);
}

static ssize_t
smtp_client_input(void *arg, const uint8_t *buf, size_t len)
{
	struct smtp	*sm = arg;
	ssize_t		 n;
	size_t		 eol, chunk;

	if (sm->conn != CONN_READY)
		return 0;
	switch (sm->state) {
	case SMTP_BODY:
		return smtp_body_input(sm, buf, len);
	case SMTP_BDAT:
		chunk = len < sm->bdatleft ? len : sm->bdatleft;
		session_server_write(sm->s, buf, chunk);
		if ((sm->bdatleft -= chunk) == 0)
			sm->state = SMTP_IDLE;
		return chunk;
	case SMTP_IDLE:
	case SMTP_PLAIN_CONT:
	case SMTP_LOGIN_USER:
	case SMTP_LOGIN_PASS:
		break;
	case SMTP_FWD_AUTH:
		/* One line for each of the server's 334 continuations. */
		if (!sm->authcont)
			return 0;
		break;
	default:
		return 0;
	}
	if ((n = proto_client_line(sm->s, buf, len)) <= 0)
		return n;
	eol = n - 2;

	switch (sm->state) {
	case SMTP_PLAIN_CONT:
		session_trace(sm->s, "C>", PROTO_CENSOR, strlen(PROTO_CENSOR));
		if (eol == 1 && buf[0] == '*') {
			session_client_printf(sm->s, CANCELLED);
			smtp_reset(sm);
			return n;
		}
		smtp_plain_response(sm, buf, eol);
		return n;
	case SMTP_LOGIN_USER:
	case SMTP_LOGIN_PASS:
		smtp_login_line(sm, buf, eol);
		return n;
	case SMTP_FWD_AUTH:
		sm->authcont = 0;
		proto_forward_secret(sm->s, buf, n);
		return n;
	default:
		return smtp_client_command(sm, buf, eol, n, len);
	}
}

static void
smtp_token_ok(void *arg, const char *user, const char *token)
{
	struct smtp	*sm = arg;

	proto_login_token(&sm->lg, user, token);
}

static void
smtp_token_fail(void *arg, enum token_fail reason, const char *message)
{
	struct smtp	*sm = arg;

	proto_login_token_fail(&sm->lg, reason, message);
}

static void
smtp_tls_server_done(void *arg, int ok, const char *error)
{
	struct smtp	*sm = arg;

	if (proto_server_tls_done(sm->s, ok, error) == -1)
		return;
	log_debug("session %u: upstream STARTTLS done", session_id(sm->s));
	if (sm->replay) {
		/* A fresh connection: EHLO again, reply dropped. */
		proto_send_line(sm->s, sm->ehlo);
		sm->conn = CONN_REPLAY;
	} else {
		sm->conn = CONN_READY;
		smtp_forward_ehlo(sm);
	}
}

static void
smtp_tls_client_done(void *arg, int ok, const char *error)
{
	struct smtp	*sm = arg;

	if (proto_client_tls_done(sm->s, ok, error) == -1)
		return;
	/* RFC 3207: forget what the client said before TLS. */
	free(sm->ehlo);
	sm->ehlo = NULL;
	sm->state = SMTP_IDLE;
}

/* Greeting, STARTTLS and EHLO replay of an upstream connection. */
static ssize_t
smtp_conn_input(struct smtp *sm, const uint8_t *line, size_t len, size_t avail)
{
	int	final = smtp_reply_final(line, len);
	int	code = smtp_reply_code(line, len);

	if (sm->conn == CONN_GREETING && !sm->greeted) {
		/* 220, or a refusal (421, 554) passed on; else not SMTP. */
		if ((code != 220 && code / 100 != 4 && code / 100 != 5) ||
		    (len > 3 && line[3] != ' ' && line[3] != '-')) {
			log_warnx("session %u: the server's greeting is not "
			    "an SMTP greeting", session_id(sm->s));
			session_bye(sm->s, "Server unavailable");
			return -1;
		}
		session_client_write(sm->s, line, len + 2);
		if (final) {
			sm->greeted = 1;
			sm->conn = CONN_READY;
		}
		return len + 2;
	}
	if (!final)
		return len + 2;
	switch (sm->conn) {
	case CONN_GREETING:
		if (code != 220) {
			session_bye(sm->s, "Server unavailable");
			return -1;
		}
		if (sm->ehlo == NULL) {
			/* The client has not said EHLO yet: it will. */
			sm->replay = 0;
			sm->conn = CONN_READY;
		} else if (proto_server_tls_due(sm->s))
			smtp_send_pretls_ehlo(sm);
		else {
			proto_send_line(sm->s, sm->ehlo);
			sm->conn = CONN_REPLAY;
		}
		break;
	case CONN_EHLO:
		if (code != 250) {
			log_warnx("session %u: server refused EHLO before "
			    "STARTTLS: %.*s", session_id(sm->s), (int)len,
			    line);
			session_bye(sm->s, "STARTTLS with the server failed");
			return -1;
		}
		proto_send_line(sm->s, "STARTTLS");
		sm->conn = CONN_STARTTLS;
		break;
	case CONN_STARTTLS:
		if (code != 220) {
			log_warnx("session %u: server refused STARTTLS: %.*s",
			    session_id(sm->s), (int)len, line);
			session_bye(sm->s, "The server refused STARTTLS");
			return -1;
		}
		if (avail > len + 2) {
			session_bye(sm->s, "Protocol error after STARTTLS");
			return -1;
		}
		sm->conn = CONN_HANDSHAKE;
		if (session_starttls_server(sm->s,
		    smtp_tls_server_done) == -1) {
			session_bye(sm->s, "TLS negotiation with the server "
			    "failed");
			return -1;
		}
		break;
	case CONN_REPLAY:
		if (code != 250) {
			session_bye(sm->s, "Server unavailable");
			return -1;
		}
		sm->conn = CONN_READY;
		sm->replay = 0;
		if (sm->lg.xo == PROTO_XO_AUTH)
			proto_login_send_auth(&sm->lg, 1);
		break;
	default:
		return 0;
	}
	return len + 2;
}

/* One line of a 250 reply to EHLO: keep, rewrite or drop it. */
static int
smtp_ehlo_add(struct smtp *sm, const char *text, size_t len)
{
	char	*t;

	if (len == 8 && strncasecmp(text, "STARTTLS", 8) == 0)
		return 0;
	if (proto_verb_is((const uint8_t *)text, len, "AUTH") ||
	    (len > 5 && strncasecmp(text, "AUTH=", 5) == 0)) {
		if (proto_require_tls(sm->s))
			return 0;	/* no AUTH before TLS */
		if (len > 5 && text[4] == '=') {
			/* Old style "AUTH=LOGIN PLAIN": kept as it is. */
		} else if (sm->ehlo_auth)
			return 0;
		else {
			text = "AUTH PLAIN LOGIN";
			len = strlen(text);
			sm->ehlo_auth = 1;
		}
	}
	if (sm->nelines == EHLO_LINES_MAX)
		return -1;
	if ((t = strndup(text, len)) == NULL)
		return -1;
	sm->elines[sm->nelines++] = t;
	return 0;
}

/* The whole rewritten EHLO reply, last line "250 ". */
static int
smtp_ehlo_emit(struct smtp *sm)
{
	unsigned int	 f = smtp_tls_flags(sm);
	size_t		 i;

	if (!proto_require_tls(sm->s) && !sm->ehlo_auth &&
	    smtp_ehlo_add(sm, "AUTH", 4) == -1)
		return -1;
	if ((f & SESSION_LOCAL_STARTTLS) && !(f & SESSION_TLS_CLIENT)) {
		if (sm->nelines == EHLO_LINES_MAX ||
		    (sm->elines[sm->nelines] = strdup("STARTTLS")) == NULL)
			return -1;
		sm->nelines++;
	}
	for (i = 0; i < sm->nelines; i++)
		session_client_printf(sm->s, "250%c%s\r\n",
		    i + 1 == sm->nelines ? ' ' : '-', sm->elines[i]);
	smtp_ehlo_clear(sm);
	return 0;
}

/* A reply line for a forwarded command. */
static ssize_t
smtp_reply_line(struct smtp *sm, const uint8_t *line, size_t len)
{
	int	final = smtp_reply_final(line, len);
	int	code = smtp_reply_code(line, len);
	int	first = !sm->midreply;

	sm->midreply = !final;
	if (sm->ecount == 0) {
		/* Unasked (a 421 before closing): the client's news. */
		session_client_write(sm->s, line, len + 2);
		return len + 2;
	}
	switch (sm->exp[sm->ehead]) {
	case EXP_EHLO:
		if (first) {
			smtp_ehlo_clear(sm);
			sm->ehlo_raw = code != 250;
		}
		if (sm->ehlo_raw)
			session_client_write(sm->s, line, len + 2);
		else if (smtp_ehlo_add(sm,
		    len > 4 ? (const char *)line + 4 : "",
		    len > 4 ? len - 4 : 0) == -1 ||
		    (final && smtp_ehlo_emit(sm) == -1)) {
			session_close(sm->s, "EHLO reply too long");
			return -1;
		}
		break;
	case EXP_DATA:
		session_client_write(sm->s, line, len + 2);
		if (final) {
			sm->bst = BODY_BOL;
			sm->lfbol = 0;
			sm->state = code == 354 ? SMTP_BODY : SMTP_IDLE;
		}
		break;
	default:
		session_client_write(sm->s, line, len + 2);
		break;
	}
	if (final)
		smtp_expect_pop(sm);
	return len + 2;
}

/* The server's answer to our XOAUTH2 response. */
static void
smtp_auth_answer(struct smtp *sm, const uint8_t *line, size_t len)
{
	int	final = smtp_reply_final(line, len);
	int	code = smtp_reply_code(line, len);

	if (code == 235) {
		if (!final) {
			session_client_write(sm->s, line, len + 2);
			return;
		}
		smtp_reset(sm);
		sm->state = SMTP_DONE;
		proto_accepted(sm->s, line, len);
		return;
	}
	if (code == 334 && final) {
		/* Error challenge: answer it, the client never sees it. */
		proto_login_challenge(&sm->lg, line + 4, len > 4 ? len - 4 : 0);
		return;
	}
	if (!sm->lg.retried) {
		if (final && proto_login_retry(&sm->lg,
		    sm->conn == CONN_READY) == -1)
			smtp_fail(sm, PROTO_INTERNAL_ERROR);
		return;
	}
	if (!final) {
		session_client_write(sm->s, line, len + 2);
		return;
	}
	proto_login_rejected(&sm->lg, line, len);
	smtp_reset(sm);
}

/* A final server reply while our XOAUTH2 exchange runs. */
static ssize_t
smtp_xoauth2_reply(struct smtp *sm, const uint8_t *line, size_t len, int code)
{
	switch (sm->lg.xo) {
	case PROTO_XO_AUTH:
		if (code == 334)
			proto_login_cont(&sm->lg);
		else if (sm->lg.failmsg != NULL)
			smtp_fail_token(sm);
		else {
			/* The server will not do XOAUTH2: nothing to retry. */
			proto_no_xoauth2(sm->s, line, len);
			return -1;
		}
		break;
	case PROTO_XO_CANCEL:
		if (code / 100 == 2) {
			session_close(sm->s, "server accepted a cancelled "
			    "login");
			return -1;
		}
		smtp_fail_token(sm);
		break;
	default:
		break;
	}
	return len + 2;
}

static ssize_t
smtp_server_input(void *arg, const uint8_t *buf, size_t len)
{
	struct smtp	*sm = arg;
	ssize_t		 n;
	size_t		 eol;
	int		 final, code;

	if (sm->state == SMTP_DONE || sm->conn == CONN_HANDSHAKE)
		return 0;
	if ((n = proto_server_line(sm->s, buf, len)) <= 0)
		return n;
	eol = n - 2;
	if (sm->conn != CONN_READY)
		return smtp_conn_input(sm, buf, eol, len);

	final = smtp_reply_final(buf, eol);
	code = smtp_reply_code(buf, eol);
	switch (sm->state) {
	case SMTP_XOAUTH2:
		if (sm->lg.xo == PROTO_XO_SENT) {
			smtp_auth_answer(sm, buf, eol);
			return n;
		}
		/* Multi-line 5xx (O365): only the last line counts. */
		return final ? smtp_xoauth2_reply(sm, buf, eol, code) : n;
	case SMTP_FWD_AUTH:
		session_client_write(sm->s, buf, n);
		if (!final)
			return n;
		if (code == 334) {
			sm->authcont = 1;
			return n;
		}
		if (code == 235) {
			/* The client did its own OAuth: relay. */
			sm->state = SMTP_DONE;
			session_login_done(sm->s);
		} else
			sm->state = SMTP_IDLE;
		return n;
	default:
		return smtp_reply_line(sm, buf, eol);
	}
}

static int
smtp_server_closed(void *arg)
{
	struct smtp	*sm = arg;
	int		 r;

	if (sm->quit)
		return SERVER_CLOSED_QUIT;
	if ((r = proto_login_closed(&sm->lg)) == PROTO_CLOSED_END)
		return 0;
	if (r == PROTO_CLOSED_FAIL)
		smtp_fail_token(sm);	/* the cancel met a close */
	sm->ecount = sm->ehead = 0;
	sm->midreply = 0;
	smtp_ehlo_clear(sm);
	sm->conn = CONN_GREETING;
	sm->replay = 1;
	session_reconnect(sm->s);
	return 1;
}

const struct proto_ops smtp_ops = {
	.proto = PROTO_SMTP,
	.name = "SMTP",
	.bye_fmt = "421 4.3.2 %s\r\n",
	.init = smtp_init,
	.free = smtp_free,
	.client_input = smtp_client_input,
	.server_input = smtp_server_input,
	.token_ok = smtp_token_ok,
	.token_fail = smtp_token_fail,
	.server_closed = smtp_server_closed
};
