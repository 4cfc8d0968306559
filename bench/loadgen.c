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
 * loadgen: the benchmark client.  One process, one libevent loop, up to
 * tens of thousands of sessions (RLIMIT_NOFILE permitting), TLS through
 * libtls or plain TCP.  It prints one JSON object on stdout.
 *
 *	loadgen -m mode [-P imap|pop|smtp] [-a login|xoauth2] -p port
 *	    [-H 127.0.0.1] [-C cafile [-N servername]] [-u user] [-n count]
 *	    [-c parallel] [-b bytes] [-t seconds] [-r readyfile] [-s]
 *
 * The password (-a login) or bearer token (-a xoauth2) comes from the
 * environment variable LOADGEN_SECRET, so it never shows in ps.
 *
 * Modes:
 *   login             count sessions, parallel at a time (default 1):
 *                     connect, log in, log out; latency of each.
 *   concurrent-login  the same with every session started at once.
 *   fetch             one IMAP session: log in, SELECT, FETCH a literal
 *                     of -b bytes; throughput.
 *   idle              count IMAP sessions logged in and held in IDLE
 *                     (parallel logins in flight, default 100).  Once all
 *                     are up it writes the ready file and waits for
 *                     SIGUSR1 or SIGTERM, then counts the sessions still
 *                     idling, ends each with DONE and LOGOUT, and reports.
 * Log in with -a login means IMAP LOGIN, POP USER/PASS, SMTP AUTH PLAIN
 * (what a client of emailproxy sends); -a xoauth2 sends the SASL XOAUTH2
 * initial response directly (the reference, against the upstream).
 * -s adds every session's latency (ms, sorted) to the output, so runs
 * can be merged.  Exit 0 when every session succeeded, 1 otherwise, 2 on
 * usage errors.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <tls.h>

#include "util.h"

#define IN_MAX		2048		/* one reply line */
#define READ_CHUNK	(256 * 1024)
#define STOP_GRACE	30		/* seconds to end idle sessions */

enum mode { M_LOGIN, M_CONCURRENT, M_FETCH, M_IDLE };
enum proto { P_IMAP, P_POP, P_SMTP };
enum auth { A_LOGIN, A_XOAUTH2 };
enum step {
	S_CONNECT, S_GREET, S_EHLO, S_USER, S_LOGIN, S_SELECT, S_FETCH,
	S_IDLE_START, S_IDLING, S_IDLE_DONE, S_LOGOUT
};
static const char *step_names[] = {
	"connect", "greeting", "ehlo", "user", "login", "select", "fetch",
	"idle", "idling", "idle-done", "logout"
};

struct conn {
	int			 fd;
	struct tls		*tls;
	struct event		 ev;
	short			 want;
	enum step		 step;
	int			 saw_bye;
	uint64_t		 t0, t_login, t_fetch0, t_fetch1;
	uint64_t		 lit_left;	/* literal bytes to skip */
	uint64_t		 lit_bytes;	/* all literal bytes seen */
	char			*out;
	size_t			 outlen, outoff;
	size_t			 inlen;
	char			 in[IN_MAX];
	LIST_ENTRY(conn)	 entry;
};
LIST_HEAD(conn_list, conn);

static struct {
	enum mode	 mode;
	enum proto	 proto;
	enum auth	 auth;
	struct sockaddr_in sin;
	struct tls_config *tlscfg;
	const char	*servername;
	const char	*user;
	const char	*secret;
	char		*login_line;	/* built once */
	const char	*ready;
	unsigned int	 n, parallel;
	uint64_t	 fetch_bytes;
	unsigned int	 timeout;
	int		 samples;	/* -s */
	unsigned int	 started, active, ok, failed, idling, dropped;
	unsigned int	 reached_idle, still_idle, stopped, timed_out;
	uint64_t	 t_start;
	uint64_t	*lat_session, *lat_login;
	unsigned int	 nsamples;
	double		 fetch_seconds;
	uint64_t	 fetched;
	char		 first_error[256];
	char		 cipher[96];	/* of the first session logged in */
	unsigned int	 fail_steps[S_LOGOUT + 1];
	struct conn_list conns;
} lg;

static struct event_base	*base;
static struct event		 timeout_ev;
static char			*scratch;

static void	conn_cb(evutil_socket_t, short, void *);
static void	conn_run(struct conn *);
static void	launch(void);
static void	finish(void);

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
send_line(struct conn *c, const char *fmt, ...)
{
	char	*line, *p;
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0)
		err(1, "vasprintf");
	if ((p = realloc(c->out, c->outlen + n)) == NULL)
		err(1, "realloc");
	memcpy(p + c->outlen, line, n);
	freezero(line, n);
	c->out = p;
	c->outlen += n;
}

static void
conn_close(struct conn *c)
{
	event_del(&c->ev);
	if (c->tls != NULL) {
		(void)tls_close(c->tls);
		tls_free(c->tls);
	}
	close(c->fd);
	LIST_REMOVE(c, entry);
	freezero(c->out, c->outlen);
	free(c);
}

static void
conn_fail(struct conn *c, const char *fmt, ...)
{
	va_list	ap;

	if (lg.first_error[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(lg.first_error, sizeof(lg.first_error), fmt, ap);
		va_end(ap);
	}
	lg.fail_steps[c->step]++;
	if (c->step == S_IDLING) {
		lg.idling--;
		lg.dropped++;
	} else
		lg.active--;
	lg.failed++;
	conn_close(c);
	launch();
	finish();
}

static void
conn_ok(struct conn *c)
{
	uint64_t	now = now_ns();

	lg.lat_session[lg.nsamples] = now - c->t0;
	lg.lat_login[lg.nsamples] = c->t_login - c->t0;
	lg.nsamples++;
	if (lg.mode == M_FETCH) {
		lg.fetch_seconds = (c->t_fetch1 - c->t_fetch0) / 1e9;
		lg.fetched = c->lit_bytes;
	}
	lg.active--;
	lg.ok++;
	conn_close(c);
	launch();
	finish();
}

/* The whole session is measured from the connect() call. */
static void
conn_start(void)
{
	struct conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		err(1, "calloc");
	LIST_INSERT_HEAD(&lg.conns, c, entry);
	lg.started++;
	lg.active++;
	c->t0 = now_ns();
	c->step = S_CONNECT;
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1) {
		c->fd = -1;
		event_assign(&c->ev, base, -1, 0, conn_cb, c);
		conn_fail(c, "socket: %s", strerror(errno));
		return;
	}
	if (sock_setup(c->fd) == -1)
		err(1, "sock_setup");
	c->want = EV_WRITE;
	event_assign(&c->ev, base, c->fd, EV_WRITE | EV_PERSIST, conn_cb, c);
	if (connect(c->fd, (struct sockaddr *)&lg.sin, sizeof(lg.sin)) == -1 &&
	    errno != EINPROGRESS) {
		conn_fail(c, "connect: %s", strerror(errno));
		return;
	}
	event_add(&c->ev, NULL);
}

static void
launch(void)
{
	static int	running;

	/* A session that fails at once calls back here: no recursion. */
	if (running)
		return;
	running = 1;
	while (!lg.stopped && !lg.timed_out && lg.started < lg.n &&
	    lg.active < lg.parallel)
		conn_start();
	running = 0;
}

static void
print_stats(const char *name, uint64_t *v, unsigned int n, int comma)
{
	uint64_t	sum = 0;
	unsigned int	i;

	printf("  \"%s\": {\"n\": %u", name, n);
	if (n > 0) {
		for (i = 0; i < n; i++)
			sum += v[i];
		/* Nearest rank on the sorted samples. */
		printf(", \"min\": %.3f, \"median\": %.3f, \"p90\": %.3f, "
		    "\"p99\": %.3f, \"max\": %.3f, \"mean\": %.3f",
		    v[0] / 1e6, v[(n + 1) / 2 - 1] / 1e6,
		    v[(9 * n + 9) / 10 - 1] / 1e6,
		    v[(99 * n + 99) / 100 - 1] / 1e6, v[n - 1] / 1e6,
		    (double)sum / n / 1e6);
	}
	printf("}%s\n", comma ? "," : "");
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

static void
json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void
report(void)
{
	static const char	*modes[] = { "login", "concurrent-login",
				    "fetch", "idle" };
	static const char	*protos[] = { "imap", "pop", "smtp" };
	unsigned int		 i, first = 1;

	qsort(lg.lat_session, lg.nsamples, sizeof(uint64_t), cmp_u64);
	qsort(lg.lat_login, lg.nsamples, sizeof(uint64_t), cmp_u64);
	printf("{\n  \"mode\": \"%s\", \"proto\": \"%s\", \"auth\": \"%s\", "
	    "\"tls\": %s,\n", modes[lg.mode], protos[lg.proto],
	    lg.auth == A_LOGIN ? "login" : "xoauth2",
	    lg.tlscfg != NULL ? "true" : "false");
	printf("  \"n\": %u, \"started\": %u, \"ok\": %u, \"failed\": %u, "
	    "\"timed_out\": %s, \"elapsed_s\": %.3f,\n", lg.n, lg.started,
	    lg.ok, lg.failed, lg.timed_out ? "true" : "false",
	    (now_ns() - lg.t_start) / 1e9);
	printf("  \"failed_at\": {");
	for (i = 0; i <= S_LOGOUT; i++) {
		if (lg.fail_steps[i] == 0)
			continue;
		printf("%s\"%s\": %u", first ? "" : ", ", step_names[i],
		    lg.fail_steps[i]);
		first = 0;
	}
	printf("},\n  \"first_error\": ");
	json_string(lg.first_error);
	printf(", \"cipher\": ");
	json_string(lg.cipher);
	printf(",\n");
	if (lg.mode == M_IDLE)
		printf("  \"idle\": {\"established\": %u, \"still_idle\": %u, "
		    "\"dropped\": %u, \"logout_ok\": %u},\n",
		    lg.reached_idle, lg.still_idle, lg.dropped, lg.ok);
	if (lg.mode == M_FETCH)
		printf("  \"fetch\": {\"bytes\": %" PRIu64 ", \"seconds\": "
		    "%.6f, \"mb_per_s\": %.1f},\n", lg.fetched,
		    lg.fetch_seconds, lg.fetch_seconds > 0 ?
		    lg.fetched / lg.fetch_seconds / 1e6 : 0.0);
	print_stats("login_ms", lg.lat_login, lg.nsamples, 1);
	print_stats("session_ms", lg.lat_session, lg.nsamples, lg.samples);
	if (lg.samples) {
		printf("  \"samples_ms\": [");
		for (i = 0; i < lg.nsamples; i++)
			printf("%s%.3f", i ? ", " : "", lg.lat_session[i] / 1e6);
		printf("]\n");
	}
	printf("}\n");
	fflush(stdout);
}

static void
finish(void)
{
	if (lg.mode == M_IDLE && !lg.stopped && !lg.timed_out) {
		/* All up (or failed): tell whoever waits, then hold. */
		if (lg.ready != NULL && lg.active == 0 && lg.started == lg.n) {
			char	text[128];

			snprintf(text, sizeof(text), "{\"idling\": %u, "
			    "\"failed\": %u, \"elapsed_s\": %.3f}\n",
			    lg.idling, lg.failed,
			    (now_ns() - lg.t_start) / 1e9);
			if (write_file_atomic(lg.ready, text) == -1)
				warn("%s", lg.ready);
			lg.ready = NULL;
		}
		return;
	}
	if (!LIST_EMPTY(&lg.conns) && !lg.timed_out)
		return;
	if (lg.started < lg.n && !lg.stopped && !lg.timed_out)
		return;
	event_base_loopbreak(base);
}

/* Quote for an IMAP quoted string (RFC 9051): escape \ and ". */
static char *
imap_quote(const char *s)
{
	char	*q, *p;

	if ((q = malloc(2 * strlen(s) + 3)) == NULL)
		err(1, "malloc");
	p = q;
	*p++ = '"';
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	*p++ = '"';
	*p = '\0';
	return (q);
}

static char *
sasl_b64(const char *a, size_t alen)
{
	char	*b;

	if ((b = malloc(4 * ((alen + 2) / 3) + 1)) == NULL)
		err(1, "malloc");
	b64_encode(b, a, alen);
	return (b);
}

/* The login command(s), built once: XOAUTH2 or the plain credentials. */
static void
build_login(void)
{
	char	*raw, *b64, *qu, *qp;
	int	 n;

	if (lg.auth == A_XOAUTH2) {
		n = asprintf(&raw, "user=%s\001auth=Bearer %s\001\001",
		    lg.user, lg.secret);
		if (n < 0)
			err(1, "asprintf");
		b64 = sasl_b64(raw, n);
		freezero(raw, n);
		if (lg.proto == P_IMAP)
			n = asprintf(&lg.login_line,
			    "a AUTHENTICATE XOAUTH2 %s\r\n", b64);
		else
			n = asprintf(&lg.login_line, "AUTH XOAUTH2 %s\r\n",
			    b64);
		freezero(b64, strlen(b64));
	} else if (lg.proto == P_IMAP) {
		qu = imap_quote(lg.user);
		qp = imap_quote(lg.secret);
		n = asprintf(&lg.login_line, "a LOGIN %s %s\r\n", qu, qp);
		free(qu);
		freezero(qp, strlen(qp));
	} else if (lg.proto == P_POP) {
		n = asprintf(&lg.login_line, "PASS %s\r\n", lg.secret);
	} else {
		n = asprintf(&raw, "%c%s%c%s", 0, lg.user, 0, lg.secret);
		if (n < 0)
			err(1, "asprintf");
		b64 = sasl_b64(raw, n);
		freezero(raw, n);
		n = asprintf(&lg.login_line, "AUTH PLAIN %s\r\n", b64);
		freezero(b64, strlen(b64));
	}
	if (n < 0)
		err(1, "asprintf");
}

static int
tagged(const char *line, const char *tag, const char *status)
{
	size_t	tl = strlen(tag);

	return (strncmp(line, tag, tl) == 0 && line[tl] == ' ' &&
	    word_is(line + tl + 1, status));
}

/* After a successful login: what the mode does next. */
static void
logged_in(struct conn *c)
{
	const char	*v, *ci;

	c->t_login = now_ns();
	if (lg.cipher[0] == '\0' && c->tls != NULL &&
	    (v = tls_conn_version(c->tls)) != NULL &&
	    (ci = tls_conn_cipher(c->tls)) != NULL)
		snprintf(lg.cipher, sizeof(lg.cipher), "%s %s", v, ci);
	switch (lg.mode) {
	case M_FETCH:
		send_line(c, "s SELECT INBOX\r\n");
		c->step = S_SELECT;
		break;
	case M_IDLE:
		send_line(c, "i IDLE\r\n");
		c->step = S_IDLE_START;
		break;
	default:
		send_line(c, lg.proto == P_IMAP ? "z LOGOUT\r\n" :
		    "QUIT\r\n");
		c->step = S_LOGOUT;
		break;
	}
}

/* 0: go on, -1: the session failed (already closed), 1: done. */
static int
imap_line(struct conn *c, const char *line)
{
	switch (c->step) {
	case S_GREET:
		if (strncmp(line, "* OK", 4) != 0)
			goto bad;
		send_line(c, "%s", lg.login_line);
		c->step = S_LOGIN;
		return (0);
	case S_LOGIN:
		if (line[0] == '*')
			return (0);
		if (line[0] == '+') {
			/* A failure challenge: answer empty, get the NO. */
			send_line(c, "\r\n");
			return (0);
		}
		if (!tagged(line, "a", "OK"))
			goto bad;
		logged_in(c);
		return (0);
	case S_SELECT:
		if (line[0] == '*')
			return (0);
		if (!tagged(line, "s", "OK"))
			goto bad;
		c->t_fetch0 = now_ns();
		send_line(c, "f FETCH 1 BODY[]<0.%" PRIu64 ">\r\n",
		    lg.fetch_bytes);
		c->step = S_FETCH;
		return (0);
	case S_FETCH:
		if (line[0] == '*' || line[0] == ')')
			return (0);
		if (!tagged(line, "f", "OK"))
			goto bad;
		c->t_fetch1 = now_ns();
		if (c->lit_bytes != lg.fetch_bytes) {
			conn_fail(c, "fetch: got %" PRIu64 " bytes, asked %"
			    PRIu64, c->lit_bytes, lg.fetch_bytes);
			return (-1);
		}
		send_line(c, "z LOGOUT\r\n");
		c->step = S_LOGOUT;
		return (0);
	case S_IDLE_START:
		if (line[0] == '*')
			return (0);
		if (line[0] != '+')
			goto bad;
		c->step = S_IDLING;
		lg.reached_idle++;
		lg.active--;
		lg.idling++;
		launch();
		finish();
		return (0);
	case S_IDLING:
		return (0);
	case S_IDLE_DONE:
		if (line[0] == '*')
			return (0);
		if (!tagged(line, "i", "OK"))
			goto bad;
		send_line(c, "z LOGOUT\r\n");
		c->step = S_LOGOUT;
		return (0);
	case S_LOGOUT:
		if (strncmp(line, "* BYE", 5) == 0)
			c->saw_bye = 1;
		if (line[0] == '*')
			return (0);
		if (!tagged(line, "z", "OK"))
			goto bad;
		return (1);
	default:
		goto bad;
	}
 bad:
	conn_fail(c, "imap %s: %.200s", step_names[c->step], line);
	return (-1);
}

static int
pop_line(struct conn *c, const char *line)
{
	int	ok = strncmp(line, "+OK", 3) == 0;

	switch (c->step) {
	case S_GREET:
		if (!ok)
			goto bad;
		if (lg.auth == A_LOGIN) {
			send_line(c, "USER %s\r\n", lg.user);
			c->step = S_USER;
		} else {
			send_line(c, "%s", lg.login_line);
			c->step = S_LOGIN;
		}
		return (0);
	case S_USER:
		if (!ok)
			goto bad;
		send_line(c, "%s", lg.login_line);
		c->step = S_LOGIN;
		return (0);
	case S_LOGIN:
		if (strncmp(line, "+ ", 2) == 0 || strcmp(line, "+") == 0) {
			send_line(c, "\r\n");
			return (0);
		}
		if (!ok)
			goto bad;
		logged_in(c);
		return (0);
	case S_LOGOUT:
		if (!ok)
			goto bad;
		return (1);
	default:
		goto bad;
	}
 bad:
	conn_fail(c, "pop %s: %.200s", step_names[c->step], line);
	return (-1);
}

static int
smtp_line(struct conn *c, const char *line)
{
	int	code;

	if (strlen(line) < 3 || (line[3] != ' ' && line[3] != '-' &&
	    line[3] != '\0'))
		goto bad;
	code = atoi(line);
	if (line[3] == '-')	/* continued reply: wait for the last line */
		return (0);
	switch (c->step) {
	case S_GREET:
		if (code != 220)
			goto bad;
		send_line(c, "EHLO bench.invalid\r\n");
		c->step = S_EHLO;
		return (0);
	case S_EHLO:
		if (code != 250)
			goto bad;
		send_line(c, "%s", lg.login_line);
		c->step = S_LOGIN;
		return (0);
	case S_LOGIN:
		if (code == 334) {
			send_line(c, "\r\n");
			return (0);
		}
		if (code != 235)
			goto bad;
		logged_in(c);
		return (0);
	case S_LOGOUT:
		if (code != 221)
			goto bad;
		return (1);
	default:
		goto bad;
	}
 bad:
	conn_fail(c, "smtp %s: %.200s", step_names[c->step], line);
	return (-1);
}

/* An IMAP line announcing a literal: "... {N}". */
static uint64_t
literal_size(const char *line)
{
	const char	*p;
	size_t		 len = strlen(line);

	if (lg.proto != P_IMAP || len < 3 || line[len - 1] != '}')
		return (0);
	for (p = line + len - 2; p > line && *p >= '0' && *p <= '9'; p--)
		;
	if (*p != '{' || p == line + len - 2)
		return (0);
	return (strtoull(p + 1, NULL, 10));
}

/* Consume bytes read: skip literals, answer lines.  As for imap_line. */
static int
feed(struct conn *c, const char *buf, size_t len)
{
	const char	*nl;
	size_t		 n;
	int		 r;

	while (len > 0) {
		if (c->lit_left > 0) {
			n = len < c->lit_left ? len : c->lit_left;
			c->lit_left -= n;
			c->lit_bytes += n;
			buf += n;
			len -= n;
			continue;
		}
		nl = memchr(buf, '\n', len);
		n = nl != NULL ? (size_t)(nl - buf) + 1 : len;
		if (c->inlen + n >= sizeof(c->in)) {
			conn_fail(c, "%s: reply line too long",
			    step_names[c->step]);
			return (-1);
		}
		memcpy(c->in + c->inlen, buf, n);
		c->inlen += n;
		buf += n;
		len -= n;
		if (nl == NULL)
			break;
		c->in[c->inlen - 1] = '\0';
		if (c->inlen >= 2 && c->in[c->inlen - 2] == '\r')
			c->in[c->inlen - 2] = '\0';
		c->inlen = 0;
		c->lit_left = literal_size(c->in);
		if (lg.proto == P_IMAP)
			r = imap_line(c, c->in);
		else if (lg.proto == P_POP)
			r = pop_line(c, c->in);
		else
			r = smtp_line(c, c->in);
		if (r != 0)
			return (r);
	}
	return (0);
}

static ssize_t
io_read(struct conn *c, void *buf, size_t len)
{
	ssize_t	n;

	if (c->tls != NULL)
		return (tls_read(c->tls, buf, len));
	if ((n = read(c->fd, buf, len)) == -1 &&
	    (errno == EAGAIN || errno == EINTR))
		return (TLS_WANT_POLLIN);
	return (n);
}

static ssize_t
io_write(struct conn *c, const void *buf, size_t len)
{
	ssize_t	n;

	if (c->tls != NULL)
		return (tls_write(c->tls, buf, len));
	if ((n = write(c->fd, buf, len)) == -1 &&
	    (errno == EAGAIN || errno == EINTR))
		return (TLS_WANT_POLLOUT);
	return (n);
}

static const char *
io_error(struct conn *c)
{
	const char	*e;

	if (c->tls != NULL && (e = tls_error(c->tls)) != NULL)
		return (e);
	return (errno != 0 ? strerror(errno) : "connection closed");
}

static void
conn_run(struct conn *c)
{
	ssize_t	n;
	int	r;

	for (;;) {
		if (c->outoff < c->outlen) {
			errno = 0;
			n = io_write(c, c->out + c->outoff,
			    c->outlen - c->outoff);
			if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) {
				conn_want(c, n == TLS_WANT_POLLIN ? EV_READ :
				    EV_WRITE);
				return;
			}
			if (n < 0) {
				conn_fail(c, "%s: write: %s",
				    step_names[c->step], io_error(c));
				return;
			}
			c->outoff += n;
			if (c->outoff == c->outlen) {
				freezero(c->out, c->outlen);
				c->out = NULL;
				c->outlen = c->outoff = 0;
			}
			continue;
		}
		errno = 0;
		n = io_read(c, scratch, READ_CHUNK);
		if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) {
			conn_want(c, n == TLS_WANT_POLLIN ? EV_READ : EV_WRITE);
			return;
		}
		if (n == 0 && c->step == S_LOGOUT && c->saw_bye) {
			conn_ok(c);
			return;
		}
		if (n <= 0) {
			conn_fail(c, "%s: read: %s", step_names[c->step],
			    n == 0 ? "connection closed" : io_error(c));
			return;
		}
		if ((r = feed(c, scratch, n)) == -1)
			return;
		if (r == 1) {
			conn_ok(c);
			return;
		}
	}
}

static void
conn_connected(struct conn *c)
{
	int		soerr = 0;
	socklen_t	len = sizeof(soerr);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
		soerr = errno;
	if (soerr != 0) {
		conn_fail(c, "connect: %s", strerror(soerr));
		return;
	}
	c->step = S_GREET;
	if (lg.tlscfg != NULL) {
		if ((c->tls = tls_client()) == NULL)
			err(1, "tls_client");
		if (tls_configure(c->tls, lg.tlscfg) == -1 ||
		    tls_connect_socket(c->tls, c->fd, lg.servername) == -1) {
			conn_fail(c, "tls: %s", tls_error(c->tls));
			return;
		}
	}
	conn_want(c, EV_READ);
	conn_run(c);
}

static void
conn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	if (c->step == S_CONNECT)
		conn_connected(c);
	else
		conn_run(c);
}

/* Idle mode: count who is still idling, then end every session. */
static void
stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct timeval	 tv = { STOP_GRACE, 0 };
	struct conn	*c, *next;

	if (lg.mode != M_IDLE || lg.stopped) {
		if (!lg.timed_out) {
			lg.timed_out = 1;
			event_base_loopbreak(base);
		}
		return;
	}
	lg.stopped = 1;
	lg.still_idle = lg.idling;
	LIST_FOREACH_SAFE(c, &lg.conns, entry, next) {
		if (c->step != S_IDLING)
			continue;
		lg.idling--;
		lg.active++;
		c->step = S_IDLE_DONE;
		send_line(c, "DONE\r\n");
		conn_run(c);
	}
	evtimer_del(&timeout_ev);
	evtimer_add(&timeout_ev, &tv);
	finish();
}

static void
timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	lg.timed_out = 1;
	event_base_loopbreak(base);
}

static unsigned int
num_arg(const char *s, long long min, long long max)
{
	const char	*errstr;
	long long	 n;

	n = strtonum(s, min, max, &errstr);
	if (errstr != NULL)
		errx(2, "%s: %s", s, errstr);
	return ((unsigned int)n);
}

static void
usage(void)
{
	fprintf(stderr, "usage: loadgen -m login|concurrent-login|fetch|idle "
	    "[-P imap|pop|smtp] [-a login|xoauth2]\n"
	    "\t-p port [-H addr] [-C cafile [-N servername]] [-u user] "
	    "[-n count]\n\t[-c parallel] [-b bytes] [-t seconds] "
	    "[-r readyfile] [-s]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct event	 sigs[3];
	const int	 signos[3] = { SIGUSR1, SIGTERM, SIGINT };
	struct timeval	 tv;
	struct conn	*c;
	const char	*host = "127.0.0.1", *cafile = NULL, *errstr;
	unsigned int	 parallel = 0, i, n_set = 0;
	int		 ch, port = -1;
	long		 nofile;

	lg.n = 1;
	lg.timeout = 120;
	lg.fetch_bytes = 1024 * 1024;
	lg.user = "bench@example.com";
	lg.servername = "localhost";
	while ((ch = getopt(argc, argv, "a:b:c:C:H:m:n:N:p:P:r:st:u:")) != -1) {
		switch (ch) {
		case 'a':
			if (strcmp(optarg, "login") == 0)
				lg.auth = A_LOGIN;
			else if (strcmp(optarg, "xoauth2") == 0)
				lg.auth = A_XOAUTH2;
			else
				usage();
			break;
		case 'b':
			lg.fetch_bytes = strtonum(optarg, 1, 1LL << 40,
			    &errstr);
			if (errstr != NULL)
				errx(2, "-b %s: %s", optarg, errstr);
			break;
		case 'c':
			parallel = num_arg(optarg, 1, 1000000);
			break;
		case 'C':
			cafile = optarg;
			break;
		case 'H':
			host = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "login") == 0)
				lg.mode = M_LOGIN;
			else if (strcmp(optarg, "concurrent-login") == 0)
				lg.mode = M_CONCURRENT;
			else if (strcmp(optarg, "fetch") == 0)
				lg.mode = M_FETCH;
			else if (strcmp(optarg, "idle") == 0)
				lg.mode = M_IDLE;
			else
				usage();
			break;
		case 'n':
			lg.n = num_arg(optarg, 1, 1000000);
			n_set = 1;
			break;
		case 'N':
			lg.servername = optarg;
			break;
		case 'p':
			port = (int)num_arg(optarg, 1, 65535);
			break;
		case 'P':
			if (strcmp(optarg, "imap") == 0)
				lg.proto = P_IMAP;
			else if (strcmp(optarg, "pop") == 0)
				lg.proto = P_POP;
			else if (strcmp(optarg, "smtp") == 0)
				lg.proto = P_SMTP;
			else
				usage();
			break;
		case 'r':
			lg.ready = optarg;
			break;
		case 's':
			lg.samples = 1;
			break;
		case 't':
			lg.timeout = num_arg(optarg, 1, 86400);
			break;
		case 'u':
			lg.user = optarg;
			break;
		default:
			usage();
		}
	}
	if (port == -1 || optind != argc)
		usage();
	if (lg.proto != P_IMAP && (lg.mode == M_FETCH || lg.mode == M_IDLE))
		errx(2, "fetch and idle are IMAP modes");
	if (lg.mode == M_FETCH && n_set && lg.n != 1)
		errx(2, "fetch runs one session");
	if ((lg.secret = getenv("LOADGEN_SECRET")) == NULL ||
	    *lg.secret == '\0')
		errx(2, "LOADGEN_SECRET (password or token) is not set");
	switch (lg.mode) {
	case M_LOGIN:
	case M_FETCH:
		lg.parallel = parallel ? parallel : 1;
		break;
	case M_CONCURRENT:
		lg.parallel = lg.n;
		break;
	case M_IDLE:
		lg.parallel = parallel ? parallel : 100;
		break;
	}
	memset(&lg.sin, 0, sizeof(lg.sin));
	lg.sin.sin_family = AF_INET;
	lg.sin.sin_port = htons(port);
	if (inet_pton(AF_INET, host, &lg.sin.sin_addr) != 1)
		errx(2, "-H %s: not an IPv4 address", host);

	signal(SIGPIPE, SIG_IGN);
	nofile = raise_nofile();
	if (lg.mode == M_IDLE && nofile != -1 &&
	    (unsigned long)nofile < lg.n + 16UL)
		warnx("RLIMIT_NOFILE %ld is below %u sessions", nofile, lg.n);
	if (cafile != NULL) {
		if ((lg.tlscfg = tls_config_new()) == NULL)
			errx(1, "tls_config_new");
		if (tls_config_set_ca_file(lg.tlscfg, cafile) == -1)
			errx(1, "%s: %s", cafile,
			    tls_config_error(lg.tlscfg));
	}
	build_login();
	if ((scratch = malloc(READ_CHUNK)) == NULL ||
	    (lg.lat_session = calloc(lg.n, sizeof(uint64_t))) == NULL ||
	    (lg.lat_login = calloc(lg.n, sizeof(uint64_t))) == NULL)
		err(1, "malloc");
	LIST_INIT(&lg.conns);

	if ((base = event_base_new()) == NULL)
		errx(1, "event_base_new");
	for (i = 0; i < 3; i++) {
		evsignal_assign(&sigs[i], base, signos[i], stop_cb, NULL);
		evsignal_add(&sigs[i], NULL);
	}
	tv.tv_sec = lg.timeout;
	tv.tv_usec = 0;
	evtimer_assign(&timeout_ev, base, timeout_cb, NULL);
	evtimer_add(&timeout_ev, &tv);

	lg.t_start = now_ns();
	launch();
	finish();
	event_base_dispatch(base);

	/* Whatever is still open did not finish in time. */
	while ((c = LIST_FIRST(&lg.conns)) != NULL) {
		lg.fail_steps[c->step]++;
		lg.failed++;
		if (lg.first_error[0] == '\0')
			snprintf(lg.first_error, sizeof(lg.first_error),
			    "%s: timed out", step_names[c->step]);
		conn_close(c);
	}
	report();
	freezero(lg.login_line, strlen(lg.login_line));
	return (lg.failed == 0 && lg.ok == lg.n ? 0 : 1);
}
