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
 * authd's grants against the scripted OAuth server (regress/lib/
 * oauthserver.py, over HTTPS with a certificate made here), driven
 * through the messages tokend and the parent use (socketpairs + imsg)
 * inside one libevent loop: the exact fields each grant sends, PKCE,
 * state, JWT assertions, pending authorisations, every failure class,
 * https_proxy, and that a slow account does not hold up another.  authd
 * logs at -vv into a file that must hold none of the secrets used.
 *
 * DEPS: authd/form.c common/urlform.c authd/jwt.c authd/http.c authd/http_result.c authd/flight.c authd/grant.c authd/grant_code.c authd/grant_device.c authd/grant_direct.c authd/pending.c authd/redirect.c authd/dispatch.c authd/ctl.c common/ctl_answer.c common/proc.c common/platform_linux.c common/dispatch.c common/config.c common/config_parse.c common/config_check.c common/config_keys.c common/account_complete.c common/config_files.c common/config_imsg.c common/cidr.c common/msg.c common/imsg.c common/imsg_buffer.c common/log.c common/secret.c common/base64.c common/redis_url.c
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event.h>
#include <event2/dns.h>
#include <jansson.h>

#include "emailproxy.h"
#include "config.h"
#include "log.h"
#include "imsg.h"
#include "msg.h"
#include "proc.h"
#include "authd.h"

#define CLIENT_ID	"emailproxy-test-client"
#define CLIENT_SECRET	"csecret-7d1f0a9b3c"
#define ROPC_PASSWORD	"ropc-pw-5e8c2b71"
#define INTRO_USER	"introspector"
#define INTRO_PASS	"intro-pw-3a9f"
#define UA		"emailproxy/" EMAILPROXY_VERSION

/* A message authd sent to tokend or to the parent. */
struct rec {
	TAILQ_ENTRY(rec) entry;
	uint32_t	 type;
	uint32_t	 id;
	uint32_t	 u32;
	uint64_t	 u64;
	char		*s[3];
	double		 when;
};
TAILQ_HEAD(recq, rec);

struct peer {
	struct imsgbuf	 ibuf;
	struct event	 ev;
	struct recq	 q;
	const char	*name;
};

static int		 failures;
static char		 tmp[512];
static char		 logpath[600];
static pid_t		 server_pid = -1;
static pid_t		 proxy_pid = -1;
static int		 server_port;
static char		 base_url[128];
static char		 cafile[600];
static struct peer	 tokend, parent, control;
static int		 listen_port;
static uint32_t		 next_id = 1;
static char		*secrets[256];
static int		 nsecrets;

static void	 check(int, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));

static void
check(int ok, const char *fmt, ...)
{
	va_list	 ap;

	printf(ok ? "PASS: " : "FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

static void
secret(const char *s)
{
	if (s != NULL && *s != '\0' && nsecrets < 256)
		secrets[nsecrets++] = strdup(s);
}

static char *
readfile(const char *path)
{
	FILE	*f;
	char	*buf;
	long	 n;

	if ((f = fopen(path, "r")) == NULL)
		return (NULL);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	if ((buf = calloc(1, n + 1)) == NULL ||
	    fread(buf, 1, n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return (NULL);
	}
	fclose(f);
	return (buf);
}

static void
stop_server(void)
{
	if (proxy_pid > 0) {
		kill(proxy_pid, SIGTERM);
		waitpid(proxy_pid, NULL, 0);
		proxy_pid = -1;
	}
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
		server_pid = -1;
	}
}

static int
run(const char *cmd)
{
	int	 r = system(cmd);

	return (WIFEXITED(r) && WEXITSTATUS(r) == 0 ? 0 : -1);
}

/* ---- the scripted OAuth server ------------------------------------ */

/* oauthserver.py over HTTPS (tls) or plain HTTP; its port, or exit. */
static pid_t
start_oauth(const char *name, int tls, int *portp)
{
	char	 ready[600], cert[600], key[600], errlog[600], *port;
	char	 script[600];
	const char *top = getenv("REGRESS_TOP");
	pid_t	 pid;
	int	 i, fd;

	snprintf(script, sizeof(script), "%s/regress/lib/oauthserver.py",
	    top != NULL ? top : ".");
	snprintf(ready, sizeof(ready), "%s/%s.ready", tmp, name);
	snprintf(cert, sizeof(cert), "%s/server.crt", tmp);
	snprintf(key, sizeof(key), "%s/server.key", tmp);
	snprintf(errlog, sizeof(errlog), "%s/%s.log", tmp, name);
	unlink(ready);
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		if ((fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600)) !=
		    -1) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (tls)
			execl("/usr/bin/python3", "python3", script, "--port",
			    "0", "--cert", cert, "--key", key, "--ready-file",
			    ready, "--client-id", CLIENT_ID, "--client-secret",
			    CLIENT_SECRET, "--introspect-user", INTRO_USER,
			    "--introspect-password", INTRO_PASS, (char *)NULL);
		else
			execl("/usr/bin/python3", "python3", script, "--port",
			    "0", "--ready-file", ready, (char *)NULL);
		_exit(127);
	}
	*portp = 0;
	for (i = 0; i < 200; i++) {
		if ((port = readfile(ready)) != NULL) {
			*portp = atoi(port);
			free(port);
			break;
		}
		usleep(50000);
	}
	if (*portp <= 0) {
		printf("FAIL: oauthserver.py (%s) did not start\n", name);
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		stop_server();
		exit(1);
	}
	return (pid);
}

static void
start_server(void)
{
	server_pid = start_oauth("oauth", 1, &server_port);
	snprintf(base_url, sizeof(base_url), "https://127.0.0.1:%d",
	    server_port);
}

struct body {
	char	*p;
	size_t	 n;
};

static size_t
body_write(char *d, size_t sz, size_t nm, void *arg)
{
	struct body	*b = arg;
	char		*p;

	if ((p = realloc(b->p, b->n + sz * nm + 1)) == NULL)
		return (0);
	b->p = p;
	memcpy(b->p + b->n, d, sz * nm);
	b->n += sz * nm;
	b->p[b->n] = '\0';
	return (sz * nm);
}

/* A blocking GET or POST (the test's browser and admin client). */
static char *
fetch(const char *url, const char *post, const char *userpwd, long *status)
{
	CURL		*c;
	struct body	 b = { NULL, 0 };
	long		 st = 0;

	if ((c = curl_easy_init()) == NULL)
		return (NULL);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (post != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
	if (userpwd != NULL)
		curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
	curl_easy_cleanup(c);
	if (status != NULL)
		*status = st;
	if (b.p == NULL)
		b.p = strdup("");
	return (b.p);
}

static json_t *
admin(const char *fmt, ...)
{
	va_list		 ap;
	char		*path, *url, *body;
	json_t		*j;
	json_error_t	 e;

	va_start(ap, fmt);
	if (vasprintf(&path, fmt, ap) == -1)
		err(1, NULL);
	va_end(ap);
	if (asprintf(&url, "%s%s", base_url, path) == -1)
		err(1, NULL);
	body = fetch(url, NULL, NULL, NULL);
	j = body != NULL ? json_loads(body, 0, &e) : NULL;
	free(body);
	free(url);
	free(path);
	return (j);
}

static void
server_set(const char *query)
{
	json_decref(admin("/admin/set?%s", query));
}

static void
server_reset(void)
{
	json_decref(admin("/admin/reset"));
}

/* The last request the server saw for path (e.g. "/token"). */
static json_t *
last_request(const char *path, int nth_from_end)
{
	json_t	*all, *r, *found = NULL;
	size_t	 i;

	if ((all = admin("/admin/requests")) == NULL)
		return (NULL);
	for (i = json_array_size(all); i-- > 0;) {
		r = json_array_get(all, i);
		if (strcmp(json_string_value(json_object_get(r, "path")),
		    path) == 0 && nth_from_end-- == 0) {
			found = json_incref(r);
			break;
		}
	}
	json_decref(all);
	return (found);
}

static int
count_requests(const char *path)
{
	json_t	*all;
	size_t	 i;
	int	 n = 0;

	if ((all = admin("/admin/requests")) == NULL)
		return (-1);
	for (i = 0; i < json_array_size(all); i++)
		if (strcmp(json_string_value(json_object_get(
		    json_array_get(all, i), "path")), path) == 0)
			n++;
	json_decref(all);
	return (n);
}

static const char *
field(json_t *req, const char *name)
{
	return (json_string_value(json_object_get(json_object_get(req, "form"),
	    name)));
}

static int
streq(const char *a, const char *b)
{
	return (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int
has_field(json_t *req, const char *name)
{
	return (json_object_get(json_object_get(req, "form"), name) != NULL);
}

/* ---- authd's peers -------------------------------------------------- */

static void
peer_read(int fd, short event, void *arg)
{
	struct peer	*p = arg;
	struct imsg	 imsg;
	struct msgr	 m;
	struct rec	*r;
	const char	*s;
	ssize_t		 n;
	int		 i, lfd;

	if (imsgbuf_read(&p->ibuf) <= 0) {
		event_del(&p->ev);
		return;
	}
	while ((n = imsg_get(&p->ibuf, &imsg)) > 0) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			err(1, NULL);
		r->type = imsg_get_type(&imsg);
		r->id = imsg_get_id(&imsg);
		r->when = now();
		msg_read_init(&m, &imsg);
		switch (r->type) {
		case IMSG_AUTH_TOKENS:
			s = msg_get_str(&m);
			r->s[0] = s ? strdup(s) : NULL;
			r->u64 = msg_get_u64(&m);
			s = msg_get_str(&m);
			r->s[1] = s ? strdup(s) : NULL;
			break;
		case IMSG_AUTH_FAIL:
			r->u32 = msg_get_u32(&m);
			s = msg_get_str(&m);
			r->s[0] = s ? strdup(s) : NULL;
			break;
		case IMSG_AUTH_PENDING:
			for (i = 0; i < 3; i++) {
				s = msg_get_str(&m);
				r->s[i] = s ? strdup(s) : NULL;
			}
			r->u64 = msg_get_u64(&m);
			break;
		case IMSG_AUTH_AUTHORISED:
			s = msg_get_str(&m);
			r->s[0] = s ? strdup(s) : NULL;
			r->u64 = msg_get_u64(&m);
			break;
		case IMSG_AUTH_CONSENT:
			for (i = 0; i < 3; i++) {
				s = msg_get_str(&m);
				r->s[i] = s ? strdup(s) : NULL;
			}
			r->u64 = msg_get_u64(&m);
			break;
		case IMSG_REDIRECT_RESULT:
			r->u32 = msg_get_u32(&m);
			for (i = 0; i < 2; i++) {
				s = msg_get_str(&m);
				r->s[i] = s ? strdup(s) : NULL;
			}
			break;
		case IMSG_EVENT:
			r->u32 = msg_get_u32(&m);
			for (i = 0; i < 2; i++) {
				s = msg_get_str(&m);
				r->s[i] = s ? strdup(s) : NULL;
			}
			break;
		case IMSG_CTL_DATA:
		case IMSG_CTL_FAIL:
			s = msg_get_str(&m);
			r->s[0] = s ? strdup(s) : NULL;
			break;
		}
		if (r->type != IMSG_CONF_DONE && r->type != IMSG_CTL_END &&
		    msg_read_end(&m) == -1)
			check(0, "message %u from authd is well formed",
			    r->type);
		if ((lfd = imsg_get_fd(&imsg)) != -1)
			close(lfd);
		imsg_free(&imsg);
		TAILQ_INSERT_TAIL(&p->q, r, entry);
	}
}

static void
peer_init(struct peer *p, int fd, const char *name)
{
	if (imsgbuf_init(&p->ibuf, fd) == -1)
		err(1, "imsgbuf_init");
	imsgbuf_set_maxsize(&p->ibuf, IMSG_MAXSIZE_PARENT);
	imsgbuf_allow_fdpass(&p->ibuf);
	TAILQ_INIT(&p->q);
	p->name = name;
	event_set(&p->ev, fd, EV_READ | EV_PERSIST, peer_read, p);
	event_add(&p->ev, NULL);
}

static void
rec_free(struct rec *r)
{
	free(r->s[0]);
	free(r->s[1]);
	free(r->s[2]);
	free(r);
}

static void
tick(int fd, short event, void *arg)
{
}

/* Run the loop for at most secs (one pass at least). */
static void
pump(double secs)
{
	static struct event	 t;
	static int		 init;
	struct timeval		 tv = { 0, 20000 };
	double			 end = now() + secs;

	if (!init) {
		event_set(&t, -1, EV_PERSIST, tick, NULL);
		evtimer_add(&t, &tv);
		init = 1;
	}
	do {
		event_loop(EVLOOP_ONCE);
	} while (now() < end);
}

static struct rec *
find(struct peer *p, uint32_t type, uint32_t id, int anyid)
{
	struct rec	*r;

	TAILQ_FOREACH(r, &p->q, entry)
		if ((type == 0 ? (r->type == IMSG_AUTH_TOKENS ||
		    r->type == IMSG_AUTH_FAIL) : r->type == type) &&
		    (anyid || r->id == id)) {
			TAILQ_REMOVE(&p->q, r, entry);
			return (r);
		}
	return (NULL);
}

/* Wait for a message; type 0 means tokend's answer to request id. */
static struct rec *
await(struct peer *p, uint32_t type, uint32_t id, int anyid, double secs)
{
	struct rec	*r;
	double		 end = now() + secs;

	while ((r = find(p, type, id, anyid)) == NULL && now() < end)
		pump(0);
	return (r);
}

static void
flush(struct imsgbuf *ibuf)
{
	if (imsgbuf_flush(ibuf) == -1)
		err(1, "imsgbuf_flush");
}

/*
 * Ask authd, as the parent relays emailproxyctl show pending: 1 if
 * account is listed (its url in *url when url is not NULL, to free),
 * 0 if not, -1 without a whole answer.  authd alone holds the pending
 * authorisations: nothing else is asked.
 */
static int
shown_pending(const char *account, char **url)
{
	static uint32_t	 ctl_id = 5000;
	struct rec	*r, *end;
	json_t		*j;
	uint32_t	 id = ctl_id++;
	int		 shown = 0;

	if (url != NULL)
		*url = NULL;
	imsg_compose(&control.ibuf, IMSG_CTL_SHOW_PENDING, id, 0, -1, NULL, 0);
	flush(&control.ibuf);
	if ((end = await(&control, IMSG_CTL_END, id, 0, 3)) == NULL)
		return (-1);
	rec_free(end);
	while ((r = find(&control, IMSG_CTL_DATA, id, 0)) != NULL) {
		j = r->s[0] != NULL ? json_loads(r->s[0], 0, NULL) : NULL;
		if (j != NULL && streq(json_string_value(json_object_get(j,
		    "account")), account)) {
			shown = 1;
			if (url != NULL && *url == NULL && json_string_value(
			    json_object_get(j, "url")) != NULL)
				*url = strdup(json_string_value(
				    json_object_get(j, "url")));
		}
		json_decref(j);
		rec_free(r);
	}
	return (shown);
}

/* Wait until show pending no longer lists account: 1 when it does not. */
static int
pending_gone(const char *account, double secs)
{
	double	 end = now() + secs;
	int	 shown;

	while ((shown = shown_pending(account, NULL)) != 0 && now() < end)
		pump(0.1);
	return (shown == 0);
}

static uint32_t
request(enum auth_op op, const char *account, const char *refresh,
    const char *password, const char *secret_)
{
	struct msgw	 w;
	uint32_t	 id = next_id++;

	msg_begin(&w, &tokend.ibuf, IMSG_AUTH_REQUEST, id, -1);
	msg_put_u32(&w, op);
	msg_put_str(&w, account);
	msg_put_str(&w, refresh);
	msg_put_str(&w, password);
	msg_put_str(&w, secret_);
	if (msg_end(&w, &tokend.ibuf) == -1)
		errx(1, "msg_end");
	flush(&tokend.ibuf);
	return (id);
}

static void
cancel(uint32_t id)
{
	imsg_compose(&tokend.ibuf, IMSG_AUTH_CANCEL, id, 0, -1, NULL, 0);
	flush(&tokend.ibuf);
}

static char *
query_value(const char *url, const char *name)
{
	const char	*q = strchr(url, '?');

	return (q != NULL ? urlform_get(q + 1, name) : NULL);
}

/* ---- the browser's redirect, as the proxy passes it on ----------- */

/*
 * A browser's GET of url reached the proxy, which sends its path, state,
 * code and error on (through tokend: here the test is tokend).  The
 * answer's status and text.
 */
static char *
browse(const char *url, int *status)
{
	struct msgw	 w;
	struct rec	*r;
	const char	*p;
	char		*path, *state, *code, *error, *desc, *text = NULL;
	uint32_t	 id = next_id++;

	*status = 0;
	if ((p = strstr(url, "://")) == NULL ||
	    (p = strchr(p + 3, '/')) == NULL)
		return (NULL);
	if ((path = strndup(p, strcspn(p, "?#"))) == NULL)
		err(1, NULL);
	state = query_value(url, "state");
	code = query_value(url, "code");
	error = query_value(url, "error");
	desc = query_value(url, "error_description");
	msg_begin(&w, &tokend.ibuf, IMSG_REDIRECT_RESPONSE, id, -1);
	msg_put_str(&w, path);
	msg_put_str(&w, state);
	msg_put_str(&w, code);
	msg_put_str(&w, error);
	msg_put_str(&w, desc);
	if (msg_end(&w, &tokend.ibuf) == -1)
		errx(1, "msg_end");
	flush(&tokend.ibuf);
	free(path);
	free(state);
	free(code);
	free(error);
	free(desc);
	if ((r = await(&tokend, IMSG_REDIRECT_RESULT, id, 0, 5)) == NULL)
		return (NULL);
	*status = r->u32;
	if (r->s[1] != NULL)
		text = strdup(r->s[1]);
	rec_free(r);
	return (text);
}

/* The browser visits the permission URL, the server approves. */
static char *
approve(const char *permission_url, const char *login_hint,
    const char *extra)
{
	json_t	*j;
	char	*redirect = NULL;

	free(fetch(permission_url, NULL, NULL, NULL));
	j = admin("/admin/approve?login_hint=%s%s", login_hint,
	    extra != NULL ? extra : "");
	if (j != NULL && json_string_value(json_object_get(j, "redirect")))
		redirect = strdup(json_string_value(json_object_get(j,
		    "redirect")));
	json_decref(j);
	return (redirect);
}


/* ---- configuration by hand ---------------------------------------- */

static struct account_conf *
account(const char *name, const char *flow)
{
	struct account_conf	*a;
	char			*u;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		err(1, NULL);
	a->name = strdup(name);
	a->use_pkce = -1;
	a->client_id = strdup(CLIENT_ID);
	a->client_secret = strdup(CLIENT_SECRET);
	a->oauth2_scope = strdup("https://mail.example.com/ offline_access");
	if (asprintf(&u, "%s/token", base_url) == -1)
		err(1, NULL);
	a->token_url = u;
	if (flow != NULL)
		a->oauth2_flow_str = strdup(flow);
	TAILQ_INSERT_TAIL(&authd_conf->accounts, a, entry);
	return (a);
}

static void
set_file(struct conf_file *f, const char *path)
{
	f->path = strdup(path);
	f->data = readfile(path);
	f->len = f->data ? strlen(f->data) : 0;
}

static int
is_b64url(const char *s, size_t len)
{
	size_t	 i;

	if (s == NULL || strlen(s) != len)
		return (0);
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '_')
			return (0);
	return (1);
}

static int
ua_ok(json_t *req)
{
	return (streq(json_string_value(json_object_get(json_object_get(req,
	    "headers"), "user-agent")), UA));
}

/* ---- the tests ---------------------------------------------------- */

static char	*code_refresh;

static void
test_code(void)
{
	struct rec	*pend, *t1, *t2, *r;
	json_t		*req, *in;
	char		*state, *challenge, *redirect, *page, *want, *url;
	char		*body;
	const char	*verifier;
	int		 status;
	uint32_t	 id1, id2;

	server_reset();
	id1 = request(AUTH_OP_OBTAIN, "code@example.com", NULL, NULL, NULL);
	pend = await(&parent, IMSG_AUTH_PENDING, 0, 1, 5);
	check(pend != NULL && streq(pend->s[0], "code@example.com") &&
	    pend->s[2] == NULL, "code grant: AUTH_PENDING to the parent "
	    "with the account and no user code");
	if (pend == NULL)
		return;
	check(pend->u64 >= (uint64_t)time(NULL) + 590 &&
	    pend->u64 <= (uint64_t)time(NULL) + 600,
	    "code grant: the pending authorisation expires after "
	    "auth_timeout (600 s)");
	/* A second login for the account joins the first. */
	id2 = request(AUTH_OP_OBTAIN, "code@example.com", NULL, NULL, NULL);
	pump(0.3);
	r = find(&parent, IMSG_AUTH_PENDING, 0, 1);
	check(r == NULL, "code grant: a second login for the account joins "
	    "the pending one (no second AUTH_PENDING)");
	if (r != NULL)
		rec_free(r);
	check(shown_pending("code@example.com", &want) == 1 && want != NULL &&
	    streq(want, pend->s[1]), "code grant: show pending, answered by "
	    "authd, lists the account with its permission URL");
	free(want);

	if (asprintf(&want, "%s/authorize?tenant=common&client_id=%s&"
	    "redirect_uri=http%%3A%%2F%%2F127.0.0.1%%3A%d%%2Fcallback&"
	    "scope=https%%3A%%2F%%2Fmail.example.com%%2F%%20offline_access&"
	    "response_type=code&access_type=offline&"
	    "login_hint=code%%40example.com&state=", base_url, CLIENT_ID,
	    listen_port) == -1)
		err(1, NULL);
	check(strncmp(pend->s[1], want, strlen(want)) == 0,
	    "code grant: permission URL has the PKCE parameters in order, "
	    "RFC 3986 escaped, joined to the existing query with '&'");
	free(want);
	state = query_value(pend->s[1], "state");
	challenge = query_value(pend->s[1], "code_challenge");
	url = query_value(pend->s[1], "code_challenge_method");
	check(is_b64url(state, 22), "code grant: state is 22 base64url "
	    "characters");
	check(is_b64url(challenge, 43) && streq(url, "S256"),
	    "code grant: PKCE S256 challenge present");
	free(url);

	redirect = approve(pend->s[1], "code%40example.com", NULL);
	check(redirect != NULL, "code grant: the server approved the "
	    "authorisation");
	if (redirect == NULL)
		return;
	secret(url = query_value(redirect, "code"));
	free(url);
	page = browse(redirect, &status);
	check(status == 200 && page != NULL &&
	    strstr(page, "received the authorisation for account "
	    "code@example.com") != NULL,
	    "code grant: the redirect listener answers a success page");
	free(page);
	free(redirect);

	t1 = await(&tokend, 0, id1, 0, 10);
	t2 = await(&tokend, 0, id2, 0, 10);
	check(t1 != NULL && t1->type == IMSG_AUTH_TOKENS && t1->s[0] != NULL &&
	    t1->s[1] != NULL, "code grant: AUTH_TOKENS with access and "
	    "refresh token");
	check(t2 != NULL && t2->type == IMSG_AUTH_TOKENS && t1 != NULL &&
	    streq(t1->s[0], t2->s[0]), "code grant: the joined login gets "
	    "the same tokens");
	if (t1 == NULL || t1->type != IMSG_AUTH_TOKENS)
		return;
	secret(t1->s[0]);
	secret(t1->s[1]);
	check(t1->u64 >= (uint64_t)time(NULL) + 3590 &&
	    t1->u64 <= (uint64_t)time(NULL) + 3600, "code grant: expiry is "
	    "now + expires_in");
	check(pending_gone("code@example.com", 2), "code grant: show pending "
	    "no longer lists it once authorised");
	r = await(&parent, IMSG_EVENT, 0, 1, 5);
	check(r != NULL && r->u32 == NOTIFY_AUTH_COMPLETED &&
	    streq(r->s[0], "code@example.com") && r->s[1] == NULL &&
	    find(&parent, IMSG_EVENT, 0, 1) == NULL,
	    "code grant: one EVENT auth-completed to the parent");
	if (r != NULL)
		rec_free(r);

	req = last_request("/token", 0);
	verifier = field(req, "code_verifier");
	secret(verifier);
	url = verifier != NULL ? pkce_challenge(verifier) : NULL;
	check(is_b64url(verifier, 86) && streq(url, challenge),
	    "code grant: code_verifier (86 chars) matches the S256 "
	    "challenge");
	free(url);
	if (asprintf(&url, "http://127.0.0.1:%d/callback", listen_port) == -1)
		err(1, NULL);
	check(streq(field(req, "grant_type"), "authorization_code") &&
	    streq(field(req, "client_id"), CLIENT_ID) &&
	    streq(field(req, "client_secret"), CLIENT_SECRET) &&
	    field(req, "code") != NULL && streq(field(req, "redirect_uri"),
	    url) && json_object_size(json_object_get(req, "form")) == 6,
	    "code grant: token request has exactly client_id, "
	    "client_secret, code, redirect_uri, grant_type, code_verifier");
	free(url);
	check(ua_ok(req), "code grant: User-Agent is " UA);
	json_decref(req);
	check(count_requests("/token") == 1, "code grant: one token request "
	    "for two logins");

	/* The token reached tokend intact: the server vouches for it. */
	if (asprintf(&body, "token=%s", t1->s[0]) == -1)
		err(1, NULL);
	if (asprintf(&url, "%s/introspect", base_url) == -1)
		err(1, NULL);
	page = fetch(url, body, INTRO_USER ":" INTRO_PASS, NULL);
	in = json_loads(page, 0, NULL);
	check(in != NULL && json_is_true(json_object_get(in, "active")) &&
	    streq(json_string_value(json_object_get(in, "username")),
	    "code@example.com"), "code grant: the access token is live for "
	    "code@example.com (introspection)");
	json_decref(in);
	free(page);
	free(url);
	free(body);
	code_refresh = strdup(t1->s[1]);
	free(state);
	free(challenge);
	rec_free(pend);
	rec_free(t1);
	rec_free(t2);
}

/*
 * A grant for the authorisation page (AUTH_OP_PAGE): the page's callback
 * is the redirect_uri, PKCE is on although use_pkce is unset, the
 * consent goes to tokend (AUTH_CONSENT) and nowhere else, and the
 * browser's redirect the proxy passes on completes it.
 */
static void
test_page(void)
{
	struct rec	*c, *r;
	char		*redirect, *page, *v;
	uint32_t	 id;
	int		 status;

	server_reset();
	id = request(AUTH_OP_PAGE, "code@example.com", NULL, NULL, NULL);
	r = await(&tokend, 0, id, 0, 2);
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_PERMANENT && r->s[0] != NULL &&
	    strstr(r->s[0], "no authorisation_page_url") != NULL,
	    "page: without authorisation_page_url the request is refused");
	if (r != NULL)
		rec_free(r);

	authd_conf->authorisation_page_url =
	    strdup("https://mail.example.com/authorise/");
	id = request(AUTH_OP_PAGE, "code@example.com", NULL, NULL, NULL);
	c = await(&tokend, IMSG_AUTH_CONSENT, id, 0, 5);
	check(c != NULL && c->s[0] != NULL && c->s[1] != NULL &&
	    c->s[2] == NULL && c->u64 > (uint64_t)time(NULL),
	    "page: the consent goes to tokend with its state");
	if (c == NULL)
		return;
	v = query_value(c->s[0], "redirect_uri");
	check(streq(v, "https://mail.example.com/authorise/callback"),
	    "page: redirect_uri is the page's callback");
	free(v);
	v = query_value(c->s[0], "state");
	check(streq(v, c->s[1]), "page: the state told is the URL's");
	free(v);
	v = query_value(c->s[0], "code_challenge_method");
	check(streq(v, "S256"), "page: PKCE although use_pkce is unset");
	free(v);
	pump(0.3);
	r = find(&parent, IMSG_AUTH_PENDING, 0, 1);
	check(r == NULL, "page: no AUTH_PENDING (no notify_command, the URL "
	    "holds the state)");
	if (r != NULL)
		rec_free(r);
	/* test_log checks that it is not logged. */
	secret(c->s[1]);

	redirect = approve(c->s[0], "code%40example.com", NULL);
	page = redirect ? browse(redirect, &status) : NULL;
	check(status == 200 && page != NULL && strstr(page, "received the "
	    "authorisation for account code@example.com") != NULL,
	    "page: the redirect through the proxy is taken");
	r = await(&tokend, 0, id, 0, 10);
	check(r != NULL && r->type == IMSG_AUTH_TOKENS, "page: the page's "
	    "request gets the tokens");
	if (r != NULL) {
		secret(r->s[0]);
		secret(r->s[1]);
		rec_free(r);
	}
	free(page);
	free(redirect);
	rec_free(c);

	/* The page gives up: its authorisation goes, nobody takes it. */
	id = request(AUTH_OP_PAGE, "code@example.com", NULL, NULL, NULL);
	c = await(&tokend, IMSG_AUTH_CONSENT, id, 0, 5);
	cancel(id);
	pump(0.2);
	redirect = c ? approve(c->s[0], "code%40example.com", NULL) : NULL;
	page = redirect ? browse(redirect, &status) : NULL;
	check(status == 400 && page != NULL && strstr(page, "does not match "
	    "a pending request") != NULL, "page: once the page cancels, its "
	    "redirect is refused");
	r = find(&tokend, IMSG_AUTH_AUTHORISED, 0, 1);
	check(r == NULL, "page: ... and no tokens are kept for a later login");
	if (r != NULL)
		rec_free(r);
	free(page);
	free(redirect);
	if (c != NULL)
		rec_free(c);
	free(authd_conf->authorisation_page_url);
	authd_conf->authorisation_page_url = NULL;
}

static void
test_refresh(void)
{
	struct rec	*r, *r2;
	json_t		*req;
	uint32_t	 id;

	if (code_refresh == NULL) {
		check(0, "refresh: needs the code grant's refresh token");
		return;
	}
	server_reset();
	server_set("rotate=1&expires_in=120&expires_in_string=1");
	id = request(AUTH_OP_REFRESH, "code@example.com", code_refresh, NULL,
	    NULL);
	r = await(&tokend, 0, id, 0, 10);
	check(r != NULL && r->type == IMSG_AUTH_TOKENS && r->s[1] != NULL &&
	    !streq(r->s[1], code_refresh), "refresh: rotated refresh token "
	    "returned");
	check(r != NULL && r->u64 >= (uint64_t)time(NULL) + 115 &&
	    r->u64 <= (uint64_t)time(NULL) + 120, "refresh: expires_in "
	    "given as a string is honoured");
	if (r != NULL) {
		secret(r->s[0]);
		secret(r->s[1]);
	}
	req = last_request("/token", 0);
	check(streq(field(req, "grant_type"), "refresh_token") &&
	    streq(field(req, "refresh_token"), code_refresh) &&
	    streq(field(req, "client_id"), CLIENT_ID) &&
	    streq(field(req, "client_secret"), CLIENT_SECRET) &&
	    json_object_size(json_object_get(req, "form")) == 4,
	    "refresh: exactly client_id, client_secret, refresh_token, "
	    "grant_type");
	json_decref(req);

	/* The old refresh token was rotated away: invalid_grant. */
	id = request(AUTH_OP_REFRESH, "code@example.com", code_refresh, NULL,
	    NULL);
	r2 = await(&tokend, 0, id, 0, 10);
	check(r2 != NULL && r2->type == IMSG_AUTH_FAIL &&
	    r2->u32 == AUTH_FAIL_INVALID_GRANT && r2->s[0] != NULL &&
	    strncmp(r2->s[0], "emailproxy: ", 12) == 0 &&
	    strstr(r2->s[0], "invalid_grant") != NULL,
	    "refresh: 400 invalid_grant -> AUTH_FAIL_INVALID_GRANT with the "
	    "provider's error");
	if (r2 != NULL)
		rec_free(r2);

	/* The server's switch, with a live token: still invalid_grant. */
	server_set("rotate=0&refresh_invalid_grant=1");
	id = request(AUTH_OP_REFRESH, "code@example.com",
	    r != NULL ? r->s[1] : "x", NULL, NULL);
	r2 = await(&tokend, 0, id, 0, 10);
	check(r2 != NULL && r2->type == IMSG_AUTH_FAIL &&
	    r2->u32 == AUTH_FAIL_INVALID_GRANT &&
	    strstr(r2->s[0], "Token has been expired or revoked") != NULL,
	    "refresh: refresh_invalid_grant -> AUTH_FAIL_INVALID_GRANT, "
	    "error_description kept");
	if (r2 != NULL)
		rec_free(r2);
	server_set("refresh_invalid_grant=0");
	if (r != NULL) {
		id = request(AUTH_OP_REFRESH, "code@example.com", r->s[1],
		    NULL, NULL);
		r2 = await(&tokend, 0, id, 0, 10);
		check(r2 != NULL && r2->type == IMSG_AUTH_TOKENS &&
		    r2->s[1] == NULL, "refresh: no refresh token in the "
		    "answer -> NULL (tokend keeps its own)");
		if (r2 != NULL) {
			secret(r2->s[0]);
			rec_free(r2);
		}
		rec_free(r);
	}
}

static void
test_device(void)
{
	struct rec	*pend, *r;
	json_t		*req, *all;
	double		 t0, t1;
	uint32_t	 id;
	size_t		 i;
	char		*q;

	server_reset();
	id = request(AUTH_OP_OBTAIN, "device@example.com", NULL, NULL, NULL);
	pend = await(&parent, IMSG_AUTH_PENDING, 0, 1, 5);
	check(pend != NULL && streq(pend->s[0], "device@example.com") &&
	    pend->s[2] != NULL && pend->s[1] != NULL &&
	    strstr(pend->s[1], "/device") != NULL,
	    "device grant: AUTH_PENDING with the verification URI and the "
	    "user code");
	req = last_request("/devicecode", 0);
	check(req != NULL && streq(json_string_value(json_object_get(req,
	    "method")), "POST") && streq(field(req, "client_id"), CLIENT_ID) &&
	    streq(field(req, "scope"),
	    "https://mail.example.com/ offline_access") && ua_ok(req),
	    "device grant: the device authorisation request is a form POST "
	    "(RFC 8628) with client_id and scope");
	json_decref(req);
	if (pend == NULL)
		return;

	/* Two slow_down answers, then approval: the interval grows by 5. */
	server_set("slow_down=1");
	pump(1.5);
	if (asprintf(&q, "/admin/approve_device?user_code=%s", pend->s[2]) ==
	    -1)
		err(1, NULL);
	json_decref(admin("%s", q));
	free(q);
	r = await(&tokend, 0, id, 0, 15);
	check(r != NULL && r->type == IMSG_AUTH_TOKENS && r->s[1] != NULL,
	    "device grant: tokens once the code is entered");
	if (r != NULL) {
		secret(r->s[0]);
		secret(r->s[1]);
		rec_free(r);
	}
	all = admin("/admin/requests");
	t0 = t1 = 0;
	for (i = 0; i < json_array_size(all); i++) {
		req = json_array_get(all, i);
		if (!streq(json_string_value(json_object_get(req, "path")),
		    "/token"))
			continue;
		if (t0 == 0)
			t0 = json_real_value(json_object_get(req, "time"));
		else if (t1 == 0)
			t1 = json_real_value(json_object_get(req, "time"));
		secret(field(req, "device_code"));
	}
	check(t1 - t0 >= 5.5, "device grant: slow_down adds 5 s to the "
	    "polling interval (%.1f s between polls)", t1 - t0);
	req = last_request("/token", 0);
	check(streq(field(req, "grant_type"),
	    "urn:ietf:params:oauth:grant-type:device_code") &&
	    field(req, "device_code") != NULL &&
	    streq(field(req, "client_id"), CLIENT_ID) &&
	    streq(field(req, "client_secret"), CLIENT_SECRET) &&
	    has_field(req, "scope") && !has_field(req, "redirect_uri"),
	    "device grant: poll sends client_id, client_secret, scope, "
	    "grant_type, device_code");
	json_decref(req);
	json_decref(all);
	check(pend->s[0] != NULL && pending_gone(pend->s[0], 2),
	    "device grant: show pending no longer lists it once authorised");
	rec_free(pend);

	/* Expired device code. */
	server_reset();
	server_set("device_expired=1");
	id = request(AUTH_OP_OBTAIN, "device@example.com", NULL, NULL, NULL);
	r = await(&tokend, 0, id, 0, 10);
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_EXPIRED && strstr(r->s[0], "expired") != NULL,
	    "device grant: expired_token -> AUTH_FAIL_EXPIRED");
	if (r != NULL)
		rec_free(r);
	while ((r = find(&parent, IMSG_AUTH_PENDING, 0, 1)) != NULL)
		rec_free(r);
}

static struct rec *
obtain(const char *account_, const char *password)
{
	return (await(&tokend, 0, request(AUTH_OP_OBTAIN, account_, NULL,
	    password, NULL), 0, 10));
}

static void
test_direct(void)
{
	struct rec	*r;
	json_t		*req, *j, *h, *c;
	const char	*s;
	char		*aud;

	server_reset();
	server_set("ccg_user=ccg@example.com");
	r = obtain("ccg@example.com", NULL);
	check(r != NULL && r->type == IMSG_AUTH_TOKENS && r->s[1] == NULL,
	    "client credentials: access token, no refresh token");
	req = last_request("/token", 0);
	check(streq(field(req, "grant_type"), "client_credentials") &&
	    streq(field(req, "client_id"), CLIENT_ID) &&
	    streq(field(req, "client_secret"), CLIENT_SECRET) &&
	    has_field(req, "scope") &&
	    json_object_size(json_object_get(req, "form")) == 4,
	    "client credentials: client_id, client_secret, grant_type, "
	    "scope");
	json_decref(req);
	if (r != NULL) {
		secret(r->s[0]);
		rec_free(r);
	}

	r = obtain("ccgpw@example.com", CLIENT_SECRET);
	req = last_request("/token", 0);
	check(r != NULL && r->type == IMSG_AUTH_TOKENS &&
	    streq(field(req, "client_secret"), CLIENT_SECRET),
	    "client credentials: use_login_password_as_client_credentials_"
	    "secret sends the login password as client_secret");
	json_decref(req);
	if (r != NULL) {
		secret(r->s[0]);
		rec_free(r);
	}

	server_set("ropc_password=" ROPC_PASSWORD);
	r = obtain("ropc@example.com", ROPC_PASSWORD);
	req = last_request("/token", 0);
	check(r != NULL && r->type == IMSG_AUTH_TOKENS && r->s[1] != NULL,
	    "password grant: tokens");
	check(streq(field(req, "grant_type"), "password") &&
	    streq(field(req, "username"), "ropc@example.com") &&
	    streq(field(req, "password"), ROPC_PASSWORD) &&
	    streq(field(req, "resource"), "https://resource.example.com") &&
	    !has_field(req, "scope"), "password grant: username, password, "
	    "resource and no scope when only a resource is set");
	json_decref(req);
	if (r != NULL) {
		secret(r->s[0]);
		secret(r->s[1]);
		rec_free(r);
	}
	r = obtain("ropc@example.com", "wrong-password-1234");
	secret("wrong-password-1234");
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_PERMANENT, "password grant: a wrong password "
	    "-> AUTH_FAIL_PERMANENT");
	if (r != NULL)
		rec_free(r);

	/* Google service account, key inline (client_id = key). */
	if (asprintf(&aud, "%s/token", base_url) == -1)
		err(1, NULL);
	r = obtain("sa@example.com", NULL);
	req = last_request("/token", 0);
	j = json_object_get(req, "jwt");
	h = json_object_get(j, "header");
	c = json_object_get(j, "claims");
	check(r != NULL && r->type == IMSG_AUTH_TOKENS && r->s[1] == NULL,
	    "service account: access token, no refresh token");
	check(streq(field(req, "grant_type"),
	    "urn:ietf:params:oauth:grant-type:jwt-bearer") &&
	    field(req, "assertion") != NULL &&
	    json_object_size(json_object_get(req, "form")) == 2,
	    "service account: form is grant_type=jwt-bearer + assertion");
	check(json_is_true(json_object_get(j, "signature_valid")),
	    "service account: RS256 signature verifies with the key's "
	    "public half");
	check(streq(json_string_value(json_object_get(h, "alg")), "RS256") &&
	    streq(json_string_value(json_object_get(h, "typ")), "JWT") &&
	    streq(json_string_value(json_object_get(h, "kid")), "kid-0123"),
	    "service account: header alg RS256, typ JWT, kid = "
	    "private_key_id");
	check(streq(json_string_value(json_object_get(c, "iss")),
	    "svc@project.iam.gserviceaccount.com") &&
	    streq(json_string_value(json_object_get(c, "sub")),
	    "sa@example.com") &&
	    streq(json_string_value(json_object_get(c, "aud")), aud) &&
	    streq(json_string_value(json_object_get(c, "scope")),
	    "https://mail.example.com/ offline_access") &&
	    json_integer_value(json_object_get(c, "exp")) -
	    json_integer_value(json_object_get(c, "iat")) == 3600 &&
	    llabs(json_integer_value(json_object_get(c, "iat")) -
	    (long long)time(NULL)) < 30,
	    "service account: claims iss, sub, aud = the key's token_uri, "
	    "scope, iat, exp = iat + 3600");
	free(aud);
	if ((s = field(req, "assertion")) != NULL)
		secret(s);
	json_decref(req);
	if (r != NULL) {
		secret(r->s[0]);
		rec_free(r);
	}
	r = obtain("safile@example.com", NULL);
	check(r != NULL && r->type == IMSG_AUTH_TOKENS,
	    "service account: key from a file (client_id = file)");
	if (r != NULL) {
		secret(r->s[0]);
		rec_free(r);
	}
	r = obtain("sabad@example.com", NULL);
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_PERMANENT &&
	    strstr(r->s[0], "client_id must be \"file\" or \"key\" for "
	    "the service_account flow") != NULL,
	    "service account: client_id neither file nor key -> permanent, "
	    "refused before any request");
	if (r != NULL)
		rec_free(r);

	/* Entra certificate credentials. */
	r = obtain("entra@example.com", NULL);
	req = last_request("/token", 0);
	j = json_object_get(req, "client_assertion");
	h = json_object_get(j, "header");
	c = json_object_get(j, "claims");
	check(r != NULL && r->type == IMSG_AUTH_TOKENS,
	    "certificate credentials: tokens");
	check(streq(field(req, "client_assertion_type"),
	    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") &&
	    !has_field(req, "client_secret"), "certificate credentials: "
	    "client_assertion_type jwt-bearer, no client_secret");
	check(json_is_true(json_object_get(j, "signature_valid")) &&
	    json_is_true(json_object_get(j, "x5t_valid")) &&
	    streq(json_string_value(json_object_get(h, "alg")), "RS256") &&
	    (s = json_string_value(json_object_get(h, "x5t#S256"))) != NULL &&
	    strlen(s) == 44 && s[43] == '=', "certificate credentials: RS256 "
	    "signature and x5t#S256 (padded, 44 chars) verify against the "
	    "certificate");
	s = json_string_value(json_object_get(c, "jti"));
	check(streq(json_string_value(json_object_get(c, "iss")), CLIENT_ID) &&
	    streq(json_string_value(json_object_get(c, "sub")), CLIENT_ID) &&
	    json_integer_value(json_object_get(c, "exp")) -
	    json_integer_value(json_object_get(c, "nbf")) == 300 &&
	    json_object_get(c, "iat") == NULL &&
	    s != NULL && strlen(s) == 36 && s[14] == '4' &&
	    strchr("89ab", s[19]) != NULL, "certificate credentials: claims "
	    "iss = sub = client_id, exp = nbf + 300, jti a UUIDv4, no iat");
	if (asprintf(&aud, "%s/token", base_url) == -1)
		err(1, NULL);
	check(streq(json_string_value(json_object_get(c, "aud")), aud),
	    "certificate credentials: aud is the token_url");
	free(aud);
	if ((s = field(req, "client_assertion")) != NULL)
		secret(s);
	json_decref(req);
	if (r != NULL) {
		secret(r->s[0]);
		rec_free(r);
	}
}

/*
 * Durations from a provider: only whole numbers of seconds in range are
 * used; anything else (1e300 would overflow a conversion) is the
 * server's error.
 */
static void
test_numbers(void)
{
	static const struct {
		const char	*json;	/* URL-escaped JSON text */
		long long	 secs;	/* -1: a provider error */
	} tok[] = {
		{ "1e300", -1 },
		{ "-1e300", -1 },
		{ "-5", -1 },
		{ "3599.5", -1 },
		{ "1e18", -1 },
		{ "99999999999", -1 },
		{ "%22abc%22", -1 },
		{ "%22-5%22", -1 },
		{ "%22%22", -1 },
		{ "true", -1 },
		{ "%7B%7D", -1 },
		{ "3600.0", 3600 },
		{ "%22120%22", 120 },
		{ "0", 0 },
		{ "null", 3600 },
	}, dev[] = {
		{ "device_expires_in_json=1e300", -1 },
		{ "device_expires_in_json=-600", -1 },
		{ "device_expires_in_json=0", -1 },
		{ "device_interval_json=1e300", -1 },
		{ "device_interval_json=-1", -1 },
		{ "device_interval_json=2.5", -1 },
		{ "device_interval_json=%22x%22", -1 },
	};
	struct rec	*r;
	char		*q;
	size_t		 i;
	uint64_t	 t;

	for (i = 0; i < sizeof(tok) / sizeof(tok[0]); i++) {
		server_reset();
		if (asprintf(&q, "ccg_user=ccg@example.com&expires_in_json=%s",
		    tok[i].json) == -1)
			err(1, NULL);
		server_set(q);
		free(q);
		t = time(NULL);
		r = obtain("ccg@example.com", NULL);
		if (tok[i].secs == -1)
			check(r != NULL && r->type == IMSG_AUTH_FAIL &&
			    r->u32 == AUTH_FAIL_TRANSIENT &&
			    strstr(r->s[0], "unusable answer (expires_in") !=
			    NULL, "expires_in %s: refused as the server's "
			    "error (transient)", tok[i].json);
		else
			check(r != NULL && r->type == IMSG_AUTH_TOKENS &&
			    r->u64 >= t + tok[i].secs &&
			    r->u64 <= (uint64_t)time(NULL) + tok[i].secs,
			    "expires_in %s: the token lives %lld s",
			    tok[i].json, tok[i].secs);
		if (r != NULL) {
			if (r->type == IMSG_AUTH_TOKENS)
				secret(r->s[0]);
			rec_free(r);
		}
	}
	for (i = 0; i < sizeof(dev) / sizeof(dev[0]); i++) {
		server_reset();
		server_set(dev[i].json);
		r = obtain("device@example.com", NULL);
		check(r != NULL && r->type == IMSG_AUTH_FAIL &&
		    r->u32 == AUTH_FAIL_TRANSIENT &&
		    strstr(r->s[0], "unusable device authorisation answer") !=
		    NULL, "device answer %s: refused as the server's error "
		    "(transient), no pending authorisation", dev[i].json);
		if (r != NULL)
			rec_free(r);
	}
	pump(0.2);
	r = find(&parent, IMSG_AUTH_PENDING, 0, 1);
	check(r == NULL, "device answers out of range start no pending "
	    "authorisation");
	if (r != NULL)
		rec_free(r);
	server_reset();
}

/* One completeness rule: what authd refuses before any request. */
static void
test_complete(void)
{
	struct rec	*r;
	int		 before;

	server_reset();
	before = count_requests("/token");
	r = obtain("sample@example.com", NULL);
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_PERMANENT && strstr(r->s[0], "Incomplete "
	    "config file entry found for account sample@example.com - "
	    "client_id still holds the sample text") != NULL,
	    "complete: a sample client_id is refused with a clear message");
	if (r != NULL)
		rec_free(r);
	r = obtain("samplesecret@example.com", NULL);
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_PERMANENT && strstr(r->s[0],
	    "client_secret still holds the sample text") != NULL,
	    "complete: a sample client_secret is refused with a clear "
	    "message");
	if (r != NULL)
		rec_free(r);
	r = obtain("noscope@example.com", NULL);
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_PERMANENT && strstr(r->s[0],
	    "oauth2_scope is required") != NULL, "complete: a resource "
	    "without a scope is enough only for the password grant");
	if (r != NULL)
		rec_free(r);
	check(count_requests("/token") == before, "complete: no request "
	    "reaches the provider for an incomplete account");

	/* A refresh needs no grant: no oauth2_flow is fine for it. */
	r = await(&tokend, 0, request(AUTH_OP_REFRESH, "noflow@example.com",
	    "rt-not-issued", NULL, NULL), 0, 10);
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_INVALID_GRANT && count_requests("/token") ==
	    before + 1, "complete: an account without oauth2_flow may "
	    "refresh");
	if (r != NULL)
		rec_free(r);
	r = obtain("noflow@example.com", NULL);
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_PERMANENT && strstr(r->s[0],
	    "oauth2_flow is required when there is no permission_url") !=
	    NULL, "complete: ... but not obtain new tokens");
	if (r != NULL)
		rec_free(r);
}

static struct rec *
fail_with(const char *settings, const char *account_)
{
	server_reset();
	if (settings != NULL)
		server_set(settings);
	return (obtain(account_, NULL));
}

static void
test_failures(void)
{
	struct rec	*r, *pend;
	char		*redirect, *page;
	double		 t0;
	int		 status;
	uint32_t	 id;

	r = fail_with(NULL, "down@example.com");
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_TRANSIENT &&
	    strstr(r->s[0], "internet connection") != NULL,
	    "failure: token endpoint down -> transient");
	if (r != NULL)
		rec_free(r);

	authd_conf->http_timeout = 2;
	t0 = now();
	r = fail_with("token_delay=5", "ccg@example.com");
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_TRANSIENT && now() - t0 < 4,
	    "failure: slow past http_timeout (2 s) -> transient after %.1f s",
	    now() - t0);
	if (r != NULL)
		rec_free(r);
	authd_conf->http_timeout = 60;

	r = fail_with("token_status=500", "ccg@example.com");
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_TRANSIENT && strstr(r->s[0], "HTTP 500"),
	    "failure: HTTP 500 -> transient");
	if (r != NULL)
		rec_free(r);

	r = fail_with("retry_after=30", "ccg@example.com");
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_TRANSIENT &&
	    strstr(r->s[0], "retry after 30 s") != NULL,
	    "failure: HTTP 429 with Retry-After -> transient, retry time "
	    "kept");
	if (r != NULL)
		rec_free(r);

	r = fail_with("token_body_nonjson=1", "ccg@example.com");
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_TRANSIENT && strstr(r->s[0], "not JSON"),
	    "failure: non-JSON body -> transient");
	if (r != NULL)
		rec_free(r);

	r = fail_with("token_status=401&token_error=invalid_client&"
	    "token_error_description=Unknown%20client", "ccg@example.com");
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_PERMANENT &&
	    strstr(r->s[0], "invalid_client; Unknown client") != NULL,
	    "failure: 401 invalid_client -> permanent with the provider's "
	    "error and description");
	if (r != NULL)
		rec_free(r);

	r = fail_with("token_status=400&token_error=unauthorized_client",
	    "ccg@example.com");
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_PERMANENT, "failure: 400 unauthorized_client "
	    "-> permanent");
	if (r != NULL)
		rec_free(r);

	/* The person says no. */
	server_reset();
	id = request(AUTH_OP_OBTAIN, "code@example.com", NULL, NULL, NULL);
	pend = await(&parent, IMSG_AUTH_PENDING, 0, 1, 5);
	redirect = pend ? approve(pend->s[1], "code%40example.com",
	    "&error=access_denied") : NULL;
	page = redirect ? browse(redirect, &status) : NULL;
	check(page != NULL && strstr(page, "access_denied") != NULL,
	    "failure: the redirect page shows the provider's error");
	r = await(&tokend, 0, id, 0, 5);
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_PERMANENT &&
	    strstr(r->s[0], "OAuth 2.0 authorisation error for account "
	    "code@example.com: access_denied; The user denied the request"),
	    "failure: redirect error=access_denied -> permanent, "
	    "authorisation error message");
	free(page);
	free(redirect);
	if (r != NULL)
		rec_free(r);
	if (pend != NULL)
		rec_free(pend);

	/* A wrong state is ignored; the right one still completes. */
	server_reset();
	id = request(AUTH_OP_OBTAIN, "code@example.com", NULL, NULL, NULL);
	pend = await(&parent, IMSG_AUTH_PENDING, 0, 1, 5);
	redirect = pend ? approve(pend->s[1], "code%40example.com",
	    "&bad_state=1") : NULL;
	if (redirect != NULL) {
		char *c = query_value(redirect, "code");

		secret(c);
		free(c);
	}
	check(redirect != NULL && authd_redirect_url(redirect) == -1,
	    "failure: authd_redirect_url refuses a URL with a wrong state");
	page = redirect ? browse(redirect, &status) : NULL;
	check(page != NULL && status == 400 && strstr(page, "does not match "
	    "a pending request") != NULL, "failure: redirect with a wrong "
	    "state is refused (HTTP 400)");
	free(page);
	free(redirect);
	pump(0.5);
	r = find(&tokend, 0, id, 0);
	check(r == NULL, "failure: a wrong state does not end the pending "
	    "authorisation");
	if (r != NULL)
		rec_free(r);
	redirect = pend ? approve(pend->s[1], "code%40example.com", NULL) :
	    NULL;
	page = redirect ? browse(redirect, &status) : NULL;
	r = await(&tokend, 0, id, 0, 10);
	check(r != NULL && r->type == IMSG_AUTH_TOKENS, "failure: after a "
	    "wrong state the right redirect still completes the login");
	if (r != NULL) {
		secret(r->s[0]);
		secret(r->s[1]);
		rec_free(r);
	}
	free(page);
	free(redirect);
	if (pend != NULL)
		rec_free(pend);

	/* Nobody authorises: re-announced, then expired. */
	pending_announce_secs = 1;
	authd_conf->auth_timeout = 3;
	t0 = now();
	id = request(AUTH_OP_OBTAIN, "code@example.com", NULL, NULL, NULL);
	r = await(&tokend, 0, id, 0, 6);
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_EXPIRED &&
	    strstr(r->s[0], "Authorisation request timed out") != NULL &&
	    now() - t0 >= 1.5, "failure: no authorisation within "
	    "auth_timeout -> AUTH_FAIL_EXPIRED");
	if (r != NULL)
		rec_free(r);
	check(pending_gone("code@example.com", 1), "failure: show pending no "
	    "longer lists an expired authorisation");
	authd_conf->auth_timeout = 600;
	pending_announce_secs = 60;
	while ((r = find(&parent, IMSG_AUTH_PENDING, 0, 1)) != NULL)
		rec_free(r);
}

/* https_proxy, as captured at start: the request goes through it. */
static void
test_proxy(void)
{
	struct rec	*r;
	json_t		*all, *req;
	char		*url, *want, *body;
	int		 pport, seen = 0;
	size_t		 i;

	proxy_pid = start_oauth("proxy", 0, &pport);
	if (asprintf(&url, "http://127.0.0.1:%d", pport) == -1 ||
	    asprintf(&want, "127.0.0.1:%d", server_port) == -1)
		err(1, NULL);
	server_reset();
	server_set("ccg_user=ccg@example.com");
	http_set_proxy(url, NULL);
	r = obtain("ccg@example.com", NULL);
	http_set_proxy(NULL, NULL);
	check(r != NULL && r->type == IMSG_AUTH_TOKENS, "https_proxy: the "
	    "token request succeeds through the proxy");
	if (r != NULL) {
		secret(r->s[0]);
		rec_free(r);
	}
	free(url);
	if (asprintf(&url, "http://127.0.0.1:%d/admin/requests", pport) == -1)
		err(1, NULL);
	body = fetch(url, NULL, NULL, NULL);
	all = body != NULL ? json_loads(body, 0, NULL) : NULL;
	free(body);
	for (i = 0; i < json_array_size(all); i++) {
		req = json_array_get(all, i);
		if (streq(json_string_value(json_object_get(req, "method")),
		    "CONNECT") && streq(json_string_value(json_object_get(req,
		    "path")), want))
			seen++;
	}
	check(seen == 1, "https_proxy: the proxy saw one CONNECT to the "
	    "token endpoint");
	json_decref(all);
	free(url);
	free(want);
}

/* A reload keeps a pending authorisation; shutdown cancels. */
static void
test_reload_shutdown(void)
{
	struct rec	*pend, *r;
	char		*redirect, *page;
	int		 status;
	uint32_t	 id;

	server_reset();
	id = request(AUTH_OP_OBTAIN, "code@example.com", NULL, NULL, NULL);
	pend = await(&parent, IMSG_AUTH_PENDING, 0, 1, 5);
	if (config_send(&parent.ibuf, authd_conf, PROC_AUTHD) == -1)
		errx(1, "config_send");
	flush(&parent.ibuf);
	r = await(&parent, IMSG_CONF_DONE, 0, 1, 5);
	check(r != NULL, "reload: a new configuration is answered with "
	    "CONF_DONE");
	if (r != NULL)
		rec_free(r);
	redirect = pend ? approve(pend->s[1], "code%40example.com", NULL) :
	    NULL;
	if (redirect != NULL) {
		char *c = query_value(redirect, "code");

		secret(c);
		free(c);
	}
	page = redirect ? browse(redirect, &status) : NULL;
	r = await(&tokend, 0, id, 0, 10);
	check(r != NULL && r->type == IMSG_AUTH_TOKENS, "reload: a pending "
	    "authorisation survives a reload and completes");
	if (r != NULL) {
		secret(r->s[0]);
		secret(r->s[1]);
		rec_free(r);
	}
	free(page);
	free(redirect);
	if (pend != NULL)
		rec_free(pend);

	id = request(AUTH_OP_OBTAIN, "device@example.com", NULL, NULL, NULL);
	pend = await(&parent, IMSG_AUTH_PENDING, 0, 1, 5);
	flight_shutdown();
	pump(0.2);
	r = await(&tokend, 0, id, 0, 2);
	check(r != NULL && r->type == IMSG_AUTH_FAIL &&
	    r->u32 == AUTH_FAIL_CANCELLED && strstr(r->s[0], "shutting down"),
	    "shutdown: a waiting login gets AUTH_FAIL_CANCELLED");
	if (r != NULL)
		rec_free(r);
	if (pend != NULL)
		rec_free(pend);
}

static void
test_concurrency(void)
{
	struct rec	*slow, *fast;
	uint32_t	 ids, idf;
	double		 t0 = now();

	server_reset();
	server_set("token_delay=5&delay_user=slow@example.com&"
	    "ropc_password=" ROPC_PASSWORD);
	ids = request(AUTH_OP_OBTAIN, "slow@example.com", NULL, ROPC_PASSWORD,
	    NULL);
	pump(0.2);
	idf = request(AUTH_OP_OBTAIN, "fast@example.com", NULL, ROPC_PASSWORD,
	    NULL);
	fast = await(&tokend, 0, idf, 0, 10);
	slow = await(&tokend, 0, ids, 0, 10);
	check(fast != NULL && fast->type == IMSG_AUTH_TOKENS &&
	    fast->when - t0 < 2, "concurrency: another account logs in at "
	    "once (%.1f s) while one token request is held for 5 s",
	    fast ? fast->when - t0 : -1);
	check(slow != NULL && slow->type == IMSG_AUTH_TOKENS && fast != NULL &&
	    slow->when > fast->when && slow->when - t0 >= 4.5,
	    "concurrency: the held request completes afterwards (%.1f s)",
	    slow ? slow->when - t0 : -1);
	if (fast != NULL) {
		secret(fast->s[0]);
		secret(fast->s[1]);
		rec_free(fast);
	}
	if (slow != NULL) {
		secret(slow->s[0]);
		secret(slow->s[1]);
		rec_free(slow);
	}
}

static void
test_park_and_ctl(void)
{
	struct rec	*pend, *r, *end;
	struct msgw	 w;
	json_t		*j;
	char		*redirect, *code;
	uint32_t	 id;

	/* The login gives up; the authorisation still lands. */
	server_reset();
	id = request(AUTH_OP_OBTAIN, "code@example.com", NULL, NULL, NULL);
	pend = await(&parent, IMSG_AUTH_PENDING, 0, 1, 5);
	cancel(id);
	pump(0.2);
	redirect = pend ? approve(pend->s[1], "code%40example.com", NULL) :
	    NULL;
	check(redirect != NULL, "park: approved after the login went away");
	if (redirect == NULL)
		return;
	secret(code = query_value(redirect, "code"));
	free(code);

	/* Pasted into emailproxyctl authorise instead of the listener. */
	msg_begin(&w, &control.ibuf, IMSG_CTL_AUTHORISE, 77, -1);
	msg_put_str(&w, "code@example.com");
	msg_put_str(&w, redirect);
	if (msg_end(&w, &control.ibuf) == -1)
		errx(1, "msg_end");
	flush(&control.ibuf);
	end = await(&control, IMSG_CTL_END, 77, 0, 5);
	r = find(&control, IMSG_CTL_DATA, 77, 0);
	j = r != NULL ? json_loads(r->s[0], 0, NULL) : NULL;
	check(end != NULL && json_is_true(json_object_get(j, "authorised")) &&
	    json_integer_value(json_object_get(j, "logins")) == 0,
	    "ctl: a pasted redirect URL is answered once the code is "
	    "exchanged (CTL_DATA authorised, no login waiting; CTL_END)");
	json_decref(j);
	if (r != NULL)
		rec_free(r);
	if (end != NULL)
		rec_free(end);
	free(redirect);
	pump(1);
	r = find(&tokend, 0, id, 0);
	check(r == NULL, "park: nothing is sent for a cancelled request");
	if (r != NULL)
		rec_free(r);
	r = find(&tokend, IMSG_AUTH_AUTHORISED, 0, 1);
	check(r != NULL && r->s[0] != NULL &&
	    strcmp(r->s[0], "code@example.com") == 0 &&
	    r->u64 > (uint64_t)time(NULL) + 500,
	    "park: tokend hears that a person authorised the account, and "
	    "until when the tokens are kept");
	if (r != NULL)
		rec_free(r);
	id = request(AUTH_OP_OBTAIN, "code@example.com", NULL, NULL, NULL);
	r = await(&tokend, 0, id, 0, 3);
	check(r != NULL && r->type == IMSG_AUTH_TOKENS &&
	    find(&parent, IMSG_AUTH_PENDING, 0, 1) == NULL,
	    "park: the next login gets the tokens at once, no new "
	    "authorisation");
	if (r != NULL) {
		secret(r->s[0]);
		secret(r->s[1]);
		rec_free(r);
	}
	if (pend != NULL)
		rec_free(pend);

	/* ctl: a URL for an account with nothing pending. */
	msg_begin(&w, &control.ibuf, IMSG_CTL_AUTHORISE, 78, -1);
	msg_put_str(&w, "code@example.com");
	msg_put_str(&w, "http://127.0.0.1/callback?code=x&state=y");
	if (msg_end(&w, &control.ibuf) == -1)
		errx(1, "msg_end");
	flush(&control.ibuf);
	r = await(&control, IMSG_CTL_FAIL, 78, 0, 3);
	check(r != NULL && r->s[0] != NULL && strstr(r->s[0],
	    "no authorisation is pending") != NULL &&
	    find(&control, IMSG_CTL_END, 78, 0) == NULL,
	    "ctl: authorise without a pending request -> CTL_FAIL only");
	if (r != NULL)
		rec_free(r);

	imsg_compose(&control.ibuf, IMSG_CTL_SHOW_STATS, 79, 0, -1, NULL, 0);
	flush(&control.ibuf);
	r = await(&control, IMSG_CTL_DATA, 79, 0, 3);
	end = await(&control, IMSG_CTL_END, 79, 0, 3);
	j = r != NULL ? json_loads(r->s[0], 0, NULL) : NULL;
	check(j != NULL && json_integer_value(json_object_get(j,
	    "authd_requests_total")) > 10 && end != NULL,
	    "ctl: show stats answers counters then CTL_END");
	json_decref(j);
	if (r != NULL)
		rec_free(r);
	if (end != NULL)
		rec_free(end);
}

/* ---- emailproxyctl authorise ---------------------------------------- */

struct ctl_answer {
	json_t		*data;		/* the last CTL_DATA object */
	int		 ndata;
	int		 end;
	char		*fail;
};

static void
ctl_send(uint32_t id, const char *account, const char *url)
{
	struct msgw	 w;

	msg_begin(&w, &control.ibuf, IMSG_CTL_AUTHORISE, id, -1);
	msg_put_str(&w, account);
	msg_put_str(&w, url);
	if (msg_end(&w, &control.ibuf) == -1)
		errx(1, "msg_end");
	flush(&control.ibuf);
}

/* Wait for the answer to control request id: DATA*, then END or FAIL. */
static void
ctl_wait(uint32_t id, double secs, struct ctl_answer *a)
{
	struct rec	*r;
	double		 end = now() + secs;

	memset(a, 0, sizeof(*a));
	for (;;) {
		if ((r = find(&control, IMSG_CTL_END, id, 0)) != NULL) {
			a->end = 1;
			rec_free(r);
			break;
		}
		if ((r = find(&control, IMSG_CTL_FAIL, id, 0)) != NULL) {
			a->fail = r->s[0];
			r->s[0] = NULL;
			rec_free(r);
			break;
		}
		if (now() >= end)
			break;
		pump(0);
	}
	while ((r = find(&control, IMSG_CTL_DATA, id, 0)) != NULL) {
		a->ndata++;
		json_decref(a->data);
		a->data = r->s[0] != NULL ? json_loads(r->s[0], 0, NULL) :
		    NULL;
		rec_free(r);
	}
	/* Exactly one answer: nothing more may follow. */
	pump(0.1);
	if (find(&control, IMSG_CTL_END, id, 0) != NULL ||
	    find(&control, IMSG_CTL_FAIL, id, 0) != NULL ||
	    find(&control, IMSG_CTL_DATA, id, 0) != NULL)
		check(0, "ctl: control request %u is answered once", id);
}

static void
ctl_clear(struct ctl_answer *a)
{
	json_decref(a->data);
	free(a->fail);
	memset(a, 0, sizeof(*a));
}

static const char *
jstr(json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

static void
test_ctl_authorise(void)
{
	struct ctl_answer	 a;
	struct rec		*pend, *r;
	char			*state, *bogus, *redirect, *c;
	int			 codes;
	long long		 until;
	uint32_t		 id;

	ctl_send(100, "nobody@example.org", NULL);
	ctl_wait(100, 3, &a);
	check(a.fail != NULL && !a.end && a.ndata == 0 &&
	    streq(a.fail, "unknown account nobody@example.org"),
	    "ctl authorise: an unknown account -> CTL_FAIL \"%s\"",
	    a.fail ? a.fail : "");
	ctl_clear(&a);
	ctl_send(101, "ropc@example.com", NULL);
	ctl_wait(101, 3, &a);
	check(streq(a.fail, "ropc@example.com uses the password grant: "
	    "nothing to authorise, a login obtains its token") && !a.end,
	    "ctl authorise: a password-grant account -> CTL_FAIL \"%s\"",
	    a.fail ? a.fail : "");
	ctl_clear(&a);
	ctl_send(102, "ccg@example.com", NULL);
	ctl_wait(102, 3, &a);
	check(a.fail != NULL && strstr(a.fail, "uses the client_credentials "
	    "grant: nothing to authorise") != NULL,
	    "ctl authorise: a client-credentials account -> CTL_FAIL");
	ctl_clear(&a);
	ctl_send(103, "sa@example.com", NULL);
	ctl_wait(103, 3, &a);
	check(a.fail != NULL && strstr(a.fail, "uses the service_account "
	    "grant: nothing to authorise") != NULL,
	    "ctl authorise: a service-account account -> CTL_FAIL");
	ctl_clear(&a);

	/* Nothing pending: authorise starts the grant, nobody waiting. */
	server_reset();
	ctl_send(110, "code@example.com", NULL);
	ctl_wait(110, 5, &a);
	pend = await(&parent, IMSG_AUTH_PENDING, 0, 1, 1);
	check(pend != NULL && streq(pend->s[0], "code@example.com") &&
	    a.end && a.ndata == 1 && streq(jstr(a.data, "url"), pend->s[1]) &&
	    streq(jstr(a.data, "account"), "code@example.com") &&
	    json_integer_value(json_object_get(a.data, "expires")) >
	    (json_int_t)time(NULL) + 500,
	    "ctl authorise: with nothing pending it starts the code grant "
	    "(AUTH_PENDING) and answers its URL and expiry");
	ctl_clear(&a);
	if (pend == NULL)
		return;
	ctl_send(111, "code@example.com", NULL);
	ctl_wait(111, 3, &a);
	r = find(&parent, IMSG_AUTH_PENDING, 0, 1);
	check(r == NULL && a.end && streq(jstr(a.data, "url"), pend->s[1]),
	    "ctl authorise: a second authorise joins the pending one "
	    "(same URL, no new AUTH_PENDING)");
	if (r != NULL)
		rec_free(r);
	ctl_clear(&a);

	/* A pasted redirect whose code the provider refuses. */
	state = query_value(pend->s[1], "state");
	if (asprintf(&bogus, "http://127.0.0.1:%d/callback?code=bogus-code-"
	    "0123&state=%s", listen_port, state) == -1)
		err(1, NULL);
	free(state);
	ctl_send(112, "code@example.com", bogus);
	free(bogus);
	ctl_wait(112, 10, &a);
	check(a.fail != NULL && !a.end && a.ndata == 0 &&
	    streq(a.fail, "account code@example.com: authorization code "
	    "request refused (HTTP 400): invalid_grant; unknown code") &&
	    count_requests("/token") == 1,
	    "ctl authorise: a bogus code is answered only after the "
	    "exchange, with the provider's error: \"%s\"",
	    a.fail ? a.fail : "");
	ctl_clear(&a);
	rec_free(pend);

	/* Again; this time the person approves: tokens for the next login. */
	ctl_send(113, "code@example.com", NULL);
	ctl_wait(113, 5, &a);
	pend = await(&parent, IMSG_AUTH_PENDING, 0, 1, 1);
	ctl_clear(&a);
	redirect = pend ? approve(pend->s[1], "code%40example.com", NULL) :
	    NULL;
	check(redirect != NULL, "ctl authorise: the server approved the "
	    "authorisation started by emailproxyctl");
	if (redirect == NULL)
		return;
	secret(c = query_value(redirect, "code"));
	free(c);
	ctl_send(114, "code@example.com", redirect);
	free(redirect);
	ctl_wait(114, 10, &a);
	until = json_integer_value(json_object_get(a.data, "kept_until"));
	check(a.end && a.ndata == 1 &&
	    json_is_true(json_object_get(a.data, "authorised")) &&
	    json_integer_value(json_object_get(a.data, "logins")) == 0 &&
	    until >= (long long)time(NULL) + 590 &&
	    until <= (long long)time(NULL) + 600,
	    "ctl authorise URL: authorised, nobody waits, the tokens are "
	    "kept for auth_timeout (600 s)");
	ctl_clear(&a);
	ctl_send(115, "code@example.com", NULL);
	ctl_wait(115, 3, &a);
	check(a.end && json_is_true(json_object_get(a.data, "authorised")),
	    "ctl authorise: while the tokens wait, authorise says it is "
	    "authorised");
	ctl_clear(&a);
	codes = count_requests("/token");
	id = request(AUTH_OP_OBTAIN, "code@example.com", NULL, NULL, NULL);
	r = await(&tokend, 0, id, 0, 3);
	check(r != NULL && r->type == IMSG_AUTH_TOKENS && r->s[1] != NULL &&
	    find(&parent, IMSG_AUTH_PENDING, 0, 1) == NULL &&
	    count_requests("/token") == codes,
	    "ctl authorise: the next login takes those tokens (no new "
	    "authorisation, no token request)");
	if (r != NULL) {
		secret(r->s[0]);
		secret(r->s[1]);
		rec_free(r);
	}
	rec_free(pend);

	/* A login that waits gets the tokens; ctl hears "1 login". */
	id = request(AUTH_OP_OBTAIN, "code@example.com", NULL, NULL, NULL);
	pend = await(&parent, IMSG_AUTH_PENDING, 0, 1, 5);
	redirect = pend ? approve(pend->s[1], "code%40example.com", NULL) :
	    NULL;
	if (redirect != NULL) {
		secret(c = query_value(redirect, "code"));
		free(c);
		ctl_send(116, "code@example.com", redirect);
		free(redirect);
	}
	ctl_wait(116, 10, &a);
	r = await(&tokend, 0, id, 0, 3);
	check(a.end && json_integer_value(json_object_get(a.data, "logins"))
	    == 1 && json_object_get(a.data, "kept_until") == NULL &&
	    r != NULL && r->type == IMSG_AUTH_TOKENS,
	    "ctl authorise URL with a login waiting: the login gets the "
	    "tokens, ctl hears authorised for 1 login");
	ctl_clear(&a);
	if (r != NULL) {
		secret(r->s[0]);
		secret(r->s[1]);
		rec_free(r);
	}
	if (pend != NULL)
		rec_free(pend);

	/* The device grant: the code to enter; a login joins it. */
	server_reset();
	ctl_send(120, "device@example.com", NULL);
	ctl_wait(120, 5, &a);
	pend = await(&parent, IMSG_AUTH_PENDING, 0, 1, 1);
	check(pend != NULL && a.end && a.ndata == 1 && jstr(a.data,
	    "user_code") != NULL && streq(jstr(a.data, "user_code"),
	    pend->s[2]) && strstr(jstr(a.data, "url"), "/device") != NULL,
	    "ctl authorise: a device-grant account answers the "
	    "verification URI and the user code");
	ctl_clear(&a);
	ctl_send(121, "device@example.com", "http://127.0.0.1/?code=x&"
	    "state=y");
	ctl_wait(121, 3, &a);
	check(a.fail != NULL && strstr(a.fail, "device grant") != NULL,
	    "ctl authorise: a URL for a device-grant account is refused");
	ctl_clear(&a);
	id = request(AUTH_OP_OBTAIN, "device@example.com", NULL, NULL, NULL);
	pump(0.3);
	r = find(&parent, IMSG_AUTH_PENDING, 0, 1);
	check(r == NULL && count_requests("/devicecode") == 1,
	    "ctl authorise: a login joins the device authorisation started "
	    "by emailproxyctl");
	if (r != NULL)
		rec_free(r);
	if (pend != NULL) {
		json_decref(admin("/admin/approve_device?user_code=%s",
		    pend->s[2]));
		rec_free(pend);
	}
	r = await(&tokend, 0, id, 0, 10);
	check(r != NULL && r->type == IMSG_AUTH_TOKENS,
	    "ctl authorise: the joined login gets the device tokens");
	if (r != NULL) {
		secret(r->s[0]);
		secret(r->s[1]);
		rec_free(r);
	}
}

static void
test_log(void)
{
	char	*log = readfile(logpath);
	int	 i, leaks = 0;

	check(log != NULL && strstr(log, "account code@example.com needs "
	    "authorisation: visit https://127.0.0.1:") != NULL,
	    "log: a pending authorisation is logged at notice level with "
	    "its URL");
	check(log != NULL && strstr(log, "account code@example.com still "
	    "needs authorisation: visit ") != NULL, "log: a pending "
	    "authorisation is announced again while it waits");
	check(log != NULL && strstr(log, "account device@example.com needs "
	    "authorisation: visit ") != NULL && strstr(log, "and enter code "),
	    "log: a device authorisation is logged with its code");
	for (i = 0; log != NULL && i < nsecrets; i++) {
		if (strstr(log, secrets[i]) != NULL) {
			leaks++;
			check(0, "log: secret #%d (%.6s...) not logged", i,
			    secrets[i]);
		}
	}
	check(log != NULL && leaks == 0 && nsecrets > 20, "log: none of the "
	    "%d secrets used appears in the -vv log", nsecrets);
	free(log);
}

/* ---- set-up ------------------------------------------------------- */

static void
make_keys(void)
{
	char	 cmd[4096];

	snprintf(cmd, sizeof(cmd),
	    "cd %s && openssl req -x509 -newkey rsa:2048 -nodes "
	    "-keyout server.key -out server.crt -days 2 -subj /CN=localhost "
	    "-addext subjectAltName=IP:127.0.0.1,DNS:localhost "
	    ">/dev/null 2>&1 && "
	    "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
	    "-out sa.key >/dev/null 2>&1 && "
	    "openssl pkey -in sa.key -pubout -out sa.pub >/dev/null 2>&1 && "
	    "openssl req -x509 -newkey rsa:2048 -nodes -keyout entra.key "
	    "-out entra.crt -days 2 -subj /CN=entra-client >/dev/null 2>&1",
	    tmp);
	if (run(cmd) == -1) {
		printf("FAIL: cannot make test keys with openssl\n");
		exit(1);
	}
}

/*
 * Authorisations for names under a catch-all that nobody was told of
 * go when their login does; a bound holds what waits for a person.
 */
static void
test_unclaimed(void)
{
	struct rec	*pend, *r;
	uint32_t	 id, ids[AUTHD_MAX_PERSON + 2];
	char		 name[64];
	int		 i, refused = 0, pending = 0;

	server_reset();
	id = request(AUTH_OP_OBTAIN, "nobody1@catch.example", NULL, NULL,
	    NULL);
	pend = await(&parent, IMSG_AUTH_PENDING, 0, 1, 5);
	cancel(id);
	check(pend != NULL && pending_gone("nobody1@catch.example", 3),
	    "unclaimed: a catch-all name's authorisation that no login waits "
	    "for and no person was told of is dropped");
	if (pend != NULL)
		rec_free(pend);

	/* With emailproxyctl watching it stays. */
	id = request(AUTH_OP_OBTAIN, "nobody2@catch.example", NULL, NULL,
	    NULL);
	pend = await(&parent, IMSG_AUTH_PENDING, 0, 1, 5);
	{
		struct msgw	w;

		msg_begin(&w, &control.ibuf, IMSG_CTL_AUTHORISE, 91, -1);
		msg_put_str(&w, "nobody2@catch.example");
		msg_put_str(&w, NULL);
		if (msg_end(&w, &control.ibuf) == -1)
			errx(1, "msg_end");
		flush(&control.ibuf);
	}
	r = await(&control, IMSG_CTL_END, 91, 0, 3);
	if (r != NULL)
		rec_free(r);
	cancel(id);
	pump(0.5);
	check(pend != NULL && shown_pending("nobody2@catch.example",
	    NULL) == 1 && flight_pending("nobody2@catch.example") != NULL,
	    "unclaimed: one emailproxyctl asked about stays pending");
	if (pend != NULL)
		rec_free(pend);

	/* The bound: what waits for a person. */
	for (i = 0; i < AUTHD_MAX_PERSON + 1; i++) {
		snprintf(name, sizeof(name), "many%d@catch.example", i);
		ids[i] = request(AUTH_OP_OBTAIN, name, NULL, NULL, NULL);
	}
	pump(1);
	for (i = 0; i < AUTHD_MAX_PERSON + 1; i++) {
		r = find(&tokend, IMSG_AUTH_FAIL, ids[i], 0);
		if (r != NULL) {
			refused += r->u32 == AUTH_FAIL_TRANSIENT &&
			    r->s[0] != NULL && strstr(r->s[0],
			    "too many authorisations are pending") != NULL;
			rec_free(r);
		}
	}
	pending = flight_count_pending();
	check(refused == 2 && pending == AUTHD_MAX_PERSON,
	    "unclaimed: beyond the bound a grant that needs a person is "
	    "refused (%d refused, %d pending)", refused, pending);
	for (i = 0; i < AUTHD_MAX_PERSON + 1; i++)
		cancel(ids[i]);
	pump(0.5);
	check(flight_count_pending() == 1,
	    "unclaimed: their logins gone, only the one emailproxyctl asked "
	    "about is left (%d)", flight_count_pending());
	while ((r = find(&parent, IMSG_AUTH_PENDING, 0, 1)) != NULL)
		rec_free(r);
	while ((r = find(&control, IMSG_CTL_DATA, 0, 1)) != NULL)
		rec_free(r);
}

static void
configure(void)
{
	struct account_conf	*a;
	json_t			*key;
	char			*keytext, *s, path[700];

	if ((authd_conf = config_new()) == NULL)
		err(1, "config_new");
	authd_conf->path = strdup("authd_grants_test.conf");
	set_file(&authd_conf->ca_file, cafile);
	authd_conf->use_login_password_as_client_credentials_secret = 1;

	a = account("code@example.com", NULL);
	if (asprintf(&a->permission_url, "%s/authorize?tenant=common",
	    base_url) == -1 || asprintf(&a->redirect_uri,
	    "http://127.0.0.1:%d/callback", listen_port) == -1)
		err(1, NULL);
	a->use_pkce = 1;

	/* Any name at catch.example: nobody configured it. */
	authd_conf->allow_catch_all_accounts = 1;
	a = account("@catch.example", NULL);
	if (asprintf(&a->permission_url, "%s/authorize", base_url) == -1 ||
	    asprintf(&a->redirect_uri, "http://127.0.0.1:%d/callback",
	    listen_port) == -1)
		err(1, NULL);

	a = account("device@example.com", "device");
	if (asprintf(&a->permission_url, "%s/devicecode", base_url) == -1)
		err(1, NULL);

	account("ccg@example.com", "client_credentials");
	a = account("ccgpw@example.com", "client_credentials");
	free(a->client_secret);
	a->client_secret = NULL;

	/* A resource and no scope, as the parser leaves an unset key. */
	a = account("ropc@example.com", "password");
	free(a->oauth2_scope);
	a->oauth2_scope = NULL;
	a->oauth2_resource = strdup("https://resource.example.com");
	a = account("noscope@example.com", "client_credentials");
	free(a->oauth2_scope);
	a->oauth2_scope = NULL;
	a->oauth2_resource = strdup("https://resource.example.com");
	account("noflow@example.com", NULL);
	a = account("sample@example.com", "client_credentials");
	free(a->client_id);
	a->client_id = strdup("*** your client id here ***");
	a = account("samplesecret@example.com", "client_credentials");
	free(a->client_secret);
	a->client_secret = strdup("*** your client secret here (remove this "
	    "entire line if a secret is not required) ***");
	account("slow@example.com", "password");
	account("fast@example.com", "password");

	/* Service account key JSON, inline and from a "file". */
	keytext = readfile(strcat(strcpy(path, tmp), "/sa.key"));
	if (asprintf(&s, "%s/token", base_url) == -1)
		err(1, NULL);
	key = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type",
	    "service_account", "client_email",
	    "svc@project.iam.gserviceaccount.com", "private_key_id",
	    "kid-0123", "private_key", keytext, "token_uri", s);
	free(s);
	a = account("sa@example.com", "service_account");
	free(a->client_id);
	a->client_id = strdup("key");
	free(a->client_secret);
	a->client_secret = json_dumps(key, 0);
	secret(keytext + 40);	/* a slice of the private key */
	a = account("safile@example.com", "service_account");
	free(a->client_id);
	a->client_id = strdup("file");
	free(a->client_secret);
	a->client_secret = strdup("/nonexistent/in/chroot/sa.json");
	a->service_account_key.path = strdup(a->client_secret);
	a->service_account_key.data = json_dumps(key, 0);
	a->service_account_key.len = strlen(a->service_account_key.data);
	a = account("sabad@example.com", "service_account");
	json_decref(key);
	free(keytext);

	a = account("entra@example.com", "client_credentials");
	free(a->client_secret);
	a->client_secret = NULL;
	set_file(&a->jwt_certificate, strcat(strcpy(path, tmp),
	    "/entra.crt"));
	set_file(&a->jwt_key, strcat(strcpy(path, tmp), "/entra.key"));
	secret(a->jwt_key.data + 40);

	a = account("down@example.com", "client_credentials");
	free(a->token_url);
	/* A port nobody listens on, by name: evdns reads /etc/hosts. */
	if ((a->token_url = strdup("https://localhost:1/token")) == NULL)
		err(1, NULL);
	secret(CLIENT_SECRET);
	secret(ROPC_PASSWORD);
	secret(INTRO_PASS);
}

static int
listen_socket(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 16) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		err(1, "redirect listener");
	listen_port = ntohs(sin.sin_port);
	return (fd);
}

static void
register_keys(void)
{
	char	*pem, *esc, path[700];
	CURL	*c = curl_easy_init();

	pem = readfile(strcat(strcpy(path, tmp), "/sa.pub"));
	esc = curl_easy_escape(c, pem, 0);
	json_decref(admin("/admin/set?jwt_public_key=%s", esc));
	curl_free(esc);
	free(pem);
	pem = readfile(strcat(strcpy(path, tmp), "/entra.crt"));
	esc = curl_easy_escape(c, pem, 0);
	json_decref(admin("/admin/set?client_cert=%s", esc));
	curl_free(esc);
	free(pem);
	curl_easy_cleanup(c);
}

int
main(void)
{
	struct event_base	*base;
	struct evdns_base	*dns;
	struct msgw		 w;
	struct rec		*r;
	const char		*t = getenv("REGRESS_TMP");
	int			 sp_parent[2], sp_tokend[2], sp_control[2];
	int			 lfd, fd;

	signal(SIGPIPE, SIG_IGN);
	snprintf(tmp, sizeof(tmp), "%s/authd_grants", t != NULL ? t : "/tmp");
	mkdir(t != NULL ? t : "/tmp", 0755);
	mkdir(tmp, 0700);
	snprintf(cafile, sizeof(cafile), "%s/server.crt", tmp);
	snprintf(logpath, sizeof(logpath), "%s/authd.log", tmp);
	/* No proxy from the caller's environment in a loopback test. */
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");

	make_keys();
	start_server();
	atexit(stop_server);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	register_keys();

	/* authd logs at -vv into a file the last test reads. */
	if ((fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    dup2(fd, STDERR_FILENO) == -1)
		err(1, "%s", logpath);
	close(fd);
	log_init(1, LOG_DAEMON);
	log_setverbose(2);
	log_procinit("authd");

	lfd = listen_socket();
	configure();
	base = event_init();
	if ((dns = evdns_base_new(base, 0)) == NULL)
		errx(1, "evdns_base_new");
	evdns_base_load_hosts(dns, NULL);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sp_parent) == -1 || socketpair(AF_UNIX, SOCK_STREAM |
	    SOCK_NONBLOCK, 0, sp_tokend) == -1 || socketpair(AF_UNIX,
	    SOCK_STREAM | SOCK_NONBLOCK, 0, sp_control) == -1)
		err(1, "socketpair");
	if (http_init(dns) == -1)
		errx(1, "http_init");
	authd_start(sp_parent[0], sp_tokend[0], sp_control[0]);
	peer_init(&parent, sp_parent[1], "parent");
	peer_init(&tokend, sp_tokend[1], "tokend");
	peer_init(&control, sp_control[1], "control");

	/* Only the port: the proxy, not authd, serves the redirects. */
	close(lfd);

	/* Verbosity from the parent. */
	msg_begin(&w, &parent.ibuf, IMSG_CTL_VERBOSE, 0, -1);
	msg_put_u32(&w, 2);
	if (msg_end(&w, &parent.ibuf) == -1)
		errx(1, "msg_end");
	flush(&parent.ibuf);
	pump(0.1);

	test_code();
	test_page();
	test_refresh();
	test_device();
	test_direct();
	test_numbers();
	test_complete();
	test_failures();
	test_concurrency();
	test_park_and_ctl();
	test_unclaimed();
	test_ctl_authorise();
	test_proxy();
	test_reload_shutdown();
	while ((r = find(&parent, IMSG_AUTH_PENDING, 0, 1)) != NULL)
		rec_free(r);
	flight_shutdown();
	http_shutdown();
	test_log();
	stop_server();
	return (failures ? 1 : 0);
}
