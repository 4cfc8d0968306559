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

#ifndef PARENT_H
#define PARENT_H

#include <sys/types.h>

#include "emailproxy.h"
#include "proc.h"

struct emailproxy_conf;

struct child {
	enum emailproxy_proc	 proc;
	const char		*name;
	pid_t			 pid;
	struct imsgev		 iev;
	int			 configured;	/* answered CONF_DONE */
};

struct parent_opts {
	const char	*conffile;
	const char	*cache_store;
	const char	*log_file;
	int		 debug;		/* -d: foreground, log to stderr */
	int		 verbose;
	int		 noaction;	/* -n */
};

extern struct child	 children[PROC_MAX];
extern struct emailproxy_conf *parent_conf;

/* children.c */
void	 children_start(const char *self, const struct parent_opts *);
void	 children_stop(void);
struct child *child_by_pid(pid_t);

/* logrelay.c */
void	 logrelay_enable(void);
int	 logrelay_open(void);
void	 logrelay_start(void);
void	 logrelay_drain(void);
void	 logrelay_finish(int ms);

/* listen.c */
int	 listeners_prepare(const struct emailproxy_conf *newconf,
	    const struct emailproxy_conf *oldconf, const long long *deadline);
int	 bind_retry(int (*)(const void *), const void *, const char *,
	    const long long *deadline);
void	 listeners_send(struct imsgev *proxy);
void	 listeners_discard(void);

/* parent.c */
__attribute__((__noreturn__)) void parent_run(const char *self,
	    struct parent_opts *, struct emailproxy_conf *);
int	 parent_prepare_dirs(const struct emailproxy_conf *);
void	 child_log_lost(const struct child *, int status);
int	 child_followed(int status);

/* control.c */
/* redis.c: the shared token store's connection, opened for tokend. */
int	 parent_redis_connect(const struct emailproxy_conf *, char *why,
	    size_t whylen);
void	 parent_redis_request(struct imsgev *tokend,
	    const struct emailproxy_conf *);
int	 parent_migrate(const struct emailproxy_conf *, int to_redis);

struct imsg;
int	 control_init(const struct emailproxy_conf *);
int	 control_socket_fd(void);
void	 control_socket_close(void);
void	 control_cleanup(void);
void	 control_conf_due(void);
void	 control_conf_send(struct imsgev *, const struct emailproxy_conf *);
int	 control_dispatch_proc(struct imsgev *, struct imsg *);

/* parent.c, for the control process */
int	 parent_reload(char *reason, size_t size);
void	 parent_set_verbose(int);
int	 child_configured(struct child *);

/* redirect.c */
int	 redirect_hostport(const char *, char *, size_t, char *, size_t);
int	 redirect_prepare(const struct emailproxy_conf *,
	    const long long *deadline);
void	 redirect_send(struct imsgev *);
void	 redirect_discard(void);

/* sdnotify.c */
void	 sdnotify_init(void);
void	 sdnotify(const char *);

/* notify.c */
void	 notify_event(const struct emailproxy_conf *, enum notify_event,
	    const char *account, const char *url, const char *code,
	    uint64_t expiry);
int	 notify_reaped(pid_t, int status);
const char *notify_event_name(enum notify_event);

#endif /* PARENT_H */
