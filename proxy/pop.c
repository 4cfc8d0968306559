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
 * POP3 before login (SPEC Part 2 §5.2, Part 1 §6-§8, §13).
 *
 * Client side: commands are forwarded, except CAPA (whose answer we
 * rewrite to offer SASL PLAIN and USER), a bare AUTH, AUTH PLAIN,
 * USER/PASS and STLS, which we answer ourselves.  A login asks tokend
 * for a token while "AUTH XOAUTH2" goes upstream; the response follows
 * the server's "+".  A local failure cancels the exchange with "*" and
 * the client may try again.  A token the server refuses is replaced
 * once (Part 1 §13).  After the server's +OK the session relays bytes.
 *
 * Upstream side (pop->conn): the greeting, then with server_starttls
 * STLS and the TLS handshake before the client sees the greeting.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "sasl.h"
#include "session.h"
#include "starttls.h"

#define CENSOR		"[[ Credentials removed from proxy log ]]"
#define SERVER_LINE_MAX	65536
#define REASON_MAX	256
#define RECONNECT_MAX	2	/* fresh upstream connections per login */

#define AUTH_FAILED	"-ERR Authentication failed."
#define TLS_REQUIRED	"-ERR [AUTH] TLS is required: use STLS first\r\n"

enum pop_state {
	POP_IDLE,		/* reading client commands */
	POP_CAPA,		/* CAPA forwarded, rewriting its answer */
	POP_PLAIN_CONT,		/* sent "+ ", waiting for the PLAIN response */
	POP_USER,		/* USER answered, waiting for PASS */
	POP_FWD_AUTH,		/* the client's own AUTH or APOP, forwarded */
	POP_TLS_CLIENT,		/* answered STLS, client handshake running */
	POP_AUTH,		/* AUTH XOAUTH2 sent and token asked */
	POP_CANCEL,		/* sent "*" after a local failure */
	POP_SENT,		/* the XOAUTH2 response went out */
	POP_DONE		/* logged in: the session relays */
};

enum pop_conn {
	CONN_GREETING,		/* a new upstream connection */
	CONN_STLS,		/* STLS sent */
	CONN_HANDSHAKE,		/* TLS handshake with the server */
	CONN_READY
};

struct pop {
	struct session	*s;
	enum pop_state	 state;
	enum pop_conn	 conn;
	char		*greeting;	/* held while STLS runs */
	char		*user;		/* credentials, until the answer */
	char		*pass;
	char		*token;		/* the access token sent upstream */
	char		*b64;		/* XOAUTH2 response not yet sent */
	char		*failmsg;	/* tokend's refusal, for the client */
	char		*reason;	/* the server's decoded challenge */
	unsigned int	 pending;	/* forwarded commands not answered */
	int		 greeted;	/* the client has had the greeting */
	int		 cont;		/* the server sent "+": our turn */
	int		 tokwait;	/* a token request is out */
	int		 retried;	/* the one retry of Part 1 §13 used */
	int		 reconnects;
	int		 capa_first;	/* CAPA answer: the status line next */
	int		 capa_sasl;	/* ... a SASL line seen */
	int		 capa_user;	/* ... a USER line seen */
};

static void	 pop_tls_server_done(void *, int, const char *);
static void	 pop_tls_client_done(void *, int, const char *);

static void *
pop_init(struct session *s)
{
	struct pop	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->s = s;
	p->state = POP_IDLE;
	p->conn = CONN_GREETING;
	return p;
}

static void
strwipe(char **p)
{
	if (*p != NULL) {
		freezero(*p, strlen(*p));
		*p = NULL;
	}
}

/* Forget the login in progress, wiping every credential. */
static void
pop_reset(struct pop *p)
{
	strwipe(&p->user);
	strwipe(&p->pass);
	strwipe(&p->token);
	strwipe(&p->b64);
	free(p->failmsg);
	p->failmsg = NULL;
	free(p->reason);
	p->reason = NULL;
	p->cont = p->tokwait = p->retried = p->reconnects = 0;
	p->state = POP_IDLE;
}

static void
pop_free(void *arg)
{
	struct pop	*p = arg;

	if (p == NULL)
		return;
	pop_reset(p);
	free(p->greeting);
	free(p);
}

/* Offset of the CRLF ending the first line, or -1. */
static ssize_t
find_crlf(const uint8_t *buf, size_t len)
{
	const uint8_t	*q = buf;

	while ((q = memchr(q, '\r', len - (q - buf))) != NULL) {
		if ((size_t)(q - buf) + 1 < len && q[1] == '\n')
			return q - buf;
		q++;
	}
	return -1;
}

/* Is the line "word" or "word SP ..." (case-insensitive)? */
static int
verb_is(const uint8_t *line, size_t len, const char *word)
{
	size_t	wlen = strlen(word);

	return len >= wlen && strncasecmp((const char *)line, word,
	    wlen) == 0 && (len == wlen || line[wlen] == ' ');
}

static int
line_is(const uint8_t *line, size_t len, const char *word)
{
	return len == strlen(word) &&
	    strncasecmp((const char *)line, word, len) == 0;
}

/* "+OK", "+OK ...": a positive status line. */
static int
is_ok(const uint8_t *line, size_t len)
{
	return verb_is(line, len, "+OK");
}

/* "+" or "+ ...": a SASL continuation. */
static int
is_cont(const uint8_t *line, size_t len)
{
	return len >= 1 && line[0] == '+' && (len == 1 || line[1] == ' ');
}

static void
trace_censored(struct pop *p, const char *dir, const uint8_t *line,
    size_t keep)
{
	char	*t;

	if (!session_tracing())
		return;
	if (asprintf(&t, "%.*s%s%s", (int)keep, line, keep ? " " : "",
	    CENSOR) != -1) {
		session_trace(p->s, dir, t, strlen(t));
		free(t);
	}
}

static void
send_upstream(struct pop *p, const char *line)
{
	session_server_printf(p->s, "%s\r\n", line);
	session_trace(p->s, ">S", line, strlen(line));
}

/* Logins only on a TLS client side, when the section says so. */
static int
login_refused(struct pop *p)
{
	unsigned int	f = session_tls_flags(p->s);

	return (f & SESSION_REQUIRE_TLS_LOGIN) && !(f & SESSION_TLS_CLIENT);
}

/* A local failure: -ERR, the session stays usable. */
static void
pop_fail(struct pop *p, const char *msg)
{
	if (msg != NULL)
		session_client_printf(p->s, AUTH_FAILED " %s\r\n", msg);
	else
		session_client_printf(p->s, AUTH_FAILED "\r\n");
	pop_reset(p);
}

/* Send "AUTH XOAUTH2" on a ready connection. */
static void
send_auth_cmd(struct pop *p)
{
	p->cont = 0;
	if (p->conn == CONN_READY)
		send_upstream(p, "AUTH XOAUTH2");
	/* else the new connection sends it once it is ready */
}

/* Both the server's "+" and tokend's answer are in: respond. */
static void
try_respond(struct pop *p)
{
	unsigned int	f;

	if (!p->cont)
		return;
	if (p->b64 != NULL) {
		f = session_tls_flags(p->s);
		if ((f & SESSION_SERVER_STARTTLS) &&
		    !(f & SESSION_TLS_SERVER)) {
			/* Never a token over a connection meant to be TLS. */
			session_bye(p->s, "Internal error: upstream not TLS");
			return;
		}
		session_server_printf(p->s, "%s\r\n", p->b64);
		session_trace(p->s, ">S", CENSOR, strlen(CENSOR));
		strwipe(&p->b64);
		p->cont = 0;
		p->state = POP_SENT;
	} else if (p->failmsg != NULL) {
		send_upstream(p, "*");
		p->cont = 0;
		p->state = POP_CANCEL;
	}
}

/* The credentials are in: ask tokend and start AUTH XOAUTH2. */
static void
pop_login(struct pop *p)
{
	if (p->user == NULL || p->pass == NULL || *p->user == '\0' ||
	    *p->pass == '\0') {
		pop_fail(p, NULL);
		return;
	}
	session_set_account(p->s, p->user);
	p->state = POP_AUTH;
	p->tokwait = 1;
	if (session_token_get(p->s, p->user, p->pass, NULL) == -1) {
		p->tokwait = 0;
		pop_fail(p, "Email OAuth 2.0 Proxy: internal error, "
		    "please retry");
		return;
	}
	if (p->state == POP_AUTH)
		send_auth_cmd(p);
}

static void
plain_response(struct pop *p, const uint8_t *b64, size_t len)
{
	if (sasl_plain_decode((const char *)b64, len, &p->user,
	    &p->pass) != SASL_PLAIN_OK) {
		pop_fail(p, NULL);
		return;
	}
	pop_login(p);
}

/* The rest of a "VERB rest" line, as a string. */
static char *
rest_of(const uint8_t *line, size_t len, size_t vlen)
{
	if (len <= vlen + 1)
		return strdup("");
	return strndup((const char *)line + vlen + 1, len - vlen - 1);
}

/* A command line in POP_IDLE. */
static ssize_t
client_command(struct pop *p, const uint8_t *line, size_t len,
    size_t consumed, size_t avail)
{
	const uint8_t	*mech, *q, *end = line + len;
	unsigned int	 f;
	int		 local;

	/* Commands we answer ourselves wait for the answers before them. */
	local = line_is(line, len, "CAPA") || verb_is(line, len, "AUTH") ||
	    verb_is(line, len, "USER") || line_is(line, len, "STLS") ||
	    verb_is(line, len, "APOP");
	if (local && p->pending > 0)
		return 0;

	if (line_is(line, len, "CAPA")) {
		session_trace(p->s, "C>", line, len);
		session_server_write(p->s, line, len + 2);
		p->capa_sasl = p->capa_user = 0;
		p->capa_first = 1;
		p->state = POP_CAPA;
		return consumed;
	}
	if (line_is(line, len, "AUTH")) {
		session_trace(p->s, "C>", line, len);
		session_client_printf(p->s, "+OK\r\nPLAIN\r\n.\r\n");
		return consumed;
	}
	if (verb_is(line, len, "AUTH")) {
		mech = line + 5;
		for (q = mech; q < end && *q != ' '; q++)
			;
		if (q - mech != 5 || strncasecmp((const char *)mech,
		    "PLAIN", 5) != 0) {
			/* Another mechanism is the server's business. */
			if (q == end)
				session_trace(p->s, "C>", line, len);
			else
				trace_censored(p, "C>", line, q - line);
			if (login_refused(p)) {
				session_client_printf(p->s, TLS_REQUIRED);
				return consumed;
			}
			session_server_write(p->s, line, len + 2);
			p->state = POP_FWD_AUTH;
			return consumed;
		}
		if (q == end)
			session_trace(p->s, "C>", line, len);
		else
			trace_censored(p, "C>", line, q - line);
		if (login_refused(p)) {
			session_client_printf(p->s, TLS_REQUIRED);
			return consumed;
		}
		if (q == end) {
			p->state = POP_PLAIN_CONT;
			session_client_printf(p->s, "+ \r\n");
			return consumed;
		}
		plain_response(p, q + 1, end - q - 1);
		return consumed;
	}
	if (verb_is(line, len, "USER")) {
		session_trace(p->s, "C>", line, len);
		if (login_refused(p)) {
			session_client_printf(p->s, TLS_REQUIRED);
			return consumed;
		}
		strwipe(&p->user);
		if ((p->user = rest_of(line, len, 4)) == NULL) {
			session_close(p->s, "out of memory");
			return -1;
		}
		p->state = POP_USER;
		session_client_printf(p->s, "+OK\r\n");
		return consumed;
	}
	if (line_is(line, len, "STLS")) {
		session_trace(p->s, "C>", line, len);
		f = session_tls_flags(p->s);
		if (!(f & SESSION_LOCAL_STARTTLS) || (f & SESSION_TLS_CLIENT)) {
			session_client_printf(p->s,
			    "-ERR STLS not available\r\n");
			return consumed;
		}
		if (avail > consumed) {
			/* RFC 2595: nothing may follow STLS in clear. */
			session_close(p->s, "client sent data after STLS");
			return -1;
		}
		session_client_printf(p->s, "+OK Begin TLS negotiation\r\n");
		p->state = POP_TLS_CLIENT;
		if (session_starttls_client(p->s, pop_tls_client_done) == -1) {
			session_close(p->s, "cannot start TLS with the client");
			return -1;
		}
		return consumed;
	}
	if (verb_is(line, len, "APOP")) {
		trace_censored(p, "C>", line, 4);
		if (login_refused(p)) {
			session_client_printf(p->s, TLS_REQUIRED);
			return consumed;
		}
		session_server_write(p->s, line, len + 2);
		p->state = POP_FWD_AUTH;
		return consumed;
	}
	if (verb_is(line, len, "PASS"))
		trace_censored(p, "C>", line, 4);
	else
		session_trace(p->s, "C>", line, len);
	session_server_write(p->s, line, len + 2);
	p->pending++;
	return consumed;
}

static ssize_t
pop_client_input(void *arg, const uint8_t *buf, size_t len)
{
	struct pop	*p = arg;
	ssize_t		 eol;
	size_t		 n;

	if (p->conn != CONN_READY)
		return 0;
	switch (p->state) {
	case POP_IDLE:
	case POP_PLAIN_CONT:
	case POP_USER:
	case POP_FWD_AUTH:
		break;
	default:
		return 0;
	}
	if ((eol = find_crlf(buf, len)) == -1) {
		if (len >= SESSION_LINE_MAX) {
			session_bye(p->s, "Line too long");
			return -1;
		}
		return 0;
	}
	n = eol + 2;
	if (n > SESSION_LINE_MAX) {
		session_bye(p->s, "Line too long");
		return -1;
	}

	switch (p->state) {
	case POP_PLAIN_CONT:
		session_trace(p->s, "C>", CENSOR, strlen(CENSOR));
		if (eol == 1 && buf[0] == '*') {
			session_client_printf(p->s, "-ERR\r\n");
			pop_reset(p);
			return n;
		}
		plain_response(p, buf, eol);
		return n;
	case POP_USER:
		if (!verb_is(buf, eol, "PASS")) {
			session_trace(p->s, "C>", buf, eol);
			session_client_printf(p->s, "+OK Bye\r\n");
			pop_reset(p);
			session_close(p->s, "no PASS after USER");
			return -1;
		}
		trace_censored(p, "C>", buf, 4);
		if ((p->pass = rest_of(buf, eol, 4)) == NULL) {
			session_close(p->s, "out of memory");
			return -1;
		}
		pop_login(p);
		return n;
	case POP_FWD_AUTH:
		/* The client's own SASL exchange: not ours to read. */
		session_trace(p->s, "C>", CENSOR, strlen(CENSOR));
		session_server_write(p->s, buf, n);
		return n;
	default:
		return client_command(p, buf, eol, n, len);
	}
}

static void
pop_token_ok(void *arg, const char *user, const char *token)
{
	struct pop	*p = arg;

	if (p->state != POP_AUTH || !p->tokwait)
		return;
	p->tokwait = 0;
	strwipe(&p->token);
	strwipe(&p->b64);
	if ((p->token = strdup(token)) == NULL ||
	    (p->b64 = sasl_xoauth2(user, token)) == NULL) {
		session_close(p->s, "out of memory");
		return;
	}
	try_respond(p);
}

static void
pop_token_fail(void *arg, enum token_fail reason, const char *message)
{
	struct pop	*p = arg;

	if (p->state != POP_AUTH || !p->tokwait)
		return;
	p->tokwait = 0;
	free(p->failmsg);
	if ((p->failmsg = strdup(message)) == NULL) {
		session_close(p->s, "out of memory");
		return;
	}
	strwipe(&p->pass);
	strwipe(&p->token);
	try_respond(p);
}

/* Decode the server's XOAUTH2 error challenge into a printable line. */
static void
keep_reason(struct pop *p, const uint8_t *b64, size_t len)
{
	uint8_t	*d;
	size_t	 dlen, i, o;

	free(p->reason);
	p->reason = NULL;
	if ((d = base64_decode((const char *)b64, len, &dlen)) == NULL)
		return;
	for (i = o = 0; i < dlen && o < REASON_MAX; i++)
		if (d[i] >= 0x20 && d[i] < 0x7f)
			d[o++] = d[i];
	d[o] = '\0';
	if (o > 0)
		p->reason = (char *)d;
	else
		freezero(d, dlen + 1);
}

/* A new upstream connection is up (and TLS if it must be). */
static void
conn_ready(struct pop *p)
{
	p->conn = CONN_READY;
	if (!p->greeted) {
		p->greeted = 1;
		if (p->greeting != NULL)
			session_client_printf(p->s, "%s\r\n", p->greeting);
		free(p->greeting);
		p->greeting = NULL;
	} else if (p->state == POP_AUTH)
		send_auth_cmd(p);
}

static void
pop_tls_server_done(void *arg, int ok, const char *error)
{
	struct pop	*p = arg;

	if (!ok) {
		log_warnx("session %u: TLS with the server failed: %s",
		    session_id(p->s), error ? error : "?");
		session_bye(p->s, "TLS negotiation with the server failed");
		return;
	}
	log_debug("session %u: upstream STLS done", session_id(p->s));
	conn_ready(p);
}

static void
pop_tls_client_done(void *arg, int ok, const char *error)
{
	struct pop	*p = arg;

	if (!ok) {
		session_close(p->s, error ? error :
		    "TLS negotiation with the client failed");
		return;
	}
	p->state = POP_IDLE;
}

/* Greeting and STLS of an upstream connection. */
static ssize_t
conn_input(struct pop *p, const uint8_t *line, size_t len, size_t avail)
{
	unsigned int	f;

	switch (p->conn) {
	case CONN_GREETING:
		if (!is_ok(line, len)) {
			if (!p->greeted) {
				session_client_write(p->s, line, len + 2);
				session_close(p->s, "server greeting refused");
			} else
				session_bye(p->s, "Server unavailable");
			return -1;
		}
		if (!p->greeted && (p->greeting = strndup((const char *)line,
		    len)) == NULL) {
			session_close(p->s, "out of memory");
			return -1;
		}
		f = session_tls_flags(p->s);
		if ((f & SESSION_SERVER_STARTTLS) &&
		    !(f & SESSION_TLS_SERVER)) {
			send_upstream(p, "STLS");
			p->conn = CONN_STLS;
		} else
			conn_ready(p);
		return len + 2;
	case CONN_STLS:
		if (!is_ok(line, len)) {
			log_warnx("session %u: server refused STLS: %.*s",
			    session_id(p->s), (int)len, line);
			session_bye(p->s, "The server refused STLS");
			return -1;
		}
		if (avail > len + 2) {
			session_bye(p->s, "Protocol error after STLS");
			return -1;
		}
		p->conn = CONN_HANDSHAKE;
		if (session_starttls_server(p->s, pop_tls_server_done) == -1) {
			session_bye(p->s, "TLS negotiation with the server "
			    "failed");
			return -1;
		}
		return len + 2;
	default:
		return 0;
	}
}

/* Streamed CAPA answer: SASL PLAIN, USER, STLS as we offer them. */
static void
capa_line(struct pop *p, const uint8_t *line, size_t len, int first)
{
	unsigned int	f = session_tls_flags(p->s);
	int		adv, stls;

	adv = !((f & SESSION_REQUIRE_TLS_LOGIN) && !(f & SESSION_TLS_CLIENT));
	stls = (f & SESSION_LOCAL_STARTTLS) && !(f & SESSION_TLS_CLIENT);
	if (first) {
		session_client_write(p->s, line, len + 2);
		if (line[0] == '-')
			p->state = POP_IDLE;
		return;
	}
	if (len == 1 && line[0] == '.') {
		if (adv && !p->capa_sasl)
			session_client_printf(p->s, "SASL PLAIN\r\n");
		if (adv && !p->capa_user)
			session_client_printf(p->s, "USER\r\n");
		if (stls)
			session_client_printf(p->s, "STLS\r\n");
		session_client_printf(p->s, ".\r\n");
		p->state = POP_IDLE;
		return;
	}
	if (len >= 4 && strncasecmp((const char *)line, "SASL", 4) == 0) {
		if (adv && !p->capa_sasl)
			session_client_printf(p->s, "SASL PLAIN\r\n");
		p->capa_sasl = 1;
		return;
	}
	if (line_is(line, len, "USER")) {
		if (adv && !p->capa_user)
			session_client_write(p->s, line, len + 2);
		p->capa_user = 1;
		return;
	}
	/* The server's STLS is ours to use, not the client's. */
	if (verb_is(line, len, "STLS"))
		return;
	session_client_write(p->s, line, len + 2);
}

/* The server's answer to our XOAUTH2 response. */
static void
auth_answer(struct pop *p, const uint8_t *line, size_t len)
{
	if (is_ok(line, len)) {
		session_client_write(p->s, line, len + 2);
		log_debug("session %u: upstream accepted the token",
		    session_id(p->s));
		pop_reset(p);
		p->state = POP_DONE;
		session_login_done(p->s);
		return;
	}
	if (is_cont(line, len)) {
		/* Error challenge: answer it, the client never sees it. */
		if (len > 2)
			keep_reason(p, line + 2, len - 2);
		session_server_write(p->s, "\r\n", 2);
		session_trace(p->s, ">S", "", 0);
		return;
	}
	if (!p->retried) {
		/* Part 1 §13: the token is stale; get a new one, retry. */
		log_info("session %u: server rejected the token for %s%s%s, "
		    "retrying with a new one", session_id(p->s), p->user,
		    p->reason ? ": " : "", p->reason ? p->reason : "");
		p->retried = 1;
		p->state = POP_AUTH;
		p->tokwait = 1;
		if (session_token_get(p->s, p->user, p->pass,
		    p->token) == -1) {
			p->tokwait = 0;
			pop_fail(p, "Email OAuth 2.0 Proxy: internal error");
			return;
		}
		if (p->state == POP_AUTH)
			send_auth_cmd(p);
		return;
	}
	if (p->reason != NULL)
		session_client_printf(p->s, "%.*s (server said: %s)\r\n",
		    (int)len, line, p->reason);
	else
		session_client_write(p->s, line, len + 2);
	session_login_rejected(p->s);
	log_info("session %u: server refused the login of %s: %.*s%s%s",
	    session_id(p->s), p->user ? p->user : "?", (int)len, line,
	    p->reason ? " " : "", p->reason ? p->reason : "");
	pop_reset(p);
}

static ssize_t
pop_server_input(void *arg, const uint8_t *buf, size_t len)
{
	struct pop	*p = arg;
	ssize_t		 eol;
	size_t		 n;

	if (p->state == POP_DONE || p->conn == CONN_HANDSHAKE)
		return 0;
	if ((eol = find_crlf(buf, len)) == -1) {
		if (len >= SERVER_LINE_MAX) {
			session_close(p->s, "server line too long");
			return -1;
		}
		return 0;
	}
	n = eol + 2;
	session_trace(p->s, "S>", buf, eol);
	if (p->conn != CONN_READY)
		return conn_input(p, buf, eol, len);

	switch (p->state) {
	case POP_CAPA:
		capa_line(p, buf, eol, p->capa_first);
		p->capa_first = 0;
		return n;
	case POP_AUTH:
		if (is_cont(buf, eol)) {
			p->cont = 1;
			try_respond(p);
			return n;
		}
		if (buf[0] == '-' && p->failmsg != NULL) {
			pop_fail(p, p->failmsg);
			return n;
		}
		/* The server will not do XOAUTH2: nothing to retry. */
		session_client_write(p->s, buf, n);
		log_warnx("session %u: server refused AUTH XOAUTH2: %.*s",
		    session_id(p->s), (int)eol, buf);
		session_login_rejected(p->s);
		session_close(p->s, "server refused AUTH XOAUTH2");
		return -1;
	case POP_CANCEL:
		if (buf[0] != '-') {
			session_close(p->s, "server accepted a cancelled "
			    "login");
			return -1;
		}
		pop_fail(p, p->failmsg);
		return n;
	case POP_SENT:
		auth_answer(p, buf, eol);
		return n;
	case POP_FWD_AUTH:
		session_client_write(p->s, buf, n);
		if (is_ok(buf, eol)) {
			/* The client did its own OAuth: relay. */
			p->state = POP_DONE;
			session_login_done(p->s);
		} else if (buf[0] == '-')
			p->state = POP_IDLE;
		return n;
	default:
		session_client_write(p->s, buf, n);
		if (p->pending > 0 && (buf[0] == '+' || buf[0] == '-'))
			p->pending--;
		return n;
	}
}

static int
pop_server_closed(void *arg)
{
	struct pop	*p = arg;

	switch (p->state) {
	case POP_AUTH:
		/* Gone while we waited: try a fresh connection. */
		if (p->reconnects >= RECONNECT_MAX)
			return 0;
		p->reconnects++;
		break;
	case POP_SENT:
		if (p->retried)
			return 0;
		/* Gone before answering: this is the one retry. */
		p->retried = 1;
		p->state = POP_AUTH;
		p->tokwait = 1;
		if (session_token_get(p->s, p->user, p->pass,
		    p->token) == -1)
			return 0;
		break;
	case POP_CANCEL:
		/* The cancel was answered by a close: still a local fail. */
		pop_fail(p, p->failmsg);
		break;
	default:
		return 0;
	}
	p->cont = 0;
	p->pending = 0;
	p->conn = CONN_GREETING;
	session_reconnect(p->s);
	return 1;
}

const struct proto_ops pop_ops = {
	.proto = PROTO_POP,
	.name = "POP",
	.bye_fmt = "-ERR %s\r\n",
	.init = pop_init,
	.free = pop_free,
	.client_input = pop_client_input,
	.server_input = pop_server_input,
	.token_ok = pop_token_ok,
	.token_fail = pop_token_fail,
	.server_closed = pop_server_closed
};
