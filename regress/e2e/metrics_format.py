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
"""emailproxyctl show metrics after two good logins and one of an account
the configuration does not name: Prometheus text format 0.0.4 that
`promtool check metrics' accepts (exit 0), every family with # HELP and
# TYPE, counters named *_total, login outcomes as a result label, the
build version, the start time and the per-account gauges; show metrics
-o: OpenMetrics, counter
families without _total, ending in # EOF.
"""

import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

h = Harness("metrics_format")
PROMTOOL = shutil.which("promtool")
h.check(PROMTOOL is not None, "promtool (Debian package prometheus) is "
        "installed", "promtool not in PATH")
h.start_dovecot()
h.start_emailproxy(h.standard_config(pop=False, smtp=False))
port = h.proxy_ports["imap"]
SOCK = h.path("ctl.sock")
ROPC = "ropc@example.com"
# The listeners listen before the children start: wait for the proxy.
h.check(h.wait_log(r"in place: ready", 20) is not None, "daemon is ready",
        h.log_text()[-500:])
started = int(time.time())


def login(user, password):
    c = h.connect(port)
    c.readline()
    c.send(b'a LOGIN "%s" "%s"\r\n' % (user.encode(), password))
    r = c.read_until(rb"^a (OK|NO|BAD)", timeout=30)[-1]
    c.send(b"z LOGOUT\r\n")
    c.close()
    return r


r1 = login(ROPC, b"right pw")
r2 = login(ROPC, b"right pw")
r3 = login("nobody@example.com", b"right pw")
h.check(r1.startswith(b"a OK") and r2.startswith(b"a OK") and
        r3.startswith(b"a NO"),
        "two logins succeed, one of an unknown account fails",
        "%r %r %r" % (r1, r2, r3))

r = h.emailproxyctl("-s", SOCK, "show", "metrics")
text = r.stdout.decode("utf-8", "replace")
h.check(r.returncode == 0 and text, "show metrics answers",
        "%d %r" % (r.returncode, r.stderr))

if PROMTOOL is not None:
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=r.stdout,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    h.check(p.returncode == 0, "promtool check metrics exits 0",
            "exit %d: %s" % (p.returncode,
                             p.stdout.decode(errors="replace")[:600]))

lines = text.splitlines()
helps = {ln.split()[2] for ln in lines if ln.startswith("# HELP ")}
types = {}
for ln in lines:
    if ln.startswith("# TYPE "):
        _, _, name, kind = ln.split(" ", 3)
        types[name] = kind
samples = {}
bad = []
for ln in lines:
    if ln and not ln.startswith("#"):
        m = re.match(r'([a-z_:][a-z0-9_:]*)(\{[^}]*\})? (-?\d+)$', ln)
        if m:
            samples[(m.group(1), m.group(2) or "")] = int(m.group(3))
        else:
            bad.append(ln)
h.check(samples and not bad, "sample lines are name{labels} integer",
        repr(bad))
names = {n for n, _ in samples}
h.check(names and names <= set(types) and set(types) == helps,
        "every sample's family has # HELP and # TYPE",
        "no family for %r; help %r type %r" %
        (names - set(types), helps - set(types), set(types) - helps))
counters = [n for n, k in types.items() if k == "counter"]
h.check(counters and all(n.endswith("_total") for n in counters),
        "counter families are named *_total (text format 0.0.4)",
        repr(counters))
h.check(not lines or lines[-1] != "# EOF",
        "show metrics is text format 0.0.4, without # EOF", repr(lines[-1:]))

LOGINS = "emailproxy_tokend_logins_total"
h.check(types.get(LOGINS) == "counter" and
        samples.get((LOGINS, '{result="ok"}')) == 2 and
        samples.get((LOGINS, '{result="unknown_account"}')) == 1 and
        samples.get((LOGINS, '{result="bad_password"}')) == 0,
        "tokend logins: a counter with result=\"ok\" 2, "
        "\"unknown_account\" 1, \"bad_password\" 0",
        repr({k: v for k, v in samples.items() if k[0] == LOGINS}))
PLOGINS = "emailproxy_proxy_logins_total"
PLAB = '{listener="IMAP-%d",protocol="IMAP",result="%%s"}' % port
h.check(samples.get((PLOGINS, PLAB % "ok")) == 2 and
        samples.get((PLOGINS, PLAB % "failed")) == 1 and
        samples.get((PLOGINS, PLAB % "upstream_rejected")) == 0,
        "proxy logins, labelled by listener and protocol: result=\"ok\" 2, "
        "\"failed\" 1, \"upstream_rejected\" 0",
        repr({k: v for k, v in samples.items() if k[0] == PLOGINS}))
r = h.emailproxyctl("-s", SOCK, "show", "stats")
h.check(re.search(r'^proxy_logins_ok_total\{listener="IMAP-%d"\} +2$' % port,
                  r.stdout.decode(), re.M) is not None,
        "show stats: the proxy's logins per listener", r.stdout[-300:])
h.check(samples.get(("emailproxy_proxy_received_bytes_total", ""), 0) > 0
        and samples.get(("emailproxy_proxy_sent_bytes_total", ""), 0) > 0,
        "bytes counters named *_bytes_total count the logins' bytes",
        repr([k for k in samples if "bytes" in k[0]]))
for old in ("emailproxy_tokend_store_write_failures_total",
            "emailproxy_tokend_records_unsaved",
            "emailproxy_tokend_kdf_queue_refused_total"):
    h.check((old, "") in samples, "%s is reported" % old, "")

v = h.emailproxyctl("-V").stdout.decode().split()[-1]
h.check(samples.get(("emailproxy_build_info", '{version="%s"}' % v)) == 1
        and types.get("emailproxy_build_info") == "gauge",
        "emailproxy_build_info{version=\"%s\"} 1" % v,
        repr([k for k in samples if "build" in k[0]]))
st = samples.get(("emailproxy_start_time_seconds", ""), 0)
h.check(types.get("emailproxy_start_time_seconds") == "gauge" and
        started - 300 <= st <= started,
        "emailproxy_start_time_seconds is the daemon's start",
        "%r, test started %d" % (st, started))
NEEDS = "emailproxy_account_needs_authorisation"
h.check(samples.get((NEEDS, '{account="auth@example.com"}')) == 1 and
        samples.get((NEEDS, '{account="%s"}' % ROPC)) == 0,
        "needs_authorisation: 1 for the authorization-code account "
        "without tokens, 0 for the logged-in one",
        repr({k: v for k, v in samples.items() if k[0] == NEEDS}))
EXP = samples.get(("emailproxy_account_access_token_expiry_seconds",
                   '{account="%s"}' % ROPC), 0)
h.check(EXP > time.time(), "access token expiry of the logged-in account "
        "lies ahead", repr(EXP))

# OpenMetrics, selected by -o.
r = h.emailproxyctl("-s", SOCK, "show", "metrics", "-o")
om = r.stdout.decode("utf-8", "replace").splitlines()
omtypes = dict(ln.split(" ", 3)[2:] for ln in om if ln.startswith("# TYPE "))
h.check(r.returncode == 0 and om and om[-1] == "# EOF" and
        omtypes.get("emailproxy_tokend_logins") == "counter" and
        omtypes.get("emailproxy_build") == "info" and
        not any(n.endswith("_total") for n in omtypes) and
        '%s{result="ok"} 2' % LOGINS in om,
        "show metrics -o: OpenMetrics, counter families without _total, "
        "samples *_total, ending in # EOF", repr(om[-5:]))
r = h.emailproxyctl("-s", SOCK, "show", "metrics", "-x")
h.check(r.returncode == 2 and r.stdout == b"",
        "show metrics -x is a usage error", repr(r))
h.stop_emailproxy()
h.finish()
