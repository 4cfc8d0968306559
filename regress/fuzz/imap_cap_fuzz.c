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
 * The IMAP server's capability lines before login (proxy/imap_cap.c):
 * the greeting's [CAPABILITY ...] code, "* CAPABILITY" and the tagged
 * OK's code, matched, searched and rewritten for the client.  The first
 * byte picks the flags of imap_cap_adjust; the rest is one line.
 *
 * DEPS: proxy/imap_cap.c common/log.c
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init(0);
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*line;
	char		*copy, *out;
	size_t		 len, outlen;

	if (size < 1)
		return (0);
	len = size - 1;
	/* An exact copy: reading past the line is caught. */
	if ((copy = malloc(len ? len : 1)) == NULL)
		abort();
	memcpy(copy, data + 1, len);
	line = copy;
	(void)imap_cap_match(line, len);
	(void)imap_cap_has(line, len, "STARTTLS");
	(void)imap_cap_has(line, len, "AUTH=PLAIN");
	/* The results are NUL-terminated, as imap.h says. */
	if ((out = imap_cap_rewrite(line, len, &outlen)) != NULL) {
		if (out[outlen] != '\0')
			abort();
		free(out);
	}
	if ((out = imap_cap_adjust(line, len, data[0] & 0x03, &outlen)) !=
	    NULL) {
		if (out[outlen] != '\0')
			abort();
		free(out);
	}
	free(copy);
	return (0);
}
