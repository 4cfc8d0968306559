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
 * PROXY protocol header parsing: v1 and v2 headers with their source
 * address and length (bytes after the header are not taken), every
 * prefix of a valid header asks for more, malformed and oversized
 * headers are refused.
 *
 * DEPS: proxy/proxyhdr.c
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyhdr.h"

static int	failures;

static void	 check(int, const char *, ...)
		    __attribute__((__format__(__printf__, 2, 3)));

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

/* The source address of a parse, as "addr port", or "-" for none. */
static const char *
source(const struct sockaddr_storage *ss, socklen_t sslen)
{
	static char	 out[INET6_ADDRSTRLEN + 8];
	char		 a[INET6_ADDRSTRLEN];
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	if (sslen == 0)
		return "-";
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		snprintf(out, sizeof(out), "%s %u", a, ntohs(sin->sin_port));
	} else {
		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		snprintf(out, sizeof(out), "%s %u", a, ntohs(sin6->sin6_port));
	}
	return out;
}

/* A valid header hlen bytes long, followed by extra bytes. */
static void
good(const char *what, const uint8_t *buf, size_t len, ssize_t hlen,
    const char *want)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	const char		*err = NULL;
	ssize_t			 n;
	size_t			 i;
	int			 prefixes = 1;

	n = proxyhdr_parse(buf, len, &ss, &sslen, &err);
	check(n == hlen && strcmp(source(&ss, sslen), want) == 0,
	    "%s: %zd bytes, source %s (got %zd, %s%s)", what, hlen, want, n,
	    n > 0 ? source(&ss, sslen) : "-", err ? err : "");
	for (i = 0; i < (size_t)hlen; i++)
		if (proxyhdr_parse(buf, i, &ss, &sslen, &err) != 0)
			prefixes = 0;
	check(prefixes, "%s: every prefix asks for more", what);
}

static void
bad(const char *what, const uint8_t *buf, size_t len)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	const char		*err = NULL;
	ssize_t			 n;

	n = proxyhdr_parse(buf, len, &ss, &sslen, &err);
	check(n == -1 && err != NULL, "%s: refused (%s)", what,
	    err ? err : "no error");
}

#define V1(what, s, want) \
	good(what, (const uint8_t *)s "\x16\x03", sizeof(s) - 1, \
	    sizeof(s) - 1, want)
#define V1BAD(what, s) \
	bad(what, (const uint8_t *)s, sizeof(s) - 1)

static const uint8_t sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* A v2 header: ver_cmd, fam, then alen bytes of addr. */
static size_t
v2(uint8_t *out, uint8_t vc, uint8_t fam, const uint8_t *addr, size_t alen,
    size_t declared)
{
	memcpy(out, sig, 12);
	out[12] = vc;
	out[13] = fam;
	out[14] = declared >> 8;
	out[15] = declared & 0xff;
	memcpy(out + 16, addr, alen);
	return 16 + alen;
}

int
main(void)
{
	uint8_t	 buf[2048], addr[1200];
	size_t	 n;

	V1("v1 TCP4", "PROXY TCP4 192.0.2.7 127.0.0.1 56324 993\r\n",
	    "192.0.2.7 56324");
	V1("v1 TCP6", "PROXY TCP6 2001:db8::1 ::1 65535 993\r\n",
	    "2001:db8::1 65535");
	V1("v1 UNKNOWN", "PROXY UNKNOWN\r\n", "-");
	V1("v1 UNKNOWN with addresses",
	    "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
	    "-");
	V1BAD("v1 double space", "PROXY TCP4  192.0.2.7 127.0.0.1 1 2\r\n");
	V1BAD("v1 leading zero port",
	    "PROXY TCP4 192.0.2.7 127.0.0.1 01 2\r\n");
	V1BAD("v1 port too big", "PROXY TCP4 192.0.2.7 127.0.0.1 65536 2\r\n");
	V1BAD("v1 v6 address in TCP4", "PROXY TCP4 ::1 127.0.0.1 1 2\r\n");
	V1BAD("v1 bad address", "PROXY TCP4 192.0.2.300 127.0.0.1 1 2\r\n");
	V1BAD("v1 missing field", "PROXY TCP4 192.0.2.7 127.0.0.1 1\r\n");
	V1BAD("v1 extra field", "PROXY TCP4 192.0.2.7 127.0.0.1 1 2 3\r\n");
	V1BAD("v1 trailing space", "PROXY TCP4 192.0.2.7 127.0.0.1 1 2 \r\n");
	V1BAD("v1 unknown protocol", "PROXY UDP4 192.0.2.7 127.0.0.1 1 2\r\n");
	V1BAD("v1 bare LF", "PROXY TCP4 192.0.2.7 127.0.0.1 1 2\n");
	V1BAD("v1 CR without LF", "PROXY TCP4 192.0.2.7 127.0.0.1 1 2\rx");
	V1BAD("v1 lower case", "proxy TCP4 192.0.2.7 127.0.0.1 1 2\r\n");
	V1BAD("not a header at all", "a1 LOGIN alice secret\r\n");
	V1BAD("a TLS ClientHello", "\x16\x03\x01\x02\x00\x01");
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "PROXY UNKNOWN ", 14);
	bad("v1 longer than 107 bytes without CRLF", buf, 200);
	memcpy(buf + 105, "\r\n", 2);
	good("v1 of exactly 107 bytes", buf, 200, 107, "-");
	memcpy(buf + 105, "x\r\n", 3);
	bad("v1 of 108 bytes", buf, 200);

	/* v2 */
	memcpy(addr, "\xc0\x00\x02\x07\x7f\x00\x00\x01\xdc\x04\x03\xe1", 12);
	n = v2(buf, 0x21, 0x11, addr, 12, 12);
	memcpy(buf + n, "\x16\x03", 2);
	good("v2 PROXY TCP4", buf, n + 2, n, "192.0.2.7 56324");
	memset(addr, 0, 36);
	addr[0] = 0x20; addr[1] = 0x01; addr[2] = 0x0d; addr[3] = 0xb8;
	addr[15] = 9;
	addr[31] = 1;
	addr[32] = 0x30; addr[33] = 0x39;
	n = v2(buf, 0x21, 0x21, addr, 36, 36);
	good("v2 PROXY TCP6", buf, n, n, "2001:db8::9 12345");
	memset(addr + 36, 0xaa, 40);
	n = v2(buf, 0x21, 0x21, addr, 76, 76);
	good("v2 PROXY TCP6 with TLVs", buf, n + 0, n, "2001:db8::9 12345");
	n = v2(buf, 0x20, 0x00, addr, 0, 0);
	good("v2 LOCAL", buf, n, n, "-");
	n = v2(buf, 0x20, 0x11, addr, 12, 12);
	good("v2 LOCAL with addresses: the connection's stand", buf, n, n,
	    "-");
	n = v2(buf, 0x21, 0x00, addr, 0, 0);
	good("v2 PROXY UNSPEC", buf, n, n, "-");
	n = v2(buf, 0x11, 0x11, addr, 12, 12);
	bad("v2 version 1", buf, n);
	n = v2(buf, 0x22, 0x11, addr, 12, 12);
	bad("v2 command 2", buf, n);
	n = v2(buf, 0x21, 0x41, addr, 12, 12);
	bad("v2 unknown family", buf, n);
	n = v2(buf, 0x21, 0x11, addr, 8, 8);
	bad("v2 TCP4 address block too short", buf, n);
	n = v2(buf, 0x21, 0x21, addr, 12, 12);
	bad("v2 TCP6 address block too short", buf, n);
	n = v2(buf, 0x21, 0x11, addr, 0, PROXYHDR_MAX);
	bad("v2 longer than PROXYHDR_MAX", buf, n);
	memcpy(buf, sig, 12);
	buf[5] = 0;
	bad("v2 wrong signature", buf, 16);
	return failures ? 1 : 0;
}
