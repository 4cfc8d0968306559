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
 * IMAP before login.
 *
 * Client side: CAPABILITY, NOOP, LOGOUT, ID, STARTTLS and AUTHENTICATE
 * with another mechanism are forwarded; LOGIN and AUTHENTICATE PLAIN
 * we parse (RFC 9051 quoted strings and literals) and turn into a token
 * request to tokend; the server then gets "<tag> AUTHENTICATE XOAUTH2
 * ..." with the client's own tag.  Anything else is answered BAD here
 * (imap_client_command), and a line not ended by CRLF ends the session
 * (proto_client_line).  A login waits until every forwarded command has
 * had its tagged answer, so no earlier answer passes for its own.
 * Server side: every line is forwarded, capability lines rewritten so
 * the client sees AUTH=PLAIN.  After the server's tagged OK the
 * session relays bytes.
 *
 * STARTTLS: with server_starttls each upstream connection
 * is upgraded before anything else goes to it (greeting or CAPABILITY
 * must offer STARTTLS, else the session ends: never a login in clear),
 * then its capabilities are read again over TLS.  With local_starttls
 * the client is offered STARTTLS while its side is plain, and with
 * require_tls_login it cannot log in before.
 */

#include <sys/types.h>

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "imap.h"
#include "proto.h"
#include "sasl.h"
#include "session.h"
#include "starttls.h"

/* Our own commands to the server, before the client's are let through. */
#define TAG_CAPA	"epx1"
#define TAG_STARTTLS	"epx2"
#define TAG_CAPA_TLS	"epx3"

enum imap_state {
	IMAP_GREETING,		/* waiting for the server's greeting */
	IMAP_IDLE,		/* reading client command lines */
	IMAP_LITERAL,		/* reading the bytes of a LOGIN literal */
	IMAP_LOGIN_CONT,	/* the LOGIN line goes on after a literal */
	IMAP_FWD_LITWAIT,	/* a forwarded literal: the server's "+"? */
	IMAP_FWD_LITERAL,	/* passing a forwarded command's literal */
	IMAP_FWD_CONT,		/* the forwarded command goes on after it */
	IMAP_FWD_AUTH,		/* the client's own AUTHENTICATE, forwarded */
	IMAP_PLAIN_CONT,	/* sent "+ ", waiting for the PLAIN response */
	IMAP_TOKEN,		/* waiting for tokend */
	IMAP_UPSTREAM,		/* AUTHENTICATE XOAUTH2 sent */
	IMAP_TLS_CLIENT,	/* STARTTLS with the client in progress */
	IMAP_DONE		/* logged in: the session relays */
};

/* An upstream connection with server_starttls, until it is usable. */
enum imap_conn {
	CONN_GREETING,		/* waiting for the greeting */
	CONN_CAPA,		/* TAG_CAPA sent: does it offer STARTTLS? */
	CONN_STARTTLS,		/* TAG_STARTTLS sent */
	CONN_HANDSHAKE,		/* the session does the TLS handshake */
	CONN_CAPA_TLS,		/* TAG_CAPA_TLS sent over TLS */
	CONN_READY
};

enum imap_verb {
	VERB_LOGIN,
	VERB_AUTHENTICATE
};

struct imap {
	struct session	*s;
	enum imap_state	 state;
	enum imap_verb	 verb;
	char		*tag;		/* of the login command */
	char		*args[2];	/* LOGIN userid, password */
	size_t		 nargs;
	size_t		 litlen;	/* LOGIN literal expected */
	size_t		 fwdlit;	/* the literal the server must accept */
	size_t		 fwdleft;	/* client literal bytes to forward */
	size_t		 srvleft;	/* server literal bytes to forward */
	int		 srvcont;	/* a server line goes on after one */
	unsigned int	 pending;	/* forwarded commands not answered */
	int		 authcont;	/* the server asked for a SASL line */
	struct proto_login lg;		/* credentials, token, retry */
	int		 sasl_ir;	/* the server takes an initial resp. */
	int		 upstream_ready; /* greeting of this connection seen */
	int		 greeted;	/* the client has had a greeting */
	int		 quit;		/* the client's LOGOUT went upstream */
	int		 sent;		/* the XOAUTH2 response went out */
	enum imap_conn	 conn;
	int		 srv_starttls;	/* the server offers STARTTLS */
	char		*greeting;	/* its text, until the client gets it */
	char		*capline;	/* the capabilities it has over TLS */
};

static void	 imap_reset(struct imap *);

static void *
imap_init(struct session *s)
{
	struct imap	*im;

	if ((im = calloc(1, sizeof(*im))) == NULL)
		return NULL;
	im->s = im->lg.s = s;
	im->state = IMAP_GREETING;
	im->conn = CONN_GREETING;
	return im;
}

/* Forget the login in progress, wiping every credential. */
static void
imap_reset(struct imap *im)
{
	size_t	i;

	for (i = 0; i < im->nargs; i++)
		str_wipe(&im->args[i]);
	im->nargs = 0;
	im->litlen = 0;
	proto_login_clear(&im->lg);
	free(im->tag);
	im->tag = NULL;
	im->sent = 0;
	im->state = IMAP_IDLE;
}

static void
imap_free(void *arg)
{
	struct imap	*im = arg;

	if (im == NULL)
		return;
	imap_reset(im);
	free(im->greeting);
	free(im->capline);
	free(im);
}

/* RFC 9051 ATOM-CHAR; a UTF-8 byte passes too (RFC 6855). */
static int
imap_atomchar(unsigned char c)
{
	if (c >= 0x80)
		return 1;
	if (c <= 0x20 || c == 0x7f)
		return 0;
	return strchr("(){%*\"\\]", c) == NULL;
}

static int
imap_tagchar(unsigned char c)
{
	return c < 0x80 && c != '+' && (imap_atomchar(c) || c == ']');
}

static int
imap_astringchar(unsigned char c)
{
	return imap_atomchar(c) || c == ']';
}

/*
 * "{N}" or "{N+}" (or "~{N}") closing a line: the literal's size, else
 * -1.  *sync is 1 for a synchronising literal.
 */
static long long
imap_literal_spec(const uint8_t *line, size_t len, int *sync)
{
	size_t		 i;
	long long	 n = 0;

	if (len < 3 || line[len - 1] != '}')
		return -1;
	i = len - 1;
	*sync = 1;
	if (line[i - 1] == '+') {
		*sync = 0;
		i--;
	}
	if (i == 0 || !isdigit(line[i - 1]))
		return -1;
	while (i > 0 && isdigit(line[i - 1]))
		i--;
	if (i == 0 || line[i - 1] != '{')
		return -1;
	for (; line[i] != '}' && line[i] != '+'; i++) {
		if (n > 1000000000000LL)
			return 1000000000000LL;
		n = n * 10 + (line[i] - '0');
	}
	return n;
}

static void
imap_trace_client(struct imap *im, const uint8_t *line, size_t len, int censor)
{
	char	*t;

	if (!session_tracing())
		return;
	if (!censor) {
		session_trace(im->s, "C>", line, len);
		return;
	}
	if (censor == 2 || im->tag == NULL) {
		session_trace(im->s, "C>", PROTO_CENSOR, strlen(PROTO_CENSOR));
		return;
	}
	if (asprintf(&t, "%s %s %s", im->tag, im->verb == VERB_LOGIN ?
	    "LOGIN" : "AUTHENTICATE", PROTO_CENSOR) != -1) {
		session_trace(im->s, "C>", t, strlen(t));
		free(t);
	}
}

/* A local failure: tagged NO, the session stays usable. */
static void
imap_fail(struct imap *im, const char *fmt, const char *msg)
{
	session_client_printf(im->s, fmt, im->tag, msg);
	imap_reset(im);
}

static void
imap_ask_token(struct imap *im)
{
	session_set_account(im->s, im->lg.user);
	im->state = IMAP_TOKEN;
	if (session_token_get(im->s, im->lg.user, im->lg.pass, NULL) == -1)
		imap_fail(im, "%s NO [UNAVAILABLE] %s\r\n",
		    PROTO_INTERNAL_RETRY);
}

/*
 * Parse "SP astring" items from p on, filling im->args.  Returns 1 when
 * the command is complete (two arguments, end of line), 2 when a literal
 * follows (im->litlen set; *sync), 3 when it is too long, -1 on a syntax
 * error.
 */
static int
imap_parse_login_args(struct imap *im, const uint8_t *p, const uint8_t *end,
    int *sync)
{
	const uint8_t	*q;
	char		*arg, *o;
	size_t		 asize;
	long long	 n;

	for (;;) {
		if (p == end)
			return im->nargs == 2 ? 1 : -1;
		if (im->nargs == 2 || *p != ' ' || ++p == end)
			return -1;
		if (*p == '"') {
			/* Quoted string: \\ and \" are the only escapes. */
			asize = end - p;
			if ((arg = malloc(asize)) == NULL)
				return -1;
			for (o = arg, p++; p < end && *p != '"'; p++) {
				if (*p == '\\') {
					if (++p == end ||
					    (*p != '\\' && *p != '"'))
						break;
				} else if (*p == '\0')
					break;
				*o++ = *p;
			}
			*o = '\0';
			if (p == end || *p != '"') {
				freezero(arg, asize);
				return -1;
			}
			p++;
			im->args[im->nargs++] = arg;
		} else if (*p == '{') {
			n = imap_literal_spec(p, end - p, sync);
			if (n < 0)
				return -1;
			if (n > SESSION_LITERAL_MAX)
				return 3;
			im->litlen = n;
			return 2;
		} else {
			for (q = p; q < end && imap_astringchar(*q); q++)
				;
			if (q == p)
				return -1;
			if ((arg = strndup((const char *)p, q - p)) == NULL)
				return -1;
			im->args[im->nargs++] = arg;
			p = q;
		}
	}
}

/* Both LOGIN arguments are there: ask for a token. */
static void
imap_login_complete(struct imap *im)
{
	im->lg.user = im->args[0];
	im->lg.pass = im->args[1];
	im->args[0] = im->args[1] = NULL;
	im->nargs = 0;
	imap_ask_token(im);
}

/* After the LOGIN arguments so far: wait for a literal or finish. */
static ssize_t
imap_login_args(struct imap *im, const uint8_t *p, const uint8_t *end,
    size_t consumed)
{
	int	 sync = 0;

	switch (imap_parse_login_args(im, p, end, &sync)) {
	case 1:
		imap_login_complete(im);
		break;
	case 2:
		im->state = IMAP_LITERAL;
		if (sync)
			session_client_write(im->s, "+ \r\n", 4);
		break;
	case 3:
		session_bye(im->s, "Literal too long");
		return -1;
	default:
		imap_fail(im, "%s BAD %s\r\n", "Invalid LOGIN arguments");
		break;
	}
	return consumed;
}

static void
imap_plain_response(struct imap *im, const uint8_t *b64, size_t len)
{
	switch (sasl_plain_decode((const char *)b64, len, &im->lg.user,
	    &im->lg.pass)) {
	case SASL_PLAIN_OK:
		imap_ask_token(im);
		break;
	case SASL_PLAIN_BADBASE64:
		imap_fail(im, "%s BAD %s\r\n",
		    "Invalid base64 in AUTHENTICATE PLAIN response");
		break;
	case SASL_PLAIN_MALFORMED:
		imap_fail(im, "%s NO [AUTHENTICATIONFAILED] %s\r\n",
		    "Malformed AUTHENTICATE PLAIN response");
		break;
	}
}

static void
imap_tls_client_done(void *arg, int ok, const char *error)
{
	struct imap	*im = arg;

	if (proto_client_tls_done(im->s, ok, error) == -1)
		return;
	log_debug("session %u: client STARTTLS done", session_id(im->s));
	im->state = IMAP_IDLE;
}

/* The client's STARTTLS: ours to answer, never the server's. */
static ssize_t
imap_client_starttls(struct imap *im, const uint8_t *line, size_t taglen,
    int noargs, size_t consumed, size_t avail)
{
	unsigned int	f = session_tls_flags(im->s);

	if (!(f & (SESSION_LOCAL_STARTTLS | SESSION_SERVER_STARTTLS |
	    SESSION_REQUIRE_TLS_LOGIN)))
		return 0;	/* forwarded like any command */
	if (!noargs) {
		session_client_printf(im->s, "%.*s BAD STARTTLS takes no "
		    "arguments\r\n", (int)taglen, line);
		return consumed;
	}
	if (!(f & SESSION_LOCAL_STARTTLS) || (f & SESSION_TLS_CLIENT)) {
		session_client_printf(im->s, "%.*s BAD STARTTLS not "
		    "available\r\n", (int)taglen, line);
		return consumed;
	}
	if (avail > consumed) {
		/* RFC 9051 §6.2.1: nothing may follow STARTTLS in clear. */
		session_close(im->s, "client sent data after STARTTLS");
		return -1;
	}
	session_client_printf(im->s, "%.*s OK Begin TLS negotiation now\r\n",
	    (int)taglen, line);
	im->state = IMAP_TLS_CLIENT;
	/* This drops the line we were given: do not touch it after. */
	if (proto_client_starttls(im->s, imap_tls_client_done) == -1)
		return -1;
	return consumed;
}

/* LOGIN or AUTHENTICATE before TLS with require_tls_login. */
static ssize_t
imap_refuse_login(struct imap *im, const uint8_t *line, size_t len,
    size_t taglen, size_t consumed)
{
	int	sync = 1;

	imap_trace_client(im, line, len, 2);
	if (imap_literal_spec(line, len, &sync) >= 0 && !sync) {
		/* Its bytes follow unasked: no telling where they end. */
		session_bye(im->s, "Login only after STARTTLS");
		return -1;
	}
	session_client_printf(im->s, "%.*s NO [PRIVACYREQUIRED] Login only "
	    "after STARTTLS\r\n", (int)taglen, line);
	return consumed;
}

/* Is the word one of the commands we forward before login? */
static int
imap_forwarded_verb(const uint8_t *verb, size_t len)
{
	return proto_word_is(verb, len, "CAPABILITY") ||
	    proto_word_is(verb, len, "NOOP") ||
	    proto_word_is(verb, len, "LOGOUT") ||
	    proto_word_is(verb, len, "ID") ||
	    proto_word_is(verb, len, "STARTTLS");
}

/*
 * A command line, or its continuation after a literal, goes upstream.
 * A synchronising literal closing it is sent only once the server asked
 * for it ("+"); a refusal (its tagged answer) ends the command, and the
 * client's next bytes are a command again, as for the server.  A
 * non-synchronising literal (LITERAL+) ends the session: its bytes
 * follow unasked, and whether a server reads them as data or as the
 * next command is not for us to guess before login.  Literals are
 * bounded by SESSION_LITERAL_MAX.
 */
static ssize_t
imap_forward_command(struct imap *im, const uint8_t *line, size_t len,
    size_t consumed)
{
	long long	n;
	int		sync = 1;

	if ((n = imap_literal_spec(line, len, &sync)) >= 0) {
		if (!sync) {
			imap_trace_client(im, line, len, 2);
			session_bye(im->s, "Non-synchronising literal "
			    "before login");
			return -1;
		}
		if (n > SESSION_LITERAL_MAX) {
			imap_trace_client(im, line, len, 2);
			session_bye(im->s, "Literal too long");
			return -1;
		}
	}
	imap_trace_client(im, line, len, 0);
	session_server_write(im->s, line, len);
	session_server_write(im->s, "\r\n", 2);
	if (im->state != IMAP_FWD_CONT)
		im->pending++;
	if (n >= 0) {
		im->fwdlit = n;
		im->state = IMAP_FWD_LITWAIT;
	} else
		im->state = IMAP_IDLE;
	return consumed;
}

/* The client's own AUTHENTICATE: the server's business, line by line. */
static ssize_t
imap_forward_auth(struct imap *im, const uint8_t *line, size_t len,
    size_t keep, size_t consumed)
{
	if (session_tracing()) {
		session_trace(im->s, "C>", line, keep);
		if (keep < len)
			session_trace(im->s, "C>", PROTO_CENSOR,
			    strlen(PROTO_CENSOR));
	}
	session_server_write(im->s, line, len);
	session_server_write(im->s, "\r\n", 2);
	im->pending++;
	im->authcont = 0;
	im->state = IMAP_FWD_AUTH;
	return consumed;
}

/* A line we do not forward: tagged BAD, and the trace shows no more. */
static ssize_t
imap_refuse_command(struct imap *im, const uint8_t *line, size_t taglen,
    const char *why, size_t consumed)
{
	proto_trace_censored(im->s, "C>", line, taglen);
	if (taglen == 0)
		session_client_printf(im->s, "* BAD %s\r\n", why);
	else
		session_client_printf(im->s, "%.*s BAD %s\r\n", (int)taglen,
		    line, why);
	return consumed;
}

/* Is the initial response base64 (or "=")? */
static int
imap_initial_response(const uint8_t *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (!isalnum(p[i]) && p[i] != '+' && p[i] != '/' &&
		    p[i] != '=')
			return 0;
	return len > 0;
}

/*
 * A command line in IMAP_IDLE.  Before login only CAPABILITY, NOOP,
 * LOGOUT, ID, STARTTLS, LOGIN and AUTHENTICATE, each written "tag SP
 * command" with single spaces, are understood; anything else is
 * answered BAD here, so the server never reads a command we did not.
 * Commands that need the answers before them (LOGIN, AUTHENTICATE,
 * STARTTLS, a literal) and the ones we answer wait until every
 * forwarded command has had its tagged answer: tags need not be unique,
 * and an earlier command's answer must never pass for a login's.
 */
static ssize_t
imap_client_command(struct imap *im, const uint8_t *line, size_t len,
    size_t consumed, size_t avail)
{
	const uint8_t	*p = line, *end = line + len, *verb, *mech;
	size_t		 taglen, vlen;
	int		 sync = 1, fwd, spaced;
	ssize_t		 r;

	while (p < end && imap_tagchar(*p))
		p++;
	taglen = p - line;
	spaced = p < end && *p == ' ';
	if (spaced)
		p++;
	for (verb = p; p < end && *p != ' '; p++)
		;
	vlen = p - verb;
	fwd = taglen > 0 && spaced && imap_forwarded_verb(verb, vlen) &&
	    !proto_word_is(verb, vlen, "STARTTLS") &&
	    imap_literal_spec(line, len, &sync) < 0;
	if (!fwd && im->pending > 0)
		return 0;
	if (taglen == 0 || !spaced)
		return imap_refuse_command(im, line, 0, "Invalid tag",
		    consumed);
	if (vlen == 0)
		return imap_refuse_command(im, line, taglen, "Invalid command",
		    consumed);
	if (proto_word_is(verb, vlen, "STARTTLS") &&
	    (r = imap_client_starttls(im, line, taglen, p == end,
	    consumed, avail)) != 0)
		return r;
	if (imap_forwarded_verb(verb, vlen)) {
		if (proto_word_is(verb, vlen, "LOGOUT"))
			im->quit = 1;
		return imap_forward_command(im, line, len, consumed);
	}
	if (!proto_word_is(verb, vlen, "LOGIN") &&
	    !proto_word_is(verb, vlen, "AUTHENTICATE"))
		return imap_refuse_command(im, line, taglen,
		    "Unknown command or not allowed before login", consumed);
	if (proto_require_tls(im->s))
		return imap_refuse_login(im, line, len, taglen, consumed);
	if (proto_word_is(verb, vlen, "LOGIN")) {
		if ((im->tag = strndup((const char *)line, taglen)) == NULL)
			return -1;
		im->verb = VERB_LOGIN;
		imap_trace_client(im, line, len, 1);
		return imap_login_args(im, p, end, consumed);
	}
	if (p < end)
		p++;
	for (mech = p; p < end && *p != ' '; p++)
		;
	if (!proto_mech_valid(mech, p - mech))
		return imap_refuse_command(im, line, taglen,
		    "Invalid AUTHENTICATE arguments", consumed);
	if (!proto_word_is(mech, p - mech, "PLAIN")) {
		/* Another mechanism is the server's business. */
		if (p < end && !imap_initial_response(p + 1, end - p - 1))
			return imap_refuse_command(im, line, taglen,
			    "Invalid AUTHENTICATE arguments", consumed);
		return imap_forward_auth(im, line, len, p - line, consumed);
	}
	if ((im->tag = strndup((const char *)line, taglen)) == NULL)
		return -1;
	im->verb = VERB_AUTHENTICATE;
	imap_trace_client(im, line, len, 1);
	if (p == end) {
		im->state = IMAP_PLAIN_CONT;
		session_client_write(im->s, "+ \r\n", 4);
		return consumed;
	}
	p++;
	imap_plain_response(im, p, end - p);
	return consumed;
}

static ssize_t
imap_client_input(void *arg, const uint8_t *buf, size_t len)
{
	struct imap	*im = arg;
	ssize_t		 n;
	size_t		 eol;
	char		*lit;

	switch (im->state) {
	case IMAP_GREETING:
	case IMAP_TOKEN:
	case IMAP_UPSTREAM:
	case IMAP_TLS_CLIENT:
	case IMAP_FWD_LITWAIT:
	case IMAP_DONE:
		return 0;
	case IMAP_LITERAL:
		if (len < im->litlen)
			return 0;
		if (memchr(buf, '\0', im->litlen) != NULL) {
			imap_fail(im, "%s BAD %s\r\n",
			    "NUL in LOGIN literal");
			return im->litlen;
		}
		if ((lit = strndup((const char *)buf, im->litlen)) == NULL)
			return -1;
		imap_trace_client(im, buf, im->litlen, 2);
		im->args[im->nargs++] = lit;
		n = im->litlen;
		im->litlen = 0;
		im->state = IMAP_LOGIN_CONT;
		return n;
	case IMAP_FWD_LITERAL:
		n = len < im->fwdleft ? len : im->fwdleft;
		session_server_write(im->s, buf, n);
		if ((im->fwdleft -= n) == 0)
			im->state = IMAP_FWD_CONT;
		return n;
	case IMAP_FWD_AUTH:
		/* One line for each of the server's continuations. */
		if (!im->authcont)
			return 0;
		break;
	default:
		break;
	}

	/* A line: IDLE, LOGIN_CONT, PLAIN_CONT, FWD_CONT or FWD_AUTH. */
	if ((n = proto_client_line(im->s, buf, len)) <= 0)
		return n;
	eol = n - 2;

	switch (im->state) {
	case IMAP_LOGIN_CONT:
		imap_trace_client(im, buf, eol, 2);
		return imap_login_args(im, buf, buf + eol, eol + 2);
	case IMAP_PLAIN_CONT:
		imap_trace_client(im, buf, eol, 2);
		if (eol == 1 && buf[0] == '*') {
			imap_fail(im, "%s BAD %s\r\n",
			    "AUTHENTICATE cancelled");
			return eol + 2;
		}
		imap_plain_response(im, buf, eol);
		return eol + 2;
	case IMAP_FWD_CONT:
		return imap_forward_command(im, buf, eol, eol + 2);
	case IMAP_FWD_AUTH:
		im->authcont = 0;
		proto_forward_secret(im->s, buf, n);
		return n;
	default:
		return imap_client_command(im, buf, eol, eol + 2, len);
	}
}

/* Send the XOAUTH2 command with the token we hold. */
static void
imap_send_auth(struct imap *im)
{
	if (im->lg.b64 == NULL) {
		session_close(im->s, "out of memory");
		return;
	}
	if (proto_server_tls_due(im->s)) {
		/* Never a token over a connection meant to be TLS. */
		session_bye(im->s, "Internal error: upstream not TLS");
		return;
	}
	im->state = IMAP_UPSTREAM;
	im->sent = 0;
	if (im->sasl_ir) {
		session_server_printf(im->s, "%s AUTHENTICATE XOAUTH2 %s\r\n",
		    im->tag, im->lg.b64);
		im->sent = 1;
	} else
		session_server_printf(im->s, "%s AUTHENTICATE XOAUTH2\r\n",
		    im->tag);
	if (session_tracing()) {
		char	*t;

		if (asprintf(&t, "%s AUTHENTICATE XOAUTH2%s", im->tag,
		    im->sent ? " " PROTO_CENSOR : "") != -1) {
			session_trace(im->s, ">S", t, strlen(t));
			free(t);
		}
	}
}

static void
imap_token_ok(void *arg, const char *user, const char *token)
{
	struct imap	*im = arg;

	if (im->state != IMAP_TOKEN)
		return;
	if (proto_login_keep_token(&im->lg, user, token) == -1) {
		session_close(im->s, "out of memory");
		return;
	}
	if (im->upstream_ready)
		imap_send_auth(im);
	/* else the greeting of the new connection sends it */
}

static void
imap_token_fail(void *arg, enum token_fail reason, const char *message)
{
	struct imap	*im = arg;

	if (im->state != IMAP_TOKEN)
		return;
	/* RFC 9051 7.1: a client shows ALERT text to the person. */
	if (reason == TOKEN_FAIL_AUTH_PENDING)
		imap_fail(im, "%s NO [ALERT] %s\r\n", message);
	else if (reason == TOKEN_FAIL_UNAVAILABLE)
		imap_fail(im, "%s NO [UNAVAILABLE] %s\r\n", message);
	else
		imap_fail(im, "%s NO [AUTHENTICATIONFAILED] %s\r\n",
		    message);
}

/* The tagged answer to our XOAUTH2 command. */
static void
imap_auth_answer(struct imap *im, const uint8_t *line, size_t len,
    const uint8_t *status)
{
	size_t	 slen = len - (status - line);

	if (slen >= 2 && strncasecmp((const char *)status, "OK", 2) == 0 &&
	    (slen == 2 || status[2] == ' ')) {
		imap_reset(im);
		im->state = IMAP_DONE;
		proto_accepted(im->s, line, len);
		return;
	}
	if (slen >= 2 && strncasecmp((const char *)status, "NO", 2) == 0 &&
	    !im->lg.retried) {
		/* The token may be stale; get a new one, retry once. */
		proto_log_retry(im->s, im->lg.user, im->lg.reason);
		im->lg.retried = 1;
		im->state = IMAP_TOKEN;
		str_wipe(&im->lg.b64);
		if (session_token_get(im->s, im->lg.user, im->lg.pass,
		    im->lg.token) == -1)
			imap_fail(im, "%s NO [UNAVAILABLE] %s\r\n",
			    PROTO_INTERNAL_ERROR);
		return;
	}
	/* The retry failed too, or BAD: the client sees the answer. */
	proto_reply_refused(im->s, line, len, slen >= 2 &&
	    strncasecmp((const char *)status, "NO", 2) == 0 ?
	    im->lg.reason : NULL);
	session_login_rejected(im->s);
	if (slen >= 2 && strncasecmp((const char *)status, "NO", 2) == 0)
		session_token_revoked(im->s);
	proto_log_refused(im->s, im->lg.user, status, slen, im->lg.reason);
	imap_reset(im);
}

/*
 * What STARTTLS changes in the capabilities the client sees; 0 when no
 * STARTTLS key is set and the capability rewrite stands alone.
 */
static int
imap_cap_adjust_flags(struct imap *im, unsigned int *flags)
{
	unsigned int	f = session_tls_flags(im->s);

	if (!(f & (SESSION_LOCAL_STARTTLS | SESSION_SERVER_STARTTLS |
	    SESSION_REQUIRE_TLS_LOGIN)))
		return 0;
	*flags = 0;
	if ((f & SESSION_LOCAL_STARTTLS) && !(f & SESSION_TLS_CLIENT))
		*flags |= IMAP_CAP_STARTTLS;
	if ((f & SESSION_REQUIRE_TLS_LOGIN) && !(f & SESSION_TLS_CLIENT))
		*flags |= IMAP_CAP_LOGINDISABLED;
	return 1;
}

/*
 * Forward a server line (len bytes, its CRLF not included and not read:
 * a line we built has none), rewriting capability lines.
 */
static void
imap_forward_server_line(struct imap *im, const uint8_t *line, size_t len)
{
	char		*rw, *adj;
	size_t		 rwlen, adjlen;
	unsigned int	 flags;

	if (imap_cap_match((const char *)line, len)) {
		if (imap_cap_has((const char *)line, len, "SASL-IR"))
			im->sasl_ir = 1;
		if ((rw = imap_cap_rewrite((const char *)line, len,
		    &rwlen)) != NULL) {
			if (imap_cap_adjust_flags(im, &flags)) {
				adj = imap_cap_adjust(rw, rwlen, flags,
				    &adjlen);
				free(rw);
				if ((rw = adj) == NULL) {
					session_close(im->s, "out of memory");
					return;
				}
				rwlen = adjlen;
			}
			session_client_write(im->s, rw, rwlen);
			session_client_write(im->s, "\r\n", 2);
			free(rw);
			return;
		}
	}
	session_client_write(im->s, line, len);
	session_client_write(im->s, "\r\n", 2);
}

/* Is this the tagged line for tag?  *status then points after it. */
static int
imap_tagged(const uint8_t *line, size_t len, const char *tag,
    const uint8_t **status)
{
	size_t	tlen;

	if (tag == NULL)
		return 0;
	tlen = strlen(tag);
	if (len <= tlen || memcmp(line, tag, tlen) != 0 || line[tlen] != ' ')
		return 0;
	*status = line + tlen + 1;
	return 1;
}

static int
imap_starts_ci(const uint8_t *line, size_t len, const char *w)
{
	size_t	n = strlen(w);

	return len >= n && strncasecmp((const char *)line, w, n) == 0;
}

static int
imap_is_ok(const uint8_t *status, size_t len)
{
	return len >= 2 && strncasecmp((const char *)status, "OK", 2) == 0 &&
	    (len == 2 || status[2] == ' ');
}

static void
imap_send_cmd(struct imap *im, const char *tag, const char *cmd)
{
	char	*t;

	session_server_printf(im->s, "%s %s\r\n", tag, cmd);
	if (session_tracing() && asprintf(&t, "%s %s", tag, cmd) != -1) {
		session_trace(im->s, ">S", t, strlen(t));
		free(t);
	}
}

/* No TLS with this server: end the session, no login goes to it. */
static void
imap_conn_refuse(struct imap *im, const char *why)
{
	log_warnx("session %u: STARTTLS with the server: %s",
	    session_id(im->s), why);
	if (im->tag != NULL && (im->state == IMAP_TOKEN ||
	    im->state == IMAP_UPSTREAM))
		session_client_printf(im->s, "%s NO [UNAVAILABLE] %s\r\n",
		    im->tag, "STARTTLS with the server failed");
	session_bye(im->s, "STARTTLS with the server failed");
}

/* Keep the greeting's text, without its response code, for later. */
static int
imap_keep_greeting(struct imap *im, const uint8_t *line, size_t len)
{
	const uint8_t	*p = line + 4, *end = line + len, *q;

	while (p < end && *p == ' ')
		p++;
	if (p < end && *p == '[' &&
	    (q = memchr(p, ']', end - p)) != NULL) {
		p = q + 1;
		while (p < end && *p == ' ')
			p++;
	}
	free(im->greeting);
	im->greeting = p < end ? strndup((const char *)p, end - p) :
	    strdup("ready");
	return im->greeting != NULL ? 0 : -1;
}

/* The connection is TLS and its capabilities known: carry on. */
static void
imap_conn_ready(struct imap *im)
{
	char	*line;
	int	 n;

	im->conn = CONN_READY;
	im->upstream_ready = 1;
	if (im->greeted) {
		if (im->state == IMAP_TOKEN && im->lg.b64 != NULL)
			imap_send_auth(im);
		return;
	}
	im->greeted = 1;
	/* The greeting the client sees lists what the server offers now. */
	if (im->capline != NULL)
		n = asprintf(&line, "* OK [%s] %s", im->capline + 2,
		    im->greeting ? im->greeting : "ready");
	else
		n = asprintf(&line, "* OK %s",
		    im->greeting ? im->greeting : "ready");
	if (n == -1) {
		session_close(im->s, "out of memory");
		return;
	}
	imap_forward_server_line(im, (const uint8_t *)line, n);
	free(line);
	free(im->greeting);
	im->greeting = NULL;
	if (im->state == IMAP_GREETING)
		im->state = IMAP_IDLE;
}

static void
imap_tls_server_done(void *arg, int ok, const char *error)
{
	struct imap	*im = arg;

	if (!ok) {
		imap_conn_refuse(im, error ? error : "TLS handshake failed");
		return;
	}
	log_debug("session %u: upstream STARTTLS done", session_id(im->s));
	im->sasl_ir = 0;
	free(im->capline);
	im->capline = NULL;
	im->conn = CONN_CAPA_TLS;
	imap_send_cmd(im, TAG_CAPA_TLS, "CAPABILITY");
}

static void
imap_start_tls(struct imap *im)
{
	im->conn = CONN_STARTTLS;
	imap_send_cmd(im, TAG_STARTTLS, "STARTTLS");
}

/*
 * server_starttls: greeting, CAPABILITY if the greeting lists none,
 * STARTTLS, the handshake, CAPABILITY again over TLS.
 */
static ssize_t
imap_conn_input(struct imap *im, const uint8_t *line, size_t len, size_t avail)
{
	const uint8_t	*status;
	char		 why[128];

	switch (im->conn) {
	case CONN_GREETING:
		if (!imap_starts_ci(line, len, "* OK")) {
			snprintf(why, sizeof(why), "greeting: %.*s",
			    (int)(len > 80 ? 80 : len), line);
			imap_conn_refuse(im, why);
			return -1;
		}
		if (!im->greeted && imap_keep_greeting(im, line, len) == -1) {
			session_close(im->s, "out of memory");
			return -1;
		}
		if (imap_cap_match((const char *)line, len)) {
			if (!imap_cap_has((const char *)line, len,
			    "STARTTLS")) {
				imap_conn_refuse(im, "not offered");
				return -1;
			}
			imap_start_tls(im);
		} else {
			im->srv_starttls = 0;
			im->conn = CONN_CAPA;
			imap_send_cmd(im, TAG_CAPA, "CAPABILITY");
		}
		return len + 2;
	case CONN_CAPA:
		if (imap_cap_match((const char *)line, len) &&
		    imap_cap_has((const char *)line, len, "STARTTLS"))
			im->srv_starttls = 1;
		if (!imap_tagged(line, len, TAG_CAPA, &status))
			return len + 2;
		if (!imap_is_ok(status, len - (status - line)) ||
		    !im->srv_starttls) {
			imap_conn_refuse(im, "not offered");
			return -1;
		}
		imap_start_tls(im);
		return len + 2;
	case CONN_STARTTLS:
		if (!imap_tagged(line, len, TAG_STARTTLS, &status))
			return len + 2;
		if (!imap_is_ok(status, len - (status - line))) {
			snprintf(why, sizeof(why), "refused: %.*s",
			    (int)(len > 80 ? 80 : len), line);
			imap_conn_refuse(im, why);
			return -1;
		}
		if (avail > len + 2) {
			/* Bytes after the OK in clear: injection. */
			imap_conn_refuse(im, "data after its STARTTLS answer");
			return -1;
		}
		im->conn = CONN_HANDSHAKE;
		if (session_starttls_server(im->s, imap_tls_server_done) ==
		    -1) {
			imap_conn_refuse(im, "cannot start TLS");
			return -1;
		}
		return len + 2;
	case CONN_CAPA_TLS:
		if (imap_cap_match((const char *)line, len) &&
		    imap_starts_ci(line, len, "* CAPABILITY ")) {
			free(im->capline);
			if ((im->capline = strndup((const char *)line,
			    len)) == NULL) {
				session_close(im->s, "out of memory");
				return -1;
			}
			if (imap_cap_has((const char *)line, len, "SASL-IR"))
				im->sasl_ir = 1;
		}
		if (!imap_tagged(line, len, TAG_CAPA_TLS, &status))
			return len + 2;
		if (!imap_is_ok(status, len - (status - line))) {
			imap_conn_refuse(im, "CAPABILITY refused over TLS");
			return -1;
		}
		imap_conn_ready(im);
		return len + 2;
	default:
		return 0;
	}
}

/* A server literal of n bytes follows: passed raw, then its line. */
static void
imap_server_literal(struct imap *im, long long n)
{
	im->srvleft = n;
	if (n == 0)
		im->srvcont = 1;
}

/* "tag OK" or "tag OK ...". */
static int
imap_tagged_ok(const uint8_t *line, size_t len)
{
	const uint8_t	*p;

	if ((p = memchr(line, ' ', len)) == NULL)
		return 0;
	p++;
	return imap_is_ok(p, len - (p - line));
}

static ssize_t
imap_server_input(void *arg, const uint8_t *buf, size_t len)
{
	struct imap	*im = arg;
	const uint8_t	*status;
	ssize_t		 n;
	size_t		 eol, chunk;
	long long	 lit;
	int		 sync;

	if (im->state == IMAP_DONE)
		return 0;
	if (im->srvleft > 0) {
		chunk = len < im->srvleft ? len : im->srvleft;
		session_client_write(im->s, buf, chunk);
		if ((im->srvleft -= chunk) == 0)
			im->srvcont = 1;
		return chunk;
	}
	if ((n = proto_server_line(im->s, buf, len)) <= 0)
		return n;
	eol = n - 2;

	if (im->conn != CONN_READY && (session_tls_flags(im->s) &
	    SESSION_SERVER_STARTTLS))
		return imap_conn_input(im, buf, eol, len);
	if (!im->upstream_ready) {
		/* The greeting of a connection: OK, or BYE passed on. */
		if (!imap_starts_ci(buf, eol, "* OK") &&
		    (im->greeted || !imap_starts_ci(buf, eol, "* BYE"))) {
			log_warnx("session %u: the server's greeting is not "
			    "an IMAP greeting", session_id(im->s));
			session_bye(im->s, "Server unavailable");
			return -1;
		}
		im->conn = CONN_READY;
		im->upstream_ready = 1;
		if (imap_cap_has((const char *)buf, eol, "SASL-IR"))
			im->sasl_ir = 1;
		if (!im->greeted) {
			im->greeted = 1;
			imap_forward_server_line(im, buf, eol);
			if (im->state == IMAP_GREETING)
				im->state = IMAP_IDLE;
		} else if (im->state == IMAP_TOKEN && im->lg.b64 != NULL)
			imap_send_auth(im);
		return eol + 2;
	}

	if (im->srvcont) {
		/* The rest of a line after its literal: the same answer. */
		im->srvcont = 0;
		session_client_write(im->s, buf, eol + 2);
		if ((lit = imap_literal_spec(buf, eol, &sync)) >= 0)
			imap_server_literal(im, lit);
		return eol + 2;
	}

	if (im->state == IMAP_UPSTREAM) {
		if (buf[0] == '+' && (eol == 1 || buf[1] == ' ')) {
			if (!im->sent) {
				session_server_printf(im->s, "%s\r\n",
				    im->lg.b64);
				session_trace(im->s, ">S", PROTO_CENSOR,
				    strlen(PROTO_CENSOR));
				im->sent = 1;
			} else {
				/* Error challenge: the client never sees it. */
				if (eol > 2)
					proto_login_keep_reason(&im->lg,
					    buf + 2, eol - 2);
				session_server_write(im->s, "\r\n", 2);
			}
			return eol + 2;
		}
		if (imap_tagged(buf, eol, im->tag, &status)) {
			imap_auth_answer(im, buf, eol, status);
			return eol + 2;
		}
	}

	/* Waiting for tokend: a server giving up on us is not news. */
	if (im->state == IMAP_TOKEN && eol >= 5 &&
	    strncasecmp((const char *)buf, "* BYE", 5) == 0)
		return eol + 2;

	if (buf[0] == '+' && (eol == 1 || buf[1] == ' ')) {
		/* A continuation: the go-ahead for a literal or a line. */
		session_client_write(im->s, buf, eol + 2);
		if (im->state == IMAP_FWD_LITWAIT) {
			im->fwdleft = im->fwdlit;
			im->state = im->fwdleft > 0 ? IMAP_FWD_LITERAL :
			    IMAP_FWD_CONT;
		} else if (im->state == IMAP_FWD_AUTH)
			im->authcont = 1;
		return eol + 2;
	}

	imap_forward_server_line(im, buf, eol);
	if (eol > 0 && buf[0] != '*' && im->pending > 0) {
		/* The tagged answer to the oldest forwarded command. */
		im->pending--;
		switch (im->state) {
		case IMAP_FWD_LITWAIT:
			/* The literal was refused: the command is over. */
			im->state = IMAP_IDLE;
			break;
		case IMAP_FWD_LITERAL:
		case IMAP_FWD_CONT:
			/* Its rest would be a command for the server. */
			session_bye(im->s, "Server answered an unfinished "
			    "command");
			return -1;
		case IMAP_FWD_AUTH:
			im->authcont = 0;
			im->state = IMAP_IDLE;
			if (imap_tagged_ok(buf, eol)) {
				/* The client did its own login: relay. */
				im->state = IMAP_DONE;
				session_login_done(im->s);
				return eol + 2;
			}
			break;
		default:
			break;
		}
	}
	if ((lit = imap_literal_spec(buf, eol, &sync)) >= 0)
		imap_server_literal(im, lit);
	return eol + 2;
}

static int
imap_server_closed(void *arg)
{
	struct imap	*im = arg;

	if (!im->greeted) {
		/* Gone before the client had a greeting: say so. */
		session_bye(im->s, "Server unavailable");
		return 0;
	}
	if (im->quit)
		return SERVER_CLOSED_QUIT;
	/* Only a login in progress is worth a new connection. */
	if (im->state != IMAP_TOKEN && im->state != IMAP_UPSTREAM)
		return 0;
	if (im->state == IMAP_UPSTREAM) {
		if (im->lg.retried)
			return 0;
		/* Gone before answering: this is the one retry. */
		im->lg.retried = 1;
		im->state = IMAP_TOKEN;
	}
	im->upstream_ready = 0;
	im->conn = CONN_GREETING;
	im->srvleft = 0;
	im->srvcont = 0;
	im->pending = 0;
	session_reconnect(im->s);
	return 1;
}

const struct proto_ops imap_ops = {
	.proto = PROTO_IMAP,
	.name = "IMAP",
	.bye_fmt = "* BYE %s\r\n",
	.init = imap_init,
	.free = imap_free,
	.client_input = imap_client_input,
	.server_input = imap_server_input,
	.token_ok = imap_token_ok,
	.token_fail = imap_token_fail,
	.server_closed = imap_server_closed
};
