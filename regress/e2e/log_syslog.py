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
"""The daemon without -d logs to syslog(3): the messages it sends to
/dev/log, received here on a socket that a private mount namespace
puts at /dev/log for the daemon alone, use the daemon facility and the
ident emailproxy with the PID of each process; written as rsyslog's
traditional file format writes them (date, host, then the message as
sent), the Fail2Ban filter (etc/fail2ban/filter.d/emailproxy.conf)
finds the failed logins in them with fail2ban-regex."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness, HarnessError, start_time  # noqa: E402
import hostile  # noqa: E402

FILTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                      "etc", "fail2ban", "filter.d", "emailproxy.conf")
LOG_DAEMON = 3


def server(p):
    p.send(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n")
    try:
        while p.readline():
            pass
    except EOFError:
        return


def login(port, user):
    try:
        c = h.connect(port, timeout=30)
    except OSError as e:
        h.info("login %s: %s" % (user, e))
        return
    try:
        c.readline()
        c.send(b'a LOGIN %s "not-the-password"\r\n' % user.encode())
        c.read_until(rb"^a (OK|NO|BAD)", timeout=30)
    except (OSError, EOFError, HarnessError) as e:
        h.info("login %s: %s" % (user, e))
    c.close()


def daemon_pids(mark):
    """The processes whose environment carries mark: the daemon's."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                if mark in f.read().split(b"\0"):
                    out.append(int(d))
        except OSError:
            pass
    return out


h = Harness("log_syslog")
h.start_oauth()
up = hostile.Upstream(h, server, tls=True, timeout=30)
port = h.free_port()
conf = h.fill_config(hostile.config(h, hostile.section(h, "IMAP", port,
                                                         up.port)))
h._prepare_dirs()
conf_path = h.path("syslog.conf")
with open(conf_path, "w") as f:
    f.write(conf)
os.chmod(conf_path, 0o600)

devlog = h.path("devlog")
rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
rx.bind(devlog)
os.chmod(devlog, 0o666)
got = []


def receive():
    while True:
        try:
            data = rx.recv(65536)
        except OSError:
            return
        if not data:
            return
        got.append(data.decode("utf-8", "replace"))


threading.Thread(target=receive, daemon=True).start()

# /dev as a tmpfs in a namespace of its own: the nodes the daemon opens,
# and /dev/log pointing at our socket.
orig = h.path("dev-orig")
os.makedirs(orig, exist_ok=True)
script = r"""set -e
mount --make-rprivate /
mount --rbind /dev "$1"
mount -t tmpfs -o mode=0755 tmpfs /dev
for n in null zero full random urandom tty; do
	[ -e "$1/$n" ] || continue
	: >"/dev/$n"
	mount --bind "$1/$n" "/dev/$n"
done
ln -s "$2" /dev/log
shift 2
exec "$@"
"""
mark = "EMAILPROXY_REGRESS_SYSLOG=%d.%d" % (os.getpid(), time.time())
env = dict(os.environ)
env["EMAILPROXY_REGRESS_SYSLOG"] = mark.split("=", 1)[1]
r = subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", orig,
                    devlog, h.emailproxy_bin, "-f", conf_path],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   stdin=subprocess.DEVNULL, env=env, timeout=60)
pids = []
try:
    started = r.returncode == 0
    if not started:
        h.info("unshare: %d %s" % (r.returncode, r.stdout.decode()[-500:]))
    deadline = time.monotonic() + 20
    while started and time.monotonic() < deadline and not any(
            "in place: ready" in m for m in got):
        time.sleep(0.05)
    pids = daemon_pids(mark.encode())
    # For the harness to kill what a killed run leaves: daemon(3) made
    # the parent a process group leader.
    leader = [p for p in pids if os.getpgid(p) == p] if pids else []
    with open(h.path("pids"), "a") as f:
        for p in leader:
            f.write("%d %s emailproxy-syslog\n" % (p, start_time(p)))
    h.check(started and any("in place: ready" in m for m in got),
            "without -d the daemon logs to /dev/log (syslog)",
            "%r %r" % (r.stdout[-300:], got[-3:]))
    login(port, "first@example.org")
    login(port, "second@example.org")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(
            "account=second@example.org" in m for m in got):
        time.sleep(0.05)
finally:
    for p in pids:
        if os.getpgid(p) == p:
            try:
                os.kill(p, signal.SIGTERM)
            except OSError:
                pass
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(
            start_time(p) is not None for p in pids):
        time.sleep(0.05)
    for p in pids:
        if start_time(p) is not None:
            os.kill(p, signal.SIGKILL)
rx.close()

# <PRI>Mmm dd hh:mm:ss emailproxy[PID]: process: message
shape = re.compile(r"^<(\d+)>(\w{3} [ \d]\d \d\d:\d\d:\d\d) "
                   r"emailproxy\[(\d+)\]: (\w+): (.*)$", re.S)
parsed = [shape.match(m) for m in got]
audits = [m for m in parsed if m and m.group(4) == "proxy" and
          m.group(5).startswith("audit: ")]
h.check(got and all(parsed) and
        all(int(m.group(1)) >> 3 == LOG_DAEMON for m in parsed),
        "syslog: every message has the daemon facility, the ident "
        "emailproxy and a PID", repr([m for m in got if not
                                      shape.match(m)][:3] or got[:2]))
h.check(len(audits) == 2 and
        all(int(m.group(1)) & 7 == 6 for m in audits) and
        len(set(int(m.group(3)) for m in parsed)) >= 3,
        "syslog: the proxy's audit lines at info level, each process "
        "with its own PID", repr([m.group(0) for m in audits]))

host = socket.gethostname().split(".")[0]
lines = ["%s %s emailproxy[%s]: %s: %s" % (m.group(2), host, m.group(3),
                                          m.group(4), m.group(5).rstrip())
         for m in parsed if m]
path = h.path("syslog.log")
with open(path, "w") as f:
    f.write("".join(ln + "\n" for ln in lines))
r = subprocess.run(["fail2ban-regex", path, FILTER], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                   timeout=120)
out = r.stdout.decode(errors="replace")
m = re.search(r"^Lines: \d+ lines, \d+ ignored, (\d+) matched", out, re.M)
h.check(r.returncode == 0 and m is not None and int(m.group(1)) == 2,
        "fail2ban-regex: the filter matches the 2 failed logins in the "
        "syslog file", out[-1500:])
h.finish()
