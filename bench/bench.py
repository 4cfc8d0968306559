#!/usr/bin/python3
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
"""emailproxy benchmarks: each figure measured against a reference in the
same run, printed as a table and written to bench/results.json.

Run it through `make bench` (bench/run builds the tools and installs the
reference relay).  Everything listens on 127.0.0.1; every process started
here is stopped by its PID (its own process group) at the end, on error
and on SIGTERM/SIGINT; the whole run is bounded by --deadline seconds.

Figures (see bench/README):
  1 warm IMAP login latency: emailproxy (LOGIN) vs direct XOAUTH2 to the
    upstream; plus one cold first login (KDF + token request)
  2 relay throughput and CPU per GB of the relaying process: emailproxy's
    proxy child vs haproxy, one session fetching --fetch-mb MiB
  3 sessions held in IDLE: all up?, RSS per session, proxy child vs haproxy
  4 --concurrent logins at once for one account whose token just expired:
    token requests at the OAuth server (must be 1), p50/p99 latency
  5 warm POP and SMTP login latency, as 1
  6 IMAP login over a network of --rtt-ms round trip (bench/delayrelay.py
    between the client or relay and the upstream): direct XOAUTH2,
    emailproxy without and with upstream_pool, haproxy; in ms and RTTs
"""

import argparse
import json
import os
import platform
import pwd
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import urllib.request

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.environ.get("BENCH_TOOLS", os.path.join(TOP, "obj", "bench"))
LOADGEN = os.path.join(TOOLS, "loadgen")
UPSTREAM = os.path.join(TOOLS, "upstream")
HAPROXY = "/usr/sbin/haproxy"
DELAYRELAY = os.path.join(TOP, "bench", "delayrelay.py")
EMAILPROXYCTL = os.path.join(TOP, "emailproxyctl")
PROXY_USER = "_emailproxy"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

USER = "bench@example.com"         # figures 1, 2, 3, 5
FIG4_USER = "expired@example.com"  # figure 4
PASSWORD = "bench-local-password"  # the mail client's password
CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-client-secret"


class BenchError(Exception):
    pass


class Deadline(BaseException):
    pass


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


# ---------------------------------------------------------------------
# Processes

class Proc:
    """A process in its own group, stopped by PID (then its group)."""

    def __init__(self, name, argv, logpath, env=None, pipe=False):
        self.name = name
        self.logpath = logpath
        self.logf = open(logpath, "wb")
        self.copier = None
        # emailproxy's children may not grow files once sandboxed
        # (RLIMIT_FSIZE 0): their stderr must be a pipe, not the log file.
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE if pipe else
                                  self.logf, stderr=subprocess.STDOUT,
                                  env=env, start_new_session=True)
        self.pid = self.p.pid
        if pipe:
            self.copier = threading.Thread(target=self.copy, daemon=True)
            self.copier.start()

    def copy(self):
        for line in self.p.stdout:
            self.logf.write(line)
            self.logf.flush()

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=10):
        if self.p.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left in the group we created (children of a daemon
        # that died abruptly) goes too.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.p.poll() is None:
            self.p.wait(5)
        if self.copier is not None:
            self.copier.join(5)
        self.logf.close()
        return self.p.returncode

    def tail(self, n=15):
        try:
            with open(self.logpath, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""


class Bench:
    def __init__(self, args):
        self.args = args
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="emailproxy-bench.")
        os.chmod(self.tmp, 0o755)
        self.raw = {}
        self.rows = []
        self.notes = []

    # -- helpers -------------------------------------------------------

    def path(self, *p):
        return os.path.join(self.tmp, *p)

    def start(self, name, argv, env=None, pipe=False):
        p = Proc(name, argv, self.path(name + ".log"), env, pipe)
        self.procs.append(p)
        return p

    def stop(self, p):
        if p in self.procs:
            self.procs.remove(p)
        return p.stop()

    def stop_all(self):
        while self.procs:
            self.procs.pop().stop()

    def wait_file(self, path, proc, timeout=15):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if os.path.exists(path):
                return
            if not proc.alive():
                raise BenchError("%s exited:\n%s" % (proc.name, proc.tail()))
            time.sleep(0.05)
        raise BenchError("%s: no %s after %ds" % (proc.name, path, timeout))

    def wait_listening(self, port, proc, timeout=15):
        """Without connecting: a probe would be a session in the logs."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not proc.alive():
                raise BenchError("%s exited:\n%s" % (proc.name, proc.tail()))
            if port in listening_ports():
                return
            time.sleep(0.05)
        raise BenchError("%s: port %d not listening" % (proc.name, port))

    @staticmethod
    def free_port():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    def openssl(self, *args):
        r = subprocess.run(["openssl"] + list(args), cwd=self.tmp,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=30)
        if r.returncode != 0:
            raise BenchError("openssl %s: %s" % (
                args[0], r.stderr.decode(errors="replace")))

    def make_certs(self):
        """A throwaway CA and one EC P-256 leaf for localhost/127.0.0.1."""
        self.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                     "ca.key", "-out", "ca.crt", "-days", "2", "-subj",
                     "/CN=emailproxy bench CA")
        self.openssl("req", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                     "server.key", "-out", "server.csr", "-subj",
                     "/CN=localhost")
        with open(self.path("server.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
                    "basicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n")
        self.openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt",
                     "-CAkey", "ca.key", "-CAcreateserial", "-out",
                     "server.crt", "-days", "2", "-extfile", "server.ext")
        with open(self.path("server.pem"), "w") as out:
            for n in ("server.crt", "server.key"):
                with open(self.path(n)) as f:
                    out.write(f.read())
        for n in ("server.key", "server.pem", "ca.key"):
            os.chmod(self.path(n), 0o600)
        self.ca = self.path("ca.crt")

    # -- the OAuth server ---------------------------------------------

    def start_oauth(self):
        ready = self.path("oauth.ready")
        self.oauth = self.start("oauth", [
            "/usr/bin/python3",
            os.path.join(TOP, "regress", "lib", "oauthserver.py"),
            "--port", "0", "--cert", self.path("server.crt"),
            "--key", self.path("server.key"), "--ready-file", ready,
            "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
        self.wait_file(ready, self.oauth)
        with open(ready) as f:
            lines = f.read().split("\n")
        self.oauth_url = lines[1].strip()
        self.oauth_ctx = ssl.create_default_context(cafile=self.ca)

    def oauth_admin(self, path, **params):
        q = urllib.parse.urlencode(params)
        url = self.oauth_url + path + ("?" + q if q else "")
        with urllib.request.urlopen(url, timeout=10,
                                    context=self.oauth_ctx) as r:
            return json.loads(r.read().decode())

    def token_requests(self):
        return sum(self.oauth_admin("/admin/stats").get("token", {})
                   .values())

    # -- the synthetic upstream ---------------------------------------

    def start_upstream(self):
        """The upstream offers TLS session tickets, as Dovecot does; a
        second one (IMAP only) offers none: emailproxy's "IMAP
        without resumption" section, for the comparison."""
        ready = self.path("upstream.ready")
        self.upstream_stats = self.path("upstream.stats")
        self.upstream = self.start("upstream", [
            UPSTREAM, "-c", self.path("server.crt"), "-k",
            self.path("server.key"), "-R", "-i", "0", "-p", "0", "-s", "0",
            "-r", ready, "-S", self.upstream_stats])
        self.wait_file(ready, self.upstream)
        self.up_port = {}
        with open(ready) as f:
            for line in f:
                k, v = line.split()
                self.up_port[k] = int(v)
        ready = self.path("upstream_nr.ready")
        self.upstream_nr = self.start("upstream_nr", [
            UPSTREAM, "-c", self.path("server.crt"), "-k",
            self.path("server.key"), "-i", "0", "-r", ready])
        self.wait_file(ready, self.upstream_nr)
        with open(ready) as f:
            self.up_port["imap_nr"] = int(f.read().split()[1])

    def upstream_counters(self):
        try:
            os.unlink(self.upstream_stats)
        except FileNotFoundError:
            pass
        os.kill(self.upstream.pid, signal.SIGUSR1)
        self.wait_file(self.upstream_stats, self.upstream, 5)
        with open(self.upstream_stats) as f:
            return json.load(f)

    # -- emailproxy ----------------------------------------------------

    def emailproxy_config(self):
        store = self.path("store")
        empty = self.path("empty")
        os.makedirs(store, exist_ok=True)
        pw = pwd.getpwnam(PROXY_USER)
        os.chown(store, pw.pw_uid, pw.pw_gid)
        os.chmod(store, 0o700)
        os.makedirs(empty, exist_ok=True)
        os.chmod(empty, 0o755)
        self.ep_port = {k: self.free_port() for k in
                        self.ep_protos + ["imap_nr"]}
        servers = ""
        for proto in self.ep_protos + ["imap_nr"]:
            sect = "IMAP" if proto == "imap_nr" else proto.upper()
            servers += """
[{sect}-{port}]
server_address = 127.0.0.1
server_port = {up}
local_address = 127.0.0.1
local_certificate_path = {tmp}/server.crt
local_key_path = {tmp}/server.key
""".format(sect=sect, port=self.ep_port[proto], up=self.up_port[proto],
                tmp=self.tmp)
        accounts = ""
        for user in (USER, FIG4_USER):
            accounts += """
[{user}]
token_url = {url}/token
oauth2_scope = mail
oauth2_flow = client_credentials
client_id = {cid}
client_secret = {secret}
""".format(user=user, url=self.oauth_url, cid=CLIENT_ID,
                secret=CLIENT_SECRET)
        text = """# generated by bench/bench.py
[emailproxy]
user = {user}
store_dir = {store}
empty_dir = {empty}
control_socket = {tmp}/ctl.sock
ca_file = {ca}
max_connections = 0
max_connections_per_address = 0
""".format(user=PROXY_USER, store=store, empty=empty, tmp=self.tmp,
           ca=self.ca) + self.store_keys() + servers + accounts
        conf = self.path("emailproxy.conf")
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.ep_conf = conf

    def start_redis(self):
        """--token-store redis: a redis-server on a unix socket in the
        scratch directory, with an append-only file, as deployed."""
        d = self.path("redis")
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o700)
        self.redis_sock = os.path.join(d, "redis.sock")
        conf = os.path.join(d, "redis.conf")
        with open(conf, "w") as f:
            f.write("port 0\nunixsocket %s\nunixsocketperm 700\ndir %s\n"
                    "appendonly yes\nappendfsync everysec\nsave \"\"\n"
                    % (self.redis_sock, d))
        p = self.start("redis-server", ["redis-server", conf])
        self.wait_file(self.redis_sock, p)

    def store_keys(self):
        if self.args.token_store != "redis":
            return ""
        return "token_store = redis\nredis_url = unix:%s\n" % self.redis_sock

    def start_emailproxy(self):
        self.ep = self.start("emailproxy", [
            self.args.emailproxy, "-d", "-f", self.ep_conf], pipe=True)
        for port in self.ep_port.values():
            self.wait_listening(port, self.ep)
        self.ep_child = self.find_proxy_child(self.ep.pid)

    def first_start_emailproxy(self):
        """Start with IMAP, POP and SMTP listeners; a protocol the proxy
        says it does not serve yet is left out (its figures then read
        "not available")."""
        self.ep_protos = ["imap", "pop", "smtp"]
        self.ep_missing = {}
        for attempt in range(3):
            self.emailproxy_config()
            try:
                self.start_emailproxy()
                return
            except BenchError:
                text = self.ep.tail(40)
                self.stop(self.ep)
                gone = False
                for proto in list(self.ep_protos[1:]):
                    m = re.search(r"%s-\d+: (%s is not supported[^\n]*)" % (
                        proto.upper(), proto.upper()), text)
                    if m:
                        self.ep_protos.remove(proto)
                        self.ep_missing[proto] = m.group(1)
                        gone = True
                if not gone:
                    raise
        raise BenchError("emailproxy does not start:\n" + self.ep.tail())

    def find_proxy_child(self, parent):
        end = time.monotonic() + 10
        while time.monotonic() < end:
            # Descendants: a wrapper (strace, valgrind) may sit between.
            pids, seen = children_of(parent), []
            while pids:
                pid = pids.pop()
                seen.append(pid)
                pids += children_of(pid)
            for pid in seen:
                title = cmdline(pid).replace("emailproxy", "")
                if re.search(r"\bproxy\b", title):
                    return pid
            time.sleep(0.05)
        raise BenchError("no proxy child under emailproxy %d (%s)" % (
            parent, {p: cmdline(p) for p in children_of(parent)}))

    def restart_emailproxy(self):
        self.stop(self.ep)
        self.start_emailproxy()

    # -- haproxy -------------------------------------------------------

    def start_haproxy(self):
        """A plain TLS-terminating relay: TLS in, TLS out, one thread,
        reusing TLS sessions towards the server (haproxy's default, as
        emailproxy does)."""
        self.hap_port = self.free_port()
        cfg = self.path("haproxy.cfg")
        with open(cfg, "w") as f:
            f.write("""global
    maxconn {maxconn}
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 10m
    timeout server 10m
    maxconn {maxconn}
frontend imap
    bind 127.0.0.1:{port} ssl crt {tmp}/server.pem
    default_backend upstream
backend upstream
    server up 127.0.0.1:{up} ssl verify required ca-file {ca} verifyhost localhost sni str(localhost)
""".format(maxconn=self.relay_maxconn, port=self.hap_port, tmp=self.tmp,
           up=self.up_port["imap"], ca=self.ca))
        self.hap = self.start("haproxy", [HAPROXY, "-db", "-f", cfg])
        self.wait_listening(self.hap_port, self.hap)

    def restart_haproxy(self):
        self.stop(self.hap)
        self.start_haproxy()

    # -- loadgen -------------------------------------------------------

    def loadgen(self, name, mode, port, secret, proto="imap", auth="login",
                user=USER, n=1, extra=(), timeout=120):
        argv = [LOADGEN, "-m", mode, "-P", proto, "-a", auth, "-p",
                str(port), "-C", self.ca, "-u", user, "-n", str(n),
                "-t", str(timeout)] + list(extra)
        env = dict(os.environ, LOADGEN_SECRET=secret)
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           env=env, timeout=timeout + 30)
        return self.parse_loadgen(name, r.stdout, r.stderr)

    def parse_loadgen(self, name, out, err):
        try:
            res = json.loads(out.decode())
        except ValueError:
            raise BenchError("loadgen %s: no result (%s)" % (
                name, err.decode(errors="replace").strip()))
        self.raw[name] = res
        if res["failed"]:
            log("%s: %d of %d failed, first: %s" % (
                name, res["failed"], res["n"], res["first_error"]))
        return res

    def login_pair(self, name, proto, n, relay=False):
        """n sequential logins through emailproxy and n direct XOAUTH2
        logins to the upstream (relay: also n XOAUTH2 logins through
        haproxy), run alternately in chunks so that drift in machine
        load falls on all alike; samples merged."""
        chunks = max(1, min(self.args.chunks, n))
        sides = [("direct", self.up_port[proto], self.token, "xoauth2"),
                 ("emailproxy", self.ep_port[proto], PASSWORD, "login")]
        if relay:
            sides.append(("haproxy", self.hap_port, self.token, "xoauth2"))
            sides.append(("emailproxy_noresume", self.ep_port["imap_nr"],
                          PASSWORD, "login"))
        out = {}
        for side in sides:
            out[side[0]] = {"n": 0, "ok": 0, "failed": 0, "samples": [],
                            "first_error": ""}
        # The CPU each side's relay spends (utime+stime): emailproxy's
        # proxy child, haproxy; the upstream's for the direct logins.
        cpu_pid = {"direct": self.upstream.pid, "emailproxy": self.ep_child,
                   "haproxy": self.hap.pid if relay else None,
                   "emailproxy_noresume": self.ep_child}
        up_pid = {"emailproxy_noresume": self.upstream_nr.pid}
        for o in out.values():
            o["cpu_s"] = o["upstream_cpu_s"] = 0.0
            o["switches"] = 0
        for i in range(chunks):
            k = n // chunks + (1 if i < n % chunks else 0)
            for side, port, secret, auth in sides:
                c0 = cpu_seconds(cpu_pid[side])
                s0 = context_switches(cpu_pid[side])
                u0 = cpu_seconds(up_pid.get(side, self.upstream.pid))
                prof = self.profile_start("%s_%s" % (name, side),
                                          self.ep_child) \
                    if i == 0 and side == "emailproxy" else None
                res = self.loadgen("%s_%s_%d" % (name, side, i), "login",
                                   port, secret, proto=proto, auth=auth,
                                   n=k, extra=["-s"])
                self.profile_stop(prof)
                o = out[side]
                o["cpu_s"] += cpu_seconds(cpu_pid[side]) - c0
                o["switches"] += context_switches(cpu_pid[side]) - s0
                o["upstream_cpu_s"] += cpu_seconds(
                    up_pid.get(side, self.upstream.pid)) - u0
                o["n"] += res["n"]
                o["ok"] += res["ok"]
                o["failed"] += res["failed"]
                o["samples"] += res.pop("samples_ms", [])
                o["first_error"] = o["first_error"] or res["first_error"]
        for o in out.values():
            o["session_ms"] = stats(o.pop("samples"))
            for k in ("cpu", "upstream_cpu"):
                o[k + "_ms_per_login"] = round(1000 * o[k + "_s"] /
                                               max(o["ok"], 1), 3)
            o["switches_per_login"] = round(o.pop("switches") /
                                            max(o["ok"], 1), 2)
        self.raw[name] = out
        if relay:
            return out["emailproxy"], out["direct"], out["haproxy"], \
                out["emailproxy_noresume"]
        return out["emailproxy"], out["direct"]

    def idle_run(self, name, port, n, pid):
        """n sessions held in IDLE through the relay at port; RSS of pid
        before they start and once all are up."""
        ready = self.path(name + ".ready")
        rss0 = rss_kib(pid)
        env = dict(os.environ, LOADGEN_SECRET=self.token_or_password(port))
        auth = "login" if port != self.hap_port else "xoauth2"
        outp = self.path(name + ".json")
        errp = self.path(name + ".err")
        with open(outp, "wb") as out, open(errp, "wb") as err:
            p = subprocess.Popen([
                LOADGEN, "-m", "idle", "-a", auth, "-p", str(port),
                "-C", self.ca, "-u", USER, "-n", str(n), "-c", "200",
                "-r", ready, "-t", str(self.args.idle_timeout)],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
            try:
                end = time.monotonic() + self.args.idle_timeout
                while not os.path.exists(ready) and p.poll() is None and \
                        time.monotonic() < end:
                    time.sleep(0.1)
                time.sleep(1)   # let lazy frees and timers settle
                rss1 = rss_kib(pid)
                if p.poll() is None:
                    p.send_signal(signal.SIGUSR1)
                p.wait(60)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        with open(outp, "rb") as o, open(errp, "rb") as e:
            res = self.parse_loadgen(name, o.read(), e.read())
        res["rss_before_kib"] = rss0
        res["rss_up_kib"] = rss1
        return res

    def profile_start(self, name, pid):
        """With --profile DIR: perf record the relay while it works."""
        if not self.args.profile or not shutil.which("perf"):
            return None
        os.makedirs(self.args.profile, exist_ok=True)
        data = os.path.join(self.args.profile, name + ".perf.data")
        p = self.start("perf_" + name, ["perf", "record", "-F", "999",
                                         "-g", "-p", str(pid), "-o", data])
        time.sleep(0.5)     # perf attaches
        return (p, name, data)

    def profile_stop(self, prof):
        if prof is None:
            return
        p, name, data = prof
        os.kill(p.pid, signal.SIGINT)
        try:
            p.p.wait(15)
        except subprocess.TimeoutExpired:
            pass
        self.stop(p)
        report = os.path.join(self.args.profile, name + ".txt")
        with open(report, "wb") as out:
            for sort in ("dso", "dso,sym"):
                out.flush()
                subprocess.run(["perf", "report", "-i", data, "--stdio",
                                "--no-children", "--sort", sort,
                                "-g", "none", "--percent-limit", "0.5"],
                               stdout=out, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL, timeout=120)
        log("profile of %s in %s" % (name, report))

    def token_or_password(self, port):
        return PASSWORD if port != self.hap_port else self.token

    # -- the figures ---------------------------------------------------

    def row(self, fig, what, unit, ep, ref, refname, target=None,
            met=None, note=None, ratio=True):
        r = {"figure": fig, "what": what, "unit": unit, "emailproxy": ep,
             "reference": ref, "reference_is": refname}
        if ratio and isinstance(ep, (int, float)) and \
                isinstance(ref, (int, float)) and ref:
            r["ratio"] = round(ep / ref, 3)
        if target is not None:
            r["target"] = target
            r["met"] = met
        if note:
            r["note"] = note
        self.rows.append(r)

    def fig1(self):
        a = self.args
        up = self.upstream_counters()
        up0 = up["auth_ok"]
        self.resumed0 = up.get("auth_resumed", 0)
        cold = self.loadgen("fig1_cold", "login", self.ep_port["imap"],
                            PASSWORD, n=1)
        if cold["ok"] != 1:
            raise BenchError("the first login through emailproxy failed: "
                             "%s\n%s" % (cold["first_error"],
                                         self.ep.tail()))
        self.token = self.oauth_admin("/admin/mint",
                                      username=CLIENT_ID)["access_token"]
        ep, ref, hap, nr = self.login_pair("fig1", "imap", a.logins, True)
        up = self.upstream_counters()
        up1 = up["auth_ok"]
        # Every proxied login must have reached the upstream as XOAUTH2.
        want = 1 + ref["ok"] + ep["ok"] + hap["ok"]
        self.raw["fig1_upstream_logins"] = up1 - up0
        if up1 - up0 < want:
            self.notes.append("figure 1: the upstream saw %d XOAUTH2 "
                              "logins, expected %d" % (up1 - up0, want))
        what = "IMAP warm login, %d sequential" % a.logins
        refname = "direct XOAUTH2 to the upstream"
        ok = "%d/%d ok" % (ep["ok"], ep["n"]), "%d/%d ok" % (ref["ok"],
                                                           ref["n"])
        self.row(1, what + ": sessions ok", "", ok[0], ok[1], refname,
                 ratio=False)
        for q in ("median", "p99"):
            e = ep["session_ms"].get(q)
            r = ref["session_ms"].get(q)
            added = round(e - r, 3) if e is not None and r is not None \
                else None
            target = "added <= 1 ms" if q == "median" else None
            self.row(1, "%s, %s (added %s ms)" % (what, q, added), "ms",
                     e, r, refname, target,
                     added is not None and added <= 1.0
                     if q == "median" else None)
        # The cost of any TLS relay on this machine: a second handshake.
        for q in ("median", "p99"):
            e = ep["session_ms"].get(q)
            r = hap["session_ms"].get(q)
            self.row(1, "%s, %s, vs XOAUTH2 through haproxy (%d/%d ok)" % (
                what, q, hap["ok"], hap["n"]), "ms", e, r,
                "XOAUTH2 relayed by haproxy (two TLS handshakes)")
        # What a login costs the relaying process: logins per core.
        e = ep["cpu_ms_per_login"]
        self.row(1, "%s: relay CPU per login (utime+stime, %d logins)" % (
            what, ep["ok"]), "ms", e, hap["cpu_ms_per_login"],
            "haproxy relaying the XOAUTH2 logins (two TLS handshakes)",
            "<= 1.0 ms", e <= 1.0)
        # Each switch costs the relay CPU; on a small machine where
        # client, relay and server share the cores most are preemptions.
        self.row(1, "%s: relay context switches per login" % what, "",
                 ep["switches_per_login"], hap["switches_per_login"],
                 "haproxy relaying the XOAUTH2 logins")
        self.row(1, "%s: upstream CPU per login" % what, "ms",
                 ep["upstream_cpu_ms_per_login"],
                 ref["upstream_cpu_ms_per_login"],
                 "the upstream, direct XOAUTH2 logins")
        # Upstream TLS session resumption: the same logins through a
        # section whose server offers no tickets.
        self.row(1, "%s: logins over a resumed upstream TLS session" %
                 what, "", "%d/%d" % (up.get("auth_resumed", 0) -
                                      self.resumed0, ep["ok"] + hap["ok"]),
                 None, "", ratio=False, note="the upstream's count of "
                 "XOAUTH2 logins on a resumed TLS session, of emailproxy's "
                 "and haproxy's logins")
        self.row(1, "%s: relay CPU per login, resumption vs none" % what,
                 "ms", ep["cpu_ms_per_login"], nr["cpu_ms_per_login"],
                 "emailproxy, upstream without TLS tickets (%d/%d ok)" % (
                     nr["ok"], nr["n"]))
        self.row(1, "%s: upstream CPU per login, resumption vs none" % what,
                 "ms", ep["upstream_cpu_ms_per_login"],
                 nr["upstream_cpu_ms_per_login"],
                 "emailproxy, upstream without TLS tickets")
        self.row(1, "%s: median, resumption vs none" % what, "ms",
                 ep["session_ms"].get("median"),
                 nr["session_ms"].get("median"),
                 "emailproxy, upstream without TLS tickets")
        self.row(1, "IMAP cold first login (KDF + token request)", "ms",
                 cold["session_ms"].get("median"), None, "", ratio=False,
                 note="one login: PBKDF2 at the default kdf_iterations "
                 "and one client_credentials token request")

    def fig2(self):
        a = self.args
        nbytes = a.fetch_mb * 1024 * 1024
        runs = {"emailproxy": [], "haproxy": []}
        # One untimed fetch through each first: the first fetch after a
        # start pays one-time costs (the upstream's buffer faulted in,
        # CPU frequency ramping up) that fell on whichever ran first.
        for name, port, secret, auth in (
                ("emailproxy", self.ep_port["imap"], PASSWORD, "login"),
                ("haproxy", self.hap_port, self.token, "xoauth2")):
            res = self.loadgen("fig2_%s_warmup" % name, "fetch", port,
                               secret, auth=auth,
                               extra=["-b", str(nbytes // 4)])
            if res["ok"] != 1:
                raise BenchError("fetch through %s failed: %s" % (
                    name, res["first_error"]))
        for i in range(a.fetch_runs):
            for name, port, pid, secret, auth in (
                    ("emailproxy", self.ep_port["imap"], self.ep_child,
                     PASSWORD, "login"),
                    ("haproxy", self.hap_port, self.hap.pid, self.token,
                     "xoauth2")):
                prof = self.profile_start("fig2_%s_%d" % (name, i), pid)
                c0, f0 = cpu_seconds(pid), minor_faults(pid)
                res = self.loadgen("fig2_%s_%d" % (name, i), "fetch", port,
                                   secret, auth=auth,
                                   extra=["-b", str(nbytes)])
                c1, f1 = cpu_seconds(pid), minor_faults(pid)
                self.profile_stop(prof)
                if res["ok"] != 1:
                    raise BenchError("fetch through %s failed: %s" % (
                        name, res["first_error"]))
                gb = res["fetch"]["bytes"] / 1e9
                runs[name].append({"mb_per_s": res["fetch"]["mb_per_s"],
                                   "cpu_s": round(c1 - c0, 3),
                                   "cpu_s_per_gb": round((c1 - c0) / gb, 3),
                                   "minor_faults": f1 - f0,
                                   "cipher": res["cipher"]})
        self.raw["fig2_runs"] = runs
        med = {k: {m: median([r[m] for r in v]) for m in
                   ("mb_per_s", "cpu_s_per_gb")} for k, v in runs.items()}
        refname = "haproxy %s (TLS in, TLS out, 1 thread)" % \
            haproxy_version()
        e, r = med["emailproxy"], med["haproxy"]
        self.row(2, "relay throughput, %d MiB FETCH (median of %d)" % (
            a.fetch_mb, a.fetch_runs), "MB/s", e["mb_per_s"],
            r["mb_per_s"], refname, ">= 1.0x",
            e["mb_per_s"] >= r["mb_per_s"])
        self.row(2, "relay CPU per GB (utime+stime of the relay)", "s/GB",
                 e["cpu_s_per_gb"], r["cpu_s_per_gb"], refname, "<= 1.0x",
                 e["cpu_s_per_gb"] <= r["cpu_s_per_gb"])

    def fig3(self):
        for n_req in self.args.idle:
            n = min(n_req, self.relay_sessions)
            note = None
            if n < n_req:
                note = ("run with %d: RLIMIT_NOFILE hard limit %d allows "
                        "a relay 2 fds per session" % (n, self.nofile))
            # Fresh relays: each measurement starts from a clean heap.
            self.restart_emailproxy()
            warm = self.loadgen("fig3_warmup_%d" % n, "login",
                                self.ep_port["imap"], PASSWORD, n=1)
            if warm["ok"] != 1:
                raise BenchError("login after restart failed: %s" %
                                 warm["first_error"])
            self.restart_haproxy()
            ep = self.idle_run("fig3_emailproxy_%d" % n,
                               self.ep_port["imap"], n, self.ep_child)
            ref = self.idle_run("fig3_haproxy_%d" % n, self.hap_port, n,
                                self.hap.pid)
            refname = "haproxy (same sessions, XOAUTH2)"

            def up(res):
                i = res["idle"]
                return "%s (%d/%d)" % (
                    "yes" if i["established"] == n and
                    i["still_idle"] == n else "no", i["still_idle"], n)

            self.row(3, "%d IDLE sessions: all held?" % n, "", up(ep),
                     up(ref), refname, note=note, ratio=False)
            per = {}
            for k, res in (("ep", ep), ("ref", ref)):
                held = max(res["idle"]["established"], 1)
                per[k] = round((res["rss_up_kib"] - res["rss_before_kib"])
                               / held, 1)
            self.row(3, "%d IDLE sessions: RSS per session" % n, "KiB",
                     per["ep"], per["ref"], refname, "<= 40 KiB",
                     per["ep"] <= 40)

    def fig4(self):
        """The token runs out while nobody logs in: tokend's refresh
        ahead of time meets a transient OAuth failure (503, once), which
        it leaves to the next login because a retry would come after the
        expiry.  Then a burst of logins arrives at once."""
        a = self.args
        self.oauth_admin("/admin/set", expires_in=a.expire_s)
        first = self.loadgen("fig4_first", "login", self.ep_port["imap"],
                             PASSWORD, user=FIG4_USER, n=1)
        issued = time.monotonic()
        self.oauth_admin("/admin/set", token_status=503, fail_count=1)
        if first["ok"] != 1:
            raise BenchError("figure 4 first login failed: %s" %
                             first["first_error"])
        before_wait = self.token_requests()
        time.sleep(max(0.0, issued + a.expire_s + 0.5 - time.monotonic()))
        self.oauth_admin("/admin/set", expires_in=3600, token_status="",
                         fail_count="")
        before = self.token_requests()
        res = self.loadgen("fig4_concurrent", "concurrent-login",
                           self.ep_port["imap"], PASSWORD, user=FIG4_USER,
                           n=a.concurrent)
        after = self.token_requests()
        reqs = after - before
        # The same burst straight to the upstream: what 100 simultaneous
        # TLS logins cost on this machine anyway.
        ref = self.loadgen("fig4_direct", "concurrent-login",
                           self.up_port["imap"], self.token, auth="xoauth2",
                           n=a.concurrent)
        self.raw["fig4_token_requests"] = {
            "while_expiring": before - before_wait, "burst": reqs}
        self.row(4, "%d concurrent logins, token expired: token requests"
                 % a.concurrent, "", reqs, 1, "required", "== 1",
                 reqs == 1, ratio=False)
        self.row(4, "%d concurrent logins: sessions ok" % a.concurrent, "",
                 "%d/%d" % (res["ok"], res["n"]), None, "", ratio=False)
        for q in ("median", "p99"):
            self.row(4, "%d concurrent logins: %s latency" % (
                a.concurrent, q), "ms", res["session_ms"].get(q),
                ref["session_ms"].get(q),
                "%d concurrent direct XOAUTH2 logins" % a.concurrent)

    def fig5(self):
        a = self.args
        for proto in ("pop", "smtp"):
            what = "%s warm login, %d sequential" % (proto.upper(), a.logins)
            refname = "direct XOAUTH2 to the upstream"
            if proto in self.ep_missing:
                for q in ("median", "p99"):
                    self.row(5, "%s, %s" % (what, q), "ms",
                             "not available", None, refname, ratio=False,
                             note="emailproxy: " + self.ep_missing[proto]
                             if q == "median" else None)
                continue
            probe = self.loadgen("fig5_%s_probe" % proto, "login",
                                 self.ep_port[proto], PASSWORD, proto=proto,
                                 n=1, timeout=20)
            if probe["ok"] != 1:
                for q in ("median", "p99"):
                    self.row(5, "%s, %s" % (what, q), "ms", "login failed",
                             None, refname, ratio=False,
                             note=probe["first_error"]
                             if q == "median" else None)
                continue
            ep, ref = self.login_pair("fig5_" + proto, proto, a.logins)
            for q in ("median", "p99"):
                e = ep["session_ms"].get(q)
                r = ref["session_ms"].get(q)
                added = round(e - r, 3) if e is not None and \
                    r is not None else None
                self.row(5, "%s, %s (added %s ms; %d/%d ok)" % (
                    what, q, added, ep["ok"], ep["n"]), "ms", e, r,
                    refname)

    def fig6(self):
        """Logins over a network: bench/delayrelay.py adds half of
        --rtt-ms each way (and a round trip for the TCP handshake) in
        front of the upstream's IMAP port.  Direct XOAUTH2 logins go
        through it; emailproxy (two more IMAP sections, without and with
        upstream_pool) and a second haproxy reach the upstream through
        it, their clients on the same machine.  One login: connect to
        the login's tagged OK (loadgen's login_ms)."""
        a = self.args
        rtt = float(a.rtt_ms)
        ready = self.path("delayrelay.ready")
        relay = self.start("delayrelay", [
            "/usr/bin/python3", DELAYRELAY, "-l", "0", "-c",
            "127.0.0.1:%d" % self.up_port["imap"], "-d", str(rtt / 2),
            "-r", ready])
        self.wait_file(ready, relay)
        with open(ready) as f:
            dport = int(f.read().split()[1])
        lport = {"nopool": self.free_port(), "pool": self.free_port()}
        extra = ""
        for k, pool in (("nopool", 0), ("pool", a.pool)):
            extra += """
[IMAP-{port}]
server_address = 127.0.0.1
server_port = {up}
local_address = 127.0.0.1
local_certificate_path = {tmp}/server.crt
local_key_path = {tmp}/server.key
upstream_pool = {pool}
""".format(port=lport[k], up=dport, tmp=self.tmp, pool=pool)
        saved = self.ep_conf
        with open(saved) as f:
            text = f.read()
        conf = self.path("emailproxy-latency.conf")
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text + extra)
        self.ep_conf = conf
        hap = None
        try:
            self.restart_emailproxy()
            for port in lport.values():
                self.wait_listening(port, self.ep)
            hport = self.free_port()
            cfg = self.path("haproxy-latency.cfg")
            with open(cfg, "w") as f:
                f.write("""global
    maxconn 1000
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 10m
    timeout server 10m
frontend imap
    bind 127.0.0.1:{port} ssl crt {tmp}/server.pem
    default_backend upstream
backend upstream
    server up 127.0.0.1:{up} ssl verify required ca-file {ca} verifyhost localhost sni str(localhost) no-ssl-reuse
""".format(port=hport, tmp=self.tmp, up=dport, ca=self.ca))
            hap = self.start("haproxy-latency", [HAPROXY, "-db", "-f", cfg])
            self.wait_listening(hport, hap)
            sect = "IMAP-%d" % lport["pool"]
            end = time.monotonic() + 20
            while time.monotonic() < end and \
                    self.pool_idle(sect) < a.pool:
                time.sleep(0.1)
            sides = [("direct", dport, self.token, "xoauth2"),
                     ("emailproxy", lport["nopool"], PASSWORD, "login"),
                     ("emailproxy_pool", lport["pool"], PASSWORD, "login"),
                     ("haproxy", hport, self.token, "xoauth2")]
            # Untimed: the first login unlocks the account in tokend.
            for side, port, secret, auth in sides:
                self.loadgen("fig6_%s_warmup" % side, "login", port, secret,
                             auth=auth, n=2)
            out = {}
            for side, port, secret, auth in sides:
                # Let the pool fill up again between the runs.
                end = time.monotonic() + 10
                while time.monotonic() < end and \
                        self.pool_idle(sect) < a.pool:
                    time.sleep(0.1)
                out[side] = self.loadgen("fig6_%s" % side, "login", port,
                                         secret, auth=auth,
                                         n=a.latency_logins)
        finally:
            if hap is not None:
                self.stop(hap)
            self.stop(relay)
            self.ep_conf = saved
            self.restart_emailproxy()
        med = {k: v.get("login_ms", {}).get("median") for k, v in
               out.items()}
        ses = {k: v.get("session_ms", {}).get("median") for k, v in
               out.items()}

        def rtts(ms):
            return "%.2f" % (ms / rtt) if ms is not None else "?"

        what = "IMAP login over a %g ms-RTT upstream, median of %d" % (
            rtt, a.latency_logins)
        okn = {k: "%d/%d ok" % (v["ok"], v["n"]) for k, v in out.items()}
        direct = "direct XOAUTH2 login over the same network"
        self.row(6, "%s: direct XOAUTH2: %s RTT (%s)" % (
            what, rtts(med["direct"]), okn["direct"]), "ms",
            med["direct"], None, "", ">= 4 RTT",
            med["direct"] is not None and med["direct"] >= 4 * rtt,
            ratio=False)
        self.row(6, "%s: emailproxy, no pool: %s RTT (%s)" % (
            what, rtts(med["emailproxy"]), okn["emailproxy"]), "ms",
            med["emailproxy"], med["direct"], direct)
        self.row(6, "%s: emailproxy, upstream_pool = %d: %s RTT (%s)" % (
            what, a.pool, rtts(med["emailproxy_pool"]),
            okn["emailproxy_pool"]), "ms", med["emailproxy_pool"],
            med["direct"], direct, "<= 2 RTT",
            med["emailproxy_pool"] is not None and
            med["emailproxy_pool"] <= 2 * rtt)
        self.row(6, "%s: emailproxy pooled vs haproxy: %s RTT (%s)" % (
            what, rtts(med["haproxy"]), okn["haproxy"]), "ms",
            med["emailproxy_pool"], med["haproxy"],
            "XOAUTH2 relayed by haproxy over the same network")
        self.row(6, "same, whole session with LOGOUT: pooled %s RTT, "
                 "direct %s RTT" % (rtts(ses["emailproxy_pool"]),
                                    rtts(ses["direct"])), "ms",
                 ses["emailproxy_pool"], ses["direct"], direct)

    def pool_idle(self, sect):
        """Ready connections of a section's upstream pool (show stats)."""
        r = subprocess.run([EMAILPROXYCTL, "-s", self.path("ctl.sock"),
                            "show", "stats"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=10)
        key = 'upstream_pool_idle{server="%s"}' % sect
        for line in r.stdout.decode(errors="replace").splitlines():
            f = line.split()
            if len(f) == 2 and f[0] == key and f[1].isdigit():
                return int(f[1])
        return 0

    # -- the run -------------------------------------------------------

    # The figures in the order they run: (number, method).  Figure 1
    # always runs first (it mints the reference token).  A new figure is
    # a method that measures emailproxy and its reference in this run and
    # adds its rows with self.row(); then one line here.
    FIGURES = [(1, "fig1"), (2, "fig2"), (4, "fig4"), (5, "fig5"),
               (3, "fig3"), (6, "fig6")]

    def load_row(self, when):
        load = loadavg()
        self.row(0, "machine load average (1, 5, 15 min) %s" % when, "",
                 load, None, "", ratio=False)
        return load

    def run(self):
        a = self.args
        self.loadavg = self.load_row("at start")
        log("load average at start: %s" % self.loadavg)
        # Two descriptors per IDLE session in a relay, and some spare.
        self.nofile = raise_nofile(2 * max(a.idle) + 256)
        # A relay holds two descriptors per session, plus a few of its own.
        self.relay_maxconn = max(100, (self.nofile - 64) // 2)
        self.relay_sessions = self.relay_maxconn - 8
        self.make_certs()
        self.start_oauth()
        self.start_upstream()
        if a.token_store == "redis":
            self.start_redis()
        self.raw["token_store"] = a.token_store
        self.row(0, "emailproxy token_store", "", a.token_store, None, "",
                 ratio=False)
        self.first_start_emailproxy()
        self.start_haproxy()
        for f, method in self.FIGURES:
            if f != 1 and f not in a.figures:
                continue
            t0 = time.monotonic()
            log("figure %d ..." % f)
            getattr(self, method)()
            log("figure %d done in %.1fs" % (f, time.monotonic() - t0))
        if 1 not in a.figures:
            self.rows = [r for r in self.rows if r["figure"] != 1]
        self.load_row("at end")

    def results(self):
        return {
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"cores": os.cpu_count(),
                        "kernel": platform.release(),
                        "loadavg_at_start": self.loadavg,
                        "rlimit_nofile": self.nofile},
            "reference": {"relay": "haproxy " + haproxy_version(),
                          "upstream": "bench/upstream (synthetic, TLS)"},
            "parameters": {k: v for k, v in vars(self.args).items()
                           if k not in ("output",)},
            "figures": self.rows,
            "notes": self.notes,
            "raw": self.raw,
        }


def print_table(rows, notes):
    head = ("fig", "what", "emailproxy", "reference", "ratio", "target")
    out = []
    for r in rows:
        unit = (" " + r["unit"]) if r["unit"] else ""
        ep = r["emailproxy"]
        ref = r["reference"]
        out.append((str(r["figure"]) if r["figure"] else "-", r["what"],
                    "%s%s" % (ep, unit if isinstance(ep, (int, float))
                              else ""),
                    "" if ref in (None, "") else "%s%s" % (
                        ref, unit if isinstance(ref, (int, float)) else ""),
                    "%.2fx" % r["ratio"] if "ratio" in r else "",
                    "" if "target" not in r else "%s: %s" % (
                        r["target"], "met" if r["met"] else "NOT met")))
    widths = [max(len(x[i]) for x in out + [head]) for i in range(6)]
    fmt = "  ".join("%%-%ds" % w for w in widths)
    print(fmt % head)
    print(fmt % tuple("-" * w for w in widths))
    for x in out:
        print(fmt % x)
    for r in rows:
        if "note" in r:
            print("note (figure %d, %s): %s" % (r["figure"], r["what"],
                                                r["note"]))
    for n in notes:
        print("note: " + n)
    sys.stdout.flush()


# ---------------------------------------------------------------------
# /proc readers

def children_of(pid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(p))
        except (OSError, IndexError):
            pass
    return sorted(out)


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def listening_ports():
    ports = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            if cols[3] == "0A":
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def cpu_seconds(pid):
    """utime + stime of one process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def context_switches(pid):
    """Voluntary and involuntary context switches of one process."""
    n = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("voluntary_ctxt_switches",
                                "nonvoluntary_ctxt_switches")):
                n += int(line.split(":")[1])
    return n


def minor_faults(pid):
    """Page faults: a relay that keeps allocating fresh buffers shows."""
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def rss_kib(pid):
    with open("/proc/%d/statm" % pid) as f:
        return int(f.read().split()[1]) * PAGE_KIB


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def raise_nofile(want):
    """Soft limit to the hard one; the hard one up to want where root
    may (CAP_SYS_RESOURCE; a container may refuse it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            pass
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def stats(samples):
    """As loadgen: nearest rank on the sorted samples (ms)."""
    v = sorted(samples)
    n = len(v)
    if n == 0:
        return {"n": 0}
    return {"n": n, "min": v[0], "median": v[(n + 1) // 2 - 1],
            "p90": v[(9 * n + 9) // 10 - 1],
            "p99": v[(99 * n + 99) // 100 - 1],
            "max": v[-1], "mean": round(sum(v) / n, 3)}


def median(values):
    v = sorted(values)
    return v[(len(v) - 1) // 2]


def haproxy_version():
    try:
        r = subprocess.run([HAPROXY, "-v"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=10)
        m = re.search(r"version (\S+)", r.stdout.decode(errors="replace"))
        return m.group(1) if m else "?"
    except OSError:
        return "?"


def parse_args():
    ap = argparse.ArgumentParser(description="emailproxy benchmarks")
    ap.add_argument("--emailproxy", default=os.environ.get(
        "EMAILPROXY", os.path.join(TOP, "emailproxy")),
        help="the daemon (default $EMAILPROXY, else ./emailproxy)")
    ap.add_argument("--output", default=os.path.join(TOP, "bench",
                                                     "results.json"),
                    help="results file (default bench/results.json)")
    ap.add_argument("--logins", type=int, default=1000,
                    help="sequential logins per run (figures 1, 5)")
    ap.add_argument("--chunks", type=int, default=4,
                    help="alternate emailproxy and direct logins in chunks")
    ap.add_argument("--fetch-mb", type=int, default=512,
                    help="MiB fetched in one session (figure 2)")
    ap.add_argument("--fetch-runs", type=int, default=5,
                    help="fetches per relay; the median is shown")
    ap.add_argument("--idle", type=lambda s: [int(x) for x in s.split(",")],
                    default=[1000, 10000],
                    help="IDLE session counts (figure 3)")
    ap.add_argument("--idle-timeout", type=int, default=120,
                    help="seconds to bring all IDLE sessions up")
    ap.add_argument("--concurrent", type=int, default=100,
                    help="simultaneous logins (figure 4)")
    ap.add_argument("--expire-s", type=int, default=4,
                    help="token lifetime before figure 4's burst")
    ap.add_argument("--figures", type=lambda s: [int(x) for x in
                                                 s.split(",")],
                    default=[1, 2, 3, 4, 5, 6],
                    help="comma list (figure 1 always runs: it makes the "
                    "reference token and the cold login)")
    ap.add_argument("--rtt-ms", type=float, default=30,
                    help="round trip of the network in figure 6 (ms)")
    ap.add_argument("--latency-logins", type=int, default=50,
                    help="sequential logins per side in figure 6")
    ap.add_argument("--pool", type=int, default=8,
                    help="upstream_pool of figure 6's pooled section")
    ap.add_argument("--deadline", type=int, default=900,
                    help="seconds before the whole run is abandoned")
    ap.add_argument("--profile", metavar="DIR",
                    help="perf record each relay during figure 2 into DIR")
    ap.add_argument("--quick", action="store_true",
                    help="make bench-quick: figures 1 and 2 only, 3 "
                    "fetches of 256 MiB (under 2 minutes)")
    ap.add_argument("--token-store", choices=("file", "redis"),
                    default="file",
                    help="emailproxy's token_store; redis starts a "
                    "redis-server on a unix socket (AOF) for it")
    ap.add_argument("--keep", action="store_true",
                    help="keep the scratch directory (logs)")
    args = ap.parse_args()
    if args.quick:
        args.figures = [1, 2]
        args.fetch_mb = min(args.fetch_mb, 256)
        args.fetch_runs = min(args.fetch_runs, 3)
    return args


def main():
    args = parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (make bench)")
    for f in (LOADGEN, UPSTREAM, HAPROXY, args.emailproxy):
        if not os.access(f, os.X_OK):
            sys.exit("bench: %s missing (make bench builds the tools and "
                     "installs haproxy)" % f)

    def on_signal(signo, frame):
        raise Deadline("signal %d" % signo)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(args.deadline)

    b = Bench(args)
    rc = 1
    try:
        b.run()
        rc = 0
    except BenchError as e:
        log("FAILED: %s" % e)
    except Deadline as e:
        log("stopped: %s" % e)
    except Exception:
        log("FAILED:\n" + traceback.format_exc())
    finally:
        signal.alarm(0)
        b.stop_all()
        if b.rows:
            print_table(b.rows, b.notes)
            res = b.results()
            res["complete"] = rc == 0
            with open(args.output + ".tmp", "w") as f:
                json.dump(res, f, indent=1)
                f.write("\n")
            os.rename(args.output + ".tmp", args.output)
            log("results in %s" % args.output)
        if args.keep or rc != 0:
            log("logs kept in %s" % b.tmp)
        else:
            shutil.rmtree(b.tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
