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
 * emailproxyctl hash-password: read a password without echo and print
 * its crypt(3) hash for an account's local_password key.  yescrypt by
 * default, as mkpasswd(1) writes; -b for bcrypt, -s for SHA-512.
 */

#include <sys/types.h>

#include <crypt.h>
#include <err.h>
#include <readpassphrase.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

int
hash_password(const char *prefix)
{
	unsigned long		 cost = 0;
	struct crypt_data	*cd;
	char			 pw[1024], again[1024];
	char			 setting[CRYPT_GENSALT_OUTPUT_SIZE];
	const char		*hash;
	int			 flags = RPP_REQUIRE_TTY;

	/* From a script: one line on standard input. */
	if (!isatty(STDIN_FILENO))
		flags = RPP_STDIN;
	if (readpassphrase("Password: ", pw, sizeof(pw), flags) == NULL)
		err(1, "cannot read the password");
	if (flags == RPP_REQUIRE_TTY) {
		if (readpassphrase("Again: ", again, sizeof(again),
		    flags) == NULL)
			err(1, "cannot read the password");
		if (strcmp(pw, again) != 0) {
			explicit_bzero(pw, sizeof(pw));
			explicit_bzero(again, sizeof(again));
			errx(1, "the passwords differ");
		}
		explicit_bzero(again, sizeof(again));
	}
	if (pw[0] == '\0')
		errx(1, "empty password");
	/*
	 * yescrypt's default cost is sound; bcrypt's (5) and SHA-512's (5000
	 * rounds) are too low for a password that guards a mailbox.
	 */
	if (strcmp(prefix, "$2b$") == 0)
		cost = 12;
	else if (strcmp(prefix, "$6$") == 0)
		cost = 100000;
	/* NULL random bytes: crypt_gensalt takes them from the OS. */
	if (crypt_gensalt_rn(prefix, cost, NULL, 0, setting,
	    sizeof(setting)) == NULL)
		err(1, "crypt_gensalt %s", prefix);
	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		err(1, NULL);
	hash = crypt_r(pw, setting, cd);
	explicit_bzero(pw, sizeof(pw));
	if (hash == NULL || hash[0] == '*')
		errx(1, "crypt failed for %s", prefix);
	printf("%s\n", hash);
	freezero(cd, sizeof(*cd));
	return (0);
}
