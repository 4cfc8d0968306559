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
 * tokend/crypto.c and tokend/fernet.c: PBKDF2-HMAC-SHA256 against
 * published vectors, AES-256-GCM round trip and tamper detection,
 * base64, Fernet against the spec vector and against tokens made now by
 * Python's cryptography package (the Python proxy's own algorithm).
 *
 * DEPS: tokend/crypto.c tokend/fernet.c common/secret.c common/base64.c
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"

static int	failed;

static void
check(int ok, const char *what, const char *fmt, ...)
{
	va_list	ap;

	if (ok) {
		printf("PASS: %s\n", what);
		return;
	}
	failed = 1;
	printf("FAIL: %s: ", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static char *
hex(const uint8_t *p, size_t len)
{
	static char	buf[512];
	size_t		i;

	for (i = 0; i < len && i * 2 + 2 < sizeof(buf); i++)
		snprintf(buf + i * 2, 3, "%02x", p[i]);
	buf[i * 2] = '\0';
	return (buf);
}

struct kdf_vector {
	const char	*pw;
	size_t		 pwlen;
	const char	*salt;
	size_t		 saltlen;
	unsigned int	 iter;
	const char	*dk;
};

/* RFC 7914 §11 and the widely published RFC 6070-style SHA-256 set. */
static const struct kdf_vector kdf_vectors[] = {
	{ "password", 8, "salt", 4, 1,
	    "120fb6cffcf8b32c43e7225256c4f837"
	    "a86548c92ccc35480805987cb70be17b" },
	{ "password", 8, "salt", 4, 2,
	    "ae4d0c95af6b46d32d0adff928f06dd0"
	    "2a303f8ef3c251dfd6e2d85a95474c43" },
	{ "password", 8, "salt", 4, 4096,
	    "c5e478d59288c841aa530db6845c4c8d"
	    "962893a001ce4e11a4963873aa98134a" },
	{ "passwordPASSWORDpassword", 24,
	    "saltSALTsaltSALTsaltSALTsaltSALTsalt", 36, 4096,
	    "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1"
	    "c635518c7dac47e9" },
	{ "pass\0word", 9, "sa\0lt", 5, 4096,
	    "89b69d0516f829893c696226650a8687" },
	{ "passwd", 6, "salt", 4, 1,
	    "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
	    "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a197"
	    "83" },
};

static void
test_kdf(void)
{
	uint8_t		out[64];
	char		what[128];
	size_t		i, len;
	unsigned long	runs = tk_kdf_runs;

	for (i = 0; i < sizeof(kdf_vectors) / sizeof(kdf_vectors[0]); i++) {
		const struct kdf_vector *v = &kdf_vectors[i];

		len = strlen(v->dk) / 2;
		snprintf(what, sizeof(what),
		    "PBKDF2-HMAC-SHA256 vector %zu (c=%u, dkLen=%zu)", i + 1,
		    v->iter, len);
		if (tk_kdf(v->pw, v->pwlen, (const uint8_t *)v->salt,
		    v->saltlen, v->iter, out, len) == -1) {
			check(0, what, "tk_kdf failed");
			continue;
		}
		check(strcmp(hex(out, len), v->dk) == 0, what, "got %s",
		    hex(out, len));
	}
	check(tk_kdf_runs - runs == i, "KDF run counter counts every run",
	    "%lu runs counted for %zu", tk_kdf_runs - runs, i);
	check(tk_kdf("x", 1, (const uint8_t *)"s", 1, 0, out, 32) == -1,
	    "PBKDF2 refuses 0 iterations", "accepted");
}

static void
test_aead(void)
{
	uint8_t		key[TK_KEYLEN], key2[TK_KEYLEN], nonce[TK_NONCELEN];
	uint8_t		ct[64 + TK_TAGLEN], pt[64];
	const char	*msg = "{\"access_token\":\"secret\"}";
	const char	*aad = "emailproxy-record-1";
	size_t		 len = strlen(msg), i;
	int		 all;

	tk_random(key, sizeof(key));
	tk_random(nonce, sizeof(nonce));
	check(tk_seal(key, nonce, aad, strlen(aad), msg, len, ct) == 0,
	    "AES-256-GCM seals", "seal failed");
	check(memcmp(ct, msg, len) != 0, "ciphertext differs from plaintext",
	    "plaintext visible");
	memset(pt, 0, sizeof(pt));
	check(tk_open(key, nonce, aad, strlen(aad), ct, len + TK_TAGLEN,
	    pt) == 0 && memcmp(pt, msg, len) == 0,
	    "AES-256-GCM round trip", "open failed or wrong plaintext");

	/* Every single-bit flip anywhere in ciphertext or tag is caught. */
	all = 1;
	for (i = 0; i < (len + TK_TAGLEN) * 8; i++) {
		ct[i / 8] ^= 1 << (i % 8);
		if (tk_open(key, nonce, aad, strlen(aad), ct, len + TK_TAGLEN,
		    pt) == 0)
			all = 0;
		ct[i / 8] ^= 1 << (i % 8);
	}
	check(all, "every bit flip of ciphertext or tag is rejected",
	    "a flipped bit decrypted");
	check(tk_open(key, nonce, "emailproxy-record-2", strlen(aad), ct,
	    len + TK_TAGLEN, pt) == -1, "changed associated data is rejected",
	    "decrypted");
	memcpy(key2, key, sizeof(key));
	key2[0] ^= 1;
	check(tk_open(key2, nonce, aad, strlen(aad), ct, len + TK_TAGLEN,
	    pt) == -1, "wrong key is rejected", "decrypted");
	nonce[0] ^= 1;
	check(tk_open(key, nonce, aad, strlen(aad), ct, len + TK_TAGLEN,
	    pt) == -1, "wrong nonce is rejected", "decrypted");
	nonce[0] ^= 1;
	check(tk_open(key, nonce, aad, strlen(aad), ct, len + TK_TAGLEN - 1,
	    pt) == -1, "truncated ciphertext is rejected", "decrypted");
	check(tk_open(key, nonce, aad, strlen(aad), ct, 5, pt) == -1,
	    "ciphertext shorter than the tag is rejected", "decrypted");
}

static void
test_equal_b64(void)
{
	char	*s;
	uint8_t	*d;
	size_t	 len;

	check(tk_equal("abc", "abc", 3) && !tk_equal("abc", "abd", 3),
	    "constant-time compare", "wrong result");
	check(tk_strequal("tok", "tok") && !tk_strequal("tok", "toke") &&
	    !tk_strequal("tok", NULL) && tk_strequal(NULL, NULL),
	    "string compare handles lengths and NULL", "wrong result");

	s = b64_encode("\xfb\xff\x01", 3, 0);
	check(s != NULL && strcmp(s, "+/8B") == 0, "base64 standard alphabet",
	    "got %s", s ? s : "NULL");
	free(s);
	s = b64_encode("\xfb\xff\x01", 3, B64_URL);
	check(s != NULL && strcmp(s, "-_8B") == 0, "base64 url-safe alphabet",
	    "got %s", s ? s : "NULL");
	free(s);
	s = b64_encode("ab", 2, 0);
	check(s != NULL && strcmp(s, "YWI=") == 0, "base64 padding",
	    "got %s", s ? s : "NULL");
	free(s);
	s = b64_encode("a", 1, B64_URL | B64_NOPAD);
	check(s != NULL && strcmp(s, "YQ") == 0, "base64 without padding",
	    "got %s", s ? s : "NULL");
	free(s);
	d = b64_decode("YWI=", &len, 0);
	check(d != NULL && len == 2 && memcmp(d, "ab", 2) == 0,
	    "base64 decode with padding", "wrong");
	free(d);
	d = b64_decode("YWI", &len, 0);
	check(d != NULL && len == 2, "base64 decode without padding", "wrong");
	free(d);
	d = b64_decode("YW=I", &len, 0);
	check(d == NULL, "base64 rejects data after padding", "accepted");
	free(d);
	d = b64_decode("Y*WI=", &len, 0);
	check(d == NULL, "base64 strict rejects stray bytes", "accepted");
	free(d);
	d = b64_decode("Y*W\nI=", &len, B64_LENIENT);
	check(d != NULL && len == 2 && memcmp(d, "ab", 2) == 0,
	    "base64 lenient skips stray bytes (Python's decoder)", "wrong");
	free(d);
	d = b64_decode("-_8B", &len, 0);
	check(d == NULL, "standard decoder rejects url-safe bytes",
	    "accepted");
	free(d);
}

static void
test_fernet_spec(void)
{
	uint8_t		*key, *pt;
	size_t		 klen, len;
	const char	*tok = "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ"
	    "_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==";
	char		 bad[256];

	key = b64_decode("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=",
	    &klen, B64_URL);
	if (key == NULL || klen != TK_KEYLEN) {
		check(0, "Fernet spec vector key decodes", "bad key");
		return;
	}
	pt = tk_fernet_decrypt(key, tok, &len);
	check(pt != NULL && len == 5 && memcmp(pt, "hello", 5) == 0,
	    "Fernet spec vector decrypts (no TTL)", "got %s",
	    pt ? (char *)pt : "NULL");
	free(pt);
	/* Flip one character of the HMAC, of the IV, of the version. */
	strlcpy(bad, tok, sizeof(bad));
	bad[strlen(bad) - 4] = bad[strlen(bad) - 4] == 'A' ? 'B' : 'A';
	check(tk_fernet_decrypt(key, bad, &len) == NULL,
	    "Fernet rejects a changed HMAC", "decrypted");
	strlcpy(bad, tok, sizeof(bad));
	bad[20] = bad[20] == 'A' ? 'B' : 'A';
	check(tk_fernet_decrypt(key, bad, &len) == NULL,
	    "Fernet rejects a changed IV", "decrypted");
	strlcpy(bad, tok, sizeof(bad));
	bad[0] = 'h';
	check(tk_fernet_decrypt(key, bad, &len) == NULL,
	    "Fernet rejects a wrong version byte", "decrypted");
	check(tk_fernet_decrypt(key, "gAAAAA", &len) == NULL,
	    "Fernet rejects a short token", "decrypted");
	check(tk_fernet_decrypt(key, "not base64 at all!", &len) == NULL,
	    "Fernet rejects bad base64", "decrypted");
	freezero(key, klen);
}

/*
 * Make Fernet tokens the way the Python proxy does:
 * PBKDF2HMAC(SHA256, 32, salt, iterations) of the UTF-8 password,
 * url-safe base64 as the Fernet key.  Arguments are hex so nothing needs
 * quoting.
 */
static const char py_fernet[] =
"import base64, sys\n"
"from cryptography.fernet import Fernet\n"
"from cryptography.hazmat.primitives import hashes\n"
"from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC\n"
"salt = bytes.fromhex(sys.argv[1])\n"
"it = int(sys.argv[2])\n"
"pw = bytes.fromhex(sys.argv[3])\n"
"kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt,\n"
"    iterations=it)\n"
"f = Fernet(base64.urlsafe_b64encode(kdf.derive(pw)))\n"
"for a in sys.argv[4:]:\n"
"    print(f.encrypt(bytes.fromhex(a)).decode())\n";

static char	pyscript[256];

static int
python_ready(void)
{
	const char	*tmp;
	FILE		*fp;
	int		 fd;

	if (access("/usr/bin/python3", X_OK) == -1 ||
	    system("/usr/bin/python3 -c 'import cryptography' "
	    ">/dev/null 2>&1") != 0)
		return (0);
	if ((tmp = getenv("REGRESS_TMP")) == NULL)
		tmp = "/tmp";
	snprintf(pyscript, sizeof(pyscript), "%s/tokend_fernet_XXXXXX", tmp);
	if ((fd = mkstemp(pyscript)) == -1 || (fp = fdopen(fd, "w")) == NULL)
		return (0);
	fputs(py_fernet, fp);
	fclose(fp);
	return (1);
}

/* One Fernet token of text, or NULL. */
static char *
python_fernet(const uint8_t *salt, size_t saltlen, unsigned int iter,
    const char *pw, const char *text)
{
	char	 cmd[4096], line[1024], pwhex[512], txhex[1024];
	FILE	*fp;
	size_t	 n;

	strlcpy(pwhex, hex((const uint8_t *)pw, strlen(pw)), sizeof(pwhex));
	strlcpy(txhex, hex((const uint8_t *)text, strlen(text)),
	    sizeof(txhex));
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s %u %s %s",
	    pyscript, hex(salt, saltlen), iter, pwhex, txhex);
	if ((fp = popen(cmd, "r")) == NULL)
		return (NULL);
	if (fgets(line, sizeof(line), fp) == NULL) {
		pclose(fp);
		return (NULL);
	}
	if (pclose(fp) != 0)
		return (NULL);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	return (strdup(line));
}

static void
test_fernet_python(void)
{
	struct tk_multifernet	 mf;
	uint8_t			 salt[TK_SALTLEN], key[TK_KEYLEN], *pt;
	char			*tok, *s, *saltb64;
	const char		*pw = "p\xc3\xa4ssw\xc3\xb6rd \"'$";
	size_t			 len;
	unsigned long		 runs;

	if (!python_ready()) {
		printf("SKIP: Fernet against Python (no /usr/bin/python3 "
		    "with cryptography)\n");
		return;
	}
	tk_random(salt, sizeof(salt));
	saltb64 = b64_encode(salt, sizeof(salt), 0);

	/* Plain Fernet with a key we derive ourselves. */
	tok = python_fernet(salt, sizeof(salt), 1000, pw, "token-1000");
	check(tok != NULL, "Python made a Fernet token", "python failed");
	if (tok == NULL)
		goto done;
	tk_kdf(pw, strlen(pw), salt, sizeof(salt), 1000, key, sizeof(key));
	pt = tk_fernet_decrypt(key, tok, &len);
	check(pt != NULL && strcmp((char *)pt, "token-1000") == 0,
	    "Python Fernet token decrypts with our PBKDF2 key", "got %s",
	    pt ? (char *)pt : "NULL");
	free(pt);
	tk_kdf("other", 5, salt, sizeof(salt), 1000, key, sizeof(key));
	check(tk_fernet_decrypt(key, tok, &len) == NULL,
	    "Python Fernet token does not decrypt with another password",
	    "decrypted");
	free(tok);

	/* MultiFernet: the stored count is tried after 1200000. */
	tok = python_fernet(salt, sizeof(salt), 870000, pw,
	    "refresh-870000");
	if (tk_multifernet_init(&mf, pw, saltb64, "870000") == -1) {
		check(0, "MultiFernet init", "failed");
		goto done;
	}
	check(mf.nkeys == 3 && mf.iterations[0] == 1200000 &&
	    mf.iterations[1] == 870000 && mf.iterations[2] == 100000,
	    "MultiFernet iteration set is {1200000, stored, 100000} "
	    "descending", "got %d keys", mf.nkeys);
	runs = tk_kdf_runs;
	s = tok ? tk_multifernet_decrypt(&mf, tok) : NULL;
	check(s != NULL && strcmp(s, "refresh-870000") == 0,
	    "MultiFernet decrypts a token made with the stored count",
	    "got %s", s ? s : "NULL");
	check(tk_kdf_runs - runs == 2, "MultiFernet derived 2 keys lazily",
	    "%lu runs", tk_kdf_runs - runs);
	str_freezero(s);
	free(tok);
	tok = python_fernet(salt, sizeof(salt), 100000, pw, "legacy");
	runs = tk_kdf_runs;
	s = tok ? tk_multifernet_decrypt(&mf, tok) : NULL;
	check(s != NULL && strcmp(s, "legacy") == 0 &&
	    tk_kdf_runs - runs == 1,
	    "MultiFernet falls back to 100000 and reuses derived keys",
	    "got %s after %lu runs", s ? s : "NULL", tk_kdf_runs - runs);
	str_freezero(s);
	tk_multifernet_clear(&mf);
	free(tok);

	/* No token_iterations: the set is {1200000, 100000}. */
	tok = python_fernet(salt, sizeof(salt), 1200000, pw, "current");
	tk_multifernet_init(&mf, pw, saltb64, NULL);
	check(mf.nkeys == 2, "absent token_iterations means 100000",
	    "%d keys", mf.nkeys);
	s = tok ? tk_multifernet_decrypt(&mf, tok) : NULL;
	check(s != NULL && strcmp(s, "current") == 0,
	    "MultiFernet decrypts a 1200000-iteration token", "got %s",
	    s ? s : "NULL");
	str_freezero(s);
	tk_multifernet_clear(&mf);
	tk_multifernet_init(&mf, "wrong", saltb64, NULL);
	s = tok ? tk_multifernet_decrypt(&mf, tok) : NULL;
	check(s == NULL, "MultiFernet with a wrong password fails",
	    "decrypted");
	tk_multifernet_clear(&mf);
	free(tok);
	check(tk_multifernet_init(&mf, pw, "", NULL) == -1 &&
	    tk_multifernet_init(&mf, pw, saltb64, "12x") == -1,
	    "unusable token_salt or token_iterations refuse import",
	    "accepted");
 done:
	free(saltb64);
	unlink(pyscript);
}

int
main(void)
{
	test_kdf();
	test_aead();
	test_equal_b64();
	test_fernet_spec();
	test_fernet_python();
	return (failed);
}
