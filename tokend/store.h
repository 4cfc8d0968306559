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
 * The token store: a directory holding one record file per account
 * (format in record.h).  tokend runs chrooted into it, so the daemon
 * passes "/"; tests pass a scratch directory.
 *
 * File names: the account name with every byte outside [A-Za-z0-9@._+-]
 * and a leading '.' written as %XX, then ".json"; a name that would be
 * longer than STORE_NAME_MAX becomes "sha256-<hex of the name>.json".
 * No name contains '/' or starts with '.', so none can leave the
 * directory or collide with the ".tmp-*" files of an unfinished write.
 * An unparsable record is renamed NAME.corrupt (or NAME.corrupt.N) and
 * logged, never deleted.
 */

#ifndef TOKEND_STORE_H
#define TOKEND_STORE_H

#include "record.h"

#define STORE_NAME_MAX	200

struct store_ops;
struct store {
	int			 dirfd;
	const struct store_ops	*ops;	/* NULL: files in dirfd */
	void			*be;	/* the backend's own state */
};

/*
 * Returns besides 0, 1 and -1: STORE_DOWN from load, has and lock
 * when a shared store cannot be reached (a temporary failure: nothing
 * was read or written); STORE_CONFLICT from save when the store holds
 * a newer record than the one the write replaces (r->version): the
 * write was not done.
 */
#define STORE_DOWN	(-2)
#define STORE_CONFLICT	(-3)

/*
 * A backend other than the files (store_redis.c).  Each function has
 * the contract of the store_ function of the same name below.
 */
struct store_ops {
	int	(*load)(struct store *, const char *, struct record *);
	int	(*save)(struct store *, struct record *);
	int	(*writable)(struct store *);
	int	(*has)(struct store *, const char *);
	int	(*remove)(struct store *, const char *);
	int	(*forget_mark)(struct store *, const char *);
	int	(*forgotten)(struct store *, const char *);
	int	(*forget_clear)(struct store *, const char *);
	void	(*list)(struct store *, void (*)(const struct record *,
		    void *), void *);
	int	(*lock)(struct store *, const char *, unsigned int);
	void	(*unlock)(struct store *, const char *);
	int	(*available)(struct store *);
	void	(*close)(struct store *);
};

/*
 * The steps of an atomic write.  store_fault (tests only) is called
 * before each; a non-zero return stops the write there as a crash
 * would (STORE_STEP_WRITE then writes only half the file).
 */
enum store_step {
	STORE_STEP_CREATE,	/* create the temporary file */
	STORE_STEP_WRITE,	/* write the record into it */
	STORE_STEP_FSYNC,	/* fsync it */
	STORE_STEP_RENAME,	/* rename it over the record */
	STORE_STEP_DIRSYNC,	/* fsync the directory */
	STORE_STEP_MAX
};
extern int	(*store_fault)(enum store_step);

/* Open the directory and remove temporary files left by a crash. */
int	 store_init(struct store *, const char *dir);
void	 store_close(struct store *);
/* The file name for an account; -1 if it does not fit. */
int	 store_name(const char *account, char *buf, size_t len);
/*
 * 1 and *r filled; 0 if there is no (usable) record; -1 on an I/O
 * error.  A record that does not parse or names another account is
 * moved aside (.corrupt) and reported as 0.
 */
int	 store_load(struct store *, const char *account, struct record *);
/*
 * Write atomically; 0 or -1 (the old record, if any, stays intact).  A
 * shared store writes only over the version r->version names (0: no
 * record) and sets r->version to the new one; else STORE_CONFLICT.
 */
int	 store_save(struct store *, struct record *);
/* 0 if a file can be created and deleted in the store, else -1 (errno). */
int	 store_writable(struct store *);
/* 1 if the account has a record file (not read, not checked). */
int	 store_has(struct store *, const char *account);
/* Delete an account's record: 1 done, 0 there was none, -1 error. */
int	 store_remove(struct store *, const char *account);
/*
 * The mark of an account whose tokens the administrator deleted
 * (NAME.forgotten beside the record): while it exists, the Python
 * proxy's cached tokens are not imported.  A new authorisation clears
 * it.  mark and clear: 0 or -1; forgotten: 1 or 0.
 */
int	 store_forget_mark(struct store *, const char *account);
int	 store_forgotten(struct store *, const char *account);
int	 store_forget_clear(struct store *, const char *account);
/*
 * Call fn for every readable record (clear part only; the ciphertext
 * is not checked).  Unreadable files are skipped, not moved.
 */
void	 store_list(struct store *, void (*fn)(const struct record *,
	    void *), void *arg);

/*
 * The files as they are (emailproxy -M copies them byte for byte):
 * read a file of the directory (NUL-terminated, *len without it), 0 or
 * -1; write text as an account's record file, atomically, 0 or -1.
 */
int	 store_file_read(struct store *, const char *name, char **text,
	    size_t *len);
int	 store_file_write(struct store *, const char *account,
	    const char *text, size_t len);

/*
 * Several instances sharing one store: the lock of an account's
 * refresh.  store_lock: 1 taken (for ms milliseconds at most), 0 held
 * by another instance, STORE_DOWN; always 1 for the files, which only
 * one instance uses.  store_unlock gives it back if still ours.
 */
int	 store_lock(struct store *, const char *account, unsigned int ms);
void	 store_unlock(struct store *, const char *account);
/* 1 when other instances may share the store (it has locks). */
int	 store_shared(struct store *);
/* 0 while a shared store cannot be reached, else 1. */
int	 store_available(struct store *);

#endif /* TOKEND_STORE_H */
