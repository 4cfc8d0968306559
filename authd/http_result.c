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
 * What the OAuth endpoints answered, apart from the transport: the
 * body as a JSON object with its "error" and "error_description", and
 * what a failure means for the tokens.  Separate from http.c so the
 * parser can be tested and fuzzed without libcurl.
 */

#include <string.h>

#include <event.h>
#include <jansson.h>

#include "emailproxy.h"
#include "authd.h"

/*
 * Fill res->json (NULL unless body is a JSON object), res->error and
 * res->error_description (strings inside res->json, or NULL).
 */
void
http_result_parse(struct http_result *res, const char *body, size_t len)
{
	json_error_t	 jerr;
	json_t		*v;

	res->json = NULL;
	res->error = res->error_description = NULL;
	if (len > 0) {
		res->json = json_loadb(body, len, 0, &jerr);
		if (res->json != NULL && !json_is_object(res->json)) {
			json_decref(res->json);
			res->json = NULL;
		}
	}
	if (res->json != NULL) {
		if ((v = json_object_get(res->json, "error")) != NULL)
			res->error = json_string_value(v);
		if ((v = json_object_get(res->json, "error_description")) !=
		    NULL)
			res->error_description = json_string_value(v);
	}
}

/*
 * What a failed request means for the tokens: transport trouble, 5xx,
 * 408, 429 and unusable 2xx bodies are transient; invalid_grant on a
 * refresh kills the refresh token; any other answer is permanent.
 */
enum auth_fail
http_classify(const struct http_result *res, int refresh)
{
	if (res->status == 0 || res->status >= 500 || res->status == 429 ||
	    res->status == 408 || (res->status >= 200 && res->status < 300))
		return (AUTH_FAIL_TRANSIENT);
	if (refresh && res->status == 400 && res->error != NULL &&
	    strcmp(res->error, "invalid_grant") == 0)
		return (AUTH_FAIL_INVALID_GRANT);
	return (AUTH_FAIL_PERMANENT);
}
