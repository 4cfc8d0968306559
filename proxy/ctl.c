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
 * Control requests the control process sends the proxy (peerid = the
 * control connection): show sessions, show stats and health.  Each
 * answer is CTL_DATA* then CTL_END, with the same peerid, on that link.
 */

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "emailproxy.h"
#include "log.h"
#include "pool.h"
#include "proc.h"
#include "proxy.h"
#include "tls_ossl.h"

static void
ctl_data(struct imsgev *iev, uint32_t id, json_t *obj)
{
	struct msgw	 w;
	char		*s;

	if (obj == NULL || (s = json_dumps(obj, JSON_COMPACT)) == NULL)
		fatalx("%s: json", __func__);
	msg_begin(&w, &iev->ibuf, IMSG_CTL_DATA, id, -1);
	msg_put_str(&w, s);
	if (imsgev_msg_end(iev, &w) == -1)
		fatal("CTL_DATA to control");
	free(s);
	json_decref(obj);
}

static void
ctl_end(struct imsgev *iev, uint32_t id)
{
	if (imsg_compose_event(iev, IMSG_CTL_END, id, 0, -1, NULL, 0) == -1)
		fatal("CTL_END to control");
}

struct ctl_walk {
	struct imsgev	*iev;
	uint32_t	 id;
};

static void
ctl_session(const struct session_info *si, void *arg)
{
	struct ctl_walk	*w = arg;

	ctl_data(w->iev, w->id, json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, "
	    "s:I, s:I}",
	    "id", (json_int_t)si->id,
	    "protocol", si->protocol,
	    "listener", si->listener,
	    "client", si->client,
	    "account", si->account != NULL ? si->account : "-",
	    "age", (json_int_t)si->age,
	    "bytes_in", (json_int_t)si->bytes_in,
	    "bytes_out", (json_int_t)si->bytes_out));
}

/* A section with an upstream pool: its gauges, as one object. */
static void
ctl_pool(struct pserver *p, void *arg)
{
	struct ctl_walk	*w = arg;
	unsigned int	 limit, size, idle;

	pool_counts(p, &limit, &size, &idle);
	if (limit == 0 && size == 0)
		return;
	ctl_data(w->iev, w->id, json_pack("{s:s, s:I, s:I, s:I}",
	    "server", p->name,
	    "upstream_pool_limit", (json_int_t)limit,
	    "upstream_pool_connections", (json_int_t)size,
	    "upstream_pool_idle", (json_int_t)idle));
}

static void
ctl_stats(struct imsgev *iev, uint32_t id)
{
	struct proxy_stats	st;
	struct pool_stats	ps;
	struct ctl_walk		w;
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
	ctl_data(iev, id, o);
	w.iev = iev;
	w.id = id;
	servers_foreach(ctl_pool, &w);
	ctl_end(iev, id);
}

static void
ctl_listener(const char *name, const char *problem, void *arg)
{
	struct ctl_walk	*w = arg;
	json_t		*o;

	if ((o = json_pack("{s:s, s:s, s:b}", "check", "listener", "name",
	    name, "ok", problem == NULL)) == NULL)
		fatalx("%s: json", __func__);
	if (problem != NULL)
		json_object_set_new(o, "problem", json_string(problem));
	ctl_data(w->iev, w->id, o);
}

/* The control process's handler: DISPATCH_UNKNOWN for any other type. */
int
proxy_ctl(struct imsgev *iev, struct imsg *imsg)
{
	struct ctl_walk	 w;
	uint32_t	 id = imsg_get_id(imsg);

	switch (imsg_get_type(imsg)) {
	case IMSG_CTL_SHOW_SESSIONS:
		w.iev = iev;
		w.id = id;
		sessions_walk(ctl_session, &w);
		ctl_end(iev, id);
		break;
	case IMSG_CTL_SHOW_STATS:
		ctl_stats(iev, id);
		break;
	case IMSG_CTL_HEALTH:
		w.iev = iev;
		w.id = id;
		servers_health(proxy_conf, ctl_listener, &w);
		ctl_end(iev, id);
		break;
	default:
		return (DISPATCH_UNKNOWN);
	}
	return (DISPATCH_OK);
}
