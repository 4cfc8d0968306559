#
# Copyright (c) 2026 The emailproxy authors
#
# Permission to use, copy, modify, and distribute this software for any
# purpose with or without fee is hereby granted, provided that the above
# copyright notice and this permission notice appear in all copies.
#
# THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
# WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
# MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
# ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
# WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
# ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
# OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
"""POP and SMTP before login as a hostile client writes it, through the
daemon (run at -vv) against scripted servers that record every byte:

- a bare LF or CR ends the session; what follows it (PASS, AUTH PLAIN)
  reaches neither the server nor the log, and with SMTP server_starttls
  nothing goes to the server in clear before STARTTLS;
- a TAB or a second space after the command word: answered locally;
- lines pipelined after the client's own AUTH, which the server
  refuses, are commands for the proxy: the login is still XOAUTH2.
"""

import base64
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402
import hostile  # noqa: E402
from hostile import USER, PASSWORD  # noqa: E402

SECRET = b"Framing-Secret-9"


def plain(pw):
    return base64.b64encode(b"\0%s\0%s" % (USER.encode(), pw))


def pop_server(p):
    p.send(b"+OK scripted POP ready\r\n")
    while True:
        try:
            line = p.readline().rstrip(b"\r\n")
        except EOFError:
            return
        if line.upper() == b"AUTH XOAUTH2":
            p.send(b"+ \r\n")
            resp = p.readline().rstrip(b"\r\n")
            ok = hostile.xoauth2_user(resp) == USER
            p.send(b"+OK logged in\r\n" if ok else b"-ERR bad token\r\n")
        else:
            p.send(b"-ERR unexpected\r\n")


def smtp_server(p):
    p.send(b"220 scripted ESMTP\r\n")
    while True:
        try:
            line = p.readline().rstrip(b"\r\n")
        except EOFError:
            return
        verb = line.split(b" ", 1)[0].upper()
        if verb in (b"EHLO", b"HELO"):
            r = b"250-scripted.example\r\n"
            if not hasattr(p.sock, "cipher"):
                r += b"250-STARTTLS\r\n"
            p.send(r + b"250 AUTH XOAUTH2\r\n")
        elif verb == b"STARTTLS":
            p.send(b"220 2.0.0 go ahead\r\n")
            p.starttls()
        elif line.upper().startswith(b"AUTH XOAUTH2"):
            parts = line.split(b" ")
            if len(parts) > 2:
                resp = parts[2]
            else:
                p.send(b"334 \r\n")
                resp = p.readline().rstrip(b"\r\n")
            ok = hostile.xoauth2_user(resp) == USER
            p.send(b"235 2.7.0 logged in\r\n" if ok else
                   b"535 5.7.8 bad token\r\n")
        elif verb == b"AUTH":
            p.send(b"504 5.5.4 Unrecognized authentication type\r\n")
        else:
            p.send(b"502 5.5.1 unexpected\r\n")


h = Harness("pop_smtp_framing")
h.start_oauth()
pop = hostile.Upstream(h, pop_server, tls=True, timeout=30)
smtp = hostile.Upstream(h, smtp_server, tls=True, timeout=30)
stls = hostile.Upstream(h, smtp_server, tls=False, timeout=30)
ports = {k: h.free_port() for k in ("pop", "smtp", "stls")}
h.start_emailproxy(hostile.config(
    h, hostile.section(h, "POP", ports["pop"], pop.port) +
    hostile.section(h, "SMTP", ports["smtp"], smtp.port) +
    hostile.section(h, "SMTP", ports["stls"], stls.port, starttls=True)))


def connect(up, port):
    up.drain()
    c = h.connect(port)
    c.readline()
    return c


def server_got(up):
    p = up.next(timeout=20)
    return p.got if p is not None else b""


# ---- POP --------------------------------------------------------------------
c = connect(pop, ports["pop"])
c.send(b"NOOP\nPASS %s\r\n" % SECRET)
line = c.readline()
h.check(line.startswith(b"-ERR") and c.closed_by_peer(timeout=10),
        "POP: bare LF: -ERR, the session ends", line)
c.close()
got = server_got(pop)
h.check(SECRET not in got, "POP: bare LF: PASS never reaches the server",
        got)

c = connect(pop, ports["pop"])
c.send(b"PASS\t%s\r\n" % SECRET)
line = c.readline()
h.check(line == b"-ERR Unknown command\r\n", "POP: PASS<TAB>: -ERR", line)
c.send(b"USER %s\r\nPASS %s\r\n" % (USER.encode(), PASSWORD.encode()))
lines = [c.readline(), c.readline(timeout=30)]
h.check(lines[-1].startswith(b"+OK logged in"),
        "POP: then USER/PASS log in with XOAUTH2", lines)
c.close()
got = server_got(pop)
h.check(SECRET not in got and PASSWORD.encode() not in got,
        "POP: no password reaches the server", got)

# ---- SMTP -------------------------------------------------------------------
c = connect(stls, ports["stls"])
c.send(b"NOOP \nAUTH PLAIN %s\r\n" % plain(SECRET))
line = c.readline()
h.check(line.startswith(b"421") and c.closed_by_peer(timeout=10),
        "SMTP server_starttls: bare LF before EHLO: 421, the session ends",
        line)
c.close()
got = server_got(stls)
h.check(plain(SECRET) not in got and b"NOOP" not in got,
        "SMTP server_starttls: nothing reached the server in clear", got)

c = connect(smtp, ports["smtp"])
c.send(b"EHLO client.example\r\n")
c.read_until(rb"\d\d\d ")
c.send(b"AUTH  PLAIN %s\r\n" % plain(SECRET))
line = c.readline()
h.check(line.startswith(b"500 "), "SMTP: AUTH with two spaces: 500", line)
c.send(b"AUTH FOO\r\nAUTH PLAIN %s\r\n" % plain(PASSWORD.encode()))
lines = c.read_until(rb"(235|5\d\d) ", timeout=30)
if lines[-1].startswith(b"504"):
    lines += c.read_until(rb"(235|5\d\d) ", timeout=30)
h.check(lines[-1].startswith(b"235"),
        "SMTP: AUTH PLAIN pipelined after a refused AUTH FOO is ours",
        lines)
c.close()
got = server_got(smtp)
h.check(plain(SECRET) not in got and
        plain(PASSWORD.encode()) not in got,
        "SMTP: no credentials reach the server", got)

log = h.log_text()
h.check(SECRET.decode() not in log and PASSWORD not in log and
        plain(SECRET).decode() not in log, "no password in the -vv log")
h.finish()
