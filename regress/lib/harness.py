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
"""End-to-end test harness shared by every protocol test.

Run tests with /usr/bin/python3 as root (regress/run does).  A test:

    import os, sys
    sys.path.insert(0, os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "..", "lib"))
    from harness import Harness

    h = Harness("imap_login")        # fresh $REGRESS_TMP/imap_login
    h.start_dovecot()                # also starts the OAuth server, sink
    h.seed_message("alice@example.com", b"Subject: hi\\r\\n\\r\\nbody\\r\\n")
    h.start_emailproxy(h.standard_config())
    c = h.connect(h.proxy_ports["imap"])
    h.check(c.readline().startswith(b"* OK"), "greeting")
    h.finish()                       # exit 1 if any check failed

API (details in each docstring):
  Harness(name)            scratch dir, certificates; .ca_file .cert_file
                           .key_file .untrusted_{ca,cert,key}_file .dir
  check(cond, what, why)   PASS/FAIL line; finish() exits 1 on a failure;
                           safe from several threads at once (one whole
                           line per check: harness_threads.py)
  info(msg)                a "# ..." diagnostic line
  free_port()              a free port on 127.0.0.1 (and ::1)
  connect(port, host, tls) a Conn: send, readline, read_exact,
                           read_until(regex), read_available,
                           closed_by_peer, starttls(ctx), close
  client_ctx(ca), server_ctx(cert, key)   ssl contexts (test CA/cert)
  start_oauth(...)         -> OAuth: .url .port .token_url .authorize_url
                           .devicecode_url .client_id .client_secret,
                           mint(user), revoke(token|username), set(**kv),
                           reset(), stats(), requests(), pending(),
                           approve(login_hint), approve_device(code),
                           introspect(token), get(path), admin(path)
  stop_oauth()             (the "OAuth server down" case)
  start_sink()             -> Sink: .port .dir, messages(),
                           wait_messages(n), strip_received(data), clear()
  start_dovecot(extra_conf) -> Dovecot: .ports[imap imaps pop3 pop3s
                           submission submissions], log_text(),
                           log_mark(), wait_log(regex, timeout, since);
                           stop_dovecot()
  seed_message(user, raw, mailbox="INBOX", flags="")
  standard_config(...)     a config text (see its docstring);
                           .proxy_ports .accounts
  fill_config(text)        adds the harness's [emailproxy] keys
  start_emailproxy(config, args) -> EmailProxy: .pid .log_path .ports
                           children(); stop_emailproxy() -> exit status;
                           reload_emailproxy(config) (SIGHUP)
  log_text(), log_mark(), wait_log(regex, timeout, since)
  wait_until(pred, timeout)       pred() until true or the timeout
  wait_file_match(path, regex, timeout, since)   a file's text matches
  emailproxyctl(*args)     runs $EMAILPROXYCTL
  rss_kb(pid), fd_count(pid), proc_title(pid)   leak checks
  xoauth2(user, token), oauthbearer(user, token)  SASL responses
  stop_all()               also at exit, on SIGTERM, on an exception

Everything started is stopped by PID (SIGTERM, then SIGKILL to its process
group after a bound) in stop_all(), which also runs at exit, on SIGTERM
(regress/run's timeout) and after an uncaught exception (which is
reported as a FAIL line).  Every wait has a timeout.

Scratch layout ($REGRESS_TMP/<name>/):
    ca.crt ca.key               test CA (EC P-256)
    server.crt server.key       leaf for localhost, 127.0.0.1, ::1
    untrusted-ca.crt untrusted.crt untrusted.key
                                the same names, signed by another CA
    oauth/                      OAuth server log and ready file
    sink/                       SMTP sink: messages as N.eml + N.json
    dovecot/                    dovecot.conf, oauth2 args, run/, state/,
                                dovecot.log
    mail/<user>/Maildir         maildirs (owned by the mail user)
    emailproxy.conf             (0600) emailproxy.log (stderr of -d)
    store/ (0700 _emailproxy)   empty/ (0755 root)   ctl.sock

Facts a test can rely on:
  - Dovecot accepts only XOAUTH2/OAUTHBEARER with a token the OAuth
    server's introspection says is active and whose "username" equals the
    SASL user (lower-cased).  The plain ports offer STARTTLS/STLS, but
    Dovecot counts a loopback connection as "secured", so it also accepts
    AUTHENTICATE without TLS there; to see whether a client used TLS, look
    for "TLS" (versus "secured") in the session's line of the Dovecot log
    (self.dovecot.log_text()).
  - Dovecot's submission service prepends a Received: field when it
    relays (Sink.strip_received() removes it); the rest is byte-exact.
  - Dovecot converts bare LF to CRLF on output, so seed messages with CRLF
    line endings to compare FETCH/RETR bytes exactly.
  - The mail processes run as the mail user (self.mail_user, "nobody"),
    so the scratch path must be traversable by others (0755 parents).
"""

import atexit
import base64
import hashlib
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

LIBDIR = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"

START_TIMEOUT = 20      # seconds for a server to come up
STOP_TIMEOUT = 5        # seconds between SIGTERM and SIGKILL
IO_TIMEOUT = 10         # default for client reads

PROXY_USER = "_emailproxy"
MAIL_USER = "nobody"


class HarnessError(Exception):
    """A server did not start or a wait timed out."""


# ---------------------------------------------------------------------
# Small helpers

def _run(argv, timeout=60, check=True, **kw):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise HarnessError("%s failed (%d): %s" % (
            " ".join(argv), r.returncode,
            r.stderr.decode(errors="replace").strip()))
    return r


def _can_bind(family, host, port):
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def have_ipv6():
    """True when ::1 can be bound on this machine."""
    return _can_bind(socket.AF_INET6, "::1", 0)


def listening_ports():
    """Set of TCP ports in LISTEN state (IPv4 and IPv6), from /proc."""
    ports = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(f) as fh:
                next(fh)
                for line in fh:
                    parts = line.split()
                    if len(parts) > 3 and parts[3] == "0A":
                        ports.add(int(parts[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


def wait_listening(ports, timeout=START_TIMEOUT, alive=None):
    """Wait until every port listens; alive() False aborts early."""
    deadline = time.monotonic() + timeout
    want = set(ports)
    while True:
        missing = want - listening_ports()
        if not missing:
            return
        if alive is not None and not alive():
            raise HarnessError("process exited before ports %s listened"
                               % sorted(missing))
        if time.monotonic() > deadline:
            raise HarnessError("ports %s not listening after %ds"
                               % (sorted(missing), timeout))
        time.sleep(0.05)


def wait_file(path, timeout=START_TIMEOUT, alive=None):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if alive is not None and not alive():
            raise HarnessError("process exited before writing %s" % path)
        if time.monotonic() > deadline:
            raise HarnessError("%s not written after %ds" % (path, timeout))
        time.sleep(0.05)
    with open(path) as f:
        return f.read()


def wait_until(pred, timeout=IO_TIMEOUT, interval=0.05):
    """Call pred() until it returns something true or timeout seconds
    have passed; returns its last result."""
    deadline = time.monotonic() + timeout
    while True:
        r = pred()
        if r or time.monotonic() > deadline:
            return r
        time.sleep(interval)


def wait_file_match(path, regex, timeout=IO_TIMEOUT, since=0):
    """Wait until the text of path from byte offset since matches regex
    (re.search, multiline); returns the match or None."""
    pat = re.compile(regex, re.M)

    def match():
        try:
            with open(path, "rb") as f:
                f.seek(since)
                return pat.search(f.read().decode("utf-8", "replace"))
        except OSError:
            return None
    return wait_until(match, timeout)


def start_time(pid):
    """The start time of pid (clock ticks since boot); None if it is
    gone or a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    fields = st[st.rfind(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def children_of(pid):
    """PIDs whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # comm may contain spaces and ')': split after the last ')'
        fields = st[st.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(d))
    return sorted(out)


def xoauth2(user, token):
    """The SASL XOAUTH2 initial response, base64-encoded (bytes)."""
    raw = "user=%s\x01auth=Bearer %s\x01\x01" % (user, token)
    return base64.b64encode(raw.encode())


def oauthbearer(user, token):
    """The SASL OAUTHBEARER initial response (RFC 7628), base64 (bytes)."""
    raw = "n,a=%s,\x01auth=Bearer %s\x01\x01" % (user, token)
    return base64.b64encode(raw.encode())


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------
# Processes

class Proc:
    """A process the harness started, in its own process group."""

    def __init__(self, name, argv, log_path, env=None, cwd=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT, env=env, cwd=cwd,
            start_new_session=True)
        self.pid = self.popen.pid
        self.start_time = start_time(self.pid)
        self.returncode = None

    def alive(self):
        return self.popen.poll() is None

    def _group_alive(self):
        try:
            os.killpg(self.pid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True

    def stop(self, timeout=STOP_TIMEOUT, sig=signal.SIGTERM):
        """SIGTERM the leader, wait, then SIGKILL what is left of its
        group.  Returns the leader's exit status (negative: signal)."""
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        try:
            self.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        # Children get the rest of the bound to follow their parent.
        while self._group_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._group_alive():
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        # Reap the group's remains (bounded).
        end = time.monotonic() + 5
        while self._group_alive() and time.monotonic() < end:
            time.sleep(0.05)
        self.returncode = self.popen.returncode
        if not self.log.closed:
            self.log.close()
        return self.returncode


class OAuth:
    """Handle on the running regress/lib/oauthserver.py."""

    def __init__(self, h, proc, port, url, opts):
        self.h = h
        self.proc = proc
        self.pid = proc.pid
        self.port = port
        self.url = url
        self.client_id = opts["client_id"]
        self.client_secret = opts["client_secret"]
        self.introspect_user = opts["introspect_user"]
        self.introspect_password = opts["introspect_password"]
        self.token_url = url + "/token"
        self.authorize_url = url + "/authorize"
        self.devicecode_url = url + "/devicecode"
        self.introspect_url = url + "/introspect"

    def get(self, path, timeout=IO_TIMEOUT, **params):
        """GET path?params; returns (status, body bytes)."""
        u = self.url + path
        if params:
            u += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(u, timeout=timeout,
                                        context=self.h.client_ctx()) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def admin(self, path, **params):
        """An admin endpoint, e.g. admin("/admin/set", expires_in=60);
        returns the decoded JSON (HarnessError on a non-JSON answer)."""
        status, body = self.get(path, **params)
        try:
            return json.loads(body)
        except ValueError:
            raise HarnessError("%s: HTTP %d, not JSON: %r"
                               % (path, status, body[:200]))

    def mint(self, username):
        """A live access token for username (str)."""
        return self.admin("/admin/mint", username=username)["access_token"]

    def revoke(self, token=None, username=None):
        if token is not None:
            return self.admin("/admin/revoke", token=token)
        return self.admin("/admin/revoke", username=username)

    def requests(self):
        return self.admin("/admin/requests")

    def set(self, **settings):
        return self.admin("/admin/set", **settings)

    def reset(self, all=False):
        if all:
            return self.admin("/admin/reset", all=1)
        return self.admin("/admin/reset")

    def stats(self):
        return self.admin("/admin/stats")

    def pending(self):
        return self.admin("/admin/pending")

    def approve(self, login_hint=None, **extra):
        """Approve a pending /authorize; returns the redirect URL."""
        if login_hint is not None:
            extra["login_hint"] = login_hint
        return self.admin("/admin/approve", **extra)["redirect"]

    def approve_device(self, user_code=None, **extra):
        if user_code is not None:
            extra["user_code"] = user_code
        return self.admin("/admin/approve_device", **extra)

    def introspect(self, token):
        """What Dovecot would be told about token (dict)."""
        data = urllib.parse.urlencode({"token": token}).encode()
        req = urllib.request.Request(self.introspect_url, data=data)
        cred = "%s:%s" % (self.introspect_user, self.introspect_password)
        req.add_header("Authorization", "Basic " +
                       base64.b64encode(cred.encode()).decode())
        with urllib.request.urlopen(req, timeout=IO_TIMEOUT,
                                    context=self.h.client_ctx()) as r:
            return json.loads(r.read())


class Sink:
    """Handle on the running SMTP sink (regress/lib/smtpsink.py)."""

    def __init__(self, proc, port, directory):
        self.proc = proc
        self.pid = proc.pid
        self.port = port
        self.dir = directory

    def messages(self):
        """[(envelope dict, data bytes)] in arrival order."""
        out = []
        names = [f for f in os.listdir(self.dir) if f.endswith(".eml")]
        for f in sorted(names, key=lambda n: int(n.split(".")[0])):
            base = os.path.join(self.dir, f[:-4])
            with open(base + ".json") as fh:
                env = json.load(fh)
            with open(base + ".eml", "rb") as fh:
                out.append((env, fh.read()))
        return out

    def wait_messages(self, n, timeout=IO_TIMEOUT):
        """Wait until at least n messages arrived; returns messages()."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.messages()
            if len(msgs) >= n or time.monotonic() > deadline:
                return msgs
            time.sleep(0.05)

    @staticmethod
    def strip_received(data):
        """data without the one leading Received: field that Dovecot's
        submission service prepends when relaying (2.3 cannot turn it
        off); None if data does not start with one."""
        m = re.match(rb"Received: [^\n]*\n(?:[ \t][^\n]*\n)*", data)
        return data[m.end():] if m else None

    def clear(self):
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))


class Dovecot:
    """Handle on the private Dovecot instance."""

    def __init__(self, proc, ports, conf, log_path, base_dir):
        self.proc = proc
        self.pid = proc.pid
        self.ports = ports       # imap imaps pop3 pop3s submission
                                 # submissions -> port
        self.conf = conf
        self.log_path = log_path
        self.base_dir = base_dir

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_mark(self):
        """An offset for wait_log(since=...): only later lines count."""
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def wait_log(self, regex, timeout=IO_TIMEOUT, since=0):
        """Wait until Dovecot's log (from byte offset since) matches
        regex (re.search, multiline); returns the match or None.
        Dovecot writes its log lines after it answers the client."""
        return wait_file_match(self.log_path, regex, timeout, since)


class EmailProxy:
    """Handle on a running emailproxy (-d): pid, log_path, ports."""

    def __init__(self, proc, conf_path, ports):
        self.proc = proc
        self.pid = proc.pid
        self.log_path = proc.log_path
        self.conf_path = conf_path
        self.ports = ports       # listener ports from the config
        self.returncode = None

    def children(self):
        return children_of(self.pid)

    def alive(self):
        return self.proc.alive()


class Conn:
    """A bounded line-oriented client socket (plain or TLS).

    readline() returns bytes including the CRLF; every read has a timeout
    (socket.timeout / HarnessError on expiry, EOFError on close)."""

    def __init__(self, sock, timeout=IO_TIMEOUT):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise HarnessError("read timed out; have %r" % self.buf[-200:])
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            raise HarnessError("read timed out; have %r" % self.buf[-200:])
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError,
                ConnectionResetError) as e:
            raise EOFError("connection closed (%s); have %r" % (
                type(e).__name__, self.buf[-200:]))
        if not d:
            raise EOFError("connection closed; have %r" % self.buf[-200:])
        self.buf += d

    def readline(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            self._fill(deadline)
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            self._fill(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_until(self, regex, timeout=None):
        """Read lines until one matches regex (bytes pattern, re.match);
        returns every line read, the matching one last."""
        if isinstance(regex, str):
            regex = regex.encode()
        pat = re.compile(regex)
        deadline = time.monotonic() + (timeout or self.timeout)
        lines = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HarnessError("no line matching %r; got %r"
                                   % (regex, lines[-5:]))
            line = self.readline(timeout=left)
            lines.append(line)
            if pat.match(line):
                return lines

    def read_available(self, wait=0.2):
        """Whatever arrives within wait seconds (maybe b"")."""
        deadline = time.monotonic() + wait
        try:
            while time.monotonic() < deadline:
                self._fill(deadline)
        except (HarnessError, EOFError):
            pass
        data, self.buf = self.buf, b""
        return data

    def closed_by_peer(self, timeout=None):
        """True if the peer closes within timeout (data is discarded)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while True:
                self._fill(deadline)
                self.buf = b""
        except EOFError:
            return True
        except HarnessError:
            return False

    def starttls(self, ctx, server_hostname="localhost"):
        if self.buf:
            raise HarnessError("data pending before TLS: %r" % self.buf)
        self.sock = ctx.wrap_socket(self.sock,
                                    server_hostname=server_hostname)
        self.sock.settimeout(self.timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------

# Tests check from several threads at once, and regress/run counts whole
# lines: each line goes out in one write, under one lock (reentrant: the
# SIGTERM handler prints from whatever the main thread was doing).
_OUT = threading.RLock()


def emit(line):
    """Write one whole line to standard output."""
    with _OUT:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Harness:
    """One test's scratch directory, servers and PASS/FAIL bookkeeping."""

    def __init__(self, name):
        self.name = name
        self.top = os.environ.get("REGRESS_TOP") or os.path.dirname(
            os.path.dirname(LIBDIR))
        self.tmp = os.environ.get("REGRESS_TMP") or os.path.join(
            self.top, "regress", "tmp")
        self.emailproxy_bin = os.environ.get("EMAILPROXY") or os.path.join(
            self.top, "emailproxy")
        self.emailproxyctl_bin = os.environ.get(
            "EMAILPROXYCTL") or os.path.join(self.top, "emailproxyctl")
        self.sanitize = os.environ.get("SANITIZE") == "1"
        self.dir = os.path.join(self.tmp, name)
        self.passed = 0
        self.failed = 0
        self.procs = []
        self.used_ports = set()
        self.ipv6 = have_ipv6()
        self.oauth = None
        self.sink = None
        self.dovecot = None
        self.proxy = None
        self.proxy_ports = {}
        self.accounts = {}
        self._ctx = None

        pw = pwd.getpwnam(MAIL_USER)
        self.mail_user = MAIL_USER
        self.mail_uid, self.mail_gid = pw.pw_uid, pw.pw_gid

        atexit.register(self.stop_all)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        sys.excepthook = self._excepthook

        if os.path.lexists(self.dir):
            self._kill_leftovers()
            shutil.rmtree(self.dir)
        os.makedirs(self.dir)
        for d in (self.tmp, self.dir):
            os.chmod(d, 0o755)
        self._check_traversable(self.dir)
        self._make_certs()

    # -- bookkeeping ---------------------------------------------------

    def check(self, cond, what, why=""):
        """Print PASS/FAIL for one check; returns bool(cond)."""
        what = " ".join(str(what).split())
        with _OUT:
            if cond:
                self.passed += 1
                emit("PASS: %s" % what)
            else:
                self.failed += 1
                why = " ".join(str(why).split()) or "check failed"
                emit("FAIL: %s: %s" % (what, why))
        return bool(cond)

    def info(self, msg):
        """A diagnostic line (ignored by regress/run)."""
        emit("# %s" % msg)

    def finish(self):
        """Stop everything; exit 1 if any check failed (or none ran)."""
        self.stop_all()
        if self.passed == 0 and self.failed == 0:
            emit("FAIL: %s: no check ran" % self.name)
            sys.exit(1)
        sys.exit(1 if self.failed else 0)

    def _on_sigterm(self, signo, frame):
        emit("FAIL: %s: terminated (timeout?)" % self.name)
        # regress/run's timeout sends SIGKILL 10 s after SIGTERM.
        self.stop_all(timeout=1)
        sys.exit(1)

    def _excepthook(self, typ, value, tb):
        emit("FAIL: %s: uncaught %s: %s" % (self.name, typ.__name__,
             " ".join(str(value).split())[:500]))
        traceback.print_exception(typ, value, tb)
        self.stop_all()

    def _kill_leftovers(self):
        """Kill what an earlier run of this test started and could not
        stop (it was SIGKILLed): the process groups listed in its pids
        file whose leader still has the recorded start time."""
        try:
            with open(os.path.join(self.dir, "pids")) as f:
                lines = f.read().split("\n")
        except OSError:
            return
        killed = []
        for line in lines:
            parts = line.split()
            if len(parts) < 2 or parts[1] == "None":
                continue
            pid, st = int(parts[0]), int(parts[1])
            if start_time(pid) != st:
                continue
            self.info("killing leftover %s (pid %d) of an earlier run"
                      % (" ".join(parts[2:]), pid))
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            killed.append((pid, st))
        end = time.monotonic() + 5
        while time.monotonic() < end and any(
                start_time(pid) == st for pid, st in killed):
            time.sleep(0.05)

    def _check_traversable(self, path):
        p = os.path.dirname(path)
        while p and p != "/":
            if not os.stat(p).st_mode & 0o001:
                raise HarnessError(
                    "%s is not searchable by others; the mail user %s "
                    "cannot reach the scratch dir" % (p, MAIL_USER))
            p = os.path.dirname(p)

    # -- ports, certificates ------------------------------------------

    def free_port(self):
        """A TCP port in 20000..32767 free on 127.0.0.1 (and ::1)."""
        for _ in range(1000):
            p = random.randint(20000, 32767)
            if p in self.used_ports:
                continue
            if not _can_bind(socket.AF_INET, "127.0.0.1", p):
                continue
            if self.ipv6 and not _can_bind(socket.AF_INET6, "::1", p):
                continue
            self.used_ports.add(p)
            return p
        raise HarnessError("no free port found")

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def _openssl(self, *args):
        _run(["openssl"] + list(args), cwd=self.dir)

    def _make_ca(self, stem, cn):
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", stem + ".key", "-out", stem + ".crt",
                      "-days", "3650", "-subj", "/CN=" + cn,
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def _make_leaf(self, stem, ca, cn):
        ext = self.path(stem + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")
        self._openssl("req", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", stem + ".key", "-out", stem + ".csr",
                      "-subj", "/CN=" + cn)
        self._openssl("x509", "-req", "-in", stem + ".csr",
                      "-CA", ca + ".crt", "-CAkey", ca + ".key",
                      "-set_serial", str(random.randint(1, 2 ** 62)),
                      "-days", "825", "-extfile", stem + ".ext",
                      "-out", stem + ".crt")
        os.unlink(self.path(stem + ".csr"))
        os.unlink(ext)

    def _make_certs(self):
        self._make_ca("ca", "emailproxy regress CA")
        self._make_leaf("server", "ca", "localhost")
        self._make_ca("untrusted-ca", "emailproxy untrusted CA")
        self._make_leaf("untrusted", "untrusted-ca", "localhost")
        for f in ("ca.key", "server.key", "untrusted-ca.key",
                  "untrusted.key"):
            os.chmod(self.path(f), 0o600)
        for f in ("ca.crt", "server.crt", "untrusted-ca.crt",
                  "untrusted.crt"):
            os.chmod(self.path(f), 0o644)
        self.ca_file = self.path("ca.crt")
        self.cert_file = self.path("server.crt")
        self.key_file = self.path("server.key")
        self.untrusted_ca_file = self.path("untrusted-ca.crt")
        self.untrusted_cert_file = self.path("untrusted.crt")
        self.untrusted_key_file = self.path("untrusted.key")

    def client_ctx(self, ca=None):
        """An ssl client context trusting the test CA (or ca)."""
        if ca is not None:
            return ssl.create_default_context(cafile=ca)
        if self._ctx is None:
            self._ctx = ssl.create_default_context(cafile=self.ca_file)
        return self._ctx

    def server_ctx(self, cert=None, key=None):
        """An ssl server context with the test certificate (or cert)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert or self.cert_file, key or self.key_file)
        return ctx

    # -- clients ---------------------------------------------------------

    def connect(self, port, host="127.0.0.1", tls=False, ca=None,
                server_hostname="localhost", timeout=IO_TIMEOUT):
        """A Conn to host:port; tls=True for implicit TLS (test CA)."""
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect((host, port))
            if tls:
                s = self.client_ctx(ca).wrap_socket(
                    s, server_hostname=server_hostname)
        except BaseException:
            s.close()
            raise
        return Conn(s, timeout)

    # -- processes -----------------------------------------------------

    def _start(self, name, argv, log_path, env=None):
        p = Proc(name, argv, log_path, env=env, cwd=self.dir)
        self.procs.append(p)
        # For _kill_leftovers() should this run be killed before stop_all.
        with open(self.path("pids"), "a") as f:
            f.write("%d %s %s\n" % (p.pid, p.start_time, name))
        return p

    def stop_all(self, timeout=STOP_TIMEOUT):
        """Stop everything this harness started (newest first)."""
        while self.procs:
            p = self.procs.pop()
            p.stop(timeout=timeout)

    def _tail(self, path, n=20):
        try:
            with open(path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""

    # -- OAuth server --------------------------------------------------

    def start_oauth(self, client_id="regress-client", client_secret=None,
                    introspect_user="dovecot", introspect_password=None,
                    verbose=True, extra_args=()):
        """Start regress/lib/oauthserver.py over HTTPS with the test
        certificate; returns the OAuth handle (also self.oauth).
        client_secret=None picks a random one; "" makes a public
        client."""
        if self.oauth is not None:
            raise HarnessError("OAuth server already running")
        if client_secret is None:
            client_secret = "cs-" + os.urandom(12).hex()
        if introspect_password is None:
            introspect_password = os.urandom(12).hex()
        d = self.path("oauth")
        os.makedirs(d, exist_ok=True)
        ready = os.path.join(d, "ready")
        port = self.free_port()
        argv = [PY, os.path.join(LIBDIR, "oauthserver.py"),
                "--port", str(port), "--cert", self.cert_file,
                "--key", self.key_file, "--ready-file", ready]
        if client_id:
            argv += ["--client-id", client_id]
        if client_secret:
            argv += ["--client-secret", client_secret]
        if introspect_user:
            argv += ["--introspect-user", introspect_user,
                     "--introspect-password", introspect_password]
        if verbose:
            argv.append("--verbose")
        argv += list(extra_args)
        p = self._start("oauth", argv, os.path.join(d, "oauth.log"))
        try:
            lines = wait_file(ready, alive=p.alive).split("\n")
        except HarnessError as e:
            raise HarnessError("OAuth server: %s\n%s" % (
                e, self._tail(p.log_path)))
        url = lines[1].strip() if len(lines) > 1 and lines[1] else \
            "https://127.0.0.1:%d" % port
        self.oauth = OAuth(self, p, int(lines[0]), url, {
            "client_id": client_id, "client_secret": client_secret,
            "introspect_user": introspect_user,
            "introspect_password": introspect_password})
        return self.oauth

    def stop_oauth(self):
        """Stop the OAuth server (e.g. to test 'OAuth server down')."""
        if self.oauth is not None:
            self._stop_proc(self.oauth.proc)
            self.oauth = None

    def _stop_proc(self, p):
        rc = p.stop()
        if p in self.procs:
            self.procs.remove(p)
        return rc

    # -- SMTP sink -----------------------------------------------------

    def start_sink(self):
        """Start the SMTP sink; returns the Sink handle (self.sink)."""
        if self.sink is not None:
            return self.sink
        d = self.path("sink")
        os.makedirs(d, exist_ok=True)
        ready = self.path("sink.ready")
        port = self.free_port()
        p = self._start("sink", [PY, os.path.join(LIBDIR, "smtpsink.py"),
                                 "--port", str(port), "--dir", d,
                                 "--ready-file", ready],
                        self.path("sink.log"))
        try:
            wait_file(ready, alive=p.alive)
        except HarnessError as e:
            raise HarnessError("SMTP sink: %s\n%s" % (
                e, self._tail(p.log_path)))
        self.sink = Sink(p, port, d)
        return self.sink

    # -- Dovecot -------------------------------------------------------

    def maildir(self, user, mailbox="INBOX"):
        """The maildir of user's mailbox (Maildir++ layout)."""
        root = self.path("mail", user.lower(), "Maildir")
        if mailbox.upper() == "INBOX":
            return root
        return os.path.join(root, "." + mailbox)

    def _dovecot_conf(self, ports, sink_port, extra):
        d = self.path("dovecot")
        o = self.oauth
        listen = "127.0.0.1, ::1" if self.ipv6 else "127.0.0.1"
        args = os.path.join(d, "oauth2.conf.ext")
        with open(args, "w") as f:
            f.write(
                "introspection_mode = post\n"
                "introspection_url = https://%s:%s@127.0.0.1:%d/introspect\n"
                "force_introspection = yes\n"
                "active_attribute = active\n"
                "active_value = true\n"
                "username_attribute = username\n"
                "username_format = %%Lu\n"
                "tls_ca_cert_file = %s\n"
                "openid_configuration_url = "
                "%s/.well-known/openid-configuration\n"
                "timeout_msecs = 10000\n"
                % (o.introspect_user, o.introspect_password, o.port,
                   self.ca_file, o.url))
        os.chmod(args, 0o644)
        conf = """# generated by regress/lib/harness.py
instance_name = regress-%(name)s
base_dir = %(d)s/run
state_dir = %(d)s/state
log_path = %(d)s/dovecot.log
info_log_path = %(d)s/dovecot.log
debug_log_path = %(d)s/dovecot.log
listen = %(listen)s
protocols = imap pop3 submission
hostname = localhost
shutdown_clients = yes

ssl = required
ssl_cert = <%(cert)s
ssl_key = <%(key)s
ssl_dh = </usr/share/dovecot/dh.pem
ssl_min_protocol = TLSv1.2

auth_mechanisms = xoauth2 oauthbearer
disable_plaintext_auth = yes
auth_failure_delay = 0
auth_verbose = yes
auth_cache_size = 0

passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = %(args)s
}
userdb {
  driver = static
  args = uid=%(uid)d gid=%(gid)d home=%(mail)s/%%Lu allow_all_users=yes
}
first_valid_uid = %(uid)d
last_valid_uid = %(uid)d
first_valid_gid = %(gid)d
mail_location = maildir:~/Maildir

default_process_limit = 1000
default_client_limit = 4000
default_vsz_limit = 1G

service imap-login {
  inet_listener imap {
    port = %(imap)d
  }
  inet_listener imaps {
    port = %(imaps)d
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = %(pop3)d
  }
  inet_listener pop3s {
    port = %(pop3s)d
    ssl = yes
  }
}
service submission-login {
  inet_listener submission {
    port = %(submission)d
  }
  inet_listener submissions {
    port = %(submissions)d
    ssl = yes
  }
}
service auth {
  client_limit = 6000
}
service anvil {
  client_limit = 6000
  # No auth penalty (up to 15 s per failed login from one IP): the auth
  # process cannot connect to this socket, so it turns the penalty off.
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}

protocol imap {
  mail_max_userip_connections = 1000
}
protocol pop3 {
  mail_max_userip_connections = 1000
}
submission_relay_host = 127.0.0.1
submission_relay_port = %(sink)d
submission_relay_trusted = no
submission_relay_ssl = no
%(extra)s
""" % dict(name=self.name, d=d, listen=listen, cert=self.cert_file,
           key=self.key_file, args=args, uid=self.mail_uid,
           gid=self.mail_gid, mail=self.path("mail"), sink=sink_port,
           extra=extra, **ports)
        path = os.path.join(d, "dovecot.conf")
        with open(path, "w") as f:
            f.write(conf)
        os.chmod(path, 0o644)
        return path

    def start_dovecot(self, extra_conf=""):
        """Start a private Dovecot (and the OAuth server and SMTP sink if
        they are not running).  extra_conf is appended to dovecot.conf.
        Returns the Dovecot handle (self.dovecot); .ports maps imap,
        imaps, pop3, pop3s, submission, submissions to port numbers."""
        if self.dovecot is not None:
            raise HarnessError("Dovecot already running")
        if self.oauth is None:
            self.start_oauth()
        if self.sink is None:
            self.start_sink()
        d = self.path("dovecot")
        for sub in ("", "run", "state"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
            os.chmod(os.path.join(d, sub), 0o755)
        mail = self.path("mail")
        os.makedirs(mail, exist_ok=True)
        os.chown(mail, self.mail_uid, self.mail_gid)
        os.chmod(mail, 0o755)
        ports = {k: self.free_port() for k in (
            "imap", "imaps", "pop3", "pop3s", "submission", "submissions")}
        conf = self._dovecot_conf(ports, self.sink.port, extra_conf)
        r = _run(["doveconf", "-n", "-c", conf], check=False)
        if r.returncode != 0:
            raise HarnessError("doveconf -n -c %s: %s" % (
                conf, r.stderr.decode(errors="replace")))
        for w in r.stderr.decode(errors="replace").splitlines():
            self.info("doveconf: " + w)
        log = os.path.join(d, "dovecot.log")
        p = self._start("dovecot", ["dovecot", "-F", "-c", conf],
                        os.path.join(d, "dovecot.stderr"))
        try:
            wait_listening(ports.values(), alive=p.alive)
            self._wait_greeting(ports["imap"], b"* OK")
            self._wait_greeting(ports["pop3"], b"+OK")
            self._wait_greeting(ports["submission"], b"220 ")
        except (HarnessError, OSError, EOFError) as e:
            raise HarnessError("Dovecot: %s\n%s\n%s" % (
                e, self._tail(p.log_path), self._tail(log)))
        self.dovecot = Dovecot(p, ports, conf, log, os.path.join(d, "run"))
        return self.dovecot

    def _wait_greeting(self, port, prefix, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            try:
                c = self.connect(port, timeout=5)
                try:
                    line = c.readline()
                finally:
                    c.close()
                if line.startswith(prefix):
                    return
                err = "greeting %r" % line
            except (OSError, HarnessError, EOFError) as e:
                err = str(e)
            if time.monotonic() > deadline:
                raise HarnessError("port %d: %s" % (port, err))
            time.sleep(0.1)

    def stop_dovecot(self):
        if self.dovecot is not None:
            self._stop_proc(self.dovecot.proc)
            self.dovecot = None

    def seed_message(self, user, raw, mailbox="INBOX", flags=""):
        """Store raw (bytes) in user's mailbox as a new message; returns
        its file path.  flags: maildir flag letters, e.g. "S" (seen).
        Dovecot serves the file's bytes; bare LF becomes CRLF on output.
        """
        if isinstance(raw, str):
            raw = raw.encode()
        md = self.maildir(user, mailbox)
        root = self.maildir(user)
        home = os.path.dirname(root)
        for p in (home, root, md):
            if not os.path.isdir(p):
                os.makedirs(p, exist_ok=True)
                os.chown(p, self.mail_uid, self.mail_gid)
                os.chmod(p, 0o700)
        for sub in ("cur", "new", "tmp"):
            p = os.path.join(md, sub)
            if not os.path.isdir(p):
                os.mkdir(p, 0o700)
                os.chown(p, self.mail_uid, self.mail_gid)
        if md != root:
            mf = os.path.join(md, "maildirfolder")
            if not os.path.exists(mf):
                open(mf, "w").close()
                os.chown(mf, self.mail_uid, self.mail_gid)
        base = "%d.M%dP%dQ%d.regress" % (
            int(time.time()), int(time.time() * 1e6) % 1000000,
            os.getpid(), random.randint(0, 2 ** 31))
        tmp = os.path.join(md, "tmp", base)
        with open(tmp, "wb") as f:
            f.write(raw)
        os.chown(tmp, self.mail_uid, self.mail_gid)
        os.chmod(tmp, 0o600)
        dest = os.path.join(md, "cur", "%s,S=%d:2,%s" % (
            base, len(raw), "".join(sorted(flags))))
        os.rename(tmp, dest)
        return dest

    # -- emailproxy ------------------------------------------------------

    def standard_config(self, imap=True, pop=True, smtp=True,
                        scope="mail", server_address="127.0.0.1",
                        extra_globals="", extra=""):
        """A config with one IMAP (-> Dovecot imaps), POP (-> pop3s) and
        SMTP (-> submission, server_starttls) listener on 127.0.0.1 and
        three accounts at the OAuth server (needs start_dovecot()):
            auth@example.com   authorization code, redirect_uri
                               http://127.0.0.1:<free port>/
            ccg@example.com    client_credentials
            ropc@example.com   password grant
        Sets self.proxy_ports {"imap","pop","smtp": port} and
        self.accounts {address: {"flow", "redirect_uri"?}}, and sets the
        OAuth server's ccg_user to ccg@example.com so that Dovecot takes
        the client-credentials token for that mailbox.  The [emailproxy]
        keys the harness owns are filled by start_emailproxy();
        extra_globals go into [emailproxy], extra is appended as is."""
        if self.dovecot is None:
            raise HarnessError("standard_config needs start_dovecot()")
        o = self.oauth
        dv = self.dovecot.ports
        out = ["[emailproxy]"]
        if extra_globals:
            out.append(extra_globals.rstrip("\n"))
        out.append("")
        self.proxy_ports = {}
        servers = []
        if imap:
            servers.append(("IMAP", "imap", dv["imaps"], ""))
        if pop:
            servers.append(("POP", "pop", dv["pop3s"], ""))
        if smtp:
            servers.append(("SMTP", "smtp", dv["submission"],
                            "server_starttls = True\n"))
        for sect, key, upstream, more in servers:
            p = self.free_port()
            self.proxy_ports[key] = p
            out.append("[%s-%d]\nlocal_address = 127.0.0.1\n"
                       "server_address = %s\nserver_port = %d\n%s"
                       % (sect, p, server_address, upstream, more))
        redirect = "http://127.0.0.1:%d/" % self.free_port()
        common = ("token_url = %s\noauth2_scope = %s\nclient_id = %s\n"
                  % (o.token_url, scope, o.client_id))
        if o.client_secret:
            common += "client_secret = %s\n" % o.client_secret
        out.append("[auth@example.com]\npermission_url = %s\n%s"
                   "redirect_uri = %s\n" % (o.authorize_url, common,
                                            redirect))
        out.append("[ccg@example.com]\noauth2_flow = client_credentials\n"
                   "%s" % common)
        out.append("[ropc@example.com]\noauth2_flow = password\n%s"
                   % common)
        o.set(ccg_user="ccg@example.com")
        self.accounts = {
            "auth@example.com": {"flow": "authorization_code",
                                 "redirect_uri": redirect},
            "ccg@example.com": {"flow": "client_credentials"},
            "ropc@example.com": {"flow": "password"},
        }
        if extra:
            out.append(extra)
        return "\n".join(out)

    def harness_globals(self):
        """The [emailproxy] keys the harness owns."""
        store = self.path("store")
        empty = self.path("empty")
        return {"user": PROXY_USER, "store_dir": store,
                "empty_dir": empty, "ca_file": self.ca_file,
                "control_socket": self.path("ctl.sock")}

    def fill_config(self, text):
        """text with the harness's [emailproxy] keys added where the
        section does not set them (a section is added if missing)."""
        want = self.harness_globals()
        lines = text.split("\n")
        start = None
        for i, line in enumerate(lines):
            if line.strip() == "[emailproxy]":
                start = i
                break
        if start is None:
            head = ["[emailproxy]"] + ["%s = %s" % kv for kv in want.items()]
            return "\n".join(head + [""] + lines)
        have = set()
        for line in lines[start + 1:]:
            s = line.strip()
            if s.startswith("["):
                break
            m = re.match(r"([^=:#;\s][^=:]*?)\s*[=:]", s)
            if m:
                have.add(m.group(1).lower())
        add = ["%s = %s" % (k, v) for k, v in want.items() if k not in have]
        return "\n".join(lines[:start + 1] + add + lines[start + 1:])

    def _prepare_dirs(self):
        store = self.path("store")
        empty = self.path("empty")
        os.makedirs(store, exist_ok=True)
        try:
            pw = pwd.getpwnam(PROXY_USER)
            os.chown(store, pw.pw_uid, pw.pw_gid)
        except KeyError:
            self.info("user %s missing (run sh regress/install-deps)" %
                      PROXY_USER)
        os.chmod(store, 0o700)
        os.makedirs(empty, exist_ok=True)
        os.chown(empty, 0, 0)
        os.chmod(empty, 0o755)

    @staticmethod
    def config_ports(text):
        """{section name: local port} of the server sections in text."""
        out = {}
        for m in re.finditer(r"(?m)^\s*\[((?:IMAP|POP|SMTP)-(\d+))\]",
                             text):
            out[m.group(1)] = int(m.group(2))
        return out

    def start_emailproxy(self, config=None, args=(), fill=True,
                         wait=True, conf_name="emailproxy.conf"):
        """Write config (text, or a path to read) into the scratch dir
        (mode 0600; fill=True adds the harness's [emailproxy] keys), then
        start `$EMAILPROXY -d -vv -f CONF [args]` as root with stdout and
        stderr in emailproxy.log.  wait=True waits until every listener
        of the config is listening (HarnessError with the log tail if
        the daemon exits first).  Returns the EmailProxy handle (also
        self.proxy).  config=None uses standard_config()."""
        if self.proxy is not None:
            raise HarnessError("emailproxy already running")
        if config is None:
            config = self.standard_config()
        elif "\n" not in config and os.path.isfile(config):
            with open(config) as f:
                config = f.read()
        if fill:
            config = self.fill_config(config)
        self._prepare_dirs()
        conf = self.path(conf_name)
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(config)
        os.chmod(conf, 0o600)
        self.proxy_log = self.path("emailproxy.log")
        argv = [self.emailproxy_bin, "-d", "-vv", "-f", conf] + list(args)
        p = self._start("emailproxy", argv, self.proxy_log)
        ports = self.config_ports(config)
        self.proxy = EmailProxy(p, conf, ports)
        if wait:
            try:
                wait_listening(ports.values(), alive=p.alive)
            except HarnessError as e:
                raise HarnessError("emailproxy: %s\n%s" % (
                    e, self._tail(self.proxy_log, 40)))
        return self.proxy

    def stop_emailproxy(self, timeout=STOP_TIMEOUT):
        """SIGTERM emailproxy (SIGKILL its group after timeout); returns
        its exit status.  Under SANITIZE=1 also checks that the log has
        no sanitizer report."""
        if self.proxy is None:
            return None
        p = self.proxy.proc
        rc = p.stop(timeout=timeout)
        if p in self.procs:
            self.procs.remove(p)
        self.proxy.returncode = rc
        self.proxy = None
        if self.sanitize:
            m = re.search(r"(ERROR: (Address|Leak)Sanitizer.*|"
                          r".*runtime error:.*)", self.log_text())
            self.check(m is None, "emailproxy log has no sanitizer report",
                       m.group(0) if m else "")
        return rc

    def reload_emailproxy(self, config=None, fill=True):
        """Rewrite the config (if given) and send SIGHUP."""
        if self.proxy is None:
            raise HarnessError("emailproxy not running")
        if config is not None:
            if fill:
                config = self.fill_config(config)
            with open(self.proxy.conf_path, "w") as f:
                f.write(config)
        os.kill(self.proxy.pid, signal.SIGHUP)

    def log_text(self):
        """emailproxy's log so far (str)."""
        try:
            with open(self.path("emailproxy.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_mark(self):
        """An offset for wait_log(since=...): only later output counts."""
        try:
            return os.path.getsize(self.path("emailproxy.log"))
        except OSError:
            return 0

    def wait_log(self, regex, timeout=IO_TIMEOUT, since=0):
        """Wait until emailproxy's log (from byte offset since) matches
        regex (re.search, multiline); returns the match or None."""
        pat = re.compile(regex, re.M)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(self.path("emailproxy.log"), "rb") as f:
                    f.seek(since)
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                text = ""
            m = pat.search(text)
            if m or time.monotonic() > deadline:
                return m
            time.sleep(0.05)

    def emailproxyctl(self, *args, timeout=IO_TIMEOUT):
        """Run $EMAILPROXYCTL with args; returns CompletedProcess."""
        return _run([self.emailproxyctl_bin] + list(args), timeout=timeout,
                    check=False)

    # -- process inspection (leak checks) --------------------------------

    @staticmethod
    def rss_kb(pid):
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    @staticmethod
    def fd_count(pid):
        return len(os.listdir("/proc/%d/fd" % pid))

    @staticmethod
    def proc_title(pid):
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
