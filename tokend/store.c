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

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "store.h"

#define TMP_PREFIX	".tmp-"
#define CORRUPT_MAX	100

int	(*store_fault)(enum store_step);

static int
fault(enum store_step step)
{
	return (store_fault != NULL && store_fault(step));
}

int
store_init(struct store *st, const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	int		 fd;

	st->ops = NULL;
	st->be = NULL;
	st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd == -1) {
		log_warn("token store %s", dir);
		return (-1);
	}
	if ((fd = dup(st->dirfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		log_warn("token store %s", dir);
		if (fd != -1)
			close(fd);
		return (0);
	}
	/* A write that did not reach its rename left only a temp file. */
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
			continue;
		if (unlinkat(st->dirfd, de->d_name, 0) == -1)
			log_warn("token store: %s", de->d_name);
		else
			log_debug("token store: removed unfinished %s",
			    de->d_name);
	}
	closedir(d);
	return (0);
}

void
store_close(struct store *st)
{
	if (st->ops != NULL && st->ops->close != NULL)
		st->ops->close(st);
	st->ops = NULL;
	if (st->dirfd != -1)
		close(st->dirfd);
	st->dirfd = -1;
}

static int
name_plain(unsigned char c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '@' || c == '.' || c == '_' ||
	    c == '+' || c == '-');
}

int
store_name(const char *account, char *buf, size_t len)
{
	static const char	 hexd[] = "0123456789ABCDEF";
	unsigned char		 md[32], c;
	unsigned int		 mdlen;
	size_t			 i, o = 0;

	for (i = 0; account[i] != '\0' && o <= STORE_NAME_MAX; i++) {
		c = (unsigned char)account[i];
		if (name_plain(c) && !(i == 0 && c == '.')) {
			if (o + 1 >= len)
				return (-1);
			buf[o++] = c;
		} else {
			if (o + 3 >= len)
				return (-1);
			buf[o++] = '%';
			buf[o++] = hexd[c >> 4];
			buf[o++] = hexd[c & 15];
		}
	}
	if (i == 0)
		return (-1);
	if (o > STORE_NAME_MAX) {
		if (EVP_Digest(account, strlen(account), md, &mdlen,
		    EVP_sha256(), NULL) != 1 || len < 7 + 64 + 5 + 1)
			return (-1);
		memcpy(buf, "sha256-", 7);
		for (o = 7, i = 0; i < mdlen; i++) {
			buf[o++] = "0123456789abcdef"[md[i] >> 4];
			buf[o++] = "0123456789abcdef"[md[i] & 15];
		}
	}
	if (o + 5 + 1 > len)
		return (-1);
	memcpy(buf + o, ".json", 6);
	return (0);
}

/* Move an unusable record aside under a name nothing else uses. */
static void
store_quarantine(struct store *st, const char *name, const char *why)
{
	char		aside[256];
	struct stat	sb;
	int		i;

	for (i = 0; i < CORRUPT_MAX; i++) {
		if (i == 0)
			snprintf(aside, sizeof(aside), "%s.corrupt", name);
		else
			snprintf(aside, sizeof(aside), "%s.corrupt.%d", name,
			    i);
		if (fstatat(st->dirfd, aside, &sb, AT_SYMLINK_NOFOLLOW) ==
		    -1 && errno == ENOENT)
			break;
	}
	if (i == CORRUPT_MAX) {
		log_warnx("token store: %s is unusable (%s) and %d copies are "
		    "already set aside; leaving it", name, why, CORRUPT_MAX);
		return;
	}
	if (renameat(st->dirfd, name, st->dirfd, aside) == -1) {
		log_warn("token store: rename %s to %s", name, aside);
		return;
	}
	fsync(st->dirfd);
	log_warnx("token store: %s is unusable (%s); moved to %s", name, why,
	    aside);
}

static int
file_load(struct store *st, const char *account, struct record *r)
{
	char		 name[256], *text;
	const char	*why;
	struct stat	 sb;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd;

	memset(r, 0, sizeof(*r));
	if (store_name(account, name, sizeof(name)) == -1)
		return (-1);
	fd = openat(st->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return (0);
		log_warn("token store: %s", name);
		return (-1);
	}
	if (fstat(fd, &sb) == -1) {
		log_warn("token store: %s", name);
		close(fd);
		return (-1);
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size > RECORD_MAXSIZE) {
		close(fd);
		store_quarantine(st, name, "not a regular file of sane size");
		return (0);
	}
	if ((text = malloc(sb.st_size + 1)) == NULL) {
		close(fd);
		return (-1);
	}
	while (off < (size_t)sb.st_size) {
		n = read(fd, text + off, sb.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
	}
	close(fd);
	if (off != (size_t)sb.st_size) {
		log_warn("token store: short read of %s", name);
		free(text);
		return (-1);
	}
	text[off] = '\0';
	if (record_decode(text, off, r, &why) == -1) {
		free(text);
		store_quarantine(st, name, why);
		return (0);
	}
	free(text);
	if (strcmp(r->account, account) != 0) {
		record_clear(r);
		store_quarantine(st, name, "it names another account");
		return (0);
	}
	return (1);
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= n;
	}
	return (0);
}

static int	 file_write(struct store *, const char *, const char *,
		    size_t, int);
static int	 read_small(int, const char *, char **, size_t *);

static int
file_save(struct store *st, struct record *r)
{
	char		 name[256], *text;
	int		 rv;

	if (store_name(r->account, name, sizeof(name)) == -1) {
		log_warnx("token store: no file name for this account");
		return (-1);
	}
	if ((text = record_encode(r)) == NULL) {
		log_warnx("token store: cannot encode %s", name);
		return (-1);
	}
	rv = file_write(st, name, text, strlen(text), 1);
	free(text);
	return (rv);
}

int
store_file_write(struct store *st, const char *account, const char *text,
    size_t len)
{
	char	name[256];

	if (store_name(account, name, sizeof(name)) == -1) {
		log_warnx("token store: no file name for this account");
		return (-1);
	}
	return (file_write(st, name, text, len, 0));
}

/* text (and a newline when nl) as the file name, atomically. */
static int
file_write(struct store *st, const char *name, const char *text, size_t len,
    int nl)
{
	char		 tmp[64], rnd[8];
	size_t		 i;
	int		 fd = -1, rv = -1;

	tk_random(rnd, sizeof(rnd));
	memcpy(tmp, TMP_PREFIX, strlen(TMP_PREFIX));
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(tmp + strlen(TMP_PREFIX) + i * 2, 3, "%02x",
		    (unsigned char)rnd[i]);

	if (fault(STORE_STEP_CREATE))
		goto done;
	fd = openat(st->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1) {
		log_warn("token store: create %s", tmp);
		goto done;
	}
	if (fault(STORE_STEP_WRITE)) {
		(void)write_all(fd, text, len / 2);
		goto done;
	}
	if (write_all(fd, text, len) == -1 ||
	    (nl && write_all(fd, "\n", 1) == -1)) {
		log_warn("token store: write %s", tmp);
		goto fail;
	}
	if (fault(STORE_STEP_FSYNC))
		goto done;
	if (fsync(fd) == -1) {
		log_warn("token store: fsync %s", tmp);
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		log_warn("token store: close %s", tmp);
		goto fail;
	}
	fd = -1;
	if (fault(STORE_STEP_RENAME))
		goto done;
	if (renameat(st->dirfd, tmp, st->dirfd, name) == -1) {
		log_warn("token store: rename %s to %s", tmp, name);
		goto fail;
	}
	if (fault(STORE_STEP_DIRSYNC))
		goto done;
	/* The rename is durable only once the directory is. */
	if (fsync(st->dirfd) == -1)
		log_warn("token store: fsync of the directory");
	rv = 0;
	goto done;
 fail:
	unlinkat(st->dirfd, tmp, 0);
 done:
	if (fd != -1)
		close(fd);
	return (rv);
}

static int
file_writable(struct store *st)
{
	int	fd, saved_errno;

	/* A ".tmp-" name: store_init removes one a crash leaves. */
	if ((fd = openat(st->dirfd, ".tmp-health", O_WRONLY | O_CREAT |
	    O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		return (-1);
	close(fd);
	if (unlinkat(st->dirfd, ".tmp-health", 0) == -1) {
		saved_errno = errno;
		log_warn("token store: .tmp-health");
		errno = saved_errno;
		return (-1);
	}
	return (0);
}

static int
file_has(struct store *st, const char *account)
{
	char		name[256];
	struct stat	sb;

	if (store_name(account, name, sizeof(name)) == -1)
		return (0);
	return (fstatat(st->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0);
}

static int
file_remove(struct store *st, const char *account)
{
	char	name[256];

	if (store_name(account, name, sizeof(name)) == -1)
		return (0);
	if (unlinkat(st->dirfd, name, 0) == -1) {
		if (errno == ENOENT)
			return (0);
		log_warn("token store: unlink %s", name);
		return (-1);
	}
	fsync(st->dirfd);
	return (1);
}

static int
tomb_name(const char *account, char *buf, size_t len)
{
	if (store_name(account, buf, len) == -1 ||
	    strlcat(buf, ".forgotten", len) >= len)
		return (-1);
	return (0);
}

static int
file_forget_mark(struct store *st, const char *account)
{
	char	name[256];
	int	fd;

	if (tomb_name(account, name, sizeof(name)) == -1)
		return (-1);
	fd = openat(st->dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1) {
		log_warn("token store: create %s", name);
		return (-1);
	}
	if (fsync(fd) == -1) {
		log_warn("token store: fsync %s", name);
		close(fd);
		return (-1);
	}
	close(fd);
	fsync(st->dirfd);
	return (0);
}

static int
file_forgotten(struct store *st, const char *account)
{
	char		name[256];
	struct stat	sb;

	if (tomb_name(account, name, sizeof(name)) == -1)
		return (0);
	return (fstatat(st->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0);
}

static int
file_forget_clear(struct store *st, const char *account)
{
	char	name[256];

	if (tomb_name(account, name, sizeof(name)) == -1)
		return (0);
	if (unlinkat(st->dirfd, name, 0) == -1) {
		if (errno == ENOENT)
			return (0);
		log_warn("token store: unlink %s", name);
		return (-1);
	}
	fsync(st->dirfd);
	return (0);
}

int
store_file_read(struct store *st, const char *name, char **text,
    size_t *len)
{
	return (read_small(st->dirfd, name, text, len));
}

static int
read_small(int dirfd, const char *name, char **out, size_t *outlen)
{
	struct stat	 sb;
	char		*text;
	ssize_t		 n;
	size_t		 off = 0;
	int		 fd;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return (-1);
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > RECORD_MAXSIZE ||
	    (text = malloc(sb.st_size + 1)) == NULL) {
		close(fd);
		return (-1);
	}
	while (off < (size_t)sb.st_size) {
		n = read(fd, text + off, sb.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
	}
	close(fd);
	text[off] = '\0';
	*out = text;
	*outlen = off;
	return (0);
}

static void
file_list(struct store *st, void (*fn)(const struct record *, void *),
    void *arg)
{
	DIR		*d;
	struct dirent	*de;
	struct record	 r;
	const char	*why;
	char		*text;
	size_t		 len, nlen;
	int		 fd;

	if ((fd = dup(st->dirfd)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		nlen = strlen(de->d_name);
		if (de->d_name[0] == '.' || nlen <= 5 ||
		    strcmp(de->d_name + nlen - 5, ".json") != 0)
			continue;
		if (read_small(st->dirfd, de->d_name, &text, &len) == -1)
			continue;
		if (record_decode(text, len, &r, &why) == 0) {
			fn(&r, arg);
			record_clear(&r);
		}
		free(text);
	}
	closedir(d);
}

/*
 * The interface: another backend (store_redis.c) sets st->ops; without
 * one the functions above keep the records as files in st->dirfd.
 */
int
store_load(struct store *st, const char *account, struct record *r)
{
	if (st->ops != NULL)
		return (st->ops->load(st, account, r));
	return (file_load(st, account, r));
}

int
store_save(struct store *st, struct record *r)
{
	if (st->ops != NULL)
		return (st->ops->save(st, r));
	return (file_save(st, r));
}

int
store_writable(struct store *st)
{
	if (st->ops != NULL)
		return (st->ops->writable(st));
	return (file_writable(st));
}

int
store_has(struct store *st, const char *account)
{
	if (st->ops != NULL)
		return (st->ops->has(st, account));
	return (file_has(st, account));
}

int
store_remove(struct store *st, const char *account)
{
	if (st->ops != NULL)
		return (st->ops->remove(st, account));
	return (file_remove(st, account));
}

int
store_forget_mark(struct store *st, const char *account)
{
	if (st->ops != NULL)
		return (st->ops->forget_mark(st, account));
	return (file_forget_mark(st, account));
}

int
store_forgotten(struct store *st, const char *account)
{
	if (st->ops != NULL)
		return (st->ops->forgotten(st, account));
	return (file_forgotten(st, account));
}

int
store_forget_clear(struct store *st, const char *account)
{
	if (st->ops != NULL)
		return (st->ops->forget_clear(st, account));
	return (file_forget_clear(st, account));
}

void
store_list(struct store *st, void (*fn)(const struct record *, void *),
    void *arg)
{
	if (st->ops != NULL)
		st->ops->list(st, fn, arg);
	else
		file_list(st, fn, arg);
}

/* Only a shared store has other instances to keep out. */
int
store_lock(struct store *st, const char *account, unsigned int ms)
{
	if (st->ops != NULL && st->ops->lock != NULL)
		return (st->ops->lock(st, account, ms));
	return (1);
}

void
store_unlock(struct store *st, const char *account)
{
	if (st->ops != NULL && st->ops->unlock != NULL)
		st->ops->unlock(st, account);
}

int
store_shared(struct store *st)
{
	return (st->ops != NULL && st->ops->lock != NULL);
}

int
store_available(struct store *st)
{
	if (st->ops != NULL && st->ops->available != NULL)
		return (st->ops->available(st));
	return (1);
}
