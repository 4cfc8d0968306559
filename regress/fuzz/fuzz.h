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
 * What every fuzz harness in regress/fuzz provides: the libFuzzer entry
 * point, run once per input, and an optional one-time set-up.  The same
 * harness links either with libFuzzer (make fuzz, obj-fuzz/) or with
 * replay_main.c, which feeds it the files named on its command line
 * (make check, regress/fuzz_replay.sh).
 */

#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

/* Logs go to stderr at verbosity v (libFuzzer runs close it). */
void	fuzz_log_init(int v);

/*
 * Abort unless buf (len bytes) is one well-formed response of
 * proxy/http.c (a HEAD's when head is 1, either when -1); its body.
 */
const char *fuzz_http_response(const char *buf, size_t len, int head);

struct proto_ops;
/* One pre-login session of a protocol module, scripted by the input. */
void	proto_fuzz(const struct proto_ops *, const uint8_t *, size_t);

#endif /* FUZZ_H */
