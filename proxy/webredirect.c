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
 * The redirect listeners: the sockets the parent bound for the
 * redirect_uri (or redirect_listen_address) of authorization-code
 * accounts.  A browser's request for any path is parsed here (proxy/
 * http.c); its path and the state, code and error of its query go to
 * authd through tokend (REDIRECT_RESPONSE), which matches them to a
 * waiting authorisation by the state and answers with a line for the
 * browser (REDIRECT_RESULT).  The authorisation page's callback takes
 * the same way once web.c has checked its state against the browser
 * session.  Each connection has WEB_REDIRECT_DEADLINE seconds from
 * accept, and one client address holds at most WEB_REDIRECT_PER_ADDR
 * of the WEB_REDIRECT_CONNS, so slow clients cannot keep a redirect
 * out for long.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emailproxy.h"
#include "http_request.h"
#include "log.h"
#include "secret.h"
#include "urlform.h"
#include "proxy.h"
#include "http.h"
#include "web.h"

#define WEB_REDIRECT_CONNS	32	/* in all, per listener */
#define WEB_REDIRECT_PER_ADDR	8	/* from one client address */
#define WEB_REDIRECT_DEADLINE	10	/* s from accept to the answer */
#define WEB_REDIRECT_MAX	8192	/* request head */

struct web_listener {
	TAILQ_ENTRY(web_listener)	 entry;
	char				*hostport;
	struct http_server		*srv;
};
static TAILQ_HEAD(, web_listener) listeners =
    TAILQ_HEAD_INITIALIZER(listeners);

static void	 redirect_request(struct http_conn *,
		    const struct http_request *, void *);

/* Any path: authd matches it against the account's redirect_uri. */
static const struct http_route redirect_routes[] = {
	{ NULL, HTTP_M_GET, redirect_request, NULL }
};

/*
 * Send the redirect in req to authd; the connection waits for
 * REDIRECT_RESULT.  -1 if it cannot be sent.
 */
int
web_redirect_send(struct http_conn *c, const char *path, const char *query)
{
	char	*state = NULL, *code = NULL, *error = NULL, *desc = NULL;
	int	 rv;

	if (query != NULL) {
		state = urlform_get(query, "state");
		code = urlform_get(query, "code");
		error = urlform_get(query, "error");
		desc = urlform_get(query, "error_description");
	}
	rv = proxy_redirect_response(http_conn_id(c), path, state, code,
	    error, desc);
	str_wipe(&state);
	str_wipe(&code);
	free(error);
	free(desc);
	return (rv);
}

static void
redirect_request(struct http_conn *c, const struct http_request *req,
    void *arg)
{
	log_debug("redirect listener: request for %s", req->path);
	if (web_redirect_send(c, req->path, req->query) == -1)
		http_reply_error(c, 503);
}

static void
reply(struct http_conn *c, int status, const char *text)
{
	char	*html;

	html = web_html_message("emailproxy authorisation", text);
	(void)http_reply_header(c, "Content-Security-Policy", WEB_CSP);
	(void)http_reply_header(c, "Referrer-Policy", "no-referrer");
	(void)http_reply_body(c, html, strlen(html));
	free(html);
	http_reply(c, status, "text/html; charset=utf-8");
}

/* REDIRECT_RESULT: the page's callback, or a listener's request. */
void
web_redirect_result(uint32_t id, uint32_t status, const char *account,
    const char *text)
{
	struct http_conn	*c;

	if (web_page_callback_result(id, status, text))
		return;
	if ((c = http_conn_find(id)) == NULL) {
		log_debug("redirect listener: the browser of request %u is "
		    "gone", id);
		return;
	}
	reply(c, status, text);
}

/* A socket from the parent (IMSG_REDIRECT_LISTENER); replaces its twin. */
void
web_redirect_listen(int fd, const char *hostport)
{
	struct web_listener	*l;
	struct http_server_conf	 hc;

	TAILQ_FOREACH(l, &listeners, entry) {
		if (strcmp(l->hostport, hostport) == 0) {
			TAILQ_REMOVE(&listeners, l, entry);
			http_server_stop(l->srv);
			free(l->hostport);
			free(l);
			break;
		}
	}
	memset(&hc, 0, sizeof(hc));
	hc.name = "redirect listener";
	hc.routes = redirect_routes;
	hc.nroutes = 1;
	hc.max_conns = WEB_REDIRECT_CONNS;
	hc.max_conns_per_addr = WEB_REDIRECT_PER_ADDR;
	hc.timeout = WEB_REDIRECT_DEADLINE;
	hc.handler_timeout = WEB_REDIRECT_DEADLINE;
	hc.head_max = WEB_REDIRECT_MAX;
	hc.body_max = 0;
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->hostport = strdup(hostport)) == NULL)
		fatal("%s", __func__);
	if ((l->srv = http_server_start(fd, &hc)) == NULL) {
		free(l->hostport);
		free(l);
		return;
	}
	TAILQ_INSERT_TAIL(&listeners, l, entry);
	log_debug("redirect listener on %s", hostport);
}

void
web_redirect_close(void)
{
	struct web_listener	*l;

	while ((l = TAILQ_FIRST(&listeners)) != NULL) {
		TAILQ_REMOVE(&listeners, l, entry);
		http_server_stop(l->srv);
		free(l->hostport);
		free(l);
	}
}
