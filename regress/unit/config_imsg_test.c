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
 * A configuration over imsg: round trip to each child, what each child
 * must not receive, the size limit, malformed messages, the multi-user
 * hardening fields (lists travel as text and are parsed again), and
 * for every row of the key table, that its value reaches exactly the
 * processes of the row (the golden configurations set every key).
 *
 * DEPS: common/config.c common/config_parse.c common/config_check.c common/config_keys.c common/account_complete.c common/config_files.c common/config_imsg.c common/msg.c common/cidr.c common/imsg.c common/imsg_buffer.c common/log.c common/secret.c common/redis_url.c
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "cidr.h"
#include "config.h"
#include "config_keys.h"
#include "imsg.h"
#include "msg.h"

static int	 failures;
static char	 tmpdir[256];

static void	 check(int, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
static void	 tmpfile_with(const char *, const char *);
static int	 streq(const char *, const char *);
static struct emailproxy_conf *transfer(struct emailproxy_conf *,
		    enum emailproxy_proc);
static struct account_conf *account_named(struct emailproxy_conf *,
		    const char *);
static size_t	 wire(struct emailproxy_conf *, enum emailproxy_proc,
		    char *, size_t);
static int	 has_bytes(const char *, size_t, const char *);

static void
check(int ok, const char *fmt, ...)
{
	va_list	 ap;

	printf(ok ? "PASS: " : "FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok) {
		printf(": check failed");
		failures++;
	}
	printf("\n");
	fflush(stdout);
}

static int
streq(const char *a, const char *b)
{
	return (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
tmpfile_with(const char *name, const char *text)
{
	char	 path[512];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if ((fp = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, fp);
	fclose(fp);
}

static struct account_conf *
account_named(struct emailproxy_conf *conf, const char *name)
{
	struct account_conf	*a;

	TAILQ_FOREACH(a, &conf->accounts, entry)
		if (strcmp(a->name, name) == 0)
			return (a);
	return (NULL);
}

/* Send conf for dest over a socketpair and rebuild it on the far side. */
static struct emailproxy_conf *
transfer(struct emailproxy_conf *conf, enum emailproxy_proc dest)
{
	struct imsgbuf		 w, r;
	struct imsg		 imsg;
	struct emailproxy_conf	*pending = NULL, *got = NULL;
	ssize_t			 n;
	int			 sv[2], rv, rounds;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1 ||
	    imsgbuf_init(&w, sv[0]) == -1 || imsgbuf_init(&r, sv[1]) == -1) {
		check(0, "socketpair/imsgbuf_init: %s", strerror(errno));
		exit(1);
	}
	imsgbuf_set_maxsize(&w, IMSG_MAXSIZE_PARENT);
	imsgbuf_set_maxsize(&r, IMSG_MAXSIZE_PARENT);
	if (config_send(&w, conf, dest) == -1) {
		check(0, "config_send to process %d", dest);
		goto done;
	}
	/* Bounded: a few MB at most through a socketpair. */
	for (rounds = 0; got == NULL && rounds < 10000; rounds++) {
		if (imsgbuf_queuelen(&w) > 0 && imsgbuf_write(&w) == -1)
			break;
		if (imsgbuf_read(&r) != 1)
			continue;
		while (got == NULL && (n = imsg_get(&r, &imsg)) > 0) {
			rv = config_recv(&imsg, &pending);
			imsg_free(&imsg);
			if (rv == -1)
				goto done;
			if (rv == 1) {
				got = pending;
				pending = NULL;
			}
		}
	}
 done:
	config_free(pending);
	imsgbuf_clear(&w);
	imsgbuf_clear(&r);
	close(sv[0]);
	close(sv[1]);
	return (got);
}

static void
test_roundtrip(void)
{
	struct emailproxy_conf	*conf, *got;
	struct server_conf	*s, *gs;
	struct account_conf	*a;
	char			 buf[4096], path[512];
	int			 ok;

	tmpfile_with("cert.pem", "CERTIFICATE\n");
	tmpfile_with("key.pem", "PRIVATE KEY\n");
	tmpfile_with("ca.pem", "CA\n");
	tmpfile_with("sa.json", "{\"private_key\": \"SA KEY\"}\n");
	snprintf(buf, sizeof(buf),
	    "[IMAP-1993]\nserver_address = imap.example.com\n"
	    "server_port = 993\nlocal_address = 127.0.0.1\n"
	    "local_starttls = on\n"
	    "local_certificate_path = %s/cert.pem\n"
	    "local_key_path = %s/key.pem\nserver_ca_file = %s/ca.pem\n"
	    "max_connections = 10\nmax_connections_per_address = 2\n"
	    "idle_timeout = 45\nlogin_timeout = 33\n"
	    "[SMTP-1587]\nserver_address = smtp.example.com\n"
	    "server_port = 587\nserver_starttls = yes\n"
	    "[emailproxy]\nallow_catch_all_accounts = yes\n"
	    "encrypt_client_secret_on_first_use = 1\n"
	    "ca_file = %s/ca.pem\nuser = nobody\nstore_dir = /tmp/store\n"
	    "notify_command = /bin/true\nkdf_iterations = 200000\n"
	    "authorisation_page_url = https://mail.example.com/auth\n"
	    "authorisation_page_listen = [::]:8443\n"
	    "authorisation_page_certificate = %s/cert.pem\n"
	    "authorisation_page_key = %s/key.pem\n"
	    "login_timeout = 77\nmax_connections = 500\n"
	    "[user@example.com]\n"
	    "permission_url = https://auth.example.com/auth\n"
	    "token_url = https://auth.example.com/token\n"
	    "oauth2_scope = mail\nredirect_uri = http://localhost:8080\n"
	    "client_id = the-id\nclient_secret = THE SECRET\n"
	    "use_pkce = true\n"
	    "client_secret_encrypted = ENCRYPTED\n"
	    "token_salt = SALT\ntoken_iterations = 1200000\n"
	    "access_token = ACCESS\naccess_token_expiry = 1700000000\n"
	    "refresh_token = REFRESH\n"
	    "[@example.com]\ntoken_url = https://auth.example.com/token\n"
	    "[sa@example.com]\ntoken_url = https://t\noauth2_scope = s\n"
	    "oauth2_flow = service_account\nclient_id = file\n"
	    "client_secret = %s/sa.json\n"
	    "[jwt@example.com]\ntoken_url = https://t\noauth2_scope = s\n"
	    "oauth2_flow = client_credentials\nclient_id = c\n"
	    "jwt_certificate_path = %s/cert.pem\n"
	    "jwt_key_path = %s/key.pem\n",
	    tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir,
	    tmpdir);
	tmpfile_with("imsg.conf", buf);
	snprintf(path, sizeof(path), "%s/imsg.conf", tmpdir);
	if ((conf = config_load(path, NULL)) == NULL ||
	    config_load_files(conf) == -1) {
		check(0, "config loads");
		config_free(conf);
		return;
	}

	/* proxy: servers with their files, globals, no account at all */
	got = transfer(conf, PROC_PROXY);
	check(got != NULL, "proxy: configuration received");
	if (got != NULL) {
		s = server_find(conf, "IMAP-1993");
		gs = server_find(got, "IMAP-1993");
		check(gs != NULL && server_equal(s, gs),
		    "proxy: [IMAP-1993] identical, certificate, key and "
		    "CA contents included");
		gs = server_find(got, "SMTP-1587");
		check(gs != NULL && gs->server_starttls &&
		    gs->proto == PROTO_SMTP && gs->local_port == 1587 &&
		    streq(gs->local_address, "::"), "proxy: [SMTP-1587]");
		check(gs != NULL && gs->login_timeout == 77 &&
		    gs->max_connections == 500 &&
		    gs->max_connections_per_address == 250 &&
		    got->login_timeout == 77 && got->max_connections == 500 &&
		    got->max_connections_per_address == 250,
		    "proxy: login_timeout and connection limits, global "
		    "values and defaults");
		gs = server_find(got, "IMAP-1993");
		check(gs != NULL && gs->login_timeout == 33 &&
		    gs->max_connections == 10 &&
		    gs->max_connections_per_address == 2,
		    "proxy: a server's own login_timeout and limits");
		check(TAILQ_EMPTY(&got->accounts), "proxy: no accounts");
		check(streq(got->ca_file.data, "CA\n") &&
		    streq(got->user, "nobody") &&
		    streq(got->store_dir, "/tmp/store") &&
		    streq(got->notify_command, "/bin/true") &&
		    got->kdf_iterations == 200000 &&
		    got->allow_catch_all_accounts == 1 &&
		    got->encrypt_client_secret_on_first_use == 1 &&
		    got->delete_account_token_on_password_error == 1 &&
		    got->auth_timeout == 600 && streq(got->path, path),
		    "proxy: globals with the CA bundle");
		check(streq(got->authorisation_page_url,
		    "https://mail.example.com/auth"),
		    "proxy: authorisation_page_url");
		check(streq(got->authorisation_page_listen, "[::]:8443") &&
		    streq(got->authorisation_page_certificate.data,
		    "CERTIFICATE\n") &&
		    streq(got->authorisation_page_key.data, "PRIVATE KEY\n"),
		    "proxy: the page's address, certificate and key");
		config_free(got);
	}

	/* tokend: accounts with cached values, no key of any kind */
	got = transfer(conf, PROC_TOKEND);
	check(got != NULL, "tokend: configuration received");
	if (got != NULL) {
		a = account_named(got, "user@example.com");
		check(a != NULL && streq(a->client_secret, "THE SECRET") &&
		    streq(a->client_secret_encrypted, "ENCRYPTED") &&
		    streq(a->token_salt, "SALT") &&
		    streq(a->token_iterations, "1200000") &&
		    streq(a->access_token, "ACCESS") &&
		    streq(a->access_token_expiry, "1700000000") &&
		    streq(a->refresh_token, "REFRESH") && a->use_pkce == 1 &&
		    a->flow == FLOW_AUTHORIZATION_CODE &&
		    streq(a->redirect_uri, "http://localhost:8080"),
		    "tokend: account with client secret and cached values");
		a = account_named(got, "@example.com");
		check(a != NULL && a->use_pkce == -1 &&
		    a->client_id == NULL, "tokend: catch-all section, unset "
		    "fields stay unset");
		ok = 1;
		TAILQ_FOREACH(a, &got->accounts, entry)
			ok &= a->jwt_key.data == NULL &&
			    a->jwt_certificate.data == NULL &&
			    a->service_account_key.data == NULL;
		TAILQ_FOREACH(gs, &got->servers, entry)
			ok &= gs->local_key.data == NULL &&
			    gs->local_certificate.data == NULL;
		check(ok && got->ca_file.data == NULL, "tokend: no JWT, "
		    "service-account or server key, no CA data");
		check(streq(got->authorisation_page_url,
		    "https://mail.example.com/auth"),
		    "tokend: authorisation_page_url");
		check(got->authorisation_page_listen == NULL &&
		    got->authorisation_page_key.data == NULL &&
		    got->authorisation_page_certificate.data == NULL,
		    "tokend: not the page's address, certificate or key");
		a = account_named(got, "sa@example.com");
		check(a != NULL && a->service_account_key.path != NULL &&
		    a->flow == FLOW_SERVICE_ACCOUNT,
		    "tokend: file paths kept (what is configured)");
		config_free(got);
	}

	/* authd: secrets and keys, no cached Python token */
	got = transfer(conf, PROC_AUTHD);
	check(got != NULL, "authd: configuration received");
	if (got != NULL) {
		a = account_named(got, "user@example.com");
		check(a != NULL && streq(a->client_secret, "THE SECRET") &&
		    a->client_secret_encrypted == NULL &&
		    a->token_salt == NULL && a->token_iterations == NULL &&
		    a->access_token == NULL && a->access_token_expiry ==
		    NULL && a->refresh_token == NULL,
		    "authd: client secret, no cached Python values");
		a = account_named(got, "sa@example.com");
		check(a != NULL && streq(a->service_account_key.data,
		    "{\"private_key\": \"SA KEY\"}\n"),
		    "authd: service-account key contents");
		a = account_named(got, "jwt@example.com");
		check(a != NULL && streq(a->jwt_key.data, "PRIVATE KEY\n") &&
		    streq(a->jwt_certificate.data, "CERTIFICATE\n"),
		    "authd: JWT certificate and key contents");
		ok = 1;
		TAILQ_FOREACH(gs, &got->servers, entry)
			ok &= gs->local_key.data == NULL;
		check(ok && streq(got->ca_file.data, "CA\n"),
		    "authd: CA bundle, no server key");
		check(streq(got->authorisation_page_url,
		    "https://mail.example.com/auth"),
		    "authd: authorisation_page_url");
		check(got->authorisation_page_listen == NULL &&
		    got->authorisation_page_key.data == NULL &&
		    got->authorisation_page_certificate.data == NULL,
		    "authd: not the page's address, certificate or key");
		config_free(got);
	}

	check(config_send(NULL, conf, PROC_PARENT) == -1,
	    "config_send refuses an unknown destination");
	config_free(conf);
}

/* Every byte config_send writes for dest, read off the socket. */
static size_t
wire(struct emailproxy_conf *conf, enum emailproxy_proc dest, char *buf,
    size_t size)
{
	struct imsgbuf	 w;
	size_t		 len = 0;
	ssize_t		 n;
	int		 sv[2], rounds;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1 ||
	    imsgbuf_init(&w, sv[0]) == -1) {
		check(0, "socketpair/imsgbuf_init: %s", strerror(errno));
		exit(1);
	}
	imsgbuf_set_maxsize(&w, IMSG_MAXSIZE_PARENT);
	if (config_send(&w, conf, dest) == -1)
		check(0, "config_send to process %d", dest);
	/* Bounded: a few kB through a socketpair. */
	for (rounds = 0; rounds < 1000 && len < size; rounds++) {
		if (imsgbuf_queuelen(&w) > 0 && imsgbuf_write(&w) == -1)
			break;
		n = read(sv[1], buf + len, size - len);
		if (n > 0)
			len += n;
		else if (imsgbuf_queuelen(&w) == 0)
			break;
	}
	check(imsgbuf_queuelen(&w) == 0 && len < size,
	    "every message to process %d read (%zu bytes)", dest, len);
	imsgbuf_clear(&w);
	close(sv[0]);
	close(sv[1]);
	return (len);
}

static int
has_bytes(const char *buf, size_t len, const char *s)
{
	return (memmem(buf, len, s, strlen(s)) != NULL);
}

/*
 * client_secret reaches tokend only with
 * encrypt_client_secret_on_first_use, which keeps it in the token
 * store; without it tokend learns only that one is set.  authd always
 * gets it.
 */
static void
test_tokend_secrets(void)
{
	static const char *const secrets[] = {
		"PLAIN-SECRET-ONE", "CATCHALL-SECRET-TWO",
		"SA-PRIVATE-KEY-THREE", "CC-SECRET-FOUR"
	};
	static const char *const modes[] = { "no", "yes" };
	struct emailproxy_conf	*conf, *got;
	struct account_view	 v;
	char			 text[2048], path[512], *buf;
	size_t			 i, m, len;
	int			 in_tokend, in_authd, ok;

	if ((buf = malloc(1 << 20)) == NULL)
		exit(1);
	snprintf(path, sizeof(path), "%s/secrets.conf", tmpdir);
	for (m = 0; m < 2; m++) {
		snprintf(text, sizeof(text),
		    "[emailproxy]\nallow_catch_all_accounts = yes\n"
		    "encrypt_client_secret_on_first_use = %s\n"
		    "[IMAP-1993]\nserver_address = imap.example.com\n"
		    "server_port = 993\n"
		    "[plain@example.com]\n"
		    "permission_url = https://auth.example.com/auth\n"
		    "token_url = https://auth.example.com/token\n"
		    "oauth2_scope = mail\n"
		    "redirect_uri = http://localhost:8080\n"
		    "client_id = the-id\nclient_secret = %s\n"
		    "[@example.org]\ntoken_url = https://t\n"
		    "oauth2_scope = s\noauth2_flow = client_credentials\n"
		    "client_id = c\nclient_secret = %s\n"
		    "[key@example.com]\ntoken_url = https://t\n"
		    "oauth2_scope = s\noauth2_flow = service_account\n"
		    "client_id = key\n"
		    "client_secret = {\"private_key\": \"%s\"}\n"
		    "[cc@example.com]\ntoken_url = https://t\n"
		    "oauth2_scope = s\noauth2_flow = client_credentials\n"
		    "client_id = c\nclient_secret = %s\n"
		    "[none@example.com]\ntoken_url = https://t\n"
		    "oauth2_scope = s\noauth2_flow = client_credentials\n"
		    "client_id = c\n",
		    modes[m], secrets[0], secrets[1], secrets[2],
		    secrets[3]);
		tmpfile_with("secrets.conf", text);
		if ((conf = config_load(path, NULL)) == NULL ||
		    config_load_files(conf) == -1) {
			check(0, "secrets.conf loads");
			config_free(conf);
			continue;
		}
		for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
			len = wire(conf, PROC_TOKEND, buf, 1 << 20);
			in_tokend = has_bytes(buf, len, secrets[i]);
			len = wire(conf, PROC_AUTHD, buf, 1 << 20);
			in_authd = has_bytes(buf, len, secrets[i]);
			if (m == 0)
				check(!in_tokend && in_authd,
				    "encrypt_client_secret_on_first_use = "
				    "no: %s is in no message to tokend, in "
				    "authd's", secrets[i]);
			else
				check(in_tokend && in_authd,
				    "encrypt_client_secret_on_first_use = "
				    "yes: %s reaches tokend and authd",
				    secrets[i]);
		}
		if (m == 0 && (got = transfer(conf, PROC_TOKEND)) != NULL) {
			ok = account_resolve(got, "plain@example.com",
			    &v) == 0 && streq(v.client_secret, "");
			ok &= account_resolve(got, "anyone@example.org",
			    &v) == 0 && streq(v.client_secret, "");
			ok &= account_resolve(got, "none@example.com",
			    &v) == 0 && v.client_secret == NULL;
			check(ok, "tokend without encrypt-on-first-use: a "
			    "configured client_secret arrives as set and "
			    "empty, an unset one as unset");
			config_free(got);
		}
		if (m == 1 && (got = transfer(conf, PROC_TOKEND)) != NULL) {
			check(account_resolve(got, "anyone@example.org",
			    &v) == 0 && streq(v.client_secret, secrets[1]),
			    "tokend with encrypt-on-first-use: a catch-all "
			    "section's client_secret arrives");
			config_free(got);
		}
		config_free(conf);
	}
	free(buf);
}

static void
test_limits(void)
{
	struct emailproxy_conf	*conf;
	struct server_conf	*s;
	struct imsgbuf		 w;
	int			 sv[2], rv;
	char			 path[512];

	snprintf(path, sizeof(path), "%s/imsg.conf", tmpdir);
	if ((conf = config_load(path, NULL)) == NULL) {
		check(0, "config loads");
		return;
	}
	s = server_find(conf, "IMAP-1993");
	free(s->local_certificate.data);
	s->local_certificate.len = IMSG_MAXSIZE_PARENT;
	if ((s->local_certificate.data = malloc(IMSG_MAXSIZE_PARENT + 1))
	    == NULL)
		exit(1);
	memset(s->local_certificate.data, 'A', IMSG_MAXSIZE_PARENT);
	s->local_certificate.data[IMSG_MAXSIZE_PARENT] = '\0';
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1 ||
	    imsgbuf_init(&w, sv[0]) == -1)
		exit(1);
	imsgbuf_set_maxsize(&w, IMSG_MAXSIZE_PARENT);
	rv = config_send(&w, conf, PROC_PROXY);
	check(rv == -1 && imsgbuf_queuelen(&w) == 0,
	    "a server message over IMSG_MAXSIZE_PARENT fails, nothing "
	    "queued");
	rv = config_send(&w, conf, PROC_TOKEND);
	check(rv == 0, "the same config without file contents fits "
	    "(tokend)");
	imsgbuf_clear(&w);
	close(sv[0]);
	close(sv[1]);
	config_free(conf);
}

/* Feed one hand-made message to config_recv. */
static int
feed(struct emailproxy_conf **pending, uint32_t type, const void *data,
    size_t len)
{
	struct imsgbuf	 w, r;
	struct imsg	 imsg;
	int		 sv[2], rv = -2;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    imsgbuf_init(&w, sv[0]) == -1 || imsgbuf_init(&r, sv[1]) == -1)
		exit(1);
	if (imsg_compose(&w, type, 0, 0, -1, data, len) == -1 ||
	    imsgbuf_flush(&w) == -1 || imsgbuf_read(&r) != 1 ||
	    imsg_get(&r, &imsg) <= 0)
		goto done;
	rv = config_recv(&imsg, pending);
	imsg_free(&imsg);
 done:
	imsgbuf_clear(&w);
	imsgbuf_clear(&r);
	close(sv[0]);
	close(sv[1]);
	return (rv);
}

static void
test_malformed(void)
{
	struct emailproxy_conf	*pending = NULL;
	char			 junk[64];

	memset(junk, 0xff, sizeof(junk));
	check(feed(&pending, IMSG_CONF_GLOBALS, junk, 8) == -1 &&
	    pending == NULL, "GLOBALS before CONF_START is refused");
	check(feed(&pending, IMSG_CONF_START, NULL, 0) == 0 &&
	    pending != NULL, "CONF_START starts a configuration");
	check(feed(&pending, IMSG_CONF_SERVER, junk, sizeof(junk)) == -1 &&
	    pending == NULL, "a garbled SERVER is refused and the partial "
	    "configuration dropped");
	feed(&pending, IMSG_CONF_START, NULL, 0);
	check(feed(&pending, IMSG_CONF_END, NULL, 0) == -1,
	    "CONF_END without GLOBALS is refused");
	feed(&pending, IMSG_CONF_START, NULL, 0);
	check(feed(&pending, IMSG_CONF_ACCOUNT, NULL, 0) == -1,
	    "an empty ACCOUNT is refused");
	feed(&pending, IMSG_CONF_START, NULL, 0);
	check(feed(&pending, IMSG_TOKEN_GET, NULL, 0) == -1,
	    "a non-configuration message is refused");
	config_free(pending);
}

#define HASH_Y	"$y$j9T$fLiglGhe0DJMQi8.JapRC0$" \
		"xpyIVt4sIPxcj9KpMSi0erMsUvR3Nsuv98n0lIP5Aa/"
#define HASH_2B	"$2b$04$hah.SS56TPnkdUVQmJyvWO5YV5r4YESls8t2V96PWJ9eYo1Kn580i"

static void
test_hardening(void)
{
	struct emailproxy_conf	*conf, *got;
	struct server_conf	*s, *gs;
	struct account_conf	*a;
	struct account_view	 v;
	char			 path[512];
	int			 ok;

	tmpfile_with("hard.conf",
	    "[IMAP-1993]\nserver_address = imap.example.com\n"
	    "server_port = 993\n"
	    "allow_clients = 127.0.0.1, ::1, 10.0.0.0/8\n"
	    "proxy_protocol = true\nproxy_protocol_trusted = 192.0.2.0/24\n"
	    "[POP-1995]\nserver_address = pop.example.com\n"
	    "server_port = 995\n"
	    "[emailproxy]\nallow_catch_all_accounts = yes\n"
	    "require_local_password = yes\nmax_login_failures = 7\n"
	    "login_failure_window = 120\nlogin_cooloff = 45\n"
	    "[@example.com]\ntoken_url = https://t\noauth2_scope = s\n"
	    "oauth2_flow = client_credentials\nclient_id = c\n"
	    "local_password = " HASH_2B "\n"
	    "allow_clients = ::ffff:127.0.0.0/104\n"
	    "[user@example.com]\nlocal_password = " HASH_Y "\n"
	    "allow_clients = 127.0.0.2\n"
	    "[team@example.com]\ntoken_owner = user@example.com\n"
	    "local_password = " HASH_Y "\n");
	snprintf(path, sizeof(path), "%s/hard.conf", tmpdir);
	if ((conf = config_load(path, NULL)) == NULL) {
		check(0, "hardening: config loads");
		return;
	}

	got = transfer(conf, PROC_PROXY);
	check(got != NULL, "hardening: proxy configuration received");
	if (got != NULL) {
		s = server_find(conf, "IMAP-1993");
		gs = server_find(got, "IMAP-1993");
		check(gs != NULL && server_equal(s, gs) &&
		    gs->proxy_protocol == 1 && gs->allow_clients != NULL &&
		    streq(gs->allow_clients->text,
		    "127.0.0.1, ::1, 10.0.0.0/8") &&
		    cidr_list_equal(gs->allow_clients, s->allow_clients) &&
		    cidr_list_match_str(gs->proxy_protocol_trusted,
		    "192.0.2.9"), "hardening: proxy gets the server's "
		    "allow_clients, proxy_protocol and trusted peers");
		gs = server_find(got, "POP-1995");
		check(gs != NULL && gs->allow_clients == NULL &&
		    gs->proxy_protocol_trusted == NULL && !gs->proxy_protocol,
		    "hardening: a server without lists stays without");
		check(got->require_local_password == 1 &&
		    got->max_login_failures == 7 &&
		    got->login_failure_window == 120 &&
		    got->login_cooloff == 45, "hardening: globals to proxy");
		config_free(got);
	}

	got = transfer(conf, PROC_TOKEND);
	check(got != NULL, "hardening: tokend configuration received");
	if (got != NULL) {
		check(got->require_local_password == 1 &&
		    got->max_login_failures == 7 &&
		    got->login_failure_window == 120 &&
		    got->login_cooloff == 45,
		    "hardening: tokend gets require_local_password and the "
		    "throttling globals");
		a = account_named(got, "user@example.com");
		check(a != NULL && streq(a->local_password, HASH_Y) &&
		    a->allow_clients != NULL &&
		    cidr_list_match_str(a->allow_clients, "127.0.0.2") &&
		    !cidr_list_match_str(a->allow_clients, "127.0.0.1"),
		    "hardening: tokend gets the account's local_password and "
		    "allow_clients");
		check(account_resolve(got, "other@example.com", &v) == 0 &&
		    streq(v.local_password, HASH_2B) &&
		    cidr_list_match_str(v.allow_clients, "127.0.0.1") &&
		    !cidr_list_match_str(v.allow_clients, "10.0.0.1"),
		    "hardening: tokend resolves the catch-all's hash and "
		    "list (mapped prefix /104 = IPv4 /8)");
		a = account_named(got, "team@example.com");
		check(a != NULL && streq(a->token_owner, "user@example.com"),
		    "shared mailbox: tokend gets token_owner");
		config_free(got);
	}

	got = transfer(conf, PROC_AUTHD);
	check(got != NULL, "hardening: authd configuration received");
	if (got != NULL) {
		ok = 1;
		TAILQ_FOREACH(a, &got->accounts, entry)
			ok &= a->local_password == NULL &&
			    a->allow_clients == NULL &&
			    a->token_owner == NULL;
		check(ok, "hardening: authd gets no local password hash, "
		    "no account allowlist and no token_owner");
		config_free(got);
	}
	config_free(conf);
}

/* A SERVER message with a list that does not parse is refused. */
static void
test_bad_list(void)
{
	struct emailproxy_conf	*pending = NULL;
	struct imsgbuf		 w, r;
	struct msgw		 mw;
	struct imsg		 imsg;
	int			 sv[2], rv = -2;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    imsgbuf_init(&w, sv[0]) == -1 || imsgbuf_init(&r, sv[1]) == -1)
		exit(1);
	pending = config_new();
	msg_begin(&mw, &w, IMSG_CONF_SERVER, 0, -1);
	msg_put_str(&mw, "IMAP-1993");
	msg_put_u32(&mw, 1);
	msg_put_u32(&mw, PROTO_IMAP);
	msg_put_u32(&mw, 1993);
	msg_put_str(&mw, "::");
	msg_put_str(&mw, "imap.example.com");
	msg_put_u32(&mw, 993);
	msg_put_u32(&mw, 0);
	msg_put_u32(&mw, 0);
	msg_put_u32(&mw, 0);
	msg_put_str(&mw, NULL);			/* three empty files */
	msg_put_u32(&mw, 0);
	msg_put_u32(&mw, 0);
	msg_put_data(&mw, NULL, 0);
	msg_put_str(&mw, NULL);
	msg_put_u32(&mw, 0);
	msg_put_u32(&mw, 0);
	msg_put_data(&mw, NULL, 0);
	msg_put_str(&mw, NULL);
	msg_put_u32(&mw, 0);
	msg_put_u32(&mw, 0);
	msg_put_data(&mw, NULL, 0);
	msg_put_u32(&mw, 0);
	msg_put_u32(&mw, 0);
	msg_put_u32(&mw, 60);
	msg_put_str(&mw, "127.0.0.1, not-an-address");
	msg_put_u32(&mw, 0);
	msg_put_str(&mw, NULL);
	if (msg_end(&mw, &w) == -1 || imsgbuf_flush(&w) == -1 ||
	    imsgbuf_read(&r) != 1 || imsg_get(&r, &imsg) <= 0)
		check(0, "hardening: compose a SERVER message");
	else {
		rv = config_recv(&imsg, &pending);
		imsg_free(&imsg);
	}
	check(rv == -1 && pending == NULL, "hardening: a SERVER message "
	    "whose allow_clients does not parse is refused");
	config_free(pending);
	imsgbuf_clear(&w);
	imsgbuf_clear(&r);
	close(sv[0]);
	close(sv[1]);
}

/*
 * Row k of a sent structure (sent) against the received one (got):
 * numbers always arrive; a string, list or file's contents only where
 * the row's procs say, a file's path always; a KF_FIRSTUSE string to
 * tokend only with encrypt_client_secret_on_first_use (firstuse), else
 * empty when set.
 */
static int
row_arrived(const struct conf_key *k, const void *sent, const void *got,
    unsigned int kp, int firstuse)
{
	const void	*p = conf_key_field(k, sent);
	const void	*q = conf_key_field(k, got);
	const struct conf_file *f, *g;
	const struct cidr_list *l, *m;
	const char	*a, *b;
	int		 give = (k->procs & kp) != 0;

	switch (k->type) {
	case KT_BOOL:
		return (*(const int *)p == *(const int *)q);
	case KT_UINT:
		return (*(const unsigned int *)p == *(const unsigned int *)q);
	case KT_PORT:
		return (*(const uint16_t *)p == *(const uint16_t *)q);
	case KT_FILE:
		f = p;
		g = q;
		if ((f->path == NULL) != (g->path == NULL) ||
		    (f->path != NULL && strcmp(f->path, g->path) != 0))
			return (0);
		if (!give || f->data == NULL)
			return (g->data == NULL);
		return (g->data != NULL && g->len == f->len &&
		    memcmp(f->data, g->data, f->len) == 0);
	case KT_LIST:
		l = *(struct cidr_list *const *)p;
		m = *(struct cidr_list *const *)q;
		if (!give || l == NULL)
			return (m == NULL);
		return (m != NULL && strcmp(l->text, m->text) == 0);
	case KT_LEGACY:
	case KT_IGNORED:
	case KT_UNSUPPORTED:
		return (1);
	default:
		a = *(char *const *)p;
		b = *(char *const *)q;
		if (!give || a == NULL)
			return (b == NULL);
		if ((k->flags & KF_FIRSTUSE) && kp == KP_TOKEND && !firstuse)
			return (b != NULL && *b == '\0');
		return (b != NULL && strcmp(a, b) == 0);
	}
}

/* Every row of kind, sent from one structure, received in another. */
static int
rows_arrived(enum conf_kind kind, const void *sent, const void *got,
    unsigned int kp, int firstuse, int *set)
{
	const struct conf_key	*k;
	int			 ok = 1;

	for (k = conf_keys; k->name != NULL; k++) {
		if (k->kind != kind || k->off < 0 || k->procs == KP_PARENT)
			continue;
		if (!row_arrived(k, sent, got, kp, firstuse)) {
			printf("%s: not as its row says\n", k->name);
			ok = 0;
		}
		(*set)++;
	}
	return (ok);
}

static void
test_table_procs(void)
{
	static const struct {
		enum emailproxy_proc	 proc;
		unsigned int		 kp;
		const char		*name;
	} dests[] = {
		{ PROC_PROXY, KP_PROXY, "proxy" },
		{ PROC_TOKEND, KP_TOKEND, "tokend" },
		{ PROC_AUTHD, KP_AUTHD, "authd" }
	};
	static const char *const files[] = {
		"globals.conf", "servers.conf", "accounts.conf"
	};
	struct emailproxy_conf	*conf, *got;
	struct server_conf	*s, *gs;
	struct account_conf	*a, *ga;
	const char		*top = getenv("REGRESS_TOP");
	char			 dir[1024];
	size_t			 i, j;
	int			 ok, rows, accounts, fu;

	snprintf(dir, sizeof(dir), "%s/regress/config",
	    top != NULL ? top : ".");
	if (chdir(dir) == -1) {
		check(0, "chdir %s: %s", dir, strerror(errno));
		return;
	}
	setenv("SSL_CERT_FILE", "keypair.crt", 1);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if ((conf = config_load(files[i], NULL)) == NULL ||
		    config_load_files(conf) == -1) {
			check(0, "load regress/config/%s", files[i]);
			config_free(conf);
			continue;
		}
		for (j = 0; j < sizeof(dests) / sizeof(dests[0]); j++) {
			if ((got = transfer(conf, dests[j].proc)) == NULL) {
				check(0, "%s to %s", files[i], dests[j].name);
				continue;
			}
			rows = accounts = 0;
			fu = conf->encrypt_client_secret_on_first_use == 1;
			ok = rows_arrived(CONF_GLOBAL, conf, got, dests[j].kp,
			    fu, &rows);
			TAILQ_FOREACH(s, &conf->servers, entry) {
				gs = server_find(got, s->name);
				ok &= gs != NULL && rows_arrived(CONF_SERVER,
				    s, gs, dests[j].kp, fu, &rows);
			}
			TAILQ_FOREACH(a, &conf->accounts, entry) {
				ga = account_named(got, a->name);
				if (dests[j].proc == PROC_PROXY) {
					ok &= ga == NULL;
					continue;
				}
				accounts++;
				ok &= ga != NULL && rows_arrived(CONF_ACCOUNT,
				    a, ga, dests[j].kp, fu, &rows);
			}
			check(ok && rows > 20, "%s to %s: each of %d values "
			    "(%d accounts) only where its row sends it",
			    files[i], dests[j].name, rows, accounts);
			config_free(got);
		}
		config_free(conf);
	}
	unsetenv("SSL_CERT_FILE");
}

int
main(void)
{
	const char	*t = getenv("REGRESS_TMP");

	snprintf(tmpdir, sizeof(tmpdir), "%s/config_imsg_test.%d",
	    t != NULL ? t : "/tmp", (int)getpid());
	if (mkdir(tmpdir, 0700) == -1) {
		perror(tmpdir);
		return (1);
	}
	log_init(1, LOG_DAEMON);
	test_roundtrip();
	test_tokend_secrets();
	test_limits();
	test_malformed();
	test_hardening();
	test_bad_list();
	test_table_procs();
	return (failures != 0);
}
