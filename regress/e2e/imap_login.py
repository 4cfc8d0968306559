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
"""IMAP logins through emailproxy against a Dovecot that takes only
XOAUTH2: LOGIN with a quoted password holding spaces, \\\\ and \\",
LOGIN with synchronising and non-synchronising literals (one holding
CRLF), AUTHENTICATE PLAIN with SASL-IR and with a continuation; the
capability lines compared byte for byte with what Dovecot says directly;
SELECT/FETCH of a seeded message; LOGIN and SELECT pipelined in one write;
Python's imaplib as an ordinary client.

The accounts use the password grant (the OAuth server takes any password
and issues a token for the user), so the first login with a password
obtains the token and later logins must give the same password.
"""

import imaplib
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness, xoauth2  # noqa: E402

h = Harness("imap_login")
h.start_dovecot()
o = h.oauth

ACCOUNTS = {
    "quoted@example.com": b'p a\\ss"w',
    "literal@example.com": b"se\r\ncret x",
    "plain@example.com": b"pl ain",
    "pipe@example.com": b"pipe",
    "lib@example.com": b"lib pw",
}
MESSAGE = (b"From: Bob <bob@example.com>\r\n"
           b"Subject: seeded\r\n"
           b"Message-ID: <imap-login@example.com>\r\n"
           b"\r\n"
           b"first line\r\n"
           b"last line \xc3\xa9\r\n")


def account_sections():
    common = ("token_url = %s\noauth2_scope = mail\nclient_id = %s\n"
              % (o.token_url, o.client_id))
    if o.client_secret:
        common += "client_secret = %s\n" % o.client_secret
    return "".join("[%s]\noauth2_flow = password\n%s\n" % (a, common)
                   for a in ACCOUNTS)


for a in ACCOUNTS:
    h.seed_message(a, MESSAGE)
h.start_emailproxy(h.standard_config(pop=False, smtp=False,
                                     extra=account_sections()))
port = h.proxy_ports["imap"]
imaps = h.dovecot.ports["imaps"]


def python_rewrite(line):
    """The Python proxy's capability substitutions, as the oracle."""
    cap = r"[!#$&'+-\[^-z|}~]+"
    s = line.decode().rstrip("\r\n")
    s = re.sub(r"( AUTH=%s)+" % cap, " AUTH=PLAIN", s, flags=re.I)
    if not re.search(" AUTH=PLAIN", s, re.I):
        s = re.sub(r"(CAPABILITY)((?: IMAP%s)+|)" % cap, r"\1\2 AUTH=PLAIN",
                   s, count=1, flags=re.I)
    s = s.replace(" AUTH=PLAIN", "", s.count(" AUTH=PLAIN") - 1)
    if not re.search(" SASL-IR", s, re.I):
        s = s.replace(" AUTH=PLAIN", " AUTH=PLAIN SASL-IR")
    s = re.sub(" LOGINDISABLED", "", s, count=1, flags=re.I)
    return s.encode() + b"\r\n"


def proxy():
    c = h.connect(port)
    g = c.readline()
    return c, g


def fetch_first(c, tag=b"f"):
    """SELECT INBOX, FETCH 1 BODY[]: the message bytes (or None)."""
    c.send(tag + b"s SELECT INBOX\r\n")
    lines = c.read_until(tag + rb"s (OK|NO|BAD)")
    if not lines[-1].startswith(tag + b"s OK"):
        return None
    c.send(tag + b" FETCH 1 BODY[]\r\n")
    line = c.readline()
    m = re.match(rb"\* 1 FETCH \(.*BODY\[\] \{(\d+)\}\r\n$", line)
    if not m:
        return None
    body = c.read_exact(int(m.group(1)))
    c.read_until(tag + rb" OK")
    return body


def ok(line, tag):
    return line.startswith(tag + b" OK")


def answer(c, tag, timeout=30):
    """Lines up to the tagged answer; the tagged line last."""
    return c.read_until(tag + rb" (OK|NO|BAD)", timeout=timeout)


def direct_login(user, with_capability):
    """Dovecot's own answer to a login, CAPABILITY asked first or not."""
    d = h.connect(imaps, tls=True, ca=h.ca_file)
    d.readline()
    if with_capability:
        d.send(b"c CAPABILITY\r\n")
        answer(d, b"c")
    xo = xoauth2(user, o.mint(user))
    d.send(b"a1 AUTHENTICATE XOAUTH2 " + (xo if isinstance(xo, bytes) else
                                          xo.encode()) + b"\r\n")
    dl = answer(d, b"a1")
    d.close()
    return dl


# Capability lines, byte for byte against Dovecot itself.
d = h.connect(imaps, tls=True, ca=h.ca_file)
direct_greeting = d.readline()
d.send(b"c CAPABILITY\r\n")
direct_caps = d.read_until(rb"c OK")
d.close()
c, g = proxy()
h.check(g == python_rewrite(direct_greeting), "greeting rewritten byte for "
        "byte", "direct %r, proxied %r" % (direct_greeting, g))
if direct_greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 SASL-IR "
                              b"LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
                              b"LOGINDISABLED AUTH=XOAUTH2 "
                              b"AUTH=OAUTHBEARER]"):
    h.check(g.startswith(b"* OK [CAPABILITY IMAP4rev1 SASL-IR "
                         b"LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
                         b"AUTH=PLAIN] "), "Dovecot's greeting offers "
            "AUTH=PLAIN, no LOGINDISABLED, no XOAUTH2", repr(g))
c.send(b"c CAPABILITY\r\n")
caps = c.read_until(rb"c OK")
h.check(len(caps) == len(direct_caps) and caps[0] ==
        python_rewrite(direct_caps[0]) and caps[1:] == direct_caps[1:],
        "untagged CAPABILITY rewritten byte for byte, tagged line "
        "untouched", "direct %r, proxied %r" % (direct_caps, caps))

# LOGIN, quoted string with spaces, backslash and quote.
c.send(b'a1 LOGIN "quoted@example.com" "p a\\\\ss\\"w"\r\n')
lines = answer(c, b"a1")
line = lines[-1]
h.check(ok(line, b"a1"), "LOGIN with a quoted password (spaces, \\\\, \\\")",
        repr(line))
# Untagged lines before the login's OK are still pre-login (rewritten).
dlines = direct_login("quoted@example.com", True)
h.check(lines[-1] == dlines[-1] and lines[:-1] ==
        [python_rewrite(x) if x.startswith(b"* CAPABILITY ") else x
         for x in dlines[:-1]], "login answer after CAPABILITY as the "
        "Python proxy has it", "direct %r, proxied %r" % (dlines, lines))
h.check(fetch_first(c) == MESSAGE, "SELECT/FETCH returns the seeded "
        "message byte for byte")
c.close()
c, g = proxy()
c.send(b'a1 LOGIN quoted@example.com "p a\\\\ss\\"w"\r\n')
lines = answer(c, b"a1")
line = lines[-1]
h.check(ok(line, b"a1"), "second LOGIN with the same password (atom user)",
        repr(line))
dlines = direct_login("quoted@example.com", False)
h.check(lines == dlines, "tagged OK [CAPABILITY ...] after login passed "
        "through untouched", "direct %r, proxied %r" % (dlines, lines))
c.close()

# LOGIN with synchronising literals, the password holding CRLF.
pw = ACCOUNTS["literal@example.com"]
user = b"literal@example.com"
c, g = proxy()
c.send(b"a2 LOGIN {%d}\r\n" % len(user))
h.check(c.readline() == b"+ \r\n", "continuation for a synchronising "
        "literal")
c.send(user + b" {%d}\r\n" % len(pw))
h.check(c.readline() == b"+ \r\n", "continuation for the second literal")
c.send(pw + b"\r\n")
line = answer(c, b"a2")[-1]
h.check(ok(line, b"a2"), "LOGIN with synchronising literals, CRLF inside "
        "the password", repr(line))
h.check(fetch_first(c) == MESSAGE, "FETCH after a literal LOGIN")
c.close()
# The same with non-synchronising literals, in one write.
c, g = proxy()
c.send(b"a3 LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(user), user, len(pw),
                                                   pw))
line = answer(c, b"a3")[-1]
h.check(ok(line, b"a3"), "LOGIN with non-synchronising literals (no "
        "continuation sent)", repr(line))
c.close()
c, g = proxy()
c.send(b'a4 LOGIN "literal@example.com" {%d}\r\n' % len(pw))
h.check(c.readline() == b"+ \r\n", "quoted user, literal password: "
        "continuation")
c.send(pw + b"\r\n")
line = answer(c, b"a4")[-1]
h.check(ok(line, b"a4"), "quoted user with a literal password", repr(line))
c.close()

# AUTHENTICATE PLAIN with SASL-IR, then with a continuation.
plain = __import__("base64").b64encode(b"\0plain@example.com\0pl ain")
c, g = proxy()
c.send(b"a5 AUTHENTICATE PLAIN " + plain + b"\r\n")
line = answer(c, b"a5")[-1]
h.check(ok(line, b"a5"), "AUTHENTICATE PLAIN with an initial response",
        repr(line))
h.check(fetch_first(c) == MESSAGE, "FETCH after AUTHENTICATE PLAIN")
c.close()
c, g = proxy()
c.send(b"a6 AUTHENTICATE PLAIN\r\n")
h.check(c.readline() == b"+ \r\n", "AUTHENTICATE PLAIN: continuation")
c.send(plain + b"\r\n")
line = answer(c, b"a6")[-1]
h.check(ok(line, b"a6"), "AUTHENTICATE PLAIN with a continuation",
        repr(line))
c.close()
c, g = proxy()
c.send(b"a7 AUTHENTICATE PLAIN\r\n")
c.readline()
c.send(b"*\r\n")
line = c.readline()
h.check(line == b"a7 BAD AUTHENTICATE cancelled\r\n", "\"*\" cancels with "
        "a tagged BAD", repr(line))
c.send(b"a8 NOOP\r\n")
h.check(ok(c.readline(), b"a8"), "session usable after the cancel")
c.close()

# LOGIN and SELECT in one write: both answered.
c, g = proxy()
c.send(b"a LOGIN pipe@example.com pipe\r\nb SELECT INBOX\r\n")
lines = c.read_until(rb"b (OK|NO|BAD)", timeout=30)
h.check(any(ok(x, b"a") for x in lines), "pipelined LOGIN answered",
        repr(lines[:2]))
h.check(ok(lines[-1], b"b"), "pipelined SELECT answered", repr(lines[-1]))
h.check(any(x == b"* 1 EXISTS\r\n" for x in lines), "SELECT saw the "
        "seeded message")
c.close()

# imaplib as an ordinary client.
try:
    m = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    caps_ok = "AUTH=PLAIN" in m.capabilities
    m.login("lib@example.com", "lib pw")
    m.select("INBOX")
    typ, data = m.fetch("1", "(BODY[])")
    got = data[0][1] if typ == "OK" else None
    m.logout()
    h.check(caps_ok, "imaplib sees AUTH=PLAIN")
    h.check(got == MESSAGE, "imaplib LOGIN, SELECT, FETCH")
except (imaplib.IMAP4.error, OSError) as e:
    h.check(False, "imaplib LOGIN, SELECT, FETCH", repr(e))

# Never a password or token in the log, even at -vv.
log = h.log_text()
leaked = [a for a, p in ACCOUNTS.items() if p.decode() in log and
          len(p) > 4]
h.check(not leaked, "no password in the -vv log", repr(leaked))
tokens = set()
for r in o.requests():
    t = (r.get("form") or {}).get("token") or (r.get("query") or {}).get(
        "token")
    if isinstance(t, str) and len(t) > 8:
        tokens.add(t)
h.check(tokens and not [t for t in tokens if t in log], "no access token "
        "in the -vv log (%d checked)" % len(tokens))
h.check("Credentials removed from proxy log" in log, "-vv trace censors "
        "the login lines")
h.check(re.search(r"session \d+: 127\.0\.0\.1:\d+ logged in as "
                  r"quoted@example\.com", log) is not None,
        "login logged with the client address and account")
h.check(re.search(r"session \d+: end: client 127\.0\.0\.1:\d+, server "
                  r"IMAP-\d+, account quoted@example\.com, \d+ bytes from "
                  r"client, \d+ bytes to client, \d+ s", log) is not None,
        "session end logged with account, bytes and duration")
h.stop_emailproxy()
h.finish()
