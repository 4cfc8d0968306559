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
"""SMTP and STARTTLS on both sides.

- local_starttls: the EHLO reply offers STARTTLS at the end (byte for
  byte), STARTTLS is answered "220 Ready to start TLS" and upgraded, the
  second EHLO has no STARTTLS; smtplib with starttls() logs in and its
  message reaches the sink byte for byte.
- STARTTLS from a client without local_starttls: 454 and close.
- A server that refuses STARTTLS, or whose TLS fails: the client gets a
  421 and nothing but EHLO and STARTTLS reaches that server (it records
  every byte); no command goes upstream in clear before TLS.
- require_tls_login: no AUTH offered or accepted in clear.
"""

import base64
import os
import re
import smtplib
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402
from scripted import ScriptedServer as Fake  # noqa: E402

USER = "ccg@example.com"
PW = "Smtp-Tls-Secret"
MESSAGE = (b"From: ccg@example.com\r\n"
           b"To: dave@example.net\r\n"
           b"Subject: local STARTTLS\r\n"
           b"\r\n"
           b"EHLO inside the body\r\n"
           b"AUTH LOGIN\r\n"
           b"end\r\n")


def fake_script(starttls_reply):
    def script(line):
        if line.upper().startswith(b"EHLO"):
            return b"250-fake.example\r\n250-STARTTLS\r\n250 AUTH XOAUTH2\r\n"
        if line.upper() == b"STARTTLS":
            return starttls_reply
        return b"502 5.5.1 no\r\n"
    return script


h = Harness("smtp_starttls")
h.start_dovecot()
dv = h.dovecot.ports
refuse = Fake(h, b"220 fake ESMTP\r\n",
              fake_script(b"454 4.7.0 TLS not available\r\n"))
broken = Fake(h, b"220 fake ESMTP\r\n",
              fake_script(b"220 2.0.0 go\r\nnot TLS at all\r\n"))
ports = {k: h.free_port() for k in ("local", "plain", "refuse", "broken")}
sections = """
[SMTP-%(local)d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %(submission)d
server_starttls = True
local_starttls = True
local_certificate_path = %(cert)s
local_key_path = %(key)s

[SMTP-%(plain)d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %(submissions)d

[SMTP-%(refuse)d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %(refuse_port)d
server_starttls = True

[SMTP-%(broken)d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %(broken_port)d
server_starttls = True
""" % dict(ports, submission=dv["submission"],
           submissions=dv["submissions"], cert=h.cert_file, key=h.key_file,
           refuse_port=refuse.port, broken_port=broken.port)
h.start_emailproxy(h.standard_config(imap=False, pop=False, smtp=False,
                                     extra=sections))


def reply(c, timeout=None):
    return c.read_until(rb"\d{3}( |\r\n)", timeout=timeout)


def plain(user, pw):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode())


# ---- local_starttls, by hand -----------------------------------------------
c = h.connect(ports["local"])
c.readline()
c.send(b"EHLO client.example\r\n")
ehlo = reply(c, 30)
h.check(ehlo[-1] == b"250 STARTTLS\r\n" and
        b"250-AUTH PLAIN LOGIN\r\n" in ehlo and
        sum(1 for x in ehlo if b"STARTTLS" in x) == 1,
        "local_starttls: our STARTTLS last, the server's gone", ehlo)
c.send(b"STARTTLS\r\n")
line = c.readline()
h.check(line == b"220 Ready to start TLS\r\n", "STARTTLS answered", line)
ok = True
try:
    c.starttls(h.client_ctx())
except Exception as e:  # noqa: BLE001
    ok = False
    h.info("client TLS: %r" % e)
h.check(ok, "the client side upgrades to TLS")
if ok:
    c.send(b"EHLO client.example\r\n")
    ehlo2 = reply(c, 30)
    h.check(ehlo2 == ehlo[:-2] + [b"250 " + ehlo[-2][4:]],
            "second EHLO: the same without STARTTLS", ehlo2)
    c.send(b"AUTH PLAIN " + plain(USER, PW) + b"\r\n")
    line = reply(c, 30)[-1]
    h.check(line.startswith(b"235"), "login after the upgrade", line)
    c.send(b"QUIT\r\n")
c.close()

# ---- local_starttls with smtplib -----------------------------------------
h.sink.clear()
ok = True
try:
    s = smtplib.SMTP("127.0.0.1", ports["local"],
                     local_hostname="client.example", timeout=30)
    s.starttls(context=h.client_ctx())
    s.ehlo()
    h.check(not s.has_extn("starttls") and s.has_extn("auth"),
            "smtplib after starttls(): AUTH, no STARTTLS", s.esmtp_features)
    s.login(USER, PW)
    s.sendmail(USER, ["dave@example.net"], MESSAGE)
    s.quit()
except (smtplib.SMTPException, OSError) as e:
    ok = False
    h.info("smtplib: %r" % e)
h.check(ok, "smtplib: STARTTLS, login, message")
msgs = h.sink.wait_messages(1)
data = msgs[0][1] if msgs else b""
h.check(h.sink.strip_received(data) == MESSAGE,
        "the message arrives byte for byte", data[:300])

# ---- STARTTLS without local_starttls --------------------------------------
c = h.connect(ports["plain"])
c.readline()
c.send(b"EHLO client.example\r\n")
ehlo = reply(c, 30)
h.check(not any(b"STARTTLS" in x for x in ehlo),
        "no STARTTLS offered without local_starttls", ehlo)
c.send(b"STARTTLS\r\n")
line = c.readline()
h.check(line == b"454 STARTTLS not available\r\n" and c.closed_by_peer(5),
        "STARTTLS without local_starttls: 454 and close", line)
c.close()

# ---- servers that refuse STARTTLS or fail TLS ------------------------------
for name, fake in (("refuse", refuse), ("broken", broken)):
    c = h.connect(ports[name])
    greet = c.readline()
    c.send(b"MAIL FROM:<ccg@example.com>\r\n")
    early = c.readline()
    c.send(b"EHLO client.example\r\n")
    try:
        line = c.readline(timeout=30)
    except (EOFError, Exception) as e:  # noqa: BLE001
        line = repr(e).encode()
    h.check(greet.startswith(b"220 fake") and early.startswith(b"503 "),
            "%s: commands before EHLO wait for TLS (503)" % name,
            greet + early)
    h.check(line.startswith(b"421 "), "%s: the client gets a 421" % name,
            line)
    h.check(c.closed_by_peer(10), "%s: and the session ends" % name)
    c.close()
    h.check(fake.got == b"EHLO client.example\r\nSTARTTLS\r\n",
            "%s: the server got EHLO, STARTTLS and nothing else" % name,
            fake.got)
refuse.close()
broken.close()
h.check(PW not in h.log_text(), "no password in the log")

# ---- require_tls_login ------------------------------------------------------
h.stop_emailproxy()
port = h.free_port()
config = h.standard_config(imap=False, pop=False, smtp=False, extra="""
[SMTP-%d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %d
server_starttls = True
local_starttls = True
local_certificate_path = %s
local_key_path = %s
require_tls_login = True
""" % (port, dv["submission"], h.cert_file, h.key_file))
try:
    h.start_emailproxy(config)
    started = True
except Exception as e:  # noqa: BLE001
    started = False
    h.info("emailproxy: %s" % " ".join(str(e).split())[:300])
known = started and re.search(r"require_tls_login: unknown key",
                              h.log_text()) is None
if h.check(known, "require_tls_login is a configuration key"):
    c = h.connect(port)
    c.readline()
    c.send(b"EHLO client.example\r\n")
    ehlo = reply(c, 30)
    h.check(not any(b"AUTH" in x for x in ehlo) and
            ehlo[-1] == b"250 STARTTLS\r\n",
            "require_tls_login: EHLO offers STARTTLS, no AUTH", ehlo)
    c.send(b"AUTH PLAIN " + plain(USER, PW) + b"\r\n")
    line = c.readline()
    h.check(line == b"530 5.7.0 Must issue a STARTTLS command first\r\n",
            "require_tls_login: AUTH in clear refused", line)
    c.send(b"STARTTLS\r\n")
    c.readline()
    c.starttls(h.client_ctx())
    c.send(b"EHLO client.example\r\n")
    reply(c, 30)
    c.send(b"AUTH PLAIN " + plain(USER, PW) + b"\r\n")
    line = reply(c, 30)[-1]
    h.check(line.startswith(b"235"), "require_tls_login: login after TLS",
            line)
    c.close()
h.finish()
