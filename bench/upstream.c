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
 * upstream: a synthetic mail server for the benchmarks.  It stands where
 * Gmail or Outlook would: implicit TLS on loopback, IMAP, POP3 and SMTP,
 * SASL XOAUTH2 only (any well-formed bearer token is accepted), FETCH
 * answered with a literal of the requested size from one pre-built buffer
 * (memory speed), IDLE held at a few KiB per session.  Single-threaded,
 * one libevent loop.
 *
 *	upstream -c cert -k key [-i imap] [-p pop] [-s smtp] [-b bytes]
 *	    [-r readyfile] [-S statsfile]
 *
 * A port of 0 picks a free one; the ready file then lists "imap N",
 * "pop N", "smtp N" lines.  SIGUSR1 writes counters (JSON) to the stats
 * file, SIGTERM/SIGINT write them and exit 0.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <tls.h>

#include "tls_ossl.h"
#include "util.h"

#define BIG_SIZE	(1024 * 1024)	/* the literal source, reused */
#define IN_MAX		4096		/* one command line */
#define FETCH_MAX	(1ULL << 40)

enum proto { P_IMAP, P_POP, P_SMTP, P_COUNT };
static const char *proto_names[P_COUNT] = { "imap", "pop", "smtp" };

enum cstate { ST_CMD, ST_AUTH_CONT, ST_IDLE };

struct conn {
	int		 fd;
	enum proto	 proto;
	struct tlsx	*tls;
	struct event	 ev;
	short		 want;		/* EV_READ or EV_WRITE, registered */
	enum cstate	 state;
	int		 authed;
	int		 selected;
	int		 closing;	/* drop once the output is written */
	char		 tag[64];
	char		*out;		/* queued answer, freed when sent */
	size_t		 outlen;
	size_t		 outoff;
	uint64_t	 lit_left;	/* FETCH literal bytes still to send */
	size_t		 inlen;
	char		 in[IN_MAX];
};

struct listener {
	enum proto	 proto;
	int		 fd;
	uint16_t	 port;
	struct event	 ev;
	struct event	 pause;
};

static struct event_base	*base;
static struct tlsx_ctx		*server;
static struct listener		 listeners[P_COUNT];
static char			*big;
static uint64_t			 default_size = 1024;
static const char		*stats_file;

static struct {
	uint64_t	accepted, open, auth_ok, auth_fail, idle, idle_max;
	uint64_t	auth_resumed;	/* logins over a resumed TLS session */
	uint64_t	fetches, fetch_bytes, accept_errors;
	char		cipher[96];	/* of the last session logged in */
} st;

static void	conn_run(struct conn *);
static void	conn_cb(evutil_socket_t, short, void *);

static void
conn_free(struct conn *c)
{
	event_del(&c->ev);
	tlsx_free(c->tls, 1);
	close(c->fd);
	if (c->state == ST_IDLE)
		st.idle--;
	st.open--;
	free(c->out);
	free(c);
}

static void
conn_want(struct conn *c, short what)
{
	if (c->want == what)
		return;
	event_del(&c->ev);
	event_assign(&c->ev, base, c->fd, what | EV_PERSIST, conn_cb, c);
	event_add(&c->ev, NULL);
	c->want = what;
}

static void
out_add(struct conn *c, const char *fmt, ...)
{
	char	 buf[1024], *p;
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		errx(1, "answer too long");
	if ((p = realloc(c->out, c->outlen + n)) == NULL)
		err(1, "realloc");
	memcpy(p + c->outlen, buf, n);
	c->out = p;
	c->outlen += n;
}

/* 1: all written, 0: waiting (c->want set), -1: error. */
static int
conn_flush(struct conn *c)
{
	ssize_t	 n;
	size_t	 len;

	for (;;) {
		if (c->outoff < c->outlen) {
			n = tlsx_write(c->tls, c->out + c->outoff,
			    c->outlen - c->outoff);
		} else if (c->lit_left > 0) {
			len = c->lit_left < BIG_SIZE ? c->lit_left : BIG_SIZE;
			n = tlsx_write(c->tls, big, len);
		} else {
			free(c->out);
			c->out = NULL;
			c->outlen = c->outoff = 0;
			return (1);
		}
		if (n == TLSX_WANT_POLLIN || n == TLSX_WANT_POLLOUT) {
			conn_want(c, n == TLSX_WANT_POLLIN ? EV_READ :
			    EV_WRITE);
			return (0);
		}
		if (n < 0)
			return (-1);
		if (c->outoff < c->outlen) {
			c->outoff += n;
			continue;
		}
		c->lit_left -= n;
		st.fetch_bytes += n;
		if (c->lit_left == 0) {
			free(c->out);
			c->out = NULL;
			c->outlen = c->outoff = 0;
			out_add(c, ")\r\n%s OK FETCH completed\r\n", c->tag);
		}
	}
}

/* A SASL XOAUTH2 initial response: "user=U^Aauth=Bearer T^A^A". */
static int
xoauth2_valid(const char *b64)
{
	uint8_t		 buf[IN_MAX];
	const char	*p, *tok;
	long		 n;
	size_t		 len = strlen(b64);

	if (len == 0 || len > sizeof(buf) - 8 ||
	    (n = b64_decode(buf, b64, len)) < 8)
		return (0);
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL || strncmp((char *)buf, "user=", 5))
		return (0);
	if ((p = strstr((char *)buf, "\001auth=Bearer ")) == NULL)
		return (0);
	tok = p + strlen("\001auth=Bearer ");
	if (*tok == '\001' || strchr(tok, '\001') == NULL)
		return (0);
	p = strchr(tok, '\001');
	return (strcmp(p, "\001\001") == 0);
}

static int
auth_check(struct conn *c, const char *b64)
{
	const char	*v, *ci;
	int		 ok = xoauth2_valid(b64);

	if (ok) {
		c->authed = 1;
		st.auth_ok++;
		if (tlsx_resumed(c->tls))
			st.auth_resumed++;
		if ((v = tlsx_version(c->tls)) != NULL &&
		    (ci = tlsx_cipher(c->tls)) != NULL)
			snprintf(st.cipher, sizeof(st.cipher), "%s %s", v, ci);
	} else
		st.auth_fail++;
	return (ok);
}

static void
imap_auth_answer(struct conn *c, const char *b64)
{
	if (auth_check(c, b64))
		out_add(c, "%s OK AUTHENTICATE completed\r\n", c->tag);
	else
		out_add(c, "%s NO [AUTHENTICATIONFAILED] bad XOAUTH2\r\n",
		    c->tag);
}

static uint64_t
fetch_size(const char *args)
{
	const char		*p;
	char			*end;
	unsigned long long	 n;

	if ((p = strstr(args, "<0.")) == NULL)
		return (default_size);
	errno = 0;
	n = strtoull(p + 3, &end, 10);
	if (errno != 0 || *end != '>' || n == 0 || n > FETCH_MAX)
		return (default_size);
	return (n);
}

static void
imap_line(struct conn *c, char *line)
{
	char	*cmd, *args, *sp;

	if (c->state == ST_AUTH_CONT) {
		c->state = ST_CMD;
		imap_auth_answer(c, line);
		return;
	}
	if (c->state == ST_IDLE) {
		if (strcasecmp(line, "DONE") == 0) {
			c->state = ST_CMD;
			st.idle--;
			out_add(c, "%s OK IDLE terminated\r\n", c->tag);
		} else
			c->closing = 1;
		return;
	}
	if ((sp = strchr(line, ' ')) == NULL || sp == line ||
	    (size_t)(sp - line) >= sizeof(c->tag)) {
		out_add(c, "* BAD missing tag\r\n");
		return;
	}
	*sp = '\0';
	strlcpy(c->tag, line, sizeof(c->tag));
	cmd = sp + 1;
	args = strchr(cmd, ' ');
	args = args != NULL ? args + 1 : cmd + strlen(cmd);

	if (word_is(cmd, "CAPABILITY")) {
		out_add(c, "* CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 IDLE"
		    "\r\n%s OK CAPABILITY completed\r\n", c->tag);
	} else if (word_is(cmd, "NOOP") || word_is(cmd, "ENABLE")) {
		out_add(c, "%s OK done\r\n", c->tag);
	} else if (word_is(cmd, "ID")) {
		out_add(c, "* ID NIL\r\n%s OK ID completed\r\n", c->tag);
	} else if (word_is(cmd, "LOGOUT")) {
		out_add(c, "* BYE bench upstream logging out\r\n"
		    "%s OK LOGOUT completed\r\n", c->tag);
		c->closing = 1;
	} else if (word_is(cmd, "LOGIN")) {
		out_add(c, "%s NO [PRIVACYREQUIRED] use AUTHENTICATE XOAUTH2"
		    "\r\n", c->tag);
	} else if (word_is(cmd, "AUTHENTICATE")) {
		if (c->authed)
			out_add(c, "%s BAD already authenticated\r\n", c->tag);
		else if (!word_is(args, "XOAUTH2"))
			out_add(c, "%s NO unsupported mechanism\r\n", c->tag);
		else if ((sp = strchr(args, ' ')) != NULL)
			imap_auth_answer(c, sp + 1);
		else {
			c->state = ST_AUTH_CONT;
			out_add(c, "+ \r\n");
		}
	} else if (!c->authed) {
		out_add(c, "%s NO not authenticated\r\n", c->tag);
	} else if (word_is(cmd, "SELECT") || word_is(cmd, "EXAMINE")) {
		c->selected = 1;
		out_add(c, "* FLAGS (\\Seen)\r\n* 1 EXISTS\r\n* 0 RECENT\r\n"
		    "* OK [UIDVALIDITY 1] UIDs valid\r\n"
		    "%s OK [READ-WRITE] SELECT completed\r\n", c->tag);
	} else if (word_is(cmd, "IDLE")) {
		c->state = ST_IDLE;
		if (++st.idle > st.idle_max)
			st.idle_max = st.idle;
		out_add(c, "+ idling\r\n");
	} else if (word_is(cmd, "FETCH")) {
		if (!c->selected) {
			out_add(c, "%s NO no mailbox selected\r\n", c->tag);
			return;
		}
		c->lit_left = fetch_size(args);
		st.fetches++;
		out_add(c, "* 1 FETCH (BODY[]<0> {%" PRIu64 "}\r\n",
		    c->lit_left);
	} else
		out_add(c, "%s BAD unknown command\r\n", c->tag);
}

static void
pop_line(struct conn *c, char *line)
{
	char	*sp;

	if (c->state == ST_AUTH_CONT) {
		c->state = ST_CMD;
		out_add(c, auth_check(c, line) ? "+OK authenticated\r\n" :
		    "-ERR [AUTH] bad XOAUTH2\r\n");
		return;
	}
	if (word_is(line, "CAPA"))
		out_add(c, "+OK capabilities\r\nTOP\r\nUIDL\r\n"
		    "SASL XOAUTH2\r\n.\r\n");
	else if (word_is(line, "QUIT")) {
		out_add(c, "+OK bye\r\n");
		c->closing = 1;
	} else if (word_is(line, "NOOP"))
		out_add(c, "+OK\r\n");
	else if (word_is(line, "USER") || word_is(line, "PASS"))
		out_add(c, "-ERR use AUTH XOAUTH2\r\n");
	else if (word_is(line, "AUTH")) {
		sp = strchr(line, ' ');
		if (c->authed)
			out_add(c, "-ERR already authenticated\r\n");
		else if (sp == NULL || !word_is(sp + 1, "XOAUTH2"))
			out_add(c, "-ERR unsupported mechanism\r\n");
		else if ((sp = strchr(sp + 1, ' ')) != NULL)
			out_add(c, auth_check(c, sp + 1) ?
			    "+OK authenticated\r\n" :
			    "-ERR [AUTH] bad XOAUTH2\r\n");
		else {
			c->state = ST_AUTH_CONT;
			out_add(c, "+ \r\n");
		}
	} else if (!c->authed)
		out_add(c, "-ERR not authenticated\r\n");
	else if (word_is(line, "STAT"))
		out_add(c, "+OK 1 %" PRIu64 "\r\n", default_size);
	else
		out_add(c, "-ERR unknown command\r\n");
}

static void
smtp_line(struct conn *c, char *line)
{
	char	*sp;

	if (c->state == ST_AUTH_CONT) {
		c->state = ST_CMD;
		out_add(c, auth_check(c, line) ?
		    "235 2.7.0 Accepted\r\n" :
		    "535 5.7.8 bad XOAUTH2\r\n");
		return;
	}
	if (word_is(line, "EHLO"))
		out_add(c, "250-bench.invalid\r\n250-AUTH XOAUTH2\r\n"
		    "250-8BITMIME\r\n250 SMTPUTF8\r\n");
	else if (word_is(line, "HELO"))
		out_add(c, "250 bench.invalid\r\n");
	else if (word_is(line, "QUIT")) {
		out_add(c, "221 2.0.0 bye\r\n");
		c->closing = 1;
	} else if (word_is(line, "NOOP") || word_is(line, "RSET"))
		out_add(c, "250 2.0.0 OK\r\n");
	else if (word_is(line, "AUTH")) {
		sp = strchr(line, ' ');
		if (c->authed)
			out_add(c, "503 5.5.1 already authenticated\r\n");
		else if (sp == NULL || !word_is(sp + 1, "XOAUTH2"))
			out_add(c, "504 5.5.4 unsupported mechanism\r\n");
		else if ((sp = strchr(sp + 1, ' ')) != NULL)
			out_add(c, auth_check(c, sp + 1) ?
			    "235 2.7.0 Accepted\r\n" :
			    "535 5.7.8 bad XOAUTH2\r\n");
		else {
			c->state = ST_AUTH_CONT;
			out_add(c, "334 \r\n");
		}
	} else
		out_add(c, "502 5.5.2 unknown command\r\n");
}

/* Answer every complete line in c->in; -1 when the input is unusable. */
static int
conn_lines(struct conn *c)
{
	char	*nl, *line = c->in;
	size_t	 left = c->inlen;

	while (!c->closing && c->lit_left == 0 &&
	    (nl = memchr(line, '\n', left)) != NULL) {
		*nl = '\0';
		if (nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		left -= nl + 1 - line;
		switch (c->proto) {
		case P_IMAP:
			imap_line(c, line);
			break;
		case P_POP:
			pop_line(c, line);
			break;
		default:
			smtp_line(c, line);
			break;
		}
		line = nl + 1;
	}
	memmove(c->in, line, left);
	c->inlen = left;
	return (c->inlen == sizeof(c->in) ? -1 : 0);
}

static void
conn_run(struct conn *c)
{
	ssize_t	n;
	int	r;

	for (;;) {
		if ((r = conn_flush(c)) == -1)
			break;
		if (r == 0)
			return;
		if (c->closing)
			break;
		/* Lines left from the last read go first. */
		if (c->inlen > 0 && memchr(c->in, '\n', c->inlen) != NULL) {
			if (conn_lines(c) == -1)
				break;
			continue;
		}
		n = tlsx_read(c->tls, c->in + c->inlen,
		    sizeof(c->in) - c->inlen);
		if (n == TLSX_WANT_POLLIN || n == TLSX_WANT_POLLOUT) {
			conn_want(c, n == TLSX_WANT_POLLIN ? EV_READ :
			    EV_WRITE);
			return;
		}
		if (n <= 0)
			break;
		c->inlen += n;
		if (conn_lines(c) == -1)
			break;
	}
	conn_free(c);
}

static void
conn_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_run(arg);
}

static void
accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listener	*l = arg;

	event_add(&l->ev, NULL);
}

static void
accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct listener	*l = arg;
	struct timeval	 tv = { 0, 100000 };
	struct conn	*c;
	char		 errbuf[256];
	int		 fd, i;

	for (i = 0; i < 256; i++) {
		if ((fd = accept(lfd, NULL, NULL)) == -1) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			/* Out of descriptors: breathe, then retry. */
			st.accept_errors++;
			event_del(&l->ev);
			evtimer_add(&l->pause, &tv);
			return;
		}
		if (sock_setup(fd) == -1 ||
		    (c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->proto = l->proto;
		if ((c->tls = tlsx_accept(server, fd, errbuf,
		    sizeof(errbuf))) == NULL) {
			warnx("%s", errbuf);
			close(fd);
			free(c);
			continue;
		}
		st.accepted++;
		st.open++;
		c->want = EV_READ;
		event_assign(&c->ev, base, fd, EV_READ | EV_PERSIST, conn_cb,
		    c);
		event_add(&c->ev, NULL);
		switch (c->proto) {
		case P_IMAP:
			out_add(c, "* OK [CAPABILITY IMAP4rev1 SASL-IR "
			    "AUTH=XOAUTH2 IDLE] bench upstream ready\r\n");
			break;
		case P_POP:
			out_add(c, "+OK bench upstream ready\r\n");
			break;
		default:
			out_add(c, "220 bench.invalid ESMTP ready\r\n");
			break;
		}
		conn_run(c);
	}
}

static void
stats_write(void)
{
	char	buf[1024];

	if (stats_file == NULL)
		return;
	snprintf(buf, sizeof(buf), "{\"accepted\": %" PRIu64
	    ", \"open\": %" PRIu64 ", \"auth_ok\": %" PRIu64
	    ", \"auth_fail\": %" PRIu64 ", \"idle\": %" PRIu64
	    ", \"idle_max\": %" PRIu64 ", \"fetches\": %" PRIu64
	    ", \"fetch_bytes\": %" PRIu64 ", \"accept_errors\": %" PRIu64
	    ", \"auth_resumed\": %" PRIu64
	    ", \"cipher\": \"%s\"}\n", st.accepted, st.open, st.auth_ok,
	    st.auth_fail, st.idle, st.idle_max, st.fetches, st.fetch_bytes,
	    st.accept_errors, st.auth_resumed, st.cipher);
	if (write_file_atomic(stats_file, buf) == -1)
		warn("%s", stats_file);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	stats_write();
	if (sig != SIGUSR1)
		event_base_loopbreak(base);
}

static uint16_t
port_arg(const char *s)
{
	const char	*errstr;
	long long	 n;

	n = strtonum(s, 0, 65535, &errstr);
	if (errstr != NULL)
		errx(2, "port %s: %s", s, errstr);
	return ((uint16_t)n);
}

static void
usage(void)
{
	fprintf(stderr, "usage: upstream -c cert -k key [-R] [-i imap] "
	    "[-p pop] [-s smtp] [-b bytes] [-r readyfile] [-S statsfile]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct event		 sigs[4];
	const int		 signos[4] = { SIGTERM, SIGINT, SIGUSR1, SIGHUP };
	const char		*cert = NULL, *key = NULL, *ready = NULL;
	const char		*errstr;
	char			 text[256];
	size_t			 off = 0, i;
	int			 ch, want[P_COUNT] = { 0 }, any = 0;
	int			 resume = 0;
	uint8_t			*certpem, *keypem;
	size_t			 certlen, keylen;
	uint16_t		 port[P_COUNT] = { 0 };

	while ((ch = getopt(argc, argv, "b:c:i:k:p:Rr:s:S:")) != -1) {
		switch (ch) {
		case 'b':
			default_size = strtonum(optarg, 1, FETCH_MAX, &errstr);
			if (errstr != NULL)
				errx(2, "-b %s: %s", optarg, errstr);
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'i':
			port[P_IMAP] = port_arg(optarg);
			want[P_IMAP] = any = 1;
			break;
		case 'p':
			port[P_POP] = port_arg(optarg);
			want[P_POP] = any = 1;
			break;
		case 's':
			port[P_SMTP] = port_arg(optarg);
			want[P_SMTP] = any = 1;
			break;
		case 'R':
			resume = 1;
			break;
		case 'r':
			ready = optarg;
			break;
		case 'S':
			stats_file = optarg;
			break;
		default:
			usage();
		}
	}
	if (cert == NULL || key == NULL || !any || optind != argc)
		usage();
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	if ((big = malloc(BIG_SIZE)) == NULL)
		err(1, "malloc");
	/* Mail-like text: 78 characters and CRLF per line. */
	for (i = 0; i < BIG_SIZE; i++)
		big[i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' :
		    (char)('a' + (i % 80) % 26);

	/*
	 * The proxy's own TLS code (proxy/tls_ossl.c) serves here too:
	 * with -R it sends one TLS session ticket per handshake, as Dovecot
	 * does (libtls, Debian's libretls, sends none).
	 */
	if ((certpem = tls_load_file(cert, &certlen, NULL)) == NULL ||
	    (keypem = tls_load_file(key, &keylen, NULL)) == NULL)
		errx(1, "cannot read %s or %s", cert, key);
	if ((server = tlsx_server_ctx("upstream", certpem, certlen, keypem,
	    keylen, resume ? 1 : 0)) == NULL)
		errx(1, "cannot set up TLS");
	tls_unload_file(keypem, keylen);
	tls_unload_file(certpem, certlen);

	if ((base = event_base_new()) == NULL)
		errx(1, "event_base_new");
	for (i = 0; i < P_COUNT; i++) {
		struct listener	*l = &listeners[i];

		if (!want[i])
			continue;
		l->proto = i;
		if ((l->fd = listen_loopback(port[i], &l->port)) == -1)
			err(1, "listen %s port %u", proto_names[i], port[i]);
		event_assign(&l->ev, base, l->fd, EV_READ | EV_PERSIST,
		    accept_cb, l);
		evtimer_assign(&l->pause, base, accept_resume, l);
		event_add(&l->ev, NULL);
		off += snprintf(text + off, sizeof(text) - off, "%s %u\n",
		    proto_names[i], l->port);
	}
	for (i = 0; i < 4; i++) {
		evsignal_assign(&sigs[i], base, signos[i], signal_cb, NULL);
		evsignal_add(&sigs[i], NULL);
	}
	if (ready != NULL && write_file_atomic(ready, text) == -1)
		err(1, "%s", ready);

	event_base_dispatch(base);
	return (0);
}
