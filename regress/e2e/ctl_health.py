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
"""emailproxyctl health.

- Healthy: every configured listener listens and the token store takes
  new files: exit 0, a "healthy" line; -j lists each check.
- An authorization-code account that holds no token needs a person: a
  warning line naming it, exit 0; with -s (strict) exit 1.  Neither a
  client-credentials account nor one with tokens the Python proxy
  cached is named.
- The token store made unwritable after the start: exit 1, one line
  naming store_dir and the reason; writable again: exit 0.
- A listener whose socket is destroyed (ss -K): exit 1, one line naming
  it; the proxy logs it once and stops watching it.
- A token store that cannot be written at start fails the start (exit
  1, never "ready", so no READY=1).
- A usage error (an unknown health option) exits 2.
"""

import json
import os
import pwd
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness, PROXY_USER  # noqa: E402
import hostile  # noqa: E402


def server(p):
    p.send(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n")
    try:
        while p.readline():
            pass
    except EOFError:
        return


def health(*args):
    r = h.emailproxyctl("-s", SOCK, *args)
    return (r.returncode, (r.stdout or b"").decode(),
            (r.stderr or b"").decode())


h = Harness("ctl_health")
h.start_oauth()
up = hostile.Upstream(h, server, tls=True, timeout=30)
imap, pop = h.free_port(), h.free_port()
o = h.oauth
CODE = "person@example.com"
code_account = ("[%s]\npermission_url = %s\ntoken_url = %s\n"
                "oauth2_scope = mail\nclient_id = %s\n"
                "redirect_uri = http://127.0.0.1:%d/\n"
                % (CODE, o.authorize_url, o.token_url, o.client_id,
                   h.free_port()))
# Tokens the Python proxy cached: imported at the first login, no
# person needed.
cached_account = code_account.replace("[%s]" % CODE,
                                      "[cached@example.com]") + \
    "refresh_token = cached-by-the-python-proxy\n"
conf = hostile.config(h, hostile.section(h, "IMAP", imap, up.port) +
                      hostile.section(h, "POP", pop, up.port))
SOCK = h.path("ctl.sock")

# -- healthy ---------------------------------------------------------------
h.start_emailproxy(conf)
rc, out, err = health("health")
h.check(rc == 0 and out.startswith("healthy: 2 listeners up") and
        out.count("\n") == 1,
        "health: every listener up, the store writable: exit 0, one line",
        "%d %r %r" % (rc, out, err))
r = h.emailproxyctl("-j", "-s", SOCK, "health")
try:
    checks = json.loads(r.stdout.decode())
except ValueError:
    checks = []
listeners = sorted(c.get("name") for c in checks
                   if c.get("check") == "listener" and c.get("ok"))
store = [c for c in checks if c.get("check") == "store"]
h.check(r.returncode == 0 and
        listeners == sorted(["IMAP-%d" % imap, "POP-%d" % pop]) and
        len(store) == 1 and store[0].get("ok") is True,
        "health -j: each configured listener and the store, all ok",
        "%d %r" % (r.returncode, checks))
rc, out, err = health("health", "-x")
h.check(rc == 2 and "health takes -s or nothing" in err,
        "health -x: a usage error, exit 2", "%d %r" % (rc, err))

# -- the store made unwritable after the start -----------------------------
store_dir = h.harness_globals()["store_dir"]
os.chmod(store_dir, 0o500)
rc, out, err = health("health")
os.chmod(store_dir, 0o700)
lines = out.splitlines()
h.check(rc == 1 and len(lines) == 1 and lines[0].startswith(
        "store %s: store_dir %s: cannot write: Permission denied"
        % (store_dir, store_dir)),
        "health with the store unwritable: exit 1, one line naming it",
        "%d %r %r" % (rc, out, err))
rc, out, err = health("health")
h.check(rc == 0 and out.startswith("healthy:"),
        "health once the store is writable again: exit 0", "%d %r" % (rc, out))
left = [f for f in os.listdir(store_dir) if f.startswith(".tmp-")]
h.check(not left, "health leaves no file in the store", repr(left))

# -- a listener whose socket was destroyed (ss -K) -------------------------
mark = h.log_mark()
r = subprocess.run(["ss", "-K", "-t", "-l", "sport = :%d" % pop],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   timeout=30)
rc, out, err = health("health")
h.check(r.returncode == 0 and rc == 1 and out.splitlines() ==
        ["listener POP-%d: its socket is not listening" % pop],
        "health with a listener gone: exit 1, one line naming it",
        "%d %r %r %r" % (rc, out, err, r.stdout))
h.stop_emailproxy()
lines = h.log_text()[mark:].splitlines()
accept = [ln for ln in lines if "POP-%d" % pop in ln and "accept" in ln]
h.check(len(accept) <= 1, "a listener gone is logged once, not at every "
        "turn of the event loop", "%d lines: %r" % (len(accept), accept[:3]))

# -- a store the daemon cannot write at start: never ready ------------------
ro = h.path("ro-store")
os.mkdir(ro)
pw = pwd.getpwnam(PROXY_USER)
os.chown(ro, pw.pw_uid, pw.pw_gid)
os.chmod(ro, 0o500)
mark = h.log_mark()
d = h.start_emailproxy(conf.replace("[emailproxy]\n", "[emailproxy]\n"
                                    "store_dir = %s\n" % ro, 1), wait=False)
try:
    d.proc.popen.wait(timeout=30)
except subprocess.TimeoutExpired:
    pass
rc = d.proc.popen.poll()
text = h.log_text()[mark:]
h.stop_emailproxy()
h.check(rc == 1 and "tokend: fatal: token store %s: cannot write: "
        "Permission denied" % ro in text and
        "in place: ready" not in text,
        "a store that cannot be written at start: exit 1, never ready",
        "%r %r" % (rc, text[-600:]))

# -- an account that needs a person: a warning -----------------------------
h.start_emailproxy(conf + "\n" + code_account + "\n" + cached_account)
rc, out, err = health("health")
lines = out.splitlines()
h.check(rc == 0 and len(lines) == 2 and lines[0] ==
        "warning: authorisation accounts: 1 account needs authorisation "
        "(emailproxyctl authorise): %s" % CODE and
        lines[1].startswith("healthy: 2 listeners up"),
        "health: an account to authorise is a warning line, exit 0",
        "%d %r %r" % (rc, out, err))
rc, out, err = health("health", "-s")
h.check(rc == 1 and out.startswith("warning: authorisation accounts: 1 "
                                   "account needs authorisation") and
        "healthy" not in out,
        "health -s: the warning fails the check, exit 1",
        "%d %r %r" % (rc, out, err))
h.check(h.proxy.alive(),
        "the daemon runs on after the health checks", "")
h.finish()
