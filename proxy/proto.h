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
 * What the IMAP, POP and SMTP modules share before login: reading
 * lines, the STARTTLS checks, the -vv trace without credentials, and
 * the login itself -- the credentials and, for POP and SMTP, the
 * "AUTH XOAUTH2" exchange with the server (its one retry with a new token,
 * the reconnections).  The protocol's own replies stay in its module.
 */

#ifndef PROTO_H
#define PROTO_H

#include "secret.h"

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "session.h"

/* What the -vv trace shows in place of a credential. */
#define PROTO_CENSOR	"[[ Credentials removed from proxy log ]]"

/* Our words for a local failure that is not tokend's. */
#define PROTO_INTERNAL_ERROR	"Email OAuth 2.0 Proxy: internal error"
#define PROTO_INTERNAL_RETRY	PROTO_INTERNAL_ERROR ", please retry"

/* Where the XOAUTH2 exchange of POP and SMTP stands. */
enum proto_xo {
	PROTO_XO_NONE,		/* no login in progress */
	PROTO_XO_AUTH,		/* token asked and "AUTH XOAUTH2" sent */
	PROTO_XO_CANCEL,	/* sent "*" after a local failure */
	PROTO_XO_SENT		/* the XOAUTH2 response went out */
};

/* proto_login_closed() */
#define PROTO_CLOSED_END	0	/* nothing to save: end the session */
#define PROTO_CLOSED_RETRY	1	/* reconnect, the login goes on */
#define PROTO_CLOSED_FAIL	2	/* fail locally, then reconnect */

/*
 * A login in progress: the credentials until the server answers, and
 * the exchange state (IMAP uses the credentials and the retry only).
 */
struct proto_login {
	struct session	*s;
	enum proto_xo	 xo;
	char		*user;
	char		*pass;
	char		*token;		/* the access token sent upstream */
	char		*b64;		/* XOAUTH2 response not yet sent */
	char		*failmsg;	/* tokend's refusal, for the client */
	int		 failpending;	/* ... that a person must authorise */
	int		 failtemp;	/* ... temporary: try again later */
	char		*reason;	/* the server's decoded challenge */
	int		 cont;		/* the server asked for the response */
	int		 tokwait;	/* a token request is out */
	int		 retried;	/* the one new-token retry used */
	int		 reconnects;
};

/* Lines, words and replies (proto_*_line: what an input callback returns). */
ssize_t	 proto_client_line(struct session *, const uint8_t *, size_t);
ssize_t	 proto_server_line(struct session *, const uint8_t *, size_t);
int	 proto_verb_is(const uint8_t *, size_t, const char *);
int	 proto_word_is(const uint8_t *, size_t, const char *);
int	 proto_verb_valid(const uint8_t *, size_t);
int	 proto_mech_valid(const uint8_t *, size_t);
void	 proto_trace_censored(struct session *, const char *,
	    const uint8_t *, size_t);
void	 proto_forward_secret(struct session *, const uint8_t *, size_t);
void	 proto_send_line(struct session *, const char *);
void	 proto_fail_reply(struct session *, const char *, const char *);
void	 proto_reply_refused(struct session *, const uint8_t *, size_t,
	    const char *);
void	 proto_log_retry(struct session *, const char *, const char *);
void	 proto_log_refused(struct session *, const char *, const uint8_t *,
	    size_t, const char *);
void	 proto_accepted(struct session *, const uint8_t *, size_t);
void	 proto_no_xoauth2(struct session *, const uint8_t *, size_t);

/* TLS. */
int	 proto_require_tls(struct session *);
int	 proto_server_tls_due(struct session *);
int	 proto_client_starttls(struct session *,
	    void (*)(void *, int, const char *));
int	 proto_client_tls_done(struct session *, int, const char *);
int	 proto_server_tls_done(struct session *, int, const char *);

/* The login and, for POP and SMTP, its XOAUTH2 exchange. */
void	 proto_login_clear(struct proto_login *);
int	 proto_login_keep_token(struct proto_login *, const char *,
	    const char *);
void	 proto_login_keep_reason(struct proto_login *, const uint8_t *,
	    size_t);
void	 proto_login_send_auth(struct proto_login *, int);
int	 proto_login_start(struct proto_login *, int, const char **);
int	 proto_login_retry(struct proto_login *, int);
void	 proto_login_cont(struct proto_login *);
void	 proto_login_token(struct proto_login *, const char *, const char *);
void	 proto_login_token_fail(struct proto_login *, enum token_fail,
	    const char *);
void	 proto_login_challenge(struct proto_login *, const uint8_t *,
	    size_t);
void	 proto_login_rejected(struct proto_login *, const uint8_t *, size_t);
int	 proto_login_closed(struct proto_login *);

#endif /* PROTO_H */
