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
"""Every login attempt gets its audit line, through the daemon against a
scripted IMAP server: a server that refuses the token and closes the
connection on the retry still leaves one line (result=aborted), and a
login the server accepts leaves result=ok."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402
import hostile  # noqa: E402
from hostile import USER, PASSWORD  # noqa: E402

state = {"case": "accept", "auths": 0}


def server(p):
    """XOAUTH2 is accepted, or (case "close") refused once and the
    connection closed on every later try."""
    p.send(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n")
    while True:
        try:
            line = p.readline()
        except EOFError:
            return
        words = line.rstrip(b"\r\n").split(b" ")
        tag = words[0]
        verb = words[1].upper() if len(words) > 1 else b""
        if verb == b"AUTHENTICATE":
            state["auths"] += 1
            if state["case"] == "accept":
                p.send(tag + b" OK logged in\r\n")
            elif state["auths"] == 1:
                p.send(tag + b" NO [AUTHENTICATIONFAILED] refused\r\n")
            else:
                return
        elif verb == b"LOGOUT":
            p.send(b"* BYE\r\n" + tag + b" OK bye\r\n")
            return
        else:
            p.send(tag + b" BAD unexpected\r\n")


def audits(mark):
    return re.findall(r"audit: result=(\S+) proto=IMAP .* account=(\S+)$",
                      h.log_text()[mark:], re.M)


h = Harness("tokend_audit")
h.start_oauth()
up = hostile.Upstream(h, server, tls=True, timeout=30)
port = h.free_port()
h.start_emailproxy(hostile.config(
    h, hostile.section(h, "IMAP", port, up.port)))

# The server accepts: one line, ok.
mark = len(h.log_text())
c = h.connect(port, timeout=30)
c.readline()
c.send(b'a LOGIN %s "%s"\r\n' % (USER.encode(), PASSWORD.encode()))
lines = c.read_until(rb"^a (OK|NO|BAD)", timeout=30)
c.close()
h.wait_log(r"audit: result=\S+ proto=IMAP .* account=%s$"
           % re.escape(USER), timeout=10, since=mark)
h.check(lines[-1].startswith(b"a OK") and audits(mark) == [("ok", USER)],
        "an accepted login: one audit line, ok", "%r %r"
        % (lines, audits(mark)))

# The server refuses the token, then closes during the retry.
state["case"] = "close"
state["auths"] = 0
up.drain()
mark = len(h.log_text())
c = h.connect(port, timeout=30)
c.readline()
c.send(b'b LOGIN %s "%s"\r\n' % (USER.encode(), PASSWORD.encode()))
try:
    lines = c.read_until(rb"^(b (OK|NO|BAD)|\* BYE)", timeout=30)
except Exception as e:  # the connection may just end
    lines = [repr(e).encode()]
c.close()
m = h.wait_log(r"audit: result=\S+ proto=IMAP .* account=%s$"
               % re.escape(USER), timeout=15, since=mark)
h.check(m is not None and len(audits(mark)) == 1 and
        audits(mark)[0][0] not in ("ok",),
        "a server that closes during the retry: one audit line, not ok",
        "%r %r" % (lines, audits(mark)))
h.info("retry closed: %r, audit %r" % (lines[-1:], audits(mark)))
h.finish()
