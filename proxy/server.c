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
 * The servers of the configuration at run time: their TLS contexts
 * (built from certificates and CA bundles that arrived in memory), the
 * listening sockets the parent passed, and what a reload keeps.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <openssl/x509.h>

#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <tls.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "pool.h"
#include "proxy.h"
#include "session.h"
#include "starttls.h"
#include "tls_ossl.h"
#include "tlsverify.h"

#define ACCEPT_BURST	64
/*
 * TLS session tickets sent to each client (stateless: their keys live in
 * the section's context until a reload replaces it).
 */
#define LOCAL_TLS_TICKETS	1

static struct pserver_list	 pservers = TAILQ_HEAD_INITIALIZER(pservers);
/*
 * Upstream chains are checked against one store per CA source, shared by
 * reference: the system bundle's (read before the chroot, used when no
 * ca_file is set), the global ca_file's, and each server_ca_file's.
 */
static X509_STORE		*default_store;
static X509_STORE		*global_store;

static void	server_accept(int, short, void *);

void
servers_init(void)
{
	const char	*path = tls_default_ca_cert_file();
	uint8_t		*data;
	size_t		 len;

	if ((data = tls_load_file(path, &len, NULL)) == NULL)
		log_warnx("%s: cannot read the system CA bundle", path);
	else {
		default_store = tlsverify_store(data, len, path);
		tls_unload_file(data, len);
	}
}

/*
 * The store for the global CA source of a (new) configuration, built
 * from the bundle that came with it: no file access after the chroot.
 * Empty (trusting nothing) when there is no bundle at all.
 */
static int
global_store_set(struct emailproxy_conf *conf)
{
	X509_STORE	*store;

	if (conf->ca_file.data != NULL)
		store = tlsverify_store((const uint8_t *)conf->ca_file.data,
		    conf->ca_file.len, conf->ca_file.path ?
		    conf->ca_file.path : "ca_file");
	else if (default_store != NULL)
		store = X509_STORE_up_ref(default_store) == 1 ?
		    default_store : NULL;
	else {
		log_warnx("no CA bundle: server certificates will not "
		    "verify");
		store = tlsverify_store(NULL, 0, "none");
	}
	if (store == NULL)
		return -1;
	X509_STORE_free(global_store);
	global_store = store;
	return 0;
}

/* This server's store: its own for server_ca_file, else the global. */
static X509_STORE *
server_store(struct server_conf *sc)
{
	if (sc->server_ca.data != NULL)
		return tlsverify_store((const uint8_t *)sc->server_ca.data,
		    sc->server_ca.len, sc->name);
	if (global_store == NULL || X509_STORE_up_ref(global_store) != 1)
		return NULL;
	return global_store;
}

static const struct proto_ops *
proto_ops_for(enum proto proto)
{
	switch (proto) {
	case PROTO_IMAP:
		return &imap_ops;
	case PROTO_POP:
		return &pop_ops;
	case PROTO_SMTP:
		return &smtp_ops;
	}
	return NULL;
}

/*
 * The server's TLS context, built once and shared by all its upstream
 * connections (and by the sessions they resume); a new one when the
 * global CA bundle changes.
 */
static struct tlsx_ctx *
upstream_tls(struct server_conf *sc)
{
	struct tlsx_ctx	*ctx;
	X509_STORE	*store;

	if ((store = server_store(sc)) == NULL)
		return NULL;
	ctx = tlsx_client_ctx(sc->name, store);
	X509_STORE_free(store);
	return ctx;
}

struct local_tls *
local_tls_ref(struct local_tls *lt)
{
	if (lt != NULL)
		lt->refs++;
	return lt;
}

void
local_tls_unref(struct local_tls *lt)
{
	if (lt == NULL || --lt->refs > 0)
		return;
	tlsx_ctx_unref(lt->ctx);
	free(lt);
}

static int
local_tls(struct pserver *p, struct server_conf *sc)
{
	struct local_tls	*lt;

	if (sc->local_certificate.data == NULL || sc->local_key.data == NULL)
		return 0;
	if ((lt = calloc(1, sizeof(*lt))) == NULL)
		return -1;
	lt->refs = 1;
	p->local = lt;
	if ((lt->ctx = tlsx_server_ctx(sc->name,
	    (const uint8_t *)sc->local_certificate.data,
	    sc->local_certificate.len,
	    (const uint8_t *)sc->local_key.data, sc->local_key.len,
	    LOCAL_TLS_TICKETS)) == NULL) {
		local_tls_unref(lt);
		p->local = NULL;
		return -1;
	}
	return 0;
}

static struct pserver *
server_find_run(const char *name)
{
	struct pserver	*p;

	TAILQ_FOREACH(p, &pservers, entry)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static void
server_unlisten(struct pserver *p)
{
	if (p->lfd == -1)
		return;
	event_del(&p->lev);
	evtimer_del(&p->lpause);
	close(p->lfd);
	p->lfd = -1;
}

static void
server_free(struct pserver *p, const char *reason)
{
	server_unlisten(p);
	pool_free(p);
	sessions_detach(p, reason);
	TAILQ_REMOVE(&pservers, p, entry);
	tlsx_ctx_unref(p->upstream);
	local_tls_unref(p->local);
	free(p->name);
	free(p);
}

static struct pserver *
server_new(struct server_conf *sc)
{
	struct pserver	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->name = strdup(sc->name)) == NULL) {
		free(p);
		return NULL;
	}
	p->conf = sc;
	p->lfd = -1;
	TAILQ_INIT(&p->sessions);
	if ((p->ops = proto_ops_for(sc->proto)) == NULL) {
		/* Only a malformed configuration message gets here. */
		log_warnx("%s: unknown protocol %d", sc->name, (int)sc->proto);
		free(p->name);
		free(p);
		return NULL;
	}
	if ((p->upstream = upstream_tls(sc)) == NULL ||
	    local_tls(p, sc) == -1) {
		tlsx_ctx_unref(p->upstream);
		free(p->name);
		free(p);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&pservers, p, entry);
	pool_configure(p);
	return p;
}

/*
 * Called with the configuration that has just become proxy_conf (the
 * old one is still allocated).  Servers whose section is unchanged keep
 * their listener and sessions; the others say goodbye.
 */
int
servers_configure(struct emailproxy_conf *conf)
{
	struct pserver		*p, *t;
	struct server_conf	*sc;
	struct tlsx_ctx		*ctx;
	int			 errors = 0, lfd;

	/* On failure the old global store stays in use. */
	if (global_store_set(conf) == -1) {
		log_warnx("cannot use the CA bundle");
		errors++;
	}
	TAILQ_FOREACH_SAFE(p, &pservers, entry, t) {
		sc = server_find(conf, p->name);
		if (sc != NULL && server_equal(p->conf, sc)) {
			p->conf = sc;
			/*
			 * The global CA bundle may have changed; a server's
			 * own is unchanged (server_equal) and kept.
			 */
			if (sc->server_ca.data == NULL &&
			    (ctx = upstream_tls(sc)) != NULL) {
				tlsx_ctx_unref(p->upstream);
				p->upstream = ctx;
			}
			/* upstream_pool may differ (KF_LIVE). */
			pool_configure(p);
			continue;
		}
		log_info("%s: %s, closing its sessions", p->name,
		    sc ? "changed" : "removed");
		/*
		 * Same address: its listening socket serves the new
		 * section (the parent opens no other for it).
		 */
		lfd = -1;
		if (sc != NULL && server_same_listener(p->conf, sc) &&
		    p->lfd != -1) {
			event_del(&p->lev);
			evtimer_del(&p->lpause);
			lfd = p->lfd;
			p->lfd = -1;
		}
		server_free(p, "Server shutting down");
		if (lfd == -1)
			continue;
		if (server_new(sc) == NULL) {
			log_warnx("%s: cannot serve it", sc->name);
			errors++;
			close(lfd);
		} else
			server_listen(sc->name, lfd);
	}
	TAILQ_FOREACH(sc, &conf->servers, entry) {
		if (server_find_run(sc->name) != NULL)
			continue;
		if (server_new(sc) == NULL) {
			log_warnx("%s: cannot serve it", sc->name);
			errors++;
		}
	}
	return errors ? -1 : 0;
}

static void
server_resume(int fd, short event, void *arg)
{
	struct pserver	*p = arg;

	if (p->lfd != -1)
		event_add(&p->lev, NULL);
}

static void
server_accept(int fd, short event, void *arg)
{
	struct pserver		*p = arg;
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	struct timeval		 tv = { 1, 0 };
	int			 s, i, one = 1;

	for (i = 0; i < ACCEPT_BURST; i++) {
		len = sizeof(ss);
		s = accept4(fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				/* Out of fds: stop accepting for a second. */
				log_warn("%s: accept", p->name);
				event_del(&p->lev);
				evtimer_add(&p->lpause, &tv);
			} else if (errno == EINVAL) {
				/*
				 * The socket no longer listens (destroyed
				 * under us): it would wake us at every turn.
				 * emailproxyctl health reports it.
				 */
				log_warnx("%s: the listening socket no longer "
				    "listens: not accepting", p->name);
				event_del(&p->lev);
			} else if (errno != EAGAIN)
				log_warn("%s: accept", p->name);
			return;
		}
		/*
		 * Mail dialogues are small request/answer exchanges: without
		 * this, Nagle holds a greeting behind TLS tickets until the
		 * client's delayed ACK (~40 ms per login).
		 */
		(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		session_accept(p, s, (struct sockaddr *)&ss, len);
	}
}

void
server_listen(const char *name, int fd)
{
	struct pserver	*p;

	if ((p = server_find_run(name)) == NULL) {
		log_warnx("listener for unknown server %s", name);
		close(fd);
		return;
	}
	server_unlisten(p);
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		log_warn("%s: listener", p->name);
	p->lfd = fd;
	event_set(&p->lev, fd, EV_READ | EV_PERSIST, server_accept, p);
	evtimer_set(&p->lpause, server_resume, p);
	event_add(&p->lev, NULL);
	log_debug("%s: accepting connections", p->name);
}

void
servers_close(void)
{
	struct pserver	*p;

	while ((p = TAILQ_FIRST(&pservers)) != NULL)
		server_free(p, "Server shutting down");
	X509_STORE_free(global_store);
	global_store = NULL;
	X509_STORE_free(default_store);
	default_store = NULL;
}

void
servers_health(const struct emailproxy_conf *conf,
    void (*fn)(const char *, const char *, void *), void *arg)
{
	struct server_conf	*sc;
	struct pserver		*p;
	int			 on;
	socklen_t		 len;

	TAILQ_FOREACH(sc, &conf->servers, entry) {
		len = sizeof(on);
		if ((p = server_find_run(sc->name)) == NULL)
			fn(sc->name, "cannot be served (see the log)", arg);
		else if (p->lfd == -1)
			fn(sc->name, "has no listening socket", arg);
		else if (getsockopt(p->lfd, SOL_SOCKET, SO_ACCEPTCONN, &on,
		    &len) == -1 || !on)
			fn(sc->name, "its socket is not listening", arg);
		else if (evtimer_pending(&p->lpause, NULL))
			fn(sc->name, "not accepting: out of descriptors", arg);
		else
			fn(sc->name, NULL, arg);
	}
}

void
servers_foreach(void (*fn)(struct pserver *, void *), void *arg)
{
	struct pserver	*p;

	TAILQ_FOREACH(p, &pservers, entry)
		fn(p, arg);
}

unsigned int
servers_listening(void)
{
	struct pserver	*p;
	unsigned int	 n = 0;

	TAILQ_FOREACH(p, &pservers, entry)
		if (p->lfd != -1)
			n++;
	return n;
}
