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
"""TLS session resumption towards the server, against Dovecot.

- IMAP: Dovecot's imap-login here serves every connection from one
  process (service_count = 0), so the tickets it sends stay valid: after
  the first login, the next logins resume the TLS session
  (`show stats`: proxy_upstream_tls_resumed_total), and work.
- POP: pop3-login keeps Dovecot's default, a new process (new ticket
  keys) per connection, so it refuses every ticket offered: each login
  is a full handshake and still works.
- The counters of the IMAP and POP sections do not mix: the POP logins,
  which come after the IMAP ones, resume nothing.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

h = Harness("tls_resume")
h.start_dovecot(extra_conf="service imap-login {\n  service_count = 0\n}\n")
h.start_emailproxy(h.standard_config(smtp=False))
ports = h.proxy_ports
SOCK = h.path("ctl.sock")
USER = "ccg@example.com"
PW = "Resume-Secret-1"
N = 4


def stats():
    out = h.emailproxyctl("-j", "-s", SOCK, "show", "stats")
    try:
        d = json.loads((out.stdout or b"").decode())
    except ValueError:
        d = {}
    return (d.get("proxy_upstream_tls_handshakes_total", -1),
            d.get("proxy_upstream_tls_resumed_total", -1))


def imap_login():
    c = h.connect(ports["imap"])
    c.readline(timeout=30)
    c.send(b'a LOGIN "%s" "%s"\r\n' % (USER.encode(), PW.encode()))
    r = c.read_until(rb"^a (OK|NO|BAD)[^\r]*\r\n", timeout=30)
    ok = r[-1].startswith(b"a OK")
    if ok:
        c.send(b"b SELECT INBOX\r\n")
        r = c.read_until(rb"^b (OK|NO|BAD)[^\r]*\r\n", timeout=30)
        ok = r[-1].startswith(b"b OK")
    c.send(b"z LOGOUT\r\n")
    c.close()
    return ok


def pop_login():
    p = h.connect(ports["pop"])
    p.readline(timeout=30)
    p.send(b"USER %s\r\nPASS %s\r\n" % (USER.encode(), PW.encode()))
    p.readline(timeout=30)
    ok = p.readline(timeout=30).startswith(b"+OK")
    if ok:
        p.send(b"STAT\r\n")
        ok = p.readline(timeout=30).startswith(b"+OK")
    p.send(b"QUIT\r\n")
    p.close()
    return ok


hs0, r0 = stats()
h.check(hs0 >= 0 and r0 >= 0, "show stats counts upstream TLS handshakes "
        "and resumed ones", (hs0, r0))
ok = [imap_login() for _ in range(N)]
hs1, r1 = stats()
h.check(all(ok), "%d IMAP logins, each works" % N, ok)
h.check(hs1 - hs0 == N, "one upstream TLS handshake per IMAP login",
        hs1 - hs0)
h.check(r1 - r0 == N - 1, "every IMAP login after the first resumes the "
        "server's TLS session", "%d of %d resumed" % (r1 - r0, N))

ok = [pop_login() for _ in range(N)]
hs2, r2 = stats()
h.check(all(ok), "%d POP logins to a server that refuses every ticket, "
        "each works" % N, ok)
h.check(hs2 - hs1 == N and r2 == r1, "the POP logins: full handshakes, "
        "none resumed, nothing taken from the IMAP section's sessions",
        "%d handshakes, %d resumed" % (hs2 - hs1, r2 - r1))
h.check(h.proxy.alive(), "the daemon is still running")
h.finish()
