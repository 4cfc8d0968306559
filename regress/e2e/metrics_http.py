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
"""The /metrics endpoint of the real daemon (metrics_listen on loopback)
after two good IMAP logins and one of an unknown account: GET /metrics
answers Prometheus text format 0.0.4 that `promtool check metrics'
accepts, and the same text as emailproxyctl show metrics; an Accept
asking for OpenMetrics gets OpenMetrics; other
paths get 404, other methods 405, garbage 400, an Accept with neither
406; the process holding the accepted HTTP connection is not root; the
login counters carry result, protocol and listener labels.  Then a real
Prometheus server, started here, scrapes the endpoint every second in
OpenMetrics (the format its Accept prefers; its parser is the check of
that format, as promtool check metrics parses only 0.0.4) and its HTTP
API returns the login counter with those labels and values.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

h = Harness("metrics_http")
PROMTOOL = shutil.which("promtool")
PROMETHEUS = "/usr/bin/prometheus"
h.check(PROMTOOL is not None and os.access(PROMETHEUS, os.X_OK),
        "promtool and prometheus (Debian package prometheus) are installed",
        "missing")
h.start_dovecot()
mport = h.free_port()
h.start_emailproxy(h.standard_config(
    pop=False, smtp=False,
    extra_globals="metrics_listen = 127.0.0.1:%d" % mport))
port = h.proxy_ports["imap"]
LISTENER = "IMAP-%d" % port
SOCK = h.path("ctl.sock")
ROPC = "ropc@example.com"
TEXT = "text/plain; version=0.0.4; charset=utf-8"
OM = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def login(user, password):
    c = h.connect(port)
    c.readline()
    c.send(b'a LOGIN "%s" "%s"\r\n' % (user.encode(), password))
    r = c.read_until(rb"^a (OK|NO|BAD)", timeout=30)[-1]
    c.send(b"z LOGOUT\r\n")
    c.close()
    return r


def http(raw, timeout=15, port=None):
    """Send raw bytes, read until the server closes: (status, headers
    dict with lower-case names, body), or (None, {}, data)."""
    s = socket.create_connection(("127.0.0.1", port or mport),
                                 timeout=timeout)
    s.sendall(raw)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        data += d
    s.close()
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0]) if sep else None
    if not m:
        return None, {}, data
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(m.group(1)), hdrs, body


def get(path="/metrics", accept=None, method="GET"):
    req = "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (method, path, mport)
    if accept is not None:
        req += "Accept: %s\r\n" % accept
    return http((req + "\r\n").encode())


def promtool(data):
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=data,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    return p.returncode, p.stdout.decode(errors="replace")


def samples_of(text):
    out = {}
    for ln in text.splitlines():
        m = re.match(r'([a-z_:][a-z0-9_:]*)(\{[^}]*\})? (-?\d+)$', ln)
        if m:
            out[(m.group(1), m.group(2) or "")] = int(m.group(3))
    return out


r1 = login(ROPC, b"right pw")
r2 = login(ROPC, b"right pw")
r3 = login("nobody@example.com", b"right pw")
h.check(r1.startswith(b"a OK") and r2.startswith(b"a OK") and
        r3.startswith(b"a NO"),
        "two logins succeed, one of an unknown account fails",
        "%r %r %r" % (r1, r2, r3))

# Text format 0.0.4 by default.
st, hd, body = get()
h.check(st == 200 and hd.get("content-type") == TEXT,
        "GET /metrics: 200, Content-Type %s" % TEXT, "%r %r" % (st, hd))
h.check(hd.get("cache-control") == "no-store" and
        hd.get("x-content-type-options") == "nosniff" and
        hd.get("connection") == "close" and
        int(hd.get("content-length", -1)) == len(body),
        "GET /metrics: no-store, nosniff, Connection: close, "
        "Content-Length", repr(hd))
text = body.decode("utf-8", "replace")
if PROMTOOL is not None:
    rc, out = promtool(body)
    h.check(rc == 0, "promtool check metrics accepts /metrics (0.0.4)",
            "exit %d: %s" % (rc, out[:600]))
h.check(not text.rstrip().endswith("# EOF"), "0.0.4: no # EOF", text[-80:])

smp = samples_of(text)
PL = "emailproxy_proxy_logins_total"
lab = '{listener="%s",protocol="IMAP",result="%%s"}' % LISTENER
h.check(smp.get((PL, lab % "ok")) == 2 and
        smp.get((PL, lab % "failed")) == 1 and
        smp.get((PL, lab % "upstream_rejected")) == 0,
        "proxy logins per listener: listener=%s protocol=IMAP result ok 2, "
        "failed 1, upstream_rejected 0" % LISTENER,
        repr({k: v for k, v in smp.items() if k[0] == PL}))
h.check(smp.get(("emailproxy_proxy_sessions_total",
                 '{listener="%s",protocol="IMAP"}' % LISTENER)) == 3,
        "sessions per listener: 3 with listener and protocol labels",
        repr({k: v for k, v in smp.items() if "sessions" in k[0]}))
h.check(smp.get(("emailproxy_tokend_logins_total", '{result="ok"}')) == 2
        and smp.get(("emailproxy_authd_requests_total", "")) is not None,
        "tokend's and authd's counters are there (asked through tokend)",
        repr([k for k in smp if "tokend_logins" in k[0] or "authd" in k[0]]))
h.check(smp.get(("emailproxy_account_needs_authorisation",
                 '{account="auth@example.com"}')) == 1,
        "per-account gauge with the account label", "")

# The same code prints emailproxyctl show metrics.
r = h.emailproxyctl("-s", SOCK, "show", "metrics")
ctl = r.stdout.decode("utf-8", "replace")
strip = re.compile(r"^emailproxy_(proxy_(sent|received)_bytes_total|"
                   r"proxy_sessions_open|tokend_accounts_unlocked|"
                   r"account_access_token_expiry_seconds).*$", re.M)
h.check(r.returncode == 0 and
        strip.sub("", ctl) == strip.sub("", text),
        "emailproxyctl show metrics prints the same families, labels and "
        "values (bytes and open sessions aside: this scrape's own)",
        "%r" % (r.returncode,))

# OpenMetrics when Accept asks for it, as Prometheus sends it.
PROM_ACCEPT = ("application/openmetrics-text;version=1.0.0,"
               "application/openmetrics-text;version=0.0.1;q=0.75,"
               "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
st, hd, body = get(accept=PROM_ACCEPT)
om = body.decode("utf-8", "replace")
h.check(st == 200 and hd.get("content-type") == OM and
        om.endswith("# EOF\n") and "# TYPE emailproxy_proxy_logins counter"
        in om, "Accept: Prometheus's header: OpenMetrics 1.0, counter "
        "families without _total, # EOF", "%r %r" % (st, hd))
omtypes = dict(ln.split(" ", 3)[2:] for ln in om.splitlines()
               if ln.startswith("# TYPE "))
omhelp = {ln.split(" ", 3)[2] for ln in om.splitlines()
          if ln.startswith("# HELP ")}
h.check(omtypes and set(omtypes) == omhelp and
        omtypes.get("emailproxy_build") == "info" and
        not any(n.endswith("_total") for n in omtypes) and
        om.count("# EOF") == 1,
        "OpenMetrics: every family has HELP and TYPE, build is an info "
        "family, no family named *_total, one # EOF",
        repr(sorted(omtypes.items()))[:400])
# The OpenMetrics reference parser (promtool reads only 0.0.4).
try:
    from prometheus_client.openmetrics.parser import \
        text_string_to_metric_families
    fams = {f.name: f.type for f in text_string_to_metric_families(om)}
    err = ""
except ImportError as e:
    fams, err = {}, "python3-prometheus-client missing: %s" % e
except ValueError as e:
    fams, err = {}, "refused: %s" % e
h.check(fams and fams.get("emailproxy_proxy_logins") == "counter" and
        fams.get("emailproxy_build") == "info",
        "OpenMetrics: prometheus_client's OpenMetrics parser reads the page "
        "(logins a counter, build an info family)", err[:300])
st, hd, _ = get(accept="application/openmetrics-text;q=0.2, text/plain")
h.check(st == 200 and hd.get("content-type") == TEXT,
        "Accept: text/plain preferred by q-value: 0.0.4", repr(hd))
st, hd, _ = get(accept="text/html")
h.check(st == 406, "Accept: text/html only: 406", repr(st))

# What else a client may send.
st, hd, _ = get("/")
h.check(st == 404, "GET /: 404", repr(st))
st, hd, _ = get("/metrics/x")
h.check(st == 404, "GET /metrics/x: 404", repr(st))
st, hd, _ = get(method="POST")
h.check(st == 405 and hd.get("allow") == "GET, HEAD",
        "POST /metrics: 405 with Allow: GET, HEAD", "%r %r" % (st, hd))
st, hd, _ = http(b"GARBAGE\r\n\r\n")
h.check(st == 400, "a malformed request: 400", repr(st))
st, hd, _ = http(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n")
h.check(st == 413, "a head over 8192 bytes: 413", repr(st))


# Which process holds an accepted HTTP connection: not root.
def socket_inode(lport, rport):
    with open("/proc/net/tcp") as f:
        for ln in f.readlines()[1:]:
            p = ln.split()
            if (int(p[1].split(":")[1], 16) == lport and
                    int(p[2].split(":")[1], 16) == rport):
                return p[9]
    return None


def holders(inode):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir("/proc/%s/fd" % pid):
                if os.readlink("/proc/%s/fd/%s" % (pid, fd)) == \
                        "socket:[%s]" % inode:
                    out.append(int(pid))
                    break
        except OSError:
            continue
    return out


s = socket.create_connection(("127.0.0.1", mport), timeout=10)
s.sendall(b"GET /metr")
pids, uids = [], []
deadline = time.monotonic() + 10
while time.monotonic() < deadline and not pids:
    ino = socket_inode(mport, s.getsockname()[1])
    pids = holders(ino) if ino not in (None, "0") else []
    if not pids:
        time.sleep(0.1)
for pid in pids:
    with open("/proc/%d/status" % pid) as f:
        uids += [ln.split()[1:] for ln in f if ln.startswith("Uid:")]
h.check(pids and uids and all(u != "0" for row in uids for u in row),
        "the process holding the accepted HTTP connection is not root "
        "(Uid %s)" % uids, "pids %r uids %r" % (pids, uids))
s.close()

# A real Prometheus scrapes it.
pport = h.free_port()
tsdb = h.path("prometheus-data")
os.makedirs(tsdb)
pconf = h.path("prometheus.yml")
with open(pconf, "w") as f:
    f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: emailproxy\n"
            "    static_configs:\n      - targets: ['127.0.0.1:%d']\n"
            % mport)
# Prometheus asks for OpenMetrics first: its parser of that format is
# the check of our OpenMetrics (promtool check metrics reads only the
# 0.0.4 text format).
logsize = os.path.getsize(h.path("emailproxy.log"))
prom = h._start("prometheus", [
    PROMETHEUS, "--config.file=" + pconf, "--storage.tsdb.path=" + tsdb,
    "--web.listen-address=127.0.0.1:%d" % pport],
    h.path("prometheus.log"))


def query(q):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (
        pport, urllib.parse.urlencode({"query": q}))
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


want = {"ok": "2", "failed": "1", "upstream_rejected": "0"}
got = {}
last = None
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        res = query("emailproxy_proxy_logins_total")
        last = res
        got = {}
        for v in res.get("data", {}).get("result", []):
            m = v["metric"]
            if (m.get("listener") == LISTENER and
                    m.get("protocol") == "IMAP" and
                    m.get("job") == "emailproxy"):
                got[m.get("result")] = v["value"][1]
        if got == want:
            break
    except (OSError, ValueError):
        pass
    time.sleep(0.5)
h.check(got == want,
        "Prometheus scraped /metrics: emailproxy_proxy_logins_total"
        "{listener=\"%s\",protocol=\"IMAP\",result=...} is %r" %
        (LISTENER, want), "got %r, last answer %r" % (got, last))
h.check(h.wait_log(r"metrics: 127\.0\.0\.1: answered in OpenMetrics 1\.0",
                   since=logsize, timeout=5),
        "Prometheus's scrapes were answered in OpenMetrics 1.0", "")
try:
    up = query('up{job="emailproxy"}')["data"]["result"]
except (OSError, ValueError, KeyError):
    up = []
h.check(len(up) == 1 and up[0]["value"][1] == "1",
        "Prometheus reports the target up", repr(up))
prom.stop()
h.check(not prom.alive(), "the Prometheus server started here is stopped",
        "")


def refused(p, timeout=10):
    """True once a connection to port p is refused (bounded wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", p), timeout=2).close()
        except ConnectionRefusedError:
            return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


# A reload that moves metrics_listen, then one that removes it.
with open(h.proxy.conf_path) as f:
    conf = f.read()
mport2 = h.free_port()
mark = os.path.getsize(h.path("emailproxy.log"))
h.reload_emailproxy(conf.replace("metrics_listen = 127.0.0.1:%d" % mport,
                                 "metrics_listen = 127.0.0.1:%d" % mport2),
                    fill=False)
h.check(h.wait_log(r"metrics: serving /metrics on 127\.0\.0\.1:%d" % mport2,
                   20, since=mark) is not None,
        "a reload with another metrics_listen serves there", "")
st, hd, _ = http(b"GET /metrics HTTP/1.1\r\n\r\n", port=mport2)
h.check(st == 200 and refused(mport),
        "... /metrics answers on the new port, the old one is closed",
        repr(st))
mark = os.path.getsize(h.path("emailproxy.log"))
h.reload_emailproxy(re.sub(r"(?m)^metrics_listen = .*\n", "", conf),
                    fill=False)
h.check(h.wait_log(r"metrics: no longer serving", 20, since=mark)
        is not None and refused(mport2),
        "a reload without metrics_listen stops serving /metrics", "")
h.stop_emailproxy()
h.finish()
