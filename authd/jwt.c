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
 * Random values, PKCE and RS256-signed JWT assertions (Google service
 * accounts; Entra certificate credentials).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "emailproxy.h"
#include "log.h"
#include "authd.h"

/* nbytes of randomness as base64url: OAuth state and PKCE verifiers. */
char *
random_b64url(size_t nbytes)
{
	unsigned char	 buf[128];
	char		*s;

	if (nbytes > sizeof(buf))
		return (NULL);
	arc4random_buf(buf, nbytes);
	s = b64_encode(buf, nbytes, B64_URL | B64_NOPAD);
	explicit_bzero(buf, sizeof(buf));
	return (s);
}

/* RFC 7636 S256: base64url(SHA-256(verifier)). */
char *
pkce_challenge(const char *verifier)
{
	unsigned char	 md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)verifier, strlen(verifier), md);
	return (b64_encode(md, sizeof(md), B64_URL | B64_NOPAD));
}

/* Never prompt for a passphrase on a terminal: keys have none. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return (-1);
}

static EVP_PKEY *
load_key(const char *pem)
{
	BIO		*bio;
	EVP_PKEY	*pkey;

	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		return (NULL);
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (pkey != NULL && EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
		EVP_PKEY_free(pkey);
		return (NULL);
	}
	return (pkey);
}

static char *
json_b64url(json_t *j)
{
	char	*s, *out;

	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		return (NULL);
	out = b64_encode(s, strlen(s), B64_URL | B64_NOPAD);
	free(s);
	return (out);
}

/* header.claims.signature, RS256 with the PEM private key. */
static char *
jwt_sign(json_t *header, json_t *claims, const char *keypem)
{
	EVP_PKEY	*pkey = NULL;
	EVP_MD_CTX	*ctx = NULL;
	unsigned char	*sig = NULL;
	size_t		 siglen = 0;
	char		*h = NULL, *c = NULL, *in = NULL, *s = NULL;
	char		*jwt = NULL;

	if ((pkey = load_key(keypem)) == NULL)
		goto done;
	if ((h = json_b64url(header)) == NULL ||
	    (c = json_b64url(claims)) == NULL ||
	    asprintf(&in, "%s.%s", h, c) == -1) {
		in = NULL;
		goto done;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, (unsigned char *)in,
	    strlen(in)) != 1 ||
	    (sig = malloc(siglen)) == NULL ||
	    EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)in,
	    strlen(in)) != 1 ||
	    (s = b64_encode(sig, siglen, B64_URL | B64_NOPAD)) == NULL)
		goto done;
	if (asprintf(&jwt, "%s.%s", in, s) == -1)
		jwt = NULL;
 done:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	free(sig);
	free(h);
	free(c);
	free(in);
	free(s);
	return (jwt);
}

/* base64url(SHA-256(DER certificate)) with its '=' padding (x5t#S256). */
static char *
x5t_s256(const char *certpem)
{
	BIO		*bio;
	X509		*x;
	unsigned char	*der = NULL, md[SHA256_DIGEST_LENGTH];
	int		 len;
	char		*s = NULL;

	if ((bio = BIO_new_mem_buf(certpem, -1)) == NULL)
		return (NULL);
	x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (x == NULL)
		return (NULL);
	if ((len = i2d_X509(x, &der)) > 0) {
		SHA256(der, len, md);
		s = b64_encode(md, sizeof(md), B64_URL);
	}
	OPENSSL_free(der);
	X509_free(x);
	return (s);
}

static void
uuid4(char out[37])
{
	unsigned char	 b[16];

	arc4random_buf(b, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;	/* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Entra certificate credentials: the RS256 client_assertion. */
char *
jwt_entra_assertion(const char *certpem, const char *keypem,
    const char *client_id, const char *aud, time_t now)
{
	json_t	*h, *c;
	char	*x5t, *jwt = NULL, jti[37];

	if ((x5t = x5t_s256(certpem)) == NULL)
		return (NULL);
	uuid4(jti);
	h = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT",
	    "x5t#S256", x5t);
	c = json_pack("{s:s, s:I, s:s, s:s, s:I, s:s}", "aud", aud,
	    "exp", (json_int_t)(now + JWT_ENTRA_LIFETIME), "iss", client_id,
	    "jti", jti, "nbf", (json_int_t)now, "sub", client_id);
	if (h != NULL && c != NULL)
		jwt = jwt_sign(h, c, keypem);
	json_decref(h);
	json_decref(c);
	free(x5t);
	return (jwt);
}

/*
 * Google service account: the RS256 JWT-bearer assertion.  aud is the
 * token endpoint the assertion is posted to (the key file's token_uri):
 * RFC 7523 section 3 lets the server refuse any other audience.
 */
char *
jwt_google_assertion(const char *keypem, const char *kid, const char *iss,
    const char *scope, const char *sub, const char *aud, time_t now)
{
	json_t	*h, *c;
	char	*jwt = NULL;

	if (kid != NULL)
		h = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT",
		    "kid", kid);
	else
		h = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
	c = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s}",
	    "iat", (json_int_t)now,
	    "exp", (json_int_t)(now + JWT_GOOGLE_LIFETIME),
	    "iss", iss, "aud", aud, "scope", scope, "sub", sub);
	if (h != NULL && c != NULL)
		jwt = jwt_sign(h, c, keypem);
	json_decref(h);
	json_decref(c);
	return (jwt);
}
