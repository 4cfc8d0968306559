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
"""What one control socket peer may cost the daemon: a peer that
writes requests and never reads the answers grows neither the control
process that serves it nor the parent (VmRSS), is closed after at most
256 requests with a clear answer, and
another peer is answered meanwhile; requests written back to back
without waiting are answered in order, each completely.
"""

import errno
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402
import ctlwire  # noqa: E402

h = Harness("ctl_limits")
SOCK = ctlwire.start_daemon(h)
T = ctlwire.imsg_types(h.top)
VERSION = ctlwire.ctl_version(h.top)


def hdr(name):
    return ctlwire.frame(T[name], version=VERSION)


def messages(data):
    """[(type, payload)] of the whole messages in data."""
    return [(t, p) for t, _, p in ctlwire.messages(data)]


def read_all(s, timeout):
    """Everything s receives until it is closed or timeout passes."""
    s.setblocking(True)
    s.settimeout(0.5)
    got = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            b = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            break
        if not b:
            break
        got += b
    return got


parent = h.proxy.pid
control = [p for p in h.proxy.children()
           if h.proc_title(p).strip().endswith("control")]
h.check(len(control) == 1, "the daemon has a control process",
        repr([h.proc_title(p) for p in h.proxy.children()]))
control = control[0] if control else parent
rss0 = h.rss_kb(parent)
crss0 = h.rss_kb(control)

# -- a peer writing requests and never reading -----------------------------
flood = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
flood.connect(SOCK)
flood.setblocking(False)
chunk = hdr("IMSG_CTL_SHOW_PENDING") * 4096
sent = 0
closed = False
end = time.monotonic() + 4
while time.monotonic() < end and sent < 300000 * 16:
    try:
        sent += flood.send(chunk)
    except BlockingIOError:
        time.sleep(0.01)
    except OSError as e:
        closed = e.errno in (errno.EPIPE, errno.ECONNRESET)
        break
time.sleep(0.5)
rss1 = h.rss_kb(parent)
crss1 = h.rss_kb(control)
h.info("flood: %d requests written, parent VmRSS %d -> %d kB, control "
       "%d -> %d kB" % (sent // 16, rss0, rss1, crss0, crss1))
h.check(crss1 - crss0 < 4096,
        "a peer that never reads its answers does not grow the control "
        "process (VmRSS +%d kB after %d requests written)" % (
            crss1 - crss0, sent // 16),
        "%d -> %d kB" % (crss0, crss1))
h.check(rss1 - rss0 < 4096,
        "nor the parent (VmRSS +%d kB)" % (rss1 - rss0),
        "%d -> %d kB" % (rss0, rss1))
r = h.emailproxyctl("-s", SOCK, "show", "accounts")
h.check(r.returncode == 0 and b"user@example.com" in r.stdout,
        "another peer is answered while the flood connection is open",
        "%d %r" % (r.returncode, r.stderr))
got = messages(read_all(flood, 5))
flood.close()
ends = sum(1 for t, p in got if t == T["IMSG_CTL_END"])
fails = [p for t, p in got if t == T["IMSG_CTL_FAIL"]]
h.check(ends <= 256 and len(fails) == 1 and
        b"too many requests on one connection" in fails[0],
        "the flooding peer gets at most 256 answers, then \"too many "
        "requests on one connection\" and is closed",
        "%d answers, fails %r, write closed %s" % (ends, fails[:2], closed))
h.check(h.wait_log(r"control: uid 0: more than 256 requests on one "
                   r"connection, closing it", 5) is not None,
        "the log names the peer that was closed", "")

# -- requests written back to back are answered one after another -----------
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(SOCK)
s.sendall(hdr("IMSG_CTL_SHOW_STATS") * 5 + hdr("IMSG_CTL_SHOW_ACCOUNTS"))
s.shutdown(socket.SHUT_WR)
got = messages(read_all(s, 10))
s.close()
kinds = [t for t, p in got]
h.check(kinds.count(T["IMSG_CTL_END"]) == 6 and
        T["IMSG_CTL_FAIL"] not in kinds and
        # show stats: proxy, authd, tokend and tokend's one object for
        # the one account; show accounts: that account.
        kinds.count(T["IMSG_CTL_DATA"]) == 5 * 4 + 1 and
        kinds[-2:] == [T["IMSG_CTL_DATA"], T["IMSG_CTL_END"]] and
        b"user@example.com" in got[-2][1],
        "six requests written at once: six complete answers, in order",
        repr(kinds))
h.check(h.proxy.alive(), "the daemon still runs", h.log_text()[-300:])
h.stop_emailproxy()
h.finish()
