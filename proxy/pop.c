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
 * POP3 before login.
 *
 * Client side: commands are forwarded, except CAPA (whose answer we
 * rewrite to offer SASL PLAIN and USER), a bare AUTH, AUTH PLAIN,
 * USER/PASS and STLS, which we answer ourselves.  A login asks tokend
 * for a token while "AUTH XOAUTH2" goes upstream; the response follows
 * the server's "+".  A local failure cancels the exchange with "*" and
 * the client may try again.  A token the server refuses is replaced
 * once.  After the server's +OK the session relays bytes.
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
#include "proto.h"
#include "sasl.h"
#include "session.h"
#include "starttls.h"

#define AUTH_FAILED	"-ERR Authentication failed."
/* RFC 3206: the person behind the credentials must act. */
#define AUTH_PENDING	"-ERR [AUTH]"
/* RFC 3206: a temporary failure of the system, not of the credentials. */
#define AUTH_TEMP	"-ERR [SYS/TEMP]"
#define TLS_REQUIRED	"-ERR [AUTH] TLS is required: use STLS first\r\n"

enum pop_state {
	POP_IDLE,		/* reading client commands */
	POP_CAPA,		/* CAPA forwarded, rewriting its answer */
	POP_PLAIN_CONT,		/* sent "+ ", waiting for the PLAIN response */
	POP_USER,		/* USER answered, waiting for PASS */
	POP_FWD_AUTH,		/* the client's own AUTH or APOP, forwarded */
	POP_TLS_CLIENT,		/* answered STLS, client handshake running */
	POP_XOAUTH2,		/* our AUTH XOAUTH2 exchange: see lg.xo */
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
	struct proto_login lg;		/* credentials, XOAUTH2 exchange */
	unsigned int	 pending;	/* forwarded commands not answered */
	int		 authcont;	/* the server asked for a SASL line */
	int		 greeted;	/* the client has had the greeting */
	int		 capa_first;	/* CAPA answer: the status line next */
	int		 capa_sasl;	/* ... a SASL line seen */
	int		 capa_user;	/* ... a USER line seen */
	int		 quit;		/* the client's QUIT went upstream */
};

static void	 pop_tls_server_done(void *, int, const char *);
static void	 pop_tls_client_done(void *, int, const char *);

static void *
pop_init(struct session *s)
{
	struct pop	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->s = p->lg.s = s;
	p->state = POP_IDLE;
	p->conn = CONN_GREETING;
	return p;
}

/* Forget the login in progress, wiping every credential. */
static void
pop_reset(struct pop *p)
{
	proto_login_clear(&p->lg);
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

/* "+OK", "+OK ...": a positive status line. */
static int
pop_is_ok(const uint8_t *line, size_t len)
{
	return proto_verb_is(line, len, "+OK");
}

/* "+" or "+ ...": a SASL continuation. */
static int
pop_is_cont(const uint8_t *line, size_t len)
{
	return len >= 1 && line[0] == '+' && (len == 1 || line[1] == ' ');
}

/* A local failure: -ERR, the session stays usable. */
static void
pop_fail(struct pop *p, const char *msg)
{
	proto_fail_reply(p->s, AUTH_FAILED, msg);
	pop_reset(p);
}

/* tokend's refusal; an authorisation a person must give says so. */
static void
pop_fail_token(struct pop *p)
{
	proto_fail_reply(p->s, p->lg.failpending ? AUTH_PENDING :
	    p->lg.failtemp ? AUTH_TEMP : AUTH_FAILED, p->lg.failmsg);
	pop_reset(p);
}

/* The credentials are in: ask tokend and start AUTH XOAUTH2. */
static void
pop_login(struct pop *p)
{
	const char	*why;

	p->state = POP_XOAUTH2;
	/* On a new connection AUTH goes once it is ready (pop_conn_ready). */
	if (proto_login_start(&p->lg, p->conn == CONN_READY, &why) == -1)
		pop_fail(p, why);
}

static void
pop_plain_response(struct pop *p, const uint8_t *b64, size_t len)
{
	if (sasl_plain_decode((const char *)b64, len, &p->lg.user,
	    &p->lg.pass) != SASL_PLAIN_OK) {
		pop_fail(p, NULL);
		return;
	}
	pop_login(p);
}

/* The rest of a "VERB rest" line, as a string. */
static char *
pop_rest_of(const uint8_t *line, size_t len, size_t vlen)
{
	if (len <= vlen + 1)
		return strdup("");
	return strndup((const char *)line + vlen + 1, len - vlen - 1);
}

/* The client's own AUTH or APOP: the server's business, TLS allowing. */
static ssize_t
pop_forward_auth(struct pop *p, const uint8_t *line, size_t len,
    size_t consumed)
{
	if (proto_require_tls(p->s))
		session_client_printf(p->s, TLS_REQUIRED);
	else {
		session_server_write(p->s, line, len + 2);
		p->authcont = 0;
		p->state = POP_FWD_AUTH;
	}
	return consumed;
}

/* A command line in POP_IDLE. */
static ssize_t
pop_client_command(struct pop *p, const uint8_t *line, size_t len,
    size_t consumed, size_t avail)
{
	const uint8_t	*mech, *q, *end = line + len;
	unsigned int	 f;
	int		 local;

	/* Commands we answer ourselves wait for the answers before them. */
	local = proto_word_is(line, len, "CAPA") ||
	    proto_verb_is(line, len, "AUTH") ||
	    proto_verb_is(line, len, "USER") ||
	    proto_verb_is(line, len, "PASS") ||
	    proto_word_is(line, len, "STLS") ||
	    proto_verb_is(line, len, "APOP") ||
	    !proto_verb_valid(line, len);
	if (local && p->pending > 0)
		return 0;

	if (!proto_verb_valid(line, len)) {
		/* A server might split it otherwise: not forwarded. */
		proto_trace_censored(p->s, "C>", line, 0);
		session_client_printf(p->s, "-ERR Unknown command\r\n");
		return consumed;
	}

	if (proto_word_is(line, len, "CAPA")) {
		session_trace(p->s, "C>", line, len);
		session_server_write(p->s, line, len + 2);
		p->capa_sasl = p->capa_user = 0;
		p->capa_first = 1;
		p->state = POP_CAPA;
		return consumed;
	}
	if (proto_word_is(line, len, "AUTH")) {
		session_trace(p->s, "C>", line, len);
		session_client_printf(p->s, "+OK\r\nPLAIN\r\n.\r\n");
		return consumed;
	}
	if (proto_verb_is(line, len, "AUTH")) {
		mech = line + 5;
		for (q = mech; q < end && *q != ' '; q++)
			;
		if (!proto_mech_valid(mech, q - mech)) {
			proto_trace_censored(p->s, "C>", line, 4);
			session_client_printf(p->s,
			    "-ERR Invalid mechanism\r\n");
			return consumed;
		}
		if (q == end)
			session_trace(p->s, "C>", line, len);
		else
			proto_trace_censored(p->s, "C>", line, q - line);
		if (q - mech != 5 || strncasecmp((const char *)mech,
		    "PLAIN", 5) != 0)
			/* Another mechanism is the server's business. */
			return pop_forward_auth(p, line, len, consumed);
		if (proto_require_tls(p->s)) {
			session_client_printf(p->s, TLS_REQUIRED);
			return consumed;
		}
		if (q == end) {
			p->state = POP_PLAIN_CONT;
			session_client_printf(p->s, "+ \r\n");
			return consumed;
		}
		pop_plain_response(p, q + 1, end - q - 1);
		return consumed;
	}
	if (proto_verb_is(line, len, "USER")) {
		session_trace(p->s, "C>", line, len);
		if (proto_require_tls(p->s)) {
			session_client_printf(p->s, TLS_REQUIRED);
			return consumed;
		}
		str_wipe(&p->lg.user);
		if ((p->lg.user = pop_rest_of(line, len, 4)) == NULL) {
			session_close(p->s, "out of memory");
			return -1;
		}
		p->state = POP_USER;
		session_client_printf(p->s, "+OK\r\n");
		return consumed;
	}
	if (proto_word_is(line, len, "STLS")) {
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
		if (proto_client_starttls(p->s, pop_tls_client_done) == -1)
			return -1;
		return consumed;
	}
	if (proto_verb_is(line, len, "APOP")) {
		proto_trace_censored(p->s, "C>", line, 4);
		return pop_forward_auth(p, line, len, consumed);
	}
	if (proto_verb_is(line, len, "PASS")) {
		/* USER is ours: a PASS without it is not the server's. */
		proto_trace_censored(p->s, "C>", line, 4);
		session_client_printf(p->s, "-ERR USER first\r\n");
		return consumed;
	}
	session_trace(p->s, "C>", line, len);
	session_server_write(p->s, line, len + 2);
	p->pending++;
	if (proto_word_is(line, len, "QUIT"))
		p->quit = 1;
	return consumed;
}

static ssize_t
pop_client_input(void *arg, const uint8_t *buf, size_t len)
{
	struct pop	*p = arg;
	ssize_t		 n;
	size_t		 eol;

	if (p->conn != CONN_READY)
		return 0;
	switch (p->state) {
	case POP_IDLE:
	case POP_PLAIN_CONT:
	case POP_USER:
		break;
	case POP_FWD_AUTH:
		/* One line for each of the server's continuations. */
		if (!p->authcont)
			return 0;
		break;
	default:
		return 0;
	}
	if ((n = proto_client_line(p->s, buf, len)) <= 0)
		return n;
	eol = n - 2;

	switch (p->state) {
	case POP_PLAIN_CONT:
		session_trace(p->s, "C>", PROTO_CENSOR, strlen(PROTO_CENSOR));
		if (eol == 1 && buf[0] == '*') {
			session_client_printf(p->s, "-ERR\r\n");
			pop_reset(p);
			return n;
		}
		pop_plain_response(p, buf, eol);
		return n;
	case POP_USER:
		if (!proto_verb_is(buf, eol, "PASS")) {
			session_trace(p->s, "C>", buf, eol);
			session_client_printf(p->s, "+OK Bye\r\n");
			pop_reset(p);
			session_close(p->s, "no PASS after USER");
			return -1;
		}
		proto_trace_censored(p->s, "C>", buf, 4);
		if ((p->lg.pass = pop_rest_of(buf, eol, 4)) == NULL) {
			session_close(p->s, "out of memory");
			return -1;
		}
		pop_login(p);
		return n;
	case POP_FWD_AUTH:
		p->authcont = 0;
		proto_forward_secret(p->s, buf, n);
		return n;
	default:
		return pop_client_command(p, buf, eol, n, len);
	}
}

static void
pop_token_ok(void *arg, const char *user, const char *token)
{
	struct pop	*p = arg;

	proto_login_token(&p->lg, user, token);
}

static void
pop_token_fail(void *arg, enum token_fail reason, const char *message)
{
	struct pop	*p = arg;

	proto_login_token_fail(&p->lg, reason, message);
}

/* A new upstream connection is up (and TLS if it must be). */
static void
pop_conn_ready(struct pop *p)
{
	p->conn = CONN_READY;
	if (!p->greeted) {
		p->greeted = 1;
		if (p->greeting != NULL)
			session_client_printf(p->s, "%s\r\n", p->greeting);
		free(p->greeting);
		p->greeting = NULL;
	} else if (p->lg.xo == PROTO_XO_AUTH)
		proto_login_send_auth(&p->lg, 1);
}

static void
pop_tls_server_done(void *arg, int ok, const char *error)
{
	struct pop	*p = arg;

	if (proto_server_tls_done(p->s, ok, error) == -1)
		return;
	log_debug("session %u: upstream STLS done", session_id(p->s));
	pop_conn_ready(p);
}

static void
pop_tls_client_done(void *arg, int ok, const char *error)
{
	struct pop	*p = arg;

	if (proto_client_tls_done(p->s, ok, error) == 0)
		p->state = POP_IDLE;
}

/* Greeting and STLS of an upstream connection. */
static ssize_t
pop_conn_input(struct pop *p, const uint8_t *line, size_t len, size_t avail)
{
	switch (p->conn) {
	case CONN_GREETING:
		if (!pop_is_ok(line, len)) {
			/* A refusal is passed on; anything else is not POP. */
			if (!p->greeted && len >= 4 &&
			    strncasecmp((const char *)line, "-ERR", 4) == 0 &&
			    (len == 4 || line[4] == ' ')) {
				session_client_write(p->s, line, len + 2);
				session_close(p->s, "server greeting refused");
			} else {
				log_warnx("session %u: the server's greeting is "
				    "not a POP3 greeting", session_id(p->s));
				session_bye(p->s, "Server unavailable");
			}
			return -1;
		}
		if (!p->greeted && (p->greeting = strndup((const char *)line,
		    len)) == NULL) {
			session_close(p->s, "out of memory");
			return -1;
		}
		if (proto_server_tls_due(p->s)) {
			proto_send_line(p->s, "STLS");
			p->conn = CONN_STLS;
		} else
			pop_conn_ready(p);
		return len + 2;
	case CONN_STLS:
		if (!pop_is_ok(line, len)) {
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
pop_capa_line(struct pop *p, const uint8_t *line, size_t len, int first)
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
	if (proto_word_is(line, len, "USER")) {
		if (adv && !p->capa_user)
			session_client_write(p->s, line, len + 2);
		p->capa_user = 1;
		return;
	}
	/* The server's STLS is ours to use, not the client's. */
	if (proto_verb_is(line, len, "STLS"))
		return;
	session_client_write(p->s, line, len + 2);
}

/* The server's answer to our XOAUTH2 response. */
static void
pop_auth_answer(struct pop *p, const uint8_t *line, size_t len)
{
	if (pop_is_ok(line, len)) {
		pop_reset(p);
		p->state = POP_DONE;
		proto_accepted(p->s, line, len);
		return;
	}
	if (pop_is_cont(line, len)) {
		/* Error challenge: answer it, the client never sees it. */
		proto_login_challenge(&p->lg, line + 2, len > 2 ? len - 2 : 0);
		return;
	}
	if (!p->lg.retried) {
		if (proto_login_retry(&p->lg, p->conn == CONN_READY) == -1)
			pop_fail(p, PROTO_INTERNAL_ERROR);
		return;
	}
	proto_login_rejected(&p->lg, line, len);
	pop_reset(p);
}

/* A server line while our XOAUTH2 exchange runs. */
static ssize_t
pop_xoauth2_line(struct pop *p, const uint8_t *line, size_t len)
{
	switch (p->lg.xo) {
	case PROTO_XO_AUTH:
		if (pop_is_cont(line, len))
			proto_login_cont(&p->lg);
		else if (line[0] == '-' && p->lg.failmsg != NULL)
			pop_fail_token(p);
		else {
			/* The server will not do XOAUTH2: nothing to retry. */
			proto_no_xoauth2(p->s, line, len);
			return -1;
		}
		break;
	case PROTO_XO_CANCEL:
		if (line[0] != '-') {
			session_close(p->s, "server accepted a cancelled "
			    "login");
			return -1;
		}
		pop_fail_token(p);
		break;
	case PROTO_XO_SENT:
		pop_auth_answer(p, line, len);
		break;
	default:
		break;
	}
	return len + 2;
}

static ssize_t
pop_server_input(void *arg, const uint8_t *buf, size_t len)
{
	struct pop	*p = arg;
	ssize_t		 n;
	size_t		 eol;

	if (p->state == POP_DONE || p->conn == CONN_HANDSHAKE)
		return 0;
	if ((n = proto_server_line(p->s, buf, len)) <= 0)
		return n;
	eol = n - 2;
	if (p->conn != CONN_READY)
		return pop_conn_input(p, buf, eol, len);

	switch (p->state) {
	case POP_CAPA:
		pop_capa_line(p, buf, eol, p->capa_first);
		p->capa_first = 0;
		return n;
	case POP_XOAUTH2:
		return pop_xoauth2_line(p, buf, eol);
	case POP_FWD_AUTH:
		session_client_write(p->s, buf, n);
		if (pop_is_ok(buf, eol)) {
			/* The client did its own OAuth: relay. */
			p->state = POP_DONE;
			session_login_done(p->s);
		} else if (pop_is_cont(buf, eol))
			p->authcont = 1;
		else if (buf[0] == '-')
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
	int		 r;

	if (p->quit)
		return SERVER_CLOSED_QUIT;
	if ((r = proto_login_closed(&p->lg)) == PROTO_CLOSED_END)
		return 0;
	if (r == PROTO_CLOSED_FAIL)
		pop_fail_token(p);	/* the cancel met a close */
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
