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
"""TLS on both sides of an IMAP session (SPEC Part 2 §5.0, §5.5):
local implicit TLS with local_certificate_path/local_key_path; the
upstream certificate is verified against server_address (a server whose
certificate does not chain to the configured CA, or does not name the
address, is refused); server_ca_file for one server's private CA.
"""

import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

USER = "tls@example.com"

h = Harness("imap_tls")
h.start_dovecot()
o = h.oauth
imaps = h.dovecot.ports["imaps"]
h.seed_message(USER, b"Subject: t\r\n\r\nt\r\n")
common = ("token_url = %s\noauth2_scope = mail\nclient_id = %s\n"
          % (o.token_url, o.client_id))
if o.client_secret:
    common += "client_secret = %s\n" % o.client_secret
p_tls = h.free_port()
p_name = h.free_port()
p_ca = h.free_port()
p_badca = h.free_port()
extra = "[%s]\noauth2_flow = password\n%s\n" % (USER, common)
extra += ("[IMAP-%d]\nlocal_address = 127.0.0.1\nserver_address = "
          "localhost\nserver_port = %d\nlocal_certificate_path = %s\n"
          "local_key_path = %s\n\n" % (p_tls, imaps, h.cert_file,
                                       h.key_file))

# An upstream whose certificate (from the right CA) names another host.
def run(*args):
    subprocess.run(["openssl"] + list(args), cwd=h.dir, check=True,
                   capture_output=True)


def other_cert():
    ext = h.path("other.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=DNS:other.example\n")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", "other.key", "-out", "other.csr", "-subj",
        "/CN=other.example")
    run("x509", "-req", "-in", "other.csr", "-CA", "ca.crt", "-CAkey",
        "ca.key", "-set_serial", "7", "-days", "30", "-extfile", ext,
        "-out", "other.crt")
    return h.path("other.crt"), h.path("other.key")


def serve_other(lsock, ctx):
    """Greet like an IMAP server over TLS, for as long as the test runs."""
    while True:
        try:
            s, _ = lsock.accept()
        except OSError:
            return
        try:
            t = ctx.wrap_socket(s, server_side=True)
            t.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] other\r\n")
            t.close()
        except OSError:
            s.close()


cert, key = other_cert()
lsock = socket.socket()
lsock.bind(("127.0.0.1", 0))
lsock.listen(5)
other_port = lsock.getsockname()[1]
threading.Thread(target=serve_other, args=(lsock, h.server_ctx(cert, key)),
                 daemon=True).start()
extra += ("[IMAP-%d]\nlocal_address = 127.0.0.1\nserver_address = "
          "127.0.0.1\nserver_port = %d\n\n" % (p_name, other_port))
# Per-server CA: the right one, then one that did not sign Dovecot's.
extra += ("[IMAP-%d]\nlocal_address = 127.0.0.1\nserver_address = "
          "127.0.0.1\nserver_port = %d\nserver_ca_file = %s\n\n"
          % (p_ca, imaps, h.ca_file))
extra += ("[IMAP-%d]\nlocal_address = 127.0.0.1\nserver_address = "
          "127.0.0.1\nserver_port = %d\nserver_ca_file = %s\n\n"
          % (p_badca, imaps, h.untrusted_ca_file))
h.start_emailproxy(h.standard_config(pop=False, smtp=False, extra=extra))


def login(c, tag=b"a"):
    c.send(tag + b' LOGIN tls@example.com "t pw"\r\n')
    return c.read_until(tag + rb" (OK|NO|BAD)", timeout=30)[-1]


# Local implicit TLS, upstream by name (localhost).
c = h.connect(p_tls, tls=True, ca=h.ca_file)
g = c.readline()
h.check(g.startswith(b"* OK [CAPABILITY ") and b"AUTH=PLAIN" in g,
        "greeting over local TLS", repr(g))
h.check(c.sock.version() in ("TLSv1.2", "TLSv1.3"), "local TLS is %s"
        % c.sock.version())
h.check(login(c).startswith(b"a OK"), "login over local TLS")
c.send(b"s SELECT INBOX\r\n")
h.check(c.read_until(rb"s (OK|NO|BAD)")[-1].startswith(b"s OK"),
        "SELECT over local TLS")
c.close()
# A plain client on the TLS listener gets nothing it can use.
c = h.connect(p_tls)
c.send(b"a CAPABILITY\r\n")
data = c.read_available(2)
h.check(not data.startswith(b"* OK") and b"CAPABILITY" not in data,
        "plain client on the TLS listener gets no IMAP", repr(data[:40]))
c.close()
# Upstream name verification: the certificate is for other.example.
mark = h.log_mark()
c = h.connect(p_name)
try:
    line = c.readline(timeout=15)
except Exception as e:  # noqa: BLE001
    line = repr(e).encode()
h.check(line == b"* BYE Server unavailable\r\n", "upstream certificate "
        "for another name: refused before any byte", repr(line))
h.check(h.wait_log(r"127\.0\.0\.1:%d: TLS handshake" % other_port, 5,
                   since=mark) is not None, "the refusal is logged")
c.close()

# server_ca_file: the right CA works, another CA is refused.
c = h.connect(p_ca)
g = c.readline(timeout=15)
h.check(g.startswith(b"* OK") and login(c).startswith(b"a OK"),
        "server_ca_file with the CA that signed the server")
c.close()
c = h.connect(p_badca)
try:
    line = c.readline(timeout=15)
except Exception as e:  # noqa: BLE001
    line = repr(e).encode()
h.check(line == b"* BYE Server unavailable\r\n", "server_ca_file with "
        "another CA: refused", repr(line))
c.close()
h.stop_emailproxy()
h.finish()
