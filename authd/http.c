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
 * The HTTP engine: libcurl's multi interface driven by libevent, so no
 * call ever blocks.  Host names are resolved with evdns (its resolv.conf
 * and hosts were read before the chroot) and handed to libcurl with
 * CURLOPT_RESOLVE, so libcurl never needs a file after the privilege
 * drop; the CA bundle travels in memory (CURLOPT_CAINFO_BLOB), as in
 * ntpd's constraint.c.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/queue.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <jansson.h>

#include "emailproxy.h"
#include "log.h"
#include "authd.h"

#define HTTP_MAX_BODY	(256 * 1024)

struct http_req {
	TAILQ_ENTRY(http_req)	 entry;
	CURL			*easy;
	char			*url;
	char			*host;		/* to resolve */
	long			 port;
	struct form		 body;		/* owned, wiped */
	struct curl_slist	*resolve;
	struct curl_slist	*headers;
	char			*resp;		/* owned, wiped */
	size_t			 resplen;
	size_t			 respsize;
	struct evdns_getaddrinfo_request *dnsreq;
	struct event		 ev;		/* DNS deadline, deferred end */
	char			 errbuf[CURL_ERROR_SIZE];
	const char		*fail;		/* error before curl ran */
	http_cb			 cb;
	void			*arg;
};
static TAILQ_HEAD(, http_req) http_reqs = TAILQ_HEAD_INITIALIZER(http_reqs);

struct sock_ev {
	struct event		 ev;
};

static CURLM			*multi;
static struct event		 timer_ev;
static struct evdns_base	*dns;
static char			*proxy;		/* https_proxy at start */
static char			*noproxy;

static void	http_resolved(int, struct evutil_addrinfo *, void *);
static void	http_dns_timeout(int, short, void *);
static void	http_run(struct http_req *);
static void	http_finish(struct http_req *, CURLcode);
static void	http_deferred_fail(struct http_req *, const char *);
static void	http_free(struct http_req *);
static void	multi_check(void);

static long
connect_timeout(void)
{
	return (authd_conf->http_connect_timeout ?
	    (long)authd_conf->http_connect_timeout : 10);
}

static long
total_timeout(void)
{
	return (authd_conf->http_timeout ? (long)authd_conf->http_timeout :
	    60);
}

static const char *
ua(void)
{
	return (EMAILPROXY_NAME "/" EMAILPROXY_VERSION);
}

static void
sock_event(int fd, short what, void *arg)
{
	int	 running, flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(multi, fd, flags, &running);
	multi_check();
}

static int
sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct sock_ev	*se = socketp;
	short		 ev = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (se != NULL) {
			event_del(&se->ev);
			free(se);
			curl_multi_assign(multi, s, NULL);
		}
		return (0);
	}
	if (se == NULL) {
		if ((se = calloc(1, sizeof(*se))) == NULL) {
			log_warn("%s", __func__);
			return (-1);
		}
		curl_multi_assign(multi, s, se);
	} else
		event_del(&se->ev);
	if (what & CURL_POLL_IN)
		ev |= EV_READ;
	if (what & CURL_POLL_OUT)
		ev |= EV_WRITE;
	event_set(&se->ev, s, ev, sock_event, NULL);
	event_add(&se->ev, NULL);
	return (0);
}

static void
timer_event(int fd, short what, void *arg)
{
	int	 running;

	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	multi_check();
}

static int
timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct timeval	 tv;

	evtimer_del(&timer_ev);
	if (timeout_ms < 0)
		return (0);
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(&timer_ev, &tv);
	return (0);
}

int
http_init(struct evdns_base *evdns)
{
	dns = evdns;
	if ((multi = curl_multi_init()) == NULL)
		return (-1);
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	evtimer_set(&timer_ev, timer_event, NULL);
	return (0);
}

/* The proxy captured from the environment at start, or NULL. */
void
http_set_proxy(const char *p, const char *np)
{
	free(proxy);
	free(noproxy);
	proxy = (p != NULL && *p != '\0') ? strdup(p) : NULL;
	noproxy = (np != NULL && *np != '\0') ? strdup(np) : NULL;
}

void
http_shutdown(void)
{
	struct http_req	*r;

	while ((r = TAILQ_FIRST(&http_reqs)) != NULL)
		http_free(r);
	if (multi != NULL) {
		evtimer_del(&timer_ev);
		curl_multi_cleanup(multi);
		multi = NULL;
	}
}

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_req	*r = arg;
	size_t		 n = size * nmemb, nsize;
	char		*p;

	if (r->resplen + n + 1 > HTTP_MAX_BODY)
		return (0);	/* aborts the transfer */
	if (r->resplen + n + 1 > r->respsize) {
		nsize = r->respsize ? r->respsize : 4096;
		while (nsize < r->resplen + n + 1)
			nsize *= 2;
		if ((p = malloc(nsize)) == NULL)
			return (0);
		if (r->resp != NULL) {
			memcpy(p, r->resp, r->resplen);
			freezero(r->resp, r->respsize);
		}
		r->resp = p;
		r->respsize = nsize;
	}
	memcpy(r->resp + r->resplen, data, n);
	r->resplen += n;
	r->resp[r->resplen] = '\0';
	return (n);
}

/*
 * POST a form (taken over and wiped when done).  cb runs exactly once,
 * later from the event loop, unless http_cancel comes first.
 */
struct http_req *
http_post(const char *url, struct form *body, http_cb cb, void *arg)
{
	struct http_req	*r;
	CURLU		*u = NULL;
	char		*host = NULL, *port = NULL;
	struct in6_addr	 a6;
	struct evutil_addrinfo hints;
	struct timeval	 tv;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		form_clear(body);
		return (NULL);
	}
	r->body = *body;
	form_init(body);
	r->cb = cb;
	r->arg = arg;
	evtimer_set(&r->ev, NULL, NULL);
	TAILQ_INSERT_TAIL(&http_reqs, r, entry);
	if ((r->url = strdup(url)) == NULL) {
		http_deferred_fail(r, "out of memory");
		return (r);
	}
	if (r->body.error) {
		http_deferred_fail(r, "request body too large");
		return (r);
	}

	/* Only the host curl will connect to needs an address. */
	if ((u = curl_url()) == NULL ||
	    curl_url_set(u, CURLUPART_URL, proxy != NULL ? proxy : url,
	    CURLU_GUESS_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK) {
		curl_url_cleanup(u);
		curl_free(host);
		curl_free(port);
		http_deferred_fail(r, "malformed URL");
		return (r);
	}
	curl_url_cleanup(u);
	r->port = strtol(port, NULL, 10);
	curl_free(port);
	/* curl gives IPv6 literals in brackets. */
	if (host[0] == '[') {
		host[strlen(host) - 1] = '\0';
		r->host = strdup(host + 1);
	} else
		r->host = strdup(host);
	curl_free(host);
	if (r->host == NULL) {
		http_deferred_fail(r, "out of memory");
		return (r);
	}
	log_debug("POST %s (%s)", url, r->body.names);

	if (inet_pton(AF_INET, r->host, &a6) == 1 ||
	    inet_pton(AF_INET6, r->host, &a6) == 1) {
		http_run(r);
		return (r);
	}
	if (dns == NULL) {
		http_deferred_fail(r, "no resolver");
		return (r);
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/* The answer must come within the connect timeout. */
	evtimer_set(&r->ev, http_dns_timeout, r);
	tv.tv_sec = connect_timeout();
	tv.tv_usec = 0;
	evtimer_add(&r->ev, &tv);
	/* The callback may run before this returns (hosts file). */
	r->dnsreq = evdns_getaddrinfo(dns, r->host, NULL, &hints,
	    http_resolved, r);
	return (r);
}

static void
http_dns_timeout(int fd, short what, void *arg)
{
	struct http_req	*r = arg;

	if (r->dnsreq != NULL) {
		evdns_getaddrinfo_cancel(r->dnsreq);
		r->dnsreq = NULL;
	}
	snprintf(r->errbuf, sizeof(r->errbuf), "resolving %s timed out",
	    r->host);
	http_deferred_fail(r, r->errbuf);
}

static void
http_resolved(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct http_req		*r = arg;
	struct evutil_addrinfo	*a;
	char			 entry[1024], addr[INET6_ADDRSTRLEN];
	const void		*src;
	int			 n = 0;

	if (result == EVUTIL_EAI_CANCEL) {
		/* Cancelled by http_cancel or the deadline: r is theirs. */
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		return;
	}
	r->dnsreq = NULL;
	evtimer_del(&r->ev);
	if (result != 0 || ai == NULL) {
		snprintf(r->errbuf, sizeof(r->errbuf), "cannot resolve %s: %s",
		    r->host, evutil_gai_strerror(result));
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		http_deferred_fail(r, r->errbuf);
		return;
	}
	snprintf(entry, sizeof(entry), "%s:%ld:", r->host, r->port);
	for (a = ai; a != NULL && n < 8; a = a->ai_next) {
		if (a->ai_family == AF_INET)
			src = &((struct sockaddr_in *)a->ai_addr)->sin_addr;
		else if (a->ai_family == AF_INET6)
			src = &((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
		else
			continue;
		if (inet_ntop(a->ai_family, src, addr, sizeof(addr)) == NULL)
			continue;
		if (n++ > 0)
			strlcat(entry, ",", sizeof(entry));
		if (a->ai_family == AF_INET6)
			strlcat(entry, "[", sizeof(entry));
		strlcat(entry, addr, sizeof(entry));
		if (a->ai_family == AF_INET6)
			strlcat(entry, "]", sizeof(entry));
	}
	evutil_freeaddrinfo(ai);
	if (n == 0) {
		snprintf(r->errbuf, sizeof(r->errbuf), "no address for %s",
		    r->host);
		http_deferred_fail(r, r->errbuf);
		return;
	}
	log_debug("resolved %s", entry);
	if ((r->resolve = curl_slist_append(NULL, entry)) == NULL) {
		http_deferred_fail(r, "out of memory");
		return;
	}
	http_run(r);
}

static void
http_run(struct http_req *r)
{
	struct curl_blob	 blob;
	CURL			*e;
	const struct conf_file	*ca = &authd_conf->ca_file;

	if ((e = r->easy = curl_easy_init()) == NULL) {
		http_deferred_fail(r, "cannot create a curl handle");
		return;
	}
	if ((r->headers = curl_slist_append(NULL,
	    "Accept: application/json")) == NULL) {
		http_deferred_fail(r, "out of memory");
		return;
	}
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, ua());
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body.buf ?
	    r->body.buf : "");
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->body.len);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, connect_timeout());
	curl_easy_setopt(e, CURLOPT_TIMEOUT, total_timeout());
	/* Proxies only as captured at start; never from the environment. */
	curl_easy_setopt(e, CURLOPT_PROXY, proxy != NULL ? proxy : "");
	if (noproxy != NULL)
		curl_easy_setopt(e, CURLOPT_NOPROXY, noproxy);
	if (r->resolve != NULL)
		curl_easy_setopt(e, CURLOPT_RESOLVE, r->resolve);
	/* Trust only the bundle in memory: no file after the chroot. */
	curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
	curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	if (ca->data != NULL) {
		blob.data = ca->data;
		blob.len = ca->len;
		blob.flags = CURL_BLOB_COPY;
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (curl_multi_add_handle(multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		r->easy = NULL;
		http_deferred_fail(r, "cannot start the transfer");
	}
}

static void
multi_check(void)
{
	CURLMsg		*m;
	struct http_req	*r;
	CURLcode	 code;
	int		 left;

	while ((m = curl_multi_info_read(multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		code = m->data.result;
		r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
		    (char **)&r);
		if (r != NULL)
			http_finish(r, code);
	}
}

static void
http_report(struct http_req *r, struct http_result *res)
{
	http_cb		 cb = r->cb;
	void		*arg = r->arg;

	/* The callback owns the outcome; r is gone before it runs on. */
	TAILQ_REMOVE(&http_reqs, r, entry);
	r->entry.tqe_prev = NULL;
	cb(res, arg);
	if (res->json != NULL)
		json_decref(res->json);
	http_free(r);
}

static void
http_finish(struct http_req *r, CURLcode code)
{
	struct http_result	 res;
	curl_off_t		 ra = 0;

	memset(&res, 0, sizeof(res));
	if (code != CURLE_OK) {
		res.errstr = r->errbuf[0] != '\0' ? r->errbuf :
		    curl_easy_strerror(code);
		log_debug("POST %s: %s", r->url, res.errstr);
		http_report(r, &res);
		return;
	}
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
	if (curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &ra) ==
	    CURLE_OK && ra > 0)
		res.retry_after = ra > 86400 ? 86400 : (long)ra;
	http_result_parse(&res, r->resp, r->resplen);
	log_debug("POST %s: HTTP %ld%s", r->url, res.status,
	    res.json == NULL && r->resplen > 0 ? " (not JSON)" : "");
	http_report(r, &res);
}

static void
http_deferred_event(int fd, short what, void *arg)
{
	struct http_req		*r = arg;
	struct http_result	 res;

	memset(&res, 0, sizeof(res));
	res.errstr = r->fail;
	log_debug("POST %s: %s", r->url ? r->url : "?", r->fail);
	http_report(r, &res);
}

/* Fail from the event loop, never inside http_post's caller. */
static void
http_deferred_fail(struct http_req *r, const char *why)
{
	struct timeval	 tv = { 0, 0 };

	r->fail = why;
	evtimer_del(&r->ev);
	evtimer_set(&r->ev, http_deferred_event, r);
	evtimer_add(&r->ev, &tv);
}

void
http_cancel(struct http_req *r)
{
	if (r == NULL)
		return;
	if (r->dnsreq != NULL) {
		evdns_getaddrinfo_cancel(r->dnsreq);
		r->dnsreq = NULL;
	}
	http_free(r);
}

static void
http_free(struct http_req *r)
{
	if (r->dnsreq != NULL) {
		evdns_getaddrinfo_cancel(r->dnsreq);
		r->dnsreq = NULL;
	}
	evtimer_del(&r->ev);
	if (r->easy != NULL) {
		curl_multi_remove_handle(multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->resolve);
	curl_slist_free_all(r->headers);
	form_clear(&r->body);
	if (r->resp != NULL)
		freezero(r->resp, r->respsize);
	if (r->entry.tqe_prev != NULL)
		TAILQ_REMOVE(&http_reqs, r, entry);
	free(r->url);
	free(r->host);
	free(r);
}
