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
 * Internal to the configuration code (config*.c): the INI reader's
 * result and the checks that turn it into the model of config.h.
 */

#ifndef CONFIG_PARSE_H
#define CONFIG_PARSE_H

#include <stddef.h>

#include "config.h"

struct ini_kv {
	char		*key;		/* lowercased */
	char		*value;		/* continuations joined by \n */
	int		 line;
};

struct ini_section {
	char		*name;
	char		*path;		/* the file it is in */
	int		 line;
	struct ini_kv	*kv;
	size_t		 nkv;
};

struct ini {
	char		*path;
	struct ini_section *sec;
	size_t		 nsec;
};

/* config_parse.c: configparser(interpolation=None) semantics, strict. */
struct ini	*ini_read(const char *path, int missing_ok);
int		 ini_include_dir(struct ini *, const char *dir,
		    const char *key_where);
void		 ini_free(struct ini *);

/* config_check.c: build the model; 0, or -1 after logging every error. */
int		 config_build(struct emailproxy_conf *, const struct ini *);
int		 config_merge_cache(struct emailproxy_conf *,
		    const struct ini *);

/* config.c */
int		 account_is_catchall(const struct account_conf *);
struct account_conf *account_find(const struct emailproxy_conf *,
		    const char *);
int		 domain_equal(const char *, const char *);
void		 account_free(struct account_conf *);
int		 account_flow_parse(const char *, enum oauth2_flow *);
enum oauth2_flow account_flow_derive(const char *, const char *);
void		 account_merge(const struct account_conf **, int,
		    struct account_view *);
/* Fills at most 3 entries. */
int		 account_section_chain(const struct emailproxy_conf *,
		    const struct account_conf *, const struct account_conf **);

#endif /* CONFIG_PARSE_H */
