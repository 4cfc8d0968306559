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
"""IMAP logins that need OAuth work, through emailproxy against Dovecot.

- First login with no token: the authorisation URL appears in the log,
  the test authorises at the OAuth server, the waiting login succeeds
  (and the pre-login idle timeout does not run meanwhile).
- Wrong password, unknown account, OAuth server down: a tagged NO with a
  readable reason, and the session goes on working.
- A token Dovecot no longer accepts: the proxy answers the XOAUTH2
  challenge itself, gets a new token and retries once; when the
  retry fails too the client sees Dovecot's answer.
"""

import os
import re
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

IDLE = 3

h = Harness("imap_auth")
h.start_dovecot()
o = h.oauth
ROPC = ("revoked@example.com", "down@example.com")
common = ("token_url = %s\noauth2_scope = mail\nclient_id = %s\n"
          % (o.token_url, o.client_id))
if o.client_secret:
    common += "client_secret = %s\n" % o.client_secret
extra = "".join("[%s]\noauth2_flow = password\n%s\n" % (a, common)
                for a in ROPC)
for a in ROPC + ("auth@example.com", "ccg@example.com"):
    h.seed_message(a, b"Subject: x\r\n\r\nx\r\n")
cfg = h.standard_config(
    pop=False, smtp=False, extra=extra,
    extra_globals="idle_timeout = %d\n"
    "delete_account_token_on_password_error = False" % IDLE)
# Another authorization-code account, for a client that gives up.
cfg += ("\n[cancel@example.com]\npermission_url = %s\n%sredirect_uri = %s\n"
        % (o.authorize_url, common,
           h.accounts["auth@example.com"]["redirect_uri"]))
h.start_emailproxy(cfg)
port = h.proxy_ports["imap"]


def proxy():
    c = h.connect(port)
    c.readline()
    return c


def answer(c, tag, timeout=30):
    return c.read_until(tag + rb" (OK|NO|BAD)", timeout=timeout)


def usable(c, tag):
    c.send(tag + b" NOOP\r\n")
    try:
        return answer(c, tag, 10)[-1].startswith(tag + b" OK")
    except Exception:  # noqa: BLE001
        return False


def fetch(url):
    with urllib.request.urlopen(url, timeout=10,
                                context=h.client_ctx()) as r:
        return r.status


# First login: nobody has authorised this account yet.
mark = h.log_mark()
c = proxy()
t0 = time.monotonic()
c.send(b'a1 LOGIN auth@example.com "first pw"\r\n')
m = h.wait_log(r"auth@example\.com.*(https://\S+/authorize\?\S+)", 15,
               since=mark)
h.check(m is not None, "the authorisation URL is in the log")
url = m.group(1) if m else None
# Wait past the pre-login idle timeout: the login is not idle.
time.sleep(IDLE + 2)
ok = False
if url:
    try:
        fetch(url)
        redirect = o.approve(login_hint="auth@example.com")
        with urllib.request.urlopen(redirect, timeout=10) as r:
            r.read()
        ok = True
    except Exception as e:  # noqa: BLE001
        h.info("authorising failed: %r" % e)
h.check(ok, "authorised at the OAuth server (authorize, approve, redirect)")
try:
    lines = answer(c, b"a1", 30)
except Exception as e:  # noqa: BLE001
    lines = [repr(e).encode()]
h.check(lines[-1].startswith(b"a1 OK"), "the waiting login succeeds",
        repr(lines[-1]))
h.check(not any(x.startswith(b"* BYE") for x in lines), "no idle BYE "
        "while the login waited %.0f s" % (time.monotonic() - t0))
c.send(b"s SELECT INBOX\r\n")
h.check(answer(c, b"s")[-1].startswith(b"s OK"), "mailbox usable after "
        "the first login")
c.close()
c = proxy()
c.send(b'a2 LOGIN auth@example.com "first pw"\r\n')
h.check(answer(c, b"a2")[-1].startswith(b"a2 OK"), "second login uses the "
        "stored token")
c.close()

# A client that leaves while its login waits for a person: the proxy
# tells tokend (TOKEN_CANCEL), which drops the authorisation.
mark = h.log_mark()
c = proxy()
c.send(b'x1 LOGIN cancel@example.com "pw"\r\n')
h.check(h.wait_log(r"cancel@example\.com.*authorize\?", 15, since=mark)
        is not None, "second account waits for authorisation")
c.close()
h.check(h.wait_log(r"session \d+: end: client 127\.0\.0\.1:\d+, server "
                   r"IMAP-\d+, account cancel@example\.com, .*client "
                   r"closed", 10, since=mark) is not None,
        "the session ends when the waiting client leaves")
h.check(h.wait_log(r"cancel@example\.com: nobody waits for request", 10,
                   since=mark) is not None, "tokend drops the request the "
        "proxy cancelled")

# Wrong password (the account's record is locked with "first pw").
c = proxy()
c.send(b"w2 LOGIN auth@example.com wrong\r\n")
line = answer(c, b"w2")[-1]
h.check(re.match(rb"w2 NO \[AUTHENTICATIONFAILED\] .*incorrect", line)
        is not None, "wrong password: tagged NO with a readable reason",
        repr(line))
h.check(usable(c, b"w3"), "session usable after the wrong password")
c.close()

# Unknown account.
c = proxy()
c.send(b"u1 LOGIN nobody@unknown.example pw\r\n")
line = answer(c, b"u1")[-1]
h.check(re.match(rb"u1 NO \[AUTHENTICATIONFAILED\] .*the password for "
                 rb"account nobody@unknown\.example is incorrect\r\n$", line)
        is not None and b"config" not in line,
        "unknown account: tagged NO with the wrong password's reason",
        repr(line))
h.check(usable(c, b"u2"), "session usable after the unknown account")
c.close()

# A revoked access token: the proxy retries once with a new one.
c = proxy()
c.send(b"r1 LOGIN revoked@example.com pw\r\n")
h.check(answer(c, b"r1")[-1].startswith(b"r1 OK"), "account logs in")
c.close()
tokens = [r["form"]["token"] for r in o.requests()
          if r.get("path", "").startswith("/introspect") and
          isinstance(r.get("form"), dict) and "token" in r["form"] and
          o.introspect(r["form"]["token"]).get("username") ==
          "revoked@example.com"]
for t in set(tokens):
    o.revoke(token=t)
h.check(len(tokens) > 0, "found the access token Dovecot saw, revoked it")
refreshes = o.stats()["token"].get("refresh_token", 0)
mark = h.log_mark()
c = proxy()
c.send(b"r2 LOGIN revoked@example.com pw\r\n")
lines = answer(c, b"r2")
h.check(lines[-1].startswith(b"r2 OK"), "revoked token: the retry logs in",
        repr(lines[-1]))
h.check(not any(x.startswith(b"+") or x.startswith(b"r2 NO")
                for x in lines), "the client never sees the challenge nor "
        "the first NO")
h.check(h.wait_log(r"server rejected the token for revoked@example\.com",
                   5, since=mark) is not None, "the retry is logged")
h.check(o.stats()["token"].get("refresh_token", 0) > refreshes,
        "tokend refreshed the token for the retry")
c.close()

# The retry fails too: Dovecot's answer reaches the client.
c = proxy()
c.send(b"k1 LOGIN ccg@example.com pw\r\n")
h.check(answer(c, b"k1")[-1].startswith(b"k1 OK"), "client-credentials "
        "account logs in")
c.close()
o.set(ccg_user="someone-else@example.com")
o.revoke(username="ccg@example.com")
c = proxy()
c.send(b"k2 LOGIN ccg@example.com pw\r\n")
line = answer(c, b"k2")[-1]
h.check(re.match(rb"k2 NO \[AUTHENTICATIONFAILED\] Authentication failed\. "
                 rb"\(server said: \{.*\"status\":\"401\".*\}\)\r\n$", line)
        is not None, "retry refused too: Dovecot's NO with its decoded "
        "reason", repr(line))
h.check(usable(c, b"k3"), "session usable after the refusal")
c.close()
o.set(ccg_user="ccg@example.com")

# The OAuth server is down.
c = proxy()
h.stop_oauth()
c.send(b"d1 LOGIN down@example.com pw\r\n")
line = answer(c, b"d1", 60)[-1]
h.check(re.match(rb"d1 NO \[AUTHENTICATIONFAILED\] \S.*", line) is not None,
        "OAuth server down: tagged NO with a reason", repr(line))
h.check(usable(c, b"d2"), "session usable with the OAuth server down")
c.close()
h.stop_emailproxy()
h.finish()
