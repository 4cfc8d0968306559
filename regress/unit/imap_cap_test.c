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
 * The IMAP capability rewrite, byte for byte against the Python proxy's
 * substitutions on real servers' lines, plus the lines it must leave alone.
 *
 * DEPS: proxy/imap_cap.c
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap.h"

static int	failures;

static void
check(int ok, const char *fmt, ...)
{
	va_list	ap;

	printf(ok ? "PASS: " : "FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok)
		failures++;
}

static void
rewrite(const char *in, const char *want)
{
	char	*out;
	size_t	 len;

	out = imap_cap_rewrite(in, strlen(in), &len);
	if (want == NULL) {
		check(out == NULL, "left alone: %s", in);
		free(out);
		return;
	}
	check(out != NULL && len == strlen(want) &&
	    memcmp(out, want, len) == 0, "rewrite %s -> %s%s%s", in, want,
	    out ? ": got " : ": no rewrite", out ? out : "");
	free(out);
}

/* imap_cap_adjust: STARTTLS and LOGINDISABLED as whole tokens. */
static void
adjust(const char *in, unsigned int flags, const char *want)
{
	size_t	 len;
	char	*out = imap_cap_adjust(in, strlen(in), flags, &len);

	check(out != NULL && len == strlen(want) && strcmp(out, want) == 0,
	    "adjust %#x: %s -> %s%s%s", flags, in, want,
	    out != NULL && strcmp(out, want) == 0 ? "" : "; got ",
	    out != NULL && strcmp(out, want) == 0 ? "" : out ? out : "NULL");
	free(out);
}

int
main(void)
{
	size_t	len;

	/* Lines as the Python proxy rewrites them. */
	rewrite("* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR "
	    "UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+",
	    "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN SASL-IR UIDPLUS ID "
	    "UNSELECT CHILDREN IDLE NAMESPACE LITERAL+");
	rewrite("* CAPABILITY IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST "
	    "CHILDREN X-GM-EXT-1 XYZZY SASL-IR AUTH=XOAUTH2 AUTH=PLAIN "
	    "AUTH=PLAIN-CLIENTTOKEN AUTH=OAUTHBEARER AUTH=XOAUTH",
	    "* CAPABILITY IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST "
	    "CHILDREN X-GM-EXT-1 XYZZY SASL-IR AUTH=PLAIN");
	rewrite("* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS "
	    "ID ENABLE IDLE LOGINDISABLED AUTH=XOAUTH2] Dovecot ready.",
	    "* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS "
	    "ID ENABLE IDLE AUTH=PLAIN] Dovecot ready.");
	rewrite("* CAPABILITY IMAP4rev1 IMAP4 STARTTLS LOGINDISABLED",
	    "* CAPABILITY IMAP4rev1 IMAP4 AUTH=PLAIN SASL-IR STARTTLS");
	rewrite("* CAPABILITY IMAP4rev1 AUTH=XOAUTH2 IDLE AUTH=OAUTHBEARER",
	    "* CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN SASL-IR");

	/* The rules those examples rest on. */
	rewrite("* capability imap4rev1 auth=xoauth2",
	    "* capability imap4rev1 AUTH=PLAIN SASL-IR");
	rewrite("* CAPABILITY IDLE", "* CAPABILITY AUTH=PLAIN SASL-IR IDLE");
	rewrite("* OK [CAPABILITY IMAP4rev1] hi",
	    "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] hi");
	rewrite("* CAPABILITY IMAP4rev1 STARTTLS COMPRESS=DEFLATE LITERAL+ "
	    "AUTH=PLAIN", "* CAPABILITY IMAP4rev1 STARTTLS COMPRESS=DEFLATE "
	    "LITERAL+ AUTH=PLAIN SASL-IR");
	rewrite("* CAPABILITY IMAP4rev1 sasl-ir AUTH=PLAIN",
	    "* CAPABILITY IMAP4rev1 sasl-ir AUTH=PLAIN");
	rewrite("* CAPABILITY IMAP4rev1 LOGINDISABLED X LOGINDISABLED",
	    "* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR X LOGINDISABLED");

	/* Not capability lines. */
	rewrite("a1 OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] Logged in", NULL);
	rewrite("* OK Dovecot ready.", NULL);
	rewrite("* CAPABILITY", NULL);
	rewrite("* OK [ALERT] CAPABILITY AUTH=XOAUTH2", NULL);
	rewrite("+ CAPABILITY AUTH=XOAUTH2", NULL);

	check(imap_cap_has("* OK [CAPABILITY IMAP4rev1 SASL-IR] x", 36,
	    "SASL-IR"), "SASL-IR seen in a greeting");
	check(!imap_cap_has("* CAPABILITY IMAP4rev1 SASL-IRX", 31,
	    "SASL-IR"), "SASL-IRX is not SASL-IR");
	adjust("* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN SASL-IR", 0,
	    "* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR");
	adjust("* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR", IMAP_CAP_STARTTLS,
	    "* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR STARTTLS");
	adjust("* CAPABILITY IMAP4rev1 starttls STARTTLS", IMAP_CAP_STARTTLS,
	    "* CAPABILITY IMAP4rev1 starttls");
	adjust("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] Ready.",
	    IMAP_CAP_STARTTLS | IMAP_CAP_LOGINDISABLED,
	    "* OK [CAPABILITY IMAP4rev1 SASL-IR STARTTLS LOGINDISABLED] "
	    "Ready.");
	adjust("* CAPABILITY IMAP4rev1 STARTTLSX AUTH=X",
	    IMAP_CAP_LOGINDISABLED, "* CAPABILITY IMAP4rev1 STARTTLSX LOGINDISABLED");
	check(imap_cap_adjust("* OK hi", 7, 0, &len) == NULL,
	    "adjust leaves a non-capability line alone");
	check(imap_cap_has("* CAPABILITY IMAP4rev1 SASL-IR", 30, "SASL-IR"),
	    "SASL-IR at the end of a line");
	return failures ? 1 : 0;
}
