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
 * The metrics formatter (common/metrics.c) given show stats objects a
 * hostile process could send: a key that is not a metric name, a key
 * whose family another family already has, counters whose sum or
 * difference does not fit.
 *
 * DEPS: common/metrics.c
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "metrics.h"

static int	failures;

static void
check(int ok, const char *fmt, ...)
{
	va_list	ap;

	printf(ok ? "PASS: " : "FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok)
		failures++;
}

/* The page for the objects in json (an array), or NULL. */
static char *
page(const char *json, int om)
{
	json_error_t	 err;
	json_t		*list, *stats;
	char		*out = NULL;
	size_t		 len = 0;
	FILE		*fp;
	int		 r;

	if ((list = json_loads(json, 0, &err)) == NULL ||
	    (stats = metrics_merge(list)) == NULL ||
	    (fp = open_memstream(&out, &len)) == NULL)
		return (NULL);
	r = metrics_write(fp, stats, list, om);
	fclose(fp);
	json_decref(stats);
	json_decref(list);
	if (r == -1) {
		free(out);
		return (NULL);
	}
	return (out);
}

static int
count(const char *s, const char *what)
{
	int	 n = 0;

	while (s != NULL && (s = strstr(s, what)) != NULL) {
		n++;
		s++;
	}
	return (n);
}

int
main(void)
{
	char	*p;

	p = page("[{\"x\\nemailproxy_fake 1\": 3, \"a b\": 1, \"ok_key\": 2}]",
	    0);
	check(p != NULL && strstr(p, "emailproxy_fake") == NULL &&
	    strstr(p, "a b") == NULL && strstr(p, "\nemailproxy_ok_key 2\n"),
	    "a key that is not a metric name is left out, others printed");
	free(p);

	p = page("[{\"proxy_sessions\": 3, \"proxy_sessions_total\": 4, "
	    "\"build_info\": 1, \"y\": 1, \"y_total\": 2}]", 1);
	check(p != NULL &&
	    count(p, "# TYPE emailproxy_proxy_sessions ") == 1 &&
	    count(p, "# TYPE emailproxy_build_info ") == 0 &&
	    count(p, "# TYPE emailproxy_y ") == 1 &&
	    strstr(p, "\nemailproxy_proxy_sessions_total 4\n") != NULL,
	    "a family is typed once whatever the keys");
	free(p);

	p = page("[{\"proxy_sessions_total\": 9223372036854775807}, "
	    "{\"proxy_sessions_total\": 9223372036854775807}, "
	    "{\"proxy_bytes_from_clients_total\": -9223372036854775807}, "
	    "{\"proxy_bytes_from_clients_total\": -9223372036854775807}, "
	    "{\"proxy_logins_failed_total\": -9223372036854775807, "
	    "\"proxy_logins_upstream_rejected_total\": 9223372036854775807}]",
	    0);
	check(p != NULL &&
	    strstr(p, "\nemailproxy_proxy_sessions_total "
	    "9223372036854775807\n") != NULL &&
	    strstr(p, "\nemailproxy_proxy_received_bytes_total "
	    "-9223372036854775808\n") != NULL &&
	    strstr(p, "\nemailproxy_proxy_logins_total{result=\"failed\"} "
	    "-9223372036854775808\n") != NULL,
	    "sums and differences that do not fit are held at the limits");
	free(p);
	return (failures != 0);
}
