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
 * The self-service authorisation page (authorisation_page_url, served on
 * the socket of authorisation_page_listen).  Under the page's path P:
 *
 *	GET  P		the form: mailbox address and password
 *	POST P/login	the form's answer, decided by tokend as a login
 *	GET  P/status	what the browser session is at (the page updates
 *			itself with a meta refresh; there is no script)
 *	GET  P/callback	the provider's redirect, whose state must be
 *			the one this browser session was given
 *	GET  P/style.css
 *
 * A browser session is a random cookie (HttpOnly, SameSite=Lax, Secure
 * for an https URL) with its own CSRF token for the form.  The password
 * goes to tokend (PAGE_LOGIN) and is wiped; tokend answers with what the
 * person must visit (PAGE_CONSENT), or PAGE_DONE / PAGE_FAIL.  The
 * provider's redirect comes back here; only when its state is this
 * session's does it go on (REDIRECT_RESPONSE), once: a forged or
 * replayed state is refused here.  Nothing secret (password, state,
 * code, cookie) is logged.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event.h>
#include <openssl/crypto.h>

#include "emailproxy.h"
#include "config.h"
#include "base64.h"
#include "http_request.h"
#include "log.h"
#include "secret.h"
#include "urlform.h"
#include "proxy.h"
#include "http.h"
#include "tls_ossl.h"
#include "web.h"

#define WEB_COOKIE		"emailproxy_page"
#define WEB_TOKEN_BYTES		32	/* cookie and CSRF token */
#define WEB_TOKEN_LEN		43	/* ... in base64url */
#define WEB_SESSIONS_MAX	256	/* browser sessions at once */
#define WEB_SESSIONS_PER_ADDR	16	/* ... from one address */
#define WEB_SESSION_IDLE	900	/* s unused before one ends */
#define WEB_LOGINS_PER_ADDR	10	/* form posts from one address ... */
#define WEB_LOGIN_WINDOW	60	/* ... in this many seconds */
#define WEB_CONNS		64	/* connections at once */
#define WEB_CONNS_PER_ADDR	8	/* ... from one address */
#define WEB_TIMEOUT		10	/* s to send a request */
#define WEB_ANSWER_TIMEOUT	60	/* s for tokend's answer */
#define WEB_HEAD_MAX		8192
#define WEB_BODY_MAX		4096
#define WEB_SWEEP		30	/* s between expiry sweeps */

struct web_session {
	TAILQ_ENTRY(web_session) entry;
	char		 id[WEB_TOKEN_LEN + 1];		/* the cookie */
	char		 csrf[WEB_TOKEN_LEN + 1];
	char		 addr[NI_MAXHOST];
	enum web_phase	 phase;
	uint32_t	 req;		/* tokend's page request, 0: none */
	uint32_t	 conn;		/* a form post waiting for tokend */
	uint32_t	 cb_conn;	/* a callback waiting for authd */
	int		 audited;
	char		*account;
	char		*url;
	char		*state;		/* the code grant's: a secret */
	char		*user_code;
	char		*text;
	uint32_t	 flow;
	time_t		 expires;
};
static TAILQ_HEAD(, web_session) sessions = TAILQ_HEAD_INITIALIZER(sessions);
static unsigned int	 nsessions;

/* Form posts per address, for the rate limit. */
struct web_rate {
	TAILQ_ENTRY(web_rate)	 entry;
	char			 addr[NI_MAXHOST];
	time_t			 start;
	unsigned int		 n;
};
static TAILQ_HEAD(, web_rate)	 rates = TAILQ_HEAD_INITIALIZER(rates);

static struct http_server	*page_srv;
static struct tlsx_ctx		*page_tls;
static char			*page_cert, *page_key;	/* what made it */
static size_t			 page_certlen, page_keylen;
static struct event		 sweep_ev;
static int			 sweep_set;
static uint32_t			 next_req;

/* The page's path ("/" or "/x/") and the routes under it. */
static char	 base[256] = "/";
static char	 base_bare[256] = "/";	/* "/x" for "/x/" */
static char	 r_login[300], r_status[300], r_callback[300], r_css[300];
static char	 host[256];		/* for the mail program */
static int	 secure;		/* an https URL */

static void	 page_form(struct http_conn *, const struct http_request *,
		    void *);
static void	 page_login(struct http_conn *, const struct http_request *,
		    void *);
static void	 page_status(struct http_conn *, const struct http_request *,
		    void *);
static void	 page_callback(struct http_conn *,
		    const struct http_request *, void *);
static void	 page_css(struct http_conn *, const struct http_request *,
		    void *);

static struct http_route routes[] = {
	{ base, HTTP_M_GET, page_form, NULL },
	{ base_bare, HTTP_M_GET, page_form, NULL },
	{ r_login, HTTP_M_POST, page_login, NULL },
	{ r_status, HTTP_M_GET, page_status, NULL },
	{ r_callback, HTTP_M_GET, page_callback, NULL },
	{ r_css, HTTP_M_GET, page_css, NULL }
};

static void
token_new(char *out)
{
	uint8_t	 buf[WEB_TOKEN_BYTES];
	char	*s;

	arc4random_buf(buf, sizeof(buf));
	if ((s = b64_encode(buf, sizeof(buf), B64_URL | B64_NOPAD)) == NULL)
		fatal("%s", __func__);
	explicit_bzero(buf, sizeof(buf));
	strlcpy(out, s, WEB_TOKEN_LEN + 1);
	freezero(s, strlen(s));
}

/* Equal secrets of the token length, in constant time. */
static int
token_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL || strlen(a) != WEB_TOKEN_LEN ||
	    strnlen(b, WEB_TOKEN_LEN + 1) != WEB_TOKEN_LEN)
		return (0);
	return (CRYPTO_memcmp(a, b, WEB_TOKEN_LEN) == 0);
}

/* Equal strings of any length, without stopping at the first difference. */
static int
secret_eq(const char *a, const char *b)
{
	size_t	 la, lb;

	if (a == NULL || b == NULL)
		return (0);
	la = strlen(a);
	lb = strlen(b);
	return (la == lb && CRYPTO_memcmp(a, b, la) == 0);
}

static void
session_clear(struct web_session *s)
{
	free(s->account);
	free(s->url);
	str_wipe(&s->state);
	free(s->user_code);
	free(s->text);
	s->account = s->url = s->user_code = s->text = NULL;
}

static void
session_free(struct web_session *s)
{
	if (s->req != 0)
		proxy_page_cancel(s->req);
	session_clear(s);
	TAILQ_REMOVE(&sessions, s, entry);
	nsessions--;
	freezero(s, sizeof(*s));
}

/* The session the request's cookie names, or NULL. */
static struct web_session *
session_find(const struct http_request *req)
{
	struct web_session	*s;
	char			 val[WEB_TOKEN_LEN + 1];
	time_t			 now = time(NULL);

	if (req->cookie == NULL ||
	    cookie_get(req->cookie, WEB_COOKIE, val, sizeof(val)) == -1)
		return (NULL);
	TAILQ_FOREACH(s, &sessions, entry)
		if (token_eq(s->id, val))
			break;
	explicit_bzero(val, sizeof(val));
	if (s != NULL && now + WEB_SESSION_IDLE > s->expires)
		s->expires = now + WEB_SESSION_IDLE;
	return (s);
}

/* A new session for the connection's address (NULL: too many). */
static struct web_session *
session_new(struct http_conn *c)
{
	struct web_session	*s, *oldest = NULL;
	const char		*addr = http_conn_peer(c);
	unsigned int		 n = 0;

	TAILQ_FOREACH(s, &sessions, entry)
		if (strcmp(s->addr, addr) == 0) {
			if (n++ == 0)
				oldest = s;
		}
	/* An address makes room in its own sessions, nobody else's. */
	if (n >= WEB_SESSIONS_PER_ADDR && oldest != NULL)
		session_free(oldest);
	else if (nsessions >= WEB_SESSIONS_MAX) {
		log_warnx("authorisation page: %u browser sessions; %s "
		    "refused", nsessions, addr);
		return (NULL);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("%s", __func__);
	token_new(s->id);
	token_new(s->csrf);
	strlcpy(s->addr, addr, sizeof(s->addr));
	s->phase = WEB_IDLE;
	s->expires = time(NULL) + WEB_SESSION_IDLE;
	TAILQ_INSERT_TAIL(&sessions, s, entry);
	nsessions++;
	return (s);
}

static struct web_session *
session_by_req(uint32_t id)
{
	struct web_session	*s;

	if (id == 0)
		return (NULL);
	TAILQ_FOREACH(s, &sessions, entry)
		if (s->req == id)
			return (s);
	return (NULL);
}

/* Every page's headers: no caching, no framing, no script. */
static void
page_headers(struct http_conn *c)
{
	(void)http_reply_header(c, "Content-Security-Policy", WEB_CSP);
	(void)http_reply_header(c, "X-Frame-Options", "DENY");
	(void)http_reply_header(c, "Referrer-Policy", "no-referrer");
}

static void
set_cookie(struct http_conn *c, const struct web_session *s)
{
	char	*v;

	if (asprintf(&v, "%s=%s; Path=%s; HttpOnly; SameSite=Lax%s",
	    WEB_COOKIE, s->id, base, secure ? "; Secure" : "") == -1)
		fatal("%s", __func__);
	(void)http_reply_header(c, "Set-Cookie", v);
	freezero(v, strlen(v));
}

static void
view_of(const struct web_session *s, struct web_view *v)
{
	memset(v, 0, sizeof(*v));
	v->phase = s->phase;
	v->base = base;
	v->csrf = s->csrf;
	v->account = s->account;
	v->url = s->url;
	v->user_code = s->user_code;
	v->text = s->text;
	v->flow = s->flow;
	v->conf = proxy_conf;
	v->host = host;
}

static void
reply_page(struct http_conn *c, const struct web_view *v)
{
	char	*html;
	int	 status;

	html = web_html(v, &status);
	page_headers(c);
	(void)http_reply_body(c, html, strlen(html));
	free(html);
	http_reply(c, status, "text/html; charset=utf-8");
}

static void
reply_message(struct http_conn *c, int status, const char *title,
    const char *text)
{
	char	*html;

	html = web_html_message(title, text);
	page_headers(c);
	(void)http_reply_body(c, html, strlen(html));
	free(html);
	http_reply(c, status, "text/html; charset=utf-8");
}

/* 303 to a path of the page (after a post, or to the status). */
static void
reply_see(struct http_conn *c, const char *path)
{
	page_headers(c);
	(void)http_reply_header(c, "Location", path);
	http_reply(c, 303, "text/plain; charset=utf-8");
}

static void
page_form(struct http_conn *c, const struct http_request *req, void *arg)
{
	struct web_session	*s;
	struct web_view		 v;
	int			 fresh = 0;

	if ((s = session_find(req)) == NULL) {
		if ((s = session_new(c)) == NULL) {
			reply_message(c, 503, "Busy", "Too many people are "
			    "using this page; try again in a few minutes.");
			return;
		}
		fresh = 1;
	}
	if (fresh)
		set_cookie(c, s);
	view_of(s, &v);
	/* The form, whatever the session did before. */
	v.phase = WEB_IDLE;
	reply_page(c, &v);
}

/* One more post from addr: 0 when over the rate. */
static int
rate_ok(const char *addr)
{
	struct web_rate	*r, *next;
	time_t		 now = time(NULL);

	TAILQ_FOREACH_SAFE(r, &rates, entry, next) {
		if (now - r->start >= WEB_LOGIN_WINDOW) {
			TAILQ_REMOVE(&rates, r, entry);
			free(r);
			continue;
		}
		if (strcmp(r->addr, addr) == 0)
			return (++r->n <= WEB_LOGINS_PER_ADDR);
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("%s", __func__);
	strlcpy(r->addr, addr, sizeof(r->addr));
	r->start = now;
	r->n = 1;
	TAILQ_INSERT_TAIL(&rates, r, entry);
	return (1);
}

static void
audit(struct web_session *s, const char *result)
{
	char	 acct[256];
	size_t	 i;

	if (s->audited)
		return;
	s->audited = 1;
	for (i = 0; s->account != NULL && s->account[i] != '\0' &&
	    i < sizeof(acct) - 1; i++)
		acct[i] = s->account[i] >= 0x20 && s->account[i] < 0x7f ?
		    s->account[i] : '?';
	acct[i] = '\0';
	log_info("audit: result=%s proto=web listener=page client=%s "
	    "account=%s", result, s->addr, i > 0 ? acct : "-");
}

static void
page_login(struct http_conn *c, const struct http_request *req, void *arg)
{
	struct web_session	*s;
	char			*csrf = NULL, *addr = NULL, *pass = NULL;
	const char		*ct = req->content_type;

	if ((s = session_find(req)) == NULL) {
		reply_message(c, 403, "Not accepted", "This form has expired "
		    "or cookies are off; open the page again.");
		return;
	}
	if (ct == NULL || strncasecmp(ct,
	    "application/x-www-form-urlencoded", 33) != 0 ||
	    req->body == NULL) {
		reply_message(c, 415, "Not accepted", "Send the form.");
		return;
	}
	csrf = urlform_get(req->body, "csrf");
	if (!token_eq(s->csrf, csrf)) {
		log_info("authorisation page: %s: a form without this "
		    "browser's token; refused", http_conn_peer(c));
		str_wipe(&csrf);
		reply_message(c, 403, "Not accepted", "This form has expired; "
		    "open the page again.");
		return;
	}
	str_wipe(&csrf);
	if (!rate_ok(http_conn_peer(c))) {
		log_info("authorisation page: %s: more than %d posts in %d s; "
		    "refused", http_conn_peer(c), WEB_LOGINS_PER_ADDR,
		    WEB_LOGIN_WINDOW);
		(void)http_reply_header(c, "Retry-After", "60");
		reply_message(c, 429, "Too many attempts", "Too many attempts "
		    "from your address; wait a minute and try again.");
		return;
	}
	addr = urlform_get(req->body, "address");
	pass = urlform_get(req->body, "password");
	if (s->req != 0)
		proxy_page_cancel(s->req);
	session_clear(s);
	s->req = 0;
	s->audited = 0;
	if (addr != NULL && (s->account = strdup(addr)) == NULL)
		fatal("%s", __func__);
	if (addr == NULL || *addr == '\0' || pass == NULL ||
	    *pass == '\0') {
		s->phase = WEB_FAIL;
		if ((s->text = strdup("Enter your mailbox address and a "
		    "password.")) == NULL)
			fatal("%s", __func__);
		free(addr);
		str_wipe(&pass);
		reply_see(c, r_status);
		return;
	}
	if (++next_req == 0)
		next_req = 1;
	s->req = next_req;
	s->phase = WEB_CHECKING;
	if (proxy_page_login(s->req, http_conn_peer(c), addr, pass) == -1) {
		s->req = 0;
		s->phase = WEB_FAIL;
		if ((s->text = strdup("The server is busy; try again.")) ==
		    NULL)
			fatal("%s", __func__);
	}
	free(addr);
	str_wipe(&pass);
	if (s->phase == WEB_CHECKING) {
		/* tokend answers; the post waits for it. */
		s->conn = http_conn_id(c);
		return;
	}
	reply_see(c, r_status);
}

static void
page_status(struct http_conn *c, const struct http_request *req, void *arg)
{
	struct web_session	*s;
	struct web_view		 v;

	if ((s = session_find(req)) == NULL || s->phase == WEB_IDLE) {
		reply_see(c, base);
		return;
	}
	view_of(s, &v);
	reply_page(c, &v);
}

static void
page_css(struct http_conn *c, const struct http_request *req, void *arg)
{
	(void)http_reply_header(c, "Content-Security-Policy", WEB_CSP);
	(void)http_reply_body(c, web_css, strlen(web_css));
	http_reply(c, 200, "text/css; charset=utf-8");
}

/*
 * The provider's redirect.  Its state must be the one this browser
 * session got, and is good once: anything else is refused here, and
 * nothing reaches tokend or authd.
 */
static void
page_callback(struct http_conn *c, const struct http_request *req,
    void *arg)
{
	struct web_session	*s;
	char			*state = NULL, *code = NULL, *error = NULL;
	char			*desc = NULL;
	int			 ok;

	s = session_find(req);
	if (req->query != NULL)
		state = urlform_get(req->query, "state");
	ok = s != NULL && s->phase == WEB_CONSENT && s->state != NULL &&
	    secret_eq(s->state, state);
	if (!ok) {
		log_warnx("authorisation page: %s: a provider's answer that "
		    "does not belong to this browser's sign-in (forged, "
		    "expired or used already); refused", http_conn_peer(c));
		str_wipe(&state);
		reply_message(c, 400, "Not accepted", "This answer from the "
		    "provider does not belong to a sign-in started in this "
		    "browser (it is forged, expired, or used already).  Open "
		    "the authorisation page again.");
		return;
	}
	/* Good once. */
	str_wipe(&s->state);
	s->phase = WEB_FINISHING;
	code = urlform_get(req->query, "code");
	error = urlform_get(req->query, "error");
	desc = urlform_get(req->query, "error_description");
	s->cb_conn = http_conn_id(c);
	if (proxy_redirect_response(s->cb_conn, req->path, state, code,
	    error, desc) == -1) {
		s->cb_conn = 0;
		s->phase = WEB_FAIL;
		free(s->text);
		if ((s->text = strdup("The server is busy; try again.")) ==
		    NULL)
			fatal("%s", __func__);
		reply_see(c, r_status);
	}
	str_wipe(&state);
	str_wipe(&code);
	free(error);
	free(desc);
}

/* authd's answer to a callback (webredirect.c asks first): 1 if ours. */
int
web_page_callback_result(uint32_t id, uint32_t status, const char *text)
{
	struct web_session	*s;
	struct http_conn	*c;

	TAILQ_FOREACH(s, &sessions, entry)
		if (s->cb_conn != 0 && s->cb_conn == id)
			break;
	if (s == NULL)
		return (0);
	s->cb_conn = 0;
	if (status != 200 && s->phase == WEB_FINISHING) {
		s->phase = WEB_FAIL;
		free(s->text);
		if ((s->text = strdup(text)) == NULL)
			fatal("%s", __func__);
	}
	if ((c = http_conn_find(id)) != NULL)
		reply_see(c, r_status);
	return (1);
}

/* tokend's first answer may find the form's post still waiting. */
static void
answer_post(struct web_session *s)
{
	struct http_conn	*c;

	if (s->conn != 0 && (c = http_conn_find(s->conn)) != NULL)
		reply_see(c, r_status);
	s->conn = 0;
}

void
web_page_consent(uint32_t id, const char *url, const char *state,
    const char *code, uint64_t expiry)
{
	struct web_session	*s;

	if ((s = session_by_req(id)) == NULL) {
		log_debug("authorisation page: consent for request %u that "
		    "is gone", id);
		return;
	}
	free(s->url);
	str_wipe(&s->state);
	free(s->user_code);
	s->url = s->user_code = NULL;
	if ((s->url = strdup(url)) == NULL ||
	    (state != NULL && (s->state = strdup(state)) == NULL) ||
	    (code != NULL && (s->user_code = strdup(code)) == NULL))
		fatal("%s", __func__);
	s->phase = WEB_CONSENT;
	if ((time_t)expiry + 60 > s->expires)
		s->expires = (time_t)expiry + 60;
	audit(s, "ok");
	log_info("authorisation page: %s: %s sent to the provider",
	    s->addr, code != NULL ? "code shown," : "browser");
	answer_post(s);
}

void
web_page_done(uint32_t id, const char *account, uint32_t flow)
{
	struct web_session	*s;

	if ((s = session_by_req(id)) == NULL)
		return;
	s->req = 0;
	s->phase = WEB_DONE;
	s->flow = flow;
	str_wipe(&s->state);
	audit(s, "ok");
	answer_post(s);
}

void
web_page_fail(uint32_t id, uint32_t reason, const char *text)
{
	struct web_session	*s;

	if ((s = session_by_req(id)) == NULL)
		return;
	s->req = 0;
	s->phase = WEB_FAIL;
	str_wipe(&s->state);
	free(s->text);
	if ((s->text = strdup(text)) == NULL)
		fatal("%s", __func__);
	audit(s, token_fail_name(reason));
	answer_post(s);
}

static void
sweep(int fd, short event, void *arg)
{
	struct web_session	*s, *next;
	struct timeval		 tv = { WEB_SWEEP, 0 };
	time_t			 now = time(NULL);

	TAILQ_FOREACH_SAFE(s, &sessions, entry, next) {
		/* A browser that left waits for nothing. */
		if (s->conn != 0 && http_conn_find(s->conn) == NULL)
			s->conn = 0;
		if (s->cb_conn != 0 && http_conn_find(s->cb_conn) == NULL)
			s->cb_conn = 0;
		if (s->expires <= now && s->conn == 0 && s->cb_conn == 0)
			session_free(s);
	}
	evtimer_add(&sweep_ev, &tv);
}

/* Connections accepted with the context hold it; they keep it. */
static void
page_tls_drop(void)
{
	tlsx_ctx_unref(page_tls);
	page_tls = NULL;
	freezero(page_cert, page_certlen);
	freezero(page_key, page_keylen);
	page_cert = page_key = NULL;
	page_certlen = page_keylen = 0;
}

static int
same_data(const char *a, size_t alen, const struct conf_file *f)
{
	if (a == NULL || f->data == NULL)
		return (a == NULL && f->data == NULL);
	return (alen == f->len && memcmp(a, f->data, alen) == 0);
}

/* The page's TLS context for conf: kept while its files stay the same. */
static int
page_tls_set(const struct emailproxy_conf *conf)
{
	const struct conf_file	*cert = &conf->authorisation_page_certificate;
	const struct conf_file	*key = &conf->authorisation_page_key;

	if (same_data(page_cert, page_certlen, cert) &&
	    same_data(page_key, page_keylen, key))
		return (0);
	page_tls_drop();
	if (cert->data == NULL || key->data == NULL)
		return (0);
	if ((page_tls = tlsx_server_ctx("authorisation page",
	    (const uint8_t *)cert->data, cert->len,
	    (const uint8_t *)key->data, key->len, 0)) == NULL)
		return (-1);
	if ((page_cert = malloc(cert->len)) == NULL ||
	    (page_key = malloc(key->len)) == NULL)
		fatal("%s", __func__);
	memcpy(page_cert, cert->data, cert->len);
	memcpy(page_key, key->data, key->len);
	page_certlen = cert->len;
	page_keylen = key->len;
	return (0);
}

/* The page's path and host from its URL. */
static void
page_paths(const char *url)
{
	const char	*a, *p, *e;
	size_t		 n;

	strlcpy(base, "/", sizeof(base));
	host[0] = '\0';
	secure = 0;
	if (url != NULL) {
		secure = strncasecmp(url, "https://", 8) == 0;
		a = (p = strstr(url, "://")) != NULL ? p + 3 : url;
		e = a + strcspn(a, "/?#");
		/* host[:port]: the port is the page's, not the mail's */
		n = e - a;
		if (*a == '[' && (p = memchr(a, ']', n)) != NULL)
			n = p - a + 1;
		else if ((p = memchr(a, ':', n)) != NULL)
			n = p - a;
		if (n < sizeof(host)) {
			memcpy(host, a, n);
			host[n] = '\0';
		}
		n = strcspn(e, "?#");
		if (n > 0 && n < sizeof(base) - 2) {
			memcpy(base, e, n);
			base[n] = '\0';
			if (base[n - 1] != '/')
				strlcat(base, "/", sizeof(base));
		}
	}
	strlcpy(base_bare, base, sizeof(base_bare));
	if (strlen(base_bare) > 1)
		base_bare[strlen(base_bare) - 1] = '\0';
	snprintf(r_login, sizeof(r_login), "%slogin", base);
	snprintf(r_status, sizeof(r_status), "%sstatus", base);
	snprintf(r_callback, sizeof(r_callback), "%scallback", base);
	snprintf(r_css, sizeof(r_css), "%sstyle.css", base);
}

static void
page_stop(void)
{
	http_server_stop(page_srv);
	page_srv = NULL;
	page_tls_drop();
}

/* The configuration changed: the page follows it. */
void
web_page_reconf(const struct emailproxy_conf *conf)
{
	page_paths(conf->authorisation_page_url);
	if (conf->authorisation_page_listen == NULL ||
	    conf->authorisation_page_url == NULL) {
		if (page_srv != NULL)
			log_info("authorisation page: no longer served");
		page_stop();
		return;
	}
	/* A context that fails keeps none: the page then refuses TLS. */
	(void)page_tls_set(conf);
	if (page_srv != NULL)
		http_server_set_tls(page_srv, page_tls);
}

/* The socket from the parent (PAGE_LISTENER); replaces the old one. */
void
web_page_listen(int fd, const char *hostport)
{
	struct http_server_conf	 hc;

	page_stop();
	if (proxy_conf->authorisation_page_listen == NULL ||
	    proxy_conf->authorisation_page_url == NULL) {
		close(fd);
		return;
	}
	web_page_reconf(proxy_conf);
	memset(&hc, 0, sizeof(hc));
	hc.name = "authorisation page";
	hc.routes = routes;
	hc.nroutes = sizeof(routes) / sizeof(routes[0]);
	hc.tls = page_tls;
	hc.max_conns = WEB_CONNS;
	hc.max_conns_per_addr = WEB_CONNS_PER_ADDR;
	hc.timeout = WEB_TIMEOUT;
	hc.handler_timeout = WEB_ANSWER_TIMEOUT;
	hc.head_max = WEB_HEAD_MAX;
	hc.body_max = WEB_BODY_MAX;
	if ((page_srv = http_server_start(fd, &hc)) == NULL)
		return;
	log_info("authorisation page on %s%s", hostport,
	    page_tls != NULL ? " (https)" : "");
	if (!sweep_set) {
		evtimer_set(&sweep_ev, sweep, NULL);
		sweep_set = 1;
		sweep(-1, 0, NULL);
	}
}

void
web_close(void)
{
	struct web_session	*s;
	struct web_rate		*r;

	page_stop();
	if (sweep_set)
		evtimer_del(&sweep_ev);
	while ((s = TAILQ_FIRST(&sessions)) != NULL) {
		s->req = 0;
		session_free(s);
	}
	while ((r = TAILQ_FIRST(&rates)) != NULL) {
		TAILQ_REMOVE(&rates, r, entry);
		free(r);
	}
	web_redirect_close();
}
