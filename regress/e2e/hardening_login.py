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
"""Multi-user hardening through the real daemon (IMAP LOGIN at the
proxy, tokens from the regress OAuth server, Dovecot upstream).

Three configurations in turn, each loaded by SIGHUP:
  A  throttling (max_login_failures = 4, login_cooloff = 3) on an account
     without a local password, delete_account_token_on_password_error
     off: 20 wrong passwords in a row; the later ones are refused at once,
     the KDF ran at most 4 times (emailproxyctl show stats -j), the right
     password works after the cool-off;
  B  delete_account_token_on_password_error = True and accounts with a
     local_password made by `emailproxyctl hash-password` ($y$): the
     right password logs in, a wrong one is refused and the stored
     tokens stay (the next right login costs the OAuth server nothing);
     a client-credentials account with a hash refuses other passwords;
     an account allowlist (127.0.0.2, ::1) against 127.0.0.1, 127.0.0.2
     and ::1 (client sockets bound to those addresses);
  C  require_local_password: an account without a hash is refused with
     the message, one with a hash still logs in.
Every client address is its own loopback address so that the per-address
throttling of one part does not reach another.  At the end the audit
lines of the log, written as syslog would, are matched by the fail2ban
filter of etc/fail2ban (fail2ban-regex if installed, else the same
regular expression in Python).
"""

import configparser
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Conn, Harness  # noqa: E402

h = Harness("hardening_login")
h.start_dovecot()
oauth = h.oauth
top = os.environ.get("REGRESS_TOP", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", ".."))

LP = "lp@example.com"
CCG = "ccg@example.com"
ROPC = "ropc@example.com"
THR = "thr@example.com"
ALLOW = "allow@example.com"


def hash_password(pw):
    """emailproxyctl hash-password, the password on standard input."""
    r = subprocess.run([h.emailproxyctl_bin, "hash-password"],
                       input=(pw + "\n").encode(), capture_output=True,
                       timeout=30)
    out = r.stdout.decode().strip()
    h.check(r.returncode == 0 and out.startswith("$y$"),
            "emailproxyctl hash-password prints a yescrypt hash",
            "%d %r %r" % (r.returncode, out, r.stderr))
    return out


LP_HASH = hash_password("lp right")
CCG_HASH = hash_password("ccg right")
ALLOW_HASH = hash_password("allow pw")

common = ("token_url = %s\noauth2_scope = mail\nclient_id = %s\n"
          % (oauth.token_url, oauth.client_id))
if oauth.client_secret:
    common += "client_secret = %s\n" % oauth.client_secret
port6 = h.free_port() if h.ipv6 else None


def config(globals_, ccg_hash=True):
    extra = ("[%s]\noauth2_flow = password\n%slocal_password = %s\n\n"
             "[%s]\noauth2_flow = password\n%s\n"
             "[%s]\noauth2_flow = password\n%slocal_password = %s\n"
             "allow_clients = 127.0.0.2, ::1\n\n"
             % (LP, common, LP_HASH, THR, common, ALLOW, common,
                ALLOW_HASH))
    if port6 is not None:
        extra += ("[IMAP-%d]\nlocal_address = ::1\nserver_address = "
                  "127.0.0.1\nserver_port = %d\n\n"
                  % (port6, h.dovecot.ports["imaps"]))
    text = h.standard_config(pop=False, smtp=False,
                             extra_globals="kdf_iterations = 100000\n"
                             + globals_, extra=extra)
    if ccg_hash:
        text = text.replace("[%s]\n" % CCG, "[%s]\nlocal_password = %s\n"
                            % (CCG, CCG_HASH))
    return text


def connect_from(src, host="127.0.0.1", port=None):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        s.bind((src, 0))
        s.connect((host, port or h.proxy_ports["imap"]))
    except BaseException:
        s.close()
        raise
    return Conn(s, 30)


def login(user, password, src="127.0.0.1", host="127.0.0.1", port=None):
    """IMAP LOGIN from src: (tagged answer line, seconds it took)."""
    c = connect_from(src, host, port)
    try:
        c.readline()
        t0 = time.monotonic()
        c.send(b'a LOGIN "%s" "%s"\r\n' % (user.encode(),
                                           password.encode()))
        line = c.read_until(rb"^a (OK|NO|BAD)")[-1]
        return (line.decode("utf-8", "replace").strip(),
                time.monotonic() - t0)
    finally:
        c.close()


def grants(kind):
    return oauth.stats().get("token", {}).get(kind, 0)


def stats():
    """tokend's counters from emailproxyctl show stats -j."""
    r = h.emailproxyctl("-j", "-s", h.path("ctl.sock"), "show", "stats")
    out = {}
    for line in (r.stdout or b"").decode().splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.update(obj)
    if not out:
        try:
            obj = json.loads((r.stdout or b"").decode())
            if isinstance(obj, dict):
                out = obj
            elif isinstance(obj, list):
                for o in obj:
                    out.update(o)
        except ValueError:
            pass
    return out


def reload(text):
    mark = h.log_mark()
    h.reload_emailproxy(text)
    h.check(h.wait_log(r"configuration reloaded|reload failed", 20,
                       since=mark) is not None and
            h.wait_log(r"reload failed", 0.2, since=mark) is None,
            "the next configuration is loaded", h._tail(h.proxy.log_path)
            if h.proxy else "")


# -- A: throttling -----------------------------------------------------

h.start_emailproxy(config("delete_account_token_on_password_error = False\n"
                          "max_login_failures = 4\n"
                          "login_cooloff = 3\n"))
r, _ = login(THR, "thr right", "127.0.0.5")
h.check(r.startswith("a OK"), "throttling: first login (trust on first "
        "use) gets a token", r)
s0 = stats()
h.check("tokend_kdf_runs_total" in s0 and
        "tokend_logins_throttled_total" in s0,
        "show stats -j has tokend_kdf_runs_total and "
        "tokend_logins_throttled_total", repr(s0)[:300])
answers = []
for i in range(20):
    answers.append(login(THR, "wrong %d" % i, "127.0.0.5"))
s1 = stats()
bad = [a for a in answers[:4] if "is incorrect" in a[0]]
h.check(len(bad) == 4, "throttling: the first 4 wrong passwords are "
        "checked and refused", repr(answers[:4]))
later = answers[4:]
h.check(all(a[0].startswith("a NO") and "too many failed logins for %s; "
            "try again in" % THR in a[0] for a in later),
        "throttling: the 16 later attempts are refused with the "
        "throttling message", repr(later[:2]))
h.check(all(a[1] < 0.5 for a in later),
        "throttling: each later attempt is refused in under 0.5 s",
        "slowest %.3f s" % max(a[1] for a in later))
runs = s1.get("tokend_kdf_runs_total", 0) - s0.get("tokend_kdf_runs_total",
                                                   0)
h.check(0 < runs <= 4, "throttling: 20 wrong passwords ran the KDF at most "
        "max_login_failures (4) times", "%d runs" % runs)
h.check(s1.get("tokend_logins_throttled_total", 0) -
        s0.get("tokend_logins_throttled_total", 0) == 16,
        "throttling: tokend_logins_throttled_total counts 16", repr(s1))
r, _ = login(THR, "thr right", "127.0.0.6")
h.check("too many failed logins for %s" % THR in r,
        "throttling: the right password is refused too during the "
        "cool-off", r)
m = re.search(r"try again in (\d+) s", later[-1][0])
time.sleep((int(m.group(1)) if m else 4) + 1.2)
r, _ = login(THR, "thr right", "127.0.0.5")
h.check(r.startswith("a OK"), "throttling: the right password works after "
        "the cool-off (login_cooloff = 3)", r)

# -- B: local passwords, allowlists -------------------------------------

reload(config("delete_account_token_on_password_error = True\n"
              "max_login_failures = 4\n"
              "login_cooloff = 3\n"))
before = grants("password")
r, _ = login(LP, "lp right", "127.0.0.11")
h.check(r.startswith("a OK") and grants("password") == before + 1,
        "local password: the right password logs in (one password grant)",
        r)
rec = h.path("store", LP + ".json")
try:
    with open(rec, "rb") as f:
        stored = f.read()
except OSError:
    stored = None
r, _ = login(LP, "lp wrong", "127.0.0.12")
h.check(r.startswith("a NO") and "Login failed - the password for account "
        "%s is incorrect" % LP in r, "local password: a wrong password is "
        "refused (delete_account_token_on_password_error = True)", r)
try:
    with open(rec, "rb") as f:
        after = f.read()
except OSError:
    after = None
h.check(stored is not None and after == stored and
        grants("password") == before + 1,
        "local password: the stored tokens are untouched and nothing was "
        "asked of the OAuth server", "record %s" % (
            "unchanged" if after == stored else "changed"))
h.stop_emailproxy()
h.start_emailproxy(config("delete_account_token_on_password_error = True\n"
                          "max_login_failures = 4\n"
                          "login_cooloff = 3\n"))
r, _ = login(LP, "lp right", "127.0.0.11")
h.check(r.startswith("a OK") and grants("password") == before + 1,
        "local password: after a restart the right password uses the "
        "stored token, no new authorisation", r)

cc = grants("client_credentials")
r, _ = login(CCG, "someone else", "127.0.0.13")
h.check(r.startswith("a NO") and "is incorrect" in r and
        grants("client_credentials") == cc,
        "client credentials with a hash: another password is refused, "
        "no token requested", r)
r, _ = login(CCG, "ccg right", "127.0.0.13")
h.check(r.startswith("a OK") and grants("client_credentials") == cc + 1,
        "client credentials with a hash: its local password logs in", r)
r, _ = login(CCG, "someone else", "127.0.0.14")
h.check(r.startswith("a NO") and "is incorrect" in r,
        "client credentials with a hash: still refused once it has a "
        "token", r)

r, _ = login(ALLOW, "allow pw", "127.0.0.1")
h.check(r.startswith("a NO") and "emailproxy: logins to %s are not allowed "
        "from 127.0.0.1" % ALLOW in r,
        "account allowlist: 127.0.0.1 is refused with the message", r)
r, _ = login(ALLOW, "allow pw", "127.0.0.2")
h.check(r.startswith("a OK"), "account allowlist: 127.0.0.2 logs in", r)
if port6 is not None:
    r, _ = login(ALLOW, "allow pw", "::1", "::1", port6)
    h.check(r.startswith("a OK"), "account allowlist: ::1 logs in", r)
    r, _ = login(LP, "lp right", "::1", "::1", port6)
    h.check(r.startswith("a OK"), "no allowlist: ::1 logs in to another "
            "account", r)
else:
    h.info("no IPv6 loopback: ::1 not tested")
s2 = stats()
h.check(s2.get("tokend_logins_not_allowed_total", 0) >= 1 and
        s2.get("tokend_crypt_checks_total", 0) >= 3,
        "show stats: tokend_logins_not_allowed_total and "
        "tokend_crypt_checks_total", repr(s2)[:300])
out = h.emailproxyctl("-j", "-s", h.path("ctl.sock"), "show", "accounts")
text = (out.stdout or b"").decode()
try:
    rows = {o.get("account"): o for o in json.loads(text)}
except (ValueError, AttributeError, TypeError):
    rows = {}
ccg = rows.get(CCG, {})
h.check(ccg.get("last_login", 0) > 0 and
        ccg.get("last_login_address") == "127.0.0.13" and
        ccg.get("failures") == 1,
        "show accounts: last_login, last_login_address and failures (one "
        "wrong password since the last success)", repr(ccg))
h.check("$y$" not in text and LP_HASH not in h.log_text(),
        "no hash in the control answers or the log", "")

# -- C: require_local_password ------------------------------------------

reload(config("delete_account_token_on_password_error = True\n"
              "require_local_password = True\n"))
r, _ = login(ROPC, "anything", "127.0.0.21")
h.check(r.startswith("a NO") and "emailproxy: account %s has no local "
        "password set by the administrator" % ROPC in r,
        "require_local_password: an account without a hash is refused "
        "with the message", r)
r, _ = login(LP, "lp right", "127.0.0.21")
h.check(r.startswith("a OK"), "require_local_password: an account with a "
        "hash logs in", r)

# -- the fail2ban filter ------------------------------------------------

FAILS = ("bad-password", "unknown-account", "no-password", "not-allowed",
         "throttled")
r, _ = login("nobody@nowhere.example", "x", "127.0.0.31")
# The proxy logs through the parent: the last login's audit line may
# come after its answer.  The proxy's lines keep their order, so once
# that one is there every earlier one is too.
h.check(h.wait_log(r"^proxy: audit: result=unknown-account proto=IMAP "
                   r"\S+ client=127\.0\.0\.31 ", 20) is not None,
        "the last login's audit line (result=unknown-account) is logged",
        r)
pid = h.proxy.pid
audit = [line for line in h.log_text().splitlines()
         if re.match(r"^proxy: audit: result=", line)]
seen = {m.group(1) for m in (re.match(r"proxy: audit: result=(\S+)", x)
                             for x in audit)}
h.check({"ok", "bad-password", "not-allowed", "throttled",
         "unknown-account"} <= seen,
        "the proxy logged audit lines for ok, bad-password, not-allowed, "
        "throttled and unknown-account", repr(sorted(seen)))
want = sum(1 for x in audit
           if re.match(r"proxy: audit: result=(%s) " % "|".join(FAILS), x))
stamp = time.strftime("%b %d %H:%M:%S", time.localtime())
syslog = h.path("syslog")
with open(syslog, "w") as f:
    for line in audit:
        f.write("%s localhost emailproxy[%d]: %s\n" % (stamp, pid, line))
filt = os.path.join(top, "etc", "fail2ban", "filter.d", "emailproxy.conf")
if shutil.which("fail2ban-regex"):
    res = subprocess.run(["fail2ban-regex", syslog, filt],
                         capture_output=True, timeout=60)
    out = res.stdout.decode(errors="replace")
    m = re.search(r"Lines: (\d+) lines, \d+ ignored, (\d+) matched", out)
    got = int(m.group(2)) if m else -1
    h.check(res.returncode == 0 and got == want and want >= 20,
            "fail2ban-regex: the filter matches the %d failure audit "
            "lines of %d" % (want, len(audit)),
            "matched %d\n%s" % (got, out[-1500:]))
else:
    h.info("fail2ban-regex not installed: the filter's regex in Python")
    cp = configparser.RawConfigParser()
    cp.read(filt)
    d = dict(cp.items("Definition"))
    rx = d["failregex"].strip()
    for _ in range(5):
        rx = re.sub(r"%\((\w+)\)s", lambda mm: d[mm.group(1)], rx)
    rx = rx.replace("<ADDR>", r"(?P<addr>[0-9A-Fa-f:.]+)")
    rx = re.sub(r"</?F-[A-Z_]+>", "", rx)
    pat = re.compile(rx)
    got = 0
    for line in audit:
        # fail2ban removes the date before it matches.
        if pat.search("localhost emailproxy[%d]: %s" % (pid, line)):
            got += 1
    h.check(got == want and want >= 20,
            "the filter's regex matches the %d failure audit lines of %d"
            % (want, len(audit)), "matched %d" % got)
h.finish()
