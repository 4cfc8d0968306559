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
"""SMTP through the proxy against hostile scripted servers.

- Byte-exact relaying on every way a connection can end after its last
  bytes (close_notify, none, TCP half-close, reset), ten runs each, with
  a TLS upstream, a STARTTLS upstream, and in the other direction with a
  TLS client that ends the same ways; a server that answers a big
  upload early and resets still has its answer relayed, and a client
  that resets during a big download still has its last bytes relayed.
- A login that still works: greeting, EHLO reply and 235 in 1-byte
  pieces, slow answers, an EHLO reply that offers no AUTH.
- A well-formed 4xx/5xx and a close on every broken path: no greeting, a
  garbage greeting, an endless greeting line, the server gone during
  the login and its retry, STARTTLS answered and then plaintext,
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
from hostile import Smtp, USER  # noqa: E402

h = Harness("hostile_smtp")
tls, stls, ports = hostile.start(h, Smtp)

# ---- close paths ------------------------------------------------------------
hostile.close_paths(h, Smtp, tls, stls, ports)


# ---- odd but valid servers ----------------------------------------------------
def works(label, case):
    return hostile.works(h, Smtp, tls, ports["tls"], "SMTP: " + label, case)


EHLO = (b"250-hostile.example caf\xc3\xa9\r\n250-8BITMIME\r\n"
        b"250 AUTH XOAUTH2\r\n")
lines = works("greeting, EHLO reply and 235 in 1-byte pieces",
              lambda p: hostile.smtp_login(p, USER, frag=1, ehlo=EHLO))
h.check(lines[0] == b"220 hostile ESMTP\r\n",
        "SMTP: the fragmented greeting arrives whole", lines[0])


def slow(p):
    time.sleep(2)
    hostile.smtp_login(p, USER, frag=3)


works("a server slow to greet and to answer", slow)


def no_auth(p):
    hostile.smtp_login(p, USER, ehlo=b"250 hostile.example\r\n")


works("a server whose EHLO reply offers no AUTH", no_auth)


# ---- broken servers -------------------------------------------------------------
def no_greeting(p):
    p.close_by("no_close_notify")


def garbage_greeting(p):
    p.send(b"\x00\xff garbage \x16\x03\r\n")
    p.read_until_eof()


def endless_greeting(p):
    p.send(b"220 " + b"x" * 200000)
    p.read_until_eof()


def gone_in_login(how):
    def handler(p):
        p.send(b"220 hi\r\n")
        while True:
            line = p.readline().upper()
            if line.startswith(b"AUTH XOAUTH2"):
                break
            if line.startswith(b"EHLO"):
                p.send(b"250-hi\r\n250 AUTH XOAUTH2\r\n")
            else:
                p.send(b"502 no\r\n")
        if line.rstrip() == b"AUTH XOAUTH2":
            p.send(b"334 \r\n")
            p.readline()
        p.close_by(how)
    return handler


def starttls_then_plain(p):
    p.send(b"220 hi\r\n")
    while True:
        line = p.readline().upper()
        if line.startswith(b"EHLO"):
            p.send(b"250-hi\r\n250-STARTTLS\r\n250 AUTH XOAUTH2\r\n")
        elif line == b"STARTTLS\r\n":
            p.send(b"220 go\r\n250 plaintext\r\n")
            p.read_until_eof()
            return
        else:
            p.send(b"502 no\r\n")


hostile.broken_paths(h, Smtp, tls, stls, ports, no_greeting, garbage_greeting,
                     endless_greeting, gone_in_login, starttls_then_plain)

hostile.confused_port(h, Smtp, ports)

log = h.log_text()
h.check(hostile.PASSWORD not in log, "no password in the log")
h.finish()
