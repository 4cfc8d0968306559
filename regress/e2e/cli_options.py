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
"""Command-line options: --help prints the usage on stdout and exits 0
(an unknown option exits 1, one line on stderr); every line the
daemon and its children write to a --log-file starts with a date and
time (RFC 3339, milliseconds) and "emailproxy[PID]:", as syslog files
do; -n reports to stderr, not to the --log-file; a configuration error
exits 78 (EX_CONFIG), with -n and at start."""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

h = Harness("cli_options")


def run(*args):
    r = subprocess.run([h.emailproxy_bin] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=30)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


rc, out, err = run("--help")
h.check(rc == 0 and out.startswith("usage: emailproxy") and err == "",
        "--help: usage on stdout, exit 0", "%d %r %r" % (rc, out, err))
rc, out, err = run("-h")
h.check(rc == 0 and out.startswith("usage: emailproxy"),
        "-h: usage on stdout, exit 0", "%d %r" % (rc, out))
rc, out, err = run("--no-such-option")
h.check(rc == 1 and err.count("\n") == 1 and "--no-such-option" in err and
        "emailproxy -h" in err and out == "",
        "an unknown option: one line on stderr naming it, exit 1",
        "%d %r %r" % (rc, out, err))

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d "
                   r"emailproxy\[\d+\]: "
                   r"(parent|proxy|tokend|authd|control): ")

# -n with --log-file reports to the terminal, not to the file.
logfile = h.path("n.log")
bad = os.path.join(h.top, "regress", "config", "bad-bool.conf")
rc, out, err = run("-n", "-f", bad, "--log-file", logfile)
h.check(rc == 78 and "bad-bool.conf:4: server_starttls" in err and
        "configuration invalid" in err and not os.path.exists(logfile),
        "-n --log-file: the findings go to stderr, not to the log file",
        "%d %r" % (rc, err))

# Started as a daemon, a configuration error is EX_CONFIG too: the
# unit's RestartPreventExitStatus=78 then does not retry it.
rc, out, err = run("-d", "-f", bad)
h.check(rc == 78 and "bad-bool.conf:4: server_starttls" in err,
        "a configuration error at start: exit 78 (EX_CONFIG), file:line",
        "%d %r" % (rc, err))

# The daemon and its children.
logfile = h.path("daemon.log")
port = h.free_port()
dead = h.free_port()
config = ("[IMAP-%d]\nlocal_address = 127.0.0.1\nserver_address = "
          "127.0.0.1\nserver_port = %d\n" % (port, dead))
t0 = time.time()
h.start_emailproxy(config, args=["--log-file", logfile])
c = h.connect(port)
line = c.readline()
h.check(line.startswith(b"* BYE"), "a client of an unreachable server "
        "gets * BYE", repr(line))
c.close()
h.stop_emailproxy()
t1 = time.time()
with open(logfile) as f:
    lines = f.read().splitlines()
undated = [ln for ln in lines if not STAMP.match(ln)]
h.check(lines and not undated, "--log-file: each of %d lines starts with "
        "a date and time" % len(lines), repr(undated[:3]))
procs = set(m.group(1) for m in map(STAMP.match, lines) if m)
h.check({"parent", "proxy"} <= procs, "--log-file: dated lines of the "
        "parent and of the proxy child", repr(sorted(procs)))
first = lines[0][:19] if lines else ""
try:
    when = time.mktime(time.strptime(first, "%Y-%m-%dT%H:%M:%S"))
except ValueError:
    when = 0
h.check(t0 - 2 <= when <= t1 + 2, "--log-file: the time is the local "
        "time of the line", "%r" % first)
h.finish()
