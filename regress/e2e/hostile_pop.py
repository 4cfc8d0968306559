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
"""POP3 through the proxy against hostile scripted servers.

- Byte-exact relaying on every way a connection can end after its last
  bytes (close_notify, none, TCP half-close, reset), ten runs each, with
  a TLS upstream, an STLS upstream, and in the other direction with a
  TLS client that ends the same ways; a server that answers a big
  upload early and resets still has its answer relayed, and a client
  that resets during a big download still has its last bytes relayed.
- A login that still works: greeting and +OK in 1-byte pieces, no CAPA,
  slow answers.
- A well-formed -ERR and a close on every broken path: no greeting, a
  garbage greeting, an endless greeting line, the server gone during
  the login and its retry, STLS answered and then plaintext,
  server_starttls against a server that speaks TLS at once (the log
  names the key and the section).
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402
import hostile  # noqa: E402
from hostile import Pop, USER  # noqa: E402

h = Harness("hostile_pop")
tls, stls, ports = hostile.start(h, Pop)

# ---- close paths ------------------------------------------------------------
hostile.close_paths(h, Pop, tls, stls, ports)


# ---- odd but valid servers ----------------------------------------------------
def works(label, case):
    return hostile.works(h, Pop, tls, ports["tls"], "POP: " + label, case)


lines = works("greeting and +OK in 1-byte pieces",
              lambda p: hostile.pop_login(p, USER, frag=1))
h.check(lines[0] == b"+OK hostile POP ready\r\n",
        "POP: the fragmented greeting arrives whole", lines[0])
works("a server without CAPA",
      lambda p: hostile.pop_login(p, USER, capa=False))


def slow(p):
    time.sleep(2)
    hostile.pop_login(p, USER, frag=3)


works("a server slow to greet and to answer", slow)


# ---- broken servers -------------------------------------------------------------
def no_greeting(p):
    p.close_by("no_close_notify")


def garbage_greeting(p):
    p.send(b"\x00\xff garbage \x16\x03\r\n")
    p.read_until_eof()


def endless_greeting(p):
    p.send(b"+OK " + b"x" * 200000)
    p.read_until_eof()


def gone_in_login(how):
    def handler(p):
        p.send(b"+OK hi\r\n")
        while True:
            line = p.readline()
            if line.upper().startswith(b"AUTH XOAUTH2"):
                break
            p.send(b"-ERR no\r\n")
        p.send(b"+ \r\n")
        p.readline()
        p.close_by(how)
    return handler


def stls_then_plain(p):
    p.send(b"+OK hi\r\n")
    while True:
        line = p.readline().upper()
        if line == b"CAPA\r\n":
            p.send(b"+OK\r\nSTLS\r\nSASL XOAUTH2\r\n.\r\n")
        elif line == b"STLS\r\n":
            p.send(b"+OK go\r\n+OK plaintext\r\n")
            p.read_until_eof()
            return
        else:
            p.send(b"-ERR no\r\n")


hostile.broken_paths(h, Pop, tls, stls, ports, no_greeting, garbage_greeting,
                     endless_greeting, gone_in_login, stls_then_plain)

hostile.confused_port(h, Pop, ports)

log = h.log_text()
h.check(hostile.PASSWORD not in log, "no password in the log")
h.finish()
