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
"""IMAP before login as a hostile client writes it, through the daemon
(run at -vv) against a scripted server that records every byte:

- repeated tags: the CAPABILITY's "a OK" is no client-side login, and
  the OK of a NOOP the server answers late is not the XOAUTH2 success
  (the audit says ok only on the login's own answer);
- a bare LF, two spaces, a TAB, "UID LOGIN": the password reaches
  neither the server nor the log;
- a literal the server refuses: the client's next line is a LOGIN, read
  by the proxy, never sent upstream as literal data; a literal over the
  pre-login bound ends the session;
- server_starttls and a CAPABILITY over TLS answered by a tagged OK
  alone: the client's greeting is a whole line.
"""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness, wait_until  # noqa: E402
import hostile  # noqa: E402
from hostile import USER, PASSWORD  # noqa: E402

SECRETS = [b"Bare-Lf-Secret-1", b"Two-Space-Secret-2", b"Tab-Secret-3",
           b"Uid-Secret-4"]
state = {"case": None, "noop_delay": 0}


def server(p):
    """Answers by command; XOAUTH2 for USER is accepted unless the case
    refuses it.  Runs until the proxy closes the connection."""
    p.send(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n")
    while True:
        try:
            line = p.readline()
        except EOFError:
            return
        words = line.rstrip(b"\r\n").split(b" ")
        tag = words[0]
        verb = words[1].upper() if len(words) > 1 else b""
        if verb == b"CAPABILITY":
            p.send(b"* CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2\r\n" +
                   tag + b" OK done\r\n")
        elif verb == b"NOOP":
            p.send(tag + b" OK NOOP completed\r\n",
                   delay=state["noop_delay"])
        elif verb == b"ID":
            p.send(tag + b" BAD no literal here\r\n")
        elif verb == b"AUTHENTICATE" and len(words) > 3 and \
                words[2].upper() == b"XOAUTH2":
            if state["case"] == "refuse" or \
                    hostile.xoauth2_user(words[3]) != USER:
                p.send(tag + b" NO [AUTHENTICATIONFAILED] refused\r\n")
            else:
                p.send(tag + b" OK logged in\r\n")
        elif verb == b"AUTHENTICATE":
            p.send(tag + b" NO [CANNOT] unsupported mechanism\r\n")
        else:
            p.send(tag + b" BAD unexpected\r\n")


def starttls_server(p):
    """STARTTLS, then a CAPABILITY answered by a tagged OK alone."""
    p.send(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi there\r\n")
    line = p.readline()
    tag = line.split(b" ")[0]
    p.send(tag + b" OK begin TLS\r\n")
    p.starttls()
    line = p.readline()
    tag = line.split(b" ")[0]
    p.send(tag + b" OK done\r\n")
    try:
        p.read_until_eof()
    except OSError:
        pass


h = Harness("imap_pipeline")
h.start_oauth()
up = hostile.Upstream(h, server, tls=True, timeout=30)
stls = hostile.Upstream(h, starttls_server, tls=False, timeout=30)
ports = {k: h.free_port() for k in ("imap", "starttls")}
h.start_emailproxy(hostile.config(
    h, hostile.section(h, "IMAP", ports["imap"], up.port) +
    hostile.section(h, "IMAP", ports["starttls"], stls.port,
                    starttls=True)))

ANSWER = rb"(\S+ (OK|NO|BAD)|\* BYE)"


def audits(mark):
    log = h.log_text()[mark:]
    return re.findall(r"audit: result=(\S+) .* account=(\S+)", log)


def wait_audits(mark):
    """The audit lines since mark, once there is one: the proxy logs
    through the parent, so a line may come after the client's answer."""
    return wait_until(lambda: audits(mark), 20)


def session(case="accept"):
    state["case"] = case
    up.drain()
    c = h.connect(ports["imap"])
    c.readline()
    return c


def server_got():
    p = up.next(timeout=20)
    return p.got if p is not None else b""


# ---- a repeated tag: CAPABILITY's OK is not the AUTHENTICATE's ------------
mark = len(h.log_text())
c = session()
c.send(b"a CAPABILITY\r\na AUTHENTICATE FOO\r\n")
lines = c.read_until(rb"a (NO|BAD)")
h.check(any(x.startswith(b"a NO [CANNOT]") for x in lines),
        "repeated tag: the AUTHENTICATE's refusal reaches the client", lines)
h.check(("ok", "-") not in audits(mark),
        "repeated tag: no login audited for the CAPABILITY's OK",
        audits(mark))
c.send(b'b LOGIN %s "%s"\r\n' % (USER.encode(), PASSWORD.encode()))
lines = c.read_until(ANSWER, timeout=30)
h.check(lines[-1].startswith(b"b OK logged in"),
        "repeated tag: a LOGIN after it is still ours (XOAUTH2 upstream)",
        lines)
c.close()
got = server_got()
h.check(PASSWORD.encode() not in got and b"b AUTHENTICATE XOAUTH2" in got,
        "repeated tag: the server got XOAUTH2, never the password", got)
h.check(wait_audits(mark) == [("ok", USER)],
        "repeated tag: one login audited, the real one", audits(mark))

# ---- a repeated tag and a server slower than tokend -----------------------
mark = len(h.log_text())
state["noop_delay"] = 2
c = session("refuse")
c.send(b'a NOOP\r\na LOGIN %s "%s"\r\n' % (USER.encode(),
                                           PASSWORD.encode()))
lines = c.read_until(rb"a OK NOOP", timeout=30)
lines += c.read_until(ANSWER, timeout=30)
state["noop_delay"] = 0
h.check(lines[-1].startswith(b"a NO [AUTHENTICATIONFAILED]"),
        "late NOOP answer: the login's own refusal reaches the client",
        lines)
c.close()
server_got()
h.check(wait_audits(mark) == [("upstream-rejected", USER)],
        "late NOOP answer: audited as refused, never as ok", audits(mark))

# ---- framing a server reads otherwise -------------------------------------
c = session()
c.send(b"x NOOP\na LOGIN %s %s\r\n" % (USER.encode(), SECRETS[0]))
lines = c.read_until(ANSWER)
h.check(lines[-1].startswith(b"* BYE") and c.closed_by_peer(timeout=10),
        "bare LF: BYE, the session ends", lines)
c.close()
got = server_got()
h.check(SECRETS[0] not in got, "bare LF: the password never reaches the "
        "server", got)

c = session()
for what, line, secret in (
        ("two spaces", b"a  LOGIN %s %s\r\n", SECRETS[1]),
        ("a TAB", b"a LOGIN\t%s %s\r\n", SECRETS[2]),
        ("UID LOGIN", b"a UID LOGIN %s %s\r\n", SECRETS[3])):
    c.send(line % (USER.encode(), secret))
    lines = c.read_until(ANSWER)
    h.check(lines[-1].startswith(b"a BAD"), "%s: answered BAD" % what,
            lines)
c.close()
got = server_got()
h.check(not any(s in got for s in SECRETS),
        "two spaces, TAB, UID LOGIN: no password reaches the server", got)

# ---- literals --------------------------------------------------------------
login = b'a LOGIN %s "%s"\r\n' % (USER.encode(), PASSWORD.encode())
c = session()
c.send(b"t ID {%d}\r\n" % len(login))
lines = c.read_until(ANSWER)
h.check(lines[-1].startswith(b"t BAD no literal"),
        "refused literal: the refusal reaches the client", lines)
c.send(login)
lines = c.read_until(ANSWER, timeout=30)
h.check(lines[-1].startswith(b"a OK logged in"),
        "refused literal: the next LOGIN is the proxy's", lines)
c.close()
got = server_got()
h.check(PASSWORD.encode() not in got,
        "refused literal: the password never went upstream", got)

c = session()
c.send(b"t ID {1000000000000}\r\n")
lines = c.read_until(ANSWER)
h.check(lines[-1].startswith(b"* BYE Literal too long"),
        "a 10^12-byte literal before login: BYE", lines)
c.close()
got = server_got()
h.check(b"{1000000000000}" not in got, "and it is not forwarded", got)

# ---- server_starttls, CAPABILITY over TLS without an untagged line ---------
c = h.connect(ports["starttls"])
try:
    greeting = c.readline(timeout=10)
except Exception as e:  # noqa: BLE001 -- reported below
    greeting = ("%s: %s" % (type(e).__name__, e)).encode()
h.check(greeting == b"* OK hi there\r\n",
        "server_starttls: the rebuilt greeting is a whole line", greeting)
c.close()
h.check(h.proxy.alive(), "the daemon is still running")

log = h.log_text()
h.check(PASSWORD not in log and
        not any(s.decode() in log for s in SECRETS),
        "no password in the -vv log")
h.finish()
