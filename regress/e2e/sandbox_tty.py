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
"""emailproxy -d on a terminal (a pseudo-terminal here): no child holds
the terminal (standard input and output are /dev/null, standard error a
pipe to the parent), yet every child's log lines appear on the terminal;
the children run under their syscall filter; SIGTERM stops it with exit
status 0 and the last lines on the terminal.  (That a filter kills a
process asking TIOCSTI is regress/unit/sandbox_test.c.)
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness, children_of  # noqa: E402

h = Harness("sandbox_tty")
port = h.free_port()
conf = h.path("emailproxy.conf")
h._prepare_dirs()
fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    f.write(h.fill_config("""[emailproxy]

[IMAP-%d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %d

[user@example.com]
oauth2_flow = password
token_url = http://127.0.0.1:%d/token
oauth2_scope = mail
client_id = test-client
""" % (port, h.free_port(), h.free_port())))

master, slave = os.openpty()
tty = os.ttyname(slave)
out = []


def reader():
    while True:
        try:
            b = os.read(master, 65536)
        except OSError:
            break
        if not b:
            break
        out.append(b)


def text():
    return b"".join(out).decode("utf-8", "replace")


def wait_text(regex, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        m = re.search(regex, text(), re.M)
        if m:
            return m
        time.sleep(0.05)
    return re.search(regex, text(), re.M)


p = subprocess.Popen([h.emailproxy_bin, "-d", "-v", "-f", conf],
                     stdin=slave, stdout=slave, stderr=slave,
                     start_new_session=True)
os.close(slave)
t = threading.Thread(target=reader, daemon=True)
t.start()
try:
    ready = wait_text(r"in place: ready")
    h.check(ready, "daemon on a terminal is ready", text()[-800:])
    kids = children_of(p.pid)
    roles = {}
    for k in kids:
        with open("/proc/%d/cmdline" % k, "rb") as f:
            roles[f.read().replace(b"\0", b" ").decode().split(":")[-1]
                  .strip()] = k
    h.check(sorted(roles) == ["authd", "control", "proxy", "tokend"],
            "four children", repr(roles))
    for role, pid in sorted(roles.items()):
        links = {}
        for n in (0, 1, 2):
            try:
                links[n] = os.readlink("/proc/%d/fd/%d" % (pid, n))
            except OSError as e:
                links[n] = repr(e)
        h.check(links[0] == "/dev/null" and links[1] == "/dev/null" and
                links[2].startswith("pipe:") and
                tty not in links.values(),
                "%s: descriptors 0 and 1 are /dev/null, 2 a pipe, none "
                "the terminal" % role, "%s (terminal %s)" % (links, tty))
        with open("/proc/%d/status" % pid) as f:
            seccomp = re.search(r"(?m)^Seccomp:\s*(\d+)", f.read())
        h.check(seccomp and seccomp.group(1) == "2",
                "%s runs under its syscall filter" % role,
                seccomp.group(0) if seccomp else "")
        h.check(re.search(r"(?m)^(\S+ )?%s: " % role, text()),
                "%s's log lines appear on the terminal" % role,
                text()[-800:])
    os.kill(p.pid, signal.SIGTERM)
    try:
        rc = p.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
    t.join(5)
    h.check(rc == 0 and re.search(r"parent: stopped", text()),
            "SIGTERM: exit status 0, \"stopped\" on the terminal",
            "%s %s" % (rc, text()[-500:]))
finally:
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        p.wait()
    try:
        os.close(master)
    except OSError:
        pass
h.finish()
