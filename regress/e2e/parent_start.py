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
"""Starting and stopping the daemon, as administrators do (no upstream
server is needed: nothing logs in).

- Open files: when the hard limit cannot be raised (no CAP_SYS_RESOURCE)
  the soft limit is lifted to the hard one, for the parent and the
  proxy, without a warning; a warning comes only when that is below
  what max_connections needs.
- A requested stop (SIGTERM), repeated: exit status 0 and no child logs
  a fatal error.
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness, children_of, wait_listening  # noqa: E402

h = Harness("parent_start")
DAEMON = h.emailproxy_bin
NOCAP = ["setpriv", "--bounding-set=-sys_resource", "--inh-caps=-all"]


def config(port, extra_server="", extra=""):
    return h.fill_config("""[emailproxy]

[IMAP-%d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %d
%s
[user@example.com]
oauth2_flow = password
token_url = http://127.0.0.1:%d/token
oauth2_scope = mail
client_id = test-client
%s""" % (port, h.free_port(), extra_server, h.free_port(), extra))


class Daemon:
    """emailproxy -d -v started by the test (argv prefix wrap)."""
    n = 0

    def __init__(self, text, wrap=(), conf_name=None):
        Daemon.n += 1
        self.name = "d%d" % Daemon.n
        h._prepare_dirs()
        self.conf = h.path(conf_name or self.name + ".conf")
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.log = h.path(self.name + ".log")
        self.proc = h._start(self.name, list(wrap) + [
            DAEMON, "-d", "-v", "-f", self.conf], self.log)
        self.pid = self.proc.pid

    def text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, regex, timeout=20):
        end = time.monotonic() + timeout
        while True:
            m = re.search(regex, self.text(), re.M)
            if m or time.monotonic() > end or not self.proc.alive():
                return m or re.search(regex, self.text(), re.M)
            time.sleep(0.05)

    def ready(self, timeout=20):
        return self.wait_log(r"in place: ready", timeout) is not None

    def exit_status(self, timeout=20):
        try:
            return self.proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        rc = self.proc.stop()
        if self.proc in h.procs:
            h.procs.remove(self.proc)
        return rc


def nofile(pid):
    """(soft, hard) open files limit of pid."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                v = line.split()
                return int(v[3]), int(v[4])
    return None


def role_pid(pid, role):
    for k in children_of(pid):
        with open("/proc/%d/cmdline" % k, "rb") as f:
            if f.read().replace(b"\0", b" ").strip().endswith(
                    role.encode()):
                return k
    return None


# -- open files limit ------------------------------------------------------
d = Daemon(config(h.free_port()),
           wrap=["prlimit", "--nofile=1024:4096"] + NOCAP)
ok = d.ready()
proxy = role_pid(d.pid, "proxy") if ok else None
h.check(ok and nofile(d.pid) == (4096, 4096) and proxy and
        nofile(proxy) == (4096, 4096),
        "hard limit not raisable: the soft open files limit is lifted to "
        "the hard one (parent and proxy)",
        "%s %s" % (nofile(d.pid) if ok else d.text()[-800:],
                   proxy and nofile(proxy)))
h.check(ok and not re.search(r"setrlimit|open files limit .* below",
                             d.text()),
        "no open files warning when nothing needs more",
        d.text()[-800:])
d.stop()
d = Daemon(config(h.free_port(), "max_connections = 3000\n"),
           wrap=["prlimit", "--nofile=1024:4096"] + NOCAP)
ok = d.ready()
h.check(ok and re.search(r"open files limit 4096 is below the \d+ that "
                         r"max_connections needs", d.text()),
        "a warning when the hard limit is below what max_connections "
        "needs", d.text()[-800:])
d.stop()

# -- a requested stop is clean -----------------------------------------------
text = config(h.free_port())
bad = []
for i in range(8):
    d = Daemon(text, conf_name="stop.conf")
    ok = d.ready()
    rc = d.stop()
    log = d.text()
    m = re.search(r".*fatal.*", log)
    if not ok or rc != 0 or m or not re.search(r"parent: stopped", log):
        bad.append("run %d: ready %s, exit %s, %s" % (
            i + 1, ok, rc, m.group(0) if m else log[-300:]))
h.check(not bad, "8 starts and SIGTERM stops: exit 0, \"stopped\", no "
        "fatal in the log", "; ".join(bad))

h.finish()
