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
"""IMAP and STARTTLS on both sides.

- server_starttls against Dovecot's plain imap port: the proxy sends
  STARTTLS, the login goes over TLS (Dovecot logs it as TLS), and the
  client's greeting lists the capabilities read over TLS.
- local_starttls: the capability list offers STARTTLS to a plain client,
  STARTTLS is answered and upgraded, then the list has no STARTTLS and
  the login works; a second STARTTLS is refused.
- A server that does not offer STARTTLS, refuses it, or fails TLS: the
  client gets * BYE, and nothing but our CAPABILITY/STARTTLS ever
  reaches that server (it records every byte), no login in clear.
- require_tls_login: LOGINDISABLED and no AUTH= in clear, LOGIN refused
  with [PRIVACYREQUIRED], logins after STARTTLS.
"""

import os
import re
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402
from scripted import ScriptedServer as Fake  # noqa: E402

USER = "ccg@example.com"
PW = "Imap-Tls-Secret"


def refuse_script(line):
    tag = line.split(b" ", 1)[0]
    if line.upper().endswith(b" STARTTLS"):
        return tag + b" NO not here\r\n"
    return tag + b" BAD\r\n"


def notls_script(line):
    tag = line.split(b" ", 1)[0]
    if line.upper().endswith(b" CAPABILITY"):
        return b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK\r\n"
    return tag + b" BAD\r\n"


def broken_script(line):
    tag = line.split(b" ", 1)[0]
    if line.upper().endswith(b" STARTTLS"):
        broken.junk = b"this is not TLS\r\n"
        return tag + b" OK go ahead\r\n"
    return tag + b" BAD\r\n"


h = Harness("imap_starttls")
h.start_dovecot()
h.seed_message(USER, b"Subject: tls\r\n\r\nbody\r\n")
dv = h.dovecot.ports

refuse = Fake(h, b"* OK [CAPABILITY IMAP4rev1 STARTTLS] fake\r\n",
              refuse_script)
notls = Fake(h, b"* OK fake ready\r\n", notls_script)
broken = Fake(h, b"* OK [CAPABILITY IMAP4rev1 STARTTLS] fake\r\n",
              broken_script)

ports = {k: h.free_port() for k in ("starttls", "local", "refuse", "notls",
                                    "broken", "require")}
sections = """
[IMAP-%(starttls)d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %(dv_imap)d
server_starttls = True

[IMAP-%(local)d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %(dv_imaps)d
local_starttls = True
local_certificate_path = %(cert)s
local_key_path = %(key)s

[IMAP-%(require)d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %(dv_imap)d
server_starttls = True
local_starttls = True
local_certificate_path = %(cert)s
local_key_path = %(key)s
require_tls_login = True
""" % dict(ports, dv_imap=dv["imap"], dv_imaps=dv["imaps"],
           cert=h.cert_file, key=h.key_file)
for name, fake in (("refuse", refuse), ("notls", notls),
                   ("broken", broken)):
    sections += """
[IMAP-%d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %d
server_starttls = True
""" % (ports[name], fake.port)
config = h.standard_config(imap=False, pop=False, smtp=False,
                           extra=sections)
h.start_emailproxy(config)


def capability(c, tag=b"c"):
    c.send(tag + b" CAPABILITY\r\n")
    return c.read_until(rb"^%s (OK|NO|BAD)[^\r]*\r\n" % tag)


def login(c, what, tag=b"a"):
    c.send(b'%s LOGIN "%s" "%s"\r\n' % (tag, USER.encode(), PW.encode()))
    r = c.read_until(rb"^%s (OK|NO|BAD)[^\r]*\r\n" % tag, timeout=30)
    ok = h.check(r[-1].startswith(tag + b" OK"), what, r)
    if ok:
        c.send(b"s SELECT INBOX\r\n")
        r = c.read_until(rb"^s (OK|NO|BAD)[^\r]*\r\n")
        h.check(r[-1].startswith(b"s OK") and b"* 1 EXISTS\r\n" in r,
                what + ": SELECT sees the seeded message", r)
    return ok


def dovecot_login_line(since):
    """The login's line in Dovecot's log, which Dovecot may write after
    it answered: wait for it (bounded)."""
    m = h.dovecot.wait_log(r"^.*imap-login.*Login: user=<%s>.*$"
                           % re.escape(USER), 20, since)
    return m.group(0) if m else ""


# ---- server_starttls against the plain port -------------------------------
mark = h.dovecot.log_mark()
c = h.connect(ports["starttls"])
greet = c.readline()
h.check(greet.startswith(b"* OK [CAPABILITY ") and b"STARTTLS" not in greet
        and b"AUTH=PLAIN" in greet and b"LOGINDISABLED" not in greet,
        "server_starttls: greeting with the capabilities read over TLS",
        greet)
lines = capability(c)
h.check(b"STARTTLS" not in b"".join(lines) and
        b"AUTH=PLAIN" in b"".join(lines),
        "server_starttls: CAPABILITY has no STARTTLS", lines)
login(c, "server_starttls: LOGIN")
line = dovecot_login_line(mark)
h.check(re.search(r"\bTLS\b", line) is not None,
        "server_starttls: Dovecot saw the login over TLS", line)
c.close()

# ---- local_starttls ------------------------------------------------------
c = h.connect(ports["local"])
greet = c.readline()
lines = capability(c)
h.check(re.search(rb"^\* CAPABILITY .* STARTTLS\b", b"".join(lines),
                  re.M) is not None,
        "local_starttls: CAPABILITY offers STARTTLS in clear", lines)
c.send(b"t STARTTLS\r\n")
line = c.readline()
h.check(line == b"t OK Begin TLS negotiation now\r\n", "STARTTLS answered",
        line)
ok = True
try:
    c.starttls(h.client_ctx())
except Exception as e:  # noqa: BLE001
    ok = False
    h.info("client TLS: %r" % e)
h.check(ok, "the client side upgrades to TLS")
if ok:
    lines = capability(c, b"d")
    h.check(b"STARTTLS" not in b"".join(lines) and
            b"AUTH=PLAIN" in b"".join(lines),
            "CAPABILITY after STARTTLS: no STARTTLS, AUTH=PLAIN", lines)
    c.send(b"u STARTTLS\r\n")
    line = c.readline()
    h.check(line.startswith(b"u BAD "), "a second STARTTLS is refused",
            line)
    login(c, "local_starttls: login after the upgrade")
c.close()

# ---- servers that do not do STARTTLS -------------------------------------
for name, fake in (("refuse", refuse), ("notls", notls),
                   ("broken", broken)):
    c = h.connect(ports[name])
    c.send(b'a LOGIN "%s" "%s"\r\n' % (USER.encode(), PW.encode()))
    try:
        first = c.readline()
    except Exception as e:  # noqa: BLE001
        first = repr(e).encode()
    h.check(first.startswith(b"* BYE "),
            "%s: the client gets * BYE" % name, first)
    h.check(c.closed_by_peer(10), "%s: and the session ends" % name)
    c.close()
    want = {"refuse": b"epx2 STARTTLS\r\n",
            "notls": b"epx1 CAPABILITY\r\n",
            "broken": b"epx2 STARTTLS\r\n"}[name]
    # After STARTTLS only a TLS ClientHello (a handshake record) may come.
    rest = fake.got[len(want):]
    h.check(fake.got.startswith(want) and
            (rest == b"" or (name == "broken" and rest[:1] == b"\x16")) and
            PW.encode() not in fake.got and b"LOGIN" not in fake.got,
            "%s: the server got only %r (and a ClientHello), no login"
            % (name, want), fake.got[:200])
for fake in (refuse, notls, broken):
    fake.close()

# ---- require_tls_login ------------------------------------------------------
c = h.connect(ports["require"])
greet = c.readline()
h.check(b"LOGINDISABLED" in greet and b"AUTH=" not in greet and
        b"STARTTLS" in greet,
        "require_tls_login: greeting has LOGINDISABLED, STARTTLS, no AUTH=",
        greet)
c.send(b'a LOGIN "%s" "%s"\r\n' % (USER.encode(), PW.encode()))
line = c.readline()
h.check(line.startswith(b"a NO [PRIVACYREQUIRED] "),
        "require_tls_login: LOGIN in clear refused", line)
c.send(b"t STARTTLS\r\n")
c.readline()
c.starttls(h.client_ctx())
lines = capability(c)
h.check(b"LOGINDISABLED" not in b"".join(lines) and
        b"AUTH=PLAIN" in b"".join(lines),
        "require_tls_login: after STARTTLS AUTH=PLAIN, no LOGINDISABLED",
        lines)
login(c, "require_tls_login: login after STARTTLS", tag=b"b")
c.close()

log = h.log_text()
h.check(PW not in log, "no password in the log")
h.finish()
