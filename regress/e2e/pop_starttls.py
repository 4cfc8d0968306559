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
"""POP3 and STARTTLS (STLS) on both sides.

- server_starttls against Dovecot's plain pop3 port: the proxy sends
  STLS, the login goes over TLS (Dovecot logs it as TLS).
- local_starttls: CAPA offers STLS to a plain client, STLS is answered
  and upgraded, CAPA then drops STLS and the login works.
- A server that refuses STLS, or whose TLS fails: the client gets -ERR,
  and nothing but STLS ever reaches that server (it records all bytes).
- require_tls_login: no login in clear, logins after STLS.
"""

import base64
import os
import re
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402
from scripted import ScriptedServer as Fake  # noqa: E402

USER = "ccg@example.com"
PW = "Pop-Tls-Secret"


h = Harness("pop_starttls")
h.start_dovecot()
h.seed_message(USER, b"Subject: tls\r\n\r\nbody\r\n")
dv = h.dovecot.ports

refuse = Fake(h, b"+OK fake ready\r\n", lambda line:
              b"-ERR no TLS here\r\n" if line == b"STLS" else b"-ERR\r\n")
broken = Fake(h, b"+OK fake ready\r\n", lambda line:
              b"+OK go ahead\r\nthis is not TLS\r\n" if line == b"STLS"
              else b"-ERR\r\n")

ports = {k: h.free_port() for k in ("starttls", "local", "refuse",
                                    "broken")}
sections = """
[POP-%(starttls)d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %(dv_pop3)d
server_starttls = True

[POP-%(local)d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %(dv_pop3s)d
local_starttls = True
local_certificate_path = %(cert)s
local_key_path = %(key)s

[POP-%(refuse)d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %(refuse_port)d
server_starttls = True

[POP-%(broken)d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %(broken_port)d
server_starttls = True
""" % dict(ports, dv_pop3=dv["pop3"], dv_pop3s=dv["pop3s"],
           cert=h.cert_file, key=h.key_file, refuse_port=refuse.port,
           broken_port=broken.port)
config = h.standard_config(imap=False, pop=False, smtp=False,
                           extra=sections)
h.start_emailproxy(config)


def capa(c):
    c.send(b"CAPA\r\n")
    lines = [c.readline()]
    if lines[0].startswith(b"+OK"):
        lines += c.read_until(rb"\.\r\n$")
    return lines


def login(c, what):
    c.send(b"USER %s\r\nPASS %s\r\n" % (USER.encode(), PW.encode()))
    u = c.readline()
    p = c.readline(timeout=30)
    c.send(b"STAT\r\n")
    s = c.readline()
    return h.check(u == b"+OK\r\n" and p.startswith(b"+OK") and
                   s.startswith(b"+OK 1 "), what, [u, p, s])


def dovecot_login_line(since):
    """The login's line in Dovecot's log, which Dovecot may write after
    it answered: wait for it (bounded)."""
    m = h.dovecot.wait_log(r"^.*pop3-login.*Login: user=<%s>.*$"
                           % re.escape(USER), 20, since)
    return m.group(0) if m else ""


# ---- server_starttls against the plain port -------------------------------
mark = h.dovecot.log_mark()
c = h.connect(ports["starttls"])
greet = c.readline()
h.check(greet.startswith(b"+OK"), "server_starttls: greeting after STLS",
        greet)
login(c, "server_starttls: USER/PASS logs in")
line = dovecot_login_line(mark)
h.check(re.search(r"\bTLS\b", line) is not None,
        "server_starttls: Dovecot saw the login over TLS", line)
c.close()

# ---- local_starttls ------------------------------------------------------
c = h.connect(ports["local"])
c.readline()
lines = capa(c)
h.check(lines[-2:] == [b"STLS\r\n", b".\r\n"],
        "local_starttls: CAPA offers STLS in clear", lines)
c.send(b"STLS\r\n")
line = c.readline()
h.check(line == b"+OK Begin TLS negotiation\r\n", "STLS answered", line)
ok = True
try:
    c.starttls(h.client_ctx())
except Exception as e:  # noqa: BLE001
    ok = False
    h.info("client TLS: %r" % e)
h.check(ok, "the client side upgrades to TLS")
if ok:
    lines = capa(c)
    h.check(b"STLS\r\n" not in lines and b"SASL PLAIN\r\n" in lines,
            "CAPA after STLS: no STLS, SASL PLAIN", lines)
    c.send(b"STLS\r\n")
    h.check(c.readline() == b"-ERR STLS not available\r\n",
            "a second STLS is refused")
    login(c, "local_starttls: login after the upgrade")
c.close()

c = h.connect(ports["starttls"])
c.readline()
c.send(b"STLS\r\n")
h.check(c.readline() == b"-ERR STLS not available\r\n",
        "STLS without local_starttls is refused, not forwarded")
c.close()

# ---- servers that refuse STLS or fail TLS ----------------------------------
for name, fake in (("refuse", refuse), ("broken", broken)):
    c = h.connect(ports[name])
    c.send(b"USER %s\r\nPASS %s\r\nAUTH PLAIN %s\r\n" % (
        USER.encode(), PW.encode(),
        base64.b64encode(b"\0" + USER.encode() + b"\0" + PW.encode())))
    try:
        first = c.readline()
    except (EOFError, Exception) as e:  # noqa: BLE001
        first = repr(e).encode()
    h.check(first.startswith(b"-ERR"),
            "%s: the client gets an error" % name, first)
    h.check(c.closed_by_peer(10), "%s: and the session ends" % name)
    c.close()
    h.check(fake.got == b"STLS\r\n",
            "%s: the server got STLS and nothing else" % name, fake.got)
refuse.close()
broken.close()
log = h.log_text()
h.check(PW not in log, "no password in the log")

# ---- require_tls_login ------------------------------------------------------
h.stop_emailproxy()
port = h.free_port()
config = h.standard_config(imap=False, pop=False, smtp=False, extra="""
[POP-%d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %d
local_starttls = True
local_certificate_path = %s
local_key_path = %s
require_tls_login = True
""" % (port, dv["pop3s"], h.cert_file, h.key_file))
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
    lines = capa(c)
    h.check(b"USER\r\n" not in lines and
            not any(x.startswith(b"SASL") for x in lines) and
            b"STLS\r\n" in lines,
            "require_tls_login: CAPA offers STLS and no login in clear",
            lines)
    c.send(b"USER %s\r\n" % USER.encode())
    line = c.readline()
    h.check(line.startswith(b"-ERR [AUTH] "),
            "require_tls_login: USER in clear refused", line)
    c.send(b"STLS\r\n")
    c.readline()
    c.starttls(h.client_ctx())
    login(c, "require_tls_login: login after STLS")
    c.close()
h.finish()
