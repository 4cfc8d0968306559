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
 * authd's three peers: the parent (configuration, verbosity, shutdown),
 * tokend (token requests, the browsers' redirects the proxy received)
 * and the control process (control requests, in ctl.c).  All are
 * treated as untrusted input: every payload is read with msg_read_end's
 * exact-size check.
 */

#include <sys/types.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>

#include "emailproxy.h"
#include "config.h"
#include "log.h"
#include "proc.h"
#include "authd.h"

struct emailproxy_conf	*authd_conf;
struct authd_stats	 authd_stats;

static struct imsgev	 iev_parent_s;
static struct imsgev	 iev_tokend_s;
static struct imsgev	 iev_control_s;
struct imsgev		*iev_parent = &iev_parent_s;
struct imsgev		*iev_tokend = &iev_tokend_s;
struct imsgev		*iev_control = &iev_control_s;

static struct emailproxy_conf *conf_pending;

static void	 authd_parent_gone(struct imsgev *);
static void	 authd_tokend_gone(struct imsgev *);
static void	 authd_control_gone(struct imsgev *);

unsigned int
authd_auth_timeout(void)
{
	return (authd_conf->auth_timeout ? authd_conf->auth_timeout : 600);
}

/*
 * Set up the peers (http_init came first).  parent_fd -1: iev_parent's
 * imsgbuf is already initialised (it carried the first configuration);
 * finish it and handle whatever came in behind the configuration.
 */
void
authd_start(int parent_fd, int tokend_fd, int control_fd)
{
	imsgev_peer(iev_tokend, tokend_fd, "tokend", authd_dispatch_tokend,
	    authd_tokend_gone, NULL, 0, 0);
	imsgev_peer(iev_control, control_fd, "control", authd_ctl,
	    authd_control_gone, NULL, IMSG_MAXSIZE_PARENT, 0);
	if (parent_fd != -1) {
		imsgev_peer(iev_parent, parent_fd, "parent",
		    authd_dispatch_parent, authd_parent_gone, NULL,
		    IMSG_MAXSIZE_PARENT, 0);
		return;
	}
	iev_parent->handler = imsgev_dispatch;
	iev_parent->dispatch = authd_dispatch_parent;
	iev_parent->gone = authd_parent_gone;
	iev_parent->name = "parent";
	imsgev_start(iev_parent);
	/* The first configuration is in place. */
	imsg_compose_event(iev_parent, IMSG_CONF_DONE, 0, 0, -1, NULL, 0);
	imsgev_dispatch(iev_parent->ibuf.fd, 0, iev_parent);
}

static void
authd_shutdown(void)
{
	flight_shutdown();
	imsgbuf_flush(&iev_tokend->ibuf);
	http_shutdown();
	log_info("exiting");
	exit(0);
}

static void
authd_conf_swap(struct emailproxy_conf *newconf)
{
	struct emailproxy_conf	*old = authd_conf;

	/* Flights hold copies: they finish with the settings they had. */
	authd_conf = newconf;
	config_free(old);
	if (authd_conf->ca_file.data == NULL)
		log_warnx("no CA bundle: HTTPS to OAuth servers will fail");
	log_debug("configuration in place");
}

/* The parent is gone: stop. */
static void
authd_parent_gone(struct imsgev *iev)
{
	authd_shutdown();
}

int
authd_dispatch_parent(struct imsgev *iev, struct imsg *imsg)
{
	if (proc_parent_common(iev, imsg, &conf_pending, authd_conf_swap))
		return (DISPATCH_OK);
	switch (imsg_get_type(imsg)) {
	case IMSG_SHUTDOWN:
		authd_shutdown();
		return (DISPATCH_GONE);
	}
	return (DISPATCH_UNKNOWN);
}

/* The payload holds a password or a refresh token: wipe it. */
static void
imsg_wipe(struct imsg *imsg)
{
	if (imsg->data != NULL)
		explicit_bzero(imsg->data, imsg_get_len(imsg));
}

/*
 * A browser's redirect (the proxy received it; tokend relays it): take
 * it and answer REDIRECT_RESULT with the same id.  A malformed one is
 * answered 400.
 */
static void
authd_redirect_response(uint32_t id, struct imsg *imsg)
{
	struct msgr	 m;
	struct msgw	 w;
	const char	*path, *state, *code, *error, *desc;
	char		*msg = NULL, *acct = NULL;
	int		 status;

	msg_read_init(&m, imsg);
	path = msg_get_str(&m);
	state = msg_get_str(&m);
	code = msg_get_str(&m);
	error = msg_get_str(&m);
	desc = msg_get_str(&m);
	if (msg_read_end(&m) == -1 || path == NULL) {
		log_warnx("malformed REDIRECT_RESPONSE from tokend");
		status = 400;
		if ((msg = strdup("emailproxy: malformed authorisation "
		    "response.")) == NULL)
			fatal("%s", __func__);
	} else
		status = redirect_take(path, state, code, error, desc, &msg,
		    &acct);
	msg_begin(&w, &iev_tokend->ibuf, IMSG_REDIRECT_RESULT, id, -1);
	msg_put_u32(&w, status);
	msg_put_str(&w, acct);
	msg_put_str(&w, msg);
	if (imsgev_msg_end(iev_tokend, &w) == -1)
		fatal("REDIRECT_RESULT to tokend");
	free(msg);
	free(acct);
}

/*
 * The control process went: the parent, which sees it go, stops the
 * daemon unless it was stopping it already.
 */
static void
authd_control_gone(struct imsgev *iev)
{
	log_debug("control closed its link");
}

/* tokend is gone: the parent stops the daemon and names tokend. */
static void
authd_tokend_gone(struct imsgev *iev)
{
	proc_peer_gone("tokend");
}

int
authd_dispatch_tokend(struct imsgev *iev, struct imsg *imsg)
{
	struct msgr	 m;
	const char	*account, *refresh, *password, *secret;
	uint32_t	 op, id = imsg_get_id(imsg);
	int		 rc = DISPATCH_OK;

	switch (imsg_get_type(imsg)) {
	case IMSG_AUTH_REQUEST:
		msg_read_init(&m, imsg);
		op = msg_get_u32(&m);
		account = msg_get_str(&m);
		refresh = msg_get_str(&m);
		password = msg_get_str(&m);
		secret = msg_get_str(&m);
		if (msg_read_end(&m) == -1) {
			log_warnx("malformed AUTH_REQUEST from tokend");
			authd_send_fail(id, AUTH_FAIL_PERMANENT, MSG_PREFIX
			    "Login failed - malformed token request");
			break;
		}
		flight_request(id, op, account, refresh, password, secret);
		break;
	case IMSG_AUTH_CANCEL:
		flight_cancel(id);
		break;
	case IMSG_METRICS_REQUEST:
		if (imsg_get_len(imsg) != 0) {
			log_warnx("malformed METRICS_REQUEST from tokend");
			rc = DISPATCH_BAD;
			break;
		}
		ctl_stats(iev, id);
		break;
	case IMSG_REDIRECT_RESPONSE:
		authd_redirect_response(id, imsg);
		break;
	default:
		rc = DISPATCH_UNKNOWN;
		break;
	}
	imsg_wipe(imsg);
	return (rc);
}

void
authd_send_tokens(uint32_t id, const char *access, uint64_t expiry,
    const char *refresh)
{
	struct msgw	 w;

	msg_begin(&w, &iev_tokend->ibuf, IMSG_AUTH_TOKENS, id, -1);
	msg_put_str(&w, access);
	msg_put_u64(&w, expiry);
	msg_put_str(&w, refresh);
	if (imsgev_msg_end(iev_tokend, &w) == -1)
		fatal("AUTH_TOKENS to tokend");
}

/* Tokens a person authorised wait for the account's next request. */
void
authd_send_authorised(const char *account, uint64_t until)
{
	struct msgw	 w;

	msg_begin(&w, &iev_tokend->ibuf, IMSG_AUTH_AUTHORISED, 0, -1);
	msg_put_str(&w, account);
	msg_put_u64(&w, until);
	if (imsgev_msg_end(iev_tokend, &w) == -1)
		fatal("AUTH_AUTHORISED to tokend");
}

void
authd_send_fail(uint32_t id, enum auth_fail class, const char *fmt, ...)
{
	struct msgw	 w;
	va_list		 ap;
	char		*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("%s", __func__);
	va_end(ap);
	msg_begin(&w, &iev_tokend->ibuf, IMSG_AUTH_FAIL, id, -1);
	msg_put_u32(&w, class);
	msg_put_str(&w, msg);
	if (imsgev_msg_end(iev_tokend, &w) == -1)
		fatal("AUTH_FAIL to tokend");
	free(msg);
}

/* What the person at the authorisation page must visit. */
void
authd_send_consent(uint32_t id, const char *url, const char *state,
    const char *code, uint64_t expiry)
{
	struct msgw	 w;

	msg_begin(&w, &iev_tokend->ibuf, IMSG_AUTH_CONSENT, id, -1);
	msg_put_str(&w, url);
	msg_put_str(&w, state);
	msg_put_str(&w, code);
	msg_put_u64(&w, expiry);
	if (imsgev_msg_end(iev_tokend, &w) == -1)
		fatal("AUTH_CONSENT to tokend");
}

void
authd_send_event(enum notify_event event, const char *account)
{
	struct msgw	 w;

	msg_begin(&w, &iev_parent->ibuf, IMSG_EVENT, 0, -1);
	msg_put_u32(&w, event);
	msg_put_str(&w, account);
	msg_put_str(&w, NULL);
	if (imsgev_msg_end(iev_parent, &w) == -1)
		fatal("EVENT to parent");
}

void
authd_send_pending(const char *account, const char *url, const char *code,
    uint64_t expiry)
{
	struct msgw	 w;

	msg_begin(&w, &iev_parent->ibuf, IMSG_AUTH_PENDING, 0, -1);
	msg_put_str(&w, account);
	msg_put_str(&w, url);
	msg_put_str(&w, code);
	msg_put_u64(&w, expiry);
	if (imsgev_msg_end(iev_parent, &w) == -1)
		fatal("AUTH_PENDING to parent");
}

