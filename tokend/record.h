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
 * Token records: one per account, kept by store.c as one JSON file.
 *
 * On-disk format, version 1 (a JSON object, UTF-8):
 *
 *	version			1
 *	account			the account name (login name, domain in
 *				lower case)
 *	kdf			"pbkdf2-sha256"
 *	iterations		PBKDF2 iteration count for this record
 *	salt			base64 (standard, padded) of 16 random bytes
 *	aead			"aes-256-gcm"
 *	nonce			base64 of the 12-byte GCM nonce, new for
 *				every write
 *	ciphertext		base64 of the sealed secret part followed by
 *				the 16-byte GCM tag
 *	access_token_expiry	Unix seconds; 0 when there is no access token
 *	created			Unix seconds the record was first written
 *	last_refresh		Unix seconds the tokens were last obtained
 *	last_use		Unix seconds of the last login it answered
 *
 * The key is PBKDF2-HMAC-SHA256(login password, salt, iterations), 32
 * bytes.  The secret part is a JSON object with the strings
 * access_token, refresh_token and client_secret, each left out when
 * absent (client_secret only with encrypt_client_secret_on_first_use or
 * an imported client_secret_encrypted).  The associated data binds the
 * ciphertext to its record: "emailproxy-record", a NUL, the version and
 * iteration count as 4-byte big-endian integers, the 16 salt bytes, then
 * the account name.  Unknown members are ignored, so a later version
 * may add clear metadata; a change of the secret part or its key bumps
 * version.
 */

#ifndef TOKEND_RECORD_H
#define TOKEND_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define RECORD_VERSION		1
#define RECORD_MAXSIZE		(64 * 1024)

struct record {
	char		*account;
	unsigned int	 iterations;
	uint8_t		 salt[TK_SALTLEN];
	uint8_t		 nonce[TK_NONCELEN];
	uint8_t		*ciphertext;	/* with the tag */
	size_t		 ctlen;
	int64_t		 access_token_expiry;
	int64_t		 created;
	int64_t		 last_refresh;
	int64_t		 last_use;
	uint64_t	 version;	/* a shared store's write count,
					   not part of the text (store.h) */
};

struct record_secrets {
	char		*access_token;
	char		*refresh_token;
	char		*client_secret;
};

/* Make jansson wipe what it frees; call before any other jansson use. */
void	 record_init(void);

/* Seal secrets under key with a fresh nonce; 0 or -1. */
int	 record_seal(struct record *, const uint8_t key[TK_KEYLEN],
	    const struct record_secrets *);
/* 0, or -1 if the key is wrong or the record was tampered with. */
int	 record_unseal(const struct record *, const uint8_t key[TK_KEYLEN],
	    struct record_secrets *);

/* The file's text (malloc), or NULL. */
char	*record_encode(const struct record *);
/* 0, or -1 with *why set when the text is not a valid record. */
int	 record_decode(const char *, size_t, struct record *,
	    const char **why);

void	 record_clear(struct record *);
void	 record_secrets_clear(struct record_secrets *);
/* Deep copy; 0 or -1. */
int	 record_secrets_copy(struct record_secrets *,
	    const struct record_secrets *);

#endif /* TOKEND_RECORD_H */
