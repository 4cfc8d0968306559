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
 * Read the files a configuration names (certificates, keys, CA bundles,
 * service-account keys).  Only the parent does this; the children get
 * the contents over imsg and never open them (DESIGN.md).
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "log.h"
#include "config.h"

/* Everything travels in messages of at most IMSG_MAXSIZE_PARENT. */
#define CONF_FILE_MAX	(IMSG_MAXSIZE_PARENT - 64 * 1024)

static int	load_file(const char *, struct conf_file *, const char *);
static int	no_passphrase(char *, int, int, void *);
static void	file_warn(const char *, const struct conf_file *, const char *,
		    const char *);
static int	load_cert_dirs(struct emailproxy_conf *);
static int	check_keypair(const char *, const struct conf_file *,
		    const char *, const struct conf_file *, const char *);

/* "file:line: key: path: reason", or "key: path: reason" for none. */
static void
file_warn(const char *conf_path, const struct conf_file *f, const char *key,
    const char *reason)
{
	if (f->line == 0)
		log_warnx("%s: %s: %s", key, f->path, reason);
	else
		log_warnx("%s:%d: %s: %s: %s", conf_path, f->line, key,
		    f->path, reason);
}

static int
load_file(const char *conf_path, struct conf_file *f, const char *key)
{
	struct stat	 st;
	char		*buf = NULL;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd, saved;

	if (f->path == NULL)
		return (0);
	if ((fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		goto fail;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		file_warn(conf_path, f, key, "not a regular file");
		close(fd);
		return (-1);
	}
	if (st.st_size > CONF_FILE_MAX) {
		file_warn(conf_path, f, key, "larger than the 960 KiB a "
		    "configuration file may be");
		close(fd);
		return (-1);
	}
	if ((buf = malloc(st.st_size + 1)) == NULL)
		fatal("%s", __func__);
	/* Bounded by the size seen; a file that grows is cut there. */
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		off += n;
	}
	close(fd);
	buf[off] = '\0';
	if (f->data != NULL)
		freezero(f->data, f->len + 1);
	f->data = buf;
	f->len = off;
	return (0);

 fail:
	saved = errno;
	if (buf != NULL)
		freezero(buf, st.st_size + 1);
	if (fd != -1)
		close(fd);
	file_warn(conf_path, f, key, strerror(saved));
	return (-1);
}

/*
 * The certificates of the SSL_CERT_DIR directories (":"-separated), as
 * OpenSSL finds them there: the files named by subject hash, "89abcdef.0",
 * each a certificate once.  Added to the CA bundle's data.
 */
static int
load_cert_dirs(struct emailproxy_conf *conf)
{
	struct conf_file	 f;
	struct dirent		*de;
	DIR			*d;
	char			*dirs, *dir, *next, *buf, path[4096];
	size_t			 len, n;
	int			 rv = 0;

	if (conf->ca_dir == NULL)
		return (0);
	if ((dirs = strdup(conf->ca_dir)) == NULL)
		fatal("%s", __func__);
	len = conf->ca_file.data != NULL ? conf->ca_file.len : 0;
	for (next = dirs; rv == 0 && (dir = strsep(&next, ":")) != NULL;) {
		if (*dir == '\0')
			continue;
		/* As OpenSSL does, a directory that is not there is skipped. */
		if ((d = opendir(dir)) == NULL) {
			log_warn("SSL_CERT_DIR: %s%s", dir, errno == ENOENT ?
			    ", skipped" : "");
			if (errno == ENOENT)
				continue;
			rv = -1;
			break;
		}
		while (rv == 0 && (de = readdir(d)) != NULL) {
			n = strlen(de->d_name);
			if (n < 10 || strspn(de->d_name, "0123456789abcdef") !=
			    8 || de->d_name[8] != '.' ||
			    strspn(de->d_name + 9, "0123456789") != n - 9)
				continue;
			memset(&f, 0, sizeof(f));
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			f.path = path;
			if (load_file(conf->path, &f, "SSL_CERT_DIR") == -1) {
				rv = -1;
				break;
			}
			if (len + f.len + 1 > CONF_FILE_MAX) {
				log_warnx("SSL_CERT_DIR: %s: more certificates "
				    "than the 960 KiB a CA bundle may be", dir);
				free(f.data);
				rv = -1;
				break;
			}
			if ((buf = realloc(conf->ca_file.data,
			    len + f.len + 2)) == NULL)
				fatal("%s", __func__);
			/* A file may lack its last newline. */
			buf[len] = '\n';
			memcpy(buf + len + 1, f.data, f.len + 1);
			conf->ca_file.data = buf;
			len += f.len + 1;
			conf->ca_file.len = len;
			free(f.data);
		}
		closedir(d);
	}
	free(dirs);
	/* The bundle is known by a name, even when it is only these. */
	if (rv == 0 && conf->ca_file.path == NULL &&
	    conf->ca_file.data != NULL &&
	    (conf->ca_file.path = strdup(conf->ca_dir)) == NULL)
		fatal("%s", __func__);
	return (rv);
}

/* An encrypted key is never asked a passphrase for (no terminal). */
static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	return (0);
}

/*
 * A certificate and its private key, as given: each file holds what its
 * key says (not the other swapped in), and the key is the certificate's.
 * Files that are not PEM at all are left to whoever uses them.
 */
static int
check_keypair(const char *conf_path, const struct conf_file *cert,
    const char *certkey, const struct conf_file *key, const char *keykey)
{
	BIO		*bio;
	X509		*x509 = NULL;
	EVP_PKEY	*pkey = NULL;
	int		 rv = 0;

	if (cert->data == NULL || key->data == NULL)
		return (0);
	if (strstr(cert->data, "-----BEGIN CERTIFICATE-----") == NULL &&
	    strstr(cert->data, "PRIVATE KEY-----") != NULL) {
		log_warnx("%s:%d: %s: %s holds a private key, not a "
		    "certificate (are %s and %s swapped?)", conf_path,
		    cert->line, certkey, cert->path, certkey, keykey);
		rv = -1;
	}
	if (strstr(key->data, "PRIVATE KEY-----") == NULL &&
	    strstr(key->data, "-----BEGIN CERTIFICATE-----") != NULL) {
		log_warnx("%s:%d: %s: %s holds a certificate, not a private "
		    "key (are %s and %s swapped?)", conf_path, key->line,
		    keykey, key->path, certkey, keykey);
		rv = -1;
	}
	if (rv == -1)
		return (-1);

	if ((bio = BIO_new_mem_buf(cert->data, cert->len)) == NULL)
		fatalx("%s: BIO_new_mem_buf", __func__);
	x509 = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if ((bio = BIO_new_mem_buf(key->data, key->len)) == NULL)
		fatalx("%s: BIO_new_mem_buf", __func__);
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (x509 != NULL && pkey != NULL && X509_check_private_key(x509,
	    pkey) != 1) {
		log_warnx("%s:%d: %s: the key in %s is not the key of the "
		    "certificate in %s (%s)", conf_path, key->line, keykey,
		    key->path, cert->path, certkey);
		rv = -1;
	}
	EVP_PKEY_free(pkey);
	X509_free(x509);
	/* What failed to parse is not our business here. */
	ERR_clear_error();
	return (rv);
}

int
config_load_files(struct emailproxy_conf *conf)
{
	struct server_conf	*s;
	struct account_conf	*a;
	int			 rv = 0;

	if (load_file(conf->path, &conf->ca_file, conf->ca_env ?
	    "SSL_CERT_FILE" : "ca_file") == -1 || load_cert_dirs(conf) == -1)
		rv = -1;
	if (load_file(conf->path, &conf->authorisation_page_certificate,
	    "authorisation_page_certificate") == -1 ||
	    load_file(conf->path, &conf->authorisation_page_key,
	    "authorisation_page_key") == -1 ||
	    check_keypair(conf->path, &conf->authorisation_page_certificate,
	    "authorisation_page_certificate", &conf->authorisation_page_key,
	    "authorisation_page_key") == -1)
		rv = -1;
	TAILQ_FOREACH(s, &conf->servers, entry) {
		if (load_file(s->file, &s->local_certificate,
		    "local_certificate_path") == -1)
			rv = -1;
		if (load_file(s->file, &s->local_key,
		    "local_key_path") == -1)
			rv = -1;
		if (load_file(s->file, &s->server_ca,
		    "server_ca_file") == -1)
			rv = -1;
		if (check_keypair(s->file, &s->local_certificate,
		    "local_certificate_path", &s->local_key,
		    "local_key_path") == -1)
			rv = -1;
	}
	TAILQ_FOREACH(a, &conf->accounts, entry) {
		if (load_file(a->file, &a->jwt_certificate,
		    "jwt_certificate_path") == -1)
			rv = -1;
		if (load_file(a->file, &a->jwt_key, "jwt_key_path") == -1)
			rv = -1;
		if (check_keypair(a->file, &a->jwt_certificate,
		    "jwt_certificate_path", &a->jwt_key, "jwt_key_path") == -1)
			rv = -1;
		if (load_file(a->file, &a->service_account_key,
		    "client_secret") == -1)
			rv = -1;
	}
	return (rv);
}
