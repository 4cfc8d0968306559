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
 * SASL PLAIN as a client sends it to IMAP, POP and SMTP (proxy/sasl.c),
 * base64 of "authzid NUL authcid NUL password", and the base64 the
 * AUTH LOGIN exchange carries (common/base64.c, every flag), encoded
 * back after decoding.
 *
 * DEPS: proxy/sasl.c common/base64.c common/secret.c common/log.c
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sasl.h"
#include "secret.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init(0);
	return (0);
}

static void
b64_round_trip(const char *in, size_t len, int flags)
{
	uint8_t	*raw;
	char	*enc;
	size_t	 rawlen;

	if ((raw = b64_decode_len(in, len, &rawlen, flags)) == NULL)
		return;
	if (rawlen > len / 4 * 3 + 3 ||
	    (enc = b64_encode(raw, rawlen, flags & (B64_URL | B64_NOPAD))) ==
	    NULL)
		abort();
	free(enc);
	freezero(raw, rawlen + 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*user, *pass, *xo;
	int	 flags;

	if (sasl_plain_decode((const char *)data, size, &user, &pass) ==
	    SASL_PLAIN_OK) {
		if (user == NULL || pass == NULL)
			abort();
		if ((xo = sasl_xoauth2(user, "token")) == NULL)
			abort();
		free(xo);
		str_freezero(user);
		str_freezero(pass);
	} else if (user != NULL || pass != NULL)
		abort();
	for (flags = 0; flags < 16; flags++)
		b64_round_trip((const char *)data, size, flags);
	return (0);
}
