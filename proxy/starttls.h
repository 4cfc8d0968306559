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
 * POP3 and SMTP modules, and what every protocol module needs of the
 * session for STARTTLS; session.c implements it, the unit
 * tests bring their own.
 *
 * STARTTLS towards the server (server_starttls): the session connects
 * in plain TCP, at accept and on session_reconnect alike; the module
 * sends STARTTLS/STLS itself and calls session_starttls_server() once it
 * has consumed the server's positive reply.  STARTTLS towards the client
 * (local_starttls): the listener is plain; the module answers the
 * client's STARTTLS/STLS and calls session_starttls_client().
 */

#ifndef STARTTLS_H
#define STARTTLS_H

#include "session.h"

extern const struct proto_ops pop_ops, smtp_ops;

/* session_tls_flags() */
#define SESSION_TLS_CLIENT	0x01	/* the client side speaks TLS now */
#define SESSION_TLS_SERVER	0x02	/* the upstream side speaks TLS now */
#define SESSION_SERVER_STARTTLS	0x04	/* section: server_starttls */
#define SESSION_LOCAL_STARTTLS	0x08	/* section: local_starttls (+ cert) */
#define SESSION_REQUIRE_TLS_LOGIN 0x10	/* section: require_tls_login */

/*
 * The state of both sides and the TLS keys of the session's server
 * section (the configuration the session was accepted with).  The
 * TLS_CLIENT/TLS_SERVER bits follow the connections: implicit TLS sets
 * them from the start, a finished STARTTLS handshake sets them, and
 * session_reconnect clears TLS_SERVER until the new connection is
 * upgraded (with server_starttls) or set up (implicit TLS: set again
 * before the module sees the new greeting).
 */
unsigned int	 session_tls_flags(struct session *);

/*
 * Upgrade the upstream connection in place (libtls client: the server
 * section's CA, server_address as SNI and verified name, TLS 1.2 and
 * up).  Call it after consuming the server's positive reply to
 * STARTTLS/STLS and nothing after it: the session drops any bytes the
 * server sent beyond that reply (response injection, CVE-2011-0411).
 * Bytes the module queued for the server before the call go out in
 * clear first, those queued after it go out encrypted.  No server input
 * reaches the module until the handshake ends; the idle timer runs.
 *
 * done(arg, ok, error) runs exactly once, later from the event loop,
 * never from inside this call; arg is what proto_ops.init returned.
 * ok 1: TLS_SERVER is set, and the session then offers the module
 * whatever input of either side it holds (client_input/server_input),
 * as after any other callback.  ok 0: error says why (for the log, no
 * secret); the connection is unusable, the session writes nothing more
 * to it, and the module ends the session with its protocol's error
 * (session_bye) -- never a plaintext fallback.  done may end the
 * session.  Returns 0 when the handshake started, -1 when it could not
 * (no TLS configuration, already TLS, out of memory): done will not run.
 */
int	 session_starttls_server(struct session *,
	    void (*done)(void *, int, const char *));

/*
 * The same towards the client (libtls server with the section's
 * local_certificate_path/local_key_path).  The module has queued its
 * "ready" reply ("+OK Begin TLS negotiation", "220 Ready to start TLS");
 * it goes out in clear, then the handshake starts.  Client bytes that
 * arrived after the STARTTLS/STLS line are dropped (command injection);
 * the module refuses such a client before calling this.  ok 0: the
 * module closes the session (session_close; nothing can be said in
 * clear any more).  Returns as session_starttls_server().
 */
int	 session_starttls_client(struct session *,
	    void (*done)(void *, int, const char *));

#endif /* STARTTLS_H */
