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
 * The INI reader: Python's configparser.ConfigParser(interpolation=None)
 * with its defaults (strict, empty lines kept in values), which is what
 * the Python proxy's users have written their files for.  Every problem
 * is logged as "file:line: ..." and reading goes on so that one run
 * reports them all.
 */

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "config_parse.h"

struct ini_state {
	struct ini		*ini;
	struct ini_section	*cur;	/* NULL: keys here are dropped */
	struct ini_kv		*kv;	/* value that may continue */
	struct ini_kv		 dropped;	/* a duplicate's lines */
	const char		*path;		/* the file being read */
	int			 included;	/* from include_directory */
	int			 indent;	/* of the last key line */
	int			 errors;
	int			 outside_reported;
};

static int	is_space(int);
static char	*trim(char *);
static void	 ini_line(struct ini_state *, char *, int);
static void	 ini_section(struct ini_state *, char *, int);
static void	 ini_option(struct ini_state *, char *, int);
static void	 ini_append(struct ini_kv *, const char *);

static int
is_space(int c)
{
	return (c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\f' || c == '\v');
}

static char *
trim(char *s)
{
	size_t	 n;

	while (is_space((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_space((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return (s);
}

static void
ini_append(struct ini_kv *kv, const char *piece)
{
	size_t	 o = strlen(kv->value), n = strlen(piece);
	char	*v;

	/* Not realloc: the old copy may hold a secret and is wiped. */
	if ((v = malloc(o + n + 2)) == NULL)
		fatal("%s", __func__);
	memcpy(v, kv->value, o);
	v[o] = '\n';
	memcpy(v + o + 1, piece, n + 1);
	freezero(kv->value, o + 1);
	kv->value = v;
}

static void
ini_section(struct ini_state *st, char *text, int line)
{
	struct ini		*ini = st->ini;
	struct ini_section	*s;
	char			*end;
	size_t			 i;

	/* configparser: "[" then the longest run up to the last "]". */
	end = strrchr(text, ']');
	if (end[1] != '\0')
		log_warnx("%s:%d: [%.*s]: text after \"]\" ignored",
		    st->path, line, (int)(end - text - 1), text + 1);
	*end = '\0';
	text++;
	st->cur = NULL;
	st->kv = NULL;
	st->outside_reported = 0;

	if (strcmp(text, "DEFAULT") == 0) {
		log_warnx("%s:%d: [DEFAULT]: a DEFAULT section is not "
		    "supported; repeat its keys in each section",
		    st->path, line);
		st->errors++;
		st->outside_reported = 1;
		return;
	}
	/* The globals are the main file's alone. */
	if (st->included && strcmp(text, "emailproxy") == 0) {
		log_warnx("%s:%d: [emailproxy]: not allowed in a file of "
		    "include_directory (only in %s)", st->path, line,
		    ini->path);
		st->errors++;
		st->outside_reported = 1;
		return;
	}
	for (i = 0; i < ini->nsec; i++) {
		if (strcmp(ini->sec[i].name, text) == 0) {
			if (strcmp(ini->sec[i].path, st->path) == 0)
				log_warnx("%s:%d: [%s]: duplicate section "
				    "(first at line %d)", st->path, line,
				    text, ini->sec[i].line);
			else
				log_warnx("%s:%d: [%s]: duplicate section "
				    "(first at %s:%d)", st->path, line, text,
				    ini->sec[i].path, ini->sec[i].line);
			st->errors++;
			st->outside_reported = 1;
			return;
		}
	}
	s = reallocarray(ini->sec, ini->nsec + 1, sizeof(*ini->sec));
	if (s == NULL)
		fatal("%s", __func__);
	ini->sec = s;
	s = &ini->sec[ini->nsec++];
	memset(s, 0, sizeof(*s));
	if ((s->name = strdup(text)) == NULL ||
	    (s->path = strdup(st->path)) == NULL)
		fatal("%s", __func__);
	s->line = line;
	st->cur = s;
}

static void
ini_option(struct ini_state *st, char *text, int line)
{
	struct ini_section	*s = st->cur;
	struct ini_kv		*kv;
	char			*delim, *key, *value, *p;
	size_t			 i;

	st->kv = NULL;
	if (s == NULL) {
		/* Inside a rejected section the error is already out. */
		if (!st->outside_reported) {
			log_warnx("%s:%d: no section header before this "
			    "line", st->path, line);
			st->errors++;
			st->outside_reported = 1;
		}
		return;
	}
	delim = text + strcspn(text, "=:");
	if (*delim == '\0') {
		log_warnx("%s:%d: [%s]: line is neither \"key = value\" "
		    "nor a section header", st->path, line, s->name);
		st->errors++;
		return;
	}
	*delim = '\0';
	key = trim(text);
	value = trim(delim + 1);
	if (*key == '\0') {
		log_warnx("%s:%d: [%s]: empty key name", st->path, line,
		    s->name);
		st->errors++;
		return;
	}
	for (p = key; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	for (i = 0; i < s->nkv; i++) {
		if (strcmp(s->kv[i].key, key) == 0) {
			log_warnx("%s:%d: %s: duplicate key in [%s] (first "
			    "at line %d)", st->path, line, key, s->name,
			    s->kv[i].line);
			st->errors++;
			/* Its continuation lines are not keys. */
			kv = &st->dropped;
			free(kv->value);
			if ((kv->value = strdup("")) == NULL)
				fatal("%s", __func__);
			st->kv = kv;
			return;
		}
	}
	kv = reallocarray(s->kv, s->nkv + 1, sizeof(*s->kv));
	if (kv == NULL)
		fatal("%s", __func__);
	s->kv = kv;
	kv = &s->kv[s->nkv++];
	if ((kv->key = strdup(key)) == NULL ||
	    (kv->value = strdup(value)) == NULL)
		fatal("%s", __func__);
	kv->line = line;
	st->kv = kv;
}

static void
ini_line(struct ini_state *st, char *line, int lineno)
{
	char	*text;
	int	 indent;

	for (indent = 0; is_space((unsigned char)line[indent]); indent++)
		;
	text = trim(line);

	/* Whole-line comments only, even inside a multi-line value. */
	if (*text == '#' || *text == ';')
		return;
	if (*text == '\0') {
		/* Kept inside a value; trailing ones go at the end. */
		if (st->kv != NULL)
			ini_append(st->kv, "");
		return;
	}
	if (st->kv != NULL && indent > st->indent) {
		ini_append(st->kv, text);
		return;
	}
	st->indent = indent;
	if (*text == '[' && strrchr(text, ']') > text + 1)
		ini_section(st, text, lineno);
	else
		ini_option(st, text, lineno);
}

static void
ini_finish_values(struct ini *ini)
{
	struct ini_section	*s;
	size_t			 i, j, n;
	char			*v;

	for (i = 0; i < ini->nsec; i++) {
		s = &ini->sec[i];
		for (j = 0; j < s->nkv; j++) {
			v = s->kv[j].value;
			n = strlen(v);
			while (n > 0 && is_space((unsigned char)v[n - 1]))
				v[--n] = '\0';
		}
	}
}

/* Reads path into st->ini; 0, -1 after logging, 1 when missing and ok. */
static int
ini_read_file(struct ini_state *st, const char *path, int missing_ok)
{
	FILE		*fp;
	char		*line = NULL;
	size_t		 linesize = 0;
	ssize_t		 len;
	int		 lineno = 0;

	st->path = path;
	st->cur = NULL;
	st->kv = NULL;
	st->outside_reported = 0;
	if ((fp = fopen(path, "r")) == NULL) {
		if (missing_ok && errno == ENOENT)
			return (1);
		log_warn("%s", path);
		return (-1);
	}
	while ((len = getline(&line, &linesize, fp)) != -1) {
		lineno++;
		if (memchr(line, '\0', len) != NULL) {
			log_warnx("%s:%d: NUL byte in line", path, lineno);
			st->errors++;
			continue;
		}
		/* A UTF-8 byte order mark is not part of the first line. */
		if (lineno == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
			memmove(line, line + 3, len - 2);
		ini_line(st, line, lineno);
	}
	if (ferror(fp)) {
		log_warn("%s", path);
		st->errors++;
	}
	freezero(line, linesize);
	freezero(st->dropped.value, st->dropped.value == NULL ? 0 :
	    strlen(st->dropped.value));
	st->dropped.value = NULL;
	fclose(fp);
	ini_finish_values(st->ini);
	return (st->errors ? -1 : 0);
}

struct ini *
ini_read(const char *path, int missing_ok)
{
	struct ini_state st;
	struct ini	*ini;

	memset(&st, 0, sizeof(st));
	if ((ini = calloc(1, sizeof(*ini))) == NULL ||
	    (ini->path = strdup(path)) == NULL)
		fatal("%s", __func__);
	st.ini = ini;
	if (ini_read_file(&st, path, missing_ok) == -1) {
		ini_free(ini);
		return (NULL);
	}
	return (ini);
}

static int
name_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/*
 * The "*.conf" files of dir, in byte order of their names, added to
 * ini as if they followed the main file.  They hold account and server
 * sections only; a section already read (in any file) is an error that
 * names both places.  Names starting with "." are skipped.  0, or -1
 * after logging every error.
 */
int
ini_include_dir(struct ini *ini, const char *dir, const char *key_where)
{
	struct ini_state st;
	struct dirent	*de;
	DIR		*d;
	char		**names = NULL, path[PATH_MAX];
	size_t		 n = 0, i, len;
	int		 rv = 0;

	if ((d = opendir(dir)) == NULL) {
		log_warn("%s: include_directory: %s", key_where, dir);
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len <= 5 ||
		    strcmp(de->d_name + len - 5, ".conf") != 0)
			continue;
		if ((names = reallocarray(names, n + 1,
		    sizeof(*names))) == NULL ||
		    (names[n] = strdup(de->d_name)) == NULL)
			fatal("%s", __func__);
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    names[i]) >= sizeof(path)) {
			log_warnx("%s: include_directory: %s/%s: path too "
			    "long", key_where, dir, names[i]);
			rv = -1;
			continue;
		}
		memset(&st, 0, sizeof(st));
		st.ini = ini;
		st.included = 1;
		if (ini_read_file(&st, path, 0) != 0)
			rv = -1;
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return (rv);
}

void
ini_free(struct ini *ini)
{
	struct ini_section	*s;
	size_t			 i, j;

	if (ini == NULL)
		return;
	for (i = 0; i < ini->nsec; i++) {
		s = &ini->sec[i];
		for (j = 0; j < s->nkv; j++) {
			free(s->kv[j].key);
			/* Values may be client secrets or cached tokens. */
			freezero(s->kv[j].value, strlen(s->kv[j].value));
		}
		free(s->kv);
		free(s->name);
		free(s->path);
	}
	free(ini->sec);
	free(ini->path);
	free(ini);
}
