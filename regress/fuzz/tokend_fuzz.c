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
 * What a compromised proxy (internet facing), authd or control process
 * can send tokend, the process holding the tokens (tokend/login.c,
 * flight.c, dispatch.c, ctl.c): TOKEN_GET and TOKEN_CANCEL, AUTH_TOKENS,
 * AUTH_FAIL and AUTH_PENDING, the control requests (CTL_TOKEN with a
 * password, show accounts, stats, health, forget), framed and typed as
 * tokend reads them, then the logins, token requests, token store writes
 * and answers they cause.  The input is two or three byte streams: a
 * 16-bit big-endian length, that many bytes from the proxy, the rest
 * from authd; when the length's top bit is set, it is 15 bits, and a
 * second 16-bit length follows, of the control process's bytes, which
 * come after the proxy's and before authd's.  authd's stream goes one message (by its header) at a
 * time, each when tokend has a request out or nothing else moves.  Each input starts from an empty store (a scratch
 * directory) with a configuration of a few accounts; new records use
 * two PBKDF2 iterations instead of 1.2 million.
 *
 * DEPS: tokend/login.c tokend/account.c tokend/flight.c tokend/ahead.c tokend/import.c tokend/reply.c tokend/ctl.c tokend/dispatch.c tokend/store.c tokend/throttle.c tokend/localpw.c tokend/kdfq.c tokend/page.c tokend/record.c tokend/crypto.c tokend/fernet.c common/ctl_answer.c common/config.c common/config_parse.c common/config_check.c common/config_keys.c common/account_complete.c common/config_files.c common/cidr.c common/msg.c common/imsg.c common/imsg_buffer.c common/secret.c common/base64.c common/log.c common/redis_url.c tokend/store_redis.c tokend/redis_io.c common/audit.c
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event.h>

#include "emailproxy.h"
#include "config.h"
#include "tokend.h"
#include "fuzz.h"

#define ACCT_CODE							\
	"permission_url = https://127.0.0.1/auth\n"			\
	"token_url = https://127.0.0.1/token\n"				\
	"oauth2_scope = mail\n"						\
	"redirect_uri = http://localhost\n"				\
	"client_id = id\n"						\
	"client_secret = plain-secret\n\n"

static const char conf_text[] =
"[emailproxy]\n"
"allow_catch_all_accounts = True\n"
"\n"
"[IMAP-1993]\n"
"server_address = 127.0.0.1\n"
"server_port = 993\n"
"\n"
"[user@example.com]\n" ACCT_CODE
"[@catch.example]\n" ACCT_CODE
"[ccg@example.com]\n"
"token_url = https://127.0.0.1/token\n"
"oauth2_scope = mail\n"
"oauth2_flow = client_credentials\n"
"client_id = id\n"
"client_secret = secret\n"
"\n"
"[ropc@example.com]\n"
"token_url = https://127.0.0.1/token\n"
"oauth2_scope = mail\n"
"oauth2_flow = password\n"
"client_id = id\n"
"\n"
"[Team@example.com]\n"
"token_owner = user@example.com\n"
"local_password = $6$fuzz$0nFBG/WEeUeoPVDQECk0oaJNb1v2gmNqyV/zp8LYbsbUPyu"
"deKxhSWpYle5aOSI/UbFchINBA30qNasBJQTh70\n"
"\n"
"[desk@example.com]\n"
"token_owner = ccg@example.com\n"
"\n";

static char			 dir[64];
static struct emailproxy_conf	*conf;
static struct imsgbuf		 k_proxy, k_authd;	/* tokend's ends */
static int			 t_proxy;		/* the proxy's end */
static struct imsgbuf		 t_authd;		/* authd's end */
static struct imsgbuf		 k_ctl;			/* tokend's end */
static int			 t_ctl;		/* the control process's end */
static struct tk_peer		 ctl_peer;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	 path[128];
	FILE	*fp;
	int	 sp[2], sa[2], sc[2];

	fuzz_log_init(0);
	record_init();
	event_init();
	strlcpy(dir, "/tmp/tokend_fuzz.XXXXXX", sizeof(dir));
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/emailproxy.conf", dir);
	if ((fp = fopen(path, "w")) == NULL)
		abort();
	fputs(conf_text, fp);
	fclose(fp);
	if ((conf = config_load(path, NULL)) == NULL)
		abort();
	unlink(path);
	conf->kdf_iterations = 2;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sa) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sc) == -1)
		abort();
	if (fcntl(sc[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(sc[1], F_SETFL, O_NONBLOCK) == -1 ||
	    imsgbuf_init(&k_ctl, sc[0]) == -1)
		abort();
	t_ctl = sc[1];
	ctl_peer.ibuf = &k_ctl;
	if (fcntl(sp[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(sp[1], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(sa[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(sa[1], F_SETFL, O_NONBLOCK) == -1)
		abort();
	if (imsgbuf_init(&k_proxy, sp[0]) == -1 ||
	    imsgbuf_init(&k_authd, sa[0]) == -1)
		abort();
	t_proxy = sp[1];
	if (imsgbuf_init(&t_authd, sa[1]) == -1)
		abort();
	return (0);
}

/* Write what fits of *p; the rest goes on the next round. */
static void
feed(int fd, const uint8_t **p, size_t *left)
{
	ssize_t	 n;

	if (*left == 0)
		return;
	if ((n = write(fd, *p, *left)) == -1) {
		if (errno != EAGAIN)
			abort();
		return;
	}
	*p += n;
	*left -= n;
}

/* The length of the next message of authd's stream (all if unclear). */
static size_t
next_message(const uint8_t *p, size_t left)
{
	uint32_t	 len;

	if (left < IMSG_HEADER_SIZE)
		return (left);
	memcpy(&len, p + 4, sizeof(len));
	len &= 0x7fffffff;
	if (len < IMSG_HEADER_SIZE || len > left)
		return (left);
	return (len);
}

/* How many requests tokend sent authd (read and dropped). */
static int
requests(void)
{
	struct imsg	 imsg;
	int		 n = 0;

	if (imsgbuf_read(&t_authd) == -1)
		abort();
	while (imsg_get(&t_authd, &imsg) > 0) {
		if (imsg_get_type(&imsg) == IMSG_AUTH_REQUEST)
			n++;
		imsg_free(&imsg);
	}
	return (n);
}

/* Read and drop what tokend sent a peer. */
static void
drain(int fd)
{
	char	 buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* The control process's requests, as tokend.c hands them over. */
static int
ctl_imsg(struct imsg *imsg)
{
	return (tokend_ctl_imsg(&ctl_peer, imsg));
}

/* Messages from one peer, as tokend.c reads them; 0 once it is bad. */
static int
dispatch(struct imsgbuf *ib, int (*fn)(struct imsg *), int *moved)
{
	struct imsg	 imsg;
	ssize_t		 n;

	if (imsgbuf_read(ib) == -1)
		return (0);
	while ((n = imsg_get(ib, &imsg)) > 0) {
		(*moved)++;
		/* tokend stops at the first bad or unknown message. */
		if (fn(&imsg) != 0) {
			imsg_free(&imsg);
			return (0);
		}
		imsg_free(&imsg);
	}
	return (n == 0);
}

static void
empty_store(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[512];

	if ((d = opendir(dir)) == NULL)
		abort();
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tk_peer	 p, a;
	const uint8_t	*pp, *pa, *pc;
	size_t		 lp, la, lc = 0, n, head = 2;
	int		 i, moved, proxy_ok = 1, authd_ok = 1, ctl_ok = 1;
	int		 quiet = 0, asked = 0, answered = 0;

	if (size < 2)
		return (0);
	lp = (size_t)data[0] << 8 | data[1];
	if (lp & 0x8000) {
		if (size < 4)
			return (0);
		lp &= 0x7fff;
		lc = (size_t)data[2] << 8 | data[3];
		head = 4;
	}
	pp = data + head;
	if (lp > size - head)
		lp = size - head;
	pc = pp + lp;
	if (lc > size - head - lp)
		lc = size - head - lp;
	pa = pc + lc;
	la = size - head - lp - lc;
	memset(&p, 0, sizeof(p));
	memset(&a, 0, sizeof(a));
	p.ibuf = &k_proxy;
	a.ibuf = &k_authd;
	if (tokend_login_init(conf, dir, &p, &a) == -1)
		abort();
	for (i = 0; i < 1000; i++) {
		moved = 0;
		feed(t_proxy, &pp, &lp);
		feed(t_ctl, &pc, &lc);
		if (la > 0 && (asked > answered || quiet)) {
			n = next_message(pa, la);
			feed(t_authd.fd, &pa, &n);
			la = size - (pa - data);
			answered++;
		}
		if (proxy_ok)
			proxy_ok = dispatch(&k_proxy, tokend_proxy_imsg, &moved);
		if (authd_ok)
			authd_ok = dispatch(&k_authd, tokend_authd_imsg, &moved);
		if (ctl_ok)
			ctl_ok = dispatch(&k_ctl, ctl_imsg, &moved);
		moved += imsgbuf_queuelen(&k_proxy) +
		    imsgbuf_queuelen(&k_authd) + imsgbuf_queuelen(&k_ctl);
		if (imsgbuf_write(&k_proxy) == -1 ||
		    imsgbuf_write(&k_authd) == -1 ||
		    imsgbuf_write(&k_ctl) == -1)
			abort();
		drain(t_proxy);
		drain(t_ctl);
		asked += requests();
		event_loop(EVLOOP_NONBLOCK);
		/* Logins waiting for a KDF are decided one per turn. */
		quiet = moved == 0 && lp == 0 && lc == 0 && kdfq_len() == 0;
		if (quiet && la == 0)
			break;
	}
	tokend_login_shutdown();
	(void)imsgbuf_write(&k_proxy);
	(void)imsgbuf_write(&k_authd);
	(void)imsgbuf_write(&k_ctl);
	drain(t_proxy);
	drain(t_ctl);
	(void)requests();
	/* What a peer sent but tokend did not read, and the next input. */
	imsgbuf_clear(&k_proxy);
	imsgbuf_clear(&k_authd);
	imsgbuf_clear(&t_authd);
	imsgbuf_clear(&k_ctl);
	drain(k_proxy.fd);
	drain(k_authd.fd);
	drain(k_ctl.fd);
	if (imsgbuf_init(&k_ctl, k_ctl.fd) == -1 ||
	    imsgbuf_init(&k_proxy, k_proxy.fd) == -1 ||
	    imsgbuf_init(&k_authd, k_authd.fd) == -1 ||
	    imsgbuf_init(&t_authd, t_authd.fd) == -1)
		abort();
	empty_store();
	return (0);
}
