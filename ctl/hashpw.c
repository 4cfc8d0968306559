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
 * With -a file user, "user:hash" is appended to a local_password_file
 * instead (created mode 0600; a user already there is refused).
 */

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <crypt.h>
#include <err.h>
#include <fcntl.h>
#include <readpassphrase.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

/* A name that reads back as one "user:hash" line. */
static int
user_ok(const char *user)
{
	const unsigned char	*p;

	if (*user == '\0' || *user == '#')
		return (0);
	for (p = (const unsigned char *)user; *p != '\0'; p++)
		if (*p == ':' || *p <= ' ' || *p == 0x7f)
			return (0);
	return (1);
}

/*
 * Open (create 0600) and lock file; refuse it when user has a line
 * there.  *nl: the file does not end in a newline.
 */
static FILE *
passwd_open(const char *file, const char *user, int *nl)
{
	FILE		*fp;
	char		*line = NULL, *p;
	size_t		 linesize = 0, n = strlen(user);
	ssize_t		 len;
	int		 fd, lineno = 0, last = '\n';

	if ((fd = open(file, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		err(1, "%s", file);
	if (flock(fd, LOCK_EX) == -1)
		err(1, "%s: lock", file);
	if ((fp = fdopen(fd, "a+")) == NULL)
		err(1, "%s", file);
	while ((len = getline(&line, &linesize, fp)) != -1) {
		lineno++;
		last = line[len - 1];
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		if (strncmp(p, user, n) == 0 && p[n] == ':')
			errx(1, "%s:%d: %s is already there", file, lineno,
			    user);
	}
	if (ferror(fp))
		err(1, "%s", file);
	freezero(line, linesize);
	*nl = last != '\n';
	return (fp);
}

int
hash_password(const char *prefix, const char *file, const char *user)
{
	FILE			*fp = NULL;
	int			 nl = 0;
	unsigned long		 cost = 0;
	struct crypt_data	*cd;
	char			 pw[1024], again[1024];
	char			 setting[CRYPT_GENSALT_OUTPUT_SIZE];
	const char		*hash;
	int			 flags = RPP_REQUIRE_TTY;

	if (file != NULL) {
		if (!user_ok(user))
			errx(1, "%s: not a user name for a password file "
			    "(no \":\", spaces or leading \"#\")", user);
		fp = passwd_open(file, user, &nl);
	}
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
	if (fp != NULL) {
		if (fprintf(fp, "%s%s:%s\n", nl ? "\n" : "", user,
		    hash) < 0 || fflush(fp) == EOF || fsync(fileno(fp)) == -1)
			err(1, "%s", file);
		if (fclose(fp) == EOF)
			err(1, "%s", file);
	} else
		printf("%s\n", hash);
	freezero(cd, sizeof(*cd));
	return (0);
}
