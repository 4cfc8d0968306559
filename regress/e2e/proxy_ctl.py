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
"""The proxy's control answers and its audit lines.

- `emailproxyctl show sessions -j` lists an open IMAP session (protocol,
  listener, client, account, bytes) and the daemon survives it;
  `show stats -j` has the proxy's counters, which move with logins.
- One audit line per login attempt, for IMAP, POP and SMTP: ok,
  bad-password, unknown-account, upstream-rejected (a revoked grant the
  server refuses twice is not that: tokend gets a new token; here an
  account whose tokens Dovecot cannot match), with the bare client
  address and the listener.
"""

import base64
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

h = Harness("proxy_ctl")
h.start_dovecot()
o = h.oauth
USER = "ccg@example.com"
PW = "Ctl-Secret-1"
h.seed_message(USER, b"Subject: ctl\r\n\r\nbody\r\n")
# An account whose tokens name another mailbox: Dovecot refuses them.
WRONG = "wrong@example.com"
extra = ("[%s]\noauth2_flow = client_credentials\ntoken_url = %s\n"
         "oauth2_scope = mail\nclient_id = %s\n%s"
         % (WRONG, o.token_url, o.client_id,
            "client_secret = %s\n" % o.client_secret
            if o.client_secret else ""))
h.start_emailproxy(h.standard_config(extra=extra))
ports = h.proxy_ports
SOCK = h.path("ctl.sock")


def ctl_json(*args):
    out = h.emailproxyctl("-j", "-s", SOCK, *args)
    text = (out.stdout or b"").decode()
    try:
        return out.returncode, json.loads(text)
    except ValueError:
        return out.returncode, (text + (out.stderr or b"").decode())


def audit(since, result, proto, account):
    return h.wait_log(r"audit: result=%s proto=%s listener=\S+ "
                      r"client=127\.0\.0\.1 account=%s$"
                      % (re.escape(result), proto, re.escape(account)),
                      since=since)


def imap_login(c, user, pw, tag=b"a"):
    c.send(b'%s LOGIN "%s" "%s"\r\n' % (tag, user.encode(), pw.encode()))
    return c.read_until(rb"^%s (OK|NO|BAD)[^\r]*\r\n" % tag, timeout=30)


# ---- show sessions / stats --------------------------------------------
rc, before = ctl_json("show", "stats")
h.check(rc == 0 and isinstance(before, dict) and
        "proxy_sessions_total" in before,
        "show stats -j answers with the proxy's counters", before)

mark = h.log_mark()
c = h.connect(ports["imap"])
c.readline()
r = imap_login(c, USER, PW)
h.check(r[-1].startswith(b"a OK"), "IMAP login", r)
h.check(audit(mark, "ok", "IMAP", USER) is not None,
        "audit line: result=ok proto=IMAP client=127.0.0.1", "")

rc, sess = ctl_json("show", "sessions")
mine = [x for x in sess if isinstance(x, dict) and
        x.get("account") == USER] if isinstance(sess, list) else []
h.check(rc == 0 and len(mine) == 1, "show sessions -j lists the session",
        sess)
if mine:
    m = mine[0]
    h.check(m.get("protocol") == "IMAP" and
            m.get("listener") == "IMAP-%d" % ports["imap"] and
            str(m.get("client", "")).startswith("127.0.0.1:") and
            isinstance(m.get("id"), int) and m.get("age", -1) >= 0 and
            m.get("bytes_in", 0) > 0 and m.get("bytes_out", 0) > 0,
            "the session's fields", m)
out = h.emailproxyctl("-s", SOCK, "show", "sessions")
text = (out.stdout or b"").decode()
h.check(out.returncode == 0 and USER in text and "IMAP" in text,
        "show sessions (table) shows it", text)
h.check(h.proxy.alive(), "the daemon is still running")
c.send(b"b NOOP\r\n")
r = c.read_until(rb"^b (OK|NO|BAD)[^\r]*\r\n")
h.check(r[-1].startswith(b"b OK"), "the session still works", r)

# A wrong password for the same account, an unknown account.
mark = h.log_mark()
c2 = h.connect(ports["imap"])
c2.readline()
r = imap_login(c2, USER, "not the password")
h.check(r[-1].startswith(b"a NO"), "wrong password refused", r)
h.check(audit(mark, "bad-password", "IMAP", USER) is not None,
        "audit line: result=bad-password", "")
r = imap_login(c2, "nobody@nowhere.example", "x", tag=b"b")
h.check(audit(mark, "unknown-account", "IMAP",
              "nobody@nowhere.example") is not None,
        "audit line: result=unknown-account", r)
r = imap_login(c2, WRONG, "pw", tag=b"c")
h.check(r[-1].startswith(b"c NO"), "upstream refuses the token", r)
h.check(audit(mark, "upstream-rejected", "IMAP", WRONG) is not None,
        "audit line: result=upstream-rejected (after the retry)", "")
c2.close()

# ---- POP and SMTP -----------------------------------------------------
mark = h.log_mark()
p = h.connect(ports["pop"])
p.readline()
p.send(b"USER %s\r\nPASS %s\r\n" % (USER.encode(), PW.encode()))
p.readline()
r = p.readline(timeout=30)
h.check(r.startswith(b"+OK"), "POP login", r)
h.check(audit(mark, "ok", "POP", USER) is not None,
        "audit line: result=ok proto=POP", "")
p.close()

s = h.connect(ports["smtp"])
s.read_until(rb"^220 [^\r]*\r\n")
s.send(b"EHLO client.example\r\n")
s.read_until(rb"^250 [^\r]*\r\n")
s.send(b"AUTH PLAIN " + base64.b64encode(b"\0" + USER.encode() +
                                         b"\0wrong") + b"\r\n")
r = s.read_until(rb"^\d{3} [^\r]*\r\n", timeout=30)
h.check(r[-1].startswith(b"535"), "SMTP wrong password", r)
h.check(audit(mark, "bad-password", "SMTP", USER) is not None,
        "audit line: result=bad-password proto=SMTP", "")
s.send(b"AUTH PLAIN " + base64.b64encode(b"\0" + USER.encode() + b"\0" +
                                         PW.encode()) + b"\r\n")
r = s.read_until(rb"^\d{3} [^\r]*\r\n", timeout=30)
h.check(r[-1].startswith(b"235"), "SMTP login", r)
h.check(audit(mark, "ok", "SMTP", USER) is not None,
        "audit line: result=ok proto=SMTP", "")
s.close()

rc, after = ctl_json("show", "stats")
if isinstance(after, dict) and isinstance(before, dict):
    # The counters; lists (per listener, per server) are left out.
    d = {k: v - before.get(k, 0) for k, v in after.items()
         if isinstance(v, int) and isinstance(before.get(k, 0), int)}
    h.check(rc == 0 and d.get("proxy_logins_ok_total") == 3 and
            d.get("proxy_logins_failed_total") == 4 and
            d.get("proxy_sessions_total") == 4 and
            after.get("proxy_sessions_open", 0) >= 1 and
            d.get("proxy_bytes_from_clients_total", 0) > 0 and
            d.get("proxy_bytes_to_clients_total", 0) > 0,
            "stats count the logins, sessions and bytes", d)
else:
    h.check(False, "show stats -j after the logins", after)
c.close()
h.check(h.proxy.alive(), "the daemon survived every control request")
log = h.log_text()
h.check(PW not in log, "no password in the log", "")
h.finish()
