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
 * A fuzz harness without libFuzzer: feed it each file named on the
 * command line (a directory: each file in it), once, in order.  What
 * make check runs over the corpora (regress/fuzz_replay.sh); a crash or
 * a sanitizer report ends the process with a non-zero status.  Prints
 * how many inputs it ran.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static int	 run_file(const char *);
static int	 run_dir(const char *);
static int	 namecmp(const void *, const void *);

static unsigned long	 ninputs;

static int
run_file(const char *path)
{
	FILE	*fp;
	uint8_t	*buf = NULL;
	size_t	 len = 0, size = 0, n;

	if ((fp = fopen(path, "rb")) == NULL) {
		warn("%s", path);
		return (-1);
	}
	for (;;) {
		if (len == size) {
			size = size ? size * 2 : 4096;
			if ((buf = realloc(buf, size)) == NULL)
				err(1, NULL);
		}
		if ((n = fread(buf + len, 1, size - len, fp)) == 0)
			break;
		len += n;
	}
	if (ferror(fp)) {
		warn("%s", path);
		fclose(fp);
		free(buf);
		return (-1);
	}
	fclose(fp);
	/* An exact copy, so reads past the input are caught. */
	if (len == 0) {
		free(buf);
		buf = NULL;
	} else if ((buf = realloc(buf, len)) == NULL)
		err(1, NULL);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	ninputs++;
	return (0);
}

static int
namecmp(const void *a, const void *b)
{
	return (strcmp(*(char * const *)a, *(char * const *)b));
}

static int
run_dir(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	char		**names = NULL, *path;
	size_t		 n = 0, i;
	int		 rc = 0;

	if ((d = opendir(dir)) == NULL) {
		warn("%s", dir);
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((names = reallocarray(names, n + 1, sizeof(*names))) ==
		    NULL || (names[n] = strdup(de->d_name)) == NULL)
			err(1, NULL);
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), namecmp);
	for (i = 0; i < n; i++) {
		if (asprintf(&path, "%s/%s", dir, names[i]) == -1)
			err(1, NULL);
		if (run_file(path) == -1)
			rc = -1;
		free(path);
		free(names[i]);
	}
	free(names);
	return (rc);
}

int
main(int argc, char *argv[])
{
	struct stat	 st;
	int		 i, rc = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1) {
			warn("%s", argv[i]);
			rc = 1;
		} else if (S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i]) == -1)
				rc = 1;
		} else if (run_file(argv[i]) == -1)
			rc = 1;
	}
	printf("replayed %lu inputs\n", ninputs);
	return (rc);
}
