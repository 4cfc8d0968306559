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
"""Per-server client allowlists and the PROXY protocol.

- allow_clients: 127.0.0.1 is let in, 127.0.0.2 and ::1 get the
  protocol's bye line (IMAP, POP, SMTP) and a log line, and the server
  never sees a connection for them; ::1 is let in where it is listed.
- proxy_protocol with proxy_protocol_trusted = 127.0.0.1: a v1 and a v2
  header from 127.0.0.1 name the client; its address is the one the
  allowlist checks and the one in the log and the audit line of a
  login.  The same header from 127.0.0.2 (untrusted), a missing or a
  malformed header, or one that never ends: the connection is closed
  without a word, with a log line.  A header before implicit TLS: the
  handshake still works (the header is read without taking more).
- The client address tokend gets is the header's: an account allowlist
  lets 192.0.2.7 in and refuses 192.0.2.9 and 127.0.0.1, each attempt
  with its audit line (result=not-allowed).
"""

import base64
import os
import re
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Conn, Harness, have_ipv6  # noqa: E402

USER = "ccg@example.com"
PW = "Allow-Secret-1"

h = Harness("proxy_allow")
h.start_dovecot()
h.seed_message(USER, b"Subject: allow\r\n\r\nbody\r\n")
dv = h.dovecot.ports
v6 = have_ipv6()

P = {k: h.free_port() for k in ("imap", "pop", "smtp", "v6no", "v6ok",
                                "pp", "pptls")}
sections = """
[IMAP-%(imap)d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %(imaps)d
allow_clients = 127.0.0.1

[POP-%(pop)d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %(pop3s)d
allow_clients = 127.0.0.1/32, ::1

[SMTP-%(smtp)d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %(submission)d
server_starttls = True
allow_clients = 10.0.0.0/8 127.0.0.1

[IMAP-%(pp)d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %(imaps)d
proxy_protocol = True
proxy_protocol_trusted = 127.0.0.1
allow_clients = 192.0.2.0/24, 2001:db8::/32

[IMAP-%(pptls)d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %(imaps)d
local_certificate_path = %(cert)s
local_key_path = %(key)s
proxy_protocol = True
proxy_protocol_trusted = 127.0.0.0/8
""" % dict(P, imaps=dv["imaps"], pop3s=dv["pop3s"],
           submission=dv["submission"], cert=h.cert_file, key=h.key_file)
if v6:
    sections += """
[IMAP-%(v6no)d]
local_address = ::1
server_address = 127.0.0.1
server_port = %(imaps)d
allow_clients = 127.0.0.0/8

[IMAP-%(v6ok)d]
local_address = ::1
server_address = 127.0.0.1
server_port = %(imaps)d
allow_clients = ::1
""" % dict(P, imaps=dv["imaps"])
config = h.standard_config(imap=False, pop=False, smtp=False,
                           extra=sections)
acct = "[%s]\noauth2_flow = client_credentials\n" % USER
assert acct in config
config = config.replace(acct, acct + "allow_clients = 192.0.2.7, 192.0.2.8, "
                        "2001:db8::/32\n")
h.start_emailproxy(config)


def connect_from(port, src, dst="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((src, 0))
    s.connect((dst, port))
    return Conn(s)


def first_line(c):
    try:
        return c.readline()
    except Exception as e:  # noqa: BLE001
        return repr(e).encode()


def upstream_of(since, src):
    """Did the proxy connect upstream for the session from src?"""
    m = h.wait_log(r"session (\d+): \S+ connection from %s:\d+"
                   % re.escape(src), since=since)
    if m is None:
        return None
    text = h.log_text()
    return re.search(r"session %s: connected to" % m.group(1),
                     text) is not None


# ---- allow_clients --------------------------------------------------------
for proto, port, ok_prefix, bye_prefix in (
        ("IMAP", P["imap"], b"* OK", b"* BYE "),
        ("POP", P["pop"], b"+OK", b"-ERR "),
        ("SMTP", P["smtp"], b"220", b"421 ")):
    c = connect_from(port, "127.0.0.1")
    line = first_line(c)
    h.check(line.startswith(ok_prefix), "%s: 127.0.0.1 is allowed" % proto,
            line)
    c.close()
    mark = h.log_mark()
    c = connect_from(port, "127.0.0.2")
    line = first_line(c)
    h.check(line.startswith(bye_prefix) and b"not allowed" in line,
            "%s: 127.0.0.2 gets the bye line" % proto, line)
    h.check(c.closed_by_peer(10), "%s: and is disconnected" % proto)
    c.close()
    h.check(h.wait_log(r"127\.0\.0\.2:\d+: Connection refused: client "
                       r"address not allowed", since=mark) is not None,
            "%s: the refusal is logged with the address" % proto)
    h.check(upstream_of(mark, "127.0.0.2") is False,
            "%s: no upstream connection for it" % proto)

if v6:
    c = connect_from(P["v6no"], "::1", "::1")
    line = first_line(c)
    h.check(line.startswith(b"* BYE ") and b"not allowed" in line,
            "::1 is refused where only 127.0.0.0/8 is listed", line)
    c.close()
    c = connect_from(P["v6ok"], "::1", "::1")
    line = first_line(c)
    h.check(line.startswith(b"* OK"), "::1 is let in where listed", line)
    c.close()
else:
    h.info("no IPv6 loopback here: the ::1 checks are left out")

# ---- PROXY protocol -------------------------------------------------------
SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src, sport, dst="127.0.0.1", dport=993, cmd=1):
    if ":" in src:
        fam = 0x21
        addr = (socket.inet_pton(socket.AF_INET6, src) +
                socket.inet_pton(socket.AF_INET6, dst) +
                struct.pack("!HH", sport, dport))
    else:
        fam = 0x11
        addr = (socket.inet_aton(src) + socket.inet_aton(dst) +
                struct.pack("!HH", sport, dport))
    return SIG + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(addr)) + \
        addr


def imap_login(c, tag=b"a"):
    c.send(b'%s LOGIN "%s" "%s"\r\n' % (tag, USER.encode(), PW.encode()))
    return c.read_until(rb"^%s (OK|NO|BAD)[^\r]*\r\n" % tag, timeout=30)


for name, hdr, addr in (
        ("v1", b"PROXY TCP4 192.0.2.7 127.0.0.1 56324 993\r\n",
         "192.0.2.7"),
        ("v2", v2_header("192.0.2.8", 40000), "192.0.2.8"),
        ("v2 IPv6", v2_header("2001:db8::5", 40001, "2001:db8::1"),
         "2001:db8::5")):
    mark = h.log_mark()
    c = connect_from(P["pp"], "127.0.0.1")
    c.send(hdr)
    line = first_line(c)
    h.check(line.startswith(b"* OK"),
            "PROXY %s from a trusted peer: served" % name, line)
    r = imap_login(c)
    h.check(r[-1].startswith(b"a OK"), "PROXY %s: login" % name, r)
    h.check(h.wait_log(r"PROXY header: client %s" % re.escape(
        addr if ":" not in addr else "[%s]" % addr), since=mark)
        is not None, "PROXY %s: the header's client is logged" % name)
    h.check(h.wait_log(r"audit: result=ok proto=IMAP listener=IMAP-%d "
                       r"client=%s account=%s$"
                       % (P["pp"], re.escape(addr), re.escape(USER)),
                       since=mark) is not None,
            "PROXY %s: the audit line has client=%s" % (name, addr))
    c.close()

# The header's address is what tokend checks against the account's list.
for what, port, hdr, addr in (
        ("PROXY from 192.0.2.9", P["pp"],
         b"PROXY TCP4 192.0.2.9 127.0.0.1 5000 993\r\n", "192.0.2.9"),
        ("direct from 127.0.0.1", P["imap"], b"", "127.0.0.1")):
    mark = h.log_mark()
    c = connect_from(port, "127.0.0.1")
    c.send(hdr)
    first_line(c)
    r = imap_login(c)
    h.check(r[-1].startswith(b"a NO"),
            "account allowlist: %s refused" % what, r)
    h.check(h.wait_log(r"audit: result=not-allowed proto=IMAP "
                       r"listener=IMAP-%d client=%s account=%s$"
                       % (port, re.escape(addr), re.escape(USER)),
                       since=mark) is not None,
            "account allowlist: audit line result=not-allowed client=%s"
            % addr)
    c.close()

# The header's address is what the allowlist checks.
c = connect_from(P["pp"], "127.0.0.1")
c.send(b"PROXY TCP4 198.51.100.1 127.0.0.1 5000 993\r\n")
line = first_line(c)
h.check(line.startswith(b"* BYE ") and b"not allowed" in line,
        "PROXY v1 with a source outside allow_clients: BYE", line)
c.close()
c = connect_from(P["pp"], "127.0.0.1")
c.send(v2_header("127.0.0.1", 1, cmd=0))
line = first_line(c)
h.check(line.startswith(b"* BYE "),
        "PROXY v2 LOCAL: the peer's own address (not allowed) stands", line)
c.close()

# Refusals: no greeting, a log line.
for what, src, data, logre in (
        ("untrusted peer", "127.0.0.2",
         b"PROXY TCP4 192.0.2.7 127.0.0.1 56324 993\r\n",
         r"127\.0\.0\.2:\d+ refused: not in proxy_protocol_trusted"),
        ("missing header", "127.0.0.1", b"a LOGIN x y\r\n",
         r"no PROXY header, connection refused"),
        ("malformed v1", "127.0.0.1",
         b"PROXY TCP4 192.0.2.7 127.0.0.1 056324 993\r\n",
         r"PROXY v1: malformed header, connection refused"),
        ("malformed v2", "127.0.0.1", SIG + b"\x31\x11\x00\x0c" + b"x" * 12,
         r"PROXY v2: unknown version, connection refused")):
    mark = h.log_mark()
    c = connect_from(P["pp"], src)
    try:
        c.send(data)
    except OSError:
        pass
    h.check(c.closed_by_peer(10), "%s: closed" % what)
    h.check(b"* OK" not in c.buf, "%s: no greeting" % what, c.buf)
    c.close()
    h.check(h.wait_log(logre, since=mark) is not None,
            "%s: logged" % what, logre)

# A header that never ends: bounded in time.
mark = h.log_mark()
c = connect_from(P["pp"], "127.0.0.1")
c.send(b"PROXY TCP4 192.0.2.7")
h.check(c.closed_by_peer(20), "an unfinished header: closed in time")
c.close()
h.check(h.wait_log(r"no complete PROXY header in \d+ seconds",
                   since=mark) is not None, "the timeout is logged")

# A header, then implicit TLS.
c = connect_from(P["pptls"], "127.0.0.1")
c.send(b"PROXY TCP6 2001:db8::7 ::1 1234 993\r\n")
ok = True
try:
    c.sock = h.client_ctx().wrap_socket(c.sock,
                                        server_hostname="localhost")
except Exception as e:  # noqa: BLE001
    ok = False
    h.info("TLS after the header: %r" % e)
h.check(ok, "implicit TLS after a PROXY header: handshake")
if ok:
    line = first_line(c)
    h.check(line.startswith(b"* OK"), "and the greeting over TLS", line)
c.close()

h.check(h.proxy.alive(), "the daemon is still running")
h.check(PW not in h.log_text(), "no password in the log")
h.finish()
