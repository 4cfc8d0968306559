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
 * The configuration parser and model: a file in the Python proxy's format,
 * configparser semantics, the golden error files of regress/config/,
 * catch-all resolution, the --cache-store merge, file loading, the
 * multi-user hardening keys (allowlists, PROXY protocol, local
 * passwords, throttling).
 *
 * DEPS: common/config.c common/config_parse.c common/config_check.c common/config_keys.c common/account_complete.c common/config_files.c common/cidr.c common/log.c common/secret.c common/redis_url.c
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <err.h>
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

static int	 failures;
static char	 tmpdir[256];
static char	 captured[65536];

static void	 check(int, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
static const char *tmpfile_with(const char *, const char *);
static void	 capture_start(int);
static const char *capture_end(void);
static struct emailproxy_conf *load(const char *, const char *);
static int	 streq(const char *, const char *);
static const char *fixture(const char *);
static struct account_conf *account_named(struct emailproxy_conf *,
		    const char *);

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
		if (captured[0] != '\0')
			printf("; log: %.300s", captured);
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

static const char *
tmpfile_with(const char *name, const char *text)
{
	static char	 path[1200];
	FILE		*fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if ((fp = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, fp);
	fclose(fp);
	return (path);
}

/* Redirect fd 1 or 2 into a file, to read back what was printed. */
static int	 cap_fd = -1, cap_saved = -1;
static char	 cap_path[1200];

static void
capture_start(int fd)
{
	int	 f;

	fflush(stdout);
	fflush(stderr);
	snprintf(cap_path, sizeof(cap_path), "%s/capture", tmpdir);
	if ((f = open(cap_path, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1) {
		perror(cap_path);
		exit(1);
	}
	cap_fd = fd;
	cap_saved = dup(fd);
	dup2(f, fd);
	close(f);
}

static const char *
capture_end(void)
{
	ssize_t	 n;
	int	 f;

	fflush(stdout);
	fflush(stderr);
	dup2(cap_saved, cap_fd);
	close(cap_saved);
	captured[0] = '\0';
	if ((f = open(cap_path, O_RDONLY)) != -1) {
		n = read(f, captured, sizeof(captured) - 1);
		captured[n > 0 ? n : 0] = '\0';
		close(f);
	}
	return (captured);
}

/* config_load with its log captured in `captured'. */
static struct emailproxy_conf *
load(const char *path, const char *cache)
{
	struct emailproxy_conf	*conf;

	capture_start(2);
	conf = config_load(path, cache);
	capture_end();
	return (conf);
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

/*
 * A copy of regress/fixtures/NAME in the scratch directory, with
 * @FIXTURES@ replaced by the fixtures' absolute path (configuration
 * file paths are absolute).
 */
static const char *
fixture(const char *name)
{
	static char	 path[1200];
	char		 dir[1024], src[1200], line[4096], *p, *at;
	const char	*top = getenv("REGRESS_TOP");
	FILE		*in, *out;

	snprintf(dir, sizeof(dir), "%s/regress/fixtures",
	    top != NULL ? top : ".");
	snprintf(src, sizeof(src), "%s/%s", dir, name);
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if ((in = fopen(src, "r")) == NULL) {
		perror(src);
		exit(1);
	}
	if ((out = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	while (fgets(line, sizeof(line), in) != NULL) {
		for (p = line; (at = strstr(p, "@FIXTURES@")) != NULL;
		    p = at + strlen("@FIXTURES@")) {
			fwrite(p, 1, at - p, out);
			fputs(dir, out);
		}
		fputs(p, out);
	}
	fclose(in);
	fclose(out);
	return (path);
}

/* regress/fixtures/python-proxy-sample.conf: the Python proxy's format. */
static void
test_sample(void)
{
	struct emailproxy_conf	*conf;
	struct server_conf	*s;
	struct account_conf	*a;
	struct account_view	 v;
	char			*cache;
	int			 ns = 0, na = 0, rv;

	conf = load(fixture("python-proxy-sample.conf"), NULL);
	check(conf != NULL, "sample config loads");
	if (conf == NULL)
		return;
	TAILQ_FOREACH(s, &conf->servers, entry)
		ns++;
	TAILQ_FOREACH(a, &conf->accounts, entry)
		na++;
	check(ns == 9, "sample: 9 servers (got %d)", ns);
	check(na == 14, "sample: 14 account sections (got %d)", na);
	check(strstr(captured, "sample text") != NULL,
	    "sample: placeholder client ids are warned about");

	s = server_find(conf, "IMAP-1993");
	check(s != NULL && s->proto == PROTO_IMAP && s->local_port == 1993 &&
	    streq(s->local_address, "127.0.0.1") &&
	    streq(s->server_address, "outlook.office365.com") &&
	    s->server_port == 993 && !s->server_starttls &&
	    !s->local_starttls && s->local_certificate.path == NULL &&
	    s->idle_timeout == 60, "sample: [IMAP-1993] implicit TLS");
	s = server_find(conf, "SMTP-1587");
	check(s != NULL && s->proto == PROTO_SMTP && s->server_starttls &&
	    !s->local_starttls, "sample: [SMTP-1587] server_starttls");
	s = server_find(conf, "IMAP-2993");
	check(s != NULL && s->proto == PROTO_IMAP && s->local_starttls &&
	    !s->server_starttls && s->local_certificate.path != NULL &&
	    s->local_key.path != NULL,
	    "sample: [IMAP-2993] local_starttls with a certificate");
	s = server_find(conf, "POP-2995");
	check(s != NULL && s->proto == PROTO_POP && !s->local_starttls &&
	    streq(s->local_address, "localhost") &&
	    streq(s->server_address, "pop.gmail.com") &&
	    s->local_certificate.path != NULL,
	    "sample: [POP-2995] local implicit TLS, hostname to listen on");
	s = server_find(conf, "SMTP-2465");
	check(s != NULL && s->proto == PROTO_SMTP && s->local_starttls &&
	    streq(s->local_address, "::1"), "sample: [SMTP-2465] IPv6, "
	    "local_starttls = yes");
	s = server_find(conf, "IMAP-3143");
	check(s != NULL && s->server_starttls && s->local_starttls &&
	    s->server_port == 143 && (s->local_address == NULL ||
	    streq(s->local_address, "::")),
	    "sample: [IMAP-3143] STARTTLS on both sides, all interfaces");
	s = server_find(conf, "POP-3110");
	check(s != NULL && s->proto == PROTO_POP && s->server_starttls,
	    "sample: [POP-3110] server_starttls = TRUE");
	s = server_find(conf, "SMTP-3025");
	check(s != NULL && s->server_starttls && !s->local_starttls,
	    "sample: [SMTP-3025] local_starttls = False");
	check(server_find(conf, "Server setup") == NULL &&
	    account_named(conf, "Account setup") == NULL &&
	    account_named(conf, "Advanced proxy configuration") == NULL &&
	    account_named(conf, "Email OAuth 2.0 Proxy configuration file") ==
	    NULL, "sample: documentation sections ignored");

	a = account_named(conf, "your.email@gmail.com");
	check(a != NULL && a->flow == FLOW_AUTHORIZATION_CODE &&
	    streq(a->redirect_uri, "http://localhost") &&
	    streq(a->oauth2_scope, "https://mail.google.com/") &&
	    streq(a->token_salt, "MXSpJgea6ShFETNcmd7BqA==") &&
	    streq(a->token_iterations, "1200000") &&
	    a->access_token != NULL &&
	    strncmp(a->access_token, "gAAAAA", 6) == 0 &&
	    streq(a->access_token_expiry, "1764000000") &&
	    a->refresh_token != NULL,
	    "sample: code grant with the Python proxy's cached tokens");
	a = account_named(conf, "your.email@fastmail.com");
	check(a != NULL && a->use_pkce == 1 && a->client_secret == NULL &&
	    a->flow == FLOW_AUTHORIZATION_CODE &&
	    streq(a->redirect_listen_address, "http://127.0.0.1:8080"),
	    "sample: use_pkce, no secret, redirect_listen_address");
	a = account_named(conf, "your.email@yahoo.co.uk");
	check(a != NULL && streq(a->oauth2_flow_str, "authorization_code") &&
	    a->flow == FLOW_AUTHORIZATION_CODE,
	    "sample: oauth2_flow = authorization_code named");
	a = account_named(conf, "certificate.credentials@your-tenant.com");
	check(a != NULL && a->client_secret == NULL &&
	    a->jwt_certificate.path != NULL && a->jwt_key.path != NULL,
	    "sample: Entra certificate credentials");
	a = account_named(conf, "dag.flow.configured.address@outlook.com");
	check(a != NULL && a->flow == FLOW_DEVICE, "sample: device flow");
	a = account_named(conf, "ccg.flow.configured.address@your-tenant.com");
	check(a != NULL && a->flow == FLOW_CLIENT_CREDENTIALS &&
	    a->client_secret == NULL && a->client_secret_encrypted != NULL &&
	    strncmp(a->client_secret_encrypted, "gAAAAA", 6) == 0 &&
	    streq(a->token_salt, "1K2/o4ZusUho1S3f8UWPfA=="),
	    "sample: client_credentials flow with client_secret_encrypted");
	a = account_named(conf,
	    "ropcg.flow.scope.configured.address@your-tenant.com");
	check(a != NULL && a->flow == FLOW_PASSWORD && a->oauth2_scope !=
	    NULL && a->oauth2_resource == NULL,
	    "sample: password flow with oauth2_scope");
	a = account_named(conf,
	    "ropcg.flow.resource.configured.address@your-tenant.com");
	check(a != NULL && a->flow == FLOW_PASSWORD && a->oauth2_scope ==
	    NULL && streq(a->oauth2_resource, "https://partner.outlook.cn"),
	    "sample: password flow with oauth2_resource");
	a = account_named(conf,
	    "service.account.accessible.address@your-domain.com");
	check(a != NULL && a->flow == FLOW_SERVICE_ACCOUNT &&
	    streq(a->client_id, "file") && a->service_account_key.path !=
	    NULL && streq(a->service_account_key.path, a->client_secret),
	    "sample: service account key in a file");
	a = account_named(conf,
	    "service.account.accessible.address@your-domain.org");
	check(a != NULL && a->flow == FLOW_SERVICE_ACCOUNT &&
	    streq(a->client_id, "key") && a->client_secret != NULL &&
	    strncmp(a->client_secret, "{\n\"type\": \"service_account\",\n",
	    29) == 0 && strstr(a->client_secret, "\n}") != NULL &&
	    a->service_account_key.path == NULL,
	    "sample: multi-line pasted JSON key joined with \\n");
	check(conf->delete_account_token_on_password_error == 0 &&
	    conf->encrypt_client_secret_on_first_use == 1 &&
	    conf->use_login_password_as_client_credentials_secret == 1 &&
	    conf->allow_catch_all_accounts == 1, "sample: globals read");

	check(account_resolve(conf, "Someone@YOUR-TENANT.NET", &v) == 0 &&
	    v.section == NULL && streq(v.name, "@your-tenant.net") &&
	    v.flow == FLOW_CLIENT_CREDENTIALS && streq(v.client_id,
	    "00000000-0000-0000-0000-000000000006") && v.client_secret ==
	    NULL, "sample: [@domain] catch-all for an unknown login name");
	check(account_resolve(conf, "boss@your-tenant.net", &v) == 0 &&
	    v.section != NULL && v.flow == FLOW_CLIENT_CREDENTIALS &&
	    streq(v.oauth2_scope,
	    "https://outlook.office365.com/IMAP.AccessAsUser.All") &&
	    streq(v.client_id, "00000000-0000-0000-0000-000000000006"),
	    "sample: an account overriding one value of its [@domain]");
	check(account_resolve(conf, "anyone@elsewhere.example", &v) == 0 &&
	    v.section == NULL && streq(v.name, "@") &&
	    streq(v.redirect_uri, "http://localhost:8082"),
	    "sample: [@] catch-all for any other domain");
	check(account_resolve(conf, "dag.flow.configured.address@outlook.com",
	    &v) == 0 && streq(v.redirect_uri, "http://localhost:8082") &&
	    v.flow == FLOW_DEVICE,
	    "sample: [@] fills the gaps of an account's own section");

	capture_start(2);
	rv = config_load_files(conf);
	capture_end();
	s = server_find(conf, "POP-2995");
	a = account_named(conf,
	    "service.account.accessible.address@your-domain.com");
	check(rv == 0 && s != NULL && s->local_certificate.data != NULL &&
	    strstr(s->local_certificate.data, "BEGIN CERTIFICATE") != NULL &&
	    s->local_key.data != NULL && a != NULL &&
	    a->service_account_key.data != NULL &&
	    strstr(a->service_account_key.data, "\"service_account\"") != NULL,
	    "sample: config_load_files reads certificates, keys, key file");
	capture_start(1);
	config_print(conf, 1);
	capture_end();
	check(strncmp(captured, "configuration OK: 9 servers, 14 accounts\n",
	    41) == 0, "sample: config_print first line");
	check(strstr(captured, "IMAP-1993: 127.0.0.1:1993 -> "
	    "outlook.office365.com:993 (TLS)\n") != NULL &&
	    strstr(captured, "SMTP-1587: 127.0.0.1:1587 -> "
	    "smtp-mail.outlook.com:587 (STARTTLS)\n") != NULL,
	    "sample: config_print -v servers");
	/* Secrets are named ("client_secret: set"), never shown. */
	check(strstr(captured, "*** your client secret") == NULL &&
	    strstr(captured, "GOCSPX-") == NULL &&
	    strstr(captured, "fixture-yahoo-secret") == NULL &&
	    strstr(captured, "fixture-ropcg") == NULL &&
	    strstr(captured, "= {") == NULL &&
	    strstr(captured, "MXSpJgea6ShFETNcmd7BqA==") == NULL &&
	    strstr(captured, "PRIVATE KEY") == NULL &&
	    strstr(captured, "gAAAAA") == NULL &&
	    strstr(captured, "# client_secret: set, not shown\n") != NULL,
	    "sample: config_print shows no secret, key or cached token");
	captured[0] = '\0';
	config_free(conf);

	/* fixture() returns one static buffer: copy the first path. */
	if ((cache = strdup(fixture("python-proxy-cache.conf"))) == NULL)
		err(1, NULL);
	conf = load(fixture("python-proxy-sample.conf"), cache);
	free(cache);
	check(conf != NULL &&
	    (a = account_named(conf, "new.user@your-tenant.net")) != NULL &&
	    streq(a->token_iterations, "870000") && a->refresh_token != NULL &&
	    (a = account_named(conf,
	    "ropcg.flow.scope.configured.address@your-tenant.com")) != NULL &&
	    streq(a->token_salt, "fJ5he0serkEopXZPMUseKw==") &&
	    a->client_secret != NULL,
	    "sample with its --cache-store: cached values merged, a "
	    "catch-all account added");
	if (conf != NULL)
		config_free(conf);
}

/* Every regress/config/NAME.conf fails with the line in NAME.err. */
static void
test_golden(void)
{
	struct emailproxy_conf	*conf;
	DIR			*d;
	struct dirent		*de;
	char			 dir[1200], errpath[1300], want[1024];
	char			 cwd[1200];
	const char		*top = getenv("REGRESS_TOP");
	FILE			*fp;
	size_t			 n;
	int			 count = 0;

	snprintf(dir, sizeof(dir), "%s/regress/config",
	    top != NULL ? top : ".");
	if (getcwd(cwd, sizeof(cwd)) == NULL || chdir(dir) == -1 ||
	    (d = opendir(".")) == NULL) {
		check(0, "golden: open %s", dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n < 6 || strcmp(de->d_name + n - 5, ".conf") != 0)
			continue;
		snprintf(errpath, sizeof(errpath), "%.*s.err", (int)(n - 5),
		    de->d_name);
		if ((fp = fopen(errpath, "r")) == NULL)
			continue;	/* a good file (config.sh) */
		want[0] = '\0';
		if (fgets(want, sizeof(want), fp) == NULL)
			want[0] = '\0';
		fclose(fp);
		want[strcspn(want, "\n")] = '\0';
		conf = load(de->d_name, NULL);
		/* Some are wrong only in the files they name, as with -n. */
		if (conf != NULL) {
			capture_start(2);
			if (config_load_files(conf) == -1) {
				config_free(conf);
				conf = NULL;
			}
			capture_end();
		}
		check(conf == NULL && want[0] != '\0' &&
		    strstr(captured, want) != NULL,
		    "golden: %s fails with \"%s\"", de->d_name, want);
		captured[0] = '\0';
		config_free(conf);
		count++;
	}
	closedir(d);
	check(count >= 12, "golden: %d error files checked", count);
	if (chdir(cwd) == -1)
		check(0, "golden: chdir back");
}

static void
test_bool(void)
{
	static const char *yes[] = { "1", "yes", "YES", "true", "True", "on",
	    "oN" };
	static const char *no[] = { "0", "no", "No", "false", "FALSE", "off" };
	static const char *bad[] = { "", "2", "y", "n", "t", "enabled",
	    "true ", "False!", "-1" };
	size_t	 i;
	int	 ok = 1;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ok &= parse_bool(yes[i]) == 1;
	check(ok, "parse_bool: true spellings");
	ok = 1;
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ok &= parse_bool(no[i]) == 0;
	check(ok, "parse_bool: false spellings");
	ok = parse_bool(NULL) == -1;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok &= parse_bool(bad[i]) == -1;
	check(ok, "parse_bool: anything else is invalid");
	check(streq(flow_name(FLOW_DEVICE), "device") &&
	    streq(flow_name(FLOW_AUTHORIZATION_CODE), "authorization_code"),
	    "flow_name");
}

static void
test_syntax(void)
{
	struct emailproxy_conf	*conf;
	struct server_conf	*s;
	struct account_conf	*a;
	const char		*p;

	p = tmpfile_with("syntax.conf",
	    "# leading comment\n"
	    "; another\n"
	    "[imap-1993]\n"
	    "server_address = lower.example.com\n"
	    "server_port = 993\n"
	    "\n"
	    "[IMAP-01993]\n"
	    "  SERVER_Address: imap.example.com\n"
	    "  server_port:993\n"
	    "    # a comment inside the section\n"
	    "Local_Address=127.0.0.1\n"
	    "documentation = first\n"
	    "\tsecond\n"
	    "\n"
	    "\t# a comment inside a value\n"
	    "\tthird = still a value\n"
	    "\t[NOT-A-SECTION]\n"
	    "\n"
	    "\n"
	    "[user@example.com]\n"
	    "permission_url = https://auth.example.com/auth?a=%41&b=1\n"
	    "token_url = https://auth.example.com/token\n"
	    "oauth2_scope = a b\n"
	    "redirect_uri = http://localhost:8080\n"
	    "client_id = id:with=delims\n"
	    "client_secret = line1\n"
	    "  line2\n"
	    "\n"
	    "  line4\n"
	    "\n"
	    "\n"
	    "use_pkce = OFF\n"
	    "last_activity = 1700000000\n"
	    "some_new_key = x\n"
	    "[section] trailing words\n"
	    "a = b\n");
	conf = load(p, NULL);
	check(conf != NULL, "syntax: file loads");
	if (conf == NULL)
		return;
	check(server_find(conf, "imap-1993") == NULL &&
	    strstr(captured, "[imap-1993]: not a server section") != NULL,
	    "syntax: section names are case-sensitive ([imap-1993] "
	    "ignored, with a warning)");
	s = server_find(conf, "IMAP-01993");
	check(s != NULL && s->local_port == 1993 &&
	    streq(s->server_address, "imap.example.com") &&
	    s->server_port == 993 && streq(s->local_address, "127.0.0.1"),
	    "syntax: keys lowercased, ':' and '=' delimiters, indented "
	    "keys");
	a = account_named(conf, "user@example.com");
	check(a != NULL && streq(a->permission_url,
	    "https://auth.example.com/auth?a=%41&b=1"),
	    "syntax: no interpolation of %%");
	check(a != NULL && streq(a->client_id, "id:with=delims"),
	    "syntax: the first delimiter splits");
	check(a != NULL && streq(a->client_secret, "line1\nline2\n\nline4"),
	    "syntax: continuation keeps inner blank lines, drops trailing "
	    "ones");
	check(a != NULL && a->use_pkce == 0, "syntax: use_pkce = OFF");
	check(strstr(captured, "some_new_key: unknown key, ignored") !=
	    NULL, "syntax: unknown key is a warning naming file:line");
	check(strstr(captured, "last_activity") == NULL,
	    "syntax: last_activity ignored silently");
	check(strstr(captured, "syntax.conf:35: [section]: text after") !=
	    NULL, "syntax: text after ']' warned about");
	config_free(conf);

	p = tmpfile_with("nosection.conf", "key = value\n[IMAP-1]\n"
	    "server_address = a\nserver_port = 1\n");
	conf = load(p, NULL);
	check(conf == NULL && strstr(captured,
	    "nosection.conf:1: no section header") != NULL,
	    "syntax: key before any section is an error");
	config_free(conf);

	p = tmpfile_with("noserver.conf", "[a@b]\ntoken_url = https://x\n");
	conf = load(p, NULL);
	check(conf == NULL && strstr(captured, "no server section") != NULL,
	    "syntax: a file without servers is an error");
	config_free(conf);

	conf = load("/nonexistent/emailproxy.conf", NULL);
	check(conf == NULL && strstr(captured, "/nonexistent/emailproxy."
	    "conf: No such file") != NULL, "syntax: missing file is an "
	    "error");
	config_free(conf);

	p = tmpfile_with("noline.conf", "[IMAP-1993]\nserver_address = a\n"
	    "server_port = 1\njunk without delimiter\n");
	conf = load(p, NULL);
	check(conf == NULL && strstr(captured, "noline.conf:4: [IMAP-1993]: "
	    "line is neither") != NULL, "syntax: a line without = or : is "
	    "an error");
	config_free(conf);

	p = tmpfile_with("many.conf",
	    "[IMAP-1993]\nserver_address = a\nserver_port = 99999\n"
	    "idle_timeout = 0\nmax_connections = lots\n"
	    "[POP-1993]\nserver_address = b\nserver_port = 995\n"
	    "local_certificate_path = /x\n"
	    "plugins = {'Echo': {}}\n"
	    "[emailproxy]\nallow_catch_all_accounts = maybe\n"
	    "store_dir = relative/dir\nkdf_iterations = 10\n");
	conf = load(p, NULL);
	check(conf == NULL &&
	    strstr(captured, "many.conf:3: server_port: value \"99999\" is "
	    "too large") != NULL &&
	    strstr(captured, "many.conf:4: idle_timeout:") != NULL &&
	    strstr(captured, "many.conf:5: max_connections:") != NULL &&
	    strstr(captured, "many.conf:6: [POP-1993]: local port 1993 is "
	    "already used by [IMAP-1993]") != NULL &&
	    strstr(captured, "many.conf:6: [POP-1993]: local_certificate_path"
	    " and local_key_path must be given together") != NULL &&
	    strstr(captured, "many.conf:10: plugins: plugins are not "
	    "supported") != NULL &&
	    strstr(captured, "many.conf:12: allow_catch_all_accounts: "
	    "invalid boolean") != NULL &&
	    strstr(captured, "many.conf:13: store_dir:") != NULL &&
	    strstr(captured, "many.conf:14: kdf_iterations:") != NULL,
	    "syntax: every error of a file is reported in one run");
	config_free(conf);
}

static const char catchall_conf[] =
    "[IMAP-1993]\n"
    "server_address = imap.example.com\n"
    "server_port = 993\n"
    "local_starttls = yes\n"
    "local_certificate_path = %s/cert.pem\n"
    "local_key_path = %s/key.pem\n"
    "[emailproxy]\n"
    "allow_catch_all_accounts = %s\n"
    "idle_timeout = 30\n"
    "[@example.com]\n"
    "token_url = https://auth.example.com/token\n"
    "client_secret_encrypted = catchall-encrypted\n"
    "token_salt = catchall-salt\n"
    "access_token = never-inherited\n"
    "[@]\n"
    "permission_url = https://auth.example.net/auth\n"
    "oauth2_scope = mail\n"
    "redirect_uri = http://localhost:1234\n"
    "client_id = global-id\n"
    "[user@Example.COM]\n"
    "oauth2_scope = user-scope\n"
    "access_token = user-token\n"
    "refresh_token = user-refresh\n"
    "%s";

static const char *
catchall_file(const char *name, const char *on, const char *extra)
{
	char	 buf[4096];

	snprintf(buf, sizeof(buf), catchall_conf, tmpdir, tmpdir, on, extra);
	return (tmpfile_with(name, buf));
}

static void
test_catchall(void)
{
	struct emailproxy_conf	*conf;
	struct account_view	 v;
	struct server_conf	*s;
	const char		*p;

	tmpfile_with("cert.pem", "-----BEGIN CERTIFICATE-----\nx\n");
	tmpfile_with("key.pem", "-----BEGIN PRIVATE KEY-----\ny\n");
	p = catchall_file("catchall.conf", "true", "");
	conf = load(p, NULL);
	check(conf != NULL, "catch-all: [user@Example.COM] completed by "
	    "[@example.com] and [@] loads");
	if (conf == NULL)
		return;
	s = server_find(conf, "IMAP-1993");
	check(s != NULL && s->local_starttls && s->idle_timeout == 30,
	    "catch-all file: local_starttls with cert and key, idle_timeout "
	    "default from [emailproxy]");

	check(account_resolve(conf, "user@example.com", &v) == 0 &&
	    v.section != NULL && streq(v.name, "user@Example.COM") &&
	    streq(v.oauth2_scope, "user-scope") &&
	    streq(v.token_url, "https://auth.example.com/token") &&
	    streq(v.client_id, "global-id") &&
	    v.flow == FLOW_AUTHORIZATION_CODE &&
	    streq(v.token_salt, "catchall-salt") &&
	    streq(v.client_secret_encrypted, "catchall-encrypted") &&
	    streq(v.section->access_token, "user-token"),
	    "catch-all: [X] matched with the domain in another case, "
	    "fields merged [X] -> [@domain] -> [@]");
	check(account_resolve(conf, "USER@example.com", &v) == 0 &&
	    v.section != NULL && streq(v.name, "user@Example.COM") &&
	    streq(v.oauth2_scope, "user-scope"),
	    "catch-all: [X] matched with the local part in another case");
	check(account_resolve(conf, "other@EXAMPLE.com", &v) == 0 &&
	    v.section == NULL && streq(v.name, "@example.com") &&
	    streq(v.token_url, "https://auth.example.com/token") &&
	    streq(v.redirect_uri, "http://localhost:1234"),
	    "catch-all: [@domain] matches the domain without case");
	check(account_resolve(conf, "someone@elsewhere.org", &v) == 0 &&
	    streq(v.name, "@") && v.token_url == NULL,
	    "catch-all: [@] matches any other name");
	check(account_resolve(conf, "", &v) == -1,
	    "catch-all: an empty name matches nothing");
	config_free(conf);

	p = catchall_file("nocatchall.conf", "false", "");
	conf = load(p, NULL);
	check(conf == NULL && strstr(captured, "[user@Example.COM]: "
	    "token_url is required") != NULL,
	    "catch-all off: [X] is checked on its own");
	config_free(conf);

	p = catchall_file("nocatchall2.conf", "off",
	    "token_url = https://t\nclient_id = c\n"
	    "permission_url = https://p\nredirect_uri = http://localhost\n");
	conf = load(p, NULL);
	check(conf != NULL && strstr(captured, "[@]: catch-all section "
	    "unused") != NULL, "catch-all off: catch-all sections warned "
	    "about");
	if (conf != NULL) {
		check(account_resolve(conf, "user@EXAMPLE.com", &v) == 0 &&
		    v.section != NULL && v.token_salt == NULL,
		    "catch-all off: exact match only, nothing inherited");
		check(account_resolve(conf, "other@example.com", &v) == -1,
		    "catch-all off: unknown account matches nothing");
	}
	config_free(conf);

	p = catchall_file("dupdomain.conf", "yes",
	    "[user@example.com]\ntoken_url = x\n");
	conf = load(p, NULL);
	check(conf == NULL && strstr(captured, "[user@example.com]: same "
	    "account as [user@Example.COM]") != NULL,
	    "sections differing only in the domain's case are an error");
	config_free(conf);

	p = catchall_file("duplocal.conf", "yes",
	    "[USER@example.com]\ntoken_url = x\n");
	conf = load(p, NULL);
	check(conf == NULL && strstr(captured, "[USER@example.com]: same "
	    "account as [user@Example.COM] at ") != NULL,
	    "sections differing only in the local part's case are an error "
	    "naming the first one's file and line");
	config_free(conf);

	p = catchall_file("badcatchall.conf", "yes",
	    "[@bad.example]\nuse_pkce = sometimes\n");
	conf = load(p, NULL);
	check(conf == NULL && strstr(captured, "use_pkce: invalid boolean") !=
	    NULL, "a partial catch-all section still has its values "
	    "checked");
	config_free(conf);
}

static void
test_cache(void)
{
	struct emailproxy_conf	*conf;
	struct account_view	 v;
	struct account_conf	*a;
	const char		*p;
	char			 c[1200];

	strlcpy(c, tmpfile_with("cache.store",
	    "[user@example.com]\n"
	    "access_token = cached-token\n"
	    "access_token_expiry = 1700000000\n"
	    "refresh_token = cached-refresh\n"
	    "token_salt = cached-salt\n"
	    "token_iterations = 1200000\n"
	    "last_activity = 1700000001\n"
	    "client_id = not-cached\n"
	    "\n"
	    "[new@example.com]\n"
	    "access_token = new-token\n"
	    "\n"
	    "[ghost@nowhere.org]\n"
	    "access_token = ghost-token\n"), sizeof(c));
	p = catchall_file("cache.conf", "true", "");
	conf = load(p, c);
	check(conf != NULL, "cache store: loads with catch-all");
	if (conf == NULL)
		return;
	a = account_named(conf, "user@Example.COM");
	check(a != NULL && streq(a->access_token, "cached-token") &&
	    streq(a->refresh_token, "cached-refresh") &&
	    streq(a->access_token_expiry, "1700000000") &&
	    streq(a->token_salt, "cached-salt") &&
	    streq(a->token_iterations, "1200000") &&
	    a->client_id == NULL,
	    "cache store: cached values copied over the config's");
	check(strstr(captured, "cache.store:8: client_id: not a cached key")
	    != NULL, "cache store: other keys warned about");
	a = account_named(conf, "new@example.com");
	check(a != NULL && streq(a->access_token, "new-token") &&
	    account_resolve(conf, "new@example.com", &v) == 0 &&
	    v.section == a && streq(v.token_url,
	    "https://auth.example.com/token"),
	    "cache store: account covered by a catch-all is created");
	check(account_named(conf, "ghost@nowhere.org") != NULL &&
	    strstr(captured, "cache.store:13: [ghost@nowhere.org]: token_url "
	    "is required") != NULL,
	    "cache store: [@] covers every other account; an incomplete "
	    "merge is a warning");
	config_free(conf);

	p = catchall_file("cache2.conf", "false",
	    "token_url = https://t\nclient_id = c\n"
	    "permission_url = https://p\nredirect_uri = http://localhost\n");
	conf = load(p, c);
	check(conf != NULL && account_named(conf, "new@example.com") == NULL &&
	    strstr(captured, "cache.store:10: [new@example.com]: account not "
	    "in") != NULL && strstr(captured, "cache.store:13: "
	    "[ghost@nowhere.org]: account not in") != NULL,
	    "cache store: unknown accounts ignored with a warning naming "
	    "file:line");
	if (conf != NULL) {
		a = account_named(conf, "user@Example.COM");
		check(a != NULL && streq(a->access_token, "cached-token"),
		    "cache store: known account merged without catch-all");
	}
	config_free(conf);

	conf = load(p, "/nonexistent/cache.store");
	check(conf != NULL, "cache store: a missing store is empty");
	config_free(conf);
}

static void
test_files(void)
{
	struct emailproxy_conf	*conf, *conf2;
	struct server_conf	*s, *s2;
	struct account_conf	*a;
	char			 buf[8192];
	const char		*p;
	int			 rv;

	tmpfile_with("sa.json", "{\"type\": \"service_account\"}\n");
	tmpfile_with("ca.pem", "CA\n");
	snprintf(buf, sizeof(buf),
	    "[SMTP-1465]\nserver_address = smtp.example.com\n"
	    "server_port = 465\nlocal_certificate_path = %s/cert.pem\n"
	    "local_key_path = %s/key.pem\nserver_ca_file = %s/ca.pem\n"
	    "[emailproxy]\nca_file = %s/ca.pem\n"
	    "[sa@example.com]\ntoken_url = https://t\noauth2_scope = s\n"
	    "oauth2_flow = service_account\nclient_id = file\n"
	    "client_secret = %s/sa.json\n"
	    "[jwt@example.com]\ntoken_url = https://t\noauth2_scope = s\n"
	    "oauth2_flow = client_credentials\nclient_id = c\n"
	    "jwt_certificate_path = %s/cert.pem\n"
	    "jwt_key_path = %s/key.pem\n",
	    tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir);
	p = tmpfile_with("files.conf", buf);
	conf = load(p, NULL);
	conf2 = load(p, NULL);
	check(conf != NULL && conf2 != NULL, "files: config loads");
	if (conf == NULL || conf2 == NULL) {
		config_free(conf);
		config_free(conf2);
		return;
	}
	capture_start(2);
	rv = config_load_files(conf);
	capture_end();
	check(rv == 0, "files: config_load_files");
	s = server_find(conf, "SMTP-1465");
	check(s != NULL && streq(s->local_certificate.data,
	    "-----BEGIN CERTIFICATE-----\nx\n") &&
	    streq(s->local_key.data, "-----BEGIN PRIVATE KEY-----\ny\n") &&
	    s->local_key.len == 30 && streq(s->server_ca.data, "CA\n") &&
	    streq(conf->ca_file.data, "CA\n"),
	    "files: server certificate, key and CA read");
	a = account_named(conf, "sa@example.com");
	check(a != NULL && streq(a->service_account_key.data,
	    "{\"type\": \"service_account\"}\n"),
	    "files: service-account key file read (client_id = file)");
	a = account_named(conf, "jwt@example.com");
	check(a != NULL && a->jwt_key.data != NULL &&
	    a->jwt_certificate.data != NULL, "files: JWT certificate and key");

	s2 = server_find(conf2, "SMTP-1465");
	check(s != NULL && s2 != NULL && !server_equal(s, s2),
	    "server_equal: differs when only one has the file contents");
	capture_start(2);
	config_load_files(conf2);
	capture_end();
	check(server_equal(s, s2), "server_equal: same section, same files");
	s2->local_key.data[0] = 'X';
	check(!server_equal(s, s2), "server_equal: key contents differ");
	s2->local_key.data[0] = '-';
	s2->idle_timeout++;
	check(!server_equal(s, s2), "server_equal: idle_timeout differs");
	config_free(conf2);

	snprintf(buf, sizeof(buf), "%s/sa.json", tmpdir);
	unlink(buf);
	a = account_named(conf, "sa@example.com");
	capture_start(2);
	rv = config_load_files(conf);
	capture_end();
	check(rv == -1 && strstr(captured, "files.conf:14: client_secret: ")
	    != NULL && strstr(captured, "sa.json: No such file or directory")
	    != NULL, "files: a missing file names file:line: key and the "
	    "OS error");
	config_free(conf);
}

/* crypt(3) hashes of "secret" (libxcrypt); the MD5 one is legacy. */
#define HASH_Y	"$y$j9T$fLiglGhe0DJMQi8.JapRC0$" \
		"xpyIVt4sIPxcj9KpMSi0erMsUvR3Nsuv98n0lIP5Aa/"
#define HASH_2B	"$2b$04$hah.SS56TPnkdUVQmJyvWO5YV5r4YESls8t2V96PWJ9eYo1Kn580i"
#define HASH_6	"$6$rounds=1000$Es6qZIzWa97ENlyd$73mVt/./9fXj/pTLHWavxhfPUXrM" \
		"dbrzzNMyzggaMFlpOfJzZJfs3WFHgxVOFocipzSoEOCJiatMSdI4cC.Ra1"
#define HASH_MD5 "$1$DZnANA.5$mueNU.vPVrhgonNSYqX0M."

static const char hardening_conf[] =
    "[IMAP-1993]\n"
    "server_address = imap.example.com\n"
    "server_port = 993\n"
    "allow_clients = 127.0.0.1, ::1 10.0.0.0/8\n"
    "proxy_protocol = yes\n"
    "proxy_protocol_trusted = 192.0.2.1\n"
    "[POP-1995]\n"
    "server_address = pop.example.com\n"
    "server_port = 995\n"
    "[emailproxy]\n"
    "allow_catch_all_accounts = yes\n"
    "require_local_password = yes\n"
    "max_login_failures = 3\n"
    "login_failure_window = 60\n"
    "login_cooloff = 3\n"
    "[@example.com]\n"
    "token_url = https://auth.example.com/token\n"
    "oauth2_flow = client_credentials\n"
    "oauth2_scope = mail\n"
    "client_id = cid\n"
    "local_password = " HASH_2B "\n"
    "allow_clients = 10.1.0.0/16\n"
    "[user@example.com]\n"
    "local_password = " HASH_Y "\n"
    "allow_clients = 127.0.0.2, ::ffff:192.0.2.0/120\n"
    "[sha@example.com]\n"
    "local_password = " HASH_6 "\n"
    "[open@example.org]\n"
    "token_url = https://auth.example.org/token\n"
    "oauth2_flow = client_credentials\n"
    "oauth2_scope = mail\n"
    "client_id = cid\n";

static void
test_hardening(void)
{
	struct emailproxy_conf	*conf, *conf2;
	struct server_conf	*s, *s2;
	struct account_view	 v;
	const char		*p;
	char			 buf[4096];

	conf = config_new();
	check(conf != NULL && conf->require_local_password == 0 &&
	    conf->max_login_failures == 5 &&
	    conf->login_failure_window == 300 && conf->login_cooloff == 300,
	    "hardening: defaults (local password optional, 5 failures in "
	    "300 s, 300 s cool-off)");
	config_free(conf);

	p = tmpfile_with("hardening.conf", hardening_conf);
	conf = load(p, NULL);
	check(conf != NULL, "hardening: file with every new key loads");
	if (conf == NULL)
		return;
	check(conf->require_local_password == 1 &&
	    conf->max_login_failures == 3 &&
	    conf->login_failure_window == 60 && conf->login_cooloff == 3,
	    "hardening: [emailproxy] require_local_password and throttling");
	check(strstr(captured, "[open@example.org]: no local_password: every "
	    "login to this account is refused") != NULL &&
	    strstr(captured, "[user@example.com]: no local_password") ==
	    NULL, "hardening: an account without a hash is warned about "
	    "under require_local_password");
	s = server_find(conf, "IMAP-1993");
	check(s != NULL && s->allow_clients != NULL &&
	    s->allow_clients->n == 3 &&
	    streq(s->allow_clients->text, "127.0.0.1, ::1 10.0.0.0/8") &&
	    cidr_list_match_str(s->allow_clients, "10.9.8.7") &&
	    cidr_list_match_str(s->allow_clients, "::ffff:127.0.0.1") &&
	    !cidr_list_match_str(s->allow_clients, "127.0.0.2"),
	    "hardening: server allow_clients parsed (commas and spaces)");
	check(s != NULL && s->proxy_protocol == 1 &&
	    s->proxy_protocol_trusted != NULL &&
	    cidr_list_match_str(s->proxy_protocol_trusted, "192.0.2.1"),
	    "hardening: proxy_protocol with proxy_protocol_trusted");
	s = server_find(conf, "POP-1995");
	check(s != NULL && s->allow_clients == NULL && !s->proxy_protocol &&
	    s->proxy_protocol_trusted == NULL,
	    "hardening: a server without the keys allows everyone");

	check(account_resolve(conf, "user@example.com", &v) == 0 &&
	    streq(v.local_password, HASH_Y) && v.allow_clients != NULL &&
	    cidr_list_match_str(v.allow_clients, "127.0.0.2") &&
	    cidr_list_match_str(v.allow_clients, "192.0.2.77") &&
	    !cidr_list_match_str(v.allow_clients, "10.1.2.3"),
	    "hardening: [X]'s local_password and allow_clients win over "
	    "the catch-all's");
	check(account_resolve(conf, "sha@example.com", &v) == 0 &&
	    streq(v.local_password, HASH_6) && v.allow_clients != NULL &&
	    cidr_list_match_str(v.allow_clients, "10.1.2.3"),
	    "hardening: allow_clients falls back to [@domain]");
	check(account_resolve(conf, "anyone@example.com", &v) == 0 &&
	    v.section == NULL && streq(v.local_password, HASH_2B),
	    "hardening: a catch-all login gets [@domain]'s local_password");
	check(account_resolve(conf, "open@example.org", &v) == 0 &&
	    v.local_password == NULL && v.allow_clients == NULL,
	    "hardening: no hash, no list: both NULL");

	capture_start(1);
	config_print(conf, 1);
	capture_end();
	check(strstr(captured, "user@example.com: client_credentials, local "
	    "password set, allow_clients 127.0.0.2, ::ffff:192.0.2.0/120\n")
	    != NULL,
	    "hardening: config_print shows \"local password set\" and the "
	    "account list");
	check(strstr(captured, "IMAP-1993: allow_clients 127.0.0.1, ::1 "
	    "10.0.0.0/8\n") != NULL && strstr(captured, "IMAP-1993: PROXY "
	    "protocol from 192.0.2.1\n") != NULL && strstr(captured,
	    "logins: local password required, throttled after 3 failures "
	    "in 60 s for 3 s\n") != NULL,
	    "hardening: config_print shows the server lists and the rules");
	check(strstr(captured, "$y$") == NULL && strstr(captured, "$2b$") ==
	    NULL && strstr(captured, "$6$") == NULL,
	    "hardening: config_print never shows a hash");

	conf2 = load(p, NULL);
	s = server_find(conf, "IMAP-1993");
	s2 = conf2 != NULL ? server_find(conf2, "IMAP-1993") : NULL;
	check(s != NULL && s2 != NULL && server_equal(s, s2),
	    "server_equal: same lists, same server");
	if (s != NULL && s2 != NULL) {
		s2->allow_clients->v[0].addr[3] ^= 1;
		check(!server_equal(s, s2),
		    "server_equal: allow_clients differs");
		s2->allow_clients->v[0].addr[3] ^= 1;
		s2->proxy_protocol = 0;
		check(!server_equal(s, s2),
		    "server_equal: proxy_protocol differs");
		s2->proxy_protocol = 1;
		cidr_list_free(s2->proxy_protocol_trusted);
		s2->proxy_protocol_trusted = NULL;
		check(!server_equal(s, s2),
		    "server_equal: proxy_protocol_trusted differs");
	}
	config_free(conf2);
	config_free(conf);

	/* Every error at once, each naming file:line: key. */
	p = tmpfile_with("hardening-bad.conf",
	    "[IMAP-1993]\n"
	    "server_address = a\n"
	    "server_port = 993\n"
	    "allow_clients = 127.0.0.1, bogus\n"
	    "proxy_protocol = yes\n"
	    "[IMAP-1994]\n"
	    "server_address = a\n"
	    "server_port = 993\n"
	    "allow_clients = 10.0.0.0/33\n"
	    "proxy_protocol_trusted =\n"
	    "[emailproxy]\n"
	    "require_local_password = maybe\n"
	    "max_login_failures = -1\n"
	    "login_failure_window = 0\n"
	    "login_cooloff = forever\n"
	    "[a@example.com]\n"
	    "local_password = " HASH_MD5 "\n"
	    "allow_clients = 300.1.1.1\n"
	    "[b@example.com]\n"
	    "local_password = plain text password\n"
	    "[c@example.com]\n"
	    "local_password = $6$saltonly\n"
	    "[d@example.com]\n"
	    "local_password = $y$j9T$fLiglGhe0DJMQi8.JapRC0$\n");
	conf = load(p, NULL);
	check(conf == NULL, "hardening: a file with bad values is refused");
	check(strstr(captured, "hardening-bad.conf:4: allow_clients: not an "
	    "address or address/prefix in \"127.0.0.1, bogus\"") != NULL,
	    "hardening: server allow_clients error names file:line:key and "
	    "the reason");
	check(strstr(captured, "hardening-bad.conf:5: proxy_protocol: needs "
	    "proxy_protocol_trusted") != NULL,
	    "hardening: proxy_protocol without proxy_protocol_trusted");
	check(strstr(captured, "hardening-bad.conf:9: allow_clients: not an "
	    "address") != NULL, "hardening: a prefix too long is refused");
	check(strstr(captured, "hardening-bad.conf:10: "
	    "proxy_protocol_trusted: empty address list") != NULL,
	    "hardening: an empty proxy_protocol_trusted is refused");
	check(strstr(captured, "hardening-bad.conf:12: "
	    "require_local_password: invalid boolean") != NULL &&
	    strstr(captured, "hardening-bad.conf:13: max_login_failures:")
	    != NULL && strstr(captured, "hardening-bad.conf:14: "
	    "login_failure_window: value \"0\" is too small") != NULL &&
	    strstr(captured, "hardening-bad.conf:15: login_cooloff:") != NULL,
	    "hardening: bad global values refused with file:line:key");
	check(strstr(captured, "hardening-bad.conf:17: local_password: not a "
	    "complete crypt(3) hash") != NULL,
	    "hardening: an MD5 hash is refused (crypt_checksalt legacy)");
	check(strstr(captured, "hardening-bad.conf:18: allow_clients:") !=
	    NULL, "hardening: account allow_clients checked");
	check(strstr(captured, "hardening-bad.conf:20: local_password:") !=
	    NULL && strstr(captured, "hardening-bad.conf:22: "
	    "local_password:") != NULL && strstr(captured,
	    "hardening-bad.conf:24: local_password:") != NULL,
	    "hardening: plain text, a bare setting and a hash without its "
	    "hash part are refused");
	check(strstr(captured, "mueNU") == NULL &&
	    strstr(captured, "plain text password") == NULL &&
	    strstr(captured, "saltonly") == NULL &&
	    strstr(captured, "fLiglGhe") == NULL,
	    "hardening: a refused local_password is never printed");
	config_free(conf);

	snprintf(buf, sizeof(buf), "[IMAP-1993]\nserver_address = a\n"
	    "server_port = 993\nproxy_protocol = off\n"
	    "proxy_protocol_trusted = 127.0.0.1\n"
	    "[emailproxy]\nmax_login_failures = 0\n");
	p = tmpfile_with("hardening-warn.conf", buf);
	conf = load(p, NULL);
	check(conf != NULL && conf->max_login_failures == 0 &&
	    strstr(captured, "hardening-warn.conf:5: proxy_protocol_trusted: "
	    "ignored without proxy_protocol") != NULL,
	    "hardening: max_login_failures = 0 (no throttling); trusted "
	    "peers without proxy_protocol only warned about");
	config_free(conf);
}

/* What -n must point out although the file is valid. */
static void
test_checks(void)
{
	struct emailproxy_conf	*conf;
	struct server_conf	*s;
	const char		*p;

	p = tmpfile_with("checks.conf",
	    "[IMAP-1993]\n"
	    "server_address = imap.example.com\n"
	    "server_port = 993\n"
	    "server_starttls = True\n"
	    "local_address = [::1]\n"
	    "[POP-1995]\n"
	    "server_address = pop.example.com\n"
	    "server_port = 995\n"
	    "starttls = True\n"
	    "[SMTP-1465]\n"
	    "server_address = smtp.example.com\n"
	    "server_port = 465\n"
	    "[SMTP-1587]\n"
	    "server_address = smtp.example.com\n"
	    "server_port = 587\n"
	    "server_starttls = True\n"
	    "[emailproxy]\n"
	    "allow_catch_all_accounts = True\n"
	    "[@example.com]\n"
	    "token_url = https://auth.example.com/token\n"
	    "oauth2_flow = client_credentials\n"
	    "oauth2_scope = mail\n"
	    "[user@example.com]\n"
	    "client_id = cid\n"
	    "[@example.org]\n"
	    "token_url = https://auth.example.org/token\n"
	    "oauth2_flow = client_credentials\n"
	    "oauth2_scope = mail\n"
	    "client_id = cid\n");
	conf = load(p, NULL);
	check(conf != NULL, "checks: warnings only, the file loads");
	if (conf == NULL)
		return;
	s = server_find(conf, "IMAP-1993");
	check(s != NULL && streq(s->local_address, "::1"),
	    "checks: local_address = [::1] is taken as ::1");
	check(strstr(captured, "checks.conf:4: server_starttls: server_port "
	    "993 is an implicit TLS port") != NULL,
	    "checks: server_starttls on port 993 is pointed out with "
	    "file:line: key");
	check(strstr(captured, "checks.conf:9: starttls: server_port 995 is "
	    "an implicit TLS port") != NULL,
	    "checks: the legacy starttls key on port 995 too");
	check(strstr(captured, ":16: server_starttls") == NULL &&
	    strstr(captured, "server_port 465") == NULL,
	    "checks: no warning for STARTTLS on 587, nor for 465 without it");
	check(strstr(captured, "checks.conf:19: [@example.com]: client_id: "
	    "not set here nor in [@]") != NULL &&
	    strstr(captured, "[@example.org]: client_id") == NULL,
	    "checks: a catch-all that can never obtain a client_id is "
	    "pointed out (and only that one)");
	config_free(conf);

	conf = load(p, "aws:arn:aws:secretsmanager:eu-west-1:1:secret:s");
	check(conf == NULL && strstr(captured, "--cache-store aws:arn:aws:"
	    "secretsmanager:eu-west-1:1:secret:s: AWS Secrets Manager is not "
	    "supported; export the secret") != NULL,
	    "checks: --cache-store aws:... is refused with what to do");
	config_free(conf);
	conf = load(p, "vault:secret/x");
	check(conf == NULL && strstr(captured, "--cache-store vault:secret/x: "
	    "not a file") != NULL,
	    "checks: another kind:... cache store is refused too");
	config_free(conf);
}

int
main(void)
{
	const char	*t = getenv("REGRESS_TMP");

	snprintf(tmpdir, sizeof(tmpdir), "%s/config_test.%d",
	    t != NULL ? t : "/tmp", (int)getpid());
	if (mkdir(tmpdir, 0700) == -1) {
		perror(tmpdir);
		return (1);
	}
	log_init(1, LOG_DAEMON);

	test_bool();
	test_sample();
	test_golden();
	test_syntax();
	test_catchall();
	test_cache();
	test_files();
	test_hardening();
	test_checks();

	return (failures != 0);
}
