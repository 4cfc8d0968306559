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
 * A configuration over imsg, parent -> child: CONF_START, GLOBALS,
 * SERVER*, ACCOUNT*, CONF_END.  Each destination gets only what it
 * needs (DESIGN.md): the proxy no account at all, tokend no private key,
 * no certificate and no client_secret unless it keeps it in the token
 * store, authd no cached Python token, no server key and no login rule
 * (local password hash, account allowlist).
 *
 * Which process receives which value is the key table's (procs in
 * common/config_keys.c); a value withheld from a process travels as
 * NULL (a string or list) or as a file without its contents.  A
 * KF_FIRSTUSE value (client_secret) reaches tokend only with
 * encrypt_client_secret_on_first_use; otherwise a set one travels to
 * tokend as the empty string, which no parsed value is: tokend knows
 * that the account has a secret, and authd, which holds it, sends it.
 *
 * Encoding (msg.h): a conf_file is str path, u32 line, u32 has data,
 * data; a boolean or enum is a u32 (0xffffffff: unset); an address list
 * (common/cidr.h) is its text as written (str, NULL: none), parsed
 * again on receipt.  Each message is a header, then every key table row
 * of its structure in table order (enc_keys), then:
 *   GLOBALS: str path; the [emailproxy] rows
 *   SERVER: str name, u32 line, u32 proto, u32 local_port; the server
 *     rows
 *   ACCOUNT: str name, u32 line, u32 flow; the account rows; file
 *     service_account_key (contents to authd only)
 */

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "cidr.h"
#include "config.h"
#include "msg.h"
#include "config_keys.h"

/* What one destination may hold. */
struct conf_mask {
	unsigned int kp;	/* KP_*: the destination, for the key table */
	int	 accounts;	/* account sections at all */
	int	 firstuse;	/* KF_FIRSTUSE values themselves */
};

/* Counts bytes on the first pass, writes on the second. */
struct enc {
	struct msgw	 w;
	size_t		 size;
	int		 write;
};

static int	 conf_mask(enum emailproxy_proc, const struct emailproxy_conf *,
		    struct conf_mask *);
static void	 enc_u32(struct enc *, uint32_t);
static void	 enc_str(struct enc *, const char *);
static void	 enc_file(struct enc *, const struct conf_file *, int);
static void	 enc_list(struct enc *, const struct cidr_list *);
static void	 enc_keys(struct enc *, enum conf_kind, const void *,
		    const struct conf_mask *);
static void	 dec_keys(struct msgr *, enum conf_kind, void *, int *);
static void	 enc_globals(struct enc *, const struct emailproxy_conf *,
		    const struct conf_mask *);
static void	 enc_server(struct enc *, const struct server_conf *,
		    const struct conf_mask *);
static void	 enc_account(struct enc *, const struct account_conf *,
		    const struct conf_mask *);
static int	 enc_size(const char *, size_t);
static char	*dec_str(struct msgr *, int *);
static void	 dec_file(struct msgr *, struct conf_file *, int *);
static struct cidr_list *dec_list(struct msgr *, int *);
static int	 recv_globals(struct imsg *, struct emailproxy_conf *);
static int	 recv_server(struct imsg *, struct emailproxy_conf *);
static int	 recv_account(struct imsg *, struct emailproxy_conf *);

static int
conf_mask(enum emailproxy_proc dest, const struct emailproxy_conf *conf,
    struct conf_mask *m)
{
	memset(m, 0, sizeof(*m));
	m->firstuse = 1;
	switch (dest) {
	case PROC_PROXY:
		m->kp = KP_PROXY;
		return (0);
	case PROC_TOKEND:
		m->kp = KP_TOKEND;
		m->accounts = 1;
		m->firstuse = conf->encrypt_client_secret_on_first_use == 1;
		return (0);
	case PROC_AUTHD:
		m->kp = KP_AUTHD;
		m->accounts = 1;
		return (0);
	default:
		return (-1);
	}
}

static void
enc_u32(struct enc *e, uint32_t v)
{
	e->size += sizeof(v);
	if (e->write)
		msg_put_u32(&e->w, v);
}

static void
enc_str(struct enc *e, const char *s)
{
	e->size += sizeof(uint32_t) + (s != NULL ? strlen(s) + 1 : 0);
	if (e->write)
		msg_put_str(&e->w, s);
}

static void
enc_file(struct enc *e, const struct conf_file *f, int with_data)
{
	with_data = with_data && f->data != NULL;
	enc_str(e, f->path);
	enc_u32(e, f->line);
	enc_u32(e, with_data);
	e->size += sizeof(uint32_t) + (with_data ? f->len : 0);
	if (e->write)
		msg_put_data(&e->w, with_data ? f->data : NULL,
		    with_data ? f->len : 0);
}

static void
enc_list(struct enc *e, const struct cidr_list *l)
{
	enc_str(e, l != NULL ? l->text : NULL);
}

/*
 * Every row of the key table for kind, in table order.  A value goes to
 * the processes of its row; the others get NULL (a string or list) or
 * a file without its contents.  Numbers go to every process.  Rows of
 * the parent only (KP_PARENT) are not sent.
 */
static void
enc_keys(struct enc *e, enum conf_kind kind, const void *base,
    const struct conf_mask *m)
{
	const struct conf_key	*k;
	const void		*p;
	const char		*s;
	int			 give;

	for (k = conf_keys; k->name != NULL; k++) {
		if (k->kind != kind || k->off < 0 || k->procs == KP_PARENT)
			continue;
		p = conf_key_field(k, base);
		give = (k->procs & m->kp) != 0;
		switch (conf_key_store(k->type)) {
		case KST_BOOL:
			/* -1 (unset) travels as 0xffffffff. */
			enc_u32(e, (uint32_t)*(const int *)p);
			break;
		case KST_UINT:
			enc_u32(e, *(const unsigned int *)p);
			break;
		case KST_PORT:
			enc_u32(e, *(const uint16_t *)p);
			break;
		case KST_FILE:
			enc_file(e, p, give);
			break;
		case KST_LIST:
			enc_list(e, give ? *(struct cidr_list *const *)p :
			    NULL);
			break;
		case KST_STRING:
			s = give ? *(char *const *)p : NULL;
			if (s != NULL && (k->flags & KF_FIRSTUSE) &&
			    !m->firstuse)
				s = "";
			enc_str(e, s);
			break;
		case KST_NONE:
			break;
		}
	}
}

static void
enc_globals(struct enc *e, const struct emailproxy_conf *conf,
    const struct conf_mask *m)
{
	enc_str(e, conf->path);
	enc_keys(e, CONF_GLOBAL, conf, m);
}

static void
enc_server(struct enc *e, const struct server_conf *s,
    const struct conf_mask *m)
{
	enc_str(e, s->name);
	enc_u32(e, s->line);
	enc_u32(e, s->proto);
	enc_u32(e, s->local_port);
	enc_keys(e, CONF_SERVER, s, m);
}

static void
enc_account(struct enc *e, const struct account_conf *a,
    const struct conf_mask *m)
{
	enc_str(e, a->name);
	enc_u32(e, a->line);
	enc_u32(e, a->flow);
	enc_keys(e, CONF_ACCOUNT, a, m);
	/* Named by client_secret when client_id is "file". */
	enc_file(e, &a->service_account_key, m->kp == KP_AUTHD);
}

static int
enc_size(const char *what, size_t size)
{
	if (size > IMSG_MAXSIZE_PARENT) {
		log_warnx("configuration: %s needs a message of %zu bytes, "
		    "more than the limit of %d (certificate, key or CA "
		    "file too large?)", what, size, IMSG_MAXSIZE_PARENT);
		return (-1);
	}
	return (0);
}

int
config_send(struct imsgbuf *ibuf, const struct emailproxy_conf *conf,
    enum emailproxy_proc dest)
{
	struct conf_mask		 m;
	struct enc			 e;
	const struct server_conf	*s;
	const struct account_conf	*a;
	int				 pass, rv = 0;

	if (conf_mask(dest, conf, &m) == -1) {
		log_warnx("%s: no configuration for process %d", __func__,
		    dest);
		return (-1);
	}
	/* Check every size first, so nothing half-sent is queued. */
	for (pass = 0; pass < 2; pass++) {
		memset(&e, 0, sizeof(e));
		e.write = pass;
		if (pass) {
			msg_begin(&e.w, ibuf, IMSG_CONF_START, 0, -1);
			rv |= msg_end(&e.w, ibuf);
			msg_begin(&e.w, ibuf, IMSG_CONF_GLOBALS, 0, -1);
		}
		enc_globals(&e, conf, &m);
		if (pass)
			rv |= msg_end(&e.w, ibuf);
		else if (enc_size("[emailproxy]", e.size) == -1)
			return (-1);
		TAILQ_FOREACH(s, &conf->servers, entry) {
			e.size = 0;
			if (pass)
				msg_begin(&e.w, ibuf, IMSG_CONF_SERVER, 0, -1);
			enc_server(&e, s, &m);
			if (pass)
				rv |= msg_end(&e.w, ibuf);
			else if (enc_size(s->name, e.size) == -1)
				return (-1);
		}
		if (!m.accounts)
			continue;
		TAILQ_FOREACH(a, &conf->accounts, entry) {
			e.size = 0;
			if (pass)
				msg_begin(&e.w, ibuf, IMSG_CONF_ACCOUNT, 0,
				    -1);
			enc_account(&e, a, &m);
			if (pass)
				rv |= msg_end(&e.w, ibuf);
			else if (enc_size(a->name, e.size) == -1)
				return (-1);
		}
	}
	msg_begin(&e.w, ibuf, IMSG_CONF_END, 0, -1);
	rv |= msg_end(&e.w, ibuf);
	if (rv != 0) {
		log_warn("%s", __func__);
		return (-1);
	}
	return (0);
}

/* A heap copy; *bad is set if the field was malformed. */
static char *
dec_str(struct msgr *r, int *bad)
{
	const char	*s;
	char		*p;

	s = msg_get_str(r);
	if (s == NULL)
		return (NULL);
	if ((p = strdup(s)) == NULL) {
		*bad = 1;
		return (NULL);
	}
	return (p);
}

static void
dec_file(struct msgr *r, struct conf_file *f, int *bad)
{
	const void	*d;
	size_t		 len;
	uint32_t	 has;

	f->path = dec_str(r, bad);
	f->line = msg_get_u32(r);
	has = msg_get_u32(r);
	d = msg_get_data(r, &len);
	if (has > 1 || (!has && len != 0) || (has && f->path == NULL)) {
		*bad = 1;
		return;
	}
	if (!has || d == NULL)
		return;
	if ((f->data = malloc(len + 1)) == NULL) {
		*bad = 1;
		return;
	}
	memcpy(f->data, d, len);
	f->data[len] = '\0';
	f->len = len;
}

/* An address list from its text; NULL when none was sent. */
static struct cidr_list *
dec_list(struct msgr *r, int *bad)
{
	struct cidr_list	*l;
	const char		*s, *err;

	if ((s = msg_get_str(r)) == NULL)
		return (NULL);
	if ((l = cidr_list_parse(s, &err)) == NULL)
		*bad = 1;
	return (l);
}

/*
 * The rows enc_keys sent, over what base holds (defaults are freed).
 * A boolean is 0 or 1, or 0xffffffff (-1) for a row without default;
 * a port is within its range; a string with a default or a required
 * one must be there.
 */
static void
dec_keys(struct msgr *r, enum conf_kind kind, void *base, int *bad)
{
	const struct conf_key	*k;
	void			*p;
	uint32_t		 v;

	for (k = conf_keys; k->name != NULL; k++) {
		if (k->kind != kind || k->off < 0 || k->procs == KP_PARENT)
			continue;
		p = conf_key_field(k, base);
		switch (conf_key_store(k->type)) {
		case KST_BOOL:
			v = msg_get_u32(r);
			if (v == UINT32_MAX && k->def == NULL)
				*(int *)p = -1;
			else if (v > 1)
				*bad = 1;
			else
				*(int *)p = v;
			break;
		case KST_UINT:
			*(unsigned int *)p = msg_get_u32(r);
			break;
		case KST_PORT:
			v = msg_get_u32(r);
			if (v < k->min || v > k->max)
				*bad = 1;
			else
				*(uint16_t *)p = v;
			break;
		case KST_FILE:
			conf_file_clear(p, k->flags & KF_SECRET);
			dec_file(r, p, bad);
			break;
		case KST_LIST:
			cidr_list_free(*(struct cidr_list **)p);
			*(struct cidr_list **)p = dec_list(r, bad);
			break;
		case KST_STRING:
			free(*(char **)p);
			*(char **)p = dec_str(r, bad);
			if (*(char **)p == NULL &&
			    (k->def != NULL || (k->flags & KF_REQUIRED)))
				*bad = 1;
			break;
		case KST_NONE:
			break;
		}
	}
}

static int
recv_globals(struct imsg *imsg, struct emailproxy_conf *conf)
{
	struct msgr	 r;
	int		 bad = 0;

	msg_read_init(&r, imsg);
	free(conf->path);
	conf->path = dec_str(&r, &bad);
	dec_keys(&r, CONF_GLOBAL, conf, &bad);
	if (msg_read_end(&r) == -1 || bad || conf->path == NULL)
		return (-1);
	return (0);
}

static int
recv_server(struct imsg *imsg, struct emailproxy_conf *conf)
{
	struct msgr		 r;
	struct server_conf	*s;
	uint32_t		 proto, lport;
	int			 bad = 0;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (-1);
	/* In the list at once, so config_free cleans up after an error. */
	TAILQ_INSERT_TAIL(&conf->servers, s, entry);
	msg_read_init(&r, imsg);
	s->name = dec_str(&r, &bad);
	s->line = msg_get_u32(&r);
	proto = msg_get_u32(&r);
	lport = msg_get_u32(&r);
	dec_keys(&r, CONF_SERVER, s, &bad);
	if (msg_read_end(&r) == -1 || bad || s->name == NULL ||
	    proto > PROTO_SMTP || lport == 0 || lport > 65535)
		return (-1);
	s->proto = proto;
	s->local_port = lport;
	return (0);
}

static int
recv_account(struct imsg *imsg, struct emailproxy_conf *conf)
{
	struct msgr		 r;
	struct account_conf	*a;
	uint32_t		 flow;
	int			 bad = 0;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return (-1);
	TAILQ_INSERT_TAIL(&conf->accounts, a, entry);
	msg_read_init(&r, imsg);
	a->name = dec_str(&r, &bad);
	a->line = msg_get_u32(&r);
	flow = msg_get_u32(&r);
	dec_keys(&r, CONF_ACCOUNT, a, &bad);
	dec_file(&r, &a->service_account_key, &bad);
	if (msg_read_end(&r) == -1 || bad || a->name == NULL ||
	    a->name[0] == '\0' || flow > FLOW_SERVICE_ACCOUNT)
		return (-1);
	a->flow = flow;
	return (0);
}

int
config_recv(struct imsg *imsg, struct emailproxy_conf **pending)
{
	uint32_t	 type = imsg_get_type(imsg);
	int		 rv;

	if (type == IMSG_CONF_START) {
		config_free(*pending);
		if (imsg_get_len(imsg) != 0 ||
		    (*pending = config_new()) == NULL) {
			*pending = NULL;
			return (-1);
		}
		return (0);
	}
	if (*pending == NULL)
		return (-1);
	switch (type) {
	case IMSG_CONF_GLOBALS:
		rv = recv_globals(imsg, *pending);
		break;
	case IMSG_CONF_SERVER:
		rv = recv_server(imsg, *pending);
		break;
	case IMSG_CONF_ACCOUNT:
		rv = recv_account(imsg, *pending);
		break;
	case IMSG_CONF_END:
		if (imsg_get_len(imsg) != 0 || (*pending)->path == NULL) {
			rv = -1;
			break;
		}
		return (1);
	default:
		rv = -1;
		break;
	}
	if (rv == -1) {
		config_free(*pending);
		*pending = NULL;
	}
	return (rv);
}
