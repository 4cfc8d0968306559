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

#ifndef CTL_H
#define CTL_H

/*
 * hashpw.c: print a crypt(3) hash of a password read without echo, or
 * with file append "user:hash" to that password file.
 */
int	hash_password(const char *prefix, const char *file, const char *user);

/*
 * health.c: the health answers; 1 when a check failed (a warning only
 * when strict), else 0.  With print, one line per failed check, and a
 * summary when healthy.
 */
struct json_t;
int	health_report(struct json_t *, int strict, int print);

/*
 * token.c: the account's password for emailproxyctl token, the first
 * line read from fd (standard input, or -p fd), without its line end;
 * exits with a message when there is none.  token_wipe_json() makes
 * jansson wipe what it frees (the answer holds the token).
 */
char	*token_password(int fd);
void	 token_wipe_json(void);

#endif /* CTL_H */
