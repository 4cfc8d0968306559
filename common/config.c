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
 * The configuration model: loading (the parser and the checks live in
 * config_parse.c and config_check.c), account resolution through the
 * catch-all chain, printing for -n, comparison for reload, freeing.
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "address.h"
#include "cidr.h"
#include "config.h"
#include "secret.h"
#include "config_parse.h"
#include "config_keys.h"

static void	 server_free(struct server_conf *);
static int	 config_include(struct ini *);
static int	 str_equal(const char *, const char *);
static int	 cache_store_remote(const char *);
static void	 print_limit(unsigned int);
static int	 account_chain(const struct emailproxy_conf *, const char *,
		    const struct account_conf **);

struct emailproxy_conf *
config_new(void)
{
	struct emailproxy_conf	*conf;

	if ((conf = calloc(1, sizeof(*conf))) == NULL)
		return (NULL);
	TAILQ_INIT(&conf->servers);
	TAILQ_INIT(&conf->accounts);
	conf_key_defaults(CONF_GLOBAL, conf, NULL);
	return (conf);
}

/*
 * The Python proxy also takes "aws:NAME" (AWS Secrets Manager) as a
 * cache store.  Such a "kind:" value is not a file: read as one it
 * would be a missing, hence empty, store and nothing would be imported.
 * Refuse it, and say how to get the same tokens in.
 */
static int
cache_store_remote(const char *path)
{
	size_t	 n;

	n = strspn(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789+-.");
	if (n == 0 || path[n] != ':' || access(path, F_OK) == 0)
		return (0);
	if (strncasecmp(path, "aws:", 4) == 0)
		log_warnx("--cache-store %s: AWS Secrets Manager is not "
		    "supported; export the secret (aws secretsmanager "
		    "get-secret-value --secret-id %s --query SecretString "
		    "--output text), write its accounts to a file as "
		    "[account] sections of key = value lines, and give that "
		    "file to --cache-store", path, path + 4);
	else
		log_warnx("--cache-store %s: not a file, and no remote cache "
		    "store (\"%.*s:\") is supported; save the cached values "
		    "to a file and give that file to --cache-store", path,
		    (int)n, path);
	return (1);
}

/*
 * include_directory, read from the main file before anything is built
 * so that the sections of its files are checked as the main file's.
 */
static int
config_include(struct ini *ini)
{
	const struct ini_kv	*kv = NULL;
	char			 where[PATH_MAX + 32], dir[PATH_MAX];
	const char		*slash;
	size_t			 i, j;
	int			 n;

	for (i = 0; i < ini->nsec && kv == NULL; i++) {
		if (strcmp(ini->sec[i].name, "emailproxy") != 0)
			continue;
		for (j = 0; j < ini->sec[i].nkv; j++)
			if (strcmp(ini->sec[i].kv[j].key,
			    "include_directory") == 0)
				kv = &ini->sec[i].kv[j];
	}
	if (kv == NULL || kv->value[0] == '\0')
		return (0);
	snprintf(where, sizeof(where), "%s:%d", ini->path, kv->line);
	/* A relative directory is beside the main file. */
	slash = strrchr(ini->path, '/');
	if (kv->value[0] == '/' || slash == NULL)
		n = snprintf(dir, sizeof(dir), "%s", kv->value);
	else
		n = snprintf(dir, sizeof(dir), "%.*s/%s",
		    (int)(slash - ini->path), ini->path, kv->value);
	if (n < 0 || (size_t)n >= sizeof(dir)) {
		log_warnx("%s: include_directory: path too long", where);
		return (-1);
	}
	return (ini_include_dir(ini, dir, where));
}

struct emailproxy_conf *
config_load(const char *path, const char *cache_store)
{
	struct emailproxy_conf	*conf;
	struct ini		*ini;
	int			 rv;

	if ((conf = config_new()) == NULL)
		fatal("%s", __func__);
	if ((conf->path = strdup(path)) == NULL)
		fatal("%s", __func__);
	if ((ini = ini_read(path, 0)) == NULL ||
	    config_include(ini) == -1) {
		ini_free(ini);
		config_free(conf);
		return (NULL);
	}
	rv = config_build(conf, ini);
	ini_free(ini);
	if (rv == -1) {
		config_free(conf);
		return (NULL);
	}
	if (cache_store != NULL && cache_store_remote(cache_store)) {
		config_free(conf);
		return (NULL);
	}
	if (cache_store != NULL) {
		/* A missing cache store is an empty one, as in Python. */
		if ((ini = ini_read(cache_store, 1)) == NULL) {
			config_free(conf);
			return (NULL);
		}
		rv = config_merge_cache(conf, ini);
		ini_free(ini);
		if (rv == -1) {
			config_free(conf);
			return (NULL);
		}
	}
	return (conf);
}

static void
server_free(struct server_conf *s)
{
	free(s->name);
	free(s->file);
	conf_key_free(CONF_SERVER, s);
	free(s);
}

void
account_free(struct account_conf *a)
{
	free(a->name);
	free(a->file);
	conf_key_free(CONF_ACCOUNT, a);
	conf_file_clear(&a->service_account_key, 1);
	free(a);
}

void
config_free(struct emailproxy_conf *conf)
{
	struct server_conf	*s;
	struct account_conf	*a;

	if (conf == NULL)
		return;
	while ((s = TAILQ_FIRST(&conf->servers)) != NULL) {
		TAILQ_REMOVE(&conf->servers, s, entry);
		server_free(s);
	}
	while ((a = TAILQ_FIRST(&conf->accounts)) != NULL) {
		TAILQ_REMOVE(&conf->accounts, a, entry);
		account_free(a);
	}
	free(conf->path);
	conf_key_free(CONF_GLOBAL, conf);
	free(conf->ca_dir);
	free(conf);
}

/* Booleans: only these spellings, in any case. */
int
parse_bool(const char *s)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };
	size_t	 i;

	if (s == NULL)
		return (-1);
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return (1);
		if (strcasecmp(s, no[i]) == 0)
			return (0);
	}
	return (-1);
}

const char *
flow_name(enum oauth2_flow flow)
{
	switch (flow) {
	case FLOW_AUTHORIZATION_CODE:
		return ("authorization_code");
	case FLOW_DEVICE:
		return ("device");
	case FLOW_CLIENT_CREDENTIALS:
		return ("client_credentials");
	case FLOW_PASSWORD:
		return ("password");
	case FLOW_SERVICE_ACCOUNT:
		return ("service_account");
	case FLOW_UNSET:
		break;
	}
	return ("unset");
}

struct server_conf *
server_find(const struct emailproxy_conf *conf, const char *name)
{
	struct server_conf	*s;

	TAILQ_FOREACH(s, &conf->servers, entry)
		if (strcmp(s->name, name) == 0)
			return (s);
	return (NULL);
}

static int
str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

int
server_equal(const struct server_conf *a, const struct server_conf *b)
{
	return (str_equal(a->name, b->name) &&
	    a->proto == b->proto &&
	    a->local_port == b->local_port &&
	    conf_key_equal(CONF_SERVER, a, b));
}

/*
 * The same listening socket serves both: same section, address and
 * port.  A reload hands it from the old section to the new.
 */
int
server_same_listener(const struct server_conf *a, const struct server_conf *b)
{
	return (str_equal(a->name, b->name) &&
	    a->local_port == b->local_port &&
	    str_equal(a->local_address, b->local_address));
}

int
account_is_catchall(const struct account_conf *a)
{
	return (a->name[0] == '@');
}

/* Domains compare as addresses do: without case (common/address.h). */
int
domain_equal(const char *a, const char *b)
{
	return (address_equal(a, b));
}

/*
 * The section for login name (or section name) "name": local part and
 * domain without case (common/address.h).  Catch-all sections match
 * only their own name here ("@Example.org" finds [@example.org]).
 */
struct account_conf *
account_find(const struct emailproxy_conf *conf, const char *name)
{
	struct account_conf	*a;

	TAILQ_FOREACH(a, &conf->accounts, entry)
		if (address_equal(a->name, name))
			return (a);
	return (NULL);
}

/*
 * Fill chain[] with [X], [@domain], [@] as far as they exist (catch-all
 * only when enabled); returns how many.  Catch-all sections are never
 * the [X] of a login name.
 */
static int
account_chain(const struct emailproxy_conf *conf, const char *name,
    const struct account_conf **chain)
{
	struct account_conf	*a;
	const char		*at, *domain;
	int			 n = 0;

	if (name[0] != '@' && (a = account_find(conf, name)) != NULL &&
	    !account_is_catchall(a))
		chain[n++] = a;
	if (!conf->allow_catch_all_accounts)
		return (n);
	at = strrchr(name, '@');
	domain = at != NULL ? at + 1 : name;
	if (*domain != '\0') {
		TAILQ_FOREACH(a, &conf->accounts, entry) {
			if (a->name[0] == '@' && a->name[1] != '\0' &&
			    domain_equal(a->name + 1, domain)) {
				chain[n++] = a;
				break;
			}
		}
	}
	TAILQ_FOREACH(a, &conf->accounts, entry) {
		if (strcmp(a->name, "@") == 0) {
			chain[n++] = a;
			break;
		}
	}
	return (n);
}

int
account_flow_parse(const char *s, enum oauth2_flow *flow)
{
	enum oauth2_flow	 f;

	for (f = FLOW_AUTHORIZATION_CODE; f <= FLOW_SERVICE_ACCOUNT; f++) {
		if (strcmp(s, flow_name(f)) == 0) {
			*flow = f;
			return (0);
		}
	}
	return (-1);
}

/* A permission_url means the code grant unless the flow says device. */
enum oauth2_flow
account_flow_derive(const char *permission_url, const char *flow_str)
{
	enum oauth2_flow	 f = FLOW_UNSET;

	if (flow_str != NULL && account_flow_parse(flow_str, &f) == -1)
		f = FLOW_UNSET;
	if (permission_url != NULL)
		return (f == FLOW_DEVICE ? FLOW_DEVICE :
		    FLOW_AUTHORIZATION_CODE);
	return (f);
}

#define FIRST(field) do {						\
	for (i = 0; i < n; i++)						\
		if (chain[i]->field != NULL) {				\
			view->field = chain[i]->field;			\
			break;						\
		}							\
} while (0)

#define FIRST_FILE(field) do {						\
	for (i = 0; i < n; i++)						\
		if (chain[i]->field.path != NULL) {			\
			view->field = &chain[i]->field;			\
			break;						\
		}							\
} while (0)

void
account_merge(const struct account_conf **chain, int n,
    struct account_view *view)
{
	int	 i;

	memset(view, 0, sizeof(*view));
	if (n == 0)
		return;
	view->section = account_is_catchall(chain[0]) ? NULL : chain[0];
	view->name = chain[0]->name;
	FIRST(permission_url);
	FIRST(token_url);
	FIRST(oauth2_scope);
	FIRST(oauth2_resource);
	FIRST(redirect_uri);
	FIRST(redirect_listen_address);
	FIRST(client_id);
	FIRST(client_secret_encrypted);
	FIRST(token_salt);
	FIRST(token_iterations);
	FIRST(local_password);
	FIRST(allow_clients);
	FIRST_FILE(jwt_certificate);
	FIRST_FILE(jwt_key);
	/* A service-account key file goes with the secret that names it. */
	for (i = 0; i < n; i++) {
		if (chain[i]->client_secret != NULL) {
			view->client_secret = chain[i]->client_secret;
			if (chain[i]->service_account_key.path != NULL)
				view->service_account_key =
				    &chain[i]->service_account_key;
			break;
		}
	}
	view->use_pkce = -1;	/* unset: off, except at the page */
	for (i = 0; i < n; i++) {
		if (chain[i]->use_pkce != -1) {
			view->use_pkce = chain[i]->use_pkce;
			break;
		}
	}
	for (i = 0; i < n; i++)
		if (chain[i]->oauth2_flow_str != NULL)
			break;
	view->flow = account_flow_derive(view->permission_url,
	    i < n ? chain[i]->oauth2_flow_str : NULL);
}

#undef FIRST
#undef FIRST_FILE

int
account_resolve(const struct emailproxy_conf *conf, const char *username,
    struct account_view *view)
{
	const struct account_conf *chain[3];
	int			 n;

	memset(view, 0, sizeof(*view));
	if (username == NULL || *username == '\0')
		return (-1);
	if ((n = account_chain(conf, username, chain)) == 0)
		return (-1);
	account_merge(chain, n, view);
	return (0);
}

/* The chain a section itself resolves through ([@d] -> [@], ...). */
int
account_section_chain(const struct emailproxy_conf *conf,
    const struct account_conf *a, const struct account_conf **chain)
{
	struct account_conf	*all;

	if (!account_is_catchall(a))
		return (account_chain(conf, a->name, chain));
	chain[0] = a;
	if (!conf->allow_catch_all_accounts || strcmp(a->name, "@") == 0)
		return (1);
	TAILQ_FOREACH(all, &conf->accounts, entry) {
		if (strcmp(all->name, "@") == 0) {
			chain[1] = all;
			return (2);
		}
	}
	return (1);
}

static void
print_limit(unsigned int n)
{
	if (n == 0)
		printf("unlimited");
	else
		printf("%u", n);
}

void
config_print(const struct emailproxy_conf *conf, int verbose)
{
	const struct server_conf *s;
	const struct account_conf *a;
	int			 ns = 0, na = 0;
	const char		*local, *remote;

	TAILQ_FOREACH(s, &conf->servers, entry)
		ns++;
	TAILQ_FOREACH(a, &conf->accounts, entry)
		na++;
	printf("configuration OK: %d server%s, %d account%s\n",
	    ns, ns == 1 ? "" : "s", na, na == 1 ? "" : "s");
	if (!verbose)
		return;
	printf("globals: user %s, store_dir %s, control_socket %s, "
	    "catch-all %s, ca_file %s%s%s%s\n", conf->user, conf->store_dir,
	    conf->control_socket,
	    conf->allow_catch_all_accounts ? "on" : "off",
	    conf->ca_file.path != NULL ? conf->ca_file.path : "none",
	    conf->ca_env ? " (SSL_CERT_FILE)" : "",
	    conf->ca_dir != NULL ? ", SSL_CERT_DIR " : "",
	    conf->ca_dir != NULL ? conf->ca_dir : "");
	printf("logins: local password %s, ", conf->require_local_password ?
	    "required" : "optional");
	if (conf->max_login_failures == 0)
		printf("throttling off\n");
	else
		printf("throttled after %u failures in %u s for %u s\n",
		    conf->max_login_failures, conf->login_failure_window,
		    conf->login_cooloff);
	TAILQ_FOREACH(s, &conf->servers, entry) {
		if (s->local_starttls)
			local = " (local STARTTLS)";
		else if (s->local_certificate.path != NULL)
			local = " (local TLS)";
		else
			local = "";
		remote = s->server_starttls ? "STARTTLS" : "TLS";
		printf("%s: %s%s%s:%u%s -> %s:%u (%s)\n", s->name,
		    strchr(s->local_address, ':') != NULL ? "[" : "",
		    s->local_address,
		    strchr(s->local_address, ':') != NULL ? "]" : "",
		    s->local_port, local, s->server_address, s->server_port,
		    remote);
		printf("%s: max_connections ", s->name);
		print_limit(s->max_connections);
		printf(", max_connections_per_address ");
		print_limit(s->max_connections_per_address);
		printf(", login_timeout %u s, idle_timeout %u s\n",
		    s->login_timeout, s->idle_timeout);
		if (s->allow_clients != NULL)
			printf("%s: allow_clients %s\n", s->name,
			    s->allow_clients->text);
		if (s->proxy_protocol)
			printf("%s: PROXY protocol from %s\n", s->name,
			    s->proxy_protocol_trusted != NULL ?
			    s->proxy_protocol_trusted->text : "nobody");
	}
	TAILQ_FOREACH(a, &conf->accounts, entry) {
		/* The hash is not printed: it could be attacked offline. */
		printf("%s: %s%s%s%s%s%s%s\n", a->name,
		    a->token_owner != NULL ? "tokens of " : flow_name(a->flow),
		    a->token_owner != NULL ? a->token_owner : "",
		    account_is_catchall(a) ? " (catch-all)" : "",
		    a->access_token != NULL || a->refresh_token != NULL ?
		    ", cached tokens to import" : "",
		    a->local_password != NULL ? ", local password set" : "",
		    a->allow_clients != NULL ? ", allow_clients " : "",
		    a->allow_clients != NULL ? a->allow_clients->text : "");
	}

	/* Every value, from the key table, as a file would write it. */
	printf("\n[emailproxy]\n");
	conf_key_print(CONF_GLOBAL, conf, 0);
	TAILQ_FOREACH(s, &conf->servers, entry) {
		printf("\n[%s]\n", s->name);
		conf_key_print(CONF_SERVER, s, 0);
	}
	/* Unset account values come from the catch-all chain. */
	TAILQ_FOREACH(a, &conf->accounts, entry) {
		printf("\n[%s]\n", a->name);
		conf_key_print(CONF_ACCOUNT, a, 1);
	}
}
