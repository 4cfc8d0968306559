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
 * When an account can log in: the one rule the configuration checker
 * (emailproxy -n), tokend and authd all apply to a merged account view.
 */

#ifndef ACCOUNT_COMPLETE_H
#define ACCOUNT_COMPLETE_H

#include "config.h"

/* The start of every placeholder in the Python proxy's sample file. */
#define ACCOUNT_PLACEHOLDER	"*** your"

enum account_need {
	ACCOUNT_NEED_TOKENS,	/* every login, a refresh included */
	ACCOUNT_NEED_GRANT	/* ... and what obtaining new tokens needs */
};

/* Told each gap: a sentence naming the key, without the account. */
typedef void	 account_gap_fn(void *, const char *);

/*
 * Every reason the account cannot log in, for need; fn (if not NULL) is
 * called once per reason.  Returns how many there are: 0 = complete.
 */
int		 account_gaps(const struct account_view *, enum account_need,
		    account_gap_fn *, void *);
/* The first reason, or NULL when the account is complete for need. */
const char	*account_gap(const struct account_view *, enum account_need);
/* A client_id, client_secret or URL still holds the sample's text. */
int		 account_placeholder(const struct account_view *);

#endif /* ACCOUNT_COMPLETE_H */
