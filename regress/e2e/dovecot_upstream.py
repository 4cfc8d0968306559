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
"""The test upstream is what the protocol tests assume, without emailproxy.

The harness's Dovecot must accept only XOAUTH2/OAUTHBEARER with a token
the OAuth server's introspection calls active, refuse plain logins and
revoked tokens (with the `+ <base64 JSON>` challenge), serve a seeded
message byte for byte over IMAP and POP3, and relay submitted mail to the
SMTP sink byte for byte.
"""

import base64
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness, xoauth2, oauthbearer  # noqa: E402

USER = "alice@example.com"
OTHER = "bob@example.com"
MESSAGE = (b"From: Bob <bob@example.com>\r\n"
           b"To: Alice <alice@example.com>\r\n"
           b"Subject: seeded\r\n"
           b"Message-ID: <seed-1@example.com>\r\n"
           b"\r\n"
           b"first line\r\n"
           b".a line that starts with a dot\r\n"
           b"\r\n"
           b"last line \xc3\xa9\r\n")

h = Harness("dovecot_upstream")
h.start_dovecot()
h.seed_message(USER, MESSAGE)
oauth = h.oauth
ports = h.dovecot.ports


def challenge_json(line, prefix):
    """Decode the base64 JSON of a '+ ...' / '334 ...' challenge."""
    if not line.startswith(prefix):
        return None
    try:
        return json.loads(base64.b64decode(line[len(prefix):].strip()))
    except ValueError:
        return None


def imap_cmd(c, tag, cmd):
    c.send(b"%s %s\r\n" % (tag, cmd))
    return c.read_until(rb"%s " % re.escape(tag))


# ---- IMAP ----------------------------------------------------------------

def imap_tests():
    token = oauth.mint(USER)
    c = h.connect(ports["imaps"], tls=True)
    greet = c.readline()
    h.check(greet.startswith(b"* OK"), "imaps: greeting", greet)
    caps = imap_cmd(c, b"c1", b"CAPABILITY")
    capline = b"".join(caps)
    h.check(b"AUTH=XOAUTH2" in capline and b"AUTH=OAUTHBEARER" in capline,
            "imaps: advertises AUTH=XOAUTH2 and AUTH=OAUTHBEARER", capline)
    h.check(b"AUTH=PLAIN" not in capline and b"AUTH=LOGIN" not in capline,
            "imaps: advertises no plain mechanism", capline)
    h.check(b"SASL-IR" in capline, "imaps: advertises SASL-IR", capline)

    r = imap_cmd(c, b"l1", b'LOGIN "%s" "secret"' % USER.encode())
    h.check(r[-1].startswith(b"l1 NO") or r[-1].startswith(b"l1 BAD"),
            "imaps: plain LOGIN refused", r[-1])
    r = imap_cmd(c, b"p1", b"AUTHENTICATE PLAIN " + base64.b64encode(
        b"\0" + USER.encode() + b"\0secret"))
    h.check(r[-1].startswith(b"p1 NO") or r[-1].startswith(b"p1 BAD"),
            "imaps: AUTHENTICATE PLAIN refused", r[-1])

    r = imap_cmd(c, b"a1", b"AUTHENTICATE XOAUTH2 " + xoauth2(USER, token))
    h.check(r[-1].startswith(b"a1 OK"),
            "imaps: AUTHENTICATE XOAUTH2 with a live token", r[-1])
    r = imap_cmd(c, b"s1", b"SELECT INBOX")
    h.check(b"* 1 EXISTS\r\n" in r and r[-1].startswith(b"s1 OK"),
            "imaps: SELECT INBOX shows the seeded message", r)
    c.send(b"f1 FETCH 1 BODY.PEEK[]\r\n")
    head = c.readline()
    m = re.match(rb"\* 1 FETCH \(BODY\[\] \{(\d+)\}\r\n$", head)
    body = c.read_exact(int(m.group(1))) if m else b""
    rest = c.read_until(rb"f1 ")
    h.check(m is not None and body == MESSAGE and
            rest[-1].startswith(b"f1 OK"),
            "imaps: FETCH BODY[] returns the seeded bytes exactly",
            "%r %r %r" % (head, body[:80], rest[-1:]))
    imap_cmd(c, b"z1", b"LOGOUT")
    c.close()

    # OAUTHBEARER, answering the continuation instead of SASL-IR
    c = h.connect(ports["imaps"], tls=True)
    c.readline()
    c.send(b"a2 AUTHENTICATE OAUTHBEARER\r\n")
    cont = c.readline()
    c.send(oauthbearer(USER, token) + b"\r\n")
    r = c.read_until(rb"a2 ")
    h.check(cont.startswith(b"+") and r[-1].startswith(b"a2 OK"),
            "imaps: AUTHENTICATE OAUTHBEARER via continuation", r[-1])
    c.close()

    # A token of another user does not open this mailbox.
    other = oauth.mint(OTHER)
    c = h.connect(ports["imaps"], tls=True)
    c.readline()
    c.send(b"a3 AUTHENTICATE XOAUTH2 " + xoauth2(USER, other) + b"\r\n")
    line = c.readline()
    if line.startswith(b"+"):
        c.send(b"\r\n")
        line = c.read_until(rb"a3 ")[-1]
    h.check(line.startswith(b"a3 NO"),
            "imaps: token of another user refused", line)
    c.close()

    # Revoked token: challenge with base64 JSON, then tagged NO.
    revoked = oauth.mint(USER)
    oauth.revoke(token=revoked)
    h.check(oauth.introspect(revoked).get("active") is False,
            "oauth: revoked token introspects inactive")
    c = h.connect(ports["imaps"], tls=True)
    c.readline()
    c.send(b"a4 AUTHENTICATE XOAUTH2 " + xoauth2(USER, revoked) + b"\r\n")
    line = c.readline()
    js = challenge_json(line, b"+ ")
    h.check(js is not None and str(js.get("status")) == "401",
            "imaps: revoked token gets a '+ <base64 JSON>' challenge",
            "%r -> %r" % (line, js))
    c.send(b"\r\n")
    r = c.read_until(rb"a4 ")
    h.check(r[-1].startswith(b"a4 NO"),
            "imaps: revoked token then tagged NO", r[-1])
    # The connection stays usable after a failed login.
    r = imap_cmd(c, b"a5", b"AUTHENTICATE XOAUTH2 " + xoauth2(USER, token))
    h.check(r[-1].startswith(b"a5 OK"),
            "imaps: live token after a failure on the same connection",
            r[-1])
    c.close()

    # Plain port: STARTTLS, then XOAUTH2.
    c = h.connect(ports["imap"])
    c.readline()
    caps = b"".join(imap_cmd(c, b"c1", b"CAPABILITY"))
    h.check(b"STARTTLS" in caps, "imap: plain port advertises STARTTLS",
            caps)
    r = imap_cmd(c, b"t1", b"STARTTLS")
    ok = r[-1].startswith(b"t1 OK")
    if ok:
        c.starttls(h.client_ctx())
        r = imap_cmd(c, b"a1", b"AUTHENTICATE XOAUTH2 " +
                     xoauth2(USER, token))
    h.check(ok and r[-1].startswith(b"a1 OK"),
            "imap: STARTTLS then AUTHENTICATE XOAUTH2", r[-1])
    c.close()


# ---- POP3 ----------------------------------------------------------------

def pop_multiline(c):
    """Read a POP3 multi-line body; returns it dot-unstuffed."""
    out = []
    while True:
        line = c.readline()
        if line == b".\r\n":
            return b"".join(out)
        if line.startswith(b"."):
            line = line[1:]
        out.append(line)


def pop_tests():
    token = oauth.mint(USER)
    c = h.connect(ports["pop3s"], tls=True)
    greet = c.readline()
    h.check(greet.startswith(b"+OK"), "pop3s: greeting", greet)
    c.send(b"CAPA\r\n")
    first = c.readline()
    capa = pop_multiline(c) if first.startswith(b"+OK") else b""
    h.check(re.search(rb"(?m)^SASL .*XOAUTH2", capa) is not None and
            re.search(rb"(?m)^SASL .*PLAIN", capa) is None,
            "pop3s: CAPA lists SASL XOAUTH2 and no PLAIN", capa)
    c.send(b"USER %s\r\n" % USER.encode())
    u = c.readline()
    p = b""
    if u.startswith(b"+OK"):
        c.send(b"PASS secret\r\n")
        p = c.readline()
    h.check(u.startswith(b"-ERR") or p.startswith(b"-ERR"),
            "pop3s: USER/PASS refused", u + p)
    c.send(b"AUTH XOAUTH2 " + xoauth2(USER, token) + b"\r\n")
    line = c.readline()
    h.check(line.startswith(b"+OK"), "pop3s: AUTH XOAUTH2 with a live token",
            line)
    c.send(b"STAT\r\n")
    stat = c.readline()
    h.check(stat.startswith(b"+OK 1 %d" % len(MESSAGE)),
            "pop3s: STAT shows the seeded message", stat)
    c.send(b"RETR 1\r\n")
    line = c.readline()
    body = pop_multiline(c) if line.startswith(b"+OK") else b""
    h.check(body == MESSAGE, "pop3s: RETR returns the seeded bytes exactly",
            body[:80])
    c.send(b"QUIT\r\n")
    c.readline()
    c.close()

    revoked = oauth.mint(USER)
    oauth.revoke(token=revoked)
    c = h.connect(ports["pop3s"], tls=True)
    c.readline()
    c.send(b"AUTH XOAUTH2 " + xoauth2(USER, revoked) + b"\r\n")
    line = c.readline()
    js = challenge_json(line, b"+ ")
    h.check(js is not None and str(js.get("status")) == "401",
            "pop3s: revoked token gets a '+ <base64 JSON>' challenge",
            "%r -> %r" % (line, js))
    c.send(b"\r\n")
    line = c.readline()
    h.check(line.startswith(b"-ERR"), "pop3s: revoked token then -ERR",
            line)
    c.close()

    c = h.connect(ports["pop3"])
    c.readline()
    c.send(b"STLS\r\n")
    line = c.readline()
    ok = line.startswith(b"+OK")
    if ok:
        c.starttls(h.client_ctx())
        c.send(b"AUTH XOAUTH2 " + xoauth2(USER, token) + b"\r\n")
        line = c.readline()
    h.check(ok and line.startswith(b"+OK"),
            "pop3: STLS then AUTH XOAUTH2", line)
    c.close()


# ---- submission ------------------------------------------------------------

def smtp_reply(c):
    """Lines of one SMTP reply (until 'NNN ')."""
    return c.read_until(rb"\d{3} ")


def smtp_tests():
    token = oauth.mint(USER)
    c = h.connect(ports["submission"])
    greet = c.readline()
    h.check(greet.startswith(b"220 "), "submission: greeting", greet)
    c.send(b"EHLO client.example\r\n")
    ehlo = b"".join(smtp_reply(c))
    h.check(b"STARTTLS" in ehlo, "submission: EHLO offers STARTTLS", ehlo)
    c.send(b"STARTTLS\r\n")
    line = c.readline()
    h.check(line.startswith(b"220"), "submission: STARTTLS accepted", line)
    c.starttls(h.client_ctx())
    c.send(b"EHLO client.example\r\n")
    ehlo = b"".join(smtp_reply(c))
    h.check(re.search(rb"AUTH .*XOAUTH2", ehlo) is not None and
            re.search(rb"AUTH .*PLAIN", ehlo) is None,
            "submission: AUTH XOAUTH2 offered, PLAIN not", ehlo)
    c.send(b"AUTH PLAIN " + base64.b64encode(
        b"\0" + USER.encode() + b"\0secret") + b"\r\n")
    line = smtp_reply(c)[-1]
    h.check(line[:1] in (b"5",), "submission: AUTH PLAIN refused", line)
    c.send(b"AUTH XOAUTH2 " + xoauth2(USER, token) + b"\r\n")
    line = smtp_reply(c)[-1]
    h.check(line.startswith(b"235"),
            "submission: AUTH XOAUTH2 with a live token", line)
    c.send(b"MAIL FROM:<alice@example.com>\r\n")
    r1 = smtp_reply(c)[-1]
    c.send(b"RCPT TO:<carol@example.net>\r\n")
    r2 = smtp_reply(c)[-1]
    c.send(b"DATA\r\n")
    r3 = smtp_reply(c)[-1]
    stuffed = re.sub(rb"(?m)^\.", b"..", MESSAGE)
    c.send(stuffed + b".\r\n")
    r4 = smtp_reply(c)[-1]
    h.check(r1.startswith(b"250") and r2.startswith(b"250") and
            r3.startswith(b"354") and r4.startswith(b"250"),
            "submission: MAIL, RCPT, DATA accepted", r1 + r2 + r3 + r4)
    c.send(b"QUIT\r\n")
    c.close()
    msgs = h.sink.wait_messages(1)
    env, data = msgs[0] if msgs else ({}, b"")
    h.check(env.get("mail_from") == "alice@example.com" and
            env.get("rcpt_to") == ["carol@example.net"],
            "submission: relayed envelope at the sink", env)
    h.check(h.sink.strip_received(data) == MESSAGE,
            "submission: message arrives at the sink byte for byte "
            "(after Dovecot's Received: field)",
            "%d bytes: %r" % (len(data), data[:200]))

    revoked = oauth.mint(USER)
    oauth.revoke(token=revoked)
    c = h.connect(ports["submissions"], tls=True)
    c.readline()
    c.send(b"EHLO client.example\r\n")
    smtp_reply(c)
    c.send(b"AUTH XOAUTH2 " + xoauth2(USER, revoked) + b"\r\n")
    line = c.readline()
    js = challenge_json(line, b"334 ")
    h.check(js is not None and str(js.get("status")) == "401",
            "submissions: revoked token gets a '334 <base64 JSON>' "
            "challenge", "%r -> %r" % (line, js))
    c.send(b"\r\n")
    line = smtp_reply(c)[-1]
    h.check(line.startswith(b"535"), "submissions: revoked token then 535",
            line)
    c.send(b"AUTH XOAUTH2 " + xoauth2(USER, token) + b"\r\n")
    line = smtp_reply(c)[-1]
    h.check(line.startswith(b"235"),
            "submissions: implicit TLS, AUTH XOAUTH2 after a failure", line)
    c.close()


imap_tests()
pop_tests()
smtp_tests()
st = oauth.stats()
h.check(st.get("introspect", 0) > 0,
        "oauth: Dovecot asked the introspection endpoint", st)
h.finish()
