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
 * The audit line of common/emailproxy.h: the result word of a refused
 * login, for the proxy's lines and tokend's (emailproxyctl token).
 */

#include <stdint.h>

#include "emailproxy.h"

/* The audit line's result for a refused login (emailproxy.h). */
const char *
token_fail_name(unsigned int reason)
{
	switch (reason) {
	case TOKEN_FAIL_NO_PASSWORD:
		return "no-password";
	case TOKEN_FAIL_UNKNOWN_ACCOUNT:
		return "unknown-account";
	case TOKEN_FAIL_BAD_PASSWORD:
		return "bad-password";
	case TOKEN_FAIL_CONFIG:
		return "config-error";
	case TOKEN_FAIL_NEEDS_AUTH:
		return "needs-authorisation";
	case TOKEN_FAIL_AUTH_PENDING:
		return "authorisation-pending";
	case TOKEN_FAIL_PROVIDER:
		return "provider-error";
	case TOKEN_FAIL_NOT_ALLOWED:
		return "not-allowed";
	case TOKEN_FAIL_THROTTLED:
		return "throttled";
	case TOKEN_FAIL_UNAVAILABLE:
		return "store-unavailable";
	case TOKEN_FAIL_INTERNAL:
	default:
		return "internal-error";
	}
}
