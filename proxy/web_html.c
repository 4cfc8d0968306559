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
 * The HTML of the authorisation page and of the redirect listeners.
 * Every value shown is escaped here (html_escape), whoever supplied it;
 * no page has a script, and the only style is the stylesheet served
 * beside them (web_css), as the Content-Security-Policy demands.
 */

#include <sys/types.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emailproxy.h"
#include "config.h"
#include "log.h"
#include "urlform.h"
#include "web.h"

const char web_css[] =
    "body{margin:0;background:#f4f5f7;color:#222;"
    "font:16px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif}\n"
    "main{max-width:34em;margin:3em auto;background:#fff;padding:1.5em 2em;"
    "border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15)}\n"
    "h1{font-size:1.4em;margin-top:0}\n"
    "label{display:block;margin-top:1em;font-weight:600}\n"
    "input{box-sizing:border-box;width:100%;padding:.5em;margin-top:.3em;"
    "font-size:1em;border:1px solid #999;border-radius:4px}\n"
    "button,a.button{display:inline-block;margin-top:1.2em;padding:.6em 1.4em;"
    "font-size:1em;background:#1f5fbf;color:#fff;border:0;"
    "border-radius:4px;text-decoration:none;cursor:pointer}\n"
    ".hint{color:#555;font-size:.9em}\n"
    ".error{background:#fdecea;border-left:4px solid #c62828;"
    "padding:.6em 1em}\n"
    ".code{font:2em/1.2 monospace;letter-spacing:.15em;margin:.5em 0}\n"
    "table{border-collapse:collapse;margin-top:1em;width:100%}\n"
    "th,td{text-align:left;padding:.4em;border-bottom:1px solid #ddd;"
    "vertical-align:top}\n";

struct html {
	char	*buf;
	size_t	 len;
	size_t	 size;
};

static void
put(struct html *h, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	if ((n = vasprintf(&s, fmt, ap)) == -1)
		fatal("%s", __func__);
	va_end(ap);
	if (h->len + n + 1 > h->size) {
		h->size = (h->len + n + 1) * 2;
		if ((h->buf = realloc(h->buf, h->size)) == NULL)
			fatal("%s", __func__);
	}
	memcpy(h->buf + h->len, s, n + 1);
	h->len += n;
	free(s);
}

/* An escaped copy (heap); "" for NULL. */
static char *
esc(const char *s)
{
	char	*e;

	if ((e = html_escape(s != NULL ? s : "")) == NULL)
		fatal("%s", __func__);
	return (e);
}

static void
head(struct html *h, const char *base, const char *title,
    const char *refresh_url, int refresh_secs)
{
	char	*u;

	put(h, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\">\n");
	if (refresh_url != NULL) {
		u = esc(refresh_url);
		put(h, "<meta http-equiv=\"refresh\" content=\"%d;url=%s\">\n",
		    refresh_secs, u);
		free(u);
	}
	u = esc(base);
	put(h, "<title>%s</title>\n<link rel=\"stylesheet\" "
	    "href=\"%sstyle.css\">\n</head><body><main>\n", title, u);
	free(u);
}

static char *
finish(struct html *h)
{
	put(h, "</main></body></html>\n");
	return (h->buf);
}

static void
form(struct html *h, const struct web_view *v)
{
	char	*b = esc(v->base), *c = esc(v->csrf), *a = esc(v->account);

	put(h, "<form method=\"post\" action=\"%slogin\">\n"
	    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">\n"
	    "<label for=\"address\">Mailbox address</label>\n"
	    "<input id=\"address\" name=\"address\" type=\"text\" "
	    "inputmode=\"email\" autocomplete=\"username\" maxlength=\"254\" "
	    "required value=\"%s\">\n"
	    "<label for=\"password\">Password for your mail program</label>\n"
	    "<input id=\"password\" name=\"password\" type=\"password\" "
	    "autocomplete=\"new-password\" maxlength=\"1024\" required>\n"
	    "<p class=\"hint\">The password your mail program will give this "
	    "server.  The first time, it becomes the password of this "
	    "mailbox here; after that it must match, or the "
	    "administrator's password for it.</p>\n"
	    "<button type=\"submit\" id=\"continue\">Continue</button>\n"
	    "</form>\n", b, c, a);
	free(b);
	free(c);
	free(a);
}

static const char *
security(const struct server_conf *s)
{
	if (s->local_starttls)
		return ("STARTTLS");
	if (s->local_certificate.path != NULL)
		return ("SSL/TLS");
	return ("none");
}

static const char *
unattended(uint32_t flow)
{
	switch (flow) {
	case FLOW_CLIENT_CREDENTIALS:
		return ("client credentials");
	case FLOW_SERVICE_ACCOUNT:
		return ("a service account");
	case FLOW_PASSWORD:
		return ("your provider password (ROPC)");
	}
	return (NULL);
}

/* What to put in the mail program: one row per server section. */
static void
settings(struct html *h, const struct web_view *v)
{
	const struct server_conf	*s;
	const char			*how;
	char				*a = esc(v->account), *host = esc(v->host);

	put(h, "<h1>Your mail account is ready</h1>\n<p id=\"done\">"
	    "<strong>%s</strong> is authorised.", a);
	if ((how = unattended(v->flow)) != NULL)
		put(h, " This account needs no sign-in by a person: the server "
		    "obtains its tokens with %s.", how);
	put(h, "</p>\n<p>Set up your mail program with:</p>\n<table>\n");
	if (v->conf != NULL)
		TAILQ_FOREACH(s, &v->conf->servers, entry)
			put(h, "<tr><th>%s</th><td>server <strong>%s</strong>, "
			    "port <strong>%u</strong>, security %s</td></tr>\n",
			    s->proto == PROTO_SMTP ? "Outgoing mail (SMTP)" :
			    s->proto == PROTO_POP ? "Incoming mail (POP3)" :
			    "Incoming mail (IMAP)", host,
			    (unsigned int)s->local_port, security(s));
	put(h, "<tr><th>User name</th><td><strong>%s</strong></td></tr>\n"
	    "<tr><th>Password</th><td>the one you entered on this page"
	    "</td></tr>\n</table>\n", a);
	free(a);
	free(host);
}

/*
 * The page for the browser session's state; *status the HTTP status.
 */
char *
web_html(const struct web_view *v, int *status)
{
	struct html	 h;
	char		*status_url, *a, *u, *c, *t;

	memset(&h, 0, sizeof(h));
	*status = 200;
	if (asprintf(&status_url, "%sstatus", v->base) == -1)
		fatal("%s", __func__);
	switch (v->phase) {
	case WEB_IDLE:
		head(&h, v->base, "Authorise your mail account", NULL, 0);
		put(&h, "<h1>Authorise your mail account</h1>\n<p>Enter your "
		    "mailbox address and the password your mail program will "
		    "use.  You will then sign in at your mail provider to "
		    "allow this server to reach your mailbox.</p>\n");
		form(&h, v);
		break;
	case WEB_CHECKING:
	case WEB_FINISHING:
		head(&h, v->base, "Please wait", status_url, 2);
		a = esc(v->account);
		put(&h, "<h1>Please wait</h1>\n<p id=\"wait\">%s for "
		    "<strong>%s</strong>.  This page updates by itself.</p>\n",
		    v->phase == WEB_CHECKING ? "Checking the password" :
		    "Finishing the authorisation", a);
		free(a);
		break;
	case WEB_CONSENT:
		a = esc(v->account);
		u = esc(v->url);
		if (v->user_code != NULL) {
			head(&h, v->base, "Enter the code at your provider",
			    status_url, 5);
			c = esc(v->user_code);
			put(&h, "<h1>Enter the code at your provider</h1>\n"
			    "<p>The password for <strong>%s</strong> is "
			    "accepted.  Open <a id=\"verify\" href=\"%s\" "
			    "rel=\"noreferrer\">%s</a> and enter this code:"
			    "</p>\n<p class=\"code\" id=\"user-code\">%s</p>\n"
			    "<p class=\"hint\">This page updates by itself "
			    "when you are done.</p>\n", a, u, u, c);
			free(c);
		} else {
			head(&h, v->base, "Sign in at your provider", v->url,
			    0);
			put(&h, "<h1>Sign in at your provider</h1>\n<p>The "
			    "password for <strong>%s</strong> is accepted.  "
			    "Sign in at your mail provider and allow access "
			    "to your mailbox.</p>\n<p><a class=\"button\" "
			    "id=\"consent\" href=\"%s\" rel=\"noreferrer\">"
			    "Continue to your provider</a></p>\n", a, u);
		}
		free(a);
		free(u);
		break;
	case WEB_DONE:
		head(&h, v->base, "Your mail account is ready", NULL, 0);
		settings(&h, v);
		break;
	case WEB_FAIL:
		*status = 403;
		head(&h, v->base, "Not authorised", NULL, 0);
		t = esc(v->text);
		put(&h, "<h1>Not authorised</h1>\n<p class=\"error\" "
		    "id=\"error\">%s</p>\n<p>You can try again:</p>\n", t);
		free(t);
		form(&h, v);
		break;
	}
	free(status_url);
	return (finish(&h));
}

/* A page with a title and one paragraph (the redirect listeners'). */
char *
web_html_message(const char *title, const char *text)
{
	struct html	 h;
	char		*t, *x;

	memset(&h, 0, sizeof(h));
	t = esc(title);
	x = esc(text);
	put(&h, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\">\n<title>%s</title>\n</head><body>"
	    "<main>\n<h1>%s</h1>\n<p id=\"message\">%s</p>\n", t, t, x);
	free(t);
	free(x);
	return (finish(&h));
}
