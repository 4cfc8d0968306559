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
 * The daemon's counters as Prometheus text format 0.0.4 (counter
 * families named *_total, as that format expects) or as OpenMetrics 1.0
 * (counter families without _total, ending in # EOF), from the objects
 * the proxy, tokend and authd answer to show stats: emailproxyctl show
 * metrics and the proxy's /metrics both print them with this code.
 * Every family has # HELP and # TYPE; outcomes are labels.
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "emailproxy.h"
#include "metrics.h"

struct family {
	const char	*name;		/* a counter's without _total */
	int		 counter;
	const char	*help;
};

/* Which family and labels each key of show stats becomes. */
struct sample {
	const char	*key;
	const char	*family;
	const char	*labels;	/* NULL or name="value" */
	const char	*minus;		/* a key counted in this one */
};

static const struct family families[] = {
	{ "emailproxy_start_time_seconds", 0,
	    "Start time of the daemon since the Unix epoch in seconds." },
	{ "emailproxy_proxy_sessions", 1, "Client connections accepted." },
	{ "emailproxy_proxy_sessions_open", 0, "Client sessions open." },
	{ "emailproxy_proxy_connections_refused", 1,
	    "Client connections refused (limits, allowlist, PROXY header)." },
	{ "emailproxy_proxy_logins", 1, "Client logins by result." },
	{ "emailproxy_proxy_received_bytes", 1,
	    "Bytes read from clients." },
	{ "emailproxy_proxy_sent_bytes", 1, "Bytes written to clients." },
	{ "emailproxy_proxy_listeners", 0, "Listeners accepting clients." },
	{ "emailproxy_proxy_upstream_pool_connections_opened", 1,
	    "Upstream pool connections started." },
	{ "emailproxy_proxy_upstream_pool_connections_taken", 1,
	    "Upstream pool connections given to a client session." },
	{ "emailproxy_proxy_upstream_pool_connections_discarded", 1,
	    "Upstream pool connections closed in the pool (died, failed, "
	    "expired, pool made smaller)." },
	{ "emailproxy_proxy_upstream_pool_connections_failed", 1,
	    "Upstream pool connections that failed before their greeting or "
	    "died soon after it." },
	{ "emailproxy_proxy_upstream_tls_handshakes", 1,
	    "TLS handshakes with the servers." },
	{ "emailproxy_proxy_upstream_tls_resumed", 1,
	    "TLS handshakes with the servers that resumed a session." },
	{ "emailproxy_tokend_logins", 1,
	    "Logins checked by the token store, by result." },
	{ "emailproxy_tokend_token_refreshes", 1,
	    "Access tokens refreshed." },
	{ "emailproxy_tokend_token_obtains", 1,
	    "Tokens obtained by a grant." },
	{ "emailproxy_tokend_token_request_failures", 1,
	    "Token requests that failed." },
	{ "emailproxy_tokend_imports", 1,
	    "Token records imported from the Python proxy's cache." },
	{ "emailproxy_tokend_kdf_runs", 1,
	    "Key derivations run for logins." },
	{ "emailproxy_tokend_crypt_checks", 1,
	    "Local password hashes checked." },
	{ "emailproxy_tokend_kdf_queue", 0,
	    "Logins waiting for a key derivation." },
	{ "emailproxy_tokend_kdf_queue_refused", 1,
	    "Logins refused because the key derivation queue was full." },
	{ "emailproxy_tokend_accounts_unlocked", 0,
	    "Accounts whose tokens are open in memory." },
	{ "emailproxy_tokend_store_write_failures", 1,
	    "Token record writes that failed." },
	{ "emailproxy_tokend_records_unsaved", 0,
	    "Token records not yet written to the store." },
	{ "emailproxy_tokend_store_available", 0,
	    "1 while the token store answers (0: a shared store is down)." },
	{ "emailproxy_tokend_store_unavailable", 1,
	    "Logins and refreshes refused because the shared store was down." },
	{ "emailproxy_tokend_store_conflicts", 1,
	    "Record writes refused because another instance wrote first." },
	{ "emailproxy_tokend_shared_refresh_adopted", 1,
	    "Refreshes answered by another instance's record." },
	{ "emailproxy_authd_requests", 1, "Token requests to authd." },
	{ "emailproxy_authd_requests_joined", 1,
	    "Token requests that joined one already in flight." },
	{ "emailproxy_authd_grants", 1, "OAuth 2.0 grants by result." },
	{ "emailproxy_authd_http_requests", 1,
	    "HTTPS requests to the OAuth 2.0 endpoints." },
	{ "emailproxy_authd_redirects", 1,
	    "Browser redirects received after an authorisation." },
	{ "emailproxy_authd_pending_authorisations", 0,
	    "Authorisations waiting for a person." },
};

static const struct sample samples[] = {
	{ "proxy_start_time_seconds", "emailproxy_start_time_seconds",
	    NULL, NULL },
	{ "proxy_sessions_total", "emailproxy_proxy_sessions", NULL, NULL },
	{ "proxy_sessions_open", "emailproxy_proxy_sessions_open", NULL,
	    NULL },
	{ "proxy_connections_refused_total",
	    "emailproxy_proxy_connections_refused", NULL, NULL },
	{ "proxy_logins_ok_total", "emailproxy_proxy_logins",
	    "result=\"ok\"", NULL },
	{ "proxy_logins_upstream_rejected_total", "emailproxy_proxy_logins",
	    "result=\"upstream_rejected\"", NULL },
	{ "proxy_logins_failed_total", "emailproxy_proxy_logins",
	    "result=\"failed\"", "proxy_logins_upstream_rejected_total" },
	{ "proxy_bytes_from_clients_total", "emailproxy_proxy_received_bytes",
	    NULL, NULL },
	{ "proxy_bytes_to_clients_total", "emailproxy_proxy_sent_bytes",
	    NULL, NULL },
	{ "proxy_listeners", "emailproxy_proxy_listeners", NULL, NULL },
	{ "proxy_upstream_pool_opened_total",
	    "emailproxy_proxy_upstream_pool_connections_opened", NULL, NULL },
	{ "proxy_upstream_pool_taken_total",
	    "emailproxy_proxy_upstream_pool_connections_taken", NULL, NULL },
	{ "proxy_upstream_pool_discarded_total",
	    "emailproxy_proxy_upstream_pool_connections_discarded", NULL,
	    NULL },
	{ "proxy_upstream_pool_failed_total",
	    "emailproxy_proxy_upstream_pool_connections_failed", NULL, NULL },
	{ "proxy_upstream_tls_handshakes_total",
	    "emailproxy_proxy_upstream_tls_handshakes", NULL, NULL },
	{ "proxy_upstream_tls_resumed_total",
	    "emailproxy_proxy_upstream_tls_resumed", NULL, NULL },
	{ "tokend_logins_ok_total", "emailproxy_tokend_logins",
	    "result=\"ok\"", NULL },
	{ "tokend_logins_bad_password_total", "emailproxy_tokend_logins",
	    "result=\"bad_password\"", NULL },
	{ "tokend_logins_unknown_account_total", "emailproxy_tokend_logins",
	    "result=\"unknown_account\"", NULL },
	{ "tokend_logins_throttled_total", "emailproxy_tokend_logins",
	    "result=\"throttled\"", NULL },
	{ "tokend_logins_not_allowed_total", "emailproxy_tokend_logins",
	    "result=\"not_allowed\"", NULL },
	{ "tokend_logins_failed_total", "emailproxy_tokend_logins",
	    "result=\"failed\"", NULL },
	{ "tokend_token_refreshes_total", "emailproxy_tokend_token_refreshes",
	    NULL, NULL },
	{ "tokend_token_obtains_total", "emailproxy_tokend_token_obtains",
	    NULL, NULL },
	{ "tokend_token_request_failures_total",
	    "emailproxy_tokend_token_request_failures", NULL, NULL },
	{ "tokend_imports_total", "emailproxy_tokend_imports", NULL, NULL },
	{ "tokend_kdf_runs_total", "emailproxy_tokend_kdf_runs", NULL, NULL },
	{ "tokend_crypt_checks_total", "emailproxy_tokend_crypt_checks", NULL,
	    NULL },
	{ "tokend_kdf_queue", "emailproxy_tokend_kdf_queue", NULL, NULL },
	{ "tokend_kdf_queue_refused_total",
	    "emailproxy_tokend_kdf_queue_refused", NULL, NULL },
	{ "tokend_accounts_unlocked", "emailproxy_tokend_accounts_unlocked",
	    NULL, NULL },
	{ "tokend_store_write_failures_total",
	    "emailproxy_tokend_store_write_failures", NULL, NULL },
	{ "tokend_records_unsaved", "emailproxy_tokend_records_unsaved", NULL,
	    NULL },
	{ "tokend_store_available", "emailproxy_tokend_store_available", NULL,
	    NULL },
	{ "tokend_store_unavailable_total",
	    "emailproxy_tokend_store_unavailable", NULL, NULL },
	{ "tokend_store_conflicts_total", "emailproxy_tokend_store_conflicts",
	    NULL, NULL },
	{ "tokend_shared_refresh_adopted_total",
	    "emailproxy_tokend_shared_refresh_adopted", NULL, NULL },
	{ "authd_requests_total", "emailproxy_authd_requests", NULL, NULL },
	{ "authd_requests_joined_total", "emailproxy_authd_requests_joined",
	    NULL, NULL },
	{ "authd_grants_ok_total", "emailproxy_authd_grants", "result=\"ok\"",
	    NULL },
	{ "authd_grants_failed_total", "emailproxy_authd_grants",
	    "result=\"failed\"", NULL },
	{ "authd_http_requests_total", "emailproxy_authd_http_requests",
	    NULL, NULL },
	{ "authd_redirects_total", "emailproxy_authd_redirects", NULL, NULL },
	{ "authd_pending_authorisations",
	    "emailproxy_authd_pending_authorisations", NULL, NULL },
};

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * The proxy's counters it also keeps per listener (objects with
 * "listener" and "protocol"): printed per listener when those are there.
 */
static int
per_listener(const char *key)
{
	return (strcmp(key, "proxy_sessions_total") == 0 ||
	    strncmp(key, "proxy_logins_", 13) == 0);
}

static void
header(FILE *fp, const char *name, int counter, const char *help, int om)
{
	const char	*type = counter ? "counter" : "gauge";
	const char	*suffix = counter && !om ? "_total" : "";

	fprintf(fp, "# HELP %s%s %s\n", name, suffix, help);
	fprintf(fp, "# TYPE %s%s %s\n", name, suffix, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void
label_value(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(fp, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", fp);
		else
			fputc(*s, fp);
	}
}

static long long
value(json_t *stats, const char *key)
{
	return ((long long)json_integer_value(json_object_get(stats, key)));
}

/* a + b, held at the limits instead of overflowing. */
static long long
add_sat(long long a, long long b)
{
	if (b > 0 && a > LLONG_MAX - b)
		return (LLONG_MAX);
	if (b < 0 && a < LLONG_MIN - b)
		return (LLONG_MIN);
	return (a + b);
}

/* a - b, held at the limits instead of overflowing. */
static long long
sub_sat(long long a, long long b)
{
	if (b == LLONG_MIN)
		return (a >= 0 ? LLONG_MAX : a - LLONG_MIN);
	return (add_sat(a, -b));
}

/*
 * May a key the table does not name be printed as its own family?  Only
 * metric name characters, and a family name (the key without _total)
 * no other family has: a second # TYPE of a name makes a scraper refuse
 * the whole page.  seen holds the names given out so far.
 */
static int
other_ok(const char *key, json_t *seen)
{
	static const char *const taken[] = {
		"build", "build_info", "proxy_upstream_pool_limit",
		"proxy_upstream_pool_connections", "proxy_upstream_pool_idle",
		"account_needs_authorisation",
		"account_access_token_expiry_seconds",
	};
	char		 base[256];
	const char	*p;
	size_t		 i, len = strlen(key);

	if (len == 0 || len >= sizeof(base))
		return (0);
	for (p = key; *p != '\0'; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && *p != '_')
			return (0);
	if (len > 6 && strcmp(key + len - 6, "_total") == 0)
		len -= 6;
	memcpy(base, key, len);
	base[len] = '\0';
	for (i = 0; i < nitems(taken); i++)
		if (strcmp(base, taken[i]) == 0)
			return (0);
	for (i = 0; i < nitems(families); i++)
		if (strcmp(base, families[i].name +
		    strlen("emailproxy_")) == 0)
			return (0);
	if (json_object_get(seen, base) != NULL ||
	    json_object_set_new(seen, base, json_true()) == -1)
		return (0);
	return (1);
}

static const struct sample *
sample_of(const char *key)
{
	size_t	 i;

	for (i = 0; i < nitems(samples); i++)
		if (strcmp(samples[i].key, key) == 0)
			return (&samples[i]);
	return (NULL);
}

static int
cmp_str(const void *a, const void *b)
{
	return (strcmp(*(const char * const *)a, *(const char * const *)b));
}

/* A key a newer daemon reports that the table does not name. */
static void
print_other(FILE *fp, const char *key, long long v, int om)
{
	size_t	 len = strlen(key);
	int	 counter;

	counter = len > 6 && strcmp(key + len - 6, "_total") == 0;
	if (counter)
		len -= 6;
	fprintf(fp, "# HELP emailproxy_%.*s%s The daemon's %s.\n", (int)len,
	    key, counter && !om ? "_total" : "", key);
	fprintf(fp, "# TYPE emailproxy_%.*s%s %s\n", (int)len, key,
	    counter && !om ? "_total" : "", counter ? "counter" : "gauge");
	fprintf(fp, "emailproxy_%s %lld\n", key, v);
}

/* The per-account gauges from tokend's objects in list. */
static void
print_accounts(FILE *fp, json_t *list, const char *what, const char *family,
    const char *help)
{
	json_t		*a, *v;
	size_t		 i;
	int		 any = 0;

	json_array_foreach(list, i, a) {
		v = json_object_get(a, what);
		if (!json_is_string(json_object_get(a, "account")) ||
		    (!json_is_integer(v) && !json_is_boolean(v)))
			continue;
		if (!any++)
			header(fp, family, 0, help, 0);
		fprintf(fp, "%s{account=\"", family);
		label_value(fp, json_string_value(json_object_get(a,
		    "account")));
		fprintf(fp, "\"} %lld\n", json_is_boolean(v) ?
		    (long long)json_is_true(v) :
		    (long long)json_integer_value(v));
	}
}

/* The per-server gauges of the upstream pools (show stats). */
static void
print_pools(FILE *fp, json_t *pools, const char *what, const char *family,
    const char *help)
{
	json_t		*p, *v;
	size_t		 i;
	int		 any = 0;

	json_array_foreach(pools, i, p) {
		v = json_object_get(p, what);
		if (!json_is_string(json_object_get(p, "server")) ||
		    !json_is_integer(v))
			continue;
		if (!any++)
			header(fp, family, 0, help, 0);
		fprintf(fp, "%s{server=\"", family);
		label_value(fp, json_string_value(json_object_get(p,
		    "server")));
		fprintf(fp, "\"} %lld\n", (long long)json_integer_value(v));
	}
}

/* One sample, per listener when the proxy reported its listeners. */
static void
print_sample(FILE *fp, const struct family *f, const struct sample *s,
    json_t *stats)
{
	json_t		*listeners, *l;
	size_t		 i;
	long long	 x;

	listeners = json_object_get(stats, "listeners");
	if (!per_listener(s->key) || json_array_size(listeners) == 0) {
		x = value(stats, s->key);
		if (s->minus != NULL)
			x = sub_sat(x, value(stats, s->minus));
		fprintf(fp, "%s%s", f->name, f->counter ? "_total" : "");
		if (s->labels != NULL)
			fprintf(fp, "{%s}", s->labels);
		fprintf(fp, " %lld\n", x);
		return;
	}
	json_array_foreach(listeners, i, l) {
		if (!json_is_string(json_object_get(l, "listener")) ||
		    !json_is_string(json_object_get(l, "protocol")))
			continue;
		x = value(l, s->key);
		if (s->minus != NULL)
			x = sub_sat(x, value(l, s->minus));
		fprintf(fp, "%s%s{listener=\"", f->name,
		    f->counter ? "_total" : "");
		label_value(fp, json_string_value(json_object_get(l,
		    "listener")));
		fprintf(fp, "\",protocol=\"");
		label_value(fp, json_string_value(json_object_get(l,
		    "protocol")));
		fprintf(fp, "\"%s%s} %lld\n", s->labels != NULL ? "," : "",
		    s->labels != NULL ? s->labels : "", x);
	}
}

json_t *
metrics_merge(json_t *list)
{
	json_t		*all, *o, *v, *have, *pools, *listeners;
	const char	*key;
	size_t		 i;

	if ((all = json_object()) == NULL || (pools = json_array()) == NULL ||
	    (listeners = json_array()) == NULL)
		return (NULL);
	json_array_foreach(list, i, o) {
		if (json_object_get(o, "account") != NULL)
			continue;
		if (json_is_string(json_object_get(o, "server"))) {
			if (json_array_append(pools, o) == -1)
				goto fail;
			continue;
		}
		if (json_is_string(json_object_get(o, "listener"))) {
			if (json_array_append(listeners, o) == -1)
				goto fail;
			continue;
		}
		json_object_foreach(o, key, v) {
			if (!json_is_integer(v))
				continue;
			have = json_object_get(all, key);
			if (json_object_set_new(all, key, json_integer(
			    add_sat(json_integer_value(v),
			    json_integer_value(have)))) == -1)
				goto fail;
		}
	}
	if (json_array_size(pools) > 0)
		json_object_set_new(all, "upstream_pools", pools);
	else
		json_decref(pools);
	if (json_array_size(listeners) > 0)
		json_object_set_new(all, "listeners", listeners);
	else
		json_decref(listeners);
	return (all);
 fail:
	json_decref(all);
	json_decref(pools);
	json_decref(listeners);
	return (NULL);
}

int
metrics_write(FILE *fp, json_t *stats, json_t *list, int om)
{
	const struct family	*f;
	const struct sample	*s;
	const char		**keys, *key;
	json_t			*v, *seen;
	size_t			 i, j, n = 0;

	if (om) {
		fprintf(fp, "# HELP emailproxy_build Version of the daemon.\n");
		fprintf(fp, "# TYPE emailproxy_build info\n");
	} else {
		fprintf(fp, "# HELP emailproxy_build_info Version of the "
		    "daemon.\n");
		fprintf(fp, "# TYPE emailproxy_build_info gauge\n");
	}
	fprintf(fp, "emailproxy_build_info{version=\"");
	label_value(fp, EMAILPROXY_VERSION);
	fprintf(fp, "\"} 1\n");

	for (i = 0; i < nitems(families); i++) {
		f = &families[i];
		for (j = 0, n = 0; j < nitems(samples); j++) {
			s = &samples[j];
			if (strcmp(s->family, f->name) != 0 ||
			    !json_is_integer(json_object_get(stats, s->key)))
				continue;
			if (n++ == 0)
				header(fp, f->name, f->counter, f->help, om);
			print_sample(fp, f, s, stats);
		}
	}

	/* Sorted: the processes answer in any order. */
	if ((keys = calloc(json_object_size(stats) + 1, sizeof(*keys))) ==
	    NULL)
		return (-1);
	n = 0;
	json_object_foreach(stats, key, v)
		if (json_is_integer(v) && sample_of(key) == NULL)
			keys[n++] = key;
	qsort(keys, n, sizeof(*keys), cmp_str);
	if ((seen = json_object()) == NULL) {
		free(keys);
		return (-1);
	}
	for (i = 0; i < n; i++)
		if (other_ok(keys[i], seen))
			print_other(fp, keys[i], value(stats, keys[i]), om);
	json_decref(seen);
	free(keys);

	print_pools(fp, json_object_get(stats, "upstream_pools"),
	    "upstream_pool_limit", "emailproxy_proxy_upstream_pool_limit",
	    "Idle upstream connections the server section keeps "
	    "(upstream_pool).");
	print_pools(fp, json_object_get(stats, "upstream_pools"),
	    "upstream_pool_connections",
	    "emailproxy_proxy_upstream_pool_connections",
	    "Upstream pool connections held, ready or being set up.");
	print_pools(fp, json_object_get(stats, "upstream_pools"),
	    "upstream_pool_idle", "emailproxy_proxy_upstream_pool_idle",
	    "Upstream pool connections ready for a client.");
	print_accounts(fp, list, "needs_authorisation",
	    "emailproxy_account_needs_authorisation",
	    "1 when the account's next login waits for an authorisation.");
	print_accounts(fp, list, "access_token_expiry",
	    "emailproxy_account_access_token_expiry_seconds",
	    "Expiry of the account's access token since the Unix epoch in "
	    "seconds, while its tokens are open in memory.");
	if (om)
		fprintf(fp, "# EOF\n");
	return (ferror(fp) ? -1 : 0);
}
