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
 * The tokend process: the only holder of OAuth tokens at rest (the
 * model is relayd's and smtpd's ca.c).  It reads and writes its store
 * directory and nothing else; it never touches the network.
 */

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <event.h>

#include "log.h"
#include "msg.h"
#include "proc.h"
#include "tokend.h"
#include "store_redis.h"

static struct imsgev		 iev_parent, iev_proxy, iev_authd, iev_control;
static struct emailproxy_conf	*conf, *pending;

static int	tokend_dispatch_parent(struct imsgev *, struct imsg *);
static int	tokend_dispatch_proxy(struct imsgev *, struct imsg *);
static int	tokend_dispatch_authd(struct imsgev *, struct imsg *);
static int	tokend_dispatch_control(struct imsgev *, struct imsg *);
static void	tokend_parent_gone(struct imsgev *);
static void	tokend_kick(void *);
static void	tokend_sig(int, short, void *);
static void	tokend_peer_gone(struct imsgev *);
static void	tokend_redis_ask(void);
static __dead void tokend_shutdown(void);

static __dead void
tokend_shutdown(void)
{
	tokend_login_shutdown();
	imsgbuf_clear(&iev_proxy.ibuf);
	imsgbuf_clear(&iev_authd.ibuf);
	imsgbuf_clear(&iev_control.ibuf);
	imsgbuf_clear(&iev_parent.ibuf);
	config_free(conf);
	config_free(pending);
	log_info("exiting");
	exit(0);
}

/*
 * The proxy, authd or the control process closed its link.  The parent
 * sees that child go too and stops the daemon; tokend stays until the
 * parent says so, so that during a requested stop no other child sees
 * it vanish.
 */
static void
tokend_peer_gone(struct imsgev *iev)
{
	log_debug("%s closed its link", iev->name);
}

static void
tokend_kick(void *arg)
{
	imsg_event_add(arg);
}

static void
tokend_sig(int sig, short event, void *arg)
{
	tokend_shutdown();
}

void
tokend_main(int debug, int verbose)
{
	struct event	 ev_term;
	struct tk_peer	 proxy, authd;

	/* Before jansson allocates anything: what it frees is wiped. */
	record_init();
	log_init(debug, LOG_DAEMON);
	log_setverbose(verbose);
	log_procinit("tokend");

	event_init();
	/* Descriptors: the connections to a shared store's Redis. */
	imsgev_peer(&iev_parent, PARENT_SOCK_FILENO, "parent",
	    tokend_dispatch_parent, tokend_parent_gone, NULL,
	    IMSG_MAXSIZE_PARENT, 1);
	conf = proc_wait_config(&iev_parent.ibuf);

	/*
	 * Load the crypto providers while files can still be read, and
	 * open the store before the chroot into it, which also works
	 * when not started as root.
	 */
	if (tk_crypto_init() == -1)
		fatalx("libcrypto self test failed");
	memset(&proxy, 0, sizeof(proxy));
	memset(&authd, 0, sizeof(authd));
	proxy.ibuf = &iev_proxy.ibuf;
	proxy.kick = tokend_kick;
	proxy.arg = &iev_proxy;
	authd.ibuf = &iev_authd.ibuf;
	authd.kick = tokend_kick;
	authd.arg = &iev_authd;
	if (tokend_login_init(conf, conf->store_dir, &proxy, &authd) == -1)
		fatalx("cannot open the token store %s", conf->store_dir);
	/* Events for notify_command. */
	tk.parent.ibuf = &iev_parent.ibuf;
	tk.parent.kick = tokend_kick;
	tk.parent.arg = &iev_parent;
	if (strcmp(conf->token_store, "redis") == 0 &&
	    store_redis_init(&tk.store, conf->redis_key_prefix,
	    tokend_redis_ask) == -1)
		fatal("token store");

	proc_privdrop(conf->user, conf->store_dir, "tokend");
	sandbox_tokend();
	/*
	 * A store that cannot keep tokens is a start failure, never ready.
	 * Redis may be down for a while: health and the log tell.
	 */
	if (!store_shared(&tk.store) && store_writable(&tk.store) == -1)
		fatal("token store %s: cannot write", conf->store_dir);

	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);	/* the parent's business */
	signal(SIGINT, SIG_IGN);
	/* The parent's too: a signal sent to every process of the unit. */
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	signal_set(&ev_term, SIGTERM, tokend_sig, NULL);
	signal_add(&ev_term, NULL);

	imsgev_peer(&iev_proxy, PEER1_SOCK_FILENO, "proxy",
	    tokend_dispatch_proxy, tokend_peer_gone, NULL, 0, 0);
	imsgev_peer(&iev_authd, PEER2_SOCK_FILENO, "authd",
	    tokend_dispatch_authd, tokend_peer_gone, NULL, 0, 0);
	imsgev_peer(&iev_control, PEER3_SOCK_FILENO, "control",
	    tokend_dispatch_control, tokend_peer_gone, NULL,
	    IMSG_MAXSIZE_PARENT, 0);

	if (imsg_compose_event(&iev_parent, IMSG_CONF_DONE, 0, 0, -1, NULL,
	    0) == -1)
		fatal("cannot queue CONF_DONE");
	/* Anything the parent sent after the configuration. */
	imsgev_dispatch(iev_parent.ibuf.fd, 0, &iev_parent);
	log_debug("ready, %u-iteration keys for new records",
	    conf->kdf_iterations);

	event_dispatch();
	tokend_shutdown();
}

/* Without the parent there is nobody to serve. */
static void
tokend_parent_gone(struct imsgev *iev)
{
	tokend_shutdown();
}

/* The shared store needs a connection: the parent opens it. */
static void
tokend_redis_ask(void)
{
	if (imsg_compose_event(&iev_parent, IMSG_REDIS_CONNECT, 0, 0, -1,
	    NULL, 0) == -1)
		fatal("cannot queue REDIS_CONNECT");
}

static int
tokend_redis_fd(struct imsg *imsg)
{
	struct msgr	 m;
	const char	*why;
	int		 fd;

	fd = imsg_get_fd(imsg);
	msg_read_init(&m, imsg);
	why = msg_get_str(&m);
	if (msg_read_end(&m) == -1 || (fd == -1) == (why == NULL)) {
		log_warnx("malformed REDIS_FD from parent");
		if (fd != -1)
			close(fd);
		return (DISPATCH_BAD);
	}
	store_redis_fd(&tk.store, fd, why);
	return (DISPATCH_OK);
}

static void
tokend_reconf(struct emailproxy_conf *newconf)
{
	if (strcmp(newconf->store_dir, conf->store_dir) != 0)
		log_warnx("store_dir changes need a restart; tokens stay in %s",
		    conf->store_dir);
	if (strcmp(newconf->token_store, conf->token_store) != 0 ||
	    !tk_strequal(newconf->redis_key_prefix, conf->redis_key_prefix))
		log_warnx("token_store and redis_key_prefix changes need a "
		    "restart; tokens stay where they are");
	tokend_login_reconf(newconf);
	config_free(conf);
	conf = newconf;
}

/* The configuration, shutdown and the Redis connection from the parent. */
static int
tokend_dispatch_parent(struct imsgev *iev, struct imsg *imsg)
{
	if (proc_parent_common(iev, imsg, &pending, tokend_reconf))
		return (DISPATCH_OK);
	if (imsg_get_type(imsg) == IMSG_SHUTDOWN)
		tokend_shutdown();
	if (imsg_get_type(imsg) == IMSG_REDIS_FD)
		return (tokend_redis_fd(imsg));
	return (DISPATCH_UNKNOWN);
}

/* The control process's requests, in dispatch.c. */
static int
tokend_dispatch_control(struct imsgev *iev, struct imsg *imsg)
{
	struct tk_peer	p;

	p.ibuf = &iev->ibuf;
	p.kick = tokend_kick;
	p.arg = iev;
	return (tokend_ctl_imsg(&p, imsg));
}

static int
tokend_dispatch_proxy(struct imsgev *iev, struct imsg *imsg)
{
	return (tokend_proxy_imsg(imsg));
}

static int
tokend_dispatch_authd(struct imsgev *iev, struct imsg *imsg)
{
	return (tokend_authd_imsg(imsg));
}
