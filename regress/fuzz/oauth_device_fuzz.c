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
 * The device authorisation grant as authd follows it (RFC 8628,
 * authd/grant_device.c): the device endpoint's answer (device_code,
 * user_code, verification_uri or _url, expires_in and interval in any
 * JSON type), then one answer of the token endpoint to the poll
 * (authorization_pending, slow_down, expired_token, access_denied,
 * tokens).  The first two bytes pick the HTTP statuses; the rest is the
 * two bodies, split at the first NUL.
 *
 * DEPS: authd/grant.c authd/grant_device.c authd/http_result.c authd/form.c common/urlform.c common/secret.c common/base64.c common/log.c regress/fuzz/authd_mock.c
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event.h>
#include <jansson.h>

#include "emailproxy.h"
#include "authd.h"
#include "authd_mock.h"
#include "fuzz.h"

static const long	 statuses[] = {
	200, 400, 401, 403, 429, 500, 503, 0
};
#define NSTATUSES	(sizeof(statuses) / sizeof(statuses[0]))

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init(0);
	event_init();
	return (0);
}

/* Answer the request the flight has out with status and body. */
static void
answer(struct flight *f, uint8_t sel, const uint8_t *body, size_t len)
{
	struct http_result	 res;
	http_cb			 cb = mock_authd.cb;

	if (cb == NULL)
		abort();
	mock_authd.cb = NULL;
	memset(&res, 0, sizeof(res));
	http_result_parse(&res, (const char *)body, len);
	res.status = statuses[sel % NSTATUSES];
	if (res.status == 0)
		res.errstr = "Connection refused";
	if (res.status == 429 || res.status == 503)
		res.retry_after = sel >> 3;
	cb(&res, f);
	if (res.json != NULL)
		json_decref(res.json);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct flight	 f;
	const uint8_t	*body2;
	size_t		 len1, len2;

	if (size < 2)
		return (0);
	memset(&mock_authd, 0, sizeof(mock_authd));
	memset(&f, 0, sizeof(f));
	f.op = AUTH_OP_OBTAIN;
	f.gc.account = "user@example.com";
	f.gc.flow = FLOW_DEVICE;
	f.gc.client_id = "client-id";
	f.gc.client_secret = "client-secret";
	f.gc.scope = "https://mail.example.com/";
	f.gc.permission_url = "https://oauth.example.com/device";
	f.gc.token_url = "https://oauth.example.com/token";
	f.gc.redirect_uri = "http://localhost";
	evtimer_set(&f.poll_ev, grant_device_poll, &f);
	body2 = memchr(data + 2, '\0', size - 2);
	len1 = body2 != NULL ? (size_t)(body2 - (data + 2)) : size - 2;
	if (body2 != NULL) {
		body2++;
		len2 = size - (body2 - data);
	} else
		len2 = 0;
	grant_device_start(&f);
	answer(&f, data[0], data + 2, len1);
	if (f.state == FL_DEVICE) {
		/* Pending for a person: the interval and deadline hold. */
		if (mock_authd.pending != 1 || f.interval == 0 ||
		    f.deadline <= time(NULL) - 1)
			abort();
		evtimer_del(&f.poll_ev);
		grant_device_poll(-1, 0, &f);
		if (mock_authd.cb != NULL)
			answer(&f, data[1], body2 != NULL ? body2 : data, len2);
		evtimer_del(&f.poll_ev);
	} else if (mock_authd.failures != 1)
		abort();
	free(f.device_code);
	return (0);
}
