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

/* The proxy process: servers (listeners) and sessions. */

#ifndef PROXY_H
#define PROXY_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event.h>
#include <stdint.h>
#include <tls.h>

#include "emailproxy.h"

struct emailproxy_conf;
struct server_conf;
struct session;
struct proto_ops;
struct imsgev;
struct imsg;
struct x509_store_st;
struct pool;
struct tlsx_ctx;

/*
 * A section's local TLS context.  Every client handshake started with it
 * holds a reference: libtls calls back into the server context during a
 * handshake, so a reload that replaces the section must not free it
 * while a client of the old section is still mid-handshake.
 */
struct local_tls {
	struct tlsx_ctx		*ctx;
	unsigned int		 refs;
};

struct local_tls *local_tls_ref(struct local_tls *);
void	 local_tls_unref(struct local_tls *);

/* One [IMAP-1993]-style section at run time. */
struct pserver {
	TAILQ_ENTRY(pserver)	 entry;
	char			*name;
	struct server_conf	*conf;		/* in proxy_conf */
	const struct proto_ops	*ops;
	struct tlsx_ctx		*upstream;	/* TLS towards the server */
	struct local_tls	*local;		/* local TLS, or NULL */
	int			 lfd;
	struct event		 lev;
	struct event		 lpause;	/* out of fds: retry accept */
	TAILQ_HEAD(, session)	 sessions;
	unsigned int		 nsessions;	/* counted against limits */
	struct pool		*pool;		/* upstream_pool, or NULL */
};
TAILQ_HEAD(pserver_list, pserver);

extern struct emailproxy_conf	*proxy_conf;
extern time_t			 proxy_started;

/* One open session, for emailproxyctl show sessions. */
struct session_info {
	uint32_t	 id;
	const char	*protocol;	/* "IMAP" */
	const char	*listener;	/* section name */
	const char	*client;	/* address and port */
	const char	*account;	/* or NULL */
	long long	 age;		/* seconds */
	uint64_t	 bytes_in;	/* from the client */
	uint64_t	 bytes_out;	/* to the client */
};

/* Counters since start; bytes include open sessions. */
struct proxy_stats {
	uint64_t	 sessions_open;
	uint64_t	 sessions_total;
	uint64_t	 connections_refused;	/* limits, allowlist, PROXY */
	uint64_t	 logins_ok;
	uint64_t	 logins_failed;		/* every other audit result */
	uint64_t	 logins_upstream_rejected;
	uint64_t	 bytes_from_clients;
	uint64_t	 bytes_to_clients;
	uint64_t	 listeners;
	int64_t		 start_time;		/* time(3) the proxy started */
};

/* ctl.c: CTL_SHOW_SESSIONS and CTL_SHOW_STATS from the parent. */
int	 proxy_ctl(struct imsgev *, struct imsg *);

/* proxy.c */
void	 proxy_event(enum notify_event, const char *account);
int	 proxy_token_get(uint32_t id, const char *server, enum proto,
	    const char *addr, const char *user, const char *password,
	    uint32_t flags, const char *rejected);
void	 proxy_token_cancel(uint32_t id);

/* server.c */
/* Load the CA bundle fallback; before the chroot. */
void	 servers_init(void);
/* Match the run-time servers to a (new) configuration. */
int	 servers_configure(struct emailproxy_conf *);
void	 server_listen(const char *name, int fd);
void	 servers_close(void);
unsigned int servers_listening(void);
void	 servers_foreach(void (*)(struct pserver *, void *), void *);
/* For each configured server: fn(name, NULL or what keeps it from serving). */
void	 servers_health(const struct emailproxy_conf *,
	    void (*)(const char *, const char *, void *), void *);

/* session.c */
void	 session_accept(struct pserver *, int fd, struct sockaddr *,
	    socklen_t);
void	 session_token_ok(uint32_t id, const char *user, const char *token);
void	 session_token_fail(uint32_t id, uint32_t reason, const char *msg);
/* Bye and close every session of a server that goes away. */
void	 sessions_detach(struct pserver *, const char *reason);
/* Bye and close all sessions; the count of those still open. */
void	 sessions_shutdown(const char *reason);
unsigned int sessions_open(void);
void	 session_detach_server(struct session *);
void	 sessions_walk(void (*)(const struct session_info *, void *),
	    void *);
void	 proxy_stats_get(struct proxy_stats *);

#endif /* PROXY_H */
