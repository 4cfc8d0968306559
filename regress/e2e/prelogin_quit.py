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
"""A close the client asked for, before login, against scripted servers
(TLS upstream).

- IMAP LOGOUT, POP QUIT, SMTP QUIT before login: the server answers and
  closes (each of the ways a connection can end); the client gets
  exactly the server's lines, then the close: no bye of the proxy's
  after the server's last answer.
- A server that closes before login without being asked still ends
  with the proxy's bye (IMAP * BYE, POP -ERR, SMTP 421).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402
import hostile  # noqa: E402
from hostile import CLOSERS  # noqa: E402

h = Harness("prelogin_quit")
h.start_oauth()

# proto: greeting, the client's command, the server's last answer, a
# command the server leaves unanswered, the bye of the proxy's.
PROTOS = {
    "IMAP": (b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] scripted\r\n",
             b"q1 LOGOUT\r\n",
             b"* BYE scripted logging out\r\nq1 OK LOGOUT completed\r\n",
             b"q2 NOOP\r\n", b"* BYE "),
    "POP": (b"+OK scripted ready\r\n", b"QUIT\r\n",
            b"+OK scripted signing off\r\n", b"NOOP\r\n", b"-ERR "),
    "SMTP": (b"220 scripted ESMTP\r\n", b"QUIT\r\n",
             b"221 2.0.0 scripted closing\r\n", b"NOOP\r\n", b"421 "),
}
state = {"how": "clean"}


def handler(proto):
    greeting, quit, answer, other, _ = PROTOS[proto]

    def run(p):
        p.send(greeting)
        line = p.readline()
        if line == quit:
            p.send(answer)
        elif line != other:
            p.notes.append("unexpected %r" % line)
            return
        # The other command is left unanswered: the server just goes.
        p.close_by(state["how"])
    return run


ups = {name: hostile.Upstream(h, handler(name), tls=True)
       for name in PROTOS}
ports = {name: h.free_port() for name in PROTOS}
h.start_emailproxy(hostile.config(h, "".join(
    hostile.section(h, name, ports[name], ups[name].port)
    for name in PROTOS)))


def session(name, command):
    """The greeting, then after command everything up to the close."""
    ups[name].drain()
    c = h.connect(ports[name])
    try:
        first = c.readline()
        c.send(command)
        data, closed = hostile.read_to_eof(c)
    except Exception as e:  # noqa: BLE001 -- reported by the caller
        first, data, closed = b"", ("%s: %s" % (type(e).__name__,
                                               e)).encode(), False
    c.close()
    p = ups[name].next()
    notes = (p.error or "; ".join(p.notes)) if p else "no connection"
    return first, data, closed, notes


for name, (greeting, quit, answer, other, bye) in PROTOS.items():
    word = quit.split()[-1].decode()
    for how in CLOSERS:
        state["how"] = how
        first, data, closed, notes = session(name, quit)
        h.check(first[:4] == greeting[:4] and data == answer and closed,
                "%s: %s before login, the server answers and ends by %s: "
                "the client gets exactly its lines, then the close"
                % (name, word, how),
                "greeting %r, then %r, closed %s %s" % (first, data,
                                                        closed, notes))
    state["how"] = "clean"
    first, data, closed, notes = session(name, other)
    h.check(first[:4] == greeting[:4] and data.startswith(bye) and
            data.endswith(b"\r\n") and data.count(b"\r\n") == 1 and
            closed,
            "%s: a server that goes before login unasked: the client gets "
            "the proxy's bye (%s...), then the close"
            % (name, bye.decode().strip()),
            "greeting %r, then %r, closed %s %s" % (first, data, closed,
                                                    notes))
h.finish()
