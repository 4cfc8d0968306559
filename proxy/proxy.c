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
 * The proxy process: the network-facing child.  It holds listeners,
 * client sessions and access tokens in flight, never a refresh token or
 * the store.  Everything it needs from the filesystem (resolv.conf,
 * hosts, the CA bundle) is read before the chroot.
 */

#include <sys/types.h>

#include <event.h>
#include <signal.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "proc.h"
#include "proxy.h"
#include "proxy_metrics.h"
#include "upstream.h"
#include "web.h"


struct emailproxy_conf	*proxy_conf;
time_t			 proxy_started;

static struct imsgev	 iev_parent;
static struct imsgev	 iev_tokend;
static struct imsgev	 iev_control;
static struct emailproxy_conf *pending_conf;
static struct event	 ev_shutdown;
static int		 stopping;

static int	 proxy_dispatch_parent(struct imsgev *, struct imsg *);
static void	 proxy_parent_gone(struct imsgev *);
static int	 proxy_dispatch_tokend(struct imsgev *, struct imsg *);
static void	 proxy_tokend_gone(struct imsgev *);
static int	 proxy_dispatch_control(struct imsgev *, struct imsg *);
static void	 proxy_control_gone(struct imsgev *);
static void	 proxy_shutdown(void);

__dead void
proxy_main(int debug, int verbose)
{
	struct event_base	*base;

	log_init(debug, LOG_DAEMON);
	log_setverbose(verbose);
	log_procinit("proxy");
	proxy_started = time(NULL);

	base = event_init();
	imsgev_peer(&iev_parent, PARENT_SOCK_FILENO, "parent",
	    proxy_dispatch_parent, proxy_parent_gone, NULL,
	    IMSG_MAXSIZE_PARENT, 1);
	proxy_conf = proc_wait_config(&iev_parent.ibuf);

	/* What needs the filesystem, before the chroot. */
	if (upstream_dns_init(base) == -1)
		fatalx("cannot set up the resolver");
	servers_init();
	if (servers_configure(proxy_conf) == -1)
		log_warnx("some servers cannot be served");

	proc_privdrop(proxy_conf->user, proxy_conf->empty_dir, "proxy");
	sandbox_proxy();

	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	/* The parent's too: a signal sent to every process of the unit. */
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	signal(SIGTERM, SIG_IGN);

	imsgev_peer(&iev_tokend, PEER1_SOCK_FILENO, "tokend",
	    proxy_dispatch_tokend, proxy_tokend_gone, NULL, 0, 0);
	imsgev_peer(&iev_control, PEER2_SOCK_FILENO, "control",
	    proxy_dispatch_control, proxy_control_gone, NULL,
	    IMSG_MAXSIZE_PARENT, 0);
	if (imsg_compose_event(&iev_parent, IMSG_CONF_DONE, 0, 0, -1,
	    NULL, 0) == -1)
		fatal("compose CONF_DONE");
	/* Messages that came with the configuration are already read. */
	imsgev_dispatch(PARENT_SOCK_FILENO, 0, &iev_parent);

	event_dispatch();
	fatalx("event loop ended");
}

static void
proxy_reload(struct emailproxy_conf *conf)
{
	struct emailproxy_conf	*old = proxy_conf;

	proxy_conf = conf;
	if (servers_configure(conf) == -1)
		log_warnx("some servers cannot be served");
	proxy_metrics_reconf(conf);
	web_page_reconf(conf);
	config_free(old);
	log_info("configuration reloaded");
}

/* The parent is gone: nobody to serve for. */
static void
proxy_parent_gone(struct imsgev *iev)
{
	proxy_shutdown();
}

static int
proxy_dispatch_parent(struct imsgev *iev, struct imsg *imsg)
{
	struct msgr	 r;
	const char	*name;
	int		 lfd;

	if (proc_parent_common(iev, imsg, &pending_conf, proxy_reload))
		return (DISPATCH_OK);
	switch (imsg_get_type(imsg)) {
	case IMSG_LISTENER:
		lfd = imsg_get_fd(imsg);
		msg_read_init(&r, imsg);
		name = msg_get_str(&r);
		if (msg_read_end(&r) == -1 || name == NULL || lfd == -1)
			fatalx("malformed LISTENER from parent");
		server_listen(name, lfd);
		return (DISPATCH_OK);
	case IMSG_REDIRECT_LISTENER:
	case IMSG_PAGE_LISTENER:
		lfd = imsg_get_fd(imsg);
		msg_read_init(&r, imsg);
		name = msg_get_str(&r);
		if (msg_read_end(&r) == -1 || name == NULL || lfd == -1)
			fatalx("malformed %s from parent",
			    imsg_type_name(imsg_get_type(imsg)));
		if (imsg_get_type(imsg) == IMSG_PAGE_LISTENER)
			web_page_listen(lfd, name);
		else
			web_redirect_listen(lfd, name);
		return (DISPATCH_OK);
	case IMSG_METRICS_LISTENER:
		lfd = imsg_get_fd(imsg);
		msg_read_init(&r, imsg);
		name = msg_get_str(&r);
		if (msg_read_end(&r) == -1 || name == NULL || lfd == -1)
			fatalx("malformed METRICS_LISTENER from parent");
		proxy_metrics_listen(lfd, name);
		return (DISPATCH_OK);
	case IMSG_SHUTDOWN:
		proxy_shutdown();
		return (DISPATCH_GONE);
	}
	return (DISPATCH_UNKNOWN);
}

/* The control process's requests: proxy/ctl.c answers them. */
static int
proxy_dispatch_control(struct imsgev *iev, struct imsg *imsg)
{
	return (proxy_ctl(iev, imsg));
}

/*
 * The control process went: sessions go on.  The parent, which sees it
 * go, stops the daemon unless it was stopping it already.
 */
static void
proxy_control_gone(struct imsgev *iev)
{
	log_debug("control closed its link");
}

static void
proxy_tokend_gone(struct imsgev *iev)
{
	if (stopping)
		return;
	proc_peer_gone("tokend");
}

static int
proxy_dispatch_tokend(struct imsgev *iev, struct imsg *imsg)
{
	struct msgr	 r;
	const char	*user, *token, *msg, *url, *state, *code;
	uint32_t	 reason;
	uint64_t	 expiry;

	/* The loop's imsg_free wipes the buffer, token included. */
	msg_read_init(&r, imsg);
	switch (imsg_get_type(imsg)) {
	case IMSG_TOKEN_OK:
		user = msg_get_str(&r);
		token = msg_get_str(&r);
		if (msg_read_end(&r) == -1 || user == NULL || token == NULL)
			fatalx("malformed TOKEN_OK from tokend");
		session_token_ok(imsg_get_id(imsg), user, token);
		return (DISPATCH_OK);
	case IMSG_TOKEN_FAIL:
		reason = msg_get_u32(&r);
		msg = msg_get_str(&r);
		if (msg_read_end(&r) == -1 || msg == NULL)
			fatalx("malformed TOKEN_FAIL from tokend");
		session_token_fail(imsg_get_id(imsg), reason, msg);
		return (DISPATCH_OK);
	case IMSG_CTL_DATA:
	case IMSG_CTL_END:
		return (proxy_metrics_answer(imsg));
	case IMSG_PAGE_CONSENT:
		url = msg_get_str(&r);
		state = msg_get_str(&r);
		code = msg_get_str(&r);
		expiry = msg_get_u64(&r);
		if (msg_read_end(&r) == -1 || url == NULL)
			fatalx("malformed PAGE_CONSENT from tokend");
		web_page_consent(imsg_get_id(imsg), url, state, code, expiry);
		return (DISPATCH_OK);
	case IMSG_PAGE_DONE:
		user = msg_get_str(&r);
		reason = msg_get_u32(&r);
		if (msg_read_end(&r) == -1 || user == NULL)
			fatalx("malformed PAGE_DONE from tokend");
		web_page_done(imsg_get_id(imsg), user, reason);
		return (DISPATCH_OK);
	case IMSG_PAGE_FAIL:
		reason = msg_get_u32(&r);
		msg = msg_get_str(&r);
		if (msg_read_end(&r) == -1 || msg == NULL)
			fatalx("malformed PAGE_FAIL from tokend");
		web_page_fail(imsg_get_id(imsg), reason, msg);
		return (DISPATCH_OK);
	case IMSG_REDIRECT_RESULT:
		reason = msg_get_u32(&r);
		user = msg_get_str(&r);
		msg = msg_get_str(&r);
		if (msg_read_end(&r) == -1 || msg == NULL || reason < 200 ||
		    reason > 599)
			fatalx("malformed REDIRECT_RESULT from tokend");
		web_redirect_result(imsg_get_id(imsg), reason, user, msg);
		return (DISPATCH_OK);
	}
	return (DISPATCH_UNKNOWN);
}

/*
 * An event for notify_command.  The account is the name the client
 * sent: only printable ASCII goes to the parent.
 */
void
proxy_event(enum notify_event event, const char *account)
{
	struct msgw	 w;
	char		 name[256];
	size_t		 i;

	if (stopping)
		return;
	for (i = 0; account[i] != '\0' && i < sizeof(name) - 1; i++)
		name[i] = account[i] >= 0x20 && account[i] < 0x7f ?
		    account[i] : '?';
	name[i] = '\0';
	msg_begin(&w, &iev_parent.ibuf, IMSG_EVENT, 0, -1);
	msg_put_u32(&w, event);
	msg_put_str(&w, name);
	msg_put_str(&w, NULL);
	if (imsgev_msg_end(&iev_parent, &w) == -1)
		log_warnx("cannot send an event to the parent");
}

int
proxy_token_get(uint32_t id, const char *server, enum proto proto,
    const char *addr, const char *user, const char *password,
    uint32_t flags, const char *rejected)
{
	struct msgw	w;

	msg_begin(&w, &iev_tokend.ibuf, IMSG_TOKEN_GET, id, -1);
	msg_put_str(&w, server);
	msg_put_u32(&w, proto);
	msg_put_str(&w, addr);
	msg_put_str(&w, user);
	msg_put_str(&w, password);
	msg_put_u32(&w, flags);
	msg_put_str(&w, rejected);
	if (imsgev_msg_end(&iev_tokend, &w) == -1) {
		log_warnx("session %u: cannot ask tokend", id);
		return -1;
	}
	return 0;
}

/* IMSG_METRICS_REQUEST: 0, or -1 if it cannot be queued. */
int
proxy_metrics_request(uint32_t id)
{
	if (stopping || imsg_compose_event(&iev_tokend, IMSG_METRICS_REQUEST,
	    id, 0, -1, NULL, 0) == -1)
		return (-1);
	return (0);
}

void
proxy_token_cancel(uint32_t id)
{
	if (stopping)
		return;
	if (imsg_compose_event(&iev_tokend, IMSG_TOKEN_CANCEL, id, 0, -1,
	    NULL, 0) == -1)
		log_warnx("session %u: cannot cancel its token request", id);
}

/* The authorisation page's login: decided by tokend as a login is. */
int
proxy_page_login(uint32_t id, const char *addr, const char *user,
    const char *password)
{
	struct msgw	w;

	if (stopping)
		return (-1);
	msg_begin(&w, &iev_tokend.ibuf, IMSG_PAGE_LOGIN, id, -1);
	msg_put_str(&w, addr);
	msg_put_str(&w, user);
	msg_put_str(&w, password);
	if (imsgev_msg_end(&iev_tokend, &w) == -1) {
		log_warnx("authorisation page: cannot ask tokend");
		return (-1);
	}
	return (0);
}

void
proxy_page_cancel(uint32_t id)
{
	if (stopping)
		return;
	if (imsg_compose_event(&iev_tokend, IMSG_PAGE_CANCEL, id, 0, -1,
	    NULL, 0) == -1)
		log_warnx("authorisation page: cannot cancel request %u", id);
}

/* A browser's redirect for authd, through tokend. */
int
proxy_redirect_response(uint32_t id, const char *path, const char *state,
    const char *code, const char *error, const char *desc)
{
	struct msgw	w;

	if (stopping)
		return (-1);
	msg_begin(&w, &iev_tokend.ibuf, IMSG_REDIRECT_RESPONSE, id, -1);
	msg_put_str(&w, path);
	msg_put_str(&w, state);
	msg_put_str(&w, code);
	msg_put_str(&w, error);
	msg_put_str(&w, desc);
	if (imsgev_msg_end(&iev_tokend, &w) == -1) {
		log_warnx("redirect: cannot pass it to tokend");
		return (-1);
	}
	return (0);
}

static void
proxy_exit(void)
{
	web_close();
	servers_close();
	upstream_dns_free();
	if (proxy_conf != NULL)
		config_free(proxy_conf);
	if (pending_conf != NULL)
		config_free(pending_conf);
	exit(0);
}

static void
proxy_shutdown_check(int fd, short event, void *arg)
{
	struct timeval	tv = { 0, 100000 };
	static int	ticks;

	/* Leave once every bye line is out, or after PROXY_SHUTDOWN_WAIT. */
	if (sessions_open() == 0 || ++ticks > PROXY_SHUTDOWN_WAIT * 10)
		proxy_exit();
	evtimer_add(&ev_shutdown, &tv);
}

static void
proxy_shutdown(void)
{
	struct timeval	tv = { 0, 0 };

	if (stopping)
		return;
	stopping = 1;
	log_debug("shutting down, %u sessions", sessions_open());
	event_del(&iev_parent.ev);
	/* No new clients; every session says goodbye. */
	servers_close();
	proxy_metrics_stop();
	web_close();
	sessions_shutdown("Server shutting down");
	evtimer_set(&ev_shutdown, proxy_shutdown_check, NULL);
	evtimer_add(&ev_shutdown, &tv);
}
