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
 * tokend's messages, one switch per peer: the proxy's token requests,
 * authd's answers, the control process's requests (the parent's
 * configuration and shutdown are common/proc.c's and tokend.c's).
 * Each case checks its payload's exact size and hands it to the engine
 * (login.c, flight.c, ctl.c).  Every function returns DISPATCH_OK, DISPATCH_BAD
 * for a malformed payload (logged here) or DISPATCH_UNKNOWN for a type
 * that peer does not send; tokend.c feeds them from the common
 * dispatch loop, where the last two are fatal, and tests call them
 * directly.
 */

#include <sys/types.h>

#include <stdint.h>
#include <string.h>

#include "emailproxy.h"
#include "log.h"
#include "msg.h"
#include "dispatch.h"
#include "tokend.h"

int
tokend_proxy_imsg(struct imsg *imsg)
{
	struct msgr	 r;
	const char	*server, *client, *user, *pass, *rejected;
	uint32_t	 proto, flags;

	switch (imsg_get_type(imsg)) {
	case IMSG_TOKEN_GET:
		msg_read_init(&r, imsg);
		server = msg_get_str(&r);
		proto = msg_get_u32(&r);
		client = msg_get_str(&r);
		user = msg_get_str(&r);
		pass = msg_get_str(&r);
		flags = msg_get_u32(&r);
		rejected = msg_get_str(&r);
		if (msg_read_end(&r) == -1 || proto > PROTO_SMTP ||
		    (flags & ~TOKEN_F_REJECTED) != 0) {
			log_warnx("malformed TOKEN_GET from the proxy");
			return (DISPATCH_BAD);
		}
		login_request(imsg_get_id(imsg), proto, flags, server, client,
		    user, pass, rejected);
		return (DISPATCH_OK);
	case IMSG_TOKEN_CANCEL:
		if (imsg_get_len(imsg) != 0) {
			log_warnx("malformed TOKEN_CANCEL from the proxy");
			return (DISPATCH_BAD);
		}
		login_cancel_session(imsg_get_id(imsg));
		return (DISPATCH_OK);
	case IMSG_METRICS_REQUEST:
		if (imsg_get_len(imsg) != 0) {
			log_warnx("malformed METRICS_REQUEST from the proxy");
			return (DISPATCH_BAD);
		}
		tokend_metrics_ask(imsg_get_id(imsg));
		return (DISPATCH_OK);
	case IMSG_PAGE_LOGIN:
		msg_read_init(&r, imsg);
		client = msg_get_str(&r);
		user = msg_get_str(&r);
		pass = msg_get_str(&r);
		if (msg_read_end(&r) == -1) {
			log_warnx("malformed PAGE_LOGIN from the proxy");
			return (DISPATCH_BAD);
		}
		page_login(imsg_get_id(imsg), client, user, pass);
		return (DISPATCH_OK);
	case IMSG_PAGE_CANCEL:
		if (imsg_get_len(imsg) != 0) {
			log_warnx("malformed PAGE_CANCEL from the proxy");
			return (DISPATCH_BAD);
		}
		page_cancel(imsg_get_id(imsg));
		return (DISPATCH_OK);
	case IMSG_REDIRECT_RESPONSE:
		return (page_redirect_response(imsg));
	}
	return (DISPATCH_UNKNOWN);
}

int
tokend_authd_imsg(struct imsg *imsg)
{
	struct msgr	 r;
	const char	*access, *refresh, *text, *url, *state;
	uint64_t	 expiry;
	uint32_t	 cls;

	switch (imsg_get_type(imsg)) {
	case IMSG_AUTH_TOKENS:
		msg_read_init(&r, imsg);
		access = msg_get_str(&r);
		expiry = msg_get_u64(&r);
		refresh = msg_get_str(&r);
		if (msg_read_end(&r) == -1 || access == NULL ||
		    *access == '\0' || (refresh != NULL && *refresh == '\0') ||
		    expiry > INT64_MAX) {
			log_warnx("malformed AUTH_TOKENS from authd");
			return (DISPATCH_BAD);
		}
		flight_tokens_for(imsg_get_id(imsg), access, expiry, refresh);
		return (DISPATCH_OK);
	case IMSG_AUTH_AUTHORISED:
		msg_read_init(&r, imsg);
		text = msg_get_str(&r);
		expiry = msg_get_u64(&r);
		if (msg_read_end(&r) == -1 || text == NULL || *text == '\0' ||
		    expiry > INT64_MAX) {
			log_warnx("malformed AUTH_AUTHORISED from authd");
			return (DISPATCH_BAD);
		}
		flight_authorised(text, (int64_t)expiry);
		return (DISPATCH_OK);
	case IMSG_AUTH_FAIL:
		msg_read_init(&r, imsg);
		cls = msg_get_u32(&r);
		text = msg_get_str(&r);
		if (msg_read_end(&r) == -1 || cls > AUTH_FAIL_CANCELLED) {
			log_warnx("malformed AUTH_FAIL from authd");
			return (DISPATCH_BAD);
		}
		flight_failed_for(imsg_get_id(imsg), cls, text);
		return (DISPATCH_OK);
	case IMSG_CTL_DATA:
		msg_read_init(&r, imsg);
		text = msg_get_str(&r);
		if (msg_read_end(&r) == -1 || text == NULL) {
			log_warnx("malformed CTL_DATA from authd");
			return (DISPATCH_BAD);
		}
		tokend_metrics_relay(imsg_get_id(imsg), text);
		return (DISPATCH_OK);
	case IMSG_CTL_END:
		if (imsg_get_len(imsg) != 0) {
			log_warnx("malformed CTL_END from authd");
			return (DISPATCH_BAD);
		}
		/* authd's stats are out: ours, and the end. */
		ctl_show_stats(&tk.proxy, imsg_get_id(imsg));
		return (DISPATCH_OK);
	case IMSG_AUTH_CONSENT:
		msg_read_init(&r, imsg);
		url = msg_get_str(&r);
		state = msg_get_str(&r);
		text = msg_get_str(&r);
		expiry = msg_get_u64(&r);
		if (msg_read_end(&r) == -1 || url == NULL || *url == '\0' ||
		    expiry > INT64_MAX) {
			log_warnx("malformed AUTH_CONSENT from authd");
			return (DISPATCH_BAD);
		}
		flight_consent_for(imsg_get_id(imsg), url, state, text, expiry);
		return (DISPATCH_OK);
	case IMSG_REDIRECT_RESULT:
		return (page_redirect_result(imsg));
	}
	return (DISPATCH_UNKNOWN);
}

/* A /metrics scrape (IMSG_METRICS_REQUEST): authd's stats first. */
void
tokend_metrics_ask(uint32_t id)
{
	if (imsg_compose(tk.authd.ibuf, IMSG_METRICS_REQUEST, id, 0, -1,
	    NULL, 0) == -1)
		fatal("METRICS_REQUEST to authd");
	if (tk.authd.kick != NULL)
		tk.authd.kick(tk.authd.arg);
}

/* One of authd's stats objects, passed on to the proxy as it is. */
void
tokend_metrics_relay(uint32_t id, const char *obj)
{
	struct msgw	 w;

	msg_begin(&w, tk.proxy.ibuf, IMSG_CTL_DATA, id, -1);
	msg_put_str(&w, obj);
	if (msg_end(&w, tk.proxy.ibuf) == -1)
		fatal("CTL_DATA to the proxy");
	if (tk.proxy.kick != NULL)
		tk.proxy.kick(tk.proxy.arg);
}

/*
 * A malformed control request gets an answer, not a fatal error: the
 * control process checked it already, and it is emailproxyctl's.
 */
int
tokend_ctl_imsg(const struct tk_peer *p, struct imsg *imsg)
{
	struct msgr	 r;
	const char	*account, *password;
	uint32_t	 id = imsg_get_id(imsg), uid;

	switch (imsg_get_type(imsg)) {
	case IMSG_CTL_TOKEN:
		msg_read_init(&r, imsg);
		account = msg_get_str(&r);
		password = msg_get_str(&r);
		uid = msg_get_u32(&r);
		if (msg_read_end(&r) == -1 || account == NULL ||
		    *account == '\0' || password == NULL)
			ctl_end(p, id, "malformed request");
		else
			ctl_token(p, id, account, password, uid);
		/* The request holds a password. */
		if (imsg->data != NULL)
			explicit_bzero(imsg->data, imsg_get_len(imsg));
		return (DISPATCH_OK);
	case IMSG_CTL_SHOW_ACCOUNTS:
		ctl_show_accounts(p, id);
		return (DISPATCH_OK);
	case IMSG_CTL_SHOW_STATS:
		ctl_show_stats(p, id);
		return (DISPATCH_OK);
	case IMSG_CTL_HEALTH:
		ctl_health(p, id);
		return (DISPATCH_OK);
	case IMSG_CTL_FORGET:
		msg_read_init(&r, imsg);
		account = msg_get_str(&r);
		if (msg_read_end(&r) == -1 || account == NULL ||
		    *account == '\0') {
			ctl_end(p, id, "malformed request");
			return (DISPATCH_OK);
		}
		ctl_forget(p, id, account);
		return (DISPATCH_OK);
	}
	return (DISPATCH_UNKNOWN);
}
