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
"""SMTP through emailproxy to Dovecot's submission service, which the
proxy reaches with STARTTLS.

- The greeting passes through; the EHLO reply is rewritten byte for byte
  (AUTH PLAIN LOGIN, no STARTTLS) from what Dovecot says after TLS.
- AUTH PLAIN (inline and continuation) and AUTH LOGIN (username inline
  or not) log in; "*" cancels.
- A message sent with smtplib reaches the sink byte for byte, including
  body lines that start with "AUTH PLAIN" and "EHLO".
- A local failure is "535 5.7.8  Authentication credentials invalid.
  <reason>" and the session stays usable.
- A token Dovecot no longer accepts is replaced once, unseen.
- Dovecot saw the logins over TLS; the -vv log shows no credential.
"""

import base64
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

USER = "ccg@example.com"
PW = "Smtp-Secret-1"
MESSAGE = (b"From: ccg@example.com\r\n"
           b"To: carol@example.net\r\n"
           b"Subject: through the proxy\r\n"
           b"Message-ID: <smtp-1@example.com>\r\n"
           b"\r\n"
           b"AUTH PLAIN AGNjZ0BleGFtcGxlLmNvbQBTbXRwLVNlY3JldC0x\r\n"
           b"EHLO evil.example\r\n"
           b"STARTTLS\r\n"
           b".a line that starts with a dot\r\n"
           b"\r\n"
           b"last line \xc3\xa9\r\n")

h = Harness("smtp_login")
h.start_dovecot()
o = h.oauth
common = ("token_url = %s\noauth2_scope = mail\nclient_id = %s\n"
          % (o.token_url, o.client_id))
if o.client_secret:
    common += "client_secret = %s\n" % o.client_secret
extra = "[revoked@example.com]\noauth2_flow = password\n%s\n" % common
h.start_emailproxy(h.standard_config(
    imap=False, pop=False, extra=extra,
    extra_globals="delete_account_token_on_password_error = False"))
port = h.proxy_ports["smtp"]


def reply(c, timeout=None):
    return c.read_until(rb"\d{3}( |\r\n)", timeout=timeout)


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s)


def plain(user, pw):
    return b64(b"\0" + user.encode() + b"\0" + pw.encode())


def expected_ehlo(lines):
    """The proxy's rewrite of a 250 EHLO reply (no local STARTTLS)."""
    texts, auth = [], False
    for x in lines:
        t = x[4:-2]
        if t.upper() == b"STARTTLS":
            continue
        if re.match(rb"(?i)AUTH ", t):
            if auth:
                continue
            t, auth = b"AUTH PLAIN LOGIN", True
        texts.append(t)
    if not auth:
        texts.append(b"AUTH PLAIN LOGIN")
    return [b"250%s%s\r\n" % (b" " if i == len(texts) - 1 else b"-", t)
            for i, t in enumerate(texts)]


def proxy():
    c = h.connect(port)
    g = c.readline()
    c.send(b"EHLO client.example\r\n")
    return c, g, reply(c, 30)


def logged_in(c, what):
    line = reply(c, 30)[-1]
    ok = line.startswith(b"235")
    if ok:
        c.send(b"NOOP\r\n")
        ok = reply(c)[-1].startswith(b"250")
    return h.check(ok, what, line)


# ---- Dovecot straight, for reference -------------------------------------
d = h.connect(h.dovecot.ports["submission"])
dgreet = d.readline()
d.send(b"EHLO client.example\r\n")
reply(d)
d.send(b"STARTTLS\r\n")
reply(d)
d.starttls(h.client_ctx())
d.send(b"EHLO client.example\r\n")
dehlo = reply(d)
d.close()

# ---- greeting, EHLO, the four login forms --------------------------------
c, greet, ehlo = proxy()
h.check(greet == dgreet, "greeting passes through unchanged", greet)
h.check(ehlo == expected_ehlo(dehlo), "EHLO reply rewritten byte for byte",
        "%r from %r" % (ehlo, dehlo))
c.send(b"AUTH PLAIN " + plain(USER, PW) + b"\r\n")
logged_in(c, "AUTH PLAIN with an initial response logs in")
c.close()

c, _, _ = proxy()
c.send(b"AUTH PLAIN\r\n")
h.check(c.readline() == b"334 \r\n", "AUTH PLAIN continuation: 334")
c.send(plain(USER, PW) + b"\r\n")
logged_in(c, "AUTH PLAIN via the continuation logs in")
c.close()

c, _, _ = proxy()
c.send(b"AUTH LOGIN\r\n")
p1 = c.readline()
c.send(b64(USER) + b"\r\n")
p2 = c.readline()
h.check(p1 == b"334 VXNlcm5hbWU6\r\n" and p2 == b"334 UGFzc3dvcmQ6\r\n",
        "AUTH LOGIN prompts", p1 + p2)
c.send(b64(PW) + b"\r\n")
logged_in(c, "AUTH LOGIN with two prompts logs in")
c.close()

c, _, _ = proxy()
c.send(b"AUTH LOGIN " + b64(USER) + b"\r\n")
h.check(c.readline() == b"334 UGFzc3dvcmQ6\r\n",
        "AUTH LOGIN with the username inline: password prompt")
c.send(b64(PW) + b"\r\n")
logged_in(c, "AUTH LOGIN with the username inline logs in")
c.close()

# ---- cancel and local failures, then a login on the same session -----------
c, _, _ = proxy()
c.send(b"AUTH LOGIN\r\n")
c.readline()
c.send(b"*\r\n")
line = c.readline()
h.check(line.startswith(b"501 "), "* cancels AUTH LOGIN", line)
c.send(b"AUTH PLAIN " + plain(USER, "wrong-password") + b"\r\n")
line = reply(c, 30)[-1]
h.check(re.match(rb"535 5\.7\.8  Authentication credentials invalid\. "
                 rb"\S.*incorrect\r\n$", line) is not None,
        "wrong password: 535 5.7.8 with two spaces and the reason", line)
c.send(b"AUTH PLAIN " + plain("nobody@unknown.example", "pw") + b"\r\n")
line = reply(c, 30)[-1]
h.check(re.match(rb"535 5\.7\.8  Authentication credentials invalid\. "
                 rb"\S.*the password for account nobody@unknown\.example "
                 rb"is incorrect\r\n$", line) is not None,
        "unknown account: 535 with the wrong password's reason", line)
c.send(b"AUTH PLAIN " + plain(USER, "") + b"\r\n")
line = reply(c)[-1]
h.check(line == b"535 5.7.8  Authentication credentials invalid.\r\n",
        "empty password: 535 without a reason", line)
c.send(b"AUTH PLAIN " + plain(USER, PW) + b"\r\n")
logged_in(c, "login after the failures, same session")
c.close()

# ---- a message with smtplib ------------------------------------------------
h.sink.clear()
ok = True
try:
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example",
                     timeout=30)
    s.ehlo()
    h.check(s.has_extn("auth") and s.esmtp_features["auth"].strip() ==
            "PLAIN LOGIN" and not s.has_extn("starttls"),
            "smtplib sees AUTH PLAIN LOGIN and no STARTTLS",
            s.esmtp_features)
    s.login(USER, PW)
    s.sendmail(USER, ["carol@example.net"], MESSAGE)
    s.quit()
except (smtplib.SMTPException, OSError) as e:
    ok = False
    h.info("smtplib: %r" % e)
h.check(ok, "smtplib logs in and sends")
msgs = h.sink.wait_messages(1)
env, data = msgs[0] if msgs else ({}, b"")
h.check(env.get("mail_from") == USER and
        env.get("rcpt_to") == ["carol@example.net"],
        "the envelope arrives at the sink", env)
h.check(h.sink.strip_received(data) == MESSAGE,
        "the message arrives byte for byte, AUTH PLAIN and EHLO body "
        "lines included", data[:300])

# ---- a token Dovecot no longer accepts (one retry) ------------------------
c, _, _ = proxy()
c.send(b"AUTH PLAIN " + plain("revoked@example.com", "pw") + b"\r\n")
logged_in(c, "second account logs in")
c.close()
tokens = [r["form"]["token"] for r in o.requests()
          if r.get("path", "").startswith("/introspect") and
          isinstance(r.get("form"), dict) and "token" in r["form"] and
          o.introspect(r["form"]["token"]).get("username") ==
          "revoked@example.com"]
for t in set(tokens):
    o.revoke(token=t)
h.check(len(tokens) > 0, "found the access token Dovecot saw, revoked it")
mark = h.log_mark()
c, _, _ = proxy()
c.send(b"AUTH PLAIN " + plain("revoked@example.com", "pw") + b"\r\n")
lines = reply(c, 30)
h.check(lines[-1].startswith(b"235") and len(lines) == 1,
        "revoked token: the retry logs in, the client sees only 235", lines)
h.check(h.wait_log(r"server rejected the token for revoked@example\.com",
                   5, since=mark) is not None, "the retry is logged")
c.close()

# ---- TLS upstream and the trace --------------------------------------------
logins = [x for x in h.dovecot.log_text().splitlines()
          if "submission-login" in x and "Login: user=<" in x]
h.check(logins and all(re.search(r"\bTLS\b", x) for x in logins),
        "Dovecot saw every login over TLS (server_starttls)", logins[-3:])
log = h.log_text()
h.check("[[ Credentials removed from proxy log ]]" in log,
        "the -vv trace shows the censor mark")
leaks = [x for x in (PW, "wrong-password", plain(USER, PW).decode(),
                     b64(PW).decode()) if x in log]
h.check(not leaks, "no password or SASL response in the log", leaks)
h.check(re.search(r"dXNlcj1[A-Za-z0-9+/=]{20,}", log) is None,
        "no XOAUTH2 string in the log")
h.finish()
