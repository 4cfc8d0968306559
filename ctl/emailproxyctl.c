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
 * emailproxyctl: ask the running daemon over its control socket.
 * Each answer is a list of JSON objects; they are printed as a table,
 * as JSON (-j), or as Prometheus text (show metrics, common/metrics.c).
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "emailproxy.h"
#include "ctl.h"
#include "imsg.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"

enum output { OUT_TEXT, OUT_JSON, OUT_METRICS, OUT_OPENMETRICS };

/* Asked for (-h, --help): on stdout, exit 0. */
static __dead void
usage(void)
{
	printf("usage: emailproxyctl [-j] [-s socket] command [argument ...]\n"
	    "       emailproxyctl -h | -V\n"
	    "commands:\n"
	    "\tshow accounts | sessions | pending | stats | metrics [-o]\n"
	    "\tauthorise account [redirect-url | -]\n"
	    "\tforget account\n"
	    "\treload\n"
	    "\tlog verbose | brief\n"
	    "\thealth [-s]\n"
	    "\thash-password [-b | -s] [-a file user]\n"
	    "\ttoken [-p fd] account\n");
	exit(0);
}

/* A mistake: one line naming it, exit 2. */
static __dead void __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "emailproxyctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; emailproxyctl -h prints the usage\n");
	exit(2);
}

static const char	show_usage[] =
    "show takes accounts, sessions, pending, stats or metrics [-o]";

static const struct option longopts[] = {
	{ "help",	no_argument,	NULL, 'h' },
	{ "version",	no_argument,	NULL, 'V' },
	{ NULL,		0,		NULL, 0 }
};

static int
connect_daemon(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		errx(1, "%s: path too long", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			errx(1, "emailproxy is not running (no control socket "
			    "at %s)", path);
		if (errno == EACCES)
			errx(1, "%s: permission denied", path);
		err(1, "connect %s", path);
	}
	return (fd);
}

/* Read a redirect URL from standard input ("-"), one line. */
static char *
read_url(void)
{
	char	*line = NULL;
	size_t	 size = 0;
	ssize_t	 len;

	if ((len = getline(&line, &size, stdin)) == -1)
		errx(1, "no redirect URL on standard input");
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	return (line);
}

static const char *
fmt_time(json_t *v, char *buf, size_t size)
{
	time_t		t;
	struct tm	tm;

	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return ("-");
	t = (time_t)json_integer_value(v);
	localtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
	return (buf);
}

static const char *
str(json_t *obj, const char *key)
{
	const char	*s = json_string_value(json_object_get(obj, key));

	return (s != NULL && *s != '\0' ? s : "-");
}

static void
print_accounts(json_t *list)
{
	json_t	*o;
	size_t	 i;
	char	 t1[32], t2[32], t3[32];

	printf("%-32s %-9s %-19s %-19s %-19s %s\n", "ACCOUNT", "STATE",
	    "TOKEN EXPIRES", "LAST REFRESH", "LAST USE", "LAST ERROR");
	json_array_foreach(list, i, o)
		printf("%-32s %-9s %-19s %-19s %-19s %s\n", str(o, "account"),
		    str(o, "state"),
		    fmt_time(json_object_get(o, "access_token_expiry"), t1,
		    sizeof(t1)),
		    fmt_time(json_object_get(o, "last_refresh"), t2,
		    sizeof(t2)),
		    fmt_time(json_object_get(o, "last_use"), t3, sizeof(t3)),
		    str(o, "last_error"));
}

static void
print_sessions(json_t *list)
{
	json_t	*o;
	size_t	 i;

	printf("%-6s %-5s %-10s %-28s %-28s %6s %12s %12s\n", "ID", "PROTO",
	    "LISTENER", "CLIENT", "ACCOUNT", "AGE", "BYTES IN", "BYTES OUT");
	json_array_foreach(list, i, o)
		printf("%-6lld %-5s %-10s %-28s %-28s %6lld %12lld %12lld\n",
		    (long long)json_integer_value(json_object_get(o, "id")),
		    str(o, "protocol"), str(o, "listener"), str(o, "client"),
		    str(o, "account"),
		    (long long)json_integer_value(json_object_get(o, "age")),
		    (long long)json_integer_value(json_object_get(o,
		    "bytes_in")),
		    (long long)json_integer_value(json_object_get(o,
		    "bytes_out")));
}

static void
print_pending_one(json_t *o)
{
	char	 t[32];

	printf("%s: authorisation waits until %s\n", str(o, "account"),
	    fmt_time(json_object_get(o, "expires"), t, sizeof(t)));
	if (json_is_string(json_object_get(o, "user_code")))
		printf("  visit %s and enter the code %s\n", str(o, "url"),
		    str(o, "user_code"));
	else
		printf("  visit %s\n", str(o, "url"));
}

static void
print_pending(json_t *list)
{
	json_t	*o;
	size_t	 i;

	json_array_foreach(list, i, o)
		print_pending_one(o);
}

/* authorise: the pending request's details, or that it is authorised. */
static void
print_authorise(json_t *list)
{
	json_t		*o;
	size_t		 i;
	long long	 n;
	char		 t[32];

	json_array_foreach(list, i, o) {
		if (!json_is_true(json_object_get(o, "authorised"))) {
			print_pending_one(o);
			continue;
		}
		n = json_integer_value(json_object_get(o, "logins"));
		if (n > 0)
			printf("%s: authorised; %lld waiting login%s got the "
			    "token\n", str(o, "account"), n, n == 1 ? "" : "s");
		else
			printf("%s: authorised; the account's next login takes "
			    "the token (kept until %s)\n", str(o, "account"),
			    fmt_time(json_object_get(o, "kept_until"), t,
			    sizeof(t)));
	}
}

static int
cmp_str(const void *a, const void *b)
{
	return (strcmp(*(const char * const *)a, *(const char * const *)b));
}

/* Sorted by name: the processes answer in any order. */
static void
print_stats(json_t *stats)
{
	const char	**keys, *key;
	json_t		 *v, *o;
	char		  name[256];
	size_t		  i, n = 0;

	if ((keys = calloc(json_object_size(stats) + 1, sizeof(*keys))) ==
	    NULL)
		err(1, NULL);
	json_object_foreach(stats, key, v)
		if (json_is_integer(v))
			keys[n++] = key;
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (i = 0; i < n; i++)
		printf("%-40s %lld\n", keys[i],
		    (long long)json_integer_value(json_object_get(stats,
		    keys[i])));
	free(keys);
	/* Each upstream pool: name{server="IMAP-1993"} value. */
	json_array_foreach(json_object_get(stats, "upstream_pools"), i, v) {
		json_object_foreach(v, key, o) {
			if (!json_is_integer(o))
				continue;
			snprintf(name, sizeof(name), "%s{server=\"%s\"}", key,
			    json_string_value(json_object_get(v, "server")));
			printf("%-40s %lld\n", name,
			    (long long)json_integer_value(o));
		}
	}
	/* The proxy's counters per listener. */
	json_array_foreach(json_object_get(stats, "listeners"), i, v) {
		json_object_foreach(v, key, o) {
			if (!json_is_integer(o))
				continue;
			snprintf(name, sizeof(name), "%s{listener=\"%s\"}", key,
			    json_string_value(json_object_get(v, "listener")));
			printf("%-40s %lld\n", name,
			    (long long)json_integer_value(o));
		}
	}
}

int
main(int argc, char *argv[])
{
	struct imsgbuf	 ibuf;
	struct imsg	 imsg;
	struct msgw	 w;
	struct msgr	 r;
	struct pollfd	 pfd;
	enum output	 out = OUT_TEXT;
	const char	*sock = EMAILPROXY_SOCKET, *msgtext;
	char		*url = NULL, *password = NULL;
	const char	*errs;
	json_t		*list, *obj;
	json_error_t	 jerr;
	uint32_t	 type;
	ssize_t		 n;
	int		 ch, prev, fd, done = 0, failed = 0, json_out = 0;
	int		 strict = 0, pwfd = STDIN_FILENO;

	/* No permutation: prev is the argument being read. */
	opterr = 0;
	while ((prev = optind, ch = getopt_long(argc, argv, "+:hjs:V",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage();
		case 'j':
			json_out = 1;
			break;
		case 's':
			sock = optarg;
			break;
		case 'V':
			printf("emailproxyctl %s\n", EMAILPROXY_VERSION);
			exit(0);
		case ':':
			usage_error("missing argument to %s", argv[prev]);
		default:
			if (strncmp(argv[prev], "--", 2) == 0)
				usage_error("unknown option %s", argv[prev]);
			usage_error("unknown option -%c", optopt);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage_error("no command");

	/* Needs no daemon. */
	if (strcmp(argv[0], "hash-password") == 0) {
		const char	*prefix = "$y$", *file = NULL, *user = NULL;
		int		 i;

		for (i = 1; i < argc; i++) {
			if (strcmp(argv[i], "-b") == 0 && i == 1)
				prefix = "$2b$";
			else if (strcmp(argv[i], "-s") == 0 && i == 1)
				prefix = "$6$";
			else if (strcmp(argv[i], "-a") == 0 &&
			    i + 3 == argc) {
				file = argv[i + 1];
				user = argv[i + 2];
				break;
			} else
				usage_error("hash-password takes [-b | -s] "
				    "[-a file user]");
		}
		return (hash_password(prefix, file, user));
	}

	if (strcmp(argv[0], "show") == 0 && argc == 3 &&
	    strcmp(argv[1], "metrics") == 0 && strcmp(argv[2], "-o") == 0) {
		type = IMSG_CTL_SHOW_STATS;
		out = OUT_OPENMETRICS;
	} else if (strcmp(argv[0], "show") == 0 && argc == 2) {
		if (strcmp(argv[1], "accounts") == 0)
			type = IMSG_CTL_SHOW_ACCOUNTS;
		else if (strcmp(argv[1], "sessions") == 0)
			type = IMSG_CTL_SHOW_SESSIONS;
		else if (strcmp(argv[1], "pending") == 0)
			type = IMSG_CTL_SHOW_PENDING;
		else if (strcmp(argv[1], "stats") == 0)
			type = IMSG_CTL_SHOW_STATS;
		else if (strcmp(argv[1], "metrics") == 0) {
			type = IMSG_CTL_SHOW_STATS;
			out = OUT_METRICS;
		} else
			usage_error("%s", show_usage);
	} else if ((strcmp(argv[0], "authorise") == 0 ||
	    strcmp(argv[0], "authorize") == 0) && (argc == 2 || argc == 3)) {
		type = IMSG_CTL_AUTHORISE;
		if (argc == 3)
			url = strcmp(argv[2], "-") == 0 ? read_url() :
			    strdup(argv[2]);
	} else if (strcmp(argv[0], "forget") == 0 && argc == 2)
		type = IMSG_CTL_FORGET;
	else if (strcmp(argv[0], "reload") == 0 && argc == 1)
		type = IMSG_CTL_RELOAD;
	else if (strcmp(argv[0], "health") == 0 && (argc == 1 ||
	    (argc == 2 && strcmp(argv[1], "-s") == 0))) {
		type = IMSG_CTL_HEALTH;
		strict = argc == 2;
	}
	else if (strcmp(argv[0], "log") == 0 && argc == 2 &&
	    (strcmp(argv[1], "verbose") == 0 || strcmp(argv[1], "brief") == 0))
		type = IMSG_CTL_LOG_VERBOSE;
	else if (strcmp(argv[0], "token") == 0 && (argc == 2 ||
	    (argc == 4 && strcmp(argv[1], "-p") == 0))) {
		type = IMSG_CTL_TOKEN;
		if (argc == 4) {
			pwfd = strtonum(argv[2], 0, INT_MAX, &errs);
			if (errs != NULL)
				usage_error("token -p: descriptor %s is %s",
				    argv[2], errs);
		}
		/* The answer holds the token: wipe what jansson frees. */
		token_wipe_json();
		password = token_password(pwfd);
	} else if (strcmp(argv[0], "show") == 0)
		usage_error("%s", show_usage);
	else if (strcmp(argv[0], "authorise") == 0 ||
	    strcmp(argv[0], "authorize") == 0)
		usage_error("%s takes an account and optionally a redirect "
		    "URL or -", argv[0]);
	else if (strcmp(argv[0], "forget") == 0)
		usage_error("forget takes an account");
	else if (strcmp(argv[0], "reload") == 0)
		usage_error("reload takes no argument");
	else if (strcmp(argv[0], "log") == 0)
		usage_error("log takes verbose or brief");
	else if (strcmp(argv[0], "health") == 0)
		usage_error("health takes -s or nothing");
	else if (strcmp(argv[0], "token") == 0)
		usage_error("token takes [-p fd] account; the password is "
		    "read from standard input or fd");
	else
		usage_error("unknown command %s", argv[0]);
	/* -j wins over the text forms, the metrics included. */
	if (json_out)
		out = OUT_JSON;

	fd = connect_daemon(sock);
	if (imsgbuf_init(&ibuf, fd) == -1 ||
	    imsgbuf_set_maxsize(&ibuf, IMSG_MAXSIZE_PARENT) == -1)
		err(1, "imsgbuf_init");
	msg_begin(&w, &ibuf, type, CTL_VERSION, -1);
	switch (type) {
	case IMSG_CTL_AUTHORISE:
		msg_put_str(&w, argv[1]);
		msg_put_str(&w, url);
		break;
	case IMSG_CTL_FORGET:
		msg_put_str(&w, argv[1]);
		break;
	case IMSG_CTL_TOKEN:
		msg_put_str(&w, argv[argc - 1]);
		msg_put_str(&w, password);
		break;
	case IMSG_CTL_LOG_VERBOSE:
		msg_put_u32(&w, strcmp(argv[1], "verbose") == 0 ? 2 : 0);
		break;
	}
	if (msg_end(&w, &ibuf) == -1 || imsgbuf_flush(&ibuf) == -1)
		err(1, "send request");
	/* The redirect URL carries an authorisation code. */
	if (url != NULL)
		freezero(url, strlen(url));
	if (password != NULL)
		freezero(password, strlen(password));

	if ((list = json_array()) == NULL)
		err(1, NULL);
	while (!done) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		/* authorise may wait for a code exchange (http_timeout). */
		if (poll(&pfd, 1, (type == IMSG_CTL_AUTHORISE ||
		    type == IMSG_CTL_TOKEN ? 300 : 60) * 1000) <= 0)
			errx(1, "no answer from emailproxy");
		switch (imsgbuf_read(&ibuf)) {
		case -1:
			err(1, "read");
		case 0:
			errx(1, "emailproxy closed the connection");
		}
		while (!done && (n = imsg_get(&ibuf, &imsg)) != 0) {
			if (n == -1)
				err(1, "malformed answer");
			/* Another version's types mean other things. */
			if (imsg_get_id(&imsg) != CTL_VERSION)
				errx(1, "emailproxy speaks control protocol "
				    "version %u, this emailproxyctl version %u: "
				    "use the emailproxyctl installed with the "
				    "running emailproxy", imsg_get_id(&imsg),
				    CTL_VERSION);
			msg_read_init(&r, &imsg);
			switch (imsg_get_type(&imsg)) {
			case IMSG_CTL_DATA:
				msgtext = msg_get_str(&r);
				if (msg_read_end(&r) == -1 || msgtext == NULL ||
				    (obj = json_loads(msgtext, 0, &jerr)) ==
				    NULL)
					errx(1, "malformed answer");
				json_array_append_new(list, obj);
				break;
			case IMSG_CTL_FAIL:
				msgtext = msg_get_str(&r);
				if (msg_read_end(&r) == -1 || msgtext == NULL)
					errx(1, "malformed answer");
				if (type == IMSG_CTL_FORGET ||
				    type == IMSG_CTL_TOKEN)
					fprintf(stderr, "emailproxyctl: %s: "
					    "%s\n", argv[argc - 1], msgtext);
				else
					fprintf(stderr, "emailproxyctl: %s\n",
					    msgtext);
				failed = done = 1;
				break;
			case IMSG_CTL_END:
				done = 1;
				break;
			default:
				errx(1, "unexpected answer %u",
				    imsg_get_type(&imsg));
			}
			imsg_free(&imsg);
		}
	}
	imsgbuf_clear(&ibuf);
	close(fd);
	if (failed) {
		json_decref(list);
		return (1);
	}

	if (type == IMSG_CTL_SHOW_STATS) {
		if ((obj = metrics_merge(list)) == NULL)
			err(1, NULL);
		if (out == OUT_JSON) {
			json_dumpf(obj, stdout, JSON_INDENT(2) |
			    JSON_SORT_KEYS);
			printf("\n");
		} else if (out == OUT_TEXT)
			print_stats(obj);
		else
			if (metrics_write(stdout, obj, list,
			    out == OUT_OPENMETRICS) == -1)
				err(1, "show metrics");
		json_decref(obj);
	} else if (type == IMSG_CTL_HEALTH) {
		if (out == OUT_JSON) {
			json_dumpf(list, stdout, JSON_INDENT(2));
			printf("\n");
		}
		failed = health_report(list, strict, out != OUT_JSON);
	} else if (out == OUT_JSON) {
		/* Always a JSON array, empty when there is nothing. */
		json_dumpf(list, stdout, JSON_INDENT(2));
		printf("\n");
	} else if (type == IMSG_CTL_SHOW_ACCOUNTS)
		print_accounts(list);
	else if (type == IMSG_CTL_SHOW_SESSIONS)
		print_sessions(list);
	else if (type == IMSG_CTL_SHOW_PENDING)
		print_pending(list);
	else if (type == IMSG_CTL_AUTHORISE)
		print_authorise(list);
	else if (type == IMSG_CTL_TOKEN) {
		/* The token alone, for PassCmd and passwordeval. */
		obj = json_array_get(list, 0);
		if (json_array_size(list) != 1 ||
		    json_string_value(json_object_get(obj,
		    "access_token")) == NULL)
			errx(1, "malformed answer");
		printf("%s\n", json_string_value(json_object_get(obj,
		    "access_token")));
		fflush(stdout);
	}
	json_decref(list);
	return (failed);
}
