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

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int		 debug;		/* log to stderr */
static int		 journal;	/* stderr is systemd's journal */
static int		 stamp;		/* stderr is --log-file: date lines */
static int		 verbose;
static const char	*log_procname;
static char		*capture;	/* log_capture's buffer, or NULL */
static size_t		 capture_size;

void
log_init(int n_debug, int facility)
{
	struct stat	st;

	debug = n_debug;
	verbose = n_debug;
	/*
	 * The journal reads a "<priority>" prefix on each line.  The
	 * parent keeps JOURNAL_STREAM in its children's environment only
	 * when its own standard error is the journal (their lines reach it
	 * through the parent), so no file ever gets the prefixes.
	 */
	journal = debug && getenv("JOURNAL_STREAM") != NULL;
	/*
	 * --log-file (the parent marks it in the environment its children
	 * inherit): no one adds the time and program there, as syslog
	 * does, so each line carries them.
	 */
	if (debug && getenv(LOG_FILE_ENV) != NULL &&
	    fstat(STDERR_FILENO, &st) == 0 && (S_ISREG(st.st_mode) ||
	    S_ISFIFO(st.st_mode))) {
		stamp = 1;
		journal = 0;
	}
	log_procinit("parent");
	if (!debug)
		openlog("emailproxy", LOG_PID | LOG_NDELAY, facility);
	tzset();	/* before chroot: localtime needs the zone file */
}

/*
 * Whether standard error is the stream systemd connected to its journal:
 * JOURNAL_STREAM holds that stream's device and inode ("DEV:INODE"),
 * and a program started from a service with its standard error
 * redirected inherits the variable all the same.
 */
int
log_stderr_is_journal(void)
{
	struct stat		 st;
	const char		*s;
	unsigned long long	 dev, ino;
	char			 end;

	if ((s = getenv("JOURNAL_STREAM")) == NULL ||
	    sscanf(s, "%llu:%llu%c", &dev, &ino, &end) != 2 ||
	    fstat(STDERR_FILENO, &st) == -1)
		return (0);
	return ((unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino);
}

/*
 * Point standard error at path, appended to and created 0640: the
 * --log-file at start, and again on SIGUSR2 once logrotate has renamed
 * it.  On failure standard error is left as it was.
 */
int
log_reopen(const char *path)
{
	int	fd, saved_errno;

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640)) == -1)
		return (-1);
	if (fd == STDERR_FILENO)
		return (0);
	if (dup2(fd, STDERR_FILENO) == -1) {
		saved_errno = errno;
		close(fd);
		errno = saved_errno;
		return (-1);
	}
	close(fd);
	return (0);
}

void
log_procinit(const char *procname)
{
	if (procname != NULL)
		log_procname = procname;
}

void
log_setverbose(int v)
{
	verbose = v;
}

int
log_getverbose(void)
{
	return (verbose);
}

void
log_capture(char *buf, size_t size)
{
	capture = size > 0 ? buf : NULL;
	capture_size = size;
	if (capture != NULL)
		capture[0] = '\0';
}

void
logit(int pri, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(pri, fmt, ap);
	va_end(ap);
}

void
vlog(int pri, const char *fmt, va_list ap)
{
	char		buf[4096], when[32], line[4096 + 128];
	int		n;
	struct timespec	ts;
	struct tm	tm;
	long		off;
	int		saved_errno = errno;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (capture != NULL && (pri & LOG_PRIMASK) <= LOG_WARNING) {
		strlcat(capture, "\n\t", capture_size);
		strlcat(capture, buf, capture_size);
	}
	if (stamp) {
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		off = tm.tm_gmtoff / 60;
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		dprintf(STDERR_FILENO, "%s.%03ld%c%02ld:%02ld emailproxy[%ld]: "
		    "%s: %s\n", when, ts.tv_nsec / 1000000, off < 0 ? '-' : '+',
		    labs(off) / 60, labs(off) % 60, (long)getpid(),
		    log_procname, buf);
	} else if (debug) {
		/*
		 * One write per line so the processes' lines do not mix
		 * (and no stdio: dprintf costs an fstat and an lseek more).
		 */
		if (journal)
			n = snprintf(line, sizeof(line), "<%d>%s: %s\n",
			    pri & LOG_PRIMASK, log_procname, buf);
		else
			n = snprintf(line, sizeof(line), "%s: %s\n",
			    log_procname, buf);
		if (n > 0 && (size_t)n >= sizeof(line)) {
			n = sizeof(line) - 1;
			line[n - 1] = '\n';	/* cut, still one line */
		}
		if (n > 0 && write(STDERR_FILENO, line, n) == -1) {
			/* Nowhere left to say that logging failed. */
		}
		explicit_bzero(line, sizeof(line));
	} else
		syslog(pri, "%s: %s", log_procname, buf);
	explicit_bzero(buf, sizeof(buf));
	errno = saved_errno;
}

void
log_warn(const char *emsg, ...)
{
	char	*nfmt;
	va_list	 ap;
	int	 saved_errno = errno;

	va_start(ap, emsg);
	if (emsg == NULL)
		logit(LOG_ERR, "%s", strerror(saved_errno));
	else if (asprintf(&nfmt, "%s: %s", emsg,
	    strerror(saved_errno)) == -1) {
		/* we tried it... */
		vlog(LOG_ERR, emsg, ap);
		logit(LOG_ERR, "%s", strerror(saved_errno));
	} else {
		vlog(LOG_ERR, nfmt, ap);
		free(nfmt);
	}
	va_end(ap);
	errno = saved_errno;
}

void
log_warnx(const char *emsg, ...)
{
	va_list	 ap;

	va_start(ap, emsg);
	vlog(LOG_ERR, emsg, ap);
	va_end(ap);
}

void
log_notice(const char *emsg, ...)
{
	va_list	 ap;

	va_start(ap, emsg);
	vlog(LOG_NOTICE, emsg, ap);
	va_end(ap);
}

void
log_info(const char *emsg, ...)
{
	va_list	 ap;

	va_start(ap, emsg);
	vlog(LOG_INFO, emsg, ap);
	va_end(ap);
}

void
log_debug(const char *emsg, ...)
{
	va_list	 ap;

	if (verbose > 0) {
		va_start(ap, emsg);
		vlog(LOG_DEBUG, emsg, ap);
		va_end(ap);
	}
}

void
log_trace(const char *emsg, ...)
{
	va_list	 ap;

	if (verbose > 1) {
		va_start(ap, emsg);
		vlog(LOG_DEBUG, emsg, ap);
		va_end(ap);
	}
}

static void
vfatalc(int code, const char *emsg, va_list ap)
{
	static char	s[BUFSIZ];
	const char	*sep;

	if (emsg != NULL) {
		(void)vsnprintf(s, sizeof(s), emsg, ap);
		sep = ": ";
	} else {
		s[0] = '\0';
		sep = "";
	}
	if (code)
		logit(LOG_CRIT, "fatal: %s%s%s", s, sep, strerror(code));
	else
		logit(LOG_CRIT, "fatal: %s", s);
}

void
fatal(const char *emsg, ...)
{
	va_list	ap;

	va_start(ap, emsg);
	vfatalc(errno, emsg, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *emsg, ...)
{
	va_list	ap;

	va_start(ap, emsg);
	vfatalc(0, emsg, ap);
	va_end(ap);
	exit(1);
}
