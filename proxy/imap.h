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

#ifndef IMAP_H
#define IMAP_H

#include <sys/types.h>

#include <stddef.h>

/* imap_cap.c */
/* Is this server line (no CRLF) one the capability rewrite applies to? */
int	 imap_cap_match(const char *, size_t);
/*
 * The rewritten line (no CRLF, NUL-terminated, heap) or NULL when the
 * line is not a capability line (or memory ran out).
 */
char	*imap_cap_rewrite(const char *, size_t, size_t *);
/*
 * Adjust a (rewritten) capability line for STARTTLS: every STARTTLS
 * token goes, and comes back once with IMAP_CAP_STARTTLS;
 * IMAP_CAP_LOGINDISABLED drops every AUTH= and adds LOGINDISABLED.
 * NULL when the line is not a capability line (or memory ran out).
 */
#define IMAP_CAP_STARTTLS	0x01
#define IMAP_CAP_LOGINDISABLED	0x02
char	*imap_cap_adjust(const char *, size_t, unsigned int, size_t *);
/* Does the line list the capability (a whole token)? */
int	 imap_cap_has(const char *, size_t, const char *);

#endif /* IMAP_H */
