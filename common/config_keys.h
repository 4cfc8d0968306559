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
 * The table of configuration keys (config_keys.c): one row per key and
 * structure.  The parser (config_check.c) finds a key's row, checks the
 * value by the row's type and stores it at the row's offset; config_new
 * and the section builders set the defaults from it; config_imsg.c
 * encodes the rows of a structure in table order; freeing walks it too.
 */

#ifndef CONFIG_KEYS_H
#define CONFIG_KEYS_H

#include <stddef.h>

#include "config.h"

/* The structure a row's offset points into. */
enum conf_kind {
	CONF_GLOBAL,		/* struct emailproxy_conf, [emailproxy] */
	CONF_SERVER,		/* struct server_conf, [IMAP-1993] */
	CONF_ACCOUNT		/* struct account_conf, [a@b], [@b], [@] */
};

/* Sections a row is valid in. */
#define KS_GLOBAL	0x01	/* [emailproxy] */
#define KS_SERVER	0x02	/* [PROTOCOL-port] */
#define KS_ACCOUNT	0x04	/* [user@domain] */
#define KS_CATCHALL	0x08	/* [@domain], [@] */
#define KS_CACHE	0x10	/* an account of a --cache-store file */

/* Processes that receive the value (strings, file contents). */
#define KP_PROXY	0x01
#define KP_TOKEND	0x02
#define KP_AUTHD	0x04
#define KP_ALL		(KP_PROXY | KP_TOKEND | KP_AUTHD)
#define KP_PARENT	0	/* never sent */

/* Flags. */
#define KF_SECRET	0x01	/* wiped when freed; -n never prints it */
#define KF_NONEMPTY	0x02	/* an empty value is an error, else unset */
#define KF_REQUIRED	0x04	/* the section must have the key */
#define KF_INHERIT	0x08	/* default: the [emailproxy] key's value */
/*
 * A string tokend receives only with encrypt_client_secret_on_first_use
 * (it then keeps the value in its token store); otherwise it learns
 * only that one is set: the empty string, which no parsed value is.
 */
#define KF_FIRSTUSE	0x10
/*
 * A reload applies the new value to the running section: the key is
 * left out of server_equal(), so changing it alone keeps the section's
 * listener and sessions (the proxy resizes its upstream pool).
 */
#define KF_LIVE		0x20

enum conf_type {
	KT_BOOL,	/* int: 1/yes/true/on, 0/no/false/off; -1 unset */
	KT_UINT,	/* unsigned int in [min, max] */
	KT_PORT,	/* uint16_t in [min, max] */
	KT_STRING,	/* char *, as written */
	KT_PATH,	/* char *, an absolute path */
	KT_FILE,	/* struct conf_file, read by the parent */
	KT_URL,		/* char *, an http:// or https:// URL */
	KT_URI,		/* char *, any URI with a scheme */
	KT_ADDRESS,	/* char *, a listening address, [::1] as ::1 */
	KT_LIST,	/* struct cidr_list *, an address list */
	KT_HASH,	/* char *, a crypt(3) hash of a current method */
	KT_GROUP,	/* char *, a group that exists */
	KT_FLOW,	/* char *, one of the OAuth 2.0 flows */
	KT_LEGACY,	/* bool read into a local: the builder decides */
	KT_IGNORED,	/* read and dropped (comments, derived state) */
	KT_UNSUPPORTED	/* a warning says it is not supported */
};

/* What the field of a row holds, whatever its type checks on parsing. */
enum conf_store {
	KST_BOOL,	/* int, -1 unset */
	KST_UINT,	/* unsigned int */
	KST_PORT,	/* uint16_t */
	KST_STRING,	/* char *, NULL unset */
	KST_FILE,	/* struct conf_file */
	KST_LIST,	/* struct cidr_list *, NULL unset */
	KST_NONE	/* no field: the builder's own or nothing */
};

struct conf_key {
	const char	*name;
	enum conf_kind	 kind;
	unsigned int	 sections;	/* KS_* */
	enum conf_type	 type;
	long long	 min, max;	/* KT_UINT, KT_PORT */
	const char	*def;		/* as written in a file; NULL none */
	unsigned int	 flags;		/* KF_* */
	unsigned int	 procs;		/* KP_* */
	ptrdiff_t	 off;		/* -1: no field (builder's own) */
};

extern const struct conf_key conf_keys[];

/* The row of key "name" valid in a section of kind section (KS_*). */
const struct conf_key *conf_key_find(const char *name, unsigned int section);
/* Every default of kind into base; KF_INHERIT rows copy from conf. */
void		 conf_key_defaults(enum conf_kind, void *base,
		    const struct emailproxy_conf *conf);
/* Free every field of kind in base, wiping secrets. */
void		 conf_key_free(enum conf_kind, void *base);
/* 1 when a and b hold the same value for every row of kind. */
int		 conf_key_equal(enum conf_kind, const void *a, const void *b);
/*
 * "key = value" for every row of kind in base, as a configuration file
 * writes it; only_set: leave out unset values.  A KF_SECRET value is
 * never printed, only that it is set.
 */
void		 conf_key_print(enum conf_kind, const void *base, int only_set);
/* How a value of type t is stored. */
enum conf_store	 conf_key_store(enum conf_type t);
/* The field of row k in base. */
void		*conf_key_field(const struct conf_key *, const void *base);
/* Free one conf_file; secret: wipe its contents. */
void		 conf_file_clear(struct conf_file *, int secret);

#endif /* CONFIG_KEYS_H */
