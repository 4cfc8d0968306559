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
 * Every configuration key: where it is valid, its type and range, its
 * default, who receives it, where it is stored.  The rows of one
 * structure are in the order config_imsg.c sends them.  A key valid in
 * two structures ([emailproxy] and a server section) has a row in each.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "cidr.h"
#include "config.h"
#include "config_keys.h"
#include "secret.h"

static void	 print_value(const char *, const char *);
static int	 str_same(const char *, const char *);
static int	 file_same(const struct conf_file *,
		    const struct conf_file *);

#define ROW(n, kind, sec, type, min, max, def, flags, procs, st, f)	\
	{ n, kind, sec, type, min, max, def, flags, procs,		\
	    offsetof(struct st, f) }
#define NOFIELD(n, sec, type)						\
	{ n, CONF_GLOBAL, sec, type, 0, 0, NULL, 0, KP_PARENT, -1 }

#define G(n, type, min, max, def, flags, procs, f)			\
	ROW(n, CONF_GLOBAL, KS_GLOBAL, type, min, max, def, flags, procs, \
	    emailproxy_conf, f)
#define S(n, type, min, max, def, flags, procs, f)			\
	ROW(n, CONF_SERVER, KS_SERVER, type, min, max, def, flags, procs, \
	    server_conf, f)
#define A(n, type, flags, procs, f)					\
	ROW(n, CONF_ACCOUNT, KS_ACCOUNT | KS_CATCHALL, type, 0, 0, NULL, \
	    flags, procs, account_conf, f)
/* Values the Python proxy caches; a --cache-store file may hold them. */
#define C(n, procs, f)							\
	ROW(n, CONF_ACCOUNT, KS_ACCOUNT | KS_CATCHALL | KS_CACHE,	\
	    KT_STRING, 0, 0, NULL, KF_SECRET, procs, account_conf, f)

#define KP_ACCOUNTS	(KP_TOKEND | KP_AUTHD)

const struct conf_key conf_keys[] = {
	/* [emailproxy] */
	G("delete_account_token_on_password_error", KT_BOOL, 0, 0, "true",
	    0, KP_ALL, delete_account_token_on_password_error),
	G("encrypt_client_secret_on_first_use", KT_BOOL, 0, 0, "false",
	    0, KP_ALL, encrypt_client_secret_on_first_use),
	G("use_login_password_as_client_credentials_secret", KT_BOOL, 0, 0,
	    "false", 0, KP_ALL,
	    use_login_password_as_client_credentials_secret),
	G("allow_catch_all_accounts", KT_BOOL, 0, 0, "false",
	    0, KP_ALL, allow_catch_all_accounts),
	G("user", KT_STRING, 0, 0, EMAILPROXY_USER,
	    KF_NONEMPTY, KP_ALL, user),
	G("store_dir", KT_PATH, 0, 0, EMAILPROXY_STORE, 0, KP_ALL, store_dir),
	G("empty_dir", KT_PATH, 0, 0, EMAILPROXY_EMPTY, 0, KP_ALL, empty_dir),
	G("control_socket", KT_PATH, 0, 0, EMAILPROXY_SOCKET,
	    0, KP_ALL, control_socket),
	G("notify_command", KT_STRING, 0, 0, NULL,
	    KF_NONEMPTY, KP_ALL, notify_command),
	/* The parent kills a notify_command still running after it. */
	G("notify_timeout", KT_UINT, 1, 3600, "30", 0, KP_PARENT,
	    notify_timeout),
	/*
	 * The proxy serves the page, tokend names it to clients, authd
	 * makes the page's redirect_uri of it.
	 */
	G("authorisation_page_url", KT_URL, 0, 0, NULL,
	    KF_NONEMPTY, KP_ALL, authorisation_page_url),
	/* The parent binds it; the proxy serves the page there. */
	G("authorisation_page_listen", KT_STRING, 0, 0, NULL,
	    KF_NONEMPTY, KP_PROXY, authorisation_page_listen),
	G("authorisation_page_certificate", KT_FILE, 0, 0, NULL,
	    KF_NONEMPTY, KP_PROXY, authorisation_page_certificate),
	G("authorisation_page_key", KT_FILE, 0, 0, NULL,
	    KF_NONEMPTY | KF_SECRET, KP_PROXY, authorisation_page_key),
	/* Its contents: only the processes that make TLS connections. */
	G("ca_file", KT_FILE, 0, 0, NULL,
	    KF_NONEMPTY, KP_PROXY | KP_AUTHD, ca_file),
	G("auth_timeout", KT_UINT, 10, 86400, "600", 0, KP_ALL,
	    auth_timeout),
	G("auth_wait", KT_UINT, 0, 86400, "15", 0, KP_ALL, auth_wait),
	G("http_connect_timeout", KT_UINT, 1, 600, "10", 0, KP_ALL,
	    http_connect_timeout),
	G("http_timeout", KT_UINT, 1, 3600, "60", 0, KP_ALL, http_timeout),
	G("refresh_ahead", KT_UINT, 0, 86400, "300", 0, KP_ALL,
	    refresh_ahead),
	G("idle_timeout", KT_UINT, 1, 86400, "60", 0, KP_ALL, idle_timeout),
	G("login_timeout", KT_UINT, 1, 86400, "120", 0, KP_ALL,
	    login_timeout),
	G("max_connections", KT_UINT, 0, 1000000, "1000", 0, KP_ALL,
	    max_connections),
	G("max_connections_per_address", KT_UINT, 0, 1000000, "250", 0,
	    KP_ALL, max_connections_per_address),
	G("kdf_iterations", KT_UINT, 100000, 100000000, "1200000", 0,
	    KP_ALL, kdf_iterations),
	G("require_local_password", KT_BOOL, 0, 0, "false", 0, KP_ALL,
	    require_local_password),
	G("max_login_failures", KT_UINT, 0, 1000000, "5", 0, KP_ALL,
	    max_login_failures),
	G("login_failure_window", KT_UINT, 1, 604800, "300", 0, KP_ALL,
	    login_failure_window),
	G("login_cooloff", KT_UINT, 1, 604800, "300", 0, KP_ALL,
	    login_cooloff),
	/* The parent checks the peers of the control socket. */
	G("control_group", KT_GROUP, 0, 0, NULL, KF_NONEMPTY, KP_PARENT,
	    control_group),
	G("control_admin_group", KT_GROUP, 0, 0, NULL, KF_NONEMPTY,
	    KP_PARENT, control_admin_group),
	/* Read by config_load() before the sections are built. */
	G("include_directory", KT_STRING, 0, 0, NULL, 0, KP_PARENT,
	    include_directory),
	/* Its hashes reach tokend as the sections' local_password. */
	G("local_password_file", KT_STRING, 0, 0, NULL, 0, KP_PARENT,
	    local_password_file),
	/* The token store's backend; the parent connects to Redis. */
	G("token_store", KT_STRING, 0, 0, "file", KF_NONEMPTY, KP_ALL,
	    token_store),
	G("redis_url", KT_STRING, 0, 0, NULL, KF_NONEMPTY, KP_PARENT,
	    redis_url),
	G("redis_password_file", KT_PATH, 0, 0, NULL, 0, KP_PARENT,
	    redis_password_file),
	G("redis_key_prefix", KT_STRING, 0, 0, "emailproxy:", 0, KP_ALL,
	    redis_key_prefix),
	/* The parent binds it, the proxy serves /metrics on it. */
	G("metrics_listen", KT_STRING, 0, 0, NULL, KF_NONEMPTY,
	    KP_PROXY, metrics_listen),

	/* [PROTOCOL-port] */
	S("local_address", KT_ADDRESS, 0, 0, "::", KF_NONEMPTY, KP_ALL,
	    local_address),
	S("server_address", KT_STRING, 0, 0, NULL,
	    KF_NONEMPTY | KF_REQUIRED, KP_ALL, server_address),
	S("server_port", KT_PORT, 1, 65535, NULL, KF_REQUIRED, KP_ALL,
	    server_port),
	S("server_starttls", KT_BOOL, 0, 0, "false", 0, KP_ALL,
	    server_starttls),
	S("local_starttls", KT_BOOL, 0, 0, "false", 0, KP_ALL,
	    local_starttls),
	S("require_tls_login", KT_BOOL, 0, 0, "false", 0, KP_ALL,
	    require_tls_login),
	/* The contents: only the proxy, which serves TLS. */
	S("local_certificate_path", KT_FILE, 0, 0, NULL, KF_NONEMPTY,
	    KP_PROXY, local_certificate),
	S("local_key_path", KT_FILE, 0, 0, NULL, KF_NONEMPTY | KF_SECRET,
	    KP_PROXY, local_key),
	S("server_ca_file", KT_FILE, 0, 0, NULL, KF_NONEMPTY, KP_PROXY,
	    server_ca),
	S("max_connections", KT_UINT, 0, 1000000, NULL, KF_INHERIT, KP_ALL,
	    max_connections),
	S("max_connections_per_address", KT_UINT, 0, 1000000, NULL,
	    KF_INHERIT, KP_ALL, max_connections_per_address),
	S("idle_timeout", KT_UINT, 1, 86400, NULL, KF_INHERIT, KP_ALL,
	    idle_timeout),
	S("login_timeout", KT_UINT, 1, 86400, NULL, KF_INHERIT, KP_ALL,
	    login_timeout),
	S("upstream_pool", KT_UINT, 0, 1000, "0", KF_LIVE, KP_ALL,
	    upstream_pool),
	S("upstream_pool_lifetime", KT_UINT, 10, 86400, "150", KF_LIVE,
	    KP_ALL, upstream_pool_lifetime),
	S("allow_clients", KT_LIST, 0, 0, NULL, 0, KP_ALL, allow_clients),
	S("proxy_protocol", KT_BOOL, 0, 0, "false", 0, KP_ALL,
	    proxy_protocol),
	S("proxy_protocol_trusted", KT_LIST, 0, 0, NULL, 0, KP_ALL,
	    proxy_protocol_trusted),
	/* The Python proxy's name of server_starttls. */
	NOFIELD("starttls", KS_SERVER, KT_LEGACY),
	NOFIELD("plugins", KS_SERVER, KT_UNSUPPORTED),

	/*
	 * [user@domain], [@domain], [@]: no defaults, an unset value is
	 * taken from the catch-all chain (account_merge).
	 */
	A("permission_url", KT_URL, 0, KP_ACCOUNTS, permission_url),
	A("token_url", KT_URL, 0, KP_ACCOUNTS, token_url),
	A("oauth2_scope", KT_STRING, 0, KP_ACCOUNTS, oauth2_scope),
	A("oauth2_resource", KT_STRING, 0, KP_ACCOUNTS, oauth2_resource),
	A("oauth2_flow", KT_FLOW, 0, KP_ACCOUNTS, oauth2_flow_str),
	A("redirect_uri", KT_URI, 0, KP_ACCOUNTS, redirect_uri),
	A("redirect_listen_address", KT_URL, 0, KP_ACCOUNTS,
	    redirect_listen_address),
	A("client_id", KT_STRING, 0, KP_ACCOUNTS, client_id),
	/*
	 * authd sends it; tokend holds it only to keep it in the token
	 * store (encrypt_client_secret_on_first_use).
	 */
	A("client_secret", KT_STRING, KF_SECRET | KF_FIRSTUSE, KP_ACCOUNTS,
	    client_secret),
	C("client_secret_encrypted", KP_TOKEND, client_secret_encrypted),
	A("use_pkce", KT_BOOL, 0, KP_ACCOUNTS, use_pkce),
	/* The contents: only authd, which signs with them. */
	A("jwt_certificate_path", KT_FILE, 0, KP_AUTHD, jwt_certificate),
	A("jwt_key_path", KT_FILE, KF_SECRET, KP_AUTHD, jwt_key),
	C("token_salt", KP_TOKEND, token_salt),
	C("token_iterations", KP_TOKEND, token_iterations),
	C("access_token", KP_TOKEND, access_token),
	C("access_token_expiry", KP_TOKEND, access_token_expiry),
	C("refresh_token", KP_TOKEND, refresh_token),
	/* Login rules: tokend checks them. */
	A("local_password", KT_HASH, KF_SECRET, KP_TOKEND, local_password),
	A("allow_clients", KT_LIST, 0, KP_TOKEND, allow_clients),
	/* A shared mailbox ([user@domain] only): tokend decides. */
	ROW("token_owner", CONF_ACCOUNT, KS_ACCOUNT, KT_STRING, 0, 0, NULL,
	    KF_NONEMPTY, KP_TOKEND, account_conf, token_owner),
	/* Derived state the Python proxy writes. */
	NOFIELD("last_activity", KS_ACCOUNT | KS_CATCHALL | KS_CACHE,
	    KT_IGNORED),

	/* Comments, in any section. */
	NOFIELD("documentation", KS_GLOBAL | KS_SERVER | KS_ACCOUNT |
	    KS_CATCHALL, KT_IGNORED),
	{ NULL, CONF_GLOBAL, 0, KT_IGNORED, 0, 0, NULL, 0, 0, -1 }
};

const struct conf_key *
conf_key_find(const char *name, unsigned int section)
{
	const struct conf_key	*k;

	for (k = conf_keys; k->name != NULL; k++)
		if ((k->sections & section) && strcmp(k->name, name) == 0)
			return (k);
	return (NULL);
}

void *
conf_key_field(const struct conf_key *k, const void *base)
{
	return ((char *)base + k->off);
}

void
conf_file_clear(struct conf_file *f, int secret)
{
	free(f->path);
	if (f->data != NULL) {
		if (secret)
			freezero(f->data, f->len + 1);
		else
			free(f->data);
	}
	memset(f, 0, sizeof(*f));
}

enum conf_store
conf_key_store(enum conf_type t)
{
	switch (t) {
	case KT_BOOL:
		return (KST_BOOL);
	case KT_UINT:
		return (KST_UINT);
	case KT_PORT:
		return (KST_PORT);
	case KT_STRING:
	case KT_PATH:
	case KT_URL:
	case KT_URI:
	case KT_ADDRESS:
	case KT_HASH:
	case KT_GROUP:
	case KT_FLOW:
		return (KST_STRING);
	case KT_FILE:
		return (KST_FILE);
	case KT_LIST:
		return (KST_LIST);
	case KT_LEGACY:
	case KT_IGNORED:
	case KT_UNSUPPORTED:
		break;
	}
	return (KST_NONE);
}

/*
 * A default as written in a file.  The table is ours: a default that
 * does not parse is a programming error.
 */
void
conf_key_defaults(enum conf_kind kind, void *base,
    const struct emailproxy_conf *conf)
{
	const struct conf_key	*k, *g;
	const char		*errstr, *def;
	void			*p;
	long long		 n = 0;

	for (k = conf_keys; k->name != NULL; k++) {
		if (k->kind != kind || k->off < 0)
			continue;
		p = conf_key_field(k, base);
		def = k->def;
		if (k->flags & KF_INHERIT) {
			if ((g = conf_key_find(k->name, KS_GLOBAL)) == NULL ||
			    g->type != k->type || conf == NULL)
				fatalx("%s: %s: no global value", __func__,
				    k->name);
			*(unsigned int *)p =
			    *(unsigned int *)conf_key_field(g, conf);
			continue;
		}
		if (def != NULL && (k->type == KT_UINT || k->type == KT_PORT)) {
			n = strtonum(def, k->min, k->max, &errstr);
			if (errstr != NULL)
				fatalx("%s: %s: default %s", __func__, k->name,
				    errstr);
		}
		switch (conf_key_store(k->type)) {
		case KST_BOOL:
			*(int *)p = def != NULL ? parse_bool(def) : -1;
			if (def != NULL && *(int *)p == -1)
				fatalx("%s: %s: default", __func__, k->name);
			break;
		case KST_UINT:
			*(unsigned int *)p = n;
			break;
		case KST_PORT:
			*(uint16_t *)p = n;
			break;
		case KST_STRING:
			if (def != NULL &&
			    (*(char **)p = strdup(def)) == NULL)
				fatal("%s", __func__);
			break;
		case KST_FILE:
		case KST_LIST:
		case KST_NONE:
			if (def != NULL)
				fatalx("%s: %s: no default possible",
				    __func__, k->name);
			break;
		}
	}
}

void
conf_key_free(enum conf_kind kind, void *base)
{
	const struct conf_key	*k;
	void			*p;

	for (k = conf_keys; k->name != NULL; k++) {
		if (k->kind != kind || k->off < 0)
			continue;
		p = conf_key_field(k, base);
		switch (conf_key_store(k->type)) {
		case KST_STRING:
			if (k->flags & KF_SECRET)
				str_freezero(*(char **)p);
			else
				free(*(char **)p);
			*(char **)p = NULL;
			break;
		case KST_FILE:
			conf_file_clear(p, k->flags & KF_SECRET);
			break;
		case KST_LIST:
			cidr_list_free(*(struct cidr_list **)p);
			*(struct cidr_list **)p = NULL;
			break;
		default:
			break;
		}
	}
}

static int
str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

static int
file_same(const struct conf_file *a, const struct conf_file *b)
{
	if (!str_same(a->path, b->path) || a->len != b->len)
		return (0);
	if (a->data == NULL || b->data == NULL)
		return (a->data == b->data);
	return (memcmp(a->data, b->data, a->len) == 0);
}

int
conf_key_equal(enum conf_kind kind, const void *a, const void *b)
{
	const struct conf_key	*k;
	const void		*p, *q;

	for (k = conf_keys; k->name != NULL; k++) {
		if (k->kind != kind || k->off < 0 || (k->flags & KF_LIVE))
			continue;
		p = conf_key_field(k, a);
		q = conf_key_field(k, b);
		switch (conf_key_store(k->type)) {
		case KST_BOOL:
			if (*(const int *)p != *(const int *)q)
				return (0);
			break;
		case KST_UINT:
			if (*(const unsigned int *)p !=
			    *(const unsigned int *)q)
				return (0);
			break;
		case KST_PORT:
			if (*(const uint16_t *)p != *(const uint16_t *)q)
				return (0);
			break;
		case KST_STRING:
			if (!str_same(*(char *const *)p, *(char *const *)q))
				return (0);
			break;
		case KST_FILE:
			if (!file_same(p, q))
				return (0);
			break;
		case KST_LIST:
			if (!cidr_list_equal(*(struct cidr_list *const *)p,
			    *(struct cidr_list *const *)q))
				return (0);
			break;
		case KST_NONE:
			break;
		}
	}
	return (1);
}

/* Continuation lines indented, as the reader joins them. */
static void
print_value(const char *key, const char *v)
{
	printf("%s = ", key);
	for (; *v != '\0'; v++) {
		putchar(*v);
		if (*v == '\n')
			putchar('\t');
	}
	putchar('\n');
}

void
conf_key_print(enum conf_kind kind, const void *base, int only_set)
{
	const struct conf_key	*k;
	const void		*p;
	const char		*v;
	int			 b;

	for (k = conf_keys; k->name != NULL; k++) {
		if (k->kind != kind || k->off < 0)
			continue;
		p = conf_key_field(k, base);
		switch (conf_key_store(k->type)) {
		case KST_BOOL:
			if ((b = *(const int *)p) == -1 && only_set)
				break;
			if (b == -1)
				printf("# %s: unset\n", k->name);
			else
				printf("%s = %s\n", k->name,
				    b ? "true" : "false");
			break;
		case KST_UINT:
			printf("%s = %u\n", k->name, *(const unsigned int *)p);
			break;
		case KST_PORT:
			printf("%s = %u\n", k->name,
			    (unsigned int)*(const uint16_t *)p);
			break;
		case KST_STRING:
		case KST_FILE:
		case KST_LIST:
			if (conf_key_store(k->type) == KST_FILE)
				v = ((const struct conf_file *)p)->path;
			else if (conf_key_store(k->type) == KST_LIST)
				v = *(struct cidr_list *const *)p != NULL ?
				    (*(struct cidr_list *const *)p)->text :
				    NULL;
			else
				v = *(char *const *)p;
			if (v == NULL) {
				if (!only_set)
					printf("# %s: unset\n", k->name);
			} else if ((k->flags & KF_SECRET) &&
			    conf_key_store(k->type) != KST_FILE)
				printf("# %s: set, not shown\n", k->name);
			else
				print_value(k->name, v);
			break;
		case KST_NONE:
			break;
		}
	}
}
