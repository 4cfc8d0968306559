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

#include <sys/types.h>

#include <err.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sysexits.h>
#include <unistd.h>

#include "emailproxy.h"
#include "config.h"
#include "log.h"
#include "platform.h"
#include "proc.h"
#include "parent.h"

/* Asked for (-h, --help): on stdout, exit 0. */
static __dead void
usage(void)
{
	printf("usage: emailproxy [-dnv] [-f file] [--cache-store file] "
	    "[--log-file file]\n"
	    "       emailproxy [-v] [-f file] -M to-redis | to-file\n"
	    "       emailproxy -h | -V\n");
	exit(0);
}

/* A mistake: one line naming it, the argument or else the option. */
static __dead void
usage_error(const char *problem, const char *arg, int opt)
{
	if (arg != NULL)
		fprintf(stderr, "emailproxy: %s %s", problem, arg);
	else
		fprintf(stderr, "emailproxy: %s -%c", problem, opt);
	fprintf(stderr, "; emailproxy -h prints the usage\n");
	exit(1);
}

/*
 * The Python proxy's long options, kept so existing service definitions
 * work.  --no-gui, --external-auth and --local-server-auth describe what
 * emailproxy always does (no GUI; redirect listener and pasted URLs both
 * available), so they change nothing.
 */
enum {
	OPT_CONFIG_FILE = 256,
	OPT_CACHE_STORE,
	OPT_LOG_FILE,
	OPT_DEBUG,
	OPT_ALWAYS,
	OPT_VERSION
};

static const struct option longopts[] = {
	{ "config-file",	required_argument, NULL, OPT_CONFIG_FILE },
	{ "cache-store",	required_argument, NULL, OPT_CACHE_STORE },
	{ "log-file",		required_argument, NULL, OPT_LOG_FILE },
	{ "debug",		no_argument,	   NULL, OPT_DEBUG },
	{ "no-gui",		no_argument,	   NULL, OPT_ALWAYS },
	{ "external-auth",	no_argument,	   NULL, OPT_ALWAYS },
	{ "local-server-auth",	no_argument,	   NULL, OPT_ALWAYS },
	{ "version",		no_argument,	   NULL, OPT_VERSION },
	{ "help",		no_argument,	   NULL, 'h' },
	{ NULL,			0,		   NULL, 0 }
};

static void
open_log_file(const char *path)
{
	/* Logs then go where stderr goes, for every process. */
	if (log_reopen(path) == -1)
		err(1, "%s", path);
	/* Every process dates its lines there (log.c). */
	if (setenv(LOG_FILE_ENV, path, 1) == -1)
		err(1, "setenv");
}

int
main(int argc, char *argv[])
{
	struct parent_opts	 opts;
	struct emailproxy_conf	*conf;
	const char		*child = NULL;
	char			 self[PATH_MAX];
	int			 ch, prev, save_argc = argc, migrate = 0;
	char			**save_argv = argv;

	memset(&opts, 0, sizeof(opts));
	opts.conffile = EMAILPROXY_CONF;

	/*
	 * No permutation: prev is the argument being read, a long option
	 * or a cluster of short ones.
	 */
	opterr = 0;
	while ((prev = optind, ch = getopt_long(argc, argv, "+:df:hM:nP:vV",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			opts.debug = 1;
			break;
		case 'f':
		case OPT_CONFIG_FILE:
			opts.conffile = optarg;
			break;
		case 'M':
			if (strcmp(optarg, "to-redis") == 0)
				migrate = 1;
			else if (strcmp(optarg, "to-file") == 0)
				migrate = 2;
			else
				usage_error("-M takes to-redis or to-file, "
				    "not", optarg, 0);
			break;
		case 'n':
			opts.noaction = 1;
			break;
		case 'P':
			child = optarg;
			break;
		case 'v':
			opts.verbose++;
			break;
		case OPT_CACHE_STORE:
			opts.cache_store = optarg;
			break;
		case OPT_LOG_FILE:
			opts.log_file = optarg;
			break;
		case OPT_DEBUG:
			opts.verbose = 2;
			break;
		case OPT_ALWAYS:
			break;
		case 'V':
		case OPT_VERSION:
			printf("%s %s\n", EMAILPROXY_NAME, EMAILPROXY_VERSION);
			exit(0);
		case 'h':
			usage();
		case ':':
			usage_error("missing argument to", strncmp(argv[prev],
			    "--", 2) == 0 ? argv[prev] : NULL, optopt);
		default:
			usage_error("unknown option", strncmp(argv[prev],
			    "--", 2) == 0 ? argv[prev] : NULL, optopt);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 0)
		usage_error("unexpected argument", argv[0], 0);

	if (child != NULL) {
		/* setproctitle_init may reuse argv: decide before it. */
		void	(*child_main)(int, int) = NULL;

		if (strcmp(child, "proxy") == 0)
			child_main = proxy_main;
		else if (strcmp(child, "tokend") == 0)
			child_main = tokend_main;
		else if (strcmp(child, "authd") == 0)
			child_main = authd_main;
		else if (strcmp(child, "control") == 0)
			child_main = control_main;
		else
			errx(1, "unknown process %s", child);
		platform_title_init(save_argc, save_argv);
		child_main(opts.debug, opts.verbose);
		exit(1);
	}

	/*
	 * Re-executing the children needs our own path, found before
	 * daemon(3) changes the working directory.
	 */
	if (platform_self(save_argv[0], self, sizeof(self)) == -1)
		err(1, "cannot find the executable to re-execute");

	/* -n reports to whoever runs it, not to the daemon's log. */
	if (opts.log_file != NULL && !opts.noaction) {
		open_log_file(opts.log_file);
		opts.debug = 1;
	} else
		unsetenv(LOG_FILE_ENV);
	/* Priority prefixes only for the journal, never in a file. */
	if (!log_stderr_is_journal())
		unsetenv("JOURNAL_STREAM");
	/* -n and -M always print their findings to stderr. */
	log_init(opts.debug || opts.noaction || migrate, LOG_DAEMON);
	log_setverbose(opts.verbose);

	if ((conf = config_load(opts.conffile, opts.cache_store)) == NULL ||
	    config_load_files(conf) == -1) {
		if (opts.noaction)
			fprintf(stderr, "configuration invalid\n");
		/* Distinct, so a service manager need not retry it. */
		exit(EX_CONFIG);
	}
	if (opts.noaction) {
		config_print(conf, opts.verbose);
		config_free(conf);
		exit(0);
	}
	if (migrate) {
		ch = parent_migrate(conf, migrate == 1);
		config_free(conf);
		exit(ch);
	}
	if (geteuid() != 0)
		log_warnx("not running as root: the children cannot chroot "
		    "or drop privileges");
	parent_run(self, &opts, conf);
}
