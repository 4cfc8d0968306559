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
 * Account names compare without the case of ASCII letters, in the
 * local part as in the domain, and every other byte exactly.
 */

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "address.h"

static int	failed;

static void
check(int cond, const char *what)
{
	printf("%s: %s\n", cond ? "PASS" : "FAIL", what);
	if (!cond)
		failed = 1;
}

static int
sign(int n)
{
	return (n < 0 ? -1 : n > 0);
}

int
main(void)
{
	check(address_equal("alice@example.com", "alice@example.com"),
	    "the same address is equal");
	check(address_equal("Alice@Example.COM", "aLICE@example.com"),
	    "local part and domain compare without case");
	check(!address_equal("alice@example.com", "alice@example.org"),
	    "another domain differs");
	check(!address_equal("alice@example.com", "alice2@example.com") &&
	    !address_equal("alice2@example.com", "alice@example.com"),
	    "a longer local part differs, either way round");
	check(!address_equal("alice@example.com", "alice@example.co"),
	    "a prefix is not equal");
	check(address_equal("@Example.org", "@example.ORG") &&
	    address_equal("@", "@"), "catch-all names compare the same way");
	check(!address_equal("\xc3\x89ve@example.com", "\xc3\xa9ve@example.com"),
	    "bytes outside ASCII compare exactly (no UTF-8 folding)");
	check(!address_equal("a[@example.com", "a{@example.com") &&
	    !address_equal("a@example.com", "A\x01@example.com"),
	    "only letters fold: [ and { stay apart");
	check(address_equal(NULL, NULL) && !address_equal(NULL, "a@b") &&
	    !address_equal("a@b", NULL), "NULL equals only NULL");
	check(sign(address_cmp("a@b", "B@b")) == -1 &&
	    sign(address_cmp("b@b", "A@b")) == 1 &&
	    address_cmp("ABC@d", "abc@D") == 0,
	    "address_cmp orders as strcmp of the lower-case names");
	check(address_ncmp("Alice@x", "aLiCe@y", 6) == 0 &&
	    address_ncmp("Alice@x", "aLiCe@y", 7) != 0,
	    "address_ncmp stops after n bytes");
	/* A locale that folds other bytes must not change the answer. */
	(void)setlocale(LC_CTYPE, "C.UTF-8");
	check(address_equal("Bob@Example.com", "bob@example.COM") &&
	    !address_equal("\xc3\x89@x", "\xc3\xa9@x"),
	    "the same answers under a UTF-8 locale");
	return (failed);
}
