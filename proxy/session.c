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
 * A client session: the client connection, the upstream connection, the
 * pre-login phase driven by the protocol module (struct proto_ops), then
 * a byte relay with back-pressure.  Sessions are freed from a timer, never
 * from inside an io callback, so an io never outlives its memory.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/tree.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <event.h>
#include <malloc.h>
#ifdef __GLIBC__
#endif
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cidr.h"
#include "config.h"
#include "log.h"
#include "io.h"
#include "pool.h"
#include "proxy.h"
#include "proxy_metrics.h"
#include "proxyhdr.h"
#include "session.h"
#include "starttls.h"
#include "upstream.h"

#define SESSION_LINGER		10	/* seconds to flush when closing */
#define SESSION_IDLE_DEFAULT	60
/*
 * With server_starttls the server speaks first, in clear: a server
 * silent for this long is most likely one that expects TLS at once.
 */
#define SESSION_GREETING_TIMEOUT 10
#define SESSION_LOGIN_DEFAULT	120
#define TRACE_MAX		512
#define SESSION_RELEASE_MS	200	/* idle this long: memory released */

enum session_state {
	S_PRELOGIN,
	S_RELAY,
	S_CLOSING
};

struct session {
	RB_ENTRY(session)	 node;
	TAILQ_ENTRY(session)	 sentry;	/* in srv->sessions */
	uint32_t		 id;
	struct pserver		*srv;		/* NULL once detached */
	char			*srvname;
	char			*server_address;
	uint16_t		 server_port;
	const struct proto_ops	*ops;
	void			*proto;
	enum session_state	 state;
	int			 counted;	/* in srv->nsessions */
	struct io		 client;
	struct local_tls	*client_tls;	/* held while client is TLS */
	struct io		 server;
	int			 server_up;	/* the module may talk to it */
	unsigned int		 tlsflags;	/* SESSION_* of starttls.h */
	void			(*client_tls_done)(void *, int,
				    const char *);
	void			(*server_tls_done)(void *, int,
				    const char *);
	struct upstream_req	*upreq;
	int			 waiting_token;
	int			 audit_due;	/* a login not yet audited */
	unsigned int		 idle;		/* seconds */
	struct event		 timer;		/* idle, then linger */
	struct event		 greet;		/* server_starttls greeting */
	int			 greetwait;	/* greet is armed */
	unsigned int		 login_timeout;	/* seconds */
	struct event		 deadline;	/* login_timeout after accept */
	struct timespec		 start;
	char			 addr[64];	/* client IP */
	char			 peer[64 + 8 + NI_MAXSERV]; /* IP and port */
	char			 via[64 + 8 + NI_MAXSERV]; /* PROXY sender */
	int			 fd;		/* until the client io has it */
	uint8_t			*hdr;		/* PROXY header so far */
	size_t			 hdrlen;
	struct event		 hdrev;
	char			*account;
	char			*why;
	uint64_t		 server_in;	/* of earlier connections */
	uint64_t		 server_out;
	int			 busy;
	int			 again;
	int			 in_proto;	/* inside a module callback */
};

RB_HEAD(session_tree, session);

static int	 session_cmp(struct session *, struct session *);

RB_PROTOTYPE(session_tree, session, node, session_cmp);
RB_GENERATE(session_tree, session, node, session_cmp);

static int
session_cmp(struct session *a, struct session *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

static struct session_tree	 sessions = RB_INITIALIZER(&sessions);
static uint32_t			 next_id = 1;
static unsigned int		 nopen;
static struct proxy_stats	 stats;		/* of closed sessions too */

static void	 session_client_cb(struct io *, enum io_event, void *);
static void	 session_server_cb(struct io *, enum io_event, void *);
static void	 session_timer(int, short, void *);
static void	 session_deadline(int, short, void *);
static void	 session_process(struct session *);
static void	 session_upstream(int, const char *, void *);
static void	 session_free(struct session *);
static void	 session_start(struct session *);
static void	 session_hdr_read(int, short, void *);
static void	 session_hdr_drop(struct session *, const char *);
static void	 session_greet_timeout(int, short, void *);
static void	 session_release_later(void);
static int	 session_pooled(struct session *);

static struct session *
session_find(uint32_t id)
{
	struct session	key;

	key.id = id;
	return RB_FIND(session_tree, &sessions, &key);
}

/*
 * Calls into the protocol module are bracketed so that a session closed
 * from inside one frees the module (and wipes its credentials) only once
 * the module has returned.
 */
static void
proto_enter(struct session *s)
{
	s->in_proto++;
}

static void
proto_leave(struct session *s)
{
	/* After login the module has nothing more to do: free it too. */
	if (--s->in_proto == 0 && s->state != S_PRELOGIN &&
	    s->proto != NULL) {
		s->ops->free(s->proto);
		s->proto = NULL;
	}
}

uint32_t
session_id(struct session *s)
{
	return s->id;
}

int
session_tracing(void)
{
	return log_getverbose() > 1;
}

/* Free from the event loop, outside any io callback. */
static void
session_free_soon(struct session *s)
{
	struct timeval	tv = { 0, 0 };

	evtimer_del(&s->timer);
	evtimer_add(&s->timer, &tv);
}

/* Both sides closed already: nothing will call back, free now. */
static void
session_free_soon_if_done(struct session *s)
{
	if (s->state == S_CLOSING &&
	    s->client.state != IO_S_UP && s->client.state != IO_S_HANDSHAKE &&
	    s->client.state != IO_S_PRETLS &&
	    s->server.state != IO_S_UP && s->server.state != IO_S_HANDSHAKE &&
	    s->server.state != IO_S_PRETLS)
		session_free_soon(s);
}

static void
session_idle_arm(struct session *s)
{
	struct timeval	tv = { s->idle, 0 };

	if (s->state == S_PRELOGIN && !s->waiting_token)
		evtimer_add(&s->timer, &tv);
	else
		evtimer_del(&s->timer);
}

static void
peer_string(struct session *s, const struct sockaddr *sa, socklen_t salen)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	struct sockaddr_in	 sin;
	char			 port[NI_MAXSERV];

	/* A v4 client on a dual-stack listener is a v4 client. */
	if (sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = sin6->sin6_port;
		memcpy(&sin.sin_addr, &sin6->sin6_addr.s6_addr[12], 4);
		sa = (const struct sockaddr *)&sin;
		salen = sizeof(sin);
	}
	if (getnameinfo(sa, salen, s->addr, sizeof(s->addr), port,
	    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		strlcpy(s->addr, "?", sizeof(s->addr));
		strlcpy(port, "?", sizeof(port));
	}
	if (sa->sa_family == AF_INET6)
		snprintf(s->peer, sizeof(s->peer), "[%s]:%s", s->addr, port);
	else
		snprintf(s->peer, sizeof(s->peer), "%s:%s", s->addr, port);
}

/* Is a new client over one of the server's limits?  Fills reason. */
static int
over_limit(struct pserver *p, struct session *s, char *reason, size_t len)
{
	struct session	*o;
	unsigned int	 n = 0;

	if (p->conf->max_connections > 0 &&
	    p->nsessions >= p->conf->max_connections) {
		snprintf(reason, len, "%.128s rejecting new connection above "
		    "max_connections limit of %u", p->name,
		    p->conf->max_connections);
		return 1;
	}
	if (p->conf->max_connections_per_address == 0)
		return 0;
	TAILQ_FOREACH(o, &p->sessions, sentry)
		if (o->counted && strcmp(o->addr, s->addr) == 0)
			n++;
	if (n >= p->conf->max_connections_per_address) {
		snprintf(reason, len, "%.128s rejecting new connection from "
		    "%s above max_connections_per_address limit of %u", p->name,
		    s->addr, p->conf->max_connections_per_address);
		return 1;
	}
	return 0;
}

void
session_accept(struct pserver *p, int fd, struct sockaddr *sa,
    socklen_t salen)
{
	struct session	*s;
	struct timeval	 tv = { PROXYHDR_TIMEOUT, 0 };

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->srvname = strdup(p->name)) == NULL ||
	    (s->server_address = strdup(p->conf->server_address ?
	    p->conf->server_address : "")) == NULL) {
		log_warn("session: accept");
		if (s != NULL)
			free(s->srvname);
		free(s);
		close(fd);
		return;
	}
	do {
		s->id = next_id++;
	} while (s->id == 0 || session_find(s->id) != NULL);
	RB_INSERT(session_tree, &sessions, s);
	nopen++;
	stats.sessions_total++;
	proxy_metrics_session(p->name, p->ops->proto);
	clock_gettime(CLOCK_MONOTONIC, &s->start);
	peer_string(s, sa, salen);
	s->fd = fd;
	s->srv = p;
	s->ops = p->ops;
	s->server_port = p->conf->server_port;
	s->state = S_PRELOGIN;
	s->idle = p->conf->idle_timeout ? p->conf->idle_timeout :
	    proxy_conf->idle_timeout ? proxy_conf->idle_timeout :
	    SESSION_IDLE_DEFAULT;
	s->server.state = IO_S_IDLE;
	evtimer_set(&s->timer, session_timer, s);
	evtimer_set(&s->greet, session_greet_timeout, s);
	/* However busy the client keeps it, login has a deadline. */
	s->login_timeout = p->conf->login_timeout ? p->conf->login_timeout :
	    SESSION_LOGIN_DEFAULT;
	tv.tv_sec = s->login_timeout;
	evtimer_set(&s->deadline, session_deadline, s);
	evtimer_add(&s->deadline, &tv);
	tv.tv_sec = PROXYHDR_TIMEOUT;
	TAILQ_INSERT_TAIL(&p->sessions, s, sentry);

	if (!p->conf->proxy_protocol) {
		session_start(s);
		return;
	}
	/* No list means nobody may send us a header. */
	if (p->conf->proxy_protocol_trusted == NULL ||
	    !cidr_list_match(p->conf->proxy_protocol_trusted, sa)) {
		log_notice("session %u: %s connection from %s refused: not "
		    "in proxy_protocol_trusted", s->id, p->name, s->peer);
		session_hdr_drop(s, "PROXY header from an untrusted peer");
		return;
	}
	strlcpy(s->via, s->peer, sizeof(s->via));
	if ((s->hdr = malloc(PROXYHDR_MAX)) == NULL) {
		log_warn("session %u", s->id);
		session_hdr_drop(s, "out of memory");
		return;
	}
	event_set(&s->hdrev, fd, EV_READ | EV_PERSIST, session_hdr_read, s);
	event_add(&s->hdrev, NULL);
	evtimer_add(&s->timer, &tv);
}

/* Refuse a connection before its client io exists: no bye line. */
static void
session_hdr_drop(struct session *s, const char *why)
{
	stats.connections_refused++;
	if (s->hdr != NULL) {
		event_del(&s->hdrev);
		freezero(s->hdr, PROXYHDR_MAX);
		s->hdr = NULL;
	}
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
	s->state = S_CLOSING;
	s->why = strdup(why);
	session_free_soon(s);
}

/*
 * The PROXY header, read without taking a byte beyond it: what follows
 * may be a TLS ClientHello that libtls must read from the socket.  Each
 * peek takes only bytes the parser says belong to the header.
 */
static void
session_hdr_read(int fd, short event, void *arg)
{
	struct session		*s = arg;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	const char		*err = NULL;
	ssize_t			 n, hlen;

	n = recv(fd, s->hdr + s->hdrlen, PROXYHDR_MAX - s->hdrlen, MSG_PEEK);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_warn("session %u: %s: PROXY header", s->id, s->via);
		session_hdr_drop(s, "PROXY header: read error");
		return;
	}
	if (n == 0) {
		log_notice("session %u: %s: closed before its PROXY header "
		    "ended", s->id, s->via);
		session_hdr_drop(s, "no PROXY header");
		return;
	}
	hlen = proxyhdr_parse(s->hdr, s->hdrlen + n, &ss, &sslen, &err);
	if (hlen == -1) {
		log_notice("session %u: %s: %s, connection refused", s->id,
		    s->via, err);
		session_hdr_drop(s, err);
		return;
	}
	/* Take for real what the peek showed, up to the header's end. */
	if (hlen > 0)
		n = hlen - s->hdrlen;
	if (recv(fd, s->hdr + s->hdrlen, n, 0) != n) {
		log_warnx("session %u: %s: PROXY header: short read", s->id,
		    s->via);
		session_hdr_drop(s, "PROXY header: read error");
		return;
	}
	s->hdrlen += n;
	if (hlen == 0) {
		if (s->hdrlen >= PROXYHDR_MAX) {
			log_notice("session %u: %s: PROXY header too long, "
			    "connection refused", s->id, s->via);
			session_hdr_drop(s, "PROXY header too long");
		}
		return;
	}
	event_del(&s->hdrev);
	freezero(s->hdr, PROXYHDR_MAX);
	s->hdr = NULL;
	evtimer_del(&s->timer);
	if (sslen > 0)
		peer_string(s, (struct sockaddr *)&ss, sslen);
	log_info("session %u: %s: PROXY header: client %s", s->id, s->via,
	    s->peer);
	session_start(s);
}

/* The client is known (after the PROXY header, if any): serve it. */
static void
session_start(struct session *s)
{
	struct pserver	*p = s->srv;
	char		 reason[512];
	int		 reject, fd = s->fd;

	if (p == NULL) {
		/* Its server went away during the PROXY header. */
		session_hdr_drop(s, "Server shutting down");
		return;
	}
	reject = over_limit(p, s, reason, sizeof(reason));
	if (!reject) {
		s->counted = 1;
		p->nsessions++;
	}

	if (p->conf->server_starttls)
		s->tlsflags |= SESSION_SERVER_STARTTLS;
	if (p->conf->local_starttls && p->local != NULL)
		s->tlsflags |= SESSION_LOCAL_STARTTLS;
	if (p->conf->require_tls_login)
		s->tlsflags |= SESSION_REQUIRE_TLS_LOGIN;
	s->fd = -1;
	io_init(&s->client, fd, session_client_cb, s);
	if (p->local != NULL && !p->conf->local_starttls)
		s->tlsflags |= SESSION_TLS_CLIENT;
	if ((s->tlsflags & SESSION_TLS_CLIENT) &&
	    io_start_tls_server(&s->client,
	    (s->client_tls = local_tls_ref(p->local))->ctx) == -1) {
		log_warnx("session %u: %s: %s", s->id, s->peer,
		    io_error(&s->client));
		io_close(&s->client);
		session_close(s, "TLS setup failed");
		return;
	}
	log_info("session %u: %s connection from %s%s%s%s", s->id, p->name,
	    s->peer, io_is_tls(&s->client) ? " (TLS)" : "",
	    s->via[0] != '\0' ? " via " : "", s->via);
	if (!cidr_list_match_str(p->conf->allow_clients, s->addr)) {
		stats.connections_refused++;
		session_bye(s, "Connection refused: client address not "
		    "allowed");
		return;
	}
	if (reject) {
		stats.connections_refused++;
		session_bye(s, reason);
		return;
	}
	if ((s->proto = s->ops->init(s)) == NULL) {
		session_close(s, "out of memory");
		return;
	}
	if (session_pooled(s) == 0) {
		session_idle_arm(s);
		/* The greeting is already in: the client gets it now. */
		session_process(s);
		return;
	}
	if ((s->upreq = upstream_connect(s->server_address, s->server_port,
	    session_upstream, s)) == NULL) {
		session_bye(s, "Server unavailable");
		return;
	}
	session_idle_arm(s);
}

/*
 * A connection from the section's upstream pool, if one is ready: up,
 * TLS done (in clear with server_starttls, which the module then
 * upgrades as on a fresh connection), its greeting in the input buffer,
 * unread and never answered, so the module reads it as from a fresh
 * connection.  It is never given back.  0, or -1 when none is ready.
 */
static int
session_pooled(struct session *s)
{
	if (s->srv == NULL || pool_take(s->srv, &s->server,
	    session_server_cb, s) == -1)
		return -1;
	log_debug("session %u: pooled connection to %s:%u%s", s->id,
	    s->server_address, s->server_port, io_is_tls(&s->server) ?
	    ", TLS" : "");
	if (!(s->tlsflags & SESSION_SERVER_STARTTLS))
		s->tlsflags |= SESSION_TLS_SERVER;
	s->server_up = 1;
	return 0;
}

static void
session_greet_arm(struct session *s)
{
	struct timeval	tv = { SESSION_GREETING_TIMEOUT, 0 };

	s->greetwait = 1;
	evtimer_add(&s->greet, &tv);
}

static void
session_greet_disarm(struct session *s)
{
	s->greetwait = 0;
	evtimer_del(&s->greet);
}

/* server_starttls, and the server has said nothing in clear. */
static void
session_greet_timeout(int fd, short event, void *arg)
{
	struct session	*s = arg;

	s->greetwait = 0;
	log_warnx("session %u: %s:%u sent no greeting in %d seconds, and "
	    "[%s] has server_starttls = True: if that port expects TLS from "
	    "the start (as 993, 995 and 465 do), set server_starttls = False",
	    s->id, s->server_address, s->server_port,
	    SESSION_GREETING_TIMEOUT, s->srvname);
	session_bye(s, "Server unavailable");
}

/*
 * The first bytes of a server_starttls connection: a TLS record
 * (handshake or alert, version 3.x) where a plaintext greeting belongs
 * means the port expects TLS at once.  -1 when the session was ended.
 */
static int
session_greet_check(struct session *s)
{
	const uint8_t	*p = iobuf_data(&s->server.in);
	size_t		 len = iobuf_len(&s->server.in);

	session_greet_disarm(s);
	if (len == 0 || (p[0] != 0x16 && p[0] != 0x15) ||
	    (len > 1 && p[1] != 0x03))
		return 0;
	log_warnx("session %u: %s:%u speaks TLS at once, but [%s] has "
	    "server_starttls = True: set server_starttls = False for a port "
	    "that expects TLS from the start", s->id, s->server_address,
	    s->server_port, s->srvname);
	io_close(&s->server);
	session_bye(s, "Server unavailable");
	return -1;
}

/* The connection to the server is up (or failed). */
static void
session_upstream(int fd, const char *error, void *arg)
{
	struct session	*s = arg;

	s->upreq = NULL;
	if (fd == -1) {
		log_warnx("session %u: %s:%u: %s", s->id, s->server_address,
		    s->server_port, error);
		session_bye(s, "Server unavailable");
		return;
	}
	io_init(&s->server, fd, session_server_cb, s);
	if (s->tlsflags & SESSION_SERVER_STARTTLS) {
		/* Plain until the module asks for STARTTLS. */
		log_debug("session %u: connected to %s:%u", s->id,
		    s->server_address, s->server_port);
		session_greet_arm(s);
		s->server_up = 1;
		session_process(s);
		return;
	}
	if (s->srv == NULL || io_start_tls_client(&s->server,
	    s->srv->upstream, s->server_address) == -1) {
		log_warnx("session %u: %s: %s", s->id, s->server_address,
		    io_error(&s->server));
		io_close(&s->server);
		session_bye(s, "Server unavailable");
	}
}

unsigned int
session_tls_flags(struct session *s)
{
	return s->tlsflags;
}

int
session_starttls_server(struct session *s,
    void (*done)(void *, int, const char *))
{
	if (s->state == S_CLOSING || s->srv == NULL ||
	    s->server.state != IO_S_UP || io_is_tls(&s->server))
		return -1;
	/* Nothing the server sent in clear survives (CVE-2011-0411). */
	io_drain(&s->server, iobuf_len(&s->server.in));
	if (io_start_tls_client(&s->server, s->srv->upstream,
	    s->server_address) == -1) {
		log_warnx("session %u: %s: %s", s->id, s->server_address,
		    io_error(&s->server));
		return -1;
	}
	s->server_up = 0;
	s->server_tls_done = done;
	return 0;
}

int
session_starttls_client(struct session *s,
    void (*done)(void *, int, const char *))
{
	if (s->state == S_CLOSING || s->srv == NULL ||
	    s->srv->local == NULL || s->client.state != IO_S_UP ||
	    io_is_tls(&s->client))
		return -1;
	/* Nor what the client sent after its STARTTLS line. */
	io_drain(&s->client, iobuf_len(&s->client.in));
	local_tls_unref(s->client_tls);
	s->client_tls = local_tls_ref(s->srv->local);
	if (io_start_tls_server(&s->client, s->client_tls->ctx) == -1) {
		log_warnx("session %u: %s: %s", s->id, s->peer,
		    io_error(&s->client));
		return -1;
	}
	s->client_tls_done = done;
	return 0;
}

/* A STARTTLS handshake ended: tell the module. */
static void
session_tls_done(struct session *s, int client, int ok, const char *error)
{
	void	(*done)(void *, int, const char *);

	if (client) {
		done = s->client_tls_done;
		s->client_tls_done = NULL;
		if (ok)
			s->tlsflags |= SESSION_TLS_CLIENT;
	} else {
		done = s->server_tls_done;
		s->server_tls_done = NULL;
		if (ok) {
			s->tlsflags |= SESSION_TLS_SERVER;
			s->server_up = 1;
		}
	}
	if (!ok)
		io_close(client ? &s->client : &s->server);
	if (done != NULL && s->proto != NULL) {
		proto_enter(s);
		done(s->proto, ok, error);
		proto_leave(s);
	}
	if (s->state != S_CLOSING)
		session_process(s);
}

void
session_reconnect(struct session *s)
{
	if (s->state == S_CLOSING)
		return;
	s->server_in += s->server.nread;
	s->server_out += s->server.nwritten;
	session_greet_disarm(s);
	io_close(&s->server);
	s->server.state = IO_S_IDLE;
	s->server_up = 0;
	s->tlsflags &= ~SESSION_TLS_SERVER;
	s->server_tls_done = NULL;
	log_debug("session %u: new connection to %s:%u", s->id,
	    s->server_address, s->server_port);
	if ((s->upreq = upstream_connect(s->server_address, s->server_port,
	    session_upstream, s)) == NULL)
		session_bye(s, "Server unavailable");
}

void
session_client_write(struct session *s, const void *data, size_t len)
{
	if (s->state == S_CLOSING && s->client.state != IO_S_UP &&
	    s->client.state != IO_S_HANDSHAKE)
		return;
	if (io_write(&s->client, data, len) == -1 && s->state != S_CLOSING)
		session_close(s, "client write failed");
}

void
session_server_write(struct session *s, const void *data, size_t len)
{
	if (s->state == S_CLOSING)
		return;
	if (io_write(&s->server, data, len) == -1)
		session_close(s, "server write failed");
}

static void
session_vprintf(struct session *s, int client, const char *fmt, va_list ap)
{
	char	*line;
	int	 n;

	if ((n = vasprintf(&line, fmt, ap)) == -1) {
		session_close(s, "out of memory");
		return;
	}
	if (client)
		session_client_write(s, line, n);
	else
		session_server_write(s, line, n);
	freezero(line, n);
}

void
session_client_printf(struct session *s, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	session_vprintf(s, 1, fmt, ap);
	va_end(ap);
}

void
session_server_printf(struct session *s, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	session_vprintf(s, 0, fmt, ap);
	va_end(ap);
}

/*
 * The audit line of common/emailproxy.h.  The login name comes from the
 * client: anything but printable ASCII is shown as '?', so that it can
 * neither break the line nor fake another one.
 */
static void
session_audit(struct session *s, const char *result)
{
	char	 acct[256];
	size_t	 i;

	s->audit_due = 0;
	if (s->account == NULL)
		strlcpy(acct, "-", sizeof(acct));
	else {
		for (i = 0; s->account[i] != '\0' && i < sizeof(acct) - 1;
		    i++)
			acct[i] = s->account[i] >= 0x20 &&
			    s->account[i] < 0x7f ? s->account[i] : '?';
		acct[i] = '\0';
	}
	log_info("audit: result=%s proto=%s listener=%s client=%s "
	    "account=%s", result, proto_name(s->ops->proto), s->srvname,
	    s->addr, acct);
	proxy_metrics_login(s->srvname, s->ops->proto, result);
	if (strcmp(result, "ok") == 0)
		stats.logins_ok++;
	else {
		stats.logins_failed++;
		if (strcmp(result, "upstream-rejected") == 0)
			stats.logins_upstream_rejected++;
	}
}

void
session_login_rejected(struct session *s)
{
	if (s->state == S_PRELOGIN)
		session_audit(s, "upstream-rejected");
}

void
session_token_revoked(struct session *s)
{
	if (s->account != NULL)
		proxy_event(NOTIFY_TOKEN_REVOKED, s->account);
}

int
session_token_get(struct session *s, const char *user, const char *password,
    const char *rejected)
{
	if (s->state == S_CLOSING)
		return -1;
	if (proxy_token_get(s->id, s->srvname, s->ops->proto, s->addr, user,
	    password, rejected ? TOKEN_F_REJECTED : 0, rejected) == -1) {
		session_audit(s, "internal-error");
		return -1;
	}
	s->waiting_token = 1;
	s->audit_due = 1;
	session_idle_arm(s);
	return 0;
}

void
session_token_ok(uint32_t id, const char *user, const char *token)
{
	struct session	*s;

	if ((s = session_find(id)) == NULL || !s->waiting_token) {
		log_debug("session %u: token for nobody", id);
		return;
	}
	s->waiting_token = 0;
	session_idle_arm(s);
	proto_enter(s);
	s->ops->token_ok(s->proto, user, token);
	proto_leave(s);
	session_process(s);
}

void
session_token_fail(uint32_t id, uint32_t reason, const char *msg)
{
	struct session	*s;

	if ((s = session_find(id)) == NULL || !s->waiting_token) {
		log_debug("session %u: token failure for nobody", id);
		return;
	}
	s->waiting_token = 0;
	session_idle_arm(s);
	log_info("session %u: %s: login of %s failed: %s", s->id, s->peer,
	    s->account ? s->account : "?", msg);
	session_audit(s, token_fail_name(reason));
	proto_enter(s);
	s->ops->token_fail(s->proto, reason, msg);
	proto_leave(s);
	session_process(s);
}

void
session_set_account(struct session *s, const char *account)
{
	free(s->account);
	s->account = account ? strdup(account) : NULL;
}

void
session_login_done(struct session *s)
{
	if (s->state != S_PRELOGIN)
		return;
	s->state = S_RELAY;
	evtimer_del(&s->timer);
	evtimer_del(&s->deadline);
	/* What passes from now on is mail: not worth wiping. */
	io_nowipe(&s->client);
	io_nowipe(&s->server);
	if (s->in_proto == 0 && s->proto != NULL) {
		s->ops->free(s->proto);
		s->proto = NULL;
	}
	/* The audit line says it at the default level: once is enough. */
	session_audit(s, "ok");
	log_debug("session %u: %s logged in as %s on %s", s->id, s->peer,
	    s->account ? s->account : "?", s->srvname);
	/* session_process moves whatever is buffered on both sides. */
	s->again = 1;
}

void
session_bye(struct session *s, const char *reason)
{
	if (s->state == S_CLOSING)
		return;
	if (s->hdr != NULL) {
		session_hdr_drop(s, reason);
		return;
	}
	log_notice("session %u: %s: %s", s->id, s->peer, reason);
	session_client_printf(s, s->ops->bye_fmt, reason);
	session_close(s, reason);
}

void
session_close(struct session *s, const char *why)
{
	struct timeval	tv = { SESSION_LINGER, 0 };

	if (s->state == S_CLOSING)
		return;
	if (s->hdr != NULL) {
		session_hdr_drop(s, why);
		return;
	}
	/* A login that started gets its line, however the session ends. */
	if (s->audit_due && s->state == S_PRELOGIN) {
		log_info("session %u: %s: login of %s not decided: %s", s->id,
		    s->peer, s->account ? s->account : "?", why);
		session_audit(s, "aborted");
	}
	s->state = S_CLOSING;
	s->why = strdup(why);
	evtimer_del(&s->deadline);
	if (s->waiting_token) {
		proxy_token_cancel(s->id);
		s->waiting_token = 0;
	}
	upstream_cancel(s->upreq);
	s->upreq = NULL;
	session_greet_disarm(s);
	if (s->proto != NULL && s->in_proto == 0) {
		/* Wipe credentials now, not after the linger. */
		s->ops->free(s->proto);
		s->proto = NULL;
	}
	io_shutdown(&s->client);
	io_shutdown(&s->server);
	if (s->client.state != IO_S_UP && s->client.state != IO_S_HANDSHAKE)
		io_close(&s->client);
	if (s->server.state != IO_S_UP)
		io_close(&s->server);
	if (s->client.state == IO_S_CLOSED &&
	    (s->server.state == IO_S_CLOSED || s->server.state == IO_S_IDLE))
		tv.tv_sec = 0;
	evtimer_del(&s->timer);
	evtimer_add(&s->timer, &tv);
}

void
session_trace(struct session *s, const char *dir, const void *data,
    size_t len)
{
	const uint8_t	*p = data;
	char		 buf[TRACE_MAX * 4 + 8];
	size_t		 i, o = 0;

	if (!session_tracing())
		return;
	for (i = 0; i < len && i < TRACE_MAX; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			buf[o++] = p[i];
		else
			o += snprintf(buf + o, sizeof(buf) - o, "\\x%02x",
			    p[i]);
	}
	if (i < len)
		o += snprintf(buf + o, sizeof(buf) - o, "...");
	buf[o] = '\0';
	log_trace("session %u: %s %s", s->id, dir, buf);
	explicit_bzero(buf, sizeof(buf));
}

/*
 * Relay: move what each side sent to the other, with back-pressure.
 * The bytes are handed over (no copy when the other side's output is
 * empty).
 */
static void
session_relay(struct session *s)
{
	if (iobuf_len(&s->client.in) > 0 && s->server_up) {
		if (io_relay(&s->client, &s->server) == -1) {
			session_close(s, "server write failed");
			return;
		}
		if (io_queued(&s->server) >= IO_HIWAT_BYTES) {
			io_pause(&s->client);
			io_want_lowat(&s->server);
		}
	}
	if (iobuf_len(&s->server.in) > 0) {
		if (io_relay(&s->server, &s->client) == -1) {
			session_close(s, "client write failed");
			return;
		}
		if (io_queued(&s->client) >= IO_HIWAT_BYTES) {
			io_pause(&s->server);
			io_want_lowat(&s->client);
		}
	}
}

/* Feed the protocol module until neither side makes progress. */
static void
session_process(struct session *s)
{
	ssize_t	n;
	size_t	len;
	int	progress;

	if (s->busy) {
		s->again = 1;
		return;
	}
	s->busy = 1;
	proto_enter(s);
	do {
		s->again = 0;
		progress = 0;
		while (s->state == S_PRELOGIN && s->server_up &&
		    (len = iobuf_len(&s->server.in)) > 0) {
			n = s->ops->server_input(s->proto,
			    iobuf_data(&s->server.in), len);
			if (n <= 0)
				break;
			io_drain(&s->server, n);
			progress = 1;
		}
		while (s->state == S_PRELOGIN &&
		    (len = iobuf_len(&s->client.in)) > 0) {
			n = s->ops->client_input(s->proto,
			    iobuf_data(&s->client.in), len);
			if (n <= 0)
				break;
			io_drain(&s->client, n);
			progress = 1;
		}
		if (s->state == S_RELAY)
			session_relay(s);
	} while ((progress || s->again) && s->state == S_PRELOGIN);
	if (s->state == S_RELAY && s->again) {
		s->again = 0;
		session_relay(s);
	}
	proto_leave(s);
	s->busy = 0;
}

static void
session_client_cb(struct io *io, enum io_event ev, void *arg)
{
	struct session	*s = arg;

	switch (ev) {
	case IO_TLSREADY:
		log_debug("session %u: client TLS %s", s->id,
		    io_tls_version(io));
		if (s->client_tls_done != NULL)
			session_tls_done(s, 1, 1, NULL);
		break;
	case IO_DATAIN:
		if (s->state == S_PRELOGIN)
			session_idle_arm(s);
		if (s->state != S_CLOSING)
			session_process(s);
		else
			io_drain(io, iobuf_len(&io->in));
		break;
	case IO_LOWAT:
		if (s->state == S_RELAY)
			io_resume(&s->server);
		break;
	case IO_EOF:
		session_close(s, "client closed");
		break;
	case IO_ERROR:
		log_debug("session %u: client %s: %s", s->id, s->peer,
		    io_error(io));
		if (s->client_tls_done != NULL && s->state != S_CLOSING) {
			session_tls_done(s, 1, 0, io_error(io));
			if (s->state != S_CLOSING)
				session_close(s, "client TLS failed");
			session_free_soon_if_done(s);
			break;
		}
		io_close(io);
		session_close(s, io_error(io));
		if (s->server.state != IO_S_UP)
			session_free_soon(s);
		break;
	case IO_CLOSED:
		if (s->server.state != IO_S_UP)
			session_free_soon(s);
		break;
	}
}

static void
session_server_cb(struct io *io, enum io_event ev, void *arg)
{
	struct session	*s = arg;
	int		 r;

	switch (ev) {
	case IO_TLSREADY:
		log_debug("session %u: connected to %s:%u, %s", s->id,
		    s->server_address, s->server_port,
		    io_tls_version(io));
		if (s->server_tls_done != NULL) {
			session_tls_done(s, 0, 1, NULL);
			break;
		}
		s->tlsflags |= SESSION_TLS_SERVER;
		s->server_up = 1;
		session_process(s);
		break;
	case IO_DATAIN:
		if (s->greetwait && s->state != S_CLOSING &&
		    session_greet_check(s) == -1) {
			session_free_soon_if_done(s);
			break;
		}
		if (s->state != S_CLOSING)
			session_process(s);
		else
			io_drain(io, iobuf_len(&io->in));
		break;
	case IO_LOWAT:
		if (s->state == S_RELAY)
			io_resume(&s->client);
		break;
	case IO_EOF:
	case IO_ERROR:
		if (s->server_tls_done != NULL && s->state != S_CLOSING) {
			log_warnx("session %u: %s:%u: STARTTLS: %s", s->id,
			    s->server_address, s->server_port,
			    ev == IO_ERROR ? io_error(io) : "closed");
			session_tls_done(s, 0, 0, ev == IO_ERROR ?
			    io_error(io) : "connection closed");
			if (s->state != S_CLOSING)
				session_bye(s, "Server unavailable");
			session_free_soon_if_done(s);
			break;
		}
		if (ev == IO_ERROR) {
			log_warnx("session %u: %s:%u: %s", s->id,
			    s->server_address, s->server_port,
			    io_error(io));
			if (!s->server_up)
				log_warnx("session %u: is server_address "
				    "right, and its certificate valid for "
				    "it?", s->id);
		}
		r = SERVER_CLOSED_END;
		if (s->state == S_PRELOGIN && s->server_up) {
			proto_enter(s);
			r = s->ops->server_closed(s->proto);
			proto_leave(s);
			if (r == SERVER_CLOSED_RETRY) {
				session_process(s);
				break;
			}
		}
		if (ev == IO_ERROR || s->state == S_PRELOGIN)
			io_close(io);
		/*
		 * Before login the client hears of it (a login or another
		 * command may be waiting for its answer): never a bare close.
		 * A close the client asked for ends with the server's own
		 * answer.
		 */
		if (s->state == S_PRELOGIN && r != SERVER_CLOSED_QUIT)
			session_bye(s, s->server_up ? "Server closed the "
			    "connection" : "Server unavailable");
		else
			session_close(s, r == SERVER_CLOSED_QUIT ?
			    "client logged out" : "server closed");
		if (s->client.state != IO_S_UP &&
		    s->client.state != IO_S_HANDSHAKE)
			session_free_soon(s);
		break;
	case IO_CLOSED:
		if (s->client.state != IO_S_UP &&
		    s->client.state != IO_S_HANDSHAKE)
			session_free_soon(s);
		break;
	}
}

static void
session_timer(int fd, short event, void *arg)
{
	struct session	*s = arg;

	if (s->hdr != NULL) {
		log_notice("session %u: %s: no complete PROXY header in %d "
		    "seconds, connection refused", s->id, s->via,
		    PROXYHDR_TIMEOUT);
		session_hdr_drop(s, "PROXY header timeout");
		return;
	}
	if (s->state == S_PRELOGIN) {
		session_bye(s, "Idle timeout");
		return;
	}
	if (s->state == S_CLOSING)
		session_free(s);
}

/* Still not logged in, login_timeout seconds after connecting. */
static void
session_deadline(int fd, short event, void *arg)
{
	struct session	*s = arg;

	if (s->state != S_PRELOGIN)
		return;
	log_notice("session %u: %s: not logged in %u seconds after "
	    "connecting (login_timeout)", s->id, s->hdr != NULL ? s->via :
	    s->peer, s->login_timeout);
	session_bye(s, "Login timeout");
}

static void
session_free(struct session *s)
{
	struct timespec	now;
	long long	secs;

	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = now.tv_sec - s->start.tv_sec;
	log_info("session %u: end: client %s, server %s, account %s, "
	    "%llu bytes from client, %llu bytes to client, %lld s (%s)",
	    s->id, s->peer, s->srvname, s->account ? s->account : "-",
	    (unsigned long long)s->client.nread,
	    (unsigned long long)s->client.nwritten, secs,
	    s->why ? s->why : "closed");
	stats.bytes_from_clients += s->client.nread;
	stats.bytes_to_clients += s->client.nwritten;
	evtimer_del(&s->timer);
	evtimer_del(&s->greet);
	evtimer_del(&s->deadline);
	if (s->hdr != NULL) {
		event_del(&s->hdrev);
		freezero(s->hdr, PROXYHDR_MAX);
	}
	if (s->fd != -1)
		close(s->fd);
	upstream_cancel(s->upreq);
	if (s->waiting_token)
		proxy_token_cancel(s->id);
	if (s->proto != NULL)
		s->ops->free(s->proto);
	io_close(&s->client);
	io_close(&s->server);
	/* After the client's TLS connection, made with it, is gone. */
	local_tls_unref(s->client_tls);
	session_detach_server(s);
	RB_REMOVE(session_tree, &sessions, s);
	nopen--;
	free(s->account);
	free(s->why);
	free(s->srvname);
	free(s->server_address);
	free(s);
	if (nopen == 0)
		session_release_later();
}

/*
 * After a burst, once no session has been open for a moment: the
 * pooled buffers go back to malloc, and malloc's free pages to the
 * system.  Not at every close: with one session at a time, malloc_trim
 * after each login was 8 % of the proxy's CPU, and as much again in
 * madvise.  The timer runs at most every SESSION_RELEASE_MS.
 */
static void
session_release(int fd, short event, void *arg)
{
	if (nopen > 0)
		return;		/* the next close with none open re-arms */
	iobuf_pool_flush();
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

static void
session_release_later(void)
{
	static struct event	ev;
	struct timeval		tv = { 0, SESSION_RELEASE_MS * 1000 };

	if (!event_initialized(&ev))
		evtimer_set(&ev, session_release, NULL);
	if (!evtimer_pending(&ev, NULL))
		evtimer_add(&ev, &tv);
}

void
session_detach_server(struct session *s)
{
	if (s->srv == NULL)
		return;
	TAILQ_REMOVE(&s->srv->sessions, s, sentry);
	if (s->counted)
		s->srv->nsessions--;
	s->counted = 0;
	s->srv = NULL;
}

void
sessions_detach(struct pserver *p, const char *reason)
{
	struct session	*s;

	while ((s = TAILQ_FIRST(&p->sessions)) != NULL) {
		session_detach_server(s);
		session_bye(s, reason);
	}
}

void
sessions_shutdown(const char *reason)
{
	struct session	*s, *t;

	RB_FOREACH_SAFE(s, session_tree, &sessions, t)
		session_bye(s, reason);
}

unsigned int
sessions_open(void)
{
	return nopen;
}

void
sessions_walk(void (*cb)(const struct session_info *, void *), void *arg)
{
	struct session		*s;
	struct session_info	 si;
	struct timespec		 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	RB_FOREACH(s, session_tree, &sessions) {
		si.id = s->id;
		si.protocol = s->ops->name;
		si.listener = s->srvname;
		si.client = s->peer;
		si.account = s->account;
		si.age = now.tv_sec - s->start.tv_sec;
		si.bytes_in = s->client.nread;
		si.bytes_out = s->client.nwritten;
		cb(&si, arg);
	}
}

void
proxy_stats_get(struct proxy_stats *st)
{
	struct session	*s;

	*st = stats;
	st->sessions_open = nopen;
	st->listeners = servers_listening();
	st->start_time = proxy_started;
	RB_FOREACH(s, session_tree, &sessions) {
		st->bytes_from_clients += s->client.nread;
		st->bytes_to_clients += s->client.nwritten;
	}
}
