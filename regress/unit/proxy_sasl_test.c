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
 * SASL helpers: strict base64 both ways, PLAIN decoding (good, "=",
 * malformed base64, wrong number of NULs), the XOAUTH2 string.
 *
 * DEPS: proxy/sasl.c common/base64.c
 */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sasl.h"

static int	failures;

static void
check(int ok, const char *fmt, ...)
{
	va_list	ap;

	printf(ok ? "PASS: " : "FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok)
		failures++;
}

static void
b64(const char *in, const char *want)
{
	char	*out = b64_encode(in, strlen(in), 0);

	check(out != NULL && strcmp(out, want) == 0, "base64 \"%s\" = %s",
	    in, want);
	free(out);
}

static void
unb64(const char *in, const char *want)
{
	uint8_t	*out;
	size_t	 len;

	out = b64_decode_len(in, strlen(in), &len, B64_PADDED);
	if (want == NULL)
		check(out == NULL, "base64 \"%s\" refused", in);
	else
		check(out != NULL && len == strlen(want) &&
		    memcmp(out, want, len) == 0, "unbase64 %s = \"%s\"", in,
		    want);
	free(out);
}

static void
plain(const char *in, enum sasl_plain_result want, const char *wuser,
    const char *wpass, const char *what)
{
	enum sasl_plain_result	 r;
	char			*user, *pass;

	r = sasl_plain_decode(in, strlen(in), &user, &pass);
	if (want != SASL_PLAIN_OK) {
		check(r == want && user == NULL && pass == NULL,
		    "PLAIN %s: refused (%d)", what, r);
		return;
	}
	check(r == SASL_PLAIN_OK && user && pass && strcmp(user, wuser) == 0 &&
	    strcmp(pass, wpass) == 0, "PLAIN %s: user \"%s\" pass \"%s\"",
	    what, wuser, wpass);
	free(user);
	free(pass);
}

int
main(void)
{
	char	*x;

	b64("", "");
	b64("f", "Zg==");
	b64("fo", "Zm8=");
	b64("foo", "Zm9v");
	b64("foobar", "Zm9vYmFy");
	unb64("", "");
	unb64("Zg==", "f");
	unb64("Zm8=", "fo");
	unb64("Zm9vYmFy", "foobar");
	unb64("Zm9", NULL);
	unb64("Zm9v YmFy", NULL);
	unb64("Zm=v", NULL);
	unb64("Z===", NULL);
	unb64("Zm9vYmE\t", NULL);
	unb64("Zm9-", NULL);

	/* "\0alice\0pa ss" and friends */
	plain("AGFsaWNlAHBhIHNz", SASL_PLAIN_OK, "alice", "pa ss",
	    "no authzid");
	plain("YWxpY2UAYWxpY2UAc2VjcmV0", SASL_PLAIN_OK, "alice", "secret",
	    "with authzid");
	plain("AGFsaWNlAA==", SASL_PLAIN_OK, "alice", "", "empty password");
	plain("=", SASL_PLAIN_MALFORMED, NULL, NULL, "empty response \"=\"");
	plain("AGFsaWNl", SASL_PLAIN_MALFORMED, NULL, NULL, "one NUL");
	plain("YWxpY2U=", SASL_PLAIN_MALFORMED, NULL, NULL, "no NUL");
	plain("AGEAYgBj", SASL_PLAIN_MALFORMED, NULL, NULL, "three NULs");
	plain("AGFsaWNlAHBhc3M", SASL_PLAIN_BADBASE64, NULL, NULL,
	    "missing padding");
	plain("AGFsaWNl*HBhc3M=", SASL_PLAIN_BADBASE64, NULL, NULL,
	    "bad character");

	x = sasl_xoauth2("alice@example.com", "tok123");
	/* base64("user=alice@example.com\1auth=Bearer tok123\1\1") */
	check(x != NULL && strcmp(x, "dXNlcj1hbGljZUBleGFtcGxlLmNvbQFhdXRo"
	    "PUJlYXJlciB0b2sxMjMBAQ==") == 0, "XOAUTH2 string: %s",
	    x ? x : "NULL");
	free(x);
	return failures ? 1 : 0;
}
