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
 * The proxy's metrics (proxy_metrics.h).  A scrape of /metrics asks tokend
 * once (IMSG_METRICS_REQUEST); tokend answers with authd's show stats
 * objects and its own, as CTL_DATA, then CTL_END.  Scrapes arriving
 * meanwhile wait for the same answer.  The proxy adds its own objects
 * and every waiting scrape gets the text in the format its Accept asks
 * for.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "emailproxy.h"
#include "config.h"
#include "dispatch.h"
#include "http_request.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "pool.h"
#include "proxy.h"
#include "http.h"
#include "proxy_metrics.h"
#include "tls_ossl.h"

#define METRICS_MAX_CONNS	16
#define METRICS_TIMEOUT		10	/* s to send a request, take it */
#define METRICS_WAIT		10	/* s for tokend's answer */

/* Counters per listener, kept across reloads (a counter only grows). */
struct listener_stats {
	TAILQ_ENTRY(listener_stats)	 entry;
	char				*name;
	enum proto			 proto;
	uint64_t			 sessions;
	uint64_t			 logins_ok;
	uint64_t			 logins_failed;	/* upstream too */
	uint64_t			 logins_upstream_rejected;
};
static TAILQ_HEAD(, listener_stats) lstats = TAILQ_HEAD_INITIALIZER(lstats);

/* A scrape waiting for tokend's answer. */
struct scrape {
	uint32_t	 conn;		/* http_conn_id */
	int		 om;		/* OpenMetrics, else text 0.0.4 */
};

static struct http_server	*msrv;
static char			*maddress;
static struct scrape		 waiting[METRICS_MAX_CONNS];
static size_t			 nwaiting;
static uint32_t			 req_id;	/* of the request out, or 0 */
static uint32_t			 next_req;
static time_t			 req_sent;
static json_t			*answers;	/* tokend's, so far */

static struct listener_stats *
lstats_get(const char *name, enum proto proto)
{
	struct listener_stats	*l;

	TAILQ_FOREACH(l, &lstats, entry)
		if (l->proto == proto && strcmp(l->name, name) == 0)
			return (l);
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->name = strdup(name)) == NULL) {
		free(l);
		return (NULL);
	}
	l->proto = proto;
	TAILQ_INSERT_TAIL(&lstats, l, entry);
	return (l);
}

void
proxy_metrics_session(const char *listener, enum proto proto)
{
	struct listener_stats	*l;

	if ((l = lstats_get(listener, proto)) != NULL)
		l->sessions++;
}

/* The audit results, as the proxy's totals count them (session.c). */
void
proxy_metrics_login(const char *listener, enum proto proto,
    const char *result)
{
	struct listener_stats	*l;

	if ((l = lstats_get(listener, proto)) == NULL)
		return;
	if (strcmp(result, "ok") == 0)
		l->logins_ok++;
	else {
		l->logins_failed++;
		if (strcmp(result, "upstream-rejected") == 0)
			l->logins_upstream_rejected++;
	}
}

struct walk {
	void	(*fn)(json_t *, void *);
	void	*arg;
};

/* A section with an upstream pool: its gauges, as one object. */
static void
metrics_pool(struct pserver *p, void *arg)
{
	struct walk	*w = arg;
	unsigned int	 limit, size, idle;
	json_t		*o;

	pool_counts(p, &limit, &size, &idle);
	if (limit == 0 && size == 0)
		return;
	if ((o = json_pack("{s:s, s:I, s:I, s:I}",
	    "server", p->name,
	    "upstream_pool_limit", (json_int_t)limit,
	    "upstream_pool_connections", (json_int_t)size,
	    "upstream_pool_idle", (json_int_t)idle)) == NULL)
		fatalx("%s: json", __func__);
	w->fn(o, w->arg);
}

void
proxy_metrics_objects(void (*fn)(json_t *, void *), void *arg)
{
	struct proxy_stats	 st;
	struct pool_stats	 ps;
	struct listener_stats	*l;
	struct walk		 w;
	json_t			*o;
	uint64_t		 hs, resumed;

	proxy_stats_get(&st);
	tlsx_counters(&hs, &resumed);
	o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I}",
	    "proxy_sessions_open", (json_int_t)st.sessions_open,
	    "proxy_sessions_total", (json_int_t)st.sessions_total,
	    "proxy_connections_refused_total",
	    (json_int_t)st.connections_refused,
	    "proxy_logins_ok_total", (json_int_t)st.logins_ok,
	    "proxy_logins_failed_total", (json_int_t)st.logins_failed,
	    "proxy_logins_upstream_rejected_total",
	    (json_int_t)st.logins_upstream_rejected,
	    "proxy_bytes_from_clients_total", (json_int_t)st.bytes_from_clients,
	    "proxy_bytes_to_clients_total", (json_int_t)st.bytes_to_clients,
	    "proxy_listeners", (json_int_t)st.listeners,
	    "proxy_upstream_tls_handshakes_total", (json_int_t)hs,
	    "proxy_upstream_tls_resumed_total", (json_int_t)resumed,
	    "proxy_start_time_seconds", (json_int_t)st.start_time);
	pool_stats_get(&ps);
	if (o == NULL ||
	    json_object_set_new(o, "proxy_upstream_pool_opened_total",
	    json_integer(ps.opened)) == -1 ||
	    json_object_set_new(o, "proxy_upstream_pool_taken_total",
	    json_integer(ps.taken)) == -1 ||
	    json_object_set_new(o, "proxy_upstream_pool_discarded_total",
	    json_integer(ps.discarded)) == -1 ||
	    json_object_set_new(o, "proxy_upstream_pool_failed_total",
	    json_integer(ps.failed)) == -1)
		fatalx("%s: json", __func__);
	fn(o, arg);
	w.fn = fn;
	w.arg = arg;
	servers_foreach(metrics_pool, &w);
	TAILQ_FOREACH(l, &lstats, entry) {
		if ((o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}",
		    "listener", l->name,
		    "protocol", proto_name(l->proto),
		    "proxy_sessions_total", (json_int_t)l->sessions,
		    "proxy_logins_ok_total", (json_int_t)l->logins_ok,
		    "proxy_logins_failed_total", (json_int_t)l->logins_failed,
		    "proxy_logins_upstream_rejected_total",
		    (json_int_t)l->logins_upstream_rejected)) == NULL)
			fatalx("%s: json", __func__);
		fn(o, arg);
	}
}

static void
metrics_collect(json_t *o, void *arg)
{
	if (json_array_append_new(arg, o) == -1)
		fatalx("%s: json", __func__);
}

/* Every waiting scrape gets the text; the answers are dropped. */
static void
metrics_answer_all(void)
{
	struct http_conn	*c;
	json_t			*stats = NULL;
	char			*text[2] = { NULL, NULL };
	size_t			 len[2] = { 0, 0 }, i;
	FILE			*fp;
	int			 om;

	if (answers != NULL) {
		proxy_metrics_objects(metrics_collect, answers);
		stats = metrics_merge(answers);
	}
	for (i = 0; i < nwaiting; i++) {
		if ((c = http_conn_find(waiting[i].conn)) == NULL)
			continue;
		om = waiting[i].om;
		if (stats != NULL && text[om] == NULL &&
		    (fp = open_memstream(&text[om], &len[om])) != NULL) {
			if (metrics_write(fp, stats, answers, om) == -1) {
				fclose(fp);
				free(text[om]);
				text[om] = NULL;
			} else if (fclose(fp) != 0) {
				free(text[om]);
				text[om] = NULL;
			}
		}
		if (text[om] == NULL) {
			http_reply_error(c, 500);
			continue;
		}
		if (http_reply_body(c, text[om], len[om]) == -1) {
			http_reply_error(c, 500);
			continue;
		}
		log_debug("metrics: %s: answered in %s", http_conn_peer(c),
		    om ? "OpenMetrics 1.0" : "text format 0.0.4");
		http_reply(c, 200, om ? METRICS_TYPE_OM : METRICS_TYPE_TEXT);
	}
	free(text[0]);
	free(text[1]);
	json_decref(stats);
	json_decref(answers);
	answers = NULL;
	nwaiting = 0;
	req_id = 0;
}

static void
metrics_get(struct http_conn *c, const struct http_request *req, void *arg)
{
	int	 qom, qtext;

	qom = http_accept_quality(req->accept, "application/openmetrics-text");
	qtext = http_accept_quality(req->accept, "text/plain");
	if (qom == 0 && qtext == 0) {
		http_reply_error(c, 406);
		return;
	}
	if (nwaiting == METRICS_MAX_CONNS) {
		http_reply_error(c, 503);
		return;
	}
	waiting[nwaiting].conn = http_conn_id(c);
	waiting[nwaiting].om = qom > qtext;
	nwaiting++;
	/* One request out at a time; a lost one is replaced. */
	if (req_id != 0 && time(NULL) - req_sent < METRICS_WAIT)
		return;
	json_decref(answers);
	if ((answers = json_array()) == NULL)
		fatalx("%s: json", __func__);
	do {
		req_id = ++next_req;
	} while (req_id == 0);
	req_sent = time(NULL);
	if (proxy_metrics_request(req_id) == -1) {
		log_warnx("metrics: cannot ask tokend");
		json_decref(answers);
		answers = NULL;
		metrics_answer_all();
	}
}

int
proxy_metrics_answer(struct imsg *imsg)
{
	struct msgr	 r;
	const char	*s;
	json_error_t	 jerr;
	json_t		*o;

	msg_read_init(&r, imsg);
	switch (imsg_get_type(imsg)) {
	case IMSG_CTL_DATA:
		s = msg_get_str(&r);
		if (msg_read_end(&r) == -1 || s == NULL) {
			log_warnx("malformed CTL_DATA from tokend");
			return (DISPATCH_BAD);
		}
		if (imsg_get_id(imsg) != req_id || answers == NULL)
			return (DISPATCH_OK);	/* an earlier request's */
		if ((o = json_loads(s, 0, &jerr)) == NULL ||
		    !json_is_object(o)) {
			log_warnx("metrics: tokend sent an object that is "
			    "not JSON: ignored");
			json_decref(o);
			return (DISPATCH_OK);
		}
		if (json_array_append_new(answers, o) == -1)
			fatalx("%s: json", __func__);
		return (DISPATCH_OK);
	case IMSG_CTL_END:
		if (msg_read_end(&r) == -1) {
			log_warnx("malformed CTL_END from tokend");
			return (DISPATCH_BAD);
		}
		if (imsg_get_id(imsg) == req_id && req_id != 0)
			metrics_answer_all();
		return (DISPATCH_OK);
	}
	return (DISPATCH_UNKNOWN);
}

static const struct http_route metrics_routes[] = {
	{ "/metrics", HTTP_M_GET, metrics_get, NULL },
};

void
proxy_metrics_stop(void)
{
	http_server_stop(msrv);
	msrv = NULL;
	free(maddress);
	maddress = NULL;
	nwaiting = 0;
}

void
proxy_metrics_listen(int fd, const char *address)
{
	struct http_server_conf	 conf;

	proxy_metrics_stop();
	memset(&conf, 0, sizeof(conf));
	conf.name = "metrics";
	conf.routes = metrics_routes;
	conf.nroutes = sizeof(metrics_routes) / sizeof(metrics_routes[0]);
	conf.max_conns = METRICS_MAX_CONNS;
	conf.timeout = METRICS_TIMEOUT;
	conf.handler_timeout = METRICS_WAIT;
	conf.head_max = HTTP_HEAD_MAX;
	conf.body_max = 0;
	if ((msrv = http_server_start(fd, &conf)) == NULL)
		return;
	if ((maddress = strdup(address)) == NULL)
		fatal("%s", __func__);
	log_info("metrics: serving /metrics on %s", address);
}

void
proxy_metrics_reconf(const struct emailproxy_conf *conf)
{
	if (msrv != NULL && (conf->metrics_listen == NULL ||
	    strcmp(conf->metrics_listen, maddress) != 0)) {
		log_info("metrics: no longer serving on %s", maddress);
		proxy_metrics_stop();
	}
}
