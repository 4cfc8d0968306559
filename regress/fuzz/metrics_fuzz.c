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
 * The show stats objects the proxy's /metrics and emailproxyctl show
 * metrics turn into the Prometheus text format and OpenMetrics
 * (common/metrics.c: metrics_merge, metrics_write): what tokend
 * relays, its own and authd's, is as hostile as any other process's
 * bytes.  The first byte picks the format (bit 0: OpenMetrics); the
 * rest is a JSON array of the objects, as the proxy collects them (a
 * non-object element is dropped, as proxy/metrics.c drops it).
 *
 * The output must be what a scraper can read: every line a "# HELP",
 * "# TYPE" or a sample of the family of the last "# TYPE" (a metric
 * name, labels name="value" with only \\, \" and \n escaped, a space and
 * an integer), each family typed once, and with OpenMetrics "# EOF" as
 * the last line.
 *
 * DEPS: common/metrics.c common/log.c
 */

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "metrics.h"
#include "fuzz.h"

#define MAX_FAMILIES	256

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_init(0);
	return (0);
}

/* A metric name at p, up to the first byte that cannot be in one. */
static size_t
name_len(const char *p, const char *end)
{
	const char	*s = p;

	if (p < end && !isalpha((unsigned char)*p) && *p != '_' && *p != ':')
		return (0);
	while (p < end && (isalnum((unsigned char)*p) || *p == '_' ||
	    *p == ':'))
		p++;
	return (p - s);
}

/* name="value"{,name="value"} up to the closing brace: its length. */
static size_t
labels_len(const char *p, const char *end)
{
	const char	*s = p;
	size_t		 n;

	for (;;) {
		if ((n = name_len(p, end)) == 0)
			abort();
		p += n;
		if (end - p < 2 || p[0] != '=' || p[1] != '"')
			abort();
		for (p += 2; p < end && *p != '"'; p++) {
			if (*p != '\\')
				continue;
			if (++p == end || (*p != '\\' && *p != '"' &&
			    *p != 'n'))
				abort();
		}
		if (p == end)
			abort();
		p++;
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p == end || *p != '}')
			abort();
		return (p - s);
	}
}

/* An integer, all of what is left of the line. */
static void
check_integer(const char *p, const char *end)
{
	if (p < end && *p == '-')
		p++;
	if (p == end)
		abort();
	for (; p < end; p++)
		if (!isdigit((unsigned char)*p))
			abort();
}

static void
check_output(const char *out, size_t len, int om)
{
	const char	*p = out, *end = out + len, *eol, *q;
	char		*typed[MAX_FAMILIES], family[512], type[16];
	size_t		 ntyped = 0, n, i, flen = 0;
	int		 seen_eof = 0;

	if (len == 0 || out[len - 1] != '\n' || memchr(out, '\0', len))
		abort();
	for (; p < end; p = eol + 1) {
		eol = memchr(p, '\n', end - p);
		if (seen_eof)
			abort();	/* something after # EOF */
		if (eol - p == 5 && memcmp(p, "# EOF", 5) == 0) {
			if (!om)
				abort();
			seen_eof = 1;
			continue;
		}
		if (eol - p > 7 && (memcmp(p, "# HELP ", 7) == 0 ||
		    memcmp(p, "# TYPE ", 7) == 0)) {
			q = p + 7;
			if ((n = name_len(q, eol)) == 0 || n >= sizeof(family))
				abort();
			if (q + n == eol || q[n] != ' ')
				abort();
			if (p[2] == 'H') {
				/* HELP text: a line, escaped or plain. */
				continue;
			}
			memcpy(family, q, n);
			family[n] = '\0';
			flen = n;
			q += n + 1;
			if ((size_t)(eol - q) >= sizeof(type))
				abort();
			memcpy(type, q, eol - q);
			type[eol - q] = '\0';
			if (strcmp(type, "counter") != 0 &&
			    strcmp(type, "gauge") != 0 &&
			    (!om || strcmp(type, "info") != 0))
				abort();
			for (i = 0; i < ntyped; i++)
				if (strcmp(typed[i], family) == 0)
					abort();	/* typed twice */
			if (ntyped == MAX_FAMILIES)
				abort();
			if ((typed[ntyped++] = strdup(family)) == NULL)
				abort();
			continue;
		}
		/* A sample of the family typed last. */
		if (flen == 0 || (n = name_len(p, eol)) < flen ||
		    memcmp(p, family, flen) != 0)
			abort();
		if (n != flen && !(om && n == flen + 6 &&
		    memcmp(p + flen, "_total", 6) == 0) &&
		    !(om && n == flen + 5 && memcmp(p + flen, "_info", 5) == 0))
			abort();
		q = p + n;
		if (q < eol && *q == '{')
			q += 1 + labels_len(q + 1, eol) + 1;
		if (q == eol || *q != ' ')
			abort();
		check_integer(q + 1, eol);
	}
	if (om && !seen_eof)
		abort();
	for (i = 0; i < ntyped; i++)
		free(typed[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t	 jerr;
	json_t		*in, *list, *o, *stats;
	char		*out = NULL;
	size_t		 outlen = 0, i;
	FILE		*fp;
	int		 om;

	if (size < 1)
		return (0);
	om = data[0] & 1;
	if ((in = json_loadb((const char *)data + 1, size - 1, 0,
	    &jerr)) == NULL)
		return (0);
	if (!json_is_array(in) || (list = json_array()) == NULL) {
		json_decref(in);
		return (0);
	}
	json_array_foreach(in, i, o)
		if (json_is_object(o) && json_array_append(list, o) == -1)
			abort();
	json_decref(in);

	if ((stats = metrics_merge(list)) == NULL)
		abort();
	if ((fp = open_memstream(&out, &outlen)) == NULL)
		abort();
	if (metrics_write(fp, stats, list, om) == -1)
		abort();
	if (fclose(fp) != 0)
		abort();
	check_output(out, outlen, om);
	free(out);
	json_decref(stats);
	json_decref(list);
	return (0);
}
