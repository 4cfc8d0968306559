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
 * Answers to the proxy.  Failure texts are the Python proxy's
 * with "emailproxy: " in place of "Email OAuth 2.0 Proxy: "; they reach
 * the mail client inside a protocol error line, so they are one line.
 * A request of the control process (emailproxyctl token) is answered
 * to it instead, CTL_DATA and CTL_END or CTL_FAIL, and tokend logs its
 * audit line, as the proxy does a session's.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl_answer.h"
#include "log.h"
#include "msg.h"
#include "tokend.h"

#define REPLY_PREFIX	"emailproxy: "

static void
reply_kick(const struct tk_peer *p)
{
	if (p->kick != NULL)
		p->kick(p->arg);
}

/* A copy with control characters replaced: one printable line. */
char *
reply_clean(const char *s)
{
	char	*c, *p;

	if ((c = strdup(s)) == NULL)
		fatal(NULL);
	for (p = c; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return (c);
}

/* The audit line of common/emailproxy.h, for emailproxyctl token. */
static void
reply_ctl_audit(struct tk_req *req, const char *result)
{
	log_info("audit: result=%s proto=CTL listener=control client=%s "
	    "account=%s", result, req->client, req->logname);
}

/* -1 when the answer cannot be JSON (a token that is not UTF-8). */
static int
reply_ctl_ok(struct tk_req *req, const char *token)
{
	json_t	*o;

	if ((o = json_pack("{s:s, s:s, s:I}", "account",
	    req->upstream != NULL ? req->upstream : req->username,
	    "access_token", token, "expires", (json_int_t)(req->acct != NULL ?
	    req->acct->expiry : 0))) == NULL)
		return (-1);
	ctl_answer_data(tk.control.ibuf, req->sid, o);
	json_decref(o);
	ctl_answer_end(tk.control.ibuf, req->sid, NULL);
	reply_kick(&tk.control);
	log_info("%s: access token given to uid %u (emailproxyctl token)",
	    req->logname, (unsigned)req->uid);
	reply_ctl_audit(req, "ok");
	return (0);
}

void
reply_ok(struct tk_req *req, const char *token)
{
	struct msgw	w;

	if (req->page) {
		page_reply_done(req);
		return;
	}
	if (req->ctl) {
		if (reply_ctl_ok(req, token) == -1) {
			reply_fail_text(req, TOKEN_FAIL_PROVIDER, "the access "
			    "token is not text; it cannot be shown");
			return;
		}
	} else {
		msg_begin(&w, tk.proxy.ibuf, IMSG_TOKEN_OK, req->sid, -1);
		msg_put_str(&w, req->upstream != NULL ? req->upstream :
		    req->username);
		msg_put_str(&w, token);
		if (msg_end(&w, tk.proxy.ibuf) == -1)
			fatalx("cannot queue TOKEN_OK");
		reply_kick(&tk.proxy);
	}
	tk.stats.logins_ok++;
	if (req->owner != NULL)
		log_info("session %u: %s logged in to the shared mailbox %s "
		    "with the tokens of %s", req->sid, req->logname,
		    req->upstream, req->owner);
	if (req->login_key != NULL)
		acct_note_login(acct_get(req->login_key), req->client);
	else if (req->acct != NULL)
		acct_note_login(req->acct, req->client);
}

void
reply_fail_text(struct tk_req *req, enum token_fail reason, const char *text)
{
	struct msgw	 w;
	char		*line, *clean;

	if (strncmp(text, REPLY_PREFIX, strlen(REPLY_PREFIX)) == 0)
		text += strlen(REPLY_PREFIX);
	if (asprintf(&line, REPLY_PREFIX "%s", text) == -1)
		fatal(NULL);
	clean = reply_clean(line);
	free(line);
	if (req->ctl) {
		ctl_answer_end(tk.control.ibuf, req->sid, clean);
		reply_kick(&tk.control);
		reply_ctl_audit(req, token_fail_name(reason));
	} else if (req->page)
		page_reply_fail(req, reason, clean);
	else {
		msg_begin(&w, tk.proxy.ibuf, IMSG_TOKEN_FAIL, req->sid, -1);
		msg_put_u32(&w, reason);
		msg_put_str(&w, clean);
		if (msg_end(&w, tk.proxy.ibuf) == -1)
			fatalx("cannot queue TOKEN_FAIL");
		reply_kick(&tk.proxy);
	}
	if (req->owner != NULL)
		log_info("session %u: login of %s to the shared mailbox %s "
		    "with the tokens of %s failed: %s", req->sid, req->logname,
		    req->upstream, req->owner, clean);
	free(clean);
	switch (reason) {
	case TOKEN_FAIL_BAD_PASSWORD:
		tk.stats.logins_bad_password++;
		break;
	case TOKEN_FAIL_UNKNOWN_ACCOUNT:
		tk.stats.logins_unknown_account++;
		break;
	case TOKEN_FAIL_THROTTLED:
		tk.stats.logins_throttled++;
		break;
	case TOKEN_FAIL_NOT_ALLOWED:
		tk.stats.logins_not_allowed++;
		break;
	default:
		tk.stats.logins_failed++;
		break;
	}
}

void
reply_fail(struct tk_req *req, enum token_fail reason, const char *fmt, ...)
{
	va_list	 ap;
	char	*text;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) == -1)
		fatal(NULL);
	va_end(ap);
	reply_fail_text(req, reason, text);
	free(text);
}
