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
 * Control requests the parent relays to authd (peerid = the control
 * connection): emailproxyctl authorise and show stats.  Each answer is
 * CTL_DATA* then CTL_END, or a single CTL_FAIL.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "emailproxy.h"
#include "log.h"
#include "proc.h"
#include "authd.h"

static void
ctl_data(struct imsgev *iev, uint32_t id, json_t *obj)
{
	struct msgw	 w;
	char		*s;

	if (obj == NULL || (s = json_dumps(obj, JSON_COMPACT)) == NULL)
		fatalx("%s: json", __func__);
	msg_begin(&w, &iev->ibuf, IMSG_CTL_DATA, id, -1);
	msg_put_str(&w, s);
	if (imsgev_msg_end(iev, &w) == -1)
		fatal("CTL_DATA to parent");
	free(s);
	json_decref(obj);
}

static void
ctl_fail(struct imsgev *iev, uint32_t id, const char *why)
{
	struct msgw	 w;

	msg_begin(&w, &iev->ibuf, IMSG_CTL_FAIL, id, -1);
	msg_put_str(&w, why);
	if (imsgev_msg_end(iev, &w) == -1)
		fatal("CTL_FAIL to parent");
}

static void
ctl_end(struct imsgev *iev, uint32_t id)
{
	imsg_compose_event(iev, IMSG_CTL_END, id, 0, -1, NULL, 0);
}

/* authorise account [url]: show its pending request, or complete it. */
static void
ctl_authorise(struct imsgev *iev, uint32_t id, struct imsg *imsg)
{
	struct msgr	 m;
	struct flight	*f;
	const char	*account, *url, *err;
	char		*why;

	msg_read_init(&m, imsg);
	account = msg_get_str(&m);
	url = msg_get_str(&m);
	if (msg_read_end(&m) == -1 || account == NULL) {
		ctl_fail(iev, id, "malformed request");
		return;
	}
	if ((f = flight_pending(account)) == NULL) {
		if (asprintf(&why, "no authorisation is pending for %s",
		    account) == -1)
			fatal("%s", __func__);
		ctl_fail(iev, id, why);
		free(why);
		return;
	}
	if (url == NULL) {
		ctl_data(iev, id, json_pack("{s:s, s:s, s:s?, s:I}",
		    "account", f->gc.account, "url", f->pend_url,
		    "user_code", f->pend_code,
		    "expires", (json_int_t)f->pend_expiry));
		ctl_end(iev, id);
		return;
	}
	if (f->gc.flow != FLOW_AUTHORIZATION_CODE) {
		ctl_fail(iev, id, "this account uses the device grant: enter "
		    "the code at the URL shown instead");
		return;
	}
	if (redirect_paste(account, url, &err) == -1) {
		log_warnx("account %s: pasted authorisation URL refused: %s",
		    account, err);
		if (asprintf(&why, "account %s: %s", account, err) == -1)
			fatal("%s", __func__);
		ctl_fail(iev, id, why);
		free(why);
		return;
	}
	log_info("account %s: authorisation URL accepted from "
	    "emailproxyctl", account);
	ctl_end(iev, id);
}

static void
ctl_stats(struct imsgev *iev, uint32_t id)
{
	ctl_data(iev, id, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:i}",
	    "authd_requests_total", (json_int_t)authd_stats.requests,
	    "authd_requests_joined_total", (json_int_t)authd_stats.joined,
	    "authd_grants_ok_total", (json_int_t)authd_stats.tokens,
	    "authd_grants_failed_total", (json_int_t)authd_stats.failures,
	    "authd_http_requests_total", (json_int_t)authd_stats.http,
	    "authd_redirects_total", (json_int_t)authd_stats.redirects,
	    "authd_pending_authorisations", flight_count_pending()));
	ctl_end(iev, id);
}

void
authd_ctl(struct imsgev *iev, struct imsg *imsg)
{
	uint32_t	 id = imsg_get_id(imsg);

	switch (imsg_get_type(imsg)) {
	case IMSG_CTL_AUTHORISE:
		ctl_authorise(iev, id, imsg);
		/* A pasted URL carries a code. */
		if (imsg->data != NULL)
			explicit_bzero(imsg->data, imsg_get_len(imsg));
		break;
	case IMSG_CTL_SHOW_STATS:
		ctl_stats(iev, id);
		break;
	}
}
