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
 * What a protocol module (imap.c, later pop.c and smtp.c) sees of a
 * session, and what it must provide.
 *
 * The session owns both connections, the timers and the talk with
 * tokend.  Before login it hands the protocol module the bytes each side
 * sent; the module consumes whole lines (or literal bytes), writes
 * whatever it wants to either side, asks for a token, and finally calls
 * session_login_done(), after which the session relays bytes untouched.
 * The module never touches a socket, so a unit test can drive it with
 * its own versions of the session_* functions below.  STARTTLS on either
 * side (session_tls_flags, session_starttls_server/_client) is in
 * starttls.h.
 *
 * Calling rules: everything here may be called from inside the module's
 * own callbacks; session_bye/session_close end the session (the module
 * is freed later, its credentials at once), after which the module
 * returns -1 from an input callback and does nothing more.
 */

#ifndef SESSION_H
#define SESSION_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "emailproxy.h"

/* Pre-login limits */
#define SESSION_LINE_MAX	8192	/* a pre-login line, CRLF included */
#define SESSION_LITERAL_MAX	4096	/* a login literal */

struct session;

struct proto_ops {
	enum proto	 proto;
	const char	*name;		/* "IMAP" */
	/* The bye line: "* BYE %s\r\n" for IMAP. */
	const char	*bye_fmt;

	void		*(*init)(struct session *);
	void		 (*free)(void *);
	/*
	 * Pre-login bytes from the client or the server.  Return how many
	 * were consumed (0: wait for more, or busy), or -1 after the module
	 * ended the session (session_bye/session_close).
	 */
	ssize_t		 (*client_input)(void *, const uint8_t *, size_t);
	ssize_t		 (*server_input)(void *, const uint8_t *, size_t);
	/* tokend's answer to session_token_get. */
	void		 (*token_ok)(void *, const char *user,
			    const char *token);
	void		 (*token_fail)(void *, enum token_fail,
			    const char *message);
	/*
	 * The upstream closed before login.  Return SERVER_CLOSED_RETRY if
	 * the module asked for a new connection (session_reconnect),
	 * SERVER_CLOSED_QUIT when the client had asked the server to close
	 * (IMAP LOGOUT, POP and SMTP QUIT were forwarded): the session ends
	 * with the server's last answer and no bye; SERVER_CLOSED_END to
	 * end the session with a bye.
	 */
	int		 (*server_closed)(void *);
};

#define SERVER_CLOSED_END	0
#define SERVER_CLOSED_RETRY	1
#define SERVER_CLOSED_QUIT	2

extern const struct proto_ops imap_ops;

/* Queue bytes for one side. */
void	 session_client_write(struct session *, const void *, size_t);
void	 session_server_write(struct session *, const void *, size_t);
void	 session_client_printf(struct session *, const char *, ...)
	    __attribute__((__format__ (printf, 2, 3)));
void	 session_server_printf(struct session *, const char *, ...)
	    __attribute__((__format__ (printf, 2, 3)));

/*
 * Ask tokend for an access token (IMSG_TOKEN_GET).  The idle timer does
 * not run until the answer comes.  rejected: the token the server just
 * refused (TOKEN_F_REJECTED), or NULL.  -1 if the request could not be
 * queued.
 */
int	 session_token_get(struct session *, const char *user,
	    const char *password, const char *rejected);
/* The account, for log lines (set once the client has said who). */
void	 session_set_account(struct session *, const char *);
/*
 * The upstream refused the login even after the retry (or refused
 * XOAUTH2 itself): the attempt's audit line says upstream-rejected.
 * tokend's failures and session_login_done are audited by the session.
 */
void	 session_login_rejected(struct session *);
/* The server refused a new token too: notify_command hears of it. */
void	 session_token_revoked(struct session *);
/* The upstream accepted the login: relay from now on. */
void	 session_login_done(struct session *);
/* Send the bye line with reason, log it with the client address, close. */
void	 session_bye(struct session *, const char *reason);
/* Flush what is queued and close both sides. */
void	 session_close(struct session *, const char *why);
/* Replace the upstream connection by a fresh one (same server). */
void	 session_reconnect(struct session *);
/* -vv protocol trace; dir "C>" client to proxy, "S>" server, ... */
void	 session_trace(struct session *, const char *dir, const void *,
	    size_t);
int	 session_tracing(void);
uint32_t session_id(struct session *);

#endif /* SESSION_H */
