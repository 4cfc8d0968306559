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
 * The administrator's local password: a crypt(3) hash in the account's
 * section (libxcrypt: yescrypt, bcrypt, SHA-512 ...).  A password that
 * matched once is remembered as the account's verifier HMAC, bound to
 * the hash it matched, so a warm login costs no crypt and a changed
 * hash is checked afresh.
 */

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tokend.h"


/* The tag binds a remembered password to the hash it matched. */
static void
localpw_tag(const struct tk_account *a, const char *hash,
    uint8_t tag[TK_MACLEN])
{
	tk_verifier(a->name, hash, tag);
}

/* 1 if the request's password is the one that matched this hash. */
int
localpw_known(struct tk_account *a, const struct tk_req *req,
    const char *hash)
{
	uint8_t	tag[TK_MACLEN];
	int	known;

	localpw_tag(a, hash, tag);
	known = a->lp_known && tk_equal(a->lp_tag, tag, TK_MACLEN) &&
	    tk_equal(a->lp_verifier, req->verifier, TK_MACLEN);
	explicit_bzero(tag, sizeof(tag));
	return (known);
}

int
localpw_check(struct tk_account *a, const struct tk_req *req,
    const char *hash)
{
	struct crypt_data	*cd;
	uint8_t			 tag[TK_MACLEN];
	const char		*out;
	int			 ok;

	localpw_tag(a, hash, tag);
	if (a->lp_known && tk_equal(a->lp_tag, tag, TK_MACLEN) &&
	    tk_equal(a->lp_verifier, req->verifier, TK_MACLEN)) {
		explicit_bzero(tag, sizeof(tag));
		return (1);
	}
	/* 32 kB: too much for the stack of a sandboxed daemon. */
	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		fatal(NULL);
	tk.stats.crypt_checks++;
	out = crypt_rn(req->password, hash, cd, sizeof(*cd));
	/* A failure is "*0" or "*1", never equal to a valid hash. */
	ok = out != NULL && out[0] != '*' && tk_strequal(out, hash);
	if (out == NULL || out[0] == '*')
		log_warnx("%s: the local password hash cannot be checked "
		    "(method not supported by this libcrypt?)", a->name);
	freezero(cd, sizeof(*cd));
	if (ok) {
		memcpy(a->lp_verifier, req->verifier, TK_MACLEN);
		memcpy(a->lp_tag, tag, TK_MACLEN);
		a->lp_known = 1;
	}
	explicit_bzero(tag, sizeof(tag));
	return (ok);
}

void
localpw_forget(struct tk_account *a)
{
	explicit_bzero(a->lp_verifier, sizeof(a->lp_verifier));
	explicit_bzero(a->lp_tag, sizeof(a->lp_tag));
	a->lp_known = 0;
}
