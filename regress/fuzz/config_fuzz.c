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
 * The configuration file (common/config_parse.c, config_check.c): the
 * INI reader with continuations, comments and a BOM, every section and
 * key check, then the same file read again as a Python --cache-store
 * and merged, and an account looked up by login name.  The input is the
 * file, read through a memfd so nothing touches the disk.
 *
 * DEPS: common/config.c common/config_parse.c common/config_check.c common/config_keys.c common/account_complete.c common/config_files.c common/cidr.c common/secret.c common/log.c common/redis_url.c
 */

#include <sys/types.h>
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_parse.h"
#include "fuzz.h"

static int	 memfd = -1;
static char	 path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init(0);
	if ((memfd = memfd_create("emailproxy.conf", 0)) == -1)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct emailproxy_conf	*conf;
	struct account_view	 v;
	struct ini		*ini;

	if (ftruncate(memfd, 0) == -1 ||
	    (size > 0 && pwrite(memfd, data, size, 0) != (ssize_t)size))
		abort();
	if ((ini = ini_read(path, 0)) == NULL)
		return (0);
	if ((conf = config_new()) == NULL)
		abort();
	if (config_build(conf, ini) == 0) {
		(void)account_resolve(conf, "user@example.com", &v);
		(void)account_resolve(conf, "", &v);
		(void)config_merge_cache(conf, ini);
		(void)account_resolve(conf, "user@example.com", &v);
	}
	config_free(conf);
	ini_free(ini);
	return (0);
}
