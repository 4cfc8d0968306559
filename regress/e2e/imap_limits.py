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
"""IMAP pre-login limits: an over-long line, an
over-long LOGIN literal, an idle client, the per-listener and the
per-address connection limits.  Each breach gets its `* BYE <reason>`,
the connection is closed, and the log names the client address.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

h = Harness("imap_limits")
h.start_dovecot()
imaps = h.dovecot.ports["imaps"]
p_idle = h.free_port()
p_max = h.free_port()
p_addr = h.free_port()
extra = ""
for port, keys in ((p_idle, "idle_timeout = 2\n"),
                   (p_max, "max_connections = 3\n"),
                   (p_addr, "max_connections_per_address = 2\n")):
    extra += ("[IMAP-%d]\nlocal_address = 127.0.0.1\nserver_address = "
              "127.0.0.1\nserver_port = %d\n%s\n" % (port, imaps, keys))
h.start_emailproxy(h.standard_config(pop=False, smtp=False, extra=extra))
port = h.proxy_ports["imap"]


def greeted(p):
    c = h.connect(p)
    line = c.readline()
    return c, line


def logged(reason, c, since):
    """The log line for a breach, with the client's address and port."""
    cport = c.sock.getsockname()[1]
    return h.wait_log(r"session \d+: 127\.0\.0\.1:%d: %s" % (
        cport, re.escape(reason)), since=since)


# An over-long line: 8 KiB including CRLF is the most a line may be.
mark = h.log_mark()
c, g = greeted(port)
h.check(g.startswith(b"* OK"), "greeting through the proxy", repr(g))
c.send(b"a NOOP " + b"x" * 8183 + b"\r\n")
line = c.readline()
# Dovecot's own pre-login buffer is smaller; its answer shows the line
# went through.
h.check(line != b"* BYE Line too long\r\n" and b"Line too long" not in
        line, "an 8192-byte line is forwarded (the server answers it)",
        repr(line))
c.close()
c, g = greeted(port)
c.send(b"b NOOP " + b"x" * 8184 + b"\r\n")
line = c.readline()
h.check(line == b"* BYE Line too long\r\n", "8193-byte line: BYE",
        repr(line))
h.check(c.closed_by_peer(5), "over-long line: connection closed")
h.check(logged("Line too long", c, mark), "over-long line: log line "
        "with the client address")
c.close()

# A line that never ends is cut at 8 KiB too.
mark = h.log_mark()
c, g = greeted(port)
c.send(b"a NOOP " + b"y" * 9000)
line = c.readline()
h.check(line == b"* BYE Line too long\r\n", "8 KiB without CRLF: BYE",
        repr(line))
h.check(c.closed_by_peer(5), "unterminated line: connection closed")
c.close()

# An over-long login literal.
mark = h.log_mark()
c, g = greeted(port)
c.send(b"a LOGIN {4097}\r\n")
line = c.readline()
h.check(line == b"* BYE Literal too long\r\n", "4097-byte LOGIN literal: "
        "BYE", repr(line))
h.check(c.closed_by_peer(5), "over-long literal: connection closed")
h.check(logged("Literal too long", c, mark), "over-long literal: log line "
        "with the client address")
c.close()
c, g = greeted(port)
c.send(b"a LOGIN {4096}\r\n")
h.check(c.readline() == b"+ \r\n", "a 4096-byte literal is accepted")
c.close()

# An idle client (idle_timeout = 2 on that listener).
mark = h.log_mark()
c, g = greeted(p_idle)
t0 = time.monotonic()
try:
    line = c.readline(timeout=10)
except Exception as e:  # noqa: BLE001
    line = repr(e).encode()
took = time.monotonic() - t0
h.check(line == b"* BYE Idle timeout\r\n", "idle client: BYE", repr(line))
h.check(1.5 <= took <= 6, "idle timeout after about 2 s",
        "%.1f s" % took)
h.check(c.closed_by_peer(5), "idle client: connection closed")
h.check(logged("Idle timeout", c, mark), "idle client: log line with the "
        "client address")
c.close()
# Activity keeps a client alive.
c, g = greeted(p_idle)
ok = True
for i in range(4):
    time.sleep(1)
    c.send(b"n%d NOOP\r\n" % i)
    if not c.readline().startswith(b"n%d OK" % i):
        ok = False
h.check(ok, "a client sending commands within idle_timeout stays")
c.close()

# max_connections = 3
mark = h.log_mark()
held = [greeted(p_max)[0] for i in range(3)]
c, g = greeted(p_max)
want = ("IMAP-%d rejecting new connection above max_connections limit "
        "of 3" % p_max)
h.check(g == b"* BYE " + want.encode() + b"\r\n", "4th connection: BYE",
        repr(g))
h.check(c.closed_by_peer(5), "4th connection closed")
h.check(logged(want, c, mark), "connection limit: log line with the "
        "client address")
c.close()
held.pop().close()
ok = False
deadline = time.monotonic() + 10
while time.monotonic() < deadline and not ok:
    c, g = greeted(p_max)
    ok = g.startswith(b"* OK")
    if not ok:
        c.close()
        time.sleep(0.2)
h.check(ok, "a slot freed by a disconnect is usable again")
held.append(c)
for c in held:
    c.close()

# max_connections_per_address = 2
mark = h.log_mark()
held = [greeted(p_addr)[0] for i in range(2)]
c, g = greeted(p_addr)
want = ("IMAP-%d rejecting new connection from 127.0.0.1 above "
        "max_connections_per_address limit of 2" % p_addr)
h.check(g == b"* BYE " + want.encode() + b"\r\n", "3rd connection from "
        "one address: BYE", repr(g))
h.check(logged(want, c, mark), "per-address limit: log line with the "
        "client address")
c.close()
for c in held:
    c.close()

h.stop_emailproxy()
h.finish()
