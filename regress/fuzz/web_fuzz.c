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
 * The self-service authorisation page and the redirect listeners
 * (proxy/web.c, web_html.c, webredirect.c) as browsers and tokend drive
 * them: requests over unix sockets to the page and to a redirect
 * listener, with the cookie, form token and state the page handed out,
 * and tokend's and authd's answers in between.  The input is a flags
 * byte (bit 0: an https page URL; bit 1: the page under /auth/, else /;
 * bit 2: the proxy cannot send a login to tokend; bit 3: nor a redirect
 * to authd), then events, each an op byte, a length byte and that many
 * bytes of data:
 *
 *	P  a request to the page	R  a request to a redirect listener
 *	C  tokend's PAGE_CONSENT for the last login (data[0] bit 0: the
 *	   device grant, data[1..] its user code, else the code grant
 *	   with a state of the harness's; the URL: data[1..])
 *	D  PAGE_DONE (flow data[0], account data[1..])
 *	F  PAGE_FAIL (reason data[0], text data[1..])
 *	A  authd's result for the last redirect sent (data[0] bit 0: 200,
 *	   else 400; text data[1..])
 *	X  the oldest client still waiting goes away
 *
 * Any other op byte is one of these by its value mod 7.  In a request,
 * byte 1 stands for the page's last cookie value, 2 for its form token,
 * 3 for the last state, 4 for the page's path.
 *
 * Every response must be well-formed (regress/fuzz/http_check.c); an
 * HTML page may hold only the tags its templates write (what a browser
 * sends or a provider names is escaped); a Location is a path of the
 * page.  Each input starts with a fresh page.
 *
 * DEPS: proxy/web.c proxy/web_html.c proxy/webredirect.c proxy/http.c proxy/io.c proxy/iobuf.c proxy/tls_ossl.c proxy/tlsverify.c common/http_request.c common/urlform.c common/audit.c common/base64.c common/secret.c common/log.c regress/fuzz/http_check.c
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <event.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "emailproxy.h"
#include "config.h"
#include "http_request.h"
#include "proxy.h"
#include "http.h"
#include "web.h"
#include "fuzz.h"

#define TURNS		32
#define RESP_MAX	65536
#define NWAIT		8

struct emailproxy_conf	*proxy_conf;

static struct emailproxy_conf	 conf;
static char			 tmpdir[64];
static char			 path_page[128], path_redir[128];
static int			 page_fails, redirect_fails;
static uint32_t			 last_req, last_cb;
static char			 cookie[128], csrf[128], state[64], base[16];
static unsigned int		 nstate;

struct waiting {
	int	 s;
	int	 head;
	size_t	 len;
	char	*buf;
};
static struct waiting	 waits[NWAIT];

/* What proxy.c sends tokend and authd. */
int
proxy_page_login(uint32_t id, const char *addr, const char *user,
    const char *pass)
{
	if (page_fails)
		return (-1);
	last_req = id;
	return (0);
}

void
proxy_page_cancel(uint32_t id)
{
}

int
proxy_redirect_response(uint32_t id, const char *path, const char *st,
    const char *code, const char *error, const char *desc)
{
	if (redirect_fails)
		return (-1);
	last_cb = id;
	return (0);
}

static int
listener(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, 16) == -1)
		abort();
	return (fd);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init(0);
	signal(SIGPIPE, SIG_IGN);
	event_init();
	strlcpy(tmpdir, "/tmp/web_fuzz.XXXXXX", sizeof(tmpdir));
	if (mkdtemp(tmpdir) == NULL)
		abort();
	snprintf(path_page, sizeof(path_page), "%s/page", tmpdir);
	snprintf(path_redir, sizeof(path_redir), "%s/redirect", tmpdir);
	TAILQ_INIT(&conf.servers);
	conf.authorisation_page_listen = "127.0.0.1:8443";
	proxy_conf = &conf;
	return (0);
}

static void
turn(void)
{
	event_loop(EVLOOP_NONBLOCK);
}

/* The tags web_html.c writes; anything else came from outside. */
static void
check_html(const char *p, const char *end)
{
	static const char *const tags[] = {
		"!DOCTYPE", "a", "body", "button", "form", "h1", "head",
		"html", "input", "label", "link", "main", "meta", "p",
		"strong", "table", "td", "th", "title", "tr"
	};
	const char	*q;
	size_t		 i, n;

	for (; (p = memchr(p, '<', end - p)) != NULL; p++) {
		q = p + 1;
		if (q < end && *q == '/')
			q++;
		for (n = 0; q + n < end && (isalnum((unsigned char)q[n]) ||
		    q[n] == '!'); n++)
			;
		for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
			if (strlen(tags[i]) == n &&
			    strncmp(tags[i], q, n) == 0)
				break;
		if (i == sizeof(tags) / sizeof(tags[0]))
			abort();
	}
}

/* A value after key in buf, up to one of the stop bytes, into out. */
static void
grab(const char *buf, size_t len, const char *key, const char *stop,
    char *out, size_t outsz)
{
	const char	*p;
	size_t		 n;

	if ((p = memmem(buf, len, key, strlen(key))) == NULL)
		return;
	p += strlen(key);
	n = strcspn(p, stop);
	if (n < outsz && (size_t)(p + n - buf) <= len) {
		memcpy(out, p, n);
		out[n] = '\0';
	}
}

static void
check(struct waiting *w)
{
	const char	*body, *loc, *end;
	size_t		 n;

	if (w->len == 0)
		return;
	w->buf[w->len] = '\0';
	body = fuzz_http_response(w->buf, w->len, w->head);
	end = w->buf + w->len;
	if (memmem(w->buf, body - w->buf, "Content-Type: text/html",
	    23) != NULL)
		check_html(body, end);
	if ((loc = memmem(w->buf, body - w->buf, "\r\nLocation: ", 12)) !=
	    NULL) {
		loc += 12;
		n = strlen(base);
		if ((size_t)(end - loc) < n || strncmp(loc, base, n) != 0)
			abort();
	}
	grab(w->buf, body - w->buf, "Set-Cookie: emailproxy_page=", ";\r",
	    cookie, sizeof(cookie));
	grab(body, end - body, "name=\"csrf\" value=\"", "\"", csrf,
	    sizeof(csrf));
}

/* Read what the server sent; 1 once it closed (then checked). */
static int
collect(struct waiting *w)
{
	ssize_t	 r;

	while ((r = read(w->s, w->buf + w->len, RESP_MAX - 1 - w->len)) > 0)
		w->len += r;
	if (w->len == RESP_MAX - 1)
		abort();
	if (r == 0 || (r == -1 && errno != EAGAIN)) {
		check(w);
		return (1);
	}
	return (0);
}

static void
finish(struct waiting *w)
{
	close(w->s);
	free(w->buf);
	w->s = -1;
	w->buf = NULL;
}

static void
poll_waiting(void)
{
	int	 i;

	for (i = 0; i < NWAIT; i++)
		if (waits[i].s != -1 && collect(&waits[i]))
			finish(&waits[i]);
}

/* The request in data, with the page's tokens put in. */
static void
request(const char *path, const uint8_t *data, size_t n)
{
	struct sockaddr_un	 sun;
	struct waiting		*w = NULL;
	char			 req[2048];
	const char		*sub;
	size_t			 len = 0, k, i;
	int			 t;

	for (i = 0; i < n; i++) {
		switch (data[i]) {
		case 1:
			sub = cookie;
			break;
		case 2:
			sub = csrf;
			break;
		case 3:
			sub = state;
			break;
		case 4:
			sub = base;
			break;
		default:
			sub = NULL;
			break;
		}
		k = sub != NULL ? strlen(sub) : 1;
		if (len + k > sizeof(req))
			break;
		if (sub != NULL)
			memcpy(req + len, sub, k);
		else
			req[len] = data[i];
		len += k;
	}
	for (i = 0; i < NWAIT && w == NULL; i++)
		if (waits[i].s == -1)
			w = &waits[i];
	if (w == NULL) {
		w = &waits[0];
		finish(w);
	}
	w->len = 0;
	w->head = len >= 5 && memcmp(req, "HEAD ", 5) == 0 ? -1 : 0;
	if ((w->buf = malloc(RESP_MAX)) == NULL)
		abort();
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if ((w->s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1 ||
	    connect(w->s, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		abort();
	turn();
	if (len > 0 && write(w->s, req, len) == -1 && errno != EPIPE &&
	    errno != ECONNRESET && errno != EAGAIN)
		abort();
	(void)shutdown(w->s, SHUT_WR);
	for (t = 0; t < TURNS; t++) {
		turn();
		if (collect(w)) {
			finish(w);
			break;
		}
	}
}

static char *
str(const uint8_t *p, size_t n)
{
	char	*s;

	if ((s = malloc(n + 1)) == NULL)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return (s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	 ops[] = "PRCDFAX";
	const uint8_t		*d;
	char			*a;
	size_t			 n;
	int			 i, op;

	if (size < 1)
		return (0);
	conf.authorisation_page_url = data[0] & 2 ?
	    (data[0] & 1 ? "https://mail.example.com/auth" :
	    "http://mail.example.com:8080/auth/") :
	    (data[0] & 1 ? "https://[::1]:8443/" : "http://localhost");
	strlcpy(base, data[0] & 2 ? "/auth/" : "/", sizeof(base));
	page_fails = (data[0] & 4) != 0;
	redirect_fails = (data[0] & 8) != 0;
	last_req = last_cb = 0;
	nstate = 0;
	cookie[0] = csrf[0] = state[0] = '\0';
	for (i = 0; i < NWAIT; i++)
		waits[i].s = -1;
	web_page_listen(listener(path_page), "page");
	web_redirect_listen(listener(path_redir), "redirect");
	data++;
	size--;

	while (size >= 2) {
		op = data[0];
		if (strchr(ops, op) == NULL || op == '\0')
			op = ops[op % 7];
		n = data[1];
		if (n > size - 2)
			n = size - 2;
		d = data + 2;
		data += 2 + n;
		size -= 2 + n;
		switch (op) {
		case 'P':
			request(path_page, d, n);
			break;
		case 'R':
			request(path_redir, d, n);
			break;
		case 'C':
			a = str(d + (n > 0), n - (n > 0));
			if (n > 0 && (d[0] & 1)) {
				web_page_consent(last_req, a, NULL, a,
				    1900000000);
			} else {
				snprintf(state, sizeof(state), "st%u",
				    ++nstate);
				web_page_consent(last_req, a, state, NULL,
				    1900000000);
			}
			free(a);
			break;
		case 'D':
			a = str(d + (n > 0), n - (n > 0));
			web_page_done(last_req, a, n > 0 ? d[0] : 0);
			free(a);
			break;
		case 'F':
			a = str(d + (n > 0), n - (n > 0));
			web_page_fail(last_req, n > 0 ? d[0] : 0, a);
			free(a);
			break;
		case 'A':
			a = str(d + (n > 0), n - (n > 0));
			web_redirect_result(last_cb, n > 0 && (d[0] & 1) ?
			    200 : 400, "user@example.com", a);
			free(a);
			break;
		case 'X':
			for (i = 0; i < NWAIT; i++)
				if (waits[i].s != -1) {
					finish(&waits[i]);
					break;
				}
			break;
		}
		for (i = 0; i < 4; i++)
			turn();
		poll_waiting();
	}
	for (i = 0; i < NWAIT; i++)
		if (waits[i].s != -1)
			finish(&waits[i]);
	web_close();
	return (0);
}
