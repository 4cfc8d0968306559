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
"""emailproxyctl against the running daemon (Dovecot upstream, the regress
OAuth server), over the control socket of the harness config.

Checks: show accounts in text and JSON (no token -> pending -> unlocked;
locked after a restart); show pending and authorise without a URL give
the URL of a waiting auth-code login, and the user code of a device
login; authorise with the redirect URL (argument, then standard input)
completes it and the waiting login succeeds; a wrong state, or a URL for
a device account, is refused; a bogus code fails with the provider's
error once exchanged; authorise with nothing pending starts the
authorisation (URL, or device code) and the next login takes its tokens
without a new one; unknown and non-interactive accounts are refused; a
tool killed during the exchange harms nothing; forget makes the next
login obtain new tokens; reload takes effect (a new listener) and a
broken config fails with its reasons; log brief/verbose switch the
protocol traces; the socket is 0660 root:control_group; a peer in
control_group may look but not change anything until its group is
control_admin_group; a peer outside the group cannot connect; a peer
holds at most 32 connections; unknown account and daemon not running
give exit 1 with a clear message; show sessions (a session appears with
its fields and disappears after LOGOUT), show stats (sorted) and show
metrics (Prometheus text: # HELP and # TYPE, counters named *_total,
login outcomes as a result label).
"""

import grp
import json
import os
import pwd
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness, wait_listening, wait_until  # noqa: E402

GROUP = "emailproxy-ctl-test"
AUTH = "auth@example.com"
ROPC = "ropc@example.com"
DEVICE = "device@example.com"
ROPC_PASSWORD = "ropc-upstream-pw"
AUTH_PASSWORD = "auth-login-pw"
TRACE = r"session \d+: (C>|S>|>S) "

# The control group must exist before the daemon starts.
if subprocess.run(["getent", "group", GROUP], stdout=subprocess.DEVNULL,
                  stderr=subprocess.DEVNULL).returncode != 0:
    subprocess.run(["groupadd", "--system", GROUP], check=True)
ctl_gid = grp.getgrnam(GROUP).gr_gid
nobody = pwd.getpwnam("nobody")

h = Harness("ctl_control")
h.start_dovecot()
oauth = h.oauth
oauth.set(ropc_password=ROPC_PASSWORD)
sock = h.path("ctl.sock")
device = ("[%s]\npermission_url = %s\noauth2_flow = device\n"
          "token_url = %s\noauth2_scope = mail\nclient_id = %s\n"
          % (DEVICE, oauth.devicecode_url, oauth.token_url,
             oauth.client_id))
if oauth.client_secret:
    device += "client_secret = %s\n" % oauth.client_secret
# notify_command runs as the daemon's user: a directory it may write.
notify_dir = h.path("notify")
os.makedirs(notify_dir, exist_ok=True)
os.chmod(notify_dir, 0o777)
NOTIFY_LOG = os.path.join(notify_dir, "notify.log")
conf = h.standard_config(
    pop=False, smtp=False,
    extra_globals="kdf_iterations = 100000\nauth_timeout = 120\n"
                  "auth_wait = 120\n"
                  "control_group = %s\n"
                  "notify_command = echo \"$EMAILPROXY_ACCOUNT "
                  "$EMAILPROXY_URL\" >> %s" % (GROUP, NOTIFY_LOG),
    extra=device)
port = h.proxy_ports["imap"]
h.start_emailproxy(conf)
# A copy nobody can reach even when the build tree is private.
ctl_copy = h.path("emailproxyctl")
shutil.copy2(h.emailproxyctl_bin, ctl_copy)
os.chmod(ctl_copy, 0o755)


def ctl(*args, stdin=None, cred=None, sockpath=None):
    """Run emailproxyctl -s SOCK args; cred=(uid, gid, groups) runs it as
    that user.  Returns (exit status, stdout str, stderr str)."""
    argv = [ctl_copy if cred else h.emailproxyctl_bin,
            "-s", sockpath or sock] + list(args)

    def drop():
        uid, gid, groups = cred
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)

    r = subprocess.run(argv, input=(stdin or "").encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30, preexec_fn=drop if cred else None)
    return (r.returncode, r.stdout.decode("utf-8", "replace"),
            r.stderr.decode("utf-8", "replace"))


def ctl_json(*args):
    rc, out, err = ctl("-j", *args)
    try:
        return rc, json.loads(out), err
    except ValueError:
        return rc, None, "not JSON: %r %s" % (out[:300], err)


def accounts():
    """{account: row} from show accounts -j."""
    rc, rows, err = ctl_json("show", "accounts")
    if rc != 0 or not isinstance(rows, list):
        return {}
    return {r.get("account"): r for r in rows}


def text_row(out, account):
    for line in out.splitlines():
        if line.startswith(account + " "):
            return line
    return ""


def imap(user, password, timeout=30):
    """IMAP LOGIN through the proxy: the tagged answer line (str)."""
    c = h.connect(port, timeout=timeout)
    try:
        c.readline()
        c.send(b'a LOGIN "%s" "%s"\r\n' % (user.encode(),
                                           password.encode()))
        return c.read_until(rb"^a (OK|NO|BAD)")[-1].decode(
            "utf-8", "replace").strip()
    finally:
        c.close()


class Background:
    """A login that waits for a person, in a thread."""

    def __init__(self, user, password):
        self.result = None
        self.t = threading.Thread(target=self._run, args=(user, password))
        self.t.start()

    def _run(self, user, password):
        try:
            self.result = imap(user, password, timeout=90)
        except Exception as e:  # noqa: BLE001 -- reported as the result
            self.result = "exception: %r" % e

    def wait(self, timeout=90):
        self.t.join(timeout)
        return self.result or ""


def browser_get(url):
    """The person's browser opens the authorisation URL (test CA)."""
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=h.client_ctx()))
    try:
        with opener.open(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def wait_pending(account, timeout=20):
    """The row of account in show pending -j, once it is there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rc, rows, err = ctl_json("show", "pending")
        for r in rows or []:
            if r.get("account") == account:
                return r
        time.sleep(0.2)
    return None


def grants(kind):
    return oauth.stats().get("token", {}).get(kind, 0)


# -- show accounts: no token -> unlocked ---------------------------------
rc, out, err = ctl("show", "accounts")
h.check(rc == 0 and out.startswith("ACCOUNT") and
        re.search(r"\bno token\b", text_row(out, ROPC)),
        "show accounts: a configured account starts with no token",
        "%d %r %r" % (rc, out, err))
rc, rows, err = ctl_json("show", "accounts")
names = sorted(r.get("account", "") for r in rows or [])
h.check(rc == 0 and names == sorted(list(h.accounts) + [DEVICE]) and
        all(r.get("state") == "no token" for r in rows),
        "show accounts -j: every configured account, state \"no token\"",
        "%d %r %s" % (rc, rows, err))

before = int(time.time())
r = imap(ROPC, ROPC_PASSWORD)
h.check(r.startswith("a OK"), "an IMAP login through the proxy", r)
row = accounts().get(ROPC, {})
h.check(row.get("state") == "unlocked" and
        row.get("access_token_expiry", 0) > before and
        row.get("last_use", 0) >= before - 1,
        "show accounts -j: the account is unlocked after the login, with "
        "token expiry and last use", repr(row))
rc, out, err = ctl("show", "accounts")
line = text_row(out, ROPC)
h.check(rc == 0 and re.search(r"\bunlocked\b", line) and
        re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line),
        "show accounts: text row unlocked with a token expiry time",
        repr(out))

# -- show pending, authorise ---------------------------------------------
rc, rows, err = ctl_json("show", "pending")
h.check(rc == 0 and rows == [], "show pending -j: nothing waits yet",
        "%d %r %s" % (rc, rows, err))

bg = Background(AUTH, AUTH_PASSWORD)
pend = wait_pending(AUTH)
url = (pend or {}).get("url", "")
h.check(pend is not None and url.startswith(oauth.authorize_url + "?") and
        pend.get("expires", 0) > time.time(),
        "show pending -j: a first auth-code login appears with its URL and "
        "expiry", repr(pend))
h.check(accounts().get(AUTH, {}).get("state") == "pending",
        "show accounts -j: the waiting account is \"pending\"",
        repr(accounts().get(AUTH)))


def notified(line, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with open(NOTIFY_LOG) as f:
                if line in f.read().splitlines():
                    return True
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    return False


h.check(url and notified("%s %s" % (AUTH, url)),
        "notify_command runs with the account and URL authd announced",
        h.log_text()[-500:])
rc, out, err = ctl("show", "pending")
h.check(rc == 0 and url and AUTH in out and url in out,
        "show pending: text names the account and the URL", repr(out))
rc, out, err = ctl("authorise", AUTH)
h.check(rc == 0 and url and url in out,
        "authorise ACCOUNT without a URL prints the pending URL",
        "%d %r %r" % (rc, out, err))
rc, rows, err = ctl_json("authorise", AUTH)
h.check(rc == 0 and isinstance(rows, list) and len(rows) == 1 and
        rows[0].get("url") == url,
        "authorise -j ACCOUNT without a URL gives the pending request",
        "%d %r %s" % (rc, rows, err))

# A redirect carrying a state that is not the pending request's.
browser_get(url)
bad = oauth.approve(login_hint=AUTH, bad_state=1)
rc, out, err = ctl("authorise", AUTH, bad)
h.check(rc == 1 and "does not match a pending request" in err,
        "authorise with a wrong state is refused (exit 1, reason)",
        "%d %r %r" % (rc, out, err))
h.check(wait_pending(AUTH, timeout=1) is not None and bg.t.is_alive(),
        "after a refused URL the authorisation still waits", "")

browser_get(url)
redirect = oauth.approve(login_hint=AUTH)
codes = grants("authorization_code")
rc, out, err = ctl("authorise", AUTH, redirect)
r = bg.wait()
h.check(rc == 0 and r.startswith("a OK"),
        "authorise ACCOUNT URL completes the grant and the waiting login "
        "succeeds", "%d %r %r" % (rc, err, r))
h.check(out.strip() == "%s: authorised; 1 waiting login got the token"
        % AUTH, "authorise ACCOUNT URL answers once the code is exchanged: "
        "authorised, 1 waiting login", repr(out))
h.check(grants("authorization_code") == codes + 1,
        "one code exchange at the OAuth server", str(oauth.stats()))
rc, rows, err = ctl_json("show", "pending")
h.check(rc == 0 and rows == [], "show pending is empty afterwards",
        repr(rows))
h.check(accounts().get(AUTH, {}).get("state") == "unlocked",
        "the authorised account is unlocked", repr(accounts().get(AUTH)))
rc, out, err = ctl("authorise", AUTH, redirect)
h.check(rc == 1 and "no authorisation is pending for %s" % AUTH in err,
        "authorise ACCOUNT URL without a pending request: exit 1, clear "
        "message", "%d %r" % (rc, err))

# A device-grant account: the code to enter, no URL to paste.
bg = Background(DEVICE, AUTH_PASSWORD)
pend = wait_pending(DEVICE)
code = (pend or {}).get("user_code", "")
h.check(pend is not None and code and
        pend.get("url", "").startswith("https://127.0.0.1:"),
        "show pending -j: a device-grant login with its URL and user code",
        repr(pend))
rc, out, err = ctl("show", "pending")
h.check(rc == 0 and code and "enter the code %s" % code in out,
        "show pending: text tells which code to enter", repr(out))
rc, out, err = ctl("authorise", DEVICE, "http://127.0.0.1/?code=x&state=y")
h.check(rc == 1 and "device grant" in err,
        "authorise with a URL for a device-grant account: exit 1, "
        "explained", "%d %r" % (rc, err))
oauth.approve_device(user_code=code)
r = bg.wait()
rc, rows, err = ctl_json("show", "pending")
h.check(r.startswith("a OK") and rows == [],
        "the device login completes and leaves show pending",
        "%r %r" % (r, rows))

# -- forget ----------------------------------------------------------------
rc, out, err = ctl("forget", AUTH)
h.check(rc == 0, "forget ACCOUNT succeeds", "%d %r" % (rc, err))
h.check(accounts().get(AUTH, {}).get("state") == "no token" and
        not os.path.exists(h.path("store", AUTH + ".json")),
        "forget: the account has no token and its record is gone",
        repr(accounts().get(AUTH)))
mark = h.log_mark()
bg = Background(AUTH, AUTH_PASSWORD)
pend = wait_pending(AUTH)
h.check(pend is not None and
        h.wait_log(r"account %s needs authorisation: visit "
                   % re.escape(AUTH), timeout=5, since=mark),
        "after forget the next login needs a new authorisation (URL "
        "logged and pending)", repr(pend))
url = (pend or {}).get("url", "")
browser_get(url)
redirect = oauth.approve(login_hint=AUTH)
rc, out, err = ctl("authorise", AUTH, "-", stdin=redirect + "\n")
r = bg.wait()
h.check(rc == 0 and r.startswith("a OK"),
        "authorise ACCOUNT - reads the URL from standard input; the login "
        "succeeds", "%d %r %r" % (rc, err, r))
h.check(grants("authorization_code") == codes + 2,
        "the new authorisation cost one more code exchange",
        str(oauth.stats()))

pw_grants = grants("password")
rc, out, err = ctl("forget", ROPC)
r = imap(ROPC, ROPC_PASSWORD)
h.check(rc == 0 and r.startswith("a OK") and
        grants("password") == pw_grants + 1,
        "forget a password-grant account: the next login asks the OAuth "
        "server again", "%d %r %r %s" % (rc, err, r, oauth.stats()))

rc, out, err = ctl("forget", "nobody-here@example.org")
h.check(rc == 1 and err.startswith("emailproxyctl: ") and
        "no stored tokens" in err,
        "forget an unknown account: exit 1, clear message",
        "%d %r" % (rc, err))

# -- authorise: the code exchange decides; authorising ahead of a login --


def with_code(url, code):
    """url with its code parameter replaced."""
    p = urllib.parse.urlsplit(url)
    q = [(k, code if k == "code" else v)
         for k, v in urllib.parse.parse_qsl(p.query)]
    return urllib.parse.urlunsplit(p._replace(
        query=urllib.parse.urlencode(q)))


def token_requests():
    return sum(1 for r in oauth.requests() if r.get("path") == "/token")


pasted = []
rc, out, err = ctl("forget", AUTH)
bg = Background(AUTH, AUTH_PASSWORD)
pend = wait_pending(AUTH)
browser_get((pend or {}).get("url", ""))
redirect = oauth.approve(login_hint=AUTH)
pasted.append(urllib.parse.parse_qs(
    urllib.parse.urlsplit(redirect).query)["code"][0])
codes = grants("authorization_code")
rc, out, err = ctl("authorise", AUTH, with_code(redirect, "bogus-code-42"))
r = bg.wait()
h.check(rc == 1 and out == "" and
        err.startswith("emailproxyctl: account %s: " % AUTH) and
        "invalid_grant; unknown code" in err and
        grants("authorization_code") == codes + 1,
        "authorise with a bogus code: exit 1 after the exchange, with the "
        "provider's error", "%d %r %r" % (rc, out, err))
h.info("bogus code: %s" % err.strip())
h.check(r.startswith("a NO"), "the login that waited gets NO", r)

rc, out, err = ctl("authorise", "nobody-here@example.org")
h.check(rc == 1 and err.strip() == "emailproxyctl: unknown account "
        "nobody-here@example.org",
        "authorise an unknown account: exit 1, \"unknown account\"",
        "%d %r" % (rc, err))
for acct, grant in ((ROPC, "password"), ("ccg@example.com",
                                         "client_credentials")):
    rc, out, err = ctl("authorise", acct)
    h.check(rc == 1 and err.strip() == "emailproxyctl: %s uses the %s "
            "grant: nothing to authorise, a login obtains its token"
            % (acct, grant),
            "authorise a %s-grant account: exit 1, nothing to authorise"
            % grant, "%d %r" % (rc, err))

# Nobody waits: authorise starts it, the next login takes the tokens.
mark = h.log_mark()
rc, out, err = ctl("authorise", AUTH)
pend = wait_pending(AUTH, timeout=2)
url = (pend or {}).get("url", "")
h.check(rc == 0 and url.startswith(oauth.authorize_url + "?") and
        "%s: authorisation waits until " % AUTH in out and
        "visit %s\n" % url in out,
        "authorise ACCOUNT with nothing pending starts the authorisation "
        "and prints its URL", "%d %r %r %r" % (rc, out, err, pend))
h.check(h.wait_log(r"account %s needs authorisation: visit %s"
                   % (re.escape(AUTH), re.escape(url)), timeout=5,
                   since=mark) is not None,
        "the URL is logged at notice level", "")
rc, out2, err = ctl("authorise", AUTH)
h.check(rc == 0 and out2 == out, "authorise again joins it (same answer)",
        "%d %r" % (rc, out2))
browser_get(url)
redirect = oauth.approve(login_hint=AUTH)
pasted.append(urllib.parse.parse_qs(
    urllib.parse.urlsplit(redirect).query)["code"][0])
codes = grants("authorization_code")
rc, out, err = ctl("authorise", AUTH, redirect)
h.check(rc == 0 and out.startswith("%s: authorised; the account's next "
                                   "login takes the token (kept until "
                                   % AUTH) and
        grants("authorization_code") == codes + 1 and
        wait_pending(AUTH, timeout=0.5) is None,
        "authorise ACCOUNT URL with nobody waiting: exit 0 after one code "
        "exchange; the tokens are kept", "%d %r %r" % (rc, out, err))
tokens = token_requests()
r = imap(AUTH, AUTH_PASSWORD)
h.check(r.startswith("a OK") and token_requests() == tokens and
        grants("authorization_code") == codes + 1,
        "the first IMAP login takes those tokens: no new authorisation, "
        "no token request", "%r %s" % (r, oauth.stats()))
r = imap(AUTH, AUTH_PASSWORD)
row = accounts().get(AUTH, {})
h.check(r.startswith("a OK") and row.get("state") == "unlocked" and
        token_requests() == tokens,
        "that login's password now unlocks the account's stored tokens",
        "%r %r" % (r, row))


def introspected():
    """The access token the mail server checked last."""
    toks = [q.get("form", {}).get("token") for q in oauth.requests()
            if q.get("path") == "/introspect"]
    return toks[-1] if toks else None


# An account that holds tokens: authorise replaces them.
old_token = introspected()
mark = h.log_mark()
rc, out, err = ctl("authorise", AUTH)
pend = wait_pending(AUTH, timeout=2)
browser_get((pend or {}).get("url", ""))
redirect = oauth.approve(login_hint=AUTH)
pasted.append(urllib.parse.parse_qs(
    urllib.parse.urlsplit(redirect).query)["code"][0])
codes = grants("authorization_code")
rc, out, err = ctl("authorise", AUTH, redirect)
h.check(rc == 0 and grants("authorization_code") == codes + 1,
        "authorise an account that already holds tokens: the code is "
        "exchanged", "%d %r %r" % (rc, out, err))
h.check(h.wait_log(r"%s: access token obtained" % re.escape(AUTH),
                   timeout=5, since=mark) is not None,
        "the unlocked account takes the new tokens at once", "")
tokens = token_requests()
r = imap(AUTH, AUTH_PASSWORD)
new_token = introspected()
h.check(r.startswith("a OK") and old_token is not None and
        new_token != old_token and token_requests() == tokens and
        grants("authorization_code") == codes + 1,
        "the next login uses the newly authorised token, not the old one",
        "%r old %r new %r" % (r, old_token, new_token))

# The tool goes away during the code exchange: the login still succeeds.
rc, out, err = ctl("forget", AUTH)
bg = Background(AUTH, AUTH_PASSWORD)
pend = wait_pending(AUTH)
browser_get((pend or {}).get("url", ""))
redirect = oauth.approve(login_hint=AUTH)
pasted.append(urllib.parse.parse_qs(
    urllib.parse.urlsplit(redirect).query)["code"][0])
codes = grants("authorization_code")
oauth.set(token_delay=2)
tool = subprocess.Popen([h.emailproxyctl_bin, "-s", sock, "authorise", AUTH,
                         redirect], stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)
deadline = time.monotonic() + 10
while grants("authorization_code") == codes and \
        time.monotonic() < deadline:
    time.sleep(0.05)
tool.kill()
tool.wait()
r = bg.wait()
oauth.set(token_delay=0)
rc, out, err = ctl("show", "accounts")
h.check(r.startswith("a OK") and rc == 0 and h.proxy.alive() and
        re.search(r"\bunlocked\b", text_row(out, AUTH)),
        "emailproxyctl killed during the code exchange: the login still "
        "gets its tokens, the daemon answers on", "%r %d %r" % (r, rc, err))

# A device-grant account: authorise prints the code to enter.
rc, out, err = ctl("forget", DEVICE)
devicecodes = oauth.stats().get("devicecode", 0)
rc, out, err = ctl("authorise", DEVICE)
m = re.search(r"visit (https://\S+) and enter the code (\S+)\n", out)
h.check(rc == 0 and m and oauth.stats().get("devicecode", 0) ==
        devicecodes + 1,
        "authorise a device-grant account with nothing pending prints the "
        "verification URI and user code", "%d %r %r" % (rc, out, err))
if m:
    oauth.approve_device(user_code=m.group(2))
r = imap(DEVICE, AUTH_PASSWORD)
h.check(r.startswith("a OK") and
        oauth.stats().get("devicecode", 0) == devicecodes + 1 and
        wait_pending(DEVICE, timeout=0.5) is None,
        "the device account's next login uses that authorisation",
        "%r %s" % (r, oauth.stats()))
log = h.log_text()
h.check(all(c not in log for c in pasted) and "bogus-code-42" not in log,
        "no authorisation code reaches the log", "")

# -- log verbose / brief ---------------------------------------------------
rc, out, err = ctl("log", "brief")
mark = h.log_mark()
r = imap(ROPC, ROPC_PASSWORD)
time.sleep(0.5)
h.check(rc == 0 and r.startswith("a OK") and
        not re.search(TRACE, h.log_text()[mark:]),
        "log brief: no protocol traces for a session",
        "%d %r" % (rc, err))
rc, out, err = ctl("log", "verbose")
mark = h.log_mark()
r = imap(ROPC, ROPC_PASSWORD)
h.check(rc == 0 and h.wait_log(TRACE, timeout=5, since=mark) is not None,
        "log verbose: protocol traces appear", "%d %r" % (rc, err))
h.check(ROPC_PASSWORD not in h.log_text() and
        AUTH_PASSWORD not in h.log_text(),
        "the traces never show a password", "")

# -- reload ------------------------------------------------------------------
new_port = h.free_port()
section = ("\n[IMAP-%d]\nlocal_address = 127.0.0.1\nserver_address = "
           "127.0.0.1\nserver_port = %d\n" % (new_port,
                                               h.dovecot.ports["imaps"]))


def write_config(text):
    with open(h.proxy.conf_path, "w") as f:
        f.write(h.fill_config(text))


write_config(conf + section)
rc, out, err = ctl("reload")
ok = False
if rc == 0:
    try:
        wait_listening([new_port], timeout=10)
        c = h.connect(new_port)
        ok = c.readline().startswith(b"* OK")
        c.close()
    except Exception as e:  # noqa: BLE001 -- reported in the check
        err += repr(e)
h.check(ok, "reload: a new listener section accepts IMAP clients",
        "%d %r" % (rc, err))

write_config(conf + section + "\n[IMAP-%d]\nserver_port = notaport\n"
             % h.free_port())
rc, out, err = ctl("reload")
h.check(rc == 1 and "reload failed" in err and "server_port" in err,
        "reload of a broken config: exit 1 with the reason", repr(err))
h.info("reload failure: %r" % err)
c = h.connect(new_port)
h.check(c.readline().startswith(b"* OK") and h.proxy.alive(),
        "after a failed reload the running configuration stays", "")
c.close()
write_config(conf + section)

# -- a peer in control_group, a peer outside it -------------------------
looker = (nobody.pw_uid, nobody.pw_gid, [ctl_gid])
stranger = (nobody.pw_uid, nobody.pw_gid, [])
st = os.stat(sock)
h.check(st.st_mode & 0o777 == 0o660 and st.st_uid == 0 and
        st.st_gid == ctl_gid,
        "the control socket is 0660 root:control_group",
        "%o %d:%d" % (st.st_mode, st.st_uid, st.st_gid))
rc, out, err = ctl("show", "accounts", cred=looker)
h.check(rc == 0 and re.search(r"\bunlocked\b", text_row(out, ROPC)),
        "a non-root peer in control_group may show accounts",
        "%d %r %r" % (rc, out, err))
rc, out, err = ctl("forget", ROPC, cred=looker)
h.check(rc == 1 and "permission denied" in err and
        accounts().get(ROPC, {}).get("state") == "unlocked",
        "a non-admin peer gets permission denied for forget; nothing "
        "changes", "%d %r" % (rc, err))
for cmd in (("reload",), ("log", "brief"), ("authorise", AUTH)):
    rc, out, err = ctl(*cmd, cred=looker)
    h.check(rc == 1 and "permission denied" in err,
            "a non-admin peer gets permission denied for %s" % cmd[0],
            "%d %r" % (rc, err))
# The same peer, once its group is control_admin_group too.
write_config(conf.replace("control_group = %s" % GROUP,
                          "control_group = %s\ncontrol_admin_group = %s"
                          % (GROUP, GROUP)) + section)
rc0, out, err0 = ctl("reload")
rc, out, err = ctl("forget", ROPC, cred=looker)
h.check(rc0 == 0 and rc == 0 and
        accounts().get(ROPC, {}).get("state") == "no token",
        "a peer whose supplementary group is control_admin_group may "
        "forget", "%d %r %d %r" % (rc0, err0, rc, err))
write_config(conf + section)
rc, out, err = ctl("reload")
rc, out, err = ctl("show", "accounts", cred=stranger)
h.check(rc == 1 and "permission denied" in err and out == "",
        "a peer outside control_group cannot connect: permission denied",
        "%d %r %r" % (rc, out, err))

# -- sessions, stats, metrics ---------------------------------------------
c = h.connect(port)
c.readline()
client_port = c.sock.getsockname()[1]


def my_session():
    rc, rows, err = ctl_json("show", "sessions")
    for r in rows or []:
        if r.get("client", "").endswith(":%d" % client_port) or \
                r.get("client") == "127.0.0.1:%d" % client_port:
            return r
    return None


s = my_session()
h.check(s is not None and s.get("protocol", "").lower() == "imap" and
        str(port) in s.get("listener", "") and
        s.get("client", "").startswith("127.0.0.1"),
        "show sessions -j: an open session with protocol, listener and "
        "client", repr(s))
c.send(b'a LOGIN "%s" "%s"\r\n' % (ROPC.encode(),
                                   ROPC_PASSWORD.encode()))
r = c.read_until(rb"^a (OK|NO|BAD)")[-1]
c.send(b"b NOOP\r\n")
c.read_until(rb"^b (OK|NO|BAD)")
s = my_session()
h.check(r.startswith(b"a OK") and s is not None and
        s.get("account") == ROPC and s.get("bytes_in", 0) > 0 and
        s.get("bytes_out", 0) > 0,
        "show sessions -j: after login the account and bytes each way",
        repr(s))
rc, out, err = ctl("show", "sessions")
h.check(rc == 0 and out.startswith("ID") and
        any(ROPC in ln and "127.0.0.1" in ln for ln in out.splitlines()),
        "show sessions: text row of the session", repr(out))
c.send(b"z LOGOUT\r\n")
c.read_until(rb"^z OK")
c.close()
gone = False
for _ in range(50):
    if my_session() is None:
        gone = True
        break
    time.sleep(0.1)
h.check(gone, "show sessions: the session disappears after LOGOUT", "")

rc, stats, err = ctl_json("show", "stats")
h.check(rc == 0 and isinstance(stats, dict) and
        stats.get("tokend_logins_ok_total", 0) >= 5 and
        stats.get("authd_grants_ok_total", 0) >= 2 and
        any(k.startswith("proxy_") for k in stats),
        "show stats -j: counters of tokend, authd and the proxy",
        "%d %r %s" % (rc, stats, err))
rc, out, err = ctl("show", "stats")
h.check(rc == 0 and re.search(r"(?m)^tokend_logins_ok_total +\d+$", out),
        "show stats: text counters", repr(out[:300]))
rc, out, err = ctl("show", "metrics")
lines = out.splitlines()
samples = [ln for ln in lines if ln and not ln.startswith("#")]
h.check(rc == 0 and lines and lines[-1] != "# EOF" and
        "# TYPE emailproxy_tokend_logins_total counter" in lines and
        any(re.match(r"# HELP emailproxy_tokend_logins_total \S", ln)
            for ln in lines) and
        any(re.match(r'emailproxy_tokend_logins_total\{result="ok"\} \d+$',
                     ln) for ln in samples) and
        all(re.match(r"emailproxy_[a-z0-9_]+(\{[^}]*\})? \d+$", ln)
            for ln in samples),
        "show metrics: Prometheus text, counters *_total with labels",
        repr(out[-300:]))
rc, out, err = ctl("show", "stats")
keys = [ln.split()[0] for ln in out.splitlines() if ln.strip()]
# The counters by name, then those of each pool and listener.
plain = [k for k in keys if "{" not in k]
h.check(rc == 0 and plain and plain == sorted(plain) and
        keys[:len(plain)] == plain,
        "show stats: counters sorted by name, the labelled ones after",
        repr(keys))

# -- connections held open by a peer are bounded -------------------------
HOLDER = r"""
import socket, sys, time
held = []
for _ in range(40):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    for _ in range(100):    # a full listen backlog says EAGAIN
        try:
            s.connect(sys.argv[1])
            break
        except BlockingIOError:
            time.sleep(0.05)
    held.append(s)
# The parent closes the ones over its bound as it gets to them: look
# until as many as expected are closed, or 10 s have passed.
closed = set()
deadline = time.monotonic() + 10
while True:
    for s in held:
        if s in closed:
            continue
        try:
            if s.recv(1) == b"":
                closed.add(s)
        except BlockingIOError:
            pass
        except OSError:
            closed.add(s)
    if len(closed) >= int(sys.argv[2]) or time.monotonic() > deadline:
        break
    time.sleep(0.05)
print(len(closed), flush=True)
sys.stdin.readline()
"""


def drop_to_looker():
    os.setgroups([ctl_gid])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


holder = subprocess.Popen(["/usr/bin/python3", "-c", HOLDER, sock,
                           str(40 - 32)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          preexec_fn=drop_to_looker)
try:
    refused = holder.stdout.readline().decode().strip()
    rc, out, err = ctl("show", "accounts")
    h.check(refused == str(40 - 32) and rc == 0,
            "a non-root peer holds at most 32 control connections; root "
            "still gets in", "refused %r, %d %r" % (refused, rc, err))
    holder.communicate(b"done\n", timeout=10)
finally:
    if holder.poll() is None:
        holder.kill()
        holder.wait()


def looker_gets_in():
    r = ctl("show", "accounts", cred=looker)
    return r if r[0] == 0 else None


# The parent sees the peer's connections close as it gets to them.
rc, out, err = (wait_until(looker_gets_in, 10) or
                ctl("show", "accounts", cred=looker))
h.check(rc == 0, "the peer's connections are released when it goes",
        "%d %r" % (rc, err))
# -- many tools at once, tools that go away, tools that talk nonsense ---
results = []


def parallel(args):
    results.append(ctl_json(*args))


threads = [threading.Thread(target=parallel, args=(a,)) for a in
           [("show", "stats"), ("show", "accounts")] * 10]
for t in threads:
    t.start()
for t in threads:
    t.join(60)
h.check(len(results) == 20 and
        all(rc == 0 and (isinstance(v, dict) and "proxy_sessions_total"
                         in v or isinstance(v, list) and len(v) == 4)
            for rc, v, err in results),
        "20 emailproxyctl at once each get their own complete answer",
        repr([(rc, err) for rc, v, err in results if rc != 0][:3]))


def imsg_types():
    """{name: number} of enum imsg_type in common/emailproxy.h."""
    with open(os.path.join(h.top, "common", "emailproxy.h")) as f:
        text = f.read()
    body = text[text.index("enum imsg_type {"):]
    body = body[:body.index("};")]
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    names = re.findall(r"\b(IMSG_[A-Z0-9_]+)\b", body)
    return {n: i for i, n in enumerate(names)}


types = imsg_types()

def ctl_version():
    """CTL_VERSION of common/emailproxy.h: the peerid of every request."""
    with open(os.path.join(h.top, "common", "emailproxy.h")) as f:
        return int(re.search(r"#define CTL_VERSION\s+(\d+)",
                             f.read()).group(1))


VERSION = ctl_version()


def raw(data, answer=True):
    """Send raw bytes on the control socket; the bytes that come back
    before the daemon closes or 2 s pass (answer=False: close at once)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    got = b""
    try:
        s.connect(sock)
        s.sendall(data)
        while answer:
            b = s.recv(4096)
            if not b:
                break
            got += b
    except socket.timeout:
        pass
    finally:
        s.close()
    return got


def hdr(name, payload=b""):
    return struct.pack("=IIII", types[name], 16 + len(payload), VERSION,
                       0) + payload


# Requests whose tool has gone before the children answer.
for _ in range(5):
    raw(hdr("IMSG_CTL_SHOW_STATS") + hdr("IMSG_CTL_SHOW_SESSIONS"),
        answer=False)
got = raw(hdr("IMSG_CTL_DATA"))
h.check(len(got) >= 16 and
        struct.unpack("=I", got[:4])[0] == types["IMSG_CTL_FAIL"] and
        b"unknown request" in got,
        "a message that is not a request: CTL_FAIL unknown request",
        repr(got[:80]))
got = raw(struct.pack("=IIII", types["IMSG_CTL_SHOW_STATS"], 8, VERSION,
                      0))
h.check(got == b"", "a malformed header: the daemon closes the connection",
        repr(got[:80]))
rc, out, err = ctl("show", "accounts")
h.check(rc == 0 and h.proxy.alive(),
        "after abandoned and malformed requests the daemon still answers",
        "%d %r" % (rc, err))
h.check(h.proxy.alive(), "the daemon is still running after every "
        "command", h.log_text()[-300:])

# -- daemon not running --------------------------------------------------
rc, out, err = ctl("show", "accounts", sockpath=h.path("no-such.sock"))
h.check(rc == 1 and "not running" in err,
        "no daemon at the socket: exit 1, \"not running\"", repr(err))
h.stop_emailproxy()
rc, out, err = ctl("show", "accounts")
h.check(rc == 1 and "not running" in err and not os.path.exists(sock),
        "after the daemon stopped: socket removed, exit 1 \"not running\"",
        repr(err))

# -- after a restart the stored tokens wait for a login ---------------------
h.start_emailproxy(conf)
row = accounts().get(ROPC, {})
h.check(row.get("state") == "locked" and
        row.get("access_token_expiry", 0) > time.time(),
        "after a restart: an account with stored tokens is \"locked\" "
        "with its token expiry", repr(row))
r = imap(ROPC, ROPC_PASSWORD)
row = accounts().get(ROPC, {})
h.check(r.startswith("a OK") and row.get("state") == "unlocked",
        "a login unlocks it again", "%r %r" % (r, row))
h.stop_emailproxy()
h.finish()
