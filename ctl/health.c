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
 * emailproxyctl health: the proxy answers for each configured listener,
 * tokend for the token store and for the accounts that need a person's
 * authorisation.  A failed check is one line; the accounts are a
 * warning, a problem only when strict.
 */

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"

static const char *
field(json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return (s != NULL ? s : "?");
}

int
health_report(json_t *list, int strict, int print)
{
	json_t		*o, *v;
	size_t		 i, j;
	int		 problems = 0, warnings = 0, listeners = 0;

	json_array_foreach(list, i, o) {
		if (strcmp(field(o, "check"), "listener") == 0)
			listeners++;
		if (json_is_true(json_object_get(o, "ok")))
			continue;
		if (json_is_true(json_object_get(o, "warning")))
			warnings++;
		else
			problems++;
		if (!print)
			continue;
		if (json_is_true(json_object_get(o, "warning")))
			printf("warning: ");
		printf("%s %s: %s", field(o, "check"), field(o, "name"),
		    field(o, "problem"));
		json_array_foreach(json_object_get(o, "accounts"), j, v)
			printf("%s%s", j == 0 ? ": " : ", ",
			    json_string_value(v) != NULL ?
			    json_string_value(v) : "?");
		printf("\n");
	}
	if (problems > 0 || (strict && warnings > 0))
		return (1);
	if (print)
		printf("healthy: %d listener%s up, the token store "
		    "writable\n", listeners, listeners == 1 ? "" : "s");
	return (0);
}
