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
 * Helpers shared by the bench tools (loadgen, upstream): clocks, base64,
 * sockets, file-descriptor limits.  Not part of the daemon.
 */

#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic clock in nanoseconds. */
uint64_t	 now_ns(void);
/* Raise RLIMIT_NOFILE's soft limit to the hard one; returns the new soft. */
long		 raise_nofile(void);
/* Base64 (RFC 4648, padded).  dst holds 4 * ((len + 2) / 3) + 1 bytes. */
size_t		 b64_encode(char *dst, const void *src, size_t len);
/* Decode a NUL-free base64 string; -1 when malformed. dst >= 3*len/4+3. */
long		 b64_decode(uint8_t *dst, const char *src, size_t len);
/* Non-blocking, close-on-exec, TCP_NODELAY where it applies. */
int		 sock_setup(int fd);
/* A listening TCP socket on 127.0.0.1:port (0: any free port). */
int		 listen_loopback(uint16_t port, uint16_t *bound);
/* Write a file atomically (temp + rename). */
int		 write_file_atomic(const char *path, const char *text);
/* Case-insensitive prefix compare of a word terminated by SP/CR/LF/NUL. */
int		 word_is(const char *s, const char *word);

#endif /* BENCH_UTIL_H */
