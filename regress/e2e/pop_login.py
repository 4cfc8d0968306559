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
"""POP3 through emailproxy to Dovecot's pop3s.

- The greeting passes through; CAPA is rewritten byte for byte (SASL
  PLAIN, USER); a bare AUTH is answered locally.
- USER/PASS, AUTH PLAIN inline and with a continuation, "*" cancel.
- LIST and RETR of a seeded message are byte-exact (compared with the
  same commands sent straight to Dovecot).
- A local failure (wrong password, unknown account) is an -ERR with a
  readable reason and the session stays usable.
- Pipelined commands get their answers in order; what follows the login
  is relayed.
- A token Dovecot no longer accepts is replaced once, unseen.
- The -vv log never shows a password or a SASL string.
"""

import base64
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness, xoauth2  # noqa: E402

USER = "ccg@example.com"
PW = "Pop-Secret-1"
MESSAGE = (b"From: Bob <bob@example.com>\r\n"
           b"To: ccg@example.com\r\n"
           b"Subject: seeded for POP\r\n"
           b"\r\n"
           b"first line\r\n"
           b".a line that starts with a dot\r\n"
           b"AUTH PLAIN AGEAYg==\r\n"
           b"\r\n"
           b"last line \xc3\xa9\r\n")

h = Harness("pop_login")
h.start_dovecot()
o = h.oauth
h.seed_message(USER, MESSAGE)
h.seed_message("revoked@example.com", b"Subject: x\r\n\r\nx\r\n")
common = ("token_url = %s\noauth2_scope = mail\nclient_id = %s\n"
          % (o.token_url, o.client_id))
if o.client_secret:
    common += "client_secret = %s\n" % o.client_secret
extra = "[revoked@example.com]\noauth2_flow = password\n%s\n" % common
h.start_emailproxy(h.standard_config(
    imap=False, smtp=False, extra=extra,
    extra_globals="delete_account_token_on_password_error = False"))
port = h.proxy_ports["pop"]


def multiline(c):
    """Raw lines of a multi-line answer, status line and "." included."""
    lines = [c.readline()]
    if lines[0].startswith(b"+OK"):
        lines += c.read_until(rb"\.\r\n$")
    return lines


def plain(user, pw):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode())


def expected_capa(lines):
    """The proxy's rewrite of a CAPA answer (no local STARTTLS)."""
    out = [lines[0]]
    sasl = user = False
    for x in lines[1:-1]:
        if x.lower().startswith(b"sasl"):
            if not sasl:
                out.append(b"SASL PLAIN\r\n")
            sasl = True
        elif x.lower() == b"user\r\n":
            if not user:
                out.append(x)
            user = True
        elif x.lower() == b"stls\r\n" or x.lower().startswith(b"stls "):
            pass
        else:
            out.append(x)
    if not sasl:
        out.append(b"SASL PLAIN\r\n")
    if not user:
        out.append(b"USER\r\n")
    return out + [b".\r\n"]


def proxy():
    c = h.connect(port)
    return c, c.readline()


def usable(c):
    c.send(b"NOOP\r\n")
    try:
        return c.readline().startswith(b"-ERR")    # not logged in yet
    except Exception:  # noqa: BLE001
        return False


# ---- Dovecot straight, for reference -------------------------------------
d = h.connect(h.dovecot.ports["pop3s"], tls=True)
dgreet = d.readline()
d.send(b"CAPA\r\n")
dcapa = multiline(d)
d.send(b"AUTH XOAUTH2 " + xoauth2(USER, o.mint(USER)) + b"\r\n")
h.check(d.readline().startswith(b"+OK"), "reference: Dovecot login")
d.send(b"LIST\r\n")
dlist = b"".join(multiline(d))
d.send(b"RETR 1\r\n")
dretr = b"".join(multiline(d))
d.send(b"QUIT\r\n")
d.close()
h.check(b"\r\n..a line" in dretr,
        "reference: RETR is dot-stuffed", dretr[:200])

# ---- USER/PASS, CAPA, LIST, RETR ------------------------------------------
c, greet = proxy()
h.check(greet == dgreet, "greeting passes through unchanged", greet)
c.send(b"CAPA\r\n")
capa = multiline(c)
h.check(capa == expected_capa(dcapa), "CAPA rewritten byte for byte",
        "%r from %r" % (capa, dcapa))
c.send(b"AUTH\r\n")
h.check(multiline(c) == [b"+OK\r\n", b"PLAIN\r\n", b".\r\n"],
        "bare AUTH answered locally")
c.send(b"USER %s\r\n" % USER.encode())
h.check(c.readline() == b"+OK\r\n", "USER answered +OK")
c.send(b"PASS %s\r\n" % PW.encode())
line = c.readline(timeout=30)
h.check(line.startswith(b"+OK"), "USER/PASS logs in", line)
c.send(b"STAT\r\n")
stat = c.readline()
h.check(stat.startswith(b"+OK 1 %d" % len(MESSAGE)),
        "STAT shows the seeded message", stat)
c.send(b"LIST\r\n")
h.check(b"".join(multiline(c)) == dlist, "LIST byte-exact", dlist)
c.send(b"RETR 1\r\n")
retr = b"".join(multiline(c))
h.check(retr == dretr, "RETR byte-exact (dot-stuffing included)",
        retr[:200])
c.send(b"QUIT\r\n")
h.check(c.readline().startswith(b"+OK"), "QUIT")
c.close()

# ---- AUTH PLAIN -------------------------------------------------------------
c, _ = proxy()
c.send(b"AUTH PLAIN " + plain(USER, PW) + b"\r\n")
line = c.readline(timeout=30)
c.send(b"STAT\r\n")
stat = c.readline()
h.check(line.startswith(b"+OK") and stat.startswith(b"+OK 1 "),
        "AUTH PLAIN with an initial response logs in", line + stat)
c.close()

c, _ = proxy()
c.send(b"AUTH PLAIN\r\n")
cont = c.readline()
h.check(cont == b"+ \r\n", "AUTH PLAIN continuation prompt", cont)
c.send(plain(USER, PW) + b"\r\n")
line = c.readline(timeout=30)
h.check(line.startswith(b"+OK"), "AUTH PLAIN via the continuation logs in",
        line)
c.close()

# ---- cancel, local failures, then a login on the same session ------------
c, _ = proxy()
c.send(b"AUTH PLAIN\r\n")
c.readline()
c.send(b"*\r\n")
h.check(c.readline() == b"-ERR\r\n", "* cancels AUTH PLAIN")
c.send(b"USER %s\r\nPASS wrong-password\r\n" % USER.encode())
c.readline()
line = c.readline(timeout=30)
h.check(re.match(rb"-ERR Authentication failed\. \S.*incorrect\r\n$", line)
        is not None,
        "wrong password: -ERR Authentication failed. <reason>", line)
c.send(b"USER nobody@unknown.example\r\nPASS pw\r\n")
c.readline()
line = c.readline(timeout=30)
h.check(re.match(rb"-ERR Authentication failed\. \S.*"
                 rb"the password for account nobody@unknown\.example "
                 rb"is incorrect\r\n$", line) is not None,
        "unknown account: -ERR with the wrong password's reason", line)
h.check(usable(c), "session usable after local failures")
c.send(b"USER %s\r\nPASS %s\r\n" % (USER.encode(), PW.encode()))
c.readline()
line = c.readline(timeout=30)
c.send(b"STAT\r\n")
stat = c.readline()
h.check(line.startswith(b"+OK") and stat.startswith(b"+OK 1 "),
        "login after the failures, same session", line + stat)
c.close()

c, _ = proxy()
c.send(b"USER %s\r\nQUIT\r\n" % USER.encode())
h.check(c.readline() == b"+OK\r\n" and c.readline() == b"+OK Bye\r\n" and
        c.closed_by_peer(5), "non-PASS after USER: +OK Bye and close")
c.close()

# ---- pipelining ------------------------------------------------------------
c, _ = proxy()
c.send(b"CAPA\r\nUSER %s\r\nPASS %s\r\nSTAT\r\nLIST\r\n"
       % (USER.encode(), PW.encode()))
capa = multiline(c)
r1 = c.readline()
r2 = c.readline(timeout=30)
r3 = c.readline()
lst = b"".join(multiline(c))
h.check(capa == expected_capa(dcapa) and r1 == b"+OK\r\n" and
        r2.startswith(b"+OK") and r3.startswith(b"+OK 1 ") and lst == dlist,
        "pipelined CAPA, USER, PASS, STAT, LIST: answers in order, "
        "commands after the login relayed", [capa, r1, r2, r3, lst])
c.close()

# ---- a token Dovecot no longer accepts (one retry) ------------------------
c, _ = proxy()
c.send(b"USER revoked@example.com\r\nPASS pw\r\n")
c.readline()
h.check(c.readline(timeout=30).startswith(b"+OK"), "second account logs in")
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
c, _ = proxy()
c.send(b"USER revoked@example.com\r\nPASS pw\r\n")
c.readline()
line = c.readline(timeout=30)
h.check(line.startswith(b"+OK"), "revoked token: the retry logs in", line)
c.send(b"STAT\r\n")
h.check(c.readline().startswith(b"+OK"), "mailbox usable after the retry")
h.check(h.wait_log(r"server rejected the token for revoked@example\.com",
                   5, since=mark) is not None, "the retry is logged")
c.close()

# ---- the trace -------------------------------------------------------------
log = h.log_text()
h.check("[[ Credentials removed from proxy log ]]" in log,
        "the -vv trace shows the censor mark")
leaks = [s for s in (PW, "wrong-password", plain(USER, PW).decode())
         if s in log]
h.check(not leaks, "no password or PLAIN response in the log", leaks)
h.check(re.search(r"dXNlcj1[A-Za-z0-9+/=]{20,}", log) is None,
        "no XOAUTH2 string in the log")
h.finish()
