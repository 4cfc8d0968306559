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
 * A server's greeting as the upstream pool reads it (proxy/pool.c): one
 * pooled connection of a server_starttls section (no TLS), over a
 * socket pair standing in for upstream_connect(), given the input as
 * the server's first bytes, in one write.  The first byte picks the
 * protocol (mod 3: IMAP, POP, SMTP); the rest is the greeting.
 *
 * The connection must be ready exactly when the bytes are one whole
 * positive greeting and nothing more (IMAP "* OK" and POP "+OK", any
 * case, one line of at least 5 bytes; SMTP "220-" lines then "220 ",
 * "220" and CR, or a bare "220"), and a session that takes it must read those bytes,
 * unread, as from a fresh connection.
 *
 * DEPS: proxy/pool.c proxy/io.c proxy/iobuf.c proxy/tls_ossl.c proxy/tlsverify.c common/log.c
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "emailproxy.h"
#include "config.h"
#include "io.h"
#include "pool.h"
#include "proxy.h"
#include "upstream.h"
#include "fuzz.h"

#define TURNS	16

struct emailproxy_conf	*proxy_conf;

static struct server_conf	 sconf;
static struct pserver		 psrv;
static void			(*conn_cb)(int, const char *, void *);
static void			*conn_arg;
static int			 dummy_req;

/* The connection request pool.c makes; the harness answers it. */
struct upstream_req *
upstream_connect(const char *host, uint16_t port,
    void (*cb)(int, const char *, void *), void *arg)
{
	conn_cb = cb;
	conn_arg = arg;
	return ((struct upstream_req *)&dummy_req);
}

void
upstream_cancel(struct upstream_req *req)
{
	if (req != NULL) {
		conn_cb = NULL;
		conn_arg = NULL;
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init(0);
	signal(SIGPIPE, SIG_IGN);
	event_init();
	sconf.server_address = "127.0.0.1";
	sconf.server_port = 993;
	sconf.server_starttls = 1;
	sconf.upstream_pool = 1;
	sconf.upstream_pool_lifetime = 600;
	psrv.name = "fuzz";
	psrv.conf = &sconf;
	psrv.lfd = -1;
	return (0);
}

/* One line of at least 5 bytes starting with word, ending at the end. */
static int
one_line(const uint8_t *p, size_t n, const char *word)
{
	size_t	 w = strlen(word);
	uint8_t	*nl;

	if (n < 5 || n < w || strncasecmp((const char *)p, word, w) != 0)
		return (0);
	nl = memchr(p, '\n', n);
	return (nl == p + n - 1);
}

/* The greeting the pool should take, by the description above. */
static int
positive(enum proto proto, const uint8_t *p, size_t n)
{
	const uint8_t	*nl;
	size_t		 len;

	switch (proto) {
	case PROTO_IMAP:
		return (one_line(p, n, "* OK"));
	case PROTO_POP:
		return (one_line(p, n, "+OK"));
	default:
		while (n > 0) {
			if ((nl = memchr(p, '\n', n)) == NULL)
				return (0);
			len = nl - p + 1;	/* with LF */
			if (len < 4 || memcmp(p, "220", 3) != 0)
				return (0);
			if (p[3] == '-' && len > 4) {
				p += len;
				n -= len;
				continue;
			}
			/* The last line: "220 ...", "220\r..." or "220\n". */
			if (!(p[3] == ' ' || p[3] == '\r' ||
			    (p[3] == '\n' && len == 4)))
				return (0);
			return (len == n);
		}
		return (0);
	}
}

static void
taken_io(struct io *io, enum io_event ev, void *arg)
{
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum proto	 protos[] = { PROTO_IMAP, PROTO_POP,
	    PROTO_SMTP };
	struct io		 to;
	unsigned int		 limit, held, idle;
	int			 sp[2], i, want;

	if (size < 1)
		return (0);
	sconf.proto = protos[data[0] % 3];
	data++;
	size--;
	/* Longer ones arrive in several reads, each checked. */
	if (size >= POOL_GREETING_MAX)
		return (0);
	want = positive(sconf.proto, data, size);

	conn_cb = NULL;
	pool_configure(&psrv);
	for (i = 0; i < TURNS && conn_cb == NULL; i++)
		event_loop(EVLOOP_NONBLOCK);
	if (conn_cb == NULL)
		abort();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1 ||
	    fcntl(sp[0], F_SETFL, O_NONBLOCK) == -1)
		abort();
	conn_cb(sp[0], NULL, conn_arg);
	if (size > 0 && write(sp[1], data, size) != (ssize_t)size)
		abort();
	for (i = 0; i < TURNS; i++)
		event_loop(EVLOOP_NONBLOCK);
	pool_counts(&psrv, &limit, &held, &idle);
	if ((idle == 1) != want)
		abort();
	if (idle == 1) {
		/* The session reads the greeting from the start. */
		memset(&to, 0, sizeof(to));
		to.fd = -1;
		if (pool_take(&psrv, &to, taken_io, NULL) == -1)
			abort();
		if (iobuf_len(&to.in) != size ||
		    memcmp(iobuf_data(&to.in), data, size) != 0)
			abort();
		io_close(&to);
	}
	pool_free(&psrv);
	close(sp[1]);
	for (i = 0; i < TURNS; i++)
		event_loop(EVLOOP_NONBLOCK);
	return (0);
}
