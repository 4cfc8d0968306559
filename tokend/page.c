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
 * The authorisation page's side of tokend.  A person's address and
 * password (PAGE_LOGIN) are decided by the login path a mail login
 * takes (login.c: the local password, allow lists, throttling, the
 * record key on first use); the request is only marked as the page's,
 * so that its answers go back as PAGE_* and a grant that needs a
 * person runs with the page's callback (flight.c, AUTH_OP_PAGE).
 * The browser's redirect is relayed between the proxy and authd as it
 * is, after its fields are checked: tokend neither keeps nor logs it.
 */

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "msg.h"
#include "dispatch.h"
#include "tokend.h"

#define PAGE_FIELD_MAX	4096	/* a redirect's field, at most */

static void
page_kick(const struct tk_peer *p)
{
	if (p->kick != NULL)
		p->kick(p->arg);
}

static char *
dupstr(const char *s)
{
	char	*d;

	if ((d = strdup(s != NULL ? s : "")) == NULL)
		fatal(NULL);
	return (d);
}

/* PAGE_LOGIN: decided as a mail login from the same address is. */
void
page_login(uint32_t id, const char *client, const char *user,
    const char *pass)
{
	struct tk_req	*req;

	if ((req = calloc(1, sizeof(*req))) == NULL)
		fatal(NULL);
	req->page = 1;
	req->sid = id;
	req->server = dupstr("page");
	req->client = reply_clean(client != NULL ? client : "");
	req->username = dupstr(user);
	req->logname = reply_clean(req->username);
	req->password = dupstr(pass);
	log_debug("%s: authorisation page request %u from %s", req->logname,
	    id, req->client);
	login_run(req);
}

/* The page gave the request up (its browser session ended). */
void
page_cancel(uint32_t id)
{
	flight_cancel_session(id, 1);
	throttle_cancel_session(id, 1);
	kdfq_cancel_session(id, 1);
}

void
page_reply_done(struct tk_req *req)
{
	struct account_view	 v;
	struct msgw		 w;
	uint32_t		 flow = FLOW_UNSET;

	if (account_resolve(tk.conf, req->username, &v) == 0)
		flow = v.flow;
	msg_begin(&w, tk.proxy.ibuf, IMSG_PAGE_DONE, req->sid, -1);
	msg_put_str(&w, req->username);
	msg_put_u32(&w, flow);
	if (msg_end(&w, tk.proxy.ibuf) == -1)
		fatalx("cannot queue PAGE_DONE");
	page_kick(&tk.proxy);
	tk.stats.logins_ok++;
	if (req->acct != NULL)
		acct_note_login(req->acct, req->client);
	log_info("%s: the authorisation page from %s: the account has "
	    "working tokens", req->logname, req->client);
}

void
page_reply_fail(struct tk_req *req, enum token_fail reason, const char *text)
{
	struct msgw	 w;

	msg_begin(&w, tk.proxy.ibuf, IMSG_PAGE_FAIL, req->sid, -1);
	msg_put_u32(&w, reason);
	msg_put_str(&w, text);
	if (msg_end(&w, tk.proxy.ibuf) == -1)
		fatalx("cannot queue PAGE_FAIL");
	page_kick(&tk.proxy);
}

void
page_reply_consent(struct tk_req *req, const struct tk_flight *f)
{
	struct msgw	 w;

	msg_begin(&w, tk.proxy.ibuf, IMSG_PAGE_CONSENT, req->sid, -1);
	msg_put_str(&w, f->consent_url);
	msg_put_str(&w, f->consent_state);
	msg_put_str(&w, f->consent_code);
	msg_put_u64(&w, f->consent_expiry);
	if (msg_end(&w, tk.proxy.ibuf) == -1)
		fatalx("cannot queue PAGE_CONSENT");
	page_kick(&tk.proxy);
	log_debug("%s: page request %u told where to authorise",
	    req->logname, req->sid);
}

static int
field_ok(const char *s)
{
	return (s == NULL || strnlen(s, PAGE_FIELD_MAX + 1) <= PAGE_FIELD_MAX);
}

/* REDIRECT_RESPONSE from the proxy: checked, then passed to authd. */
int
page_redirect_response(struct imsg *imsg)
{
	struct msgr	 r;
	struct msgw	 w;
	const char	*path, *state, *code, *error, *desc;

	msg_read_init(&r, imsg);
	path = msg_get_str(&r);
	state = msg_get_str(&r);
	code = msg_get_str(&r);
	error = msg_get_str(&r);
	desc = msg_get_str(&r);
	if (msg_read_end(&r) == -1 || path == NULL || *path != '/' ||
	    !field_ok(path) || !field_ok(state) || !field_ok(code) ||
	    !field_ok(error) || !field_ok(desc)) {
		log_warnx("malformed REDIRECT_RESPONSE from the proxy");
		return (DISPATCH_BAD);
	}
	msg_begin(&w, tk.authd.ibuf, IMSG_REDIRECT_RESPONSE,
	    imsg_get_id(imsg), -1);
	msg_put_str(&w, path);
	msg_put_str(&w, state);
	msg_put_str(&w, code);
	msg_put_str(&w, error);
	msg_put_str(&w, desc);
	if (msg_end(&w, tk.authd.ibuf) == -1)
		fatalx("cannot queue REDIRECT_RESPONSE");
	page_kick(&tk.authd);
	return (DISPATCH_OK);
}

/* REDIRECT_RESULT from authd: checked, then passed to the proxy. */
int
page_redirect_result(struct imsg *imsg)
{
	struct msgr	 r;
	struct msgw	 w;
	const char	*account, *text;
	uint32_t	 status;

	msg_read_init(&r, imsg);
	status = msg_get_u32(&r);
	account = msg_get_str(&r);
	text = msg_get_str(&r);
	if (msg_read_end(&r) == -1 || status < 200 || status > 599 ||
	    text == NULL || !field_ok(account) || !field_ok(text)) {
		log_warnx("malformed REDIRECT_RESULT from authd");
		return (DISPATCH_BAD);
	}
	msg_begin(&w, tk.proxy.ibuf, IMSG_REDIRECT_RESULT, imsg_get_id(imsg),
	    -1);
	msg_put_u32(&w, status);
	msg_put_str(&w, account);
	msg_put_str(&w, text);
	if (msg_end(&w, tk.proxy.ibuf) == -1)
		fatalx("cannot queue REDIRECT_RESULT");
	page_kick(&tk.proxy);
	return (DISPATCH_OK);
}
