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
 * authd: the only process that talks to OAuth 2.0 servers.  tokend asks
 * for tokens (AUTH_REQUEST); one "flight" per account and operation runs
 * the grant, and every request for the same account joins it.
 */

#ifndef AUTHD_H
#define AUTHD_H

#include "base64.h"
#include "secret.h"

#include <sys/queue.h>

#include <stdint.h>
#include <time.h>

#include <event.h>
#include <jansson.h>

#include "config.h"
#include "urlform.h"

#define AUTHD_ANNOUNCE_SECS	60	/* re-log a pending authorisation */
#define AUTHD_MAX_PERSON	64	/* grants waiting for a person at once */
#define DEVICE_INTERVAL		5	/* RFC 8628 default polling interval */
#define DEVICE_SLOW_DOWN	5	/* RFC 8628 slow_down increment */
#define DEVICE_EXPIRES_IN	600	/* if the device endpoint gives none */
#define DEVICE_MAX_INTERVAL	300	/* polling interval clamped to this */
#define GRANT_SECONDS_MAX	(10 * 365 * 86400LL) /* larger: bad answer */
#define STATE_BYTES		16	/* 22 base64url characters */
#define PKCE_VERIFIER_BYTES	64	/* 86 base64url characters */
#define GOOGLE_TOKEN_URI	"https://oauth2.googleapis.com/token"
#define JWT_GOOGLE_LIFETIME	3600
#define JWT_ENTRA_LIFETIME	300
#define ASSERTION_TYPE \
	"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define MSG_PREFIX		"emailproxy: "

struct evdns_base;
struct http_req;
struct imsgev;
struct imsg;

/* A private copy of what a grant needs, so a reload cannot pull it away. */
struct grant_conf {
	char		*account;	/* the login name X */
	enum oauth2_flow flow;
	char		*permission_url;
	char		*token_url;
	char		*scope;
	char		*resource;
	char		*redirect_uri;
	char		*client_id;
	int		 use_pkce;
	int		 login_password_secret;	/* use it as client_secret */
	/* secrets: wiped when the flight ends */
	char		*client_secret;
	char		*password;
	char		*refresh_token;
	char		*jwt_cert;	/* PEM certificate (Entra) */
	char		*jwt_key;	/* PEM key (Entra) */
	char		*sa_key;	/* service-account key JSON */
	char		*sa_key_path;	/* for error messages */
	int		 jwt_configured; /* jwt_certificate/key_path set */
};

struct waiter {
	TAILQ_ENTRY(waiter)	 entry;
	uint32_t		 id;	/* tokend's request id, or control's */
};
TAILQ_HEAD(waiter_list, waiter);

enum flight_state {
	FL_START,
	FL_HTTP,		/* a token request is in flight */
	FL_REDIRECT,		/* waiting for the authorisation redirect */
	FL_DEVICE,		/* polling the token endpoint (RFC 8628) */
	FL_PARKED		/* tokens kept for the next request */
};

struct flight {
	TAILQ_ENTRY(flight)	 entry;
	enum auth_op		 op;
	int			 page;	/* for a person at the page */
	enum flight_state	 state;
	struct grant_conf	 gc;
	struct waiter_list	 waiters;
	/*
	 * emailproxyctl authorise requests (parent peerids): answered once,
	 * when the authorisation becomes pending (its details), or when the
	 * flight gets tokens or fails.
	 */
	struct waiter_list	 ctl_waiters;
	int			 ctl_told;	/* emailproxyctl saw it */
	struct http_req		*http;
	const char		*what;		/* the request, for logs */

	/* authorization code */
	char			*oauth_state;
	char			*verifier;

	/* device grant */
	char			*device_code;
	unsigned int		 interval;
	time_t			 deadline;
	struct event		 poll_ev;

	/* pending authorisation (a person must act) */
	int			 pending;
	char			*pend_url;
	char			*pend_code;
	time_t			 pend_expiry;
	struct event		 announce_ev;
	struct event		 expire_ev;

	/* tokens obtained after every waiter left (FL_PARKED) */
	char			*park_access;
	char			*park_refresh;
	uint64_t		 park_expiry;
	time_t			 park_until;	/* dropped then */
};
TAILQ_HEAD(flight_list, flight);

/* A finished HTTP request. */
struct http_result {
	long		 status;	/* HTTP status; 0: transport error */
	const char	*errstr;	/* transport error, when status is 0 */
	json_t		*json;		/* the body if it is a JSON object */
	const char	*error;		/* the provider's "error" */
	const char	*error_description;
	long		 retry_after;	/* seconds, 0 if none */
};
typedef void	(*http_cb)(struct http_result *, void *);

/* A form body (application/x-www-form-urlencoded). */
struct form {
	char		*buf;
	size_t		 len;
	size_t		 size;
	int		 error;
	char		 names[256];	/* parameter names, for debug logs */
};

/* Counters for emailproxyctl show stats. */
struct authd_stats {
	uint64_t	 requests;	/* AUTH_REQUEST received */
	uint64_t	 joined;	/* ... that joined a running flight */
	uint64_t	 tokens;	/* flights that got tokens */
	uint64_t	 failures;	/* flights that failed */
	uint64_t	 http;		/* HTTP requests made */
	uint64_t	 redirects;	/* authorisation responses accepted */
};

/* dispatch.c */
extern struct emailproxy_conf *authd_conf;
extern struct authd_stats authd_stats;

/* ctl.c */
int		 authd_ctl(struct imsgev *, struct imsg *);
/* show stats (also tokend's IMSG_METRICS_REQUEST): CTL_DATA, CTL_END. */
void		 ctl_stats(struct imsgev *, uint32_t);
void		 ctl_flight_pending(struct flight *);
void		 ctl_flight_authorised(struct flight *, int);
void		 ctl_flight_fail(struct flight *, const char *);

extern struct imsgev	*iev_parent;
extern struct imsgev	*iev_tokend;
extern struct imsgev	*iev_control;
void		 authd_start(int parent_fd, int tokend_fd, int control_fd);
int		 authd_dispatch_parent(struct imsgev *, struct imsg *);
int		 authd_dispatch_tokend(struct imsgev *, struct imsg *);
void		 authd_send_tokens(uint32_t, const char *, uint64_t,
		    const char *);
void		 authd_send_fail(uint32_t, enum auth_fail, const char *, ...)
		    __attribute__((__format__ (printf, 3, 4)));
void		 authd_send_pending(const char *, const char *, const char *,
		    uint64_t);
void		 authd_send_authorised(const char *, uint64_t);
void		 authd_send_event(enum notify_event, const char *);
void		 authd_send_consent(uint32_t, const char *, const char *,
		    const char *, uint64_t);
unsigned int	 authd_auth_timeout(void);

/* flight.c */
void		 flight_request(uint32_t, uint32_t, const char *,
		    const char *, const char *, const char *);
void		 flight_cancel(uint32_t);
int		 flight_authorise(uint32_t, const char *, char **);
struct flight	*flight_interactive(const char *);
void		 flight_ctl_wait(struct flight *, uint32_t);
void		 flight_tokens(struct flight *, const char *, uint64_t,
		    const char *);
void		 flight_fail(struct flight *, enum auth_fail, const char *,
		    ...) __attribute__((__format__ (printf, 3, 4)));
void		 flight_shutdown(void);
struct flight	*flight_by_state(const char *);
struct flight	*flight_pending(const char *);
int		 flight_count_pending(void);
struct flight	*flight_next_pending(struct flight *);
void		 flight_expire(int, short, void *);

/* grant.c */
void		 grant_start(struct flight *);
int		 grant_client_auth(struct flight *, struct form *, int);
void		 grant_token_done(struct http_result *, void *);
void		 grant_http_fail(struct flight *, struct http_result *, int);
int		 grant_post(struct flight *, const char *, const char *,
		    struct form *, http_cb);
int		 grant_seconds(json_t *, long long *);
char		*grant_reason(const struct http_result *);

/* grant_code.c */
void		 grant_code_start(struct flight *);
void		 grant_code_redirect(struct flight *, const char *,
		    const char *, const char *);

/* grant_device.c */
void		 grant_device_start(struct flight *);
void		 grant_device_poll(int, short, void *);

/* grant_direct.c */
void		 grant_client_credentials(struct flight *);
void		 grant_password(struct flight *);
void		 grant_service_account(struct flight *);
void		 grant_refresh(struct flight *);

/* pending.c */
extern unsigned int pending_announce_secs;
void		 pending_start(struct flight *, const char *, const char *,
		    time_t);
void		 pending_stop(struct flight *);
void		 pending_announce(int, short, void *);

/* redirect.c */
int		 authd_redirect_url(const char *);
int		 redirect_paste(const char *, const char *, const uint32_t *,
		    const char **);
int		 redirect_take(const char *, const char *, const char *,
		    const char *, const char *, char **, char **);

/* http.c */
int		 http_init(struct evdns_base *);
void		 http_set_proxy(const char *, const char *);
struct http_req	*http_post(const char *, struct form *, http_cb, void *);
void		 http_cancel(struct http_req *);
void		 http_shutdown(void);

/* http_result.c */
void		 http_result_parse(struct http_result *, const char *, size_t);
enum auth_fail	 http_classify(const struct http_result *, int);

/* form.c */
void		 form_init(struct form *);
void		 form_add(struct form *, const char *, const char *);
void		 form_clear(struct form *);
char		*clean_text(const char *, size_t);

/* jwt.c */
char		*random_b64url(size_t);
char		*pkce_challenge(const char *);
char		*jwt_entra_assertion(const char *, const char *, const char *,
		    const char *, time_t);
char		*jwt_google_assertion(const char *, const char *, const char *,
		    const char *, const char *, const char *, time_t);

#endif /* AUTHD_H */
