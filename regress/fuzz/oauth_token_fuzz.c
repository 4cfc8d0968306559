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
 * A token endpoint's answer as authd reads it (authd/http_result.c,
 * grant.c): the body, its "error" fields, access and refresh tokens and
 * expires_in in any JSON type (1e300, -5, 1.5, "3600"), for a first
 * grant or a refresh, under HTTP statuses a provider sends.  The first
 * byte picks the status and the grant; the rest is the body.  Tokens
 * must come with an expiry between now and ten years from now.
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
	200, 400, 401, 403, 429, 500, 503, 0, 201, 302, 408, 204
};
#define NSTATUSES	(sizeof(statuses) / sizeof(statuses[0]))

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init(0);
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct flight		 f;
	struct http_result	 res;
	time_t			 before, after;

	if (size < 1)
		return (0);
	memset(&mock_authd, 0, sizeof(mock_authd));
	memset(&f, 0, sizeof(f));
	f.op = data[0] & 1 ? AUTH_OP_REFRESH : AUTH_OP_OBTAIN;
	f.gc.account = "user@example.com";
	f.what = "token";
	memset(&res, 0, sizeof(res));
	http_result_parse(&res, (const char *)data + 1, size - 1);
	res.status = statuses[(data[0] >> 1) % NSTATUSES];
	if (res.status == 0)
		res.errstr = "Connection refused";
	if (res.status == 429 || res.status == 503)
		res.retry_after = data[0] >> 5;
	before = time(NULL);
	grant_token_done(&res, &f);
	after = time(NULL);
	if (mock_authd.tokens + mock_authd.failures != 1)
		abort();
	if (mock_authd.tokens == 1 && (mock_authd.expiry < (uint64_t)before ||
	    mock_authd.expiry > (uint64_t)after + 10 * 365 * 86400ULL))
		abort();
	if (res.json != NULL)
		json_decref(res.json);
	return (0);
}
