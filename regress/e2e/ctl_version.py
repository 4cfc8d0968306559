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
"""The control protocol is versioned: every request and answer between
emailproxyctl and the daemon carries CTL_VERSION as its peerid.

- A raw client sending a request of another version (the next one, or
  0 as a tool from before versions) gets one CTL_FAIL naming both
  versions, and the connection is closed: a request written behind it
  is not served; the refusal is logged; the daemon keeps running.
- A request of the right version is served, every answer carrying the
  version.
- emailproxyctl, against a socket that answers with another version,
  exits 1 naming both versions; the request it sent carried its own.
"""

import os
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402
import ctlwire  # noqa: E402

h = Harness("ctl_version")
SOCK = ctlwire.start_daemon(h)
T = ctlwire.imsg_types(h.top)
VERSION = ctlwire.ctl_version(h.top)
messages = ctlwire.messages


def hdr(name, version):
    return ctlwire.frame(T[name], version=version)


def exchange(data, until_end=False, timeout=10):
    """Write data on a control connection; (what came back, whether the
    daemon closed the connection) once it closes, a CTL_END came
    (until_end) or timeout passes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    got, closed = b"", False
    try:
        s.connect(SOCK)
        s.sendall(data)
        while True:
            b = s.recv(65536)
            if not b:
                closed = True
                break
            got += b
            m = messages(got)
            if until_end and m and m[-1][0] == T["IMSG_CTL_END"]:
                break
    except socket.timeout:
        pass
    finally:
        s.close()
    return got, closed


for other, what in ((VERSION + 1, "the next version"),
                    (0, "version 0, a tool from before versions")):
    got, closed = exchange(hdr("IMSG_CTL_SHOW_STATS", other) +
                           hdr("IMSG_CTL_SHOW_ACCOUNTS", VERSION))
    m = messages(got)
    text = m[0][2].decode(errors="replace") if m else ""
    h.check(len(m) == 1 and m[0][0] == T["IMSG_CTL_FAIL"] and
            m[0][1] == VERSION and
            ("control protocol version %u" % other) in text and
            ("emailproxy version %u" % VERSION) in text and closed,
            "a request of %s: one CTL_FAIL naming both versions, the "
            "request behind it unanswered, the connection closed" % what,
            "%r closed=%r" % (m, closed))
    h.check(h.wait_log(r"control: uid \d+: control protocol version %u, "
                       r"not %u, refused" % (other, VERSION), 10)
            is not None, "the refusal of %s is logged" % what,
            h.log_text()[-500:])

got, closed = exchange(hdr("IMSG_CTL_SHOW_STATS", VERSION),
                       until_end=True)
m = messages(got)
h.check(len(m) >= 2 and m[-1][0] == T["IMSG_CTL_END"] and
        all(peerid == VERSION for _, peerid, _ in m) and
        any(t == T["IMSG_CTL_DATA"] for t, _, _ in m),
        "a request of version %u is served, every answer of that version"
        % VERSION, repr(m)[:300])
out = h.emailproxyctl("-s", SOCK, "show", "accounts")
h.check(out.returncode == 0 and b"user@example.com" in out.stdout,
        "emailproxyctl of the same version is served",
        repr((out.returncode, out.stderr)))

# emailproxyctl against a socket that speaks another version.
FAKE = h.path("other.sock")
seen = []
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(FAKE)
srv.listen(1)
srv.settimeout(20)


def other_daemon():
    try:
        c, _ = srv.accept()
    except socket.timeout:
        return
    c.settimeout(10)
    data = b""
    try:
        while len(data) < 16:
            b = c.recv(4096)
            if not b:
                break
            data += b
        seen.extend(messages(data))
        c.sendall(struct.pack("=IIII", T["IMSG_CTL_END"], 16, VERSION + 1,
                              0))
        c.recv(4096)
    except socket.timeout:
        pass
    c.close()


t = threading.Thread(target=other_daemon)
t.start()
out = h.emailproxyctl("-s", FAKE, "show", "accounts")
t.join(30)
srv.close()
err = (out.stderr or b"").decode()
h.check(len(seen) == 1 and seen[0][0] == T["IMSG_CTL_SHOW_ACCOUNTS"] and
        seen[0][1] == VERSION,
        "emailproxyctl sends its version with the request", repr(seen))
h.check(out.returncode == 1 and
        ("emailproxy speaks control protocol version %u" % (VERSION + 1))
        in err and ("emailproxyctl version %u" % VERSION) in err,
        "emailproxyctl refuses an answer of another version, naming both",
        repr((out.returncode, err)))
h.check(h.proxy.alive(), "the daemon is still running",
        h.log_text()[-300:])
h.stop_emailproxy()
h.finish()
