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
 * From the INI sections to the typed model, with every check of the
 * sections, keys and values.  Each problem
 * is logged as "file:line: key: reason" (or "file:line: [section]:
 * reason" when a key is missing) and checking goes on, so that one run
 * shows them all.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <crypt.h>
#include <ctype.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "cidr.h"
#include "config.h"
#include "config_parse.h"
#include "account_complete.h"
#include "config_keys.h"
#include "metrics.h"
#include "redis_url.h"

struct check {
	const char	*path;
	int		 errors;
	int		 gaps_warn;	/* missing keys are only warnings */
};

static void	 cerr(struct check *, int, const char *, ...)
		    __attribute__((__format__ (printf, 3, 4)));
static void	 cwarn(struct check *, int, const char *, ...)
		    __attribute__((__format__ (printf, 3, 4)));
static void	 cgap(struct check *, int, const char *, ...)
		    __attribute__((__format__ (printf, 3, 4)));
static char	*xstrdup(const char *);
static void	 set_str(char **, const struct ini_kv *);
static void	 set_file(struct conf_file *, const struct ini_kv *);
static int	 get_bool(struct check *, const struct ini_kv *, int *);
static int	 get_uint(struct check *, const struct ini_kv *, long long,
		    long long, unsigned int *);
static int	 get_abspath(struct check *, const struct ini_kv *, char **);
static int	 nonempty(struct check *, const struct ini_kv *);
static int	 get_url(struct check *, const struct ini_kv *, int,
		    char **);
static int	 get_address(struct check *, const struct ini_kv *, char **);
static int	 get_list(struct check *, const struct ini_kv *,
		    struct cidr_list **);
static int	 get_hash(struct check *, const struct ini_kv *, char **);
static void	 key_unknown(struct check *, const struct ini_kv *);
static void	 key_required(struct check *, enum conf_kind,
		    const struct ini_section *);
static int	 key_set(struct check *, const struct conf_key *,
		    const struct ini_kv *, void *);
static void	 check_token_store(struct emailproxy_conf *,
		    struct check *, const struct ini_section *);
static void	 check_metrics_listen(struct emailproxy_conf *,
		    struct check *, const struct ini_section *);
static void	 build_globals(struct emailproxy_conf *, struct check *,
		    const struct ini_section *);
static int	 server_name(const char *, enum proto *, const char **);
static int	 server_typo(const char *, char *, size_t);
static void	 build_server(struct emailproxy_conf *, struct check *,
		    const struct ini_section *);
static void	 build_account(struct emailproxy_conf *, struct check *,
		    const struct ini_section *);
static void	 check_account(struct emailproxy_conf *, struct check *,
		    struct account_conf *, int);

static void
cerr(struct check *c, int line, const char *fmt, ...)
{
	char	 buf[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_warnx("%s:%d: %s", c->path, line, buf);
	c->errors++;
}

static void
cwarn(struct check *c, int line, const char *fmt, ...)
{
	char	 buf[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_warnx("%s:%d: %s", c->path, line, buf);
}

/* A required key is missing: an error, or a warning (see check_account). */
static void
cgap(struct check *c, int line, const char *fmt, ...)
{
	char	 buf[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_warnx("%s:%d: %s", c->path, line, buf);
	if (!c->gaps_warn)
		c->errors++;
}

static char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("%s", __func__);
	return (p);
}

/* An empty value is no value, as the Python proxy's tests treat it. */
static void
set_str(char **dst, const struct ini_kv *kv)
{
	if (*dst != NULL)
		freezero(*dst, strlen(*dst));
	*dst = kv->value[0] != '\0' ? xstrdup(kv->value) : NULL;
}

static void
set_file(struct conf_file *f, const struct ini_kv *kv)
{
	free(f->path);
	f->path = kv->value[0] != '\0' ? xstrdup(kv->value) : NULL;
	f->line = kv->line;
}

static int
get_bool(struct check *c, const struct ini_kv *kv, int *out)
{
	int	 b;

	if ((b = parse_bool(kv->value)) == -1) {
		cerr(c, kv->line, "%s: invalid boolean \"%s\" (use true/false, "
		    "yes/no, on/off or 1/0)", kv->key, kv->value);
		return (-1);
	}
	*out = b;
	return (0);
}

static int
get_uint(struct check *c, const struct ini_kv *kv, long long min,
    long long max, unsigned int *out)
{
	const char	*errstr;
	long long	 n;

	n = strtonum(kv->value, min, max, &errstr);
	if (errstr != NULL) {
		cerr(c, kv->line, "%s: value \"%s\" is %s (%lld to %lld)",
		    kv->key, kv->value, errstr, min, max);
		return (-1);
	}
	*out = n;
	return (0);
}

static int
nonempty(struct check *c, const struct ini_kv *kv)
{
	if (kv->value[0] == '\0') {
		cerr(c, kv->line, "%s: empty value", kv->key);
		return (0);
	}
	return (1);
}

static int
get_abspath(struct check *c, const struct ini_kv *kv, char **dst)
{
	if (kv->value[0] != '/') {
		cerr(c, kv->line, "%s: \"%s\" is not an absolute path",
		    kv->key, kv->value);
		return (-1);
	}
	free(*dst);
	*dst = xstrdup(kv->value);
	return (0);
}

/* An address list (common/cidr.h); the reason names what is wrong. */
static int
get_list(struct check *c, const struct ini_kv *kv, struct cidr_list **dst)
{
	struct cidr_list	*l;
	const char		*err;

	if ((l = cidr_list_parse(kv->value, &err)) == NULL) {
		cerr(c, kv->line, "%s: %s in \"%s\"", kv->key, err,
		    kv->value);
		return (-1);
	}
	cidr_list_free(*dst);
	*dst = l;
	return (0);
}

/*
 * A crypt(3) hash as mkpasswd(1) or emailproxyctl hash-password write
 * it.  The value is never logged: a hash can be attacked offline.
 * crypt_checksalt() refuses unknown methods and those libxcrypt counts
 * as legacy (DES, MD5, and SHA-256 on some systems).  A bare setting
 * ("$6$salt") has no hash after its last '$' and could never match.
 */
static int
get_hash(struct check *c, const struct ini_kv *kv, char **dst)
{
	const char	*last, *p;
	int		 dollars = 0;

	for (p = kv->value; *p != '\0'; p++)
		dollars += *p == '$';
	last = strrchr(kv->value, '$');
	if (kv->value[0] != '$' || dollars < 3 ||
	    crypt_checksalt(kv->value) != CRYPT_SALT_OK ||
	    last[1] == '\0' || strspn(last + 1, "./0123456789"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") !=
	    strlen(last + 1)) {
		cerr(c, kv->line, "%s: not a complete crypt(3) hash of a "
		    "current method (yescrypt $y$ or $gy$, bcrypt $2b$, "
		    "SHA-512 $6$; make one with emailproxyctl "
		    "hash-password)", kv->key);
		return (-1);
	}
	if (*dst != NULL)
		freezero(*dst, strlen(*dst));
	*dst = xstrdup(kv->value);
	return (0);
}

/*
 * local_password_file: "user:hash" lines, "#" comments and blank lines.
 * A hash goes to the section of that name, in any case (an account
 * or a catch-all); a section's own local_password is used instead, with a
 * warning.  A user with no section is a warning, a repeated user or a
 * line that is not a hash an error.  Relative paths are taken from the
 * main file's directory.
 */
static void
passwd_file(struct emailproxy_conf *conf, struct check *c,
    const struct ini *ini)
{
	struct account_conf	*a;
	struct ini_kv		 kv;
	FILE			*fp;
	char			 path[PATH_MAX], *line = NULL, *p, *colon;
	const char		*slash, *saved = c->path;
	size_t			 linesize = 0, n, i, j;
	ssize_t			 len;
	int			 lineno = 0, r, keyline = 0;

	if (conf->local_password_file == NULL ||
	    conf->local_password_file[0] == '\0')
		return;
	for (i = 0; i < ini->nsec; i++)
		if (strcmp(ini->sec[i].name, "emailproxy") == 0)
			for (j = 0; j < ini->sec[i].nkv; j++)
				if (strcmp(ini->sec[i].kv[j].key,
				    "local_password_file") == 0)
					keyline = ini->sec[i].kv[j].line;
	slash = strrchr(ini->path, '/');
	if (conf->local_password_file[0] == '/' || slash == NULL)
		r = snprintf(path, sizeof(path), "%s",
		    conf->local_password_file);
	else
		r = snprintf(path, sizeof(path), "%.*s/%s",
		    (int)(slash - ini->path), ini->path,
		    conf->local_password_file);
	if (r < 0 || (size_t)r >= sizeof(path) ||
	    (fp = fopen(path, "r")) == NULL) {
		log_warn("%s:%d: local_password_file: %s", ini->path,
		    keyline, conf->local_password_file);
		c->errors++;
		return;
	}
	c->path = path;
	while ((len = getline(&line, &linesize, fp)) != -1) {
		lineno++;
		if (memchr(line, '\0', len) != NULL) {
			cerr(c, lineno, "NUL byte in line");
			continue;
		}
		n = len;
		while (n > 0 && isspace((unsigned char)line[n - 1]))
			line[--n] = '\0';
		for (p = line; isspace((unsigned char)*p); p++)
			;
		if (*p == '\0' || *p == '#')
			continue;
		if ((colon = strchr(p, ':')) == NULL || colon == p) {
			cerr(c, lineno, "not a \"user:hash\" line");
			continue;
		}
		*colon = '\0';
		if ((a = account_find(conf, p)) == NULL) {
			cwarn(c, lineno, "%s: no account section of this "
			    "name, ignored", p);
			continue;
		}
		if (a->local_password_line != 0) {
			cerr(c, lineno, "%s: duplicate user (first at line "
			    "%d)", p, a->local_password_line);
			continue;
		}
		a->local_password_line = lineno;
		if (a->local_password != NULL) {
			cwarn(c, lineno, "%s: [%s] at %s:%d has its own "
			    "local_password, which is used", p, a->name,
			    a->file, a->line);
			continue;
		}
		kv.key = p;
		kv.value = colon + 1;
		kv.line = lineno;
		(void)get_hash(c, &kv, &a->local_password);
	}
	if (ferror(fp)) {
		log_warn("%s", path);
		c->errors++;
	}
	freezero(line, linesize);
	fclose(fp);
	c->path = saved;
}

/* A group of the control socket: it must exist now. */
static int
get_group(struct check *c, const struct ini_kv *kv, char **dst)
{
	if (getgrnam(kv->value) == NULL) {
		cerr(c, kv->line, "%s: unknown group %s", kv->key, kv->value);
		return (-1);
	}
	free(*dst);
	*dst = xstrdup(kv->value);
	return (0);
}

/*
 * A URL the OAuth code will request or hand out: without a scheme
 * ("login.example.com/token") it could never work.  Endpoints must be
 * http(s); a redirect_uri may be any URI (RFC 3986 scheme ":").
 */
static int
get_url(struct check *c, const struct ini_kv *kv, int http_only, char **dst)
{
	const char	*v = kv->value;
	size_t		 n;

	set_str(dst, kv);
	if (*v == '\0')
		return (0);
	if (http_only) {
		if (strncasecmp(v, "https://", 8) == 0 ||
		    strncasecmp(v, "http://", 7) == 0)
			return (0);
		cerr(c, kv->line, "%s: \"%s\" is not an http:// or https:// "
		    "URL", kv->key, v);
		return (-1);
	}
	n = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789+-.");
	/* "localhost:8080" is a host and port, not a scheme. */
	if (n > 0 && ((v[0] >= 'a' && v[0] <= 'z') ||
	    (v[0] >= 'A' && v[0] <= 'Z')) && v[n] == ':' &&
	    !(v[n + 1] >= '0' && v[n + 1] <= '9'))
		return (0);
	cerr(c, kv->line, "%s: \"%s\" has no scheme (write it in full, "
	    "e.g. http://localhost:8080)", kv->key, v);
	return (-1);
}

/*
 * A listening address.  "[::1]", as URLs and the Python proxy's users
 * write IPv6 addresses, is taken as "::1".
 */
static int
get_address(struct check *c, const struct ini_kv *kv, char **dst)
{
	const char	*v = kv->value;
	size_t		 n = strlen(v);

	free(*dst);
	if (v[0] == '[' || v[n - 1] == ']') {
		if (n < 3 || v[0] != '[' || v[n - 1] != ']' ||
		    memchr(v + 1, ':', n - 2) == NULL ||
		    memchr(v + 1, '[', n - 2) != NULL ||
		    memchr(v + 1, ']', n - 2) != NULL) {
			cerr(c, kv->line, "%s: \"%s\": brackets go only around "
			    "a whole IPv6 address, e.g. [::1]", kv->key, v);
			*dst = NULL;
			return (-1);
		}
		if ((*dst = strndup(v + 1, n - 2)) == NULL)
			fatal("%s", __func__);
		return (0);
	}
	*dst = xstrdup(v);
	return (0);
}

/*
 * Check kv by the type of its row k and store it in base (the structure
 * of k's kind).  -1 when the value is wrong (and logged).
 */
static int
key_set(struct check *c, const struct conf_key *k, const struct ini_kv *kv,
    void *base)
{
	void		*p;
	unsigned int	 u;
	enum oauth2_flow f;

	if (k->type == KT_UNSUPPORTED) {
		cwarn(c, kv->line, "%s: %s are not supported, ignored",
		    kv->key, kv->key);
		return (0);
	}
	if (k->off < 0)
		return (0);
	if ((k->flags & KF_NONEMPTY) && !nonempty(c, kv))
		return (-1);
	p = conf_key_field(k, base);
	switch (k->type) {
	case KT_BOOL:
		return (get_bool(c, kv, p));
	case KT_UINT:
		return (get_uint(c, kv, k->min, k->max, p));
	case KT_PORT:
		if (get_uint(c, kv, k->min, k->max, &u) == -1)
			return (-1);
		*(uint16_t *)p = u;
		return (0);
	case KT_STRING:
		set_str(p, kv);
		return (0);
	case KT_PATH:
		return (get_abspath(c, kv, p));
	case KT_FILE:
		set_file(p, kv);
		return (0);
	case KT_URL:
	case KT_URI:
		return (get_url(c, kv, k->type == KT_URL, p));
	case KT_ADDRESS:
		return (get_address(c, kv, p));
	case KT_LIST:
		return (get_list(c, kv, p));
	case KT_HASH:
		return (get_hash(c, kv, p));
	case KT_GROUP:
		return (get_group(c, kv, p));
	case KT_FLOW:
		set_str(p, kv);
		if (*(char **)p != NULL &&
		    account_flow_parse(*(char **)p, &f) == -1) {
			cerr(c, kv->line, "%s: unknown flow \"%s\" "
			    "(authorization_code, device, client_credentials, "
			    "password or service_account)", kv->key,
			    kv->value);
			return (-1);
		}
		return (0);
	case KT_LEGACY:
	case KT_IGNORED:
	case KT_UNSUPPORTED:
		break;
	}
	return (0);
}

/* A key the table does not know in this kind of section. */
static void
key_unknown(struct check *c, const struct ini_kv *kv)
{
	cwarn(c, kv->line, "%s: unknown key, ignored", kv->key);
}

/* Every KF_REQUIRED key of kind the section lacks. */
static void
key_required(struct check *c, enum conf_kind kind,
    const struct ini_section *sec)
{
	const struct conf_key	*k;
	size_t			 i;

	for (k = conf_keys; k->name != NULL; k++) {
		if (k->kind != kind || !(k->flags & KF_REQUIRED))
			continue;
		for (i = 0; i < sec->nkv; i++)
			if (strcmp(sec->kv[i].key, k->name) == 0)
				break;
		if (i == sec->nkv)
			cerr(c, sec->line, "[%s]: %s is required", sec->name,
			    k->name);
	}
}

int
listen_loopback(const char *host)
{
	struct in_addr	 in4;
	struct in6_addr	 in6;

	if (strcasecmp(host, "localhost") == 0)
		return (1);
	if (inet_pton(AF_INET, host, &in4) == 1)
		return ((ntohl(in4.s_addr) >> 24) == 127);
	if (inet_pton(AF_INET6, host, &in6) == 1)
		return (IN6_IS_ADDR_LOOPBACK(&in6));
	return (0);
}

static const struct ini_kv *
kv_find(const struct ini_section *s, const char *key)
{
	size_t	 i;

	for (i = s->nkv; i > 0; i--)
		if (strcmp(s->kv[i - 1].key, key) == 0)
			return (&s->kv[i - 1]);
	return (NULL);
}

/*
 * The authorisation page's keys together: a listener needs the URL,
 * a certificate needs its key, and plain HTTP only on loopback.
 */
static void
check_page(struct emailproxy_conf *conf, struct check *c,
    const struct ini_section *s)
{
	const struct ini_kv	*kv;
	char			 host[256], port[8];
	int			 tls;

	tls = conf->authorisation_page_certificate.path != NULL;
	if (tls != (conf->authorisation_page_key.path != NULL)) {
		kv = kv_find(s, tls ? "authorisation_page_certificate" :
		    "authorisation_page_key");
		cerr(c, kv != NULL ? kv->line : s->line, "%s: needs %s too",
		    tls ? "authorisation_page_certificate" :
		    "authorisation_page_key", tls ? "authorisation_page_key" :
		    "authorisation_page_certificate");
	}
	if ((kv = kv_find(s, "authorisation_page_listen")) == NULL ||
	    conf->authorisation_page_listen == NULL)
		return;
	if (metrics_listen_split(conf->authorisation_page_listen, host,
	    sizeof(host), port, sizeof(port)) == -1) {
		cerr(c, kv->line, "%s: \"%s\" is not address:port (an IPv6 "
		    "address in brackets, e.g. [::1]:8443)", kv->key,
		    kv->value);
		return;
	}
	if (conf->authorisation_page_url == NULL)
		cerr(c, kv->line, "%s: needs authorisation_page_url, the "
		    "page's public URL", kv->key);
	if (!tls && !listen_loopback(host))
		cerr(c, kv->line, "%s: %s is not a loopback address: the "
		    "page takes passwords, so it needs "
		    "authorisation_page_certificate and authorisation_page_key "
		    "(HTTPS) anywhere else", kv->key, host);
}

static void
build_globals(struct emailproxy_conf *conf, struct check *c,
    const struct ini_section *s)
{
	const struct conf_key	*k;
	size_t			 i;

	for (i = 0; i < s->nkv; i++) {
		if ((k = conf_key_find(s->kv[i].key, KS_GLOBAL)) != NULL)
			key_set(c, k, &s->kv[i], conf);
		else
			key_unknown(c, &s->kv[i]);
	}
	check_token_store(conf, c, s);
	check_metrics_listen(conf, c, s);
	check_page(conf, c, s);
}

/* metrics.h; the parent binds what this accepts. */
int
metrics_listen_split(const char *v, char *host, size_t hostsize, char *port,
    size_t portsize)
{
	const char	*colon, *h, *p;
	size_t		 hlen;
	long		 n;
	char		*end;

	if (v[0] == '[') {
		if ((colon = strchr(v, ']')) == NULL || colon[1] != ':')
			return (-1);
		h = v + 1;
		hlen = colon - h;
		p = colon + 2;
		if (hlen == 0 || memchr(h, ':', hlen) == NULL)
			return (-1);
	} else {
		if ((colon = strrchr(v, ':')) == NULL ||
		    memchr(v, ':', colon - v) != NULL)
			return (-1);	/* an IPv6 address needs brackets */
		h = v;
		hlen = colon - v;
		p = colon + 1;
	}
	if (hlen == 0 || hlen >= hostsize || memchr(h, ' ', hlen) != NULL ||
	    memchr(h, '[', hlen) != NULL || memchr(h, ']', hlen) != NULL)
		return (-1);
	if (*p < '0' || *p > '9')
		return (-1);
	n = strtol(p, &end, 10);
	if (*end != '\0' || n < 1 || n > 65535 || strlen(p) >= portsize ||
	    strlen(p) > 5)
		return (-1);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	snprintf(port, portsize, "%ld", n);
	return (0);
}

/* metrics_listen = host:port ([v6]:port), as the parent will bind it. */
static void
check_metrics_listen(struct emailproxy_conf *conf, struct check *c,
    const struct ini_section *s)
{
	char	 host[256], port[8];
	int	 line = s->line;
	size_t	 i;

	if (conf->metrics_listen == NULL)
		return;
	for (i = 0; i < s->nkv; i++)
		if (strcmp(s->kv[i].key, "metrics_listen") == 0)
			line = s->kv[i].line;
	if (metrics_listen_split(conf->metrics_listen, host, sizeof(host),
	    port, sizeof(port)) == -1)
		cerr(c, line, "metrics_listen: \"%s\" is not address:port "
		    "(e.g. 127.0.0.1:9101, [::1]:9101)", conf->metrics_listen);
}

/* token_store = file | redis, and what redis needs. */
static void
check_token_store(struct emailproxy_conf *conf, struct check *c,
    const struct ini_section *s)
{
	struct redis_url	 u;
	const char		*why;
	int			 store_line = s->line, url_line = s->line;
	size_t			 i;

	for (i = 0; i < s->nkv; i++) {
		if (strcmp(s->kv[i].key, "token_store") == 0)
			store_line = s->kv[i].line;
		else if (strcmp(s->kv[i].key, "redis_url") == 0)
			url_line = s->kv[i].line;
	}
	if (conf->token_store == NULL || strcmp(conf->token_store,
	    "file") == 0)
		return;
	if (strcmp(conf->token_store, "redis") != 0) {
		cerr(c, store_line, "token_store: \"%s\" is neither file nor "
		    "redis", conf->token_store);
		return;
	}
	if (conf->redis_url == NULL)
		cerr(c, store_line, "token_store: redis needs redis_url");
	else if (redis_url_parse(conf->redis_url, &u, &why) == -1)
		cerr(c, url_line, "redis_url: %s", why);
}

/* ^(IMAP|POP|SMTP)-(\d+)$, case-sensitive; *port points at the digits. */
static int
server_name(const char *name, enum proto *proto, const char **port)
{
	static const struct {
		const char	*prefix;
		enum proto	 proto;
	} types[] = {
		{ "IMAP-", PROTO_IMAP },
		{ "POP-", PROTO_POP },
		{ "SMTP-", PROTO_SMTP }
	};
	const char	*p;
	size_t		 i, n;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		n = strlen(types[i].prefix);
		if (strncmp(name, types[i].prefix, n) != 0)
			continue;
		p = name + n;
		if (*p == '\0' || strspn(p, "0123456789") != strlen(p))
			return (0);
		*proto = types[i].proto;
		*port = p;
		return (1);
	}
	return (0);
}

/*
 * A section meant as a server but misspelt: "[imap-993]", "[SMTP 587]",
 * "[POP3_995]", "[IMAP993]".  Fills fix with the right name when the
 * rest is a port, else leaves it empty.
 */
static int
server_typo(const char *name, char *fix, size_t fixlen)
{
	static const char *const types[] = { "IMAP", "POP3", "POP", "SMTP" };
	const char	*p;
	size_t		 i, n;

	fix[0] = '\0';
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		n = strlen(types[i]);
		if (strncasecmp(name, types[i], n) == 0)
			break;
	}
	if (i == sizeof(types) / sizeof(types[0]))
		return (0);
	p = name + n;
	p += strspn(p, " \t-_:");
	if (*p != '\0' && strspn(p, "0123456789") == strlen(p)) {
		snprintf(fix, fixlen, "%.4s-%.8s", i == 1 ? "POP" : types[i],
		    p);
		return (1);
	}
	/* Anything else that starts like one ("[imap-x]"). */
	return (name[n] == '-');
}

static void
build_server(struct emailproxy_conf *conf, struct check *c,
    const struct ini_section *sec)
{
	struct server_conf	*s, *o;
	const struct ini_kv	*kv, *local_starttls = NULL;
	const struct ini_kv	*require_tls = NULL, *proxy = NULL;
	const struct ini_kv	*trusted = NULL, *starttls = NULL;
	const struct ini_kv	*legacy_kv = NULL;
	const struct conf_key	*k;
	const char		*port, *errstr;
	int			 have_server_starttls = 0, legacy = 0;
	int			 have_legacy = 0;
	size_t			 i;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("%s", __func__);
	s->name = xstrdup(sec->name);
	s->file = xstrdup(sec->path);
	s->line = sec->line;
	server_name(sec->name, &s->proto, &port);
	s->local_port = strtonum(port, 1, 65535, &errstr);
	if (errstr != NULL)
		cerr(c, sec->line, "[%s]: invalid local port %s (1 to 65535)",
		    sec->name, port);
	conf_key_defaults(CONF_SERVER, s, conf);

	for (i = 0; i < sec->nkv; i++) {
		kv = &sec->kv[i];
		if ((k = conf_key_find(kv->key, KS_SERVER)) == NULL) {
			key_unknown(c, kv);
			continue;
		}
		if (k->type == KT_LEGACY) {
			/* starttls, the Python proxy's server_starttls */
			legacy_kv = kv;
			if (get_bool(c, kv, &legacy) == 0)
				have_legacy = 1;
			continue;
		}
		key_set(c, k, kv, s);
		/* Where the checks below point. */
		if (strcmp(k->name, "server_starttls") == 0) {
			have_server_starttls = 1;
			starttls = kv;
		} else if (strcmp(k->name, "local_starttls") == 0)
			local_starttls = kv;
		else if (strcmp(k->name, "require_tls_login") == 0)
			require_tls = kv;
		else if (strcmp(k->name, "proxy_protocol") == 0)
			proxy = kv;
		else if (strcmp(k->name, "proxy_protocol_trusted") == 0)
			trusted = kv;
	}
	/* The legacy key counts only when the new one is absent. */
	if (!have_server_starttls && have_legacy) {
		s->server_starttls = legacy;
		starttls = legacy_kv;
	}
	/* These ports speak TLS from the first byte: no STARTTLS there. */
	if (s->server_starttls && (s->server_port == 993 ||
	    s->server_port == 995 || s->server_port == 465))
		cwarn(c, starttls->line, "%s: server_port %u is an implicit "
		    "TLS port, where the server starts TLS at once and offers "
		    "no STARTTLS; in [%s] remove %s (or use the server's "
		    "STARTTLS port, %s)", starttls->key, s->server_port,
		    sec->name, starttls->key, s->server_port == 993 ? "143" :
		    s->server_port == 995 ? "110" : "587");
	key_required(c, CONF_SERVER, sec);
	if (s->local_starttls && (s->local_certificate.path == NULL ||
	    s->local_key.path == NULL))
		cerr(c, local_starttls->line, "local_starttls: requires both "
		    "local_certificate_path and local_key_path in [%s]",
		    sec->name);
	else if ((s->local_certificate.path == NULL) !=
	    (s->local_key.path == NULL))
		cerr(c, sec->line, "[%s]: local_certificate_path and "
		    "local_key_path must be given together", sec->name);
	/* A client that can never get TLS could never log in. */
	if (s->require_tls_login && s->local_certificate.path == NULL)
		cerr(c, require_tls->line, "require_tls_login: needs "
		    "local_certificate_path and local_key_path (implicit "
		    "TLS or local_starttls) in [%s]", sec->name);
	/* Anyone could claim any address: trust must be explicit. */
	if (s->proxy_protocol && s->proxy_protocol_trusted == NULL &&
	    trusted == NULL)
		cerr(c, proxy->line, "proxy_protocol: needs "
		    "proxy_protocol_trusted (the load balancers' addresses) "
		    "in [%s]", sec->name);
	else if (!s->proxy_protocol && trusted != NULL)
		cwarn(c, trusted->line, "proxy_protocol_trusted: ignored "
		    "without proxy_protocol = true in [%s]", sec->name);
	TAILQ_FOREACH(o, &conf->servers, entry) {
		if (o->local_port == s->local_port && s->local_port != 0) {
			cerr(c, sec->line, "[%s]: local port %u is already "
			    "used by [%s] at line %d", sec->name,
			    s->local_port, o->name, o->line);
			break;
		}
	}
	TAILQ_INSERT_TAIL(&conf->servers, s, entry);
}

static void
build_account(struct emailproxy_conf *conf, struct check *c,
    const struct ini_section *sec)
{
	struct account_conf	*a, *o;
	const struct ini_kv	*kv;
	const struct conf_key	*k;
	size_t			 i;

	/* Two spellings of one address would be two rules for one mailbox. */
	if ((o = account_find(conf, sec->name)) != NULL) {
		cerr(c, sec->line, "[%s]: same account as [%s] at %s:%d "
		    "(addresses are case-insensitive)", sec->name, o->name,
		    o->file, o->line);
		return;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		fatal("%s", __func__);
	a->name = xstrdup(sec->name);
	a->file = xstrdup(sec->path);
	a->line = sec->line;
	conf_key_defaults(CONF_ACCOUNT, a, conf);

	for (i = 0; i < sec->nkv; i++) {
		kv = &sec->kv[i];
		if ((k = conf_key_find(kv->key, account_is_catchall(a) ?
		    KS_CATCHALL : KS_ACCOUNT)) == NULL) {
			key_unknown(c, kv);
			continue;
		}
		key_set(c, k, kv, a);
		/* The key file's path when client_id is "file". */
		if (strcmp(k->name, "client_secret") == 0)
			a->service_account_key.line = kv->line;
		else if (strcmp(k->name, "token_owner") == 0)
			a->token_owner_line = kv->line;
	}
	TAILQ_INSERT_TAIL(&conf->accounts, a, entry);
}

struct check_gap {
	struct check		*c;
	struct account_conf	*a;
};

static void
check_gap(void *arg, const char *text)
{
	struct check_gap	*g = arg;

	cgap(g->c, g->a->line, "[%s]: %s", g->a->name, text);
}

/*
 * A shared mailbox: its logins use the tokens of token_owner, an account
 * section that holds tokens of its own (not a catch-all, not itself a
 * shared mailbox).  OAuth keys of its own would never be used.
 */
static void
check_shared(struct emailproxy_conf *conf, struct check *c,
    struct account_conf *a)
{
	struct account_conf	*o;

	o = account_find(conf, a->token_owner);
	if (o == NULL || account_is_catchall(o))
		cerr(c, a->token_owner_line, "token_owner: %s is not an "
		    "account section", a->token_owner);
	else if (o == a)
		cerr(c, a->token_owner_line, "token_owner: [%s] cannot take "
		    "its tokens from itself", a->name);
	else if (o->token_owner != NULL)
		cerr(c, a->token_owner_line, "token_owner: [%s] has a "
		    "token_owner itself (%s, at %s:%d); name the account "
		    "that holds the tokens", o->name, o->token_owner,
		    o->file, o->token_owner_line);
	if (a->permission_url != NULL || a->token_url != NULL ||
	    a->oauth2_scope != NULL || a->oauth2_resource != NULL ||
	    a->oauth2_flow_str != NULL || a->redirect_uri != NULL ||
	    a->redirect_listen_address != NULL || a->client_id != NULL ||
	    a->client_secret != NULL || a->client_secret_encrypted != NULL ||
	    a->use_pkce != -1 || a->jwt_certificate.path != NULL ||
	    a->jwt_key.path != NULL || a->access_token != NULL ||
	    a->refresh_token != NULL)
		cwarn(c, a->line, "[%s]: OAuth keys ignored: a shared "
		    "mailbox uses the tokens of its token_owner %s", a->name,
		    a->token_owner);
}

/*
 * Check an account merged with its catch-all chain by the rule tokend
 * and authd apply at login (common/account_complete.c).  Catch-all
 * sections may be partial (their values only fill gaps), so only [X]
 * must be complete.  An account still holding the sample text cannot
 * work anyway; its gaps are reported as warnings so the sample file
 * loads.  So are those of an account a cache store adds (a cache never
 * stops the start).
 */
static void
check_account(struct emailproxy_conf *conf, struct check *c,
    struct account_conf *a, int lenient)
{
	const struct account_conf *chain[3];
	struct account_view	 v;
	struct account_conf	*owner = NULL;
	struct check_gap	 gap;
	enum oauth2_flow	 f;
	int			 n, i, sample;

	n = account_section_chain(conf, a, chain);
	account_merge(chain, n, &v);
	a->flow = v.flow;
	sample = account_placeholder(&v);

	/* client_id = file: client_secret is the key file's path. */
	if (v.flow == FLOW_SERVICE_ACCOUNT && v.client_id != NULL &&
	    strcmp(v.client_id, "file") == 0 && v.client_secret != NULL &&
	    !sample) {
		for (i = 0; i < n; i++)
			if (chain[i]->client_secret == v.client_secret)
				owner = (struct account_conf *)chain[i];
		if (owner != NULL && owner->service_account_key.path == NULL)
			owner->service_account_key.path =
			    xstrdup(owner->client_secret);
	}

	if (account_is_catchall(a)) {
		if (!conf->allow_catch_all_accounts)
			cwarn(c, a->line, "[%s]: catch-all section unused: "
			    "allow_catch_all_accounts is off", a->name);
		else if (v.client_id == NULL)
			cwarn(c, a->line, "[%s]: client_id: not set%s: a "
			    "login this section catches (one with no section "
			    "of its own) can never obtain a client_id and "
			    "fails", a->name, strcmp(a->name, "@") != 0 ?
			    " here nor in [@]" : "");
		return;
	}
	if (a->token_owner != NULL) {
		check_shared(conf, c, a);
		return;
	}
	/* A placeholder is a gap too; with one, every gap only warns. */
	c->gaps_warn = sample || lenient;
	gap.c = c;
	gap.a = a;
	(void)account_gaps(&v, ACCOUNT_NEED_GRANT, check_gap, &gap);
	if (v.permission_url != NULL) {
		for (i = 0; i < n; i++)
			if (chain[i]->oauth2_flow_str != NULL)
				break;
		if (i < n && strcmp(chain[i]->oauth2_flow_str,
		    "authorization_code") != 0 &&
		    strcmp(chain[i]->oauth2_flow_str, "device") != 0 &&
		    account_flow_parse(chain[i]->oauth2_flow_str, &f) == 0)
			cwarn(c, a->line, "[%s]: oauth2_flow %s ignored: "
			    "with a permission_url the authorization_code "
			    "flow is used", a->name,
			    chain[i]->oauth2_flow_str);
	}
	if (conf->require_local_password && v.local_password == NULL &&
	    !sample)
		cwarn(c, a->line, "[%s]: no local_password: every login to "
		    "this account is refused (require_local_password)",
		    a->name);
}

int
config_build(struct emailproxy_conf *conf, const struct ini *ini)
{
	struct check		 c;
	struct account_conf	*a;
	const struct ini_section *s;
	enum proto		 proto;
	const char		*port;
	const char		*env;
	char			 fix[32];
	size_t			 i;

	memset(&c, 0, sizeof(c));
	c.path = ini->path;
	/* Globals first: servers take their defaults from them. */
	for (i = 0; i < ini->nsec; i++)
		if (strcmp(ini->sec[i].name, "emailproxy") == 0)
			build_globals(conf, &c, &ini->sec[i]);
	for (i = 0; i < ini->nsec; i++) {
		s = &ini->sec[i];
		c.path = s->path;
		if (server_name(s->name, &proto, &port))
			build_server(conf, &c, s);
		else if (strchr(s->name, '@') != NULL)
			build_account(conf, &c, s);
		else if (server_typo(s->name, fix, sizeof(fix)))
			cwarn(&c, s->line, "[%s]: not a server section, "
			    "ignored (IMAP-, POP- or SMTP- and a port, in "
			    "capitals%s%s%s)", s->name,
			    fix[0] != '\0' ? ": [" : "", fix,
			    fix[0] != '\0' ? "]" : "");
		/* Other sections are documentation, as in Python. */
	}
	c.path = ini->path;
	passwd_file(conf, &c, ini);
	if (TAILQ_EMPTY(&conf->servers) && c.errors == 0) {
		log_warnx("%s: no server section ([IMAP-port], [POP-port] "
		    "or [SMTP-port])", ini->path);
		c.errors++;
	}
	TAILQ_FOREACH(a, &conf->accounts, entry) {
		c.path = a->file;
		check_account(conf, &c, a, 0);
	}
	c.path = ini->path;
	/* Without ca_file, OpenSSL's variables, as for any OpenSSL program. */
	if (conf->ca_file.path == NULL) {
		if ((env = getenv("SSL_CERT_FILE")) != NULL && *env != '\0') {
			conf->ca_file.path = xstrdup(env);
			conf->ca_env = 1;
		} else if (access(EMAILPROXY_CA_FILE, R_OK) == 0)
			conf->ca_file.path = xstrdup(EMAILPROXY_CA_FILE);
		if ((env = getenv("SSL_CERT_DIR")) != NULL && *env != '\0')
			conf->ca_dir = xstrdup(env);
	}
	return (c.errors ? -1 : 0);
}

/*
 * A Python --cache-store file: account sections with cached keys only,
 * copied over the configuration's.  An account the
 * configuration does not know is created when a catch-all covers it,
 * else skipped with a warning.
 */
int
config_merge_cache(struct emailproxy_conf *conf, const struct ini *ini)
{
	struct check		 c;
	struct account_view	 v;
	struct account_conf	*a;
	const struct ini_section *s;
	const struct ini_kv	*kv;
	const struct conf_key	*k;
	size_t			 i, j;
	int			 created;

	memset(&c, 0, sizeof(c));
	c.path = ini->path;
	for (i = 0; i < ini->nsec; i++) {
		s = &ini->sec[i];
		created = 0;
		if (strchr(s->name, '@') == NULL) {
			cwarn(&c, s->line, "[%s]: not an account section, "
			    "ignored", s->name);
			continue;
		}
		a = account_find(conf, s->name);
		if (a == NULL && s->name[0] != '@' &&
		    account_resolve(conf, s->name, &v) == 0) {
			if ((a = calloc(1, sizeof(*a))) == NULL)
				fatal("%s", __func__);
			a->name = xstrdup(s->name);
			a->file = xstrdup(ini->path);
			a->line = s->line;
			conf_key_defaults(CONF_ACCOUNT, a, conf);
			TAILQ_INSERT_TAIL(&conf->accounts, a, entry);
			created = 1;
		}
		if (a == NULL) {
			cwarn(&c, s->line, "[%s]: account not in %s, ignored",
			    s->name, conf->path);
			continue;
		}
		for (j = 0; j < s->nkv; j++) {
			kv = &s->kv[j];
			if ((k = conf_key_find(kv->key, KS_CACHE)) != NULL)
				key_set(&c, k, kv, a);
			else
				cwarn(&c, kv->line, "%s: not a cached key, "
				    "ignored", kv->key);
		}
		if (created)
			check_account(conf, &c, a, 1);
	}
	return (c.errors ? -1 : 0);
}
