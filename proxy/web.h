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
 * The proxy's pages for browsers, served by proxy/http.c on sockets the
 * parent bound: the self-service authorisation page (web.c, its HTML in
 * web_html.c) and the redirect listeners (webredirect.c).  The proxy
 * parses the HTTP; a password goes to tokend as a login does
 * (PAGE_LOGIN) and a redirect's state and code go to authd through
 * tokend (REDIRECT_RESPONSE).
 */

#ifndef PROXY_WEB_H
#define PROXY_WEB_H

#include <stdint.h>

struct emailproxy_conf;
struct http_conn;
struct imsgev;

/* What the status page shows, from the browser session's state. */
enum web_phase {
	WEB_IDLE,		/* nothing asked yet */
	WEB_CHECKING,		/* tokend decides the password */
	WEB_CONSENT,		/* the person must visit the provider */
	WEB_FINISHING,		/* the provider answered; tokens come */
	WEB_DONE,		/* the account has working tokens */
	WEB_FAIL		/* refused, or the authorisation failed */
};

/* One page of web_html.c: everything it shows, unescaped. */
struct web_view {
	enum web_phase	 phase;
	const char	*base;		/* the page's path, "/" or "/x/" */
	const char	*csrf;		/* the form's token */
	const char	*account;	/* as typed, or NULL */
	const char	*url;		/* consent or verification URL */
	const char	*user_code;	/* device grant */
	const char	*text;		/* a failure's message */
	uint32_t	 flow;		/* enum oauth2_flow, when done */
	const struct emailproxy_conf *conf; /* the server sections */
	const char	*host;		/* mail server host for clients */
};

/* web.c */
void	 web_page_listen(int, const char *);
void	 web_page_reconf(const struct emailproxy_conf *);
void	 web_page_consent(uint32_t, const char *, const char *, const char *,
	    uint64_t);
void	 web_page_done(uint32_t, const char *, uint32_t);
void	 web_page_fail(uint32_t, uint32_t, const char *);
int	 web_page_callback_result(uint32_t, uint32_t, const char *);
void	 web_close(void);

/* webredirect.c */
void	 web_redirect_listen(int, const char *);
void	 web_redirect_result(uint32_t, uint32_t, const char *, const char *);
int	 web_redirect_send(struct http_conn *, const char *, const char *);
void	 web_redirect_close(void);

/* web_html.c: the page (heap, NUL-terminated) and its stylesheet. */
char	*web_html(const struct web_view *, int *status);
char	*web_html_message(const char *title, const char *text);
extern const char web_css[];
/* The Content-Security-Policy of every page. */
#define WEB_CSP		"default-src 'none'; style-src 'self'; " \
	"img-src 'self'; form-action 'self'; frame-ancestors 'none'; " \
	"base-uri 'none'"

/* proxy.c: messages to tokend. */
int	 proxy_page_login(uint32_t, const char *, const char *, const char *);
void	 proxy_page_cancel(uint32_t);
int	 proxy_redirect_response(uint32_t, const char *, const char *,
	    const char *, const char *, const char *);

#endif /* PROXY_WEB_H */
