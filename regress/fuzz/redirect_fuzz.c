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
 * An authorisation response as authd takes it (authd/redirect.c): a
 * URL pasted to emailproxyctl authorise, split into path and query,
 * state, code and error decoded from the query (common/urlform.c),
 * the path matched against the account's redirect_uri.  The first
 * byte picks the waiting flight's redirect_uri and whether one waits
 * at all.  (The HTTP of a browser's redirect is parsed in the proxy:
 * see the http_request target.)
 *
 * DEPS: authd/redirect.c authd/form.c common/urlform.c common/secret.c common/log.c regress/fuzz/authd_mock.c
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emailproxy.h"
#include "authd.h"
#include "authd_mock.h"
#include "fuzz.h"

static char	*uris[] = {
	"http://localhost:8080/callback",
	"http://127.0.0.1/",
	"https://example.com/cb?x=1",
	"localhost"
};
#define NURIS	(sizeof(uris) / sizeof(uris[0]))

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init(0);
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct flight	 f;
	const char	*err;
	char		*url;

	if (size < 1)
		return (0);
	memset(&mock_authd, 0, sizeof(mock_authd));
	memset(&f, 0, sizeof(f));
	f.gc.account = "user@example.com";
	f.gc.redirect_uri = uris[(data[0] >> 1) % NURIS];
	f.oauth_state = "state1";
	mock_authd.flight = data[0] & 1 ? &f : NULL;
	if ((url = malloc(size)) == NULL)
		abort();
	memcpy(url, data + 1, size - 1);
	url[size - 1] = '\0';
	(void)redirect_paste(data[0] & 0x10 ? "user@example.com" : NULL, url,
	    NULL, &err);
	free(url);
	return (0);
}
