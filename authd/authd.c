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
 * authd: the OAuth 2.0 process.  It holds client secrets and signing
 * keys, talks HTTPS to token endpoints and matches the authorisation
 * redirects the proxy receives (redirect.c) to their flights; it has
 * no other file or network access after start.
 */

#include <sys/types.h>

#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event.h>
#include <event2/dns.h>
#include <jansson.h>

#include "emailproxy.h"
#include "config.h"
#include "log.h"
#include "proc.h"
#include "authd.h"

/* jansson holds tokens from every answer: wipe what it frees. */
static void
json_wipe_free(void *p)
{
	if (p != NULL) {
		explicit_bzero(p, malloc_usable_size(p));
		free(p);
	}
}

/*
 * Everything that reads a file happens here, before the chroot: the
 * resolver's resolv.conf and hosts, libcurl's and OpenSSL's set-up.  The
 * CA bundle arrived in the configuration.
 */
static void
authd_preload(struct event_base *base)
{
	struct evdns_base	*dns;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init");
	if ((dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS)) ==
	    NULL) {
		log_warnx("cannot read /etc/resolv.conf: only /etc/hosts and "
		    "addresses will resolve");
		if ((dns = evdns_base_new(base, 0)) == NULL)
			fatalx("evdns_base_new");
	}
	if (evdns_base_load_hosts(dns, NULL) != 0)
		log_debug("no /etc/hosts");
	http_set_proxy(getenv("https_proxy") != NULL ? getenv("https_proxy") :
	    getenv("HTTPS_PROXY"), getenv("no_proxy") != NULL ?
	    getenv("no_proxy") : getenv("NO_PROXY"));
	if (authd_conf->ca_file.data == NULL)
		log_warnx("no CA bundle: HTTPS to OAuth servers will fail");
	/* libcurl's multi handle opens its wake-up socketpair here. */
	if (http_init(dns) == -1)
		fatalx("cannot start the HTTP engine");
}

void
authd_main(int debug, int verbose)
{
	struct event_base	*base;

	json_set_alloc_funcs(malloc, json_wipe_free);
	/* jansson seeds its hash from /dev/urandom: now, not in the chroot. */
	json_object_seed(0);
	log_init(debug, LOG_DAEMON);
	log_setverbose(verbose);
	log_procinit("authd");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	/* The parent's too: a signal sent to every process of the unit. */
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);

	if (imsgbuf_init(&iev_parent->ibuf, PARENT_SOCK_FILENO) == -1 ||
	    imsgbuf_set_maxsize(&iev_parent->ibuf, IMSG_MAXSIZE_PARENT) ==
	    -1)
		fatal("imsgbuf_init parent");
	/* No descriptor comes: the proxy holds every listening socket. */
	authd_conf = proc_wait_config(&iev_parent->ibuf);

	if ((base = event_init()) == NULL)
		fatalx("event_init");
	authd_preload(base);

	proc_privdrop(authd_conf->user, authd_conf->empty_dir, "authd");
	sandbox_authd();

	authd_start(-1, PEER1_SOCK_FILENO, PEER2_SOCK_FILENO);
	log_debug("started");
	event_dispatch();
	fatalx("event loop ended");
}
