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
 * The configuration model.  The parent is the only process that reads the
 * file (config_load); children receive the model over imsg
 * (config_imsg.c).  Strings are NUL-terminated heap copies; NULL means
 * "not set in this section" (catch-all sections rely on that to fall
 * back).  Files named in the configuration are read by the parent
 * (config_load_files) and travel as struct conf_file contents.
 */

#ifndef CONFIG_H
#define CONFIG_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "emailproxy.h"

struct cidr_list;

enum oauth2_flow {
	FLOW_UNSET,
	FLOW_AUTHORIZATION_CODE,
	FLOW_DEVICE,
	FLOW_CLIENT_CREDENTIALS,
	FLOW_PASSWORD,
	FLOW_SERVICE_ACCOUNT
};

/* A file named in the configuration, read by the parent. */
struct conf_file {
	char		*path;		/* as written in the config */
	char		*data;		/* contents, NUL-terminated; or NULL */
	size_t		 len;
	int		 line;		/* of the key naming it; 0: none */
};

struct server_conf {
	TAILQ_ENTRY(server_conf) entry;
	char		*name;		/* section name, "IMAP-1993" */
	char		*file;		/* the file of the section */
	int		 line;		/* line of the section header */
	enum proto	 proto;
	uint16_t	 local_port;	/* from the section name */
	char		*local_address;	/* default "::" */
	char		*server_address;
	uint16_t	 server_port;
	int		 server_starttls;
	int		 local_starttls;
	int		 require_tls_login;	/* no login before TLS */
	struct conf_file local_certificate;	/* local_certificate_path */
	struct conf_file local_key;		/* local_key_path */
	struct conf_file server_ca;		/* server_ca_file; else global */
	unsigned int	 max_connections;	/* 0: unlimited */
	unsigned int	 max_connections_per_address;	/* 0: unlimited */
	unsigned int	 idle_timeout;		/* pre-login, seconds */
	unsigned int	 login_timeout;		/* connect to login, seconds */
	unsigned int	 upstream_pool;		/* idle connections; 0: off */
	unsigned int	 upstream_pool_lifetime; /* seconds pooled at most */
	/* Multi-user hardening (common/cidr.h lists; NULL: anyone). */
	struct cidr_list *allow_clients;	/* who may connect */
	int		 proxy_protocol;	/* expect a PROXY v1/v2 header */
	struct cidr_list *proxy_protocol_trusted; /* ... only from these */
};
TAILQ_HEAD(server_list, server_conf);

/*
 * An account section, "[user@domain]", or a catch-all "[@domain]" / "[@]".
 * Fields hold what this section says; account_resolve() merges the
 * catch-all chain into one view.
 */
struct account_conf {
	TAILQ_ENTRY(account_conf) entry;
	char		*name;		/* section name */
	char		*file;		/* the file of the section */
	int		 line;
	char		*permission_url;
	char		*token_url;
	char		*oauth2_scope;
	char		*oauth2_resource;
	char		*oauth2_flow_str;	/* as written */
	enum oauth2_flow flow;		/* derived, see account_resolve */
	char		*redirect_uri;
	char		*redirect_listen_address;
	char		*client_id;
	char		*client_secret;
	char		*client_secret_encrypted;	/* Fernet, Python */
	int		 use_pkce;	/* -1 unset, 0, 1 */
	struct conf_file jwt_certificate;	/* jwt_certificate_path */
	struct conf_file jwt_key;		/* jwt_key_path */
	struct conf_file service_account_key;	/* client_id = file */
	/*
	 * Values cached by the Python proxy (in the config or its
	 * --cache-store file), imported by tokend on the first unlock.
	 */
	char		*token_salt;
	char		*token_iterations;
	char		*access_token;
	char		*access_token_expiry;
	char		*refresh_token;
	/* Multi-user hardening. */
	char		*local_password;	/* crypt(3) hash, or NULL */
	int		 local_password_line;	/* in local_password_file */
	struct cidr_list *allow_clients;	/* who may log in, or NULL */
	/* A shared mailbox: the account whose tokens its logins use. */
	char		*token_owner;
	int		 token_owner_line;
};
TAILQ_HEAD(account_list, account_conf);

struct emailproxy_conf {
	char		*path;		/* the file it came from */
	struct server_list servers;
	struct account_list accounts;

	/* [emailproxy], the Python proxy's globals */
	int		 delete_account_token_on_password_error;	/* 1 */
	int		 encrypt_client_secret_on_first_use;		/* 0 */
	int		 use_login_password_as_client_credentials_secret; /* 0 */
	int		 allow_catch_all_accounts;			/* 0 */

	/* [emailproxy], ours */
	char		*user;		/* EMAILPROXY_USER */
	char		*store_dir;	/* EMAILPROXY_STORE */
	char		*empty_dir;	/* EMAILPROXY_EMPTY */
	char		*control_socket; /* EMAILPROXY_SOCKET */
	char		*control_group;	/* may connect: show commands */
	char		*control_admin_group; /* may also change state */
	char		*notify_command; /* run by the parent, or NULL */
	unsigned int	 notify_timeout;  /* 30 s, then it is killed */
	char		*authorisation_page_url; /* the page, or NULL */
	char		*authorisation_page_listen; /* address:port, or NULL */
	struct conf_file authorisation_page_certificate; /* its HTTPS */
	struct conf_file authorisation_page_key;
	char		*include_directory; /* more sections, or NULL */
	char		*local_password_file; /* user:hash lines, or NULL */
	char		*token_store;	/* "file" or "redis" */
	char		*redis_url;	/* redis_url.h, or NULL */
	char		*redis_password_file; /* AUTH password, or NULL */
	char		*redis_key_prefix; /* of every key in Redis */
	char		*metrics_listen; /* host:port of /metrics, or NULL */
	struct conf_file ca_file;	/* upstream and OAuth CA bundle */
	/*
	 * Without ca_file, OpenSSL's environment: ca_file.path is then
	 * SSL_CERT_FILE (ca_env set) or the system bundle, and the
	 * certificates of the SSL_CERT_DIR directories (ca_dir) are added
	 * to the bundle's data.
	 */
	int		 ca_env;
	char		*ca_dir;
	unsigned int	 auth_timeout;		/* 600 s: wait for a person */
	unsigned int	 auth_wait;		/* 15 s: a login waits for one */
	unsigned int	 http_connect_timeout;	/* 10 s */
	unsigned int	 http_timeout;		/* 60 s per request */
	unsigned int	 refresh_ahead;		/* 300 s before expiry */
	unsigned int	 idle_timeout;		/* 60 s pre-login default */
	unsigned int	 login_timeout;		/* 120 s to log in, default */
	unsigned int	 max_connections;	/* 1000 per server, default */
	unsigned int	 max_connections_per_address;	/* 250, default */
	unsigned int	 kdf_iterations;	/* 1200000 for new records */
	/* Multi-user hardening. */
	int		 require_local_password;	/* 0 */
	unsigned int	 max_login_failures;	/* 5, per account/address */
	unsigned int	 login_failure_window;	/* 300 s to count them */
	unsigned int	 login_cooloff;		/* 300 s refused after */
};

/*
 * One merged view of an account for a login name, resolved through the
 * catch-all chain [X] -> [@domain] -> [@], domains without case.
 * Pointers borrow from the configuration; the cached Python values come
 * from [X] only.
 */
struct account_view {
	const struct account_conf *section;	/* [X], or NULL */
	const char	*name;		/* the section that matched first */
	const char	*permission_url;
	const char	*token_url;
	const char	*oauth2_scope;
	const char	*oauth2_resource;
	enum oauth2_flow flow;
	const char	*redirect_uri;
	const char	*redirect_listen_address;
	const char	*client_id;
	const char	*client_secret;
	const char	*client_secret_encrypted;
	const char	*token_salt;		/* with catch-all fallback */
	const char	*token_iterations;	/* with catch-all fallback */
	int		 use_pkce;	/* -1 unset, 0, 1 */
	const struct conf_file *jwt_certificate;
	const struct conf_file *jwt_key;
	const struct conf_file *service_account_key;
	const char	*local_password;	/* with catch-all fallback */
	const struct cidr_list *allow_clients;	/* with catch-all fallback */
};

/* config.c */
struct emailproxy_conf *config_new(void);
/*
 * Parse path.  On error returns NULL after printing every problem as
 * "file:line: key: reason" with log_warnx.  cache_store (Python proxy
 * --cache-store file) may be NULL.
 */
struct emailproxy_conf *config_load(const char *path, const char *cache_store);
/* Read every file the configuration names; -1 after logging file:line. */
int		 config_load_files(struct emailproxy_conf *);
void		 config_free(struct emailproxy_conf *);
/* Print a short summary (emailproxy -n); verbose adds every section. */
void		 config_print(const struct emailproxy_conf *, int verbose);
struct server_conf *server_find(const struct emailproxy_conf *, const char *);
/* Same listener: reload keeps its sessions when this returns 1. */
int		 server_equal(const struct server_conf *,
		    const struct server_conf *);
int		 server_same_listener(const struct server_conf *,
		    const struct server_conf *);
/* 0 and *view filled, or -1 when no section matches. */
int		 account_resolve(const struct emailproxy_conf *,
		    const char *username, struct account_view *view);
const char	*flow_name(enum oauth2_flow);
/* host is a loopback address: 127.0.0.0/8, ::1 or localhost. */
int		 listen_loopback(const char *);
/* 1/yes/true/on or 0/no/false/off in any case; -1 if invalid. */
int		 parse_bool(const char *);

/* config_imsg.c */
struct imsgbuf;
struct imsg;
/* Queue the whole configuration for one child (secrets it must not hold
 * are left out). */
int		 config_send(struct imsgbuf *, const struct emailproxy_conf *,
		    enum emailproxy_proc dest);
/*
 * Feed one IMSG_CONF_* message.  *pending accumulates; on IMSG_CONF_END
 * returns 1 and the caller swaps *pending in.  0 while more is expected,
 * -1 on a malformed message.
 */
int		 config_recv(struct imsg *, struct emailproxy_conf **pending);

#endif /* CONFIG_H */
