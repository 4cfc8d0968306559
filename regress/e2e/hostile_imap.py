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
"""IMAP through the proxy against hostile scripted servers.

- Byte-exact relaying on every way a connection can end after its last
  bytes (close_notify, none, TCP half-close, reset), ten runs each, with
  a TLS upstream, a STARTTLS upstream, and in the other direction with a
  TLS client that ends the same ways; a server that answers a big
  upload early and resets still has its answer relayed, and a client
  that resets during a big download still has its last bytes relayed.
- A login that still works: greeting and tagged answer in 1-byte pieces,
  untagged lines (8-bit, NUL, 50 KB long) between the command and its
  answer, no capabilities at all, slow answers.
- A well-formed error (* BYE or a tagged NO) and a close on every broken
  path: no greeting, a garbage greeting, an endless greeting line, the
  server gone during the login and its retry, STARTTLS answered and
  then plaintext, server_starttls against a server that answers in TLS
  or speaks TLS at once (the log names the key and the section).
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402
import hostile  # noqa: E402
from hostile import Imap, USER  # noqa: E402

h = Harness("hostile_imap")
tls, stls, ports = hostile.start(h, Imap)

# ---- close paths ------------------------------------------------------------
hostile.close_paths(h, Imap, tls, stls, ports)


# ---- odd but valid servers ----------------------------------------------------
def works(label, case):
    return hostile.works(h, Imap, tls, ports["tls"], "IMAP: " + label, case)


def fragments(p):
    hostile.imap_login(p, USER, frag=1)


lines = works("greeting and tagged OK in 1-byte pieces", fragments)
h.check(lines[0] == b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] "
        b"hostile ready\r\n", "IMAP: the fragmented greeting arrives whole",
        lines[0])

UNTAGGED = (b"* OK [ALERT] caf\xc3\xa9 \xff\r\n* 3 EXISTS\r\n"
            b"* OK nul \x00 here\r\n* OK long " + b"y" * 50000 + b"\r\n")


def untagged(p):
    hostile.imap_login(p, USER, untagged=UNTAGGED)


lines = works("untagged lines between AUTHENTICATE and its OK", untagged)
h.check(b"".join(lines[1:-1]) == UNTAGGED,
        "IMAP: the untagged lines reach the client as sent", lines[1:-1])


def nocaps(p):
    hostile.imap_login(p, USER, greeting=b"* OK\r\n", caps=b"IMAP4rev1")


works("a server with no capabilities", nocaps)


def slow(p):
    time.sleep(2)
    hostile.imap_login(p, USER, frag=3)


works("a server slow to greet and to answer", slow)


# ---- broken servers -------------------------------------------------------------
def no_greeting(p):
    p.close_by("no_close_notify")


def garbage_greeting(p):
    p.send(b"\x00\xff garbage \x16\x03\r\n")
    p.read_until_eof()


def endless_greeting(p):
    p.send(b"* OK " + b"x" * 200000)
    p.read_until_eof()


def gone_in_login(how):
    def handler(p):
        tag = None
        p.send(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n")
        while tag is None:
            line = p.readline()
            if b" AUTHENTICATE " in line:
                tag = line
        p.close_by(how)
    return handler


def starttls_then_plain(p):
    p.send(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n")
    while True:
        line = p.readline()
        if line.endswith(b" STARTTLS\r\n"):
            p.send(line.split(b" ")[0] + b" OK go\r\n* OK plaintext\r\n")
            p.read_until_eof()
            return
        p.send(line.split(b" ")[0] + b" BAD\r\n")


hostile.broken_paths(h, Imap, tls, stls, ports, no_greeting, garbage_greeting,
                     endless_greeting, gone_in_login, starttls_then_plain)


def alert_first(p):
    p.send(b"\x15\x03\x03\x00\x02\x02\x46")
    p.read_until_eof()


mark = h.log_mark()
hostile.broken(h, Imap, stls, ports["starttls"],
               "IMAP: server_starttls, the server answers in TLS",
               alert_first, login=False)
h.check(h.wait_log(r"speaks TLS at once, but \[IMAP-%d\] has "
                   r"server_starttls = True" % ports["starttls"],
                   since=mark, timeout=5),
        "IMAP: server_starttls, the server answers in TLS: the log names "
        "the key and the section")

hostile.confused_port(h, Imap, ports)

log = h.log_text()
h.check(hostile.PASSWORD not in log, "no password in the log")
h.finish()
