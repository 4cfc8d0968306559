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
  a fatal error; with a proxy slow to take it (held by SIGSTOP), tokend
  stays until the proxy has gone, and no child sees a peer vanish.
- A second daemon on the same listener port (its own control socket)
  does not start: exit 1, the section and "address already in use";
  the first keeps its port.
- A redirect port in use at start is tried again for a while: freed in
  time, the daemon starts and listens there; held, the start fails
  (exit 1, the account section and the reason, never "ready").
- A local certificate libtls cannot use fails the start (exit 1, file,
  section and reason); on reload it is refused with the reason
  (emailproxyctl reload prints it), and so is a new listener whose port
  is taken; the running listener keeps serving TLS.
- A reload that changes a listener's section but not its address keeps
  the listening socket (the proxy holds it, the parent none).
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
from harness import Harness, children_of, listening_ports  # noqa: E402

h = Harness("parent_start")
DAEMON = h.emailproxy_bin
NOCAP = ["setpriv", "--bounding-set=-sys_resource", "--inh-caps=-all"]


def config(port, extra_server="", extra="", extra_globals=""):
    return h.fill_config("""[emailproxy]
%s
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
%s""" % (extra_globals, port, h.free_port(), extra_server, h.free_port(),
          extra))


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


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = pred()
        if r:
            return r
        time.sleep(0.05)
    return pred()


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
# 2 * 2000 + 64 fit in 4096; with 100 pooled connections they do not.
d = Daemon(config(h.free_port(), "max_connections = 2000\n"),
           wrap=["prlimit", "--nofile=1024:4096"] + NOCAP)
ok = d.ready()
h.check(ok and not re.search(r"open files limit .* below", d.text()),
        "no warning when max_connections fits", d.text()[-800:])
d.stop()
d = Daemon(config(h.free_port(), "max_connections = 2000\n"
                  "upstream_pool = 100\n"),
           wrap=["prlimit", "--nofile=1024:4096"] + NOCAP)
ok = d.ready()
h.check(ok and re.search(r"open files limit 4096 is below the 4164 that "
                         r"max_connections needs \(two per session, and "
                         r"one per upstream_pool connection\)", d.text()),
        "the warning counts upstream_pool connections too",
        d.text()[-800:])
d.stop()

def listening(port):
    return port in listening_ports()


def socket_inodes(pid):
    out = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", link)
        if m:
            out.add(m.group(1))
    return out


def listen_inode(port):
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                if cols[3] == "0A" and \
                        int(cols[1].rsplit(":", 1)[1], 16) == port:
                    return cols[9]
    return None


def tls_handshake(port):
    """True when a TLS handshake with the test CA succeeds on port."""
    try:
        c = h.connect(port, tls=True)
        c.close()
        return True
    except Exception as e:  # noqa: BLE001 -- reported by the caller
        h.info("TLS to %d: %r" % (port, e))
        return False


def wait_exit(d, timeout=20):
    rc = d.exit_status(timeout)
    if d.proc in h.procs and rc is not None:
        h.procs.remove(d.proc)
    return rc


# -- a second daemon on the same port --------------------------------------
port = h.free_port()
first = Daemon(config(port))
h.check(first.ready(), "first daemon ready", first.text()[-500:])
second = Daemon(config(port, extra_globals="control_socket = %s\n"
                       % h.path("second.sock")))
rc = wait_exit(second)
h.check(rc == 1 and re.search(r"IMAP-%d: 127\.0\.0\.1 port %d: address "
                              r"already in use" % (port, port),
                              second.text()) and
        not re.search(r"in place: ready", second.text()),
        "a second daemon on the same port does not start: exit 1, "
        "\"address already in use\" with the section",
        "%s %s" % (rc, second.text()[-800:]))
h.check(first.proc.alive() and listen_inode(port) in socket_inodes(
        role_pid(first.pid, "proxy") or first.pid),
        "the first daemon's proxy still holds the port", "")
first.stop()

# -- redirect port in use at start -------------------------------------------
auth = ("[auth@example.com]\npermission_url = http://127.0.0.1:%d/auth\n"
        "token_url = http://127.0.0.1:%d/token\noauth2_scope = mail\n"
        "client_id = test-client\nredirect_uri = http://127.0.0.1:%%d/\n"
        % (h.free_port(), h.free_port()))
rport = h.free_port()
holder = socket.socket()
holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
holder.bind(("127.0.0.1", rport))
holder.listen(1)
d = Daemon(config(h.free_port(), extra=auth % rport))
retrying = d.wait_log(r"redirect listener 127\.0\.0\.1:%d: address in "
                      r"use, retrying" % rport, 10)
holder.close()
ok = d.ready()
h.check(retrying and ok and wait_for(lambda: listening(rport), 5),
        "a redirect port in use at start is tried again; freed, the daemon "
        "starts and listens there", d.text()[-800:])
d.stop()
holder = socket.socket()
holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
holder.bind(("127.0.0.1", rport))
holder.listen(1)
d = Daemon(config(h.free_port(), extra=auth % rport))
rc = wait_exit(d)
holder.close()
h.check(rc == 1 and re.search(r"\[auth@example\.com\] redirect listener "
                              r"127\.0\.0\.1:%d: address already in use"
                              % rport, d.text()) and
        not re.search(r"in place: ready", d.text()),
        "a redirect port held during the start: exit 1 naming the account "
        "and the reason, never ready", "%s %s" % (rc, d.text()[-800:]))

# -- local certificate that cannot be used -----------------------------------
garbage = h.path("garbage.crt")
with open(garbage, "w") as f:
    f.write("this is not a certificate\n")
tls_port = h.free_port()
bad_tls = ("local_certificate_path = %s\nlocal_key_path = %s\n"
           % (garbage, h.key_file))
good_tls = ("local_certificate_path = %s\nlocal_key_path = %s\n"
            % (h.cert_file, h.key_file))
d = Daemon(config(tls_port, bad_tls))
rc = wait_exit(d)
h.check(rc == 1 and re.search(
        r"d\d+\.conf:\d+: \[IMAP-%d\] local_certificate_path %s and "
        r"local_key_path %s cannot be used: \S" % (
            tls_port, re.escape(garbage), re.escape(h.key_file)),
        d.text()) and not re.search(r"in place: ready", d.text()),
        "a local certificate libtls cannot use fails the start: exit 1, "
        "file, section and reason", "%s %s" % (rc, d.text()[-800:]))

good = config(tls_port, good_tls, extra_globals="control_socket = %s\n"
              % h.path("reload.sock"))
d = Daemon(good, conf_name="reload.conf")
ok = d.ready()
h.check(ok and tls_handshake(tls_port), "with a usable pair the listener "
        "serves TLS", d.text()[-500:])
with open(d.conf, "w") as f:
    f.write(good.replace(h.cert_file, garbage))
r = h.emailproxyctl("-s", h.path("reload.sock"), "reload")
err = r.stderr.decode(errors="replace")
h.check(r.returncode == 1 and "reload failed" in err and garbage in err and
        "IMAP-%d" % tls_port in err,
        "reload with an unusable certificate is refused with the reason",
        "%d %r" % (r.returncode, err))
h.check(d.proc.alive() and tls_handshake(tls_port),
        "after the refused reload the listener still serves TLS", "")
busy = h.free_port()
holder = socket.socket()
holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
holder.bind(("127.0.0.1", busy))
holder.listen(1)
with open(d.conf, "w") as f:
    f.write(good + "\n[IMAP-%d]\nlocal_address = 127.0.0.1\n"
            "server_address = 127.0.0.1\nserver_port = 1\n" % busy)
r = h.emailproxyctl("-s", h.path("reload.sock"), "reload")
err = r.stderr.decode(errors="replace")
holder.close()
h.check(r.returncode == 1 and "IMAP-%d: 127.0.0.1 port %d: address "
        "already in use" % (busy, busy) in err,
        "reload with a new listener whose port is taken is refused with "
        "the reason", "%d %r" % (r.returncode, err))
h.check(d.proc.alive() and tls_handshake(tls_port),
        "the running listener keeps serving", "")

# A changed section, same address: the socket stays, in the proxy.
inode = listen_inode(tls_port)
with open(d.conf, "w") as f:
    f.write(good.replace("local_key_path", "idle_timeout = 77\n"
                         "local_key_path"))
r = h.emailproxyctl("-s", h.path("reload.sock"), "reload")
proxy = role_pid(d.pid, "proxy")
held = proxy and wait_for(lambda: listen_inode(tls_port) in
                         socket_inodes(proxy), 5)
h.check(r.returncode == 0 and listen_inode(tls_port) == inode and held and
        inode not in socket_inodes(d.pid) and tls_handshake(tls_port),
        "a reload that changes a section but not its address keeps the "
        "listening socket in the proxy",
        "%d %r %s %s" % (r.returncode, r.stderr, inode,
                         listen_inode(tls_port)))
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


def pid_alive(pid):
    """pid runs (a zombie does not count)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# A proxy slow to take the stop (held with SIGSTOP): authd leaves at
# once, and tokend must stay until the proxy has gone, so that the proxy
# never sees it vanish; then all leave cleanly.
d = Daemon(text, conf_name="stop.conf")
ok = d.ready()
pids = {r: role_pid(d.pid, r) for r in ("proxy", "tokend", "authd")}
why = "not ready or a child missing: %r %s" % (pids, d.text()[-300:])
stayed = False
if ok and all(pids.values()):
    os.kill(pids["proxy"], signal.SIGSTOP)
    os.kill(d.pid, signal.SIGTERM)
    authd_gone = wait_for(lambda: not pid_alive(pids["authd"]), 10)
    # tokend has no reason to leave before the proxy: watch it for the
    # time it would take to follow authd.
    left = wait_for(lambda: not pid_alive(pids["tokend"]), 0.5)
    stayed = authd_gone and not left
    why = "authd gone %s, tokend alive %s" % (authd_gone,
                                              pid_alive(pids["tokend"]))
    os.kill(pids["proxy"], signal.SIGCONT)
rc = d.exit_status()
log = d.text()
m = re.search(r".*(fatal|went away|did not stop).*", log)
h.check(stayed, "a requested stop: tokend stays while the proxy has not "
        "gone yet (authd has)", why)
h.check(rc == 0 and not m and re.search(r"parent: stopped", log),
        "a requested stop with a slow proxy: exit 0, \"stopped\", no "
        "child saw its peer vanish", "exit %s, %s" % (
            rc, m.group(0) if m else log[-300:]))
d.stop()

h.finish()
