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
 * SASL pieces shared by the IMAP, POP and SMTP sessions: PLAIN decoding
 * and the XOAUTH2 initial response (base64 is common/base64.h; SASL
 * wants it strict, B64_PADDED).
 */

#ifndef SASL_H
#define SASL_H

#include <stddef.h>
#include <stdint.h>

#include "base64.h"

enum sasl_plain_result {
	SASL_PLAIN_OK,
	SASL_PLAIN_BADBASE64,	/* not base64 */
	SASL_PLAIN_MALFORMED	/* not authzid NUL authcid NUL passwd */
};

/*
 * Decode a PLAIN response (RFC 4616).  "=" is the empty response.  On
 * SASL_PLAIN_OK *user and *pass are heap strings (free with freezero);
 * the authorisation identity is ignored, as the Python proxy does.
 */
enum sasl_plain_result sasl_plain_decode(const char *, size_t, char **user,
	    char **pass);

/*
 * The XOAUTH2 initial response, base64 of
 * "user=<user>\x01auth=Bearer <token>\x01\x01"; free with freezero.
 */
char	*sasl_xoauth2(const char *user, const char *token);

#endif /* SASL_H */
