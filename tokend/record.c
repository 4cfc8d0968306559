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

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "record.h"

#define RECORD_KDF	"pbkdf2-sha256"
#define RECORD_AEAD	"aes-256-gcm"
#define RECORD_AAD	"emailproxy-record"

/*
 * jansson copies every string it parses or builds; the secret part of a
 * record passes through it, so what it frees is wiped first.
 */
static void *
wipe_malloc(size_t len)
{
	size_t	*p;

	if (len > SIZE_MAX - sizeof(max_align_t))
		return (NULL);
	if ((p = malloc(sizeof(max_align_t) + len)) == NULL)
		return (NULL);
	*p = len;
	return ((char *)p + sizeof(max_align_t));
}

static void
wipe_free(void *ptr)
{
	char	*p;

	if (ptr == NULL)
		return;
	p = (char *)ptr - sizeof(max_align_t);
	freezero(p, sizeof(max_align_t) + *(size_t *)p);
}

void
record_init(void)
{
	json_set_alloc_funcs(wipe_malloc, wipe_free);
}

/* Free what json_dumps returned, with whichever allocator made it. */
static void
json_release(char *p)
{
	json_free_t	fn;

	json_get_alloc_funcs(NULL, &fn);
	fn(p);
}

static uint8_t *
record_aad(const struct record *r, size_t *len)
{
	uint8_t	*aad, *p;
	size_t	 alen = strlen(r->account);

	*len = sizeof(RECORD_AAD) + 8 + TK_SALTLEN + alen;
	if ((p = aad = malloc(*len)) == NULL)
		return (NULL);
	memcpy(p, RECORD_AAD, sizeof(RECORD_AAD));	/* with its NUL */
	p += sizeof(RECORD_AAD);
	*p++ = RECORD_VERSION >> 24;
	*p++ = RECORD_VERSION >> 16 & 0xff;
	*p++ = RECORD_VERSION >> 8 & 0xff;
	*p++ = RECORD_VERSION & 0xff;
	*p++ = r->iterations >> 24;
	*p++ = r->iterations >> 16 & 0xff;
	*p++ = r->iterations >> 8 & 0xff;
	*p++ = r->iterations & 0xff;
	memcpy(p, r->salt, TK_SALTLEN);
	p += TK_SALTLEN;
	memcpy(p, r->account, alen);
	return (aad);
}

int
record_seal(struct record *r, const uint8_t key[TK_KEYLEN],
    const struct record_secrets *s)
{
	json_t	*obj;
	char	*pt = NULL;
	uint8_t	*aad = NULL, *ct = NULL;
	size_t	 ptlen = 0, aadlen;
	int	 rv = -1;

	if ((obj = json_object()) == NULL)
		return (-1);
	if ((s->access_token != NULL && json_object_set_new(obj,
	    "access_token", json_string(s->access_token)) == -1) ||
	    (s->refresh_token != NULL && json_object_set_new(obj,
	    "refresh_token", json_string(s->refresh_token)) == -1) ||
	    (s->client_secret != NULL && json_object_set_new(obj,
	    "client_secret", json_string(s->client_secret)) == -1))
		goto done;
	if ((pt = json_dumps(obj, JSON_COMPACT)) == NULL)
		goto done;
	ptlen = strlen(pt);
	if ((aad = record_aad(r, &aadlen)) == NULL ||
	    (ct = malloc(ptlen + TK_TAGLEN)) == NULL)
		goto done;
	tk_random(r->nonce, sizeof(r->nonce));
	if (tk_seal(key, r->nonce, aad, aadlen, pt, ptlen, ct) == -1)
		goto done;
	free(r->ciphertext);
	r->ciphertext = ct;
	r->ctlen = ptlen + TK_TAGLEN;
	ct = NULL;
	rv = 0;
 done:
	free(ct);
	free(aad);
	if (pt != NULL) {
		explicit_bzero(pt, ptlen);
		json_release(pt);
	}
	json_decref(obj);
	return (rv);
}

static int
secret_get(json_t *obj, const char *name, char **out)
{
	json_t	*v;

	if ((v = json_object_get(obj, name)) == NULL)
		return (0);
	if (!json_is_string(v) || json_string_length(v) !=
	    strlen(json_string_value(v)))
		return (-1);
	if ((*out = strdup(json_string_value(v))) == NULL)
		return (-1);
	return (0);
}

int
record_unseal(const struct record *r, const uint8_t key[TK_KEYLEN],
    struct record_secrets *s)
{
	json_t	*obj = NULL;
	uint8_t	*aad, *pt;
	size_t	 aadlen, ptlen;
	int	 rv = -1;

	memset(s, 0, sizeof(*s));
	if (r->ctlen < TK_TAGLEN)
		return (-1);
	ptlen = r->ctlen - TK_TAGLEN;
	if ((aad = record_aad(r, &aadlen)) == NULL)
		return (-1);
	if ((pt = malloc(ptlen + 1)) == NULL) {
		free(aad);
		return (-1);
	}
	if (tk_open(key, r->nonce, aad, aadlen, r->ciphertext, r->ctlen,
	    pt) == -1)
		goto done;
	if ((obj = json_loadb((char *)pt, ptlen, JSON_REJECT_DUPLICATES,
	    NULL)) == NULL || !json_is_object(obj))
		goto done;
	if (secret_get(obj, "access_token", &s->access_token) == -1 ||
	    secret_get(obj, "refresh_token", &s->refresh_token) == -1 ||
	    secret_get(obj, "client_secret", &s->client_secret) == -1) {
		record_secrets_clear(s);
		goto done;
	}
	rv = 0;
 done:
	json_decref(obj);
	freezero(pt, ptlen + 1);
	free(aad);
	return (rv);
}

char *
record_encode(const struct record *r)
{
	json_t	*obj;
	char	*salt, *nonce, *ct, *dump, *text = NULL;

	salt = b64_encode(r->salt, sizeof(r->salt), 0);
	nonce = b64_encode(r->nonce, sizeof(r->nonce), 0);
	ct = b64_encode(r->ciphertext, r->ctlen, 0);
	if (salt == NULL || nonce == NULL || ct == NULL)
		goto done;
	obj = json_pack("{s:i, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:I,"
	    " s:I, s:I}",
	    "version", RECORD_VERSION,
	    "account", r->account,
	    "kdf", RECORD_KDF,
	    "iterations", (json_int_t)r->iterations,
	    "salt", salt,
	    "aead", RECORD_AEAD,
	    "nonce", nonce,
	    "ciphertext", ct,
	    "access_token_expiry", (json_int_t)r->access_token_expiry,
	    "created", (json_int_t)r->created,
	    "last_refresh", (json_int_t)r->last_refresh,
	    "last_use", (json_int_t)r->last_use);
	if (obj == NULL)
		goto done;
	if ((dump = json_dumps(obj, JSON_INDENT(2) |
	    JSON_PRESERVE_ORDER)) != NULL) {
		text = strdup(dump);
		json_release(dump);
	}
	json_decref(obj);
 done:
	free(salt);
	free(nonce);
	free(ct);
	return (text);
}

static int
b64_field(json_t *obj, const char *name, uint8_t *out, size_t len)
{
	json_t	*v = json_object_get(obj, name);
	uint8_t	*d;
	size_t	 dlen;

	if (!json_is_string(v))
		return (-1);
	if ((d = b64_decode(json_string_value(v), &dlen, 0)) == NULL)
		return (-1);
	if (dlen != len) {
		free(d);
		return (-1);
	}
	memcpy(out, d, len);
	free(d);
	return (0);
}

static int
time_field(json_t *obj, const char *name, int64_t *out)
{
	json_t	*v = json_object_get(obj, name);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return (-1);
	*out = json_integer_value(v);
	return (0);
}

int
record_decode(const char *text, size_t len, struct record *r,
    const char **why)
{
	json_t		*obj, *v;
	json_int_t	 iter;
	const char	*s;

	memset(r, 0, sizeof(*r));
	*why = "not a JSON object";
	if ((obj = json_loadb(text, len, JSON_REJECT_DUPLICATES,
	    NULL)) == NULL)
		return (-1);
	if (!json_is_object(obj))
		goto bad;
	*why = "unknown version";
	v = json_object_get(obj, "version");
	if (!json_is_integer(v) || json_integer_value(v) != RECORD_VERSION)
		goto bad;
	*why = "bad account";
	v = json_object_get(obj, "account");
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) != strlen(json_string_value(v)))
		goto bad;
	if ((r->account = strdup(json_string_value(v))) == NULL)
		goto bad;
	*why = "unknown kdf or aead";
	if ((s = json_string_value(json_object_get(obj, "kdf"))) == NULL ||
	    strcmp(s, RECORD_KDF) != 0 ||
	    (s = json_string_value(json_object_get(obj, "aead"))) == NULL ||
	    strcmp(s, RECORD_AEAD) != 0)
		goto bad;
	*why = "bad iterations";
	v = json_object_get(obj, "iterations");
	if (!json_is_integer(v) || (iter = json_integer_value(v)) < 1 ||
	    iter > INT_MAX)
		goto bad;
	r->iterations = (unsigned int)iter;
	*why = "bad salt or nonce";
	if (b64_field(obj, "salt", r->salt, sizeof(r->salt)) == -1 ||
	    b64_field(obj, "nonce", r->nonce, sizeof(r->nonce)) == -1)
		goto bad;
	*why = "bad ciphertext";
	v = json_object_get(obj, "ciphertext");
	if (!json_is_string(v) || (r->ciphertext = b64_decode(
	    json_string_value(v), &r->ctlen, 0)) == NULL ||
	    r->ctlen < TK_TAGLEN)
		goto bad;
	*why = "bad times";
	if (time_field(obj, "access_token_expiry",
	    &r->access_token_expiry) == -1 ||
	    time_field(obj, "created", &r->created) == -1 ||
	    time_field(obj, "last_refresh", &r->last_refresh) == -1 ||
	    time_field(obj, "last_use", &r->last_use) == -1)
		goto bad;
	json_decref(obj);
	*why = NULL;
	return (0);
 bad:
	json_decref(obj);
	record_clear(r);
	return (-1);
}

void
record_clear(struct record *r)
{
	free(r->account);
	free(r->ciphertext);
	explicit_bzero(r, sizeof(*r));
}

void
record_secrets_clear(struct record_secrets *s)
{
	str_freezero(s->access_token);
	str_freezero(s->refresh_token);
	str_freezero(s->client_secret);
	memset(s, 0, sizeof(*s));
}

static int
dup_secret(char **dst, const char *src)
{
	*dst = NULL;
	if (src != NULL && (*dst = strdup(src)) == NULL)
		return (-1);
	return (0);
}

int
record_secrets_copy(struct record_secrets *dst,
    const struct record_secrets *src)
{
	memset(dst, 0, sizeof(*dst));
	if (dup_secret(&dst->access_token, src->access_token) == -1 ||
	    dup_secret(&dst->refresh_token, src->refresh_token) == -1 ||
	    dup_secret(&dst->client_secret, src->client_secret) == -1) {
		record_secrets_clear(dst);
		return (-1);
	}
	return (0);
}
