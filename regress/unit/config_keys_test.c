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
 * The table of configuration keys: one row per name in a section,
 * defaults that parse, inherited defaults that exist, numbers sent to
 * every process of their section, and the manual page in step with it
 * (every row named in emailproxy.conf.5, every key the page lists under
 * SERVER SECTIONS, ACCOUNT SECTIONS or GLOBAL SECTION valid there, with
 * the default and the range of the table where the page gives them).
 *
 * DEPS: common/config_keys.c common/config.c common/config_parse.c common/config_check.c common/account_complete.c common/config_files.c common/cidr.c common/log.c common/secret.c common/redis_url.c
 */

#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "config.h"
#include "config_keys.h"

static int	 failures;

static void	 check(int, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
static char	*slurp(const char *);
static int	 item_agrees(const struct conf_key *, const char *);

static void
check(int ok, const char *fmt, ...)
{
	va_list	 ap;

	printf(ok ? "PASS: " : "FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok) {
		printf(": check failed");
		failures++;
	}
	printf("\n");
	fflush(stdout);
}

static char *
slurp(const char *path)
{
	FILE	*fp;
	char	*buf;
	long	 n;

	if ((fp = fopen(path, "r")) == NULL)
		return (NULL);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	if ((buf = calloc(1, n + 1)) == NULL ||
	    fread(buf, 1, n, fp) != (size_t)n) {
		fclose(fp);
		free(buf);
		return (NULL);
	}
	fclose(fp);
	return (buf);
}

static void
test_rows(void)
{
	const struct conf_key	*k, *o, *g;
	struct emailproxy_conf	*conf;
	unsigned int		 sec, all;
	int			 ok;

	ok = 1;
	for (k = conf_keys; k->name != NULL; k++)
		for (o = k + 1; o->name != NULL; o++)
			for (sec = KS_GLOBAL; sec <= KS_CACHE; sec <<= 1)
				if ((k->sections & o->sections & sec) &&
				    strcmp(k->name, o->name) == 0) {
					printf("two rows %s\n", k->name);
					ok = 0;
				}
	check(ok, "key table: no name has two rows in one kind of section");

	ok = 1;
	for (k = conf_keys; k->name != NULL; k++) {
		if (!(k->flags & KF_INHERIT))
			continue;
		g = conf_key_find(k->name, KS_GLOBAL);
		if (g == NULL || g->type != k->type || g->off < 0 ||
		    g->min != k->min || g->max != k->max) {
			printf("%s inherits nothing alike\n", k->name);
			ok = 0;
		}
	}
	check(ok, "key table: a default from [emailproxy] comes from a "
	    "global row of the same type and range");

	ok = 1;
	for (k = conf_keys; k->name != NULL; k++) {
		if (k->off < 0 || k->procs == KP_PARENT)
			continue;
		all = k->kind == CONF_ACCOUNT ? (KP_TOKEND | KP_AUTHD) :
		    KP_ALL;
		if ((k->type == KT_BOOL || k->type == KT_UINT ||
		    k->type == KT_PORT) && k->procs != all) {
			printf("%s: a number withheld\n", k->name);
			ok = 0;
		}
		if (k->kind == CONF_ACCOUNT && (k->procs & KP_PROXY)) {
			printf("%s: the proxy gets no account\n", k->name);
			ok = 0;
		}
	}
	check(ok, "key table: numbers go to every process of their "
	    "section, account values never to the proxy");

	/* fatalx() on a default that does not parse. */
	conf = config_new();
	check(conf != NULL && conf->kdf_iterations == 1200000 &&
	    conf->delete_account_token_on_password_error == 1 &&
	    strcmp(conf->user, EMAILPROXY_USER) == 0 &&
	    conf->control_group == NULL,
	    "config_new: the table's defaults");
	config_free(conf);
}

/*
 * The manual's item for k (from its .It line to the next) states the
 * table's default ("The default is 600", "The default is\n.Cm true")
 * and, when it gives a range, the table's.
 */
static int
item_agrees(const struct conf_key *k, const char *text)
{
	regex_t		 re;
	const char	*p;
	char		 range[64];
	int		 ok = 1, has_range;

	if (k->def != NULL && !(k->flags & KF_INHERIT)) {
		if ((p = strstr(text, "The default is")) == NULL ||
		    strstr(p, k->def) == NULL ||
		    strstr(p, k->def) > p + strlen("The default is") + 6) {
			printf("%s: the manual does not give the default "
			    "%s\n", k->name, k->def);
			ok = 0;
		}
	}
	if (k->type != KT_UINT && k->type != KT_PORT)
		return (ok);
	if (regcomp(&re, "[0-9]+ to [0-9]+", REG_EXTENDED | REG_NOSUB) != 0)
		return (0);
	has_range = regexec(&re, text, 0, NULL, 0) == 0;
	regfree(&re);
	snprintf(range, sizeof(range), "%lld to %lld", k->min, k->max);
	if (has_range && strstr(text, range) == NULL) {
		printf("%s: the manual's range is not %s\n", k->name, range);
		ok = 0;
	}
	return (ok);
}

/* ".It Ic name" lines under the .Sh of each kind of section. */
static void
test_manual(void)
{
	static const struct {
		const char	*sh;
		unsigned int	 sec;
	} shs[] = {
		{ ".Sh SERVER SECTIONS", KS_SERVER },
		{ ".Sh ACCOUNT SECTIONS", KS_ACCOUNT },
		{ ".Sh GLOBAL SECTION", KS_GLOBAL }
	};
	const struct conf_key	*k;
	const char		*top;
	char			 path[1024], word[128], *man, *line, *next;
	char			*end, *item;
	unsigned int		 sec = 0;
	size_t			 i;
	int			 ok, listed = 0, agree = 1;

	top = getenv("REGRESS_TOP");
	snprintf(path, sizeof(path), "%s/emailproxy.conf.5",
	    top != NULL ? top : ".");
	if ((man = slurp(path)) == NULL) {
		check(0, "read %s", path);
		return;
	}
	ok = 1;
	for (k = conf_keys; k->name != NULL; k++) {
		snprintf(word, sizeof(word), "Ic %s\n", k->name);
		if (strstr(man, word) == NULL) {
			snprintf(word, sizeof(word), "Ic %s ", k->name);
			if (strstr(man, word) == NULL) {
				printf("%s not in the manual\n", k->name);
				ok = 0;
			}
		}
	}
	check(ok, "emailproxy.conf.5 names every key of the table");

	ok = 1;
	for (line = man; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strncmp(line, ".Sh ", 4) == 0) {
			sec = 0;
			for (i = 0; i < sizeof(shs) / sizeof(shs[0]); i++)
				if (strcmp(line, shs[i].sh) == 0)
					sec = shs[i].sec;
			continue;
		}
		if (sec == 0 || sscanf(line, ".It Ic %127[a-z0-9_]",
		    word) != 1)
			continue;
		listed++;
		if ((k = conf_key_find(word, sec)) == NULL) {
			printf("%s: in the manual, not in the table\n", word);
			ok = 0;
			continue;
		}
		/* The item's text: up to the next item or section. */
		end = next;
		while (end != NULL && strncmp(end, ".It Ic ", 7) != 0 &&
		    strncmp(end, ".Sh ", 4) != 0 &&
		    (end = strchr(end, '\n')) != NULL)
			end++;
		item = end != NULL ? strndup(next, end - next) :
		    strdup(next != NULL ? next : "");
		if (item == NULL || !item_agrees(k, item))
			agree = 0;
		free(item);
	}
	check(ok && listed > 40, "every key emailproxy.conf.5 lists (%d) "
	    "is in the table for its kind of section", listed);
	check(agree, "emailproxy.conf.5 gives the table's defaults and "
	    "ranges");
	free(man);
}

int
main(void)
{
	log_init(1, 0);
	test_rows();
	test_manual();
	return (failures != 0);
}
