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
"""The control socket is served by an unprivileged process, not by the
root parent, and nothing written on it harms the daemon.

- A connection to the control socket, once answered, is held by a
  process whose Uid (all four fields of /proc/PID/status) is not 0,
  chrooted, under a seccomp filter; the parent holds neither that
  connection nor the listening socket.
- Raw bytes on the socket: a header shorter than itself, a length
  beyond the largest message, a frame cut short, a type that is no
  request, a request whose payload is cut short or has bytes left over,
  a request of another version, a log level out of range.  Each gets a
  CTL_FAIL saying what is wrong, or the connection is closed; every
  process of the daemon keeps its PID, and emailproxyctl show stats
  works after each.
"""

import os
import re
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness, wait_until  # noqa: E402
import ctlwire  # noqa: E402

h = Harness("ctl_process")
SOCK = ctlwire.start_daemon(h)
T = ctlwire.imsg_types(h.top)
VERSION = ctlwire.ctl_version(h.top)
messages = ctlwire.messages


def frame(typ, payload=b"", version=VERSION, length=None):
    return ctlwire.frame(typ, payload, version, length)


def s_str(s):
    """A str field of common/msg.h: u32 length, the bytes, a NUL."""
    b = s.encode()
    return struct.pack("=I", len(b)) + b + b"\0"


def exchange(data, timeout=5, shut=True):
    """Write data on a new connection; (messages, closed by the daemon)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(SOCK)
    s.sendall(data)
    if shut:
        s.shutdown(socket.SHUT_WR)
    got = b""
    closed = False
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            closed = True
            break
        if not b:
            closed = True
            break
        got += b
    s.close()
    return ctlwire.messages(got), closed


def socket_inodes(pid):
    inodes = set()
    d = "/proc/%d/fd" % pid
    try:
        fds = os.listdir(d)
    except OSError:
        return inodes
    for fd in fds:
        try:
            link = os.readlink(os.path.join(d, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", link)
        if m:
            inodes.add(int(m.group(1)))
    return inodes


def status(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1:]
    return None


def listening_inode(path):
    """The inode of the UNIX socket listening on path (/proc/net/unix,
    whose lines for connections accepted on it carry the path too: the
    listening one has __SO_ACCEPTCON, 0x10000, in its flags)."""
    with open("/proc/net/unix") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if len(parts) >= 8 and parts[7] == path and \
                    int(parts[3], 16) & 0x10000:
                return int(parts[6])
    return None


parent = h.proxy.pid
kids = sorted(h.proxy.children())
pids = [parent] + kids

# -- who holds an accepted connection --------------------------------------
before = {p: socket_inodes(p) for p in pids}
conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
conn.settimeout(10)
conn.connect(SOCK)
conn.sendall(frame(T["IMSG_CTL_SHOW_PENDING"]))
answer = b""
while len(messages(answer)) == 0:
    b = conn.recv(4096)
    if not b:
        break
    answer += b
h.check([m[0] for m in messages(answer)] == [T["IMSG_CTL_END"]],
        "a request on a held connection is answered",
        repr(messages(answer)))
after = {p: socket_inodes(p) for p in pids}
holders = [p for p in pids if after[p] - before[p]]
h.check(len(holders) == 1 and holders[0] != parent,
        "one process of the daemon holds the accepted connection, not "
        "the parent", "new sockets: %r (parent %d)" % (
            {p: sorted(after[p] - before[p]) for p in pids}, parent))
holder = holders[0] if holders else parent
uids = status(holder, "Uid") or []
h.check(len(uids) == 4 and "0" not in uids,
        "the process holding it does not run as root (Uid %s)" %
        " ".join(uids), h.proc_title(holder))
h.check("control" in h.proc_title(holder),
        "it is the control process (%s)" % h.proc_title(holder).strip(), "")
h.check(os.readlink("/proc/%d/root" % holder) != "/",
        "the control process is chrooted",
        os.readlink("/proc/%d/root" % holder))
h.check(status(holder, "Seccomp") == ["2"],
        "the control process runs under a seccomp filter",
        repr(status(holder, "Seccomp")))
h.check(not (after[parent] - before[parent]),
        "the parent holds no accepted control connection",
        repr(sorted(after[parent] - before[parent])))
conn.close()
lino = listening_inode(SOCK)
h.check(lino is not None and lino in socket_inodes(holder) and
        lino not in socket_inodes(parent),
        "the control process holds the listening socket, the parent "
        "does not", "inode %r" % lino)


# -- malformed requests ----------------------------------------------------
def same_processes(what):
    alive = all(os.path.exists("/proc/%d" % p) for p in pids)
    now = sorted(h.proxy.children())
    h.check(alive and now == kids and h.proxy.alive(),
            "%s: the parent and every child keep their PIDs" % what,
            "before %r, now %r" % (kids, now))
    r = h.emailproxyctl("-s", SOCK, "-j", "show", "stats")
    h.check(r.returncode == 0 and b"proxy_sessions_total" in r.stdout and
            b"tokend_logins_ok_total" in r.stdout,
            "%s: emailproxyctl show stats works after it" % what,
            "%d %r" % (r.returncode, r.stderr))


def fails_with(got, text):
    return (len(got) == 1 and got[0][0] == T["IMSG_CTL_FAIL"] and
            got[0][1] == VERSION and text.encode() in got[0][2])


cases = [
    ("a header whose length is shorter than the header",
     frame(T["IMSG_CTL_SHOW_STATS"], length=8), None),
    ("a length beyond the largest message",
     frame(T["IMSG_CTL_SHOW_STATS"], length=0x7ffffff0) + b"x" * 64, None),
    ("a frame cut short (its length says 200 bytes, 20 come)",
     frame(T["IMSG_CTL_FORGET"], length=200) + b"y" * 4, None),
    ("a type that is no request (type 65000)",
     frame(65000), "unknown request"),
    ("a type from inside the daemon (IMSG_TOKEN_GET)",
     frame(T["IMSG_TOKEN_GET"], s_str("x")), "unknown request"),
    ("forget whose string is cut short",
     frame(T["IMSG_CTL_FORGET"], struct.pack("=I", 100) + b"abc"),
     "malformed request"),
    ("forget with bytes left over",
     frame(T["IMSG_CTL_FORGET"], s_str("user@example.com") + b"zz"),
     "malformed request"),
    ("authorise without a string",
     frame(T["IMSG_CTL_AUTHORISE"], b""), "malformed request"),
    ("show accounts with a payload",
     frame(T["IMSG_CTL_SHOW_ACCOUNTS"], b"\x01\x02\x03"),
     "malformed request"),
    ("log level 7",
     frame(T["IMSG_CTL_LOG_VERBOSE"], struct.pack("=I", 7)),
     "malformed request"),
    ("a request of another version",
     frame(T["IMSG_CTL_SHOW_STATS"], version=VERSION + 7),
     "version %u" % (VERSION + 7)),
]
for what, data, text in cases:
    got, closed = exchange(data)
    if text is None:
        h.check(closed and not any(m[0] not in (T["IMSG_CTL_FAIL"],)
                                   for m in got),
                "%s: the connection is closed" % what,
                "answers %r, closed %s" % (got, closed))
    else:
        h.check(fails_with(got, text),
                "%s: one CTL_FAIL \"%s\"" % (what, text), repr(got))
    same_processes(what)

h.check(h.wait_log(r"control: uid 0: unknown request type 65000", 5)
        is not None, "the control process logs the unknown request", "")
h.check(not re.search(r"parent: .*(fatal|malformed)", h.log_text()),
        "the parent logs nothing fatal or malformed",
        "\n".join(re.findall(r"parent: .*(?:fatal|malformed).*",
                             h.log_text())))
h.stop_emailproxy()
h.finish()
