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

#ifndef EMAILPROXY_H
#define EMAILPROXY_H

#define EMAILPROXY_VERSION	"0.1"
#define EMAILPROXY_NAME		"emailproxy"

/* Defaults; each can be changed in the [emailproxy] section. */
#define EMAILPROXY_CONF		"/etc/emailproxy.conf"
#define EMAILPROXY_USER		"_emailproxy"
#define EMAILPROXY_STORE	"/var/lib/emailproxy"
#define EMAILPROXY_EMPTY	"/var/empty"
#define EMAILPROXY_SOCKET	"/var/run/emailproxy/emailproxy.sock"
#define EMAILPROXY_CA_FILE	"/etc/ssl/certs/ca-certificates.crt"

/*
 * A child finds its sockets on fixed descriptors: the parent on 3, then
 * its peers in the order of the table below.
 *	proxy:	 3 parent, 4 tokend, 5 control
 *	tokend:	 3 parent, 4 proxy, 5 authd, 6 control
 *	authd:	 3 parent, 4 tokend, 5 control
 *	control: 3 parent, 4 proxy, 5 tokend, 6 authd, 7 the listening
 *		 control socket (bound by the parent)
 */
#define PARENT_SOCK_FILENO	3
#define PEER1_SOCK_FILENO	4
#define PEER2_SOCK_FILENO	5
#define PEER3_SOCK_FILENO	6
#define CONTROL_LISTEN_FILENO	7

/* Parent<->child messages may carry certificate chains and keys. */
#define IMSG_MAXSIZE_PARENT	(1024 * 1024)

enum emailproxy_proc {
	PROC_PARENT,
	PROC_PROXY,
	PROC_TOKEND,
	PROC_AUTHD,
	PROC_CONTROL,
	PROC_MAX
};

/* Token margins (seconds). */
#define TOKEN_EXPIRY_MARGIN	600	/* refresh when fewer remain ... */
#define TOKEN_DEFAULT_LIFETIME	3600	/* when the provider gives none */

/*
 * Every message type, one enum (STYLE.md).  Payloads are built with the
 * typed writer in msg.h; the field list of each type is given here and
 * a receiver must read exactly those fields (msg_read_end() checks that
 * nothing is left over).  str = msg_put_str/msg_get_str (may be NULL),
 * u32/u64 = msg_put_u32/u64, data = msg_put_data.
 */
enum imsg_type {
	IMSG_NONE,

	/*
	 * parent -> every child: a whole configuration, as
	 * CONF_START, GLOBALS, SERVER*, ACCOUNT*, CONF_END; the child builds
	 * it beside the running one and swaps on CONF_END, then answers
	 * CONF_DONE.  Encoding in common/config_imsg.c.
	 */
	IMSG_CONF_START,
	IMSG_CONF_GLOBALS,
	IMSG_CONF_SERVER,
	IMSG_CONF_ACCOUNT,
	IMSG_CONF_END,
	IMSG_CONF_DONE,		/* child -> parent, no payload */

	/* parent -> proxy: fd = listening socket; str server name */
	IMSG_LISTENER,
	/* parent -> children: u32 verbosity */
	IMSG_CTL_VERBOSE,
	/* parent -> children: stop now (no payload) */
	IMSG_SHUTDOWN,

	/*
	 * proxy -> tokend, peerid = session id:
	 *   str server (section name), u32 proto (enum proto),
	 *   str client address, str username, str password,
	 *   u32 flags (TOKEN_F_*), str rejected access token or NULL
	 * tokend -> proxy, peerid = session id:
	 *   TOKEN_OK:   str username for the XOAUTH2 string, str access token
	 *   TOKEN_FAIL: u32 reason (enum token_fail), str message for the
	 *               client (one line, no CR/LF)
	 * proxy -> tokend: TOKEN_CANCEL, peerid = session id, no payload:
	 *   the session is gone, drop its pending request.
	 */
	IMSG_TOKEN_GET,
	IMSG_TOKEN_OK,
	IMSG_TOKEN_FAIL,
	IMSG_TOKEN_CANCEL,

	/*
	 * The authorisation page (proxy/web.c, tokend/page.c).
	 * proxy -> tokend, peerid = the page's request id:
	 *   PAGE_LOGIN: str client address, str username, str password:
	 *     decided as a mail login is (TOKEN_GET); when tokens need a
	 *     person, the grant runs with the page's callback
	 *     (AUTH_OP_PAGE).
	 *   PAGE_CANCEL: no payload; the page gave up the request.
	 * tokend -> proxy, peerid = the page's request id:
	 *   PAGE_CONSENT: str URL the person must visit, str state (the
	 *     code grant's; NULL for the device grant), str user code or
	 *     NULL, u64 expiry (Unix seconds); the request goes on.
	 *   PAGE_DONE: str account (as typed), u32 flow (enum
	 *     oauth2_flow): the account has working tokens; ends it.
	 *   PAGE_FAIL: u32 reason (enum token_fail), str message (one
	 *     line); ends it.
	 */
	IMSG_PAGE_LOGIN,
	IMSG_PAGE_CANCEL,
	IMSG_PAGE_CONSENT,
	IMSG_PAGE_DONE,
	IMSG_PAGE_FAIL,

	/*
	 * A browser's redirect at the end of an authorisation, which the
	 * proxy received on a redirect listener or the page's callback.
	 * proxy -> tokend -> authd, peerid = the proxy's request id:
	 *   REDIRECT_RESPONSE: str path, str state, str code, str error,
	 *     str error_description (each NULL when absent)
	 * authd -> tokend -> proxy, same peerid:
	 *   REDIRECT_RESULT: u32 HTTP status, str account or NULL, str
	 *     message for the browser (one line, plain text)
	 */
	IMSG_REDIRECT_RESPONSE,
	IMSG_REDIRECT_RESULT,

	/*
	 * tokend -> authd, peerid = request id:
	 *   AUTH_REQUEST: u32 op (enum auth_op), str account username
	 *     (the login name X; authd resolves its configuration the same
	 *     way tokend does), str refresh token or NULL, str login
	 *     password or NULL (only for ROPC and for
	 *     use_login_password_as_client_credentials_secret), str client
	 *     secret or NULL (a secret tokend keeps encrypted; overrides the
	 *     configuration's)
	 *   AUTH_CANCEL: no payload; nobody waits for this request any more.
	 * authd -> tokend, peerid = request id:
	 *   AUTH_TOKENS: str access token, u64 expiry (Unix seconds),
	 *     str refresh token or NULL (NULL: keep the one you have)
	 *   AUTH_FAIL: u32 class (enum auth_fail), str message for the
	 *     client (one line)
	 *   AUTH_CONSENT: str URL to visit, str state (code grant) or
	 *     NULL, str user code (device grant) or NULL, u64 expiry (Unix
	 *     seconds): an AUTH_OP_PAGE grant waits for the person at the
	 *     page; the request goes on.
	 *   AUTH_AUTHORISED, peerid 0: str account, u64 Unix seconds until
	 *     which authd keeps them: a person authorised the account with
	 *     no request waiting (emailproxyctl authorise); the tokens are
	 *     kept for the account's next AUTH_REQUEST with op OBTAIN and
	 *     replace the ones tokend holds.
	 */
	IMSG_AUTH_REQUEST,
	IMSG_AUTH_CANCEL,
	IMSG_AUTH_TOKENS,
	IMSG_AUTH_FAIL,
	IMSG_AUTH_CONSENT,
	IMSG_AUTH_AUTHORISED,

	/*
	 * authd -> parent: a person must act; the parent runs
	 * notify_command.  authd alone keeps the pending authorisations
	 * (CTL_SHOW_PENDING is relayed to it).
	 *   AUTH_PENDING: str account, str URL to visit, str user code or
	 *     NULL (device flow), u64 expiry (Unix seconds)
	 */
	IMSG_AUTH_PENDING,

	/* parent -> proxy: fd = listening socket for a redirect listener;
	 * str host:port it is bound to */
	IMSG_REDIRECT_LISTENER,
	/* parent -> proxy: fd = the authorisation page's listening socket;
	 * str address:port it is bound to */
	IMSG_PAGE_LISTENER,

	/*
	 * Control socket (emailproxyctl <-> control <-> the other
	 * processes).  The control process accepts the connections on
	 * the socket the parent bound and reads every request.
	 * ctl -> control requests:
	 *   CTL_SHOW_ACCOUNTS, CTL_SHOW_SESSIONS, CTL_SHOW_PENDING,
	 *   CTL_SHOW_STATS, CTL_RELOAD: no payload
	 *   CTL_AUTHORISE: str account, str pasted redirect URL or NULL
	 *   CTL_FORGET: str account
	 *   CTL_LOG_VERBOSE: u32 verbosity
	 *   CTL_TOKEN: str account, str the account's local password
	 *     (anyone who can connect may ask: the password decides)
	 * The control process checks each request (version, permission,
	 * payload) and sends it, with the same payload and peerid = the
	 * connection's id, to the process that owns the data, over their
	 * own link: accounts, forget, token: tokend; sessions: proxy; stats:
	 * proxy, tokend and authd; pending, authorise: authd; reload and
	 * log (what needs root): the parent.  The answer, that process
	 * -> control -> ctl, with the same peerid: any number of CTL_DATA
	 * (str: one JSON object), then CTL_END (no payload) or CTL_FAIL
	 * (str message, which also ends it); the parent answers reload
	 * and log with CTL_END or CTL_FAIL alone.  CTL_TOKEN alone gets
	 * its own payload on the way to tokend: str account, str
	 * password, u32 the caller's uid; tokend checks the password as a
	 * login's (throttled, audited with proto=CTL listener=control
	 * client=local) and answers one CTL_DATA {"account", "access_token",
	 * "expires"} and CTL_END, or CTL_FAIL.  The parent refuses any
	 * other type, or a malformed one, from the control process with
	 * CTL_FAIL and a log line; a malformed frame from it stops the
	 * daemon cleanly.
	 * Between the tool and the control process the peerid is
	 * CTL_VERSION, both ways: the control process answers a request
	 * of any other version with CTL_FAIL (its peerid CTL_VERSION, str
	 * message naming both versions) and closes the connection; the
	 * tool refuses an answer of another version.
	 */
	IMSG_CTL_SHOW_ACCOUNTS,
	IMSG_CTL_SHOW_SESSIONS,
	IMSG_CTL_SHOW_PENDING,
	IMSG_CTL_SHOW_STATS,
	IMSG_CTL_AUTHORISE,
	IMSG_CTL_FORGET,
	IMSG_CTL_RELOAD,
	IMSG_CTL_LOG_VERBOSE,
	IMSG_CTL_TOKEN,
	IMSG_CTL_DATA,		/* one JSON object (str) */
	IMSG_CTL_FAIL,
	IMSG_CTL_END,
	/*
	 * ctl -> control, no payload; sent to the proxy (one CTL_DATA
	 * per configured listener) and tokend (the token store, the
	 * accounts that need authorisation).  Each object: str "check",
	 * str "name", bool "ok", str "problem" when not ok, bool
	 * "warning" when a failed check is only a warning.
	 */
	IMSG_CTL_HEALTH,

	/*
	 * The shared token store (token_store = redis): tokend has no
	 * network, the parent connects for it.
	 *   REDIS_CONNECT, tokend -> parent, no payload: open a (new)
	 *     connection to redis_url, authenticated, database selected.
	 *   REDIS_FD, parent -> tokend, fd = the connection or none:
	 *     str why it failed, NULL with a descriptor.
	 */
	IMSG_REDIS_CONNECT,
	IMSG_REDIS_FD,

	/*
	 * parent -> control, at start and at every reload, answered with
	 * CONF_DONE: str user, str empty_dir (both taken from the first
	 * only), u32 the gid of control_admin_group or CONTROL_NO_GID,
	 * data the uids (u32 each) of its members in the group database
	 * (listed in the group or having it as their primary group).
	 */
	IMSG_CONTROL_CONF,

	/*
	 * proxy, tokend or authd -> parent, peerid 0: an event a person
	 * may want to hear of; the parent runs notify_command
	 * (parent/notify.c).  An authorisation that needs a person comes
	 * as AUTH_PENDING instead.
	 *   EVENT: u32 event (enum notify_event: authd
	 *     NOTIFY_AUTH_COMPLETED, tokend NOTIFY_REFRESH_FAILED, proxy
	 *     NOTIFY_TOKEN_REVOKED), str account, str URL or NULL
	 */
	IMSG_EVENT,

	/*
	 * The /metrics endpoint (metrics_listen), served by the proxy.
	 *   METRICS_LISTENER, parent -> proxy: fd = the listening socket;
	 *     str its metrics_listen value.  It replaces the one before;
	 *     a configuration without metrics_listen stops it.
	 *   METRICS_REQUEST, no payload, peerid = request id: proxy ->
	 *     tokend, which asks authd (tokend -> authd, same peerid).
	 *     authd answers tokend as a control request of CTL_SHOW_STATS
	 *     (CTL_DATA* then CTL_END, same peerid); tokend relays each
	 *     CTL_DATA to the proxy, then on authd's CTL_END adds its own
	 *     show stats answer, CTL_DATA* (the counters, one object per
	 *     account) then CTL_END, which ends the proxy's request.
	 */
	IMSG_METRICS_LISTENER,
	IMSG_METRICS_REQUEST,

	IMSG_MAX
};

/*
 * The control protocol's version: raise it whenever a type number or a
 * payload emailproxyctl sends or reads changes, a type added or removed
 * anywhere before IMSG_CTL_DATA included.
 */
#define CTL_VERSION		4

/* IMSG_CONTROL_CONF without a control_admin_group. */
#define CONTROL_NO_GID		0xffffffffU

/* IMSG_TOKEN_GET flags */
#define TOKEN_F_REJECTED	0x01	/* the upstream refused the token */

enum proto {
	PROTO_IMAP,
	PROTO_POP,
	PROTO_SMTP
};

enum token_fail {
	TOKEN_FAIL_NO_PASSWORD,		/* empty username or password */
	TOKEN_FAIL_UNKNOWN_ACCOUNT,	/* no section matches */
	TOKEN_FAIL_BAD_PASSWORD,	/* does not unlock the record */
	TOKEN_FAIL_CONFIG,		/* incomplete account entry */
	TOKEN_FAIL_NEEDS_AUTH,		/* authorisation failed/expired */
	TOKEN_FAIL_PROVIDER,		/* OAuth server error */
	TOKEN_FAIL_INTERNAL,		/* store or process error */
	TOKEN_FAIL_NOT_ALLOWED,		/* client address not allowed */
	TOKEN_FAIL_THROTTLED,		/* too many failures: cooling off */
	TOKEN_FAIL_UNAVAILABLE,		/* the shared token store cannot be
					   reached: try again later */
	TOKEN_FAIL_AUTH_PENDING		/* waits for a person past auth_wait */
};

/*
 * The audit line, one per login attempt, logged by the proxy at info
 * level when the attempt ends (etc/fail2ban matches it), also for the
 * authorisation page's form (proto=web listener=page, when tokend's
 * first answer comes), and by tokend for emailproxyctl token
 * (proto=CTL listener=control client=local):
 *   audit: result=R proto=P listener=L client=ADDR account=A
 * R is one of ok, no-password, unknown-account, bad-password,
 * config-error, needs-authorisation, authorisation-pending,
 * provider-error, internal-error, not-allowed, throttled,
 * store-unavailable (a shared token store cannot be reached),
 * upstream-rejected, or aborted (the session
 * ended, by the client or the server, before the login was decided); ADDR is the client's
 * address without port (after a PROXY header, the header's); A is the
 * login name as sent, or "-", last because it may hold spaces.
 */

/* What notify_command runs for: EMAILPROXY_EVENT (parent/notify.c). */
enum notify_event {
	NOTIFY_AUTH_NEEDED,	/* auth-needed: a person must authorise */
	NOTIFY_AUTH_COMPLETED,	/* auth-completed: a person authorised */
	NOTIFY_REFRESH_FAILED,	/* refresh-failed: invalid_grant */
	NOTIFY_TOKEN_REVOKED	/* token-revoked: refused after a retry */
};

enum auth_op {
	AUTH_OP_REFRESH,	/* refresh_token grant */
	AUTH_OP_OBTAIN,		/* the account's configured grant */
	AUTH_OP_PAGE		/* the same for a person at the page: the
				   code grant's redirect_uri is the page's
				   callback, AUTH_CONSENT says what to visit */
};

enum auth_fail {
	AUTH_FAIL_TRANSIENT,	/* network, timeout, 5xx, 429: keep tokens */
	AUTH_FAIL_INVALID_GRANT, /* 400 on refresh: refresh token is dead */
	AUTH_FAIL_PERMANENT,	/* invalid_client, config, denied */
	AUTH_FAIL_EXPIRED,	/* nobody authorised in time */
	AUTH_FAIL_CANCELLED	/* shutdown or reload */
};

const char	*proto_name(enum proto);
/* The audit line's result R for a token_fail reason. */
const char	*token_fail_name(unsigned int);

#endif /* EMAILPROXY_H */
