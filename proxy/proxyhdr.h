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
 * The PROXY protocol header (HAProxy, versions 1 and 2) a load balancer
 * sends before the client's first byte, to tell us who the client is.
 */

#ifndef PROXYHDR_H
#define PROXYHDR_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#define PROXYHDR_V1_MAX	107	/* the longest v1 line, CRLF included */
#define PROXYHDR_MAX	1024	/* a v2 header with its TLVs, at most */
#define PROXYHDR_TIMEOUT 10	/* seconds for the whole header */

/*
 * Parse the header at the start of buf.  Returns its length when it is
 * complete and valid, 0 when more bytes are needed (every byte so far
 * belongs to it), -1 when it is malformed or too long (*err says why).
 * On success *sslen is the size of the source address put in ss, or 0
 * when the header names none (v1 UNKNOWN, v2 LOCAL or a family without
 * an IP address): the connection's own address stands.
 */
ssize_t	 proxyhdr_parse(const uint8_t *buf, size_t len,
	    struct sockaddr_storage *ss, socklen_t *sslen, const char **err);

#endif /* PROXYHDR_H */
