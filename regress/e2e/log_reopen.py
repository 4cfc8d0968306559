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
"""The log as an administrator rotates and watches it.

- SIGUSR2 reopens the --log-file: after logrotate's rename, the lines of
  the parent and of its children go to a new file and none to the old
  one; the children ignore the signal, so sending it to every process
  of the service (systemctl kill) stops nothing.  SIGUSR1 toggles debug
  logging.
- "<N>" priority prefixes go to the journal only: not to a --log-file,
  and not to a standard error that is a file while JOURNAL_STREAM (which
  names the journal's stream) is inherited from a service.
- The Fail2Ban filter (etc/fail2ban/filter.d/emailproxy.conf), run by
  fail2ban-regex, finds the failed logins in what the daemon wrote: the
  --log-file, the journal (the daemon's stream lines without their
  prefix, shown as journalctl -o short and Fail2Ban's systemd backend
  show them: no journald runs here), and a syslog file (the same
  message, as syslog(3) sends it with the ident and PID, in rsyslog's
  traditional file format).
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness, HarnessError  # noqa: E402
import hostile  # noqa: E402

FILTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                      "etc", "fail2ban", "filter.d", "emailproxy.conf")
PREFIX = re.compile(r"^<\d>")


def server(p):
    p.send(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n")
    while True:
        try:
            line = p.readline()
        except EOFError:
            return
        words = line.rstrip(b"\r\n").split(b" ")
        tag = words[0]
        verb = words[1].upper() if len(words) > 1 else b""
        if verb == b"LOGOUT":
            p.send(b"* BYE\r\n" + tag + b" OK bye\r\n")
            return
        p.send(tag + b" NO refused\r\n")


def login(port, user, password="not-the-password"):
    """A login, if the daemon still listens (the checks say when not)."""
    try:
        c = h.connect(port, timeout=30)
    except OSError as e:
        h.info("login %s: %s" % (user, e))
        return
    try:
        c.readline()
        c.send(b'a LOGIN %s "%s"\r\n' % (user.encode(),
                                            password.encode()))
        c.read_until(rb"^a (OK|NO|BAD)", timeout=30)
    except (OSError, EOFError, HarnessError) as e:
        h.info("login %s: %s" % (user, e))
    c.close()


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def wait_text(path, regex, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        m = re.search(regex, read(path), re.M)
        if m or time.monotonic() > deadline:
            return m
        time.sleep(0.05)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def fail2ban(lines, name):
    """How many lines the filter matches (fail2ban-regex), and its
    output."""
    path = h.path(name)
    with open(path, "w") as f:
        f.write("".join(ln + "\n" for ln in lines))
    r = subprocess.run(["fail2ban-regex", "--print-all-matched", path,
                        FILTER], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                       timeout=120)
    out = r.stdout.decode(errors="replace")
    m = re.search(r"^Lines: \d+ lines, \d+ ignored, (\d+) matched", out,
                  re.M)
    return (int(m.group(1)) if m and r.returncode == 0 else -1), out


h = Harness("log_reopen")
h.start_oauth()
up = hostile.Upstream(h, server, tls=True, timeout=30)
port = h.free_port()
conf = hostile.config(h, hostile.section(h, "IMAP", port, up.port))

# -- SIGUSR2 reopens the --log-file -----------------------------------------
log = h.path("daemon.log")
d = h.start_emailproxy(conf, args=["--log-file", log])
h.check(wait_text(log, r"in place: ready") is not None,
        "--log-file: the daemon is ready", read(log)[-500:])
login(port, "first@example.org")
h.check(wait_text(log, r"proxy: audit: result=unknown-account .*"
                  r"account=first@example\.org$") is not None,
        "--log-file: the proxy's audit line is there", read(log)[-500:])
kids = d.children()
os.rename(log, log + ".1")
# As systemctl kill -s USR2 emailproxy: every process of the service.
for pid in [d.pid] + kids:
    os.kill(pid, signal.SIGUSR2)
reopened = wait_text(log, r"parent: log file .* reopened$")
login(port, "second@example.org")
second = wait_text(log, r"proxy: audit: result=unknown-account .*"
                   r"account=second@example\.org$")
old, new = read(log + ".1"), read(log)
h.check(reopened is not None and second is not None,
        "SIGUSR2: a new --log-file has the parent's and the proxy's new "
        "lines", "old: %r new: %r" % (old[-300:], new[-300:]))
h.check("second@example.org" not in old and "reopened" not in old and
        "first@example.org" in old,
        "SIGUSR2: the renamed file gets no new line", old[-400:])
h.check(all(alive(p) for p in [d.pid] + kids) and d.alive(),
        "SIGUSR2 sent to every process of the daemon stops none",
        "%r %r" % (kids, read(log)[-400:]))

# SIGUSR1: debug logging on and off.
os.kill(d.pid, signal.SIGUSR1)
on = wait_text(log, r"parent: verbosity set to \d+$")
h.check(on is not None and d.alive(), "SIGUSR1 toggles debug logging",
        read(log)[-300:])
stamped = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+[+-]\d\d:\d\d "
                     r"emailproxy\[\d+\]: ")
lines = read(log).splitlines() + old.splitlines()
h.check(lines and all(stamped.match(ln) for ln in lines),
        "--log-file: every line before and after the reopen is dated",
        repr([ln for ln in lines if not stamped.match(ln)][:3]))
n, out = fail2ban(lines, "f2b-logfile.log")
h.check(n == 2, "fail2ban-regex: the filter matches the 2 failed logins "
        "in the --log-file", out[-1500:])
h.stop_emailproxy()

# -- "<N>" prefixes for the journal alone -----------------------------------
# The daemon's standard error is a file; JOURNAL_STREAM names another
# stream, as for a program a service runs with its stderr redirected.
other = os.stat(h.path("daemon.log.1"))
os.environ["JOURNAL_STREAM"] = "%d:%d" % (other.st_dev, other.st_ino)
mark = h.log_mark()
h.start_emailproxy(conf)
h.wait_log(r"in place: ready", since=mark)
login(port, "third@example.org")
h.wait_log(r"account=third@example\.org$", since=mark)
h.stop_emailproxy()
text = h.log_text()[mark:]
h.check("third@example.org" in text and
        not any(PREFIX.match(ln) for ln in text.splitlines()),
        "stderr a file, JOURNAL_STREAM another stream: no <N> prefix",
        text[:300])

# --log-file under a service whose stderr is the journal: the file has
# no prefix.
open(h.path("emailproxy.log"), "ab").close()
st = os.stat(h.path("emailproxy.log"))
os.environ["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
log2 = h.path("journal-and-file.log")
h.start_emailproxy(conf, args=["--log-file", log2])
wait_text(log2, r"in place: ready")
login(port, "fourth@example.org")
wait_text(log2, r"account=fourth@example\.org$")
h.stop_emailproxy()
text = read(log2)
h.check("fourth@example.org" in text and
        not any(PREFIX.match(ln) for ln in text.splitlines()) and
        all(stamped.match(ln) for ln in text.splitlines()),
        "--log-file while stderr is the journal: dated lines, no <N>",
        text[:300])

# Standard error is the journal's stream: every process's lines carry
# the priority.
mark = h.log_mark()
d = h.start_emailproxy(conf)
mainpid = d.pid
h.wait_log(r"in place: ready", since=mark)
login(port, "fifth@example.org")
login(port, "sixth@example.org")
# Not a guess: the server refuses the token (upstream-rejected).
login(port, hostile.USER, hostile.PASSWORD)
h.wait_log(r"account=%s$" % re.escape(hostile.USER), since=mark)
h.stop_emailproxy()
del os.environ["JOURNAL_STREAM"]
text = h.log_text()[mark:]
lines = [ln for ln in text.splitlines() if ln]
procs = set(re.findall(r"(?m)^<\d>(\w+): ", text))
h.check(lines and all(PREFIX.match(ln) for ln in lines) and
        {"parent", "proxy", "tokend"} <= procs,
        "stderr the journal's stream: every line of every process has "
        "its <N> priority", "%r %r" % (sorted(procs), lines[:3]))

# What journald keeps is the line without its prefix; Fail2Ban's systemd
# backend and journalctl -o short show it after the date, host and
# SYSLOG_IDENTIFIER[_PID].
host = socket.gethostname().split(".")[0]
now = time.localtime()
journal = ["%s %s emailproxy[%d]: %s" % (
    time.strftime("%b %d %H:%M:%S", now), host, mainpid, PREFIX.sub("", ln))
    for ln in lines]
n, out = fail2ban(journal, "f2b-journal.log")
h.check(n == 2, "fail2ban-regex: the filter matches the 2 failed logins "
        "in the journal's lines (journalctl -o short)", out[-1500:])
# syslog(3): openlog("emailproxy", LOG_PID) and "process: message"; the
# traditional file format pads the day with a space.
day = "%s %2d %s" % (time.strftime("%b", now), now.tm_mday,
                     time.strftime("%H:%M:%S", now))
syslog = ["%s %s emailproxy[%d]: %s" % (day, host, mainpid + 1,
                                        PREFIX.sub("", ln))
          for ln in lines]
n, out = fail2ban(syslog, "f2b-syslog.log")
h.check(n == 2, "fail2ban-regex: the filter matches the 2 failed logins "
        "in a syslog file", out[-1500:])
h.finish()
