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
 * PROXY protocol header parsing (haproxy.org proxy-protocol.txt).  The
 * parser is strict: one header, exact syntax, bounded size; anything
 * else is refused rather than guessed at, since the header decides the
 * client address every allowlist and throttle uses.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include "proxyhdr.h"

static const uint8_t v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};
static const char v1sig[] = "PROXY ";

/* Decimal 0..65535, no sign, no leading zero. */
static int
parse_port(const char *p, size_t n, uint16_t *port)
{
	unsigned long	v = 0;
	size_t		i;

	if (n == 0 || n > 5 || (n > 1 && p[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = v;
	return 0;
}

/* The next space-separated field of [*p, end): its length, or -1. */
static ssize_t
field(const char **p, const char *end, const char **start)
{
	const char	*q = *p;

	*start = q;
	while (q < end && *q != ' ')
		q++;
	if (q == *start)
		return -1;
	*p = q < end ? q + 1 : q;
	return q - *start;
}

static ssize_t
parse_v1(const uint8_t *buf, size_t len, struct sockaddr_storage *ss,
    socklen_t *sslen, const char **err)
{
	const char		*line = (const char *)buf, *p, *end, *f;
	char			 src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	struct in6_addr		 a6;
	struct in_addr		 a4;
	uint16_t		 sport, dport;
	size_t			 i, n;
	ssize_t			 fl;
	int			 af;

	n = len < sizeof(v1sig) - 1 ? len : sizeof(v1sig) - 1;
	if (memcmp(buf, v1sig, n) != 0) {
		*err = "not a PROXY header";
		return -1;
	}
	for (i = 0; i < len && i < PROXYHDR_V1_MAX; i++) {
		if (buf[i] == '\r')
			break;
		if (buf[i] < 0x20 || buf[i] > 0x7e) {
			*err = "PROXY v1: bad character";
			return -1;
		}
	}
	if (i == PROXYHDR_V1_MAX) {
		*err = "PROXY v1: line too long";
		return -1;
	}
	if (i + 1 >= len)
		return 0;
	if (buf[i + 1] != '\n' || i + 2 > PROXYHDR_V1_MAX) {
		*err = "PROXY v1: bad line end";
		return -1;
	}
	p = line + sizeof(v1sig) - 1;
	end = line + i;
	if ((fl = field(&p, end, &f)) == -1)
		goto bad;
	if (fl == 7 && memcmp(f, "UNKNOWN", 7) == 0) {
		/* Whatever follows is to be ignored. */
		*sslen = 0;
		return i + 2;
	}
	if (fl == 4 && memcmp(f, "TCP4", 4) == 0)
		af = AF_INET;
	else if (fl == 4 && memcmp(f, "TCP6", 4) == 0)
		af = AF_INET6;
	else
		goto bad;
	if ((fl = field(&p, end, &f)) == -1 || (size_t)fl >= sizeof(src))
		goto bad;
	memcpy(src, f, fl);
	src[fl] = '\0';
	if ((fl = field(&p, end, &f)) == -1 || (size_t)fl >= sizeof(dst))
		goto bad;
	memcpy(dst, f, fl);
	dst[fl] = '\0';
	if ((fl = field(&p, end, &f)) == -1 || parse_port(f, fl, &sport) == -1)
		goto bad;
	if ((fl = field(&p, end, &f)) == -1 || parse_port(f, fl, &dport) == -1)
		goto bad;
	/* Exactly one space between fields, none at the end. */
	if (p != end || end[-1] == ' ')
		goto bad;
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		if (inet_pton(AF_INET, src, &sin->sin_addr) != 1 ||
		    inet_pton(AF_INET, dst, &a4) != 1)
			goto bad;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(sport);
		*sslen = sizeof(*sin);
	} else {
		if (inet_pton(AF_INET6, src, &sin6->sin6_addr) != 1 ||
		    inet_pton(AF_INET6, dst, &a6) != 1)
			goto bad;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(sport);
		*sslen = sizeof(*sin6);
	}
	return i + 2;
 bad:
	*err = "PROXY v1: malformed header";
	return -1;
}

static ssize_t
parse_v2(const uint8_t *buf, size_t len, struct sockaddr_storage *ss,
    socklen_t *sslen, const char **err)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	size_t			 n, total, alen;
	uint8_t			 cmd, fam;

	n = len < sizeof(v2sig) ? len : sizeof(v2sig);
	if (memcmp(buf, v2sig, n) != 0) {
		*err = "not a PROXY header";
		return -1;
	}
	if (len < 16)
		return 0;
	if ((buf[12] >> 4) != 2) {
		*err = "PROXY v2: unknown version";
		return -1;
	}
	cmd = buf[12] & 0x0f;
	fam = buf[13];
	alen = (buf[14] << 8) | buf[15];
	total = 16 + alen;
	if (cmd > 1) {
		*err = "PROXY v2: unknown command";
		return -1;
	}
	if (total > PROXYHDR_MAX) {
		*err = "PROXY v2: header too long";
		return -1;
	}
	switch (fam) {
	case 0x11:		/* TCP over IPv4 */
	case 0x12:		/* UDP over IPv4 */
		if (alen < 12)
			goto short_addr;
		break;
	case 0x21:		/* TCP over IPv6 */
	case 0x22:
		if (alen < 36)
			goto short_addr;
		break;
	case 0x00:		/* unspecified */
	case 0x31:		/* AF_UNIX */
	case 0x32:
		if ((fam & 0xf0) == 0x30 && alen < 216)
			goto short_addr;
		break;
	default:
		*err = "PROXY v2: unknown address family";
		return -1;
	}
	if (len < total)
		return 0;
	*sslen = 0;
	/* LOCAL: the balancer's own connection (a health check). */
	if (cmd == 0 || fam == 0x00 || (fam & 0xf0) == 0x30)
		return total;
	memset(ss, 0, sizeof(*ss));
	if ((fam & 0xf0) == 0x10) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, buf + 16, 4);
		memcpy(&sin->sin_port, buf + 16 + 8, 2);
		*sslen = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, buf + 16, 16);
		memcpy(&sin6->sin6_port, buf + 16 + 32, 2);
		*sslen = sizeof(*sin6);
	}
	return total;
 short_addr:
	*err = "PROXY v2: address block too short";
	return -1;
}

ssize_t
proxyhdr_parse(const uint8_t *buf, size_t len, struct sockaddr_storage *ss,
    socklen_t *sslen, const char **err)
{
	*sslen = 0;
	if (len == 0)
		return 0;
	if (buf[0] == v1sig[0])
		return parse_v1(buf, len, ss, sslen, err);
	if (buf[0] == v2sig[0])
		return parse_v2(buf, len, ss, sslen, err);
	*err = "no PROXY header";
	return -1;
}
