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
"""A reload that changes a TLS listener's section while a client is in
the middle of its TLS handshake: the session is closed, the proxy lives
on (the handshake may not use the old section's TLS context after the
reload freed it), and the listener serves TLS with the new section.
"""

import os
import re
import socket
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

h = Harness("reload_tls")


def config(port, idle):
    return h.fill_config("""[IMAP-%d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %d
local_certificate_path = %s
local_key_path = %s
idle_timeout = %d

[user@example.com]
oauth2_flow = password
token_url = http://127.0.0.1:%d/token
oauth2_scope = mail
client_id = test-client
""" % (port, h.free_port(), h.cert_file, h.key_file, idle, h.free_port()))


port = h.free_port()
d = h.start_emailproxy(config(port, 600))
kids = sorted(d.children())
ctx = h.client_ctx(h.ca_file)
for n in range(3):
    # TCP connected, accepted by the proxy, no ClientHello yet.
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    mark = h.log_mark()
    h.wait_log(r"session \d+: IMAP-%d connection from" % port, 10, mark)
    mark = h.log_mark()
    h.reload_emailproxy(config(port, 601 + n))
    h.wait_log(r"IMAP-%d: changed, closing its sessions" % port, 10, mark)
    h.wait_log(r"proxy: configuration reloaded", 10, mark)
    # Now the ClientHello, with SNI, to the session of the old section.
    got = b""
    try:
        t = ctx.wrap_socket(raw, server_hostname="localhost")
        t.settimeout(10)
        while True:
            b = t.recv(4096)
            if not b:
                break
            got += b
    except (OSError, ssl.SSLError):
        pass
    raw.close()
    # Every child of the start is still there (a reload may have a
    # short-lived helper process of the parent's beside them).
    alive = d.alive() and set(kids) <= set(d.children())
    h.check(alive, "reload %d during a client's TLS handshake: the proxy "
            "lives on" % (n + 1), h.log_text()[-600:])
    # The bye says why: the reload, or the server (none listens).
    h.check(got == b"" or re.fullmatch(rb"\* BYE [^\r\n]+\r\n", got),
            "reload %d: the client gets one bye line or a close, nothing "
            "else"
            % (n + 1), repr(got[:200]))
    if not alive:
        break

c = h.connect(port, tls=True)
line = c.readline()
c.close()
h.check(line.startswith(b"* BYE") or line.startswith(b"* OK"),
        "after the reloads the listener serves TLS with the new section",
        repr(line))
h.stop_emailproxy()
h.finish()
