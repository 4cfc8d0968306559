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
#include "proc.h"
#include "proxy.h"
#include "proxy_metrics.h"

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

static void
ctl_stats_obj(json_t *o, void *arg)
{
	struct ctl_walk	*w = arg;

	ctl_data(w->iev, w->id, o);
}

/* The objects are built by proxy/metrics.c, for /metrics too. */
static void
ctl_stats(struct imsgev *iev, uint32_t id)
{
	struct ctl_walk		w;

	w.iev = iev;
	w.id = id;
	proxy_metrics_objects(ctl_stats_obj, &w);
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
