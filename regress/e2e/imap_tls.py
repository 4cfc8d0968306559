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
"""TLS on both sides of an IMAP session:
local implicit TLS with local_certificate_path/local_key_path; the
upstream certificate is verified against server_address (a server whose
certificate does not chain to the configured CA, or does not name the
address, is refused); server_ca_file for one server's private CA.
The proxy checks the chain itself against one X509_STORE per CA source
(proxy/tlsverify.c): a certificate from an untrusted CA is refused for
IMAP, POP (implicit TLS) and SMTP (STARTTLS) before any byte goes to the
server, so is an expired one, and with a system-sized CA bundle as
ca_file an upstream session costs far less memory than the ~870 KiB of a
per-connection copy of the bundle.
"""

import datetime
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

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


def expired_cert():
    """A leaf from the right CA for 127.0.0.1 that expired yesterday
    (openssl 3.0's x509 has no -not_before/-not_after)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
    import ipaddress
    with open(h.ca_file, "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(h.path("ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(
                NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(8)
            .not_valid_before(now - datetime.timedelta(days=30))
            .not_valid_after(now - datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    with open(h.path("expired.crt"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(h.path("expired.key"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return h.path("expired.crt"), h.path("expired.key")


class Fake:
    """A server with an untrusted or expired certificate.  mode imap or
    pop: implicit TLS, then a greeting; smtp: STARTTLS first.  got holds
    what arrived over TLS: nothing may, the proxy must hang up first."""

    def __init__(self, mode, ctx):
        self.mode, self.ctx, self.got = mode, ctx, b""
        self.handshakes = self.done = 0
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(5)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            s.settimeout(10)
            try:
                self.one(s)
            except (OSError, ValueError):
                pass
            finally:
                s.close()
                self.done += 1

    def one(self, s):
        if self.mode == "smtp":
            s.sendall(b"220 fake ESMTP\r\n")
            buf = b""
            for _ in range(10):
                d = s.recv(4096)
                if not d:
                    return
                buf += d
                if re.search(rb"(?im)^STARTTLS\r?\n", buf):
                    break
                if re.search(rb"(?im)^(EHLO|HELO)[^\n]*\n", buf):
                    buf = b""
                    s.sendall(b"250-fake.example\r\n250 STARTTLS\r\n")
            s.sendall(b"220 2.0.0 go\r\n")
        t = self.ctx.wrap_socket(s, server_side=True)
        self.handshakes += 1
        if self.mode == "imap":
            t.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] fake\r\n")
        elif self.mode == "pop":
            t.sendall(b"+OK fake\r\n")
        for _ in range(10):
            d = t.recv(4096)
            if not d:
                break
            self.got += d


untrusted_ctx = h.server_ctx(h.untrusted_cert_file, h.untrusted_key_file)
fakes = {m: Fake(m, untrusted_ctx) for m in ("imap", "pop", "smtp")}
fakes["expired"] = Fake("imap", h.server_ctx(*expired_cert()))
p_fake = {m: h.free_port() for m in fakes}
for m, f in fakes.items():
    sect = {"imap": "IMAP", "expired": "IMAP", "pop": "POP",
            "smtp": "SMTP"}[m]
    extra += ("[%s-%d]\nlocal_address = 127.0.0.1\nserver_address = "
              "127.0.0.1\nserver_port = %d\n%s\n"
              % (sect, p_fake[m], f.port, "server_starttls = True\n"
                 if m == "smtp" else ""))
# A system-sized CA bundle as the global ca_file (the default case):
# Debian's bundle with the test CA appended.
bundle = h.path("bundle.crt")
with open(bundle, "wb") as out:
    with open("/etc/ssl/certs/ca-certificates.crt", "rb") as f:
        shutil.copyfileobj(f, out)
    with open(h.ca_file, "rb") as f:
        shutil.copyfileobj(f, out)
with open(bundle, "rb") as f:
    ncas = f.read().count(b"-----BEGIN CERTIFICATE-----")
p_mem = h.free_port()
extra += ("[IMAP-%d]\nlocal_address = 127.0.0.1\nserver_address = "
          "127.0.0.1\nserver_port = %d\n\n" % (p_mem, imaps))
h.start_emailproxy(h.standard_config(pop=False, smtp=False, extra=extra,
                                     extra_globals="ca_file = %s" % bundle))


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


def refused(port, first, what, reason, fake):
    """The client sees exactly what a libtls failure shows it, the log
    says why, and the fake server got nothing over TLS."""
    mark = h.log_mark()
    c = h.connect(port)
    try:
        if first is not None:
            c.readline(timeout=15)
            c.send(first)
        line = c.readline(timeout=15)
    except Exception as e:  # noqa: BLE001
        line = repr(e).encode()
    closed = c.closed_by_peer(10)
    c.close()
    h.check(line in what and closed, "%s: refused" % reason, repr(line))
    m = h.wait_log(r"127\.0\.0\.1:%d: .*TLS handshake: certificate "
                   r"verification failed: (.*)" % fake.port, 5, since=mark)
    h.check(m is not None, "%s: logged with the verification error" % reason,
            m.group(0) if m else "no log line")
    deadline = time.monotonic() + 10
    while fake.done < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    h.check(fake.done >= 1 and fake.got == b"", "%s: the server got "
            "no byte over TLS" % reason, "%d handshakes, got %r"
            % (fake.handshakes, fake.got[:60]))
    return m.group(1) if m else ""


why = refused(p_fake["imap"], None, (b"* BYE Server unavailable\r\n",),
              "IMAP, certificate from an untrusted CA", fakes["imap"])
h.info("IMAP untrusted CA: %s" % why)
refused(p_fake["pop"], None, (b"-ERR Server unavailable\r\n",),
        "POP (implicit TLS), certificate from an untrusted CA", fakes["pop"])
refused(p_fake["smtp"], b"EHLO client.example\r\n",
        (b"421 4.3.2 TLS negotiation with the server failed\r\n",),
        "SMTP (STARTTLS), certificate from an untrusted CA", fakes["smtp"])
why = refused(p_fake["expired"], None, (b"* BYE Server unavailable\r\n",),
              "IMAP, expired certificate from the right CA",
              fakes["expired"])
h.check("expired" in why, "expired certificate: the log says it expired",
        why)

# Memory: many upstream sessions verified against the shared store of a
# system-sized bundle.  libtls's own check would copy the bundle into a
# fresh X509_STORE per connection (~870 KiB each).
SESSIONS = 200


def proxy_pid():
    for pid in h.proxy.children():
        try:
            t = h.proc_title(pid)
        except OSError:
            continue
        if re.search(r"\bproxy\b", t) and "tokend" not in t and \
           "authd" not in t:
            return pid
    return None


def cpu_ms(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / \
        os.sysconf("SC_CLK_TCK")


def open_sessions(n):
    conns = []
    for i in range(n):
        c = h.connect(p_mem, timeout=30)
        if not c.readline(timeout=30).startswith(b"* OK") or \
           not login(c, b"m%d" % i).startswith(b"m%d OK" % i):
            c.close()
            break
        conns.append(c)
    return conns


pid = proxy_pid()
h.check(pid is not None, "found the proxy process")
if pid is not None:
    warm = open_sessions(20)
    for c in warm:
        c.close()
    time.sleep(1)
    rss0, cpu0 = h.rss_kb(pid), cpu_ms(pid)
    conns = open_sessions(SESSIONS)
    time.sleep(0.5)
    rss1, cpu1 = h.rss_kb(pid), cpu_ms(pid)
    h.check(len(conns) == SESSIONS, "%d upstream sessions logged in with a "
            "%d-certificate ca_file" % (SESSIONS, ncas), "%d" % len(conns))
    per = (rss1 - rss0) / max(len(conns), 1)
    h.info("proxy RSS %d kB -> %d kB: %.1f KiB per upstream session; "
           "CPU %.2f ms per session (login included)"
           % (rss0, rss1, per, (cpu1 - cpu0) / max(len(conns), 1)))
    if h.sanitize:
        h.info("SANITIZE=1: RSS per session not compared (ASan's "
               "bookkeeping)")
    else:
        h.check(per < 200, "RSS per upstream session far below a copy of "
                "the CA bundle (%.1f KiB < 200 KiB)" % per)
    c = conns[-1] if conns else None
    if c is not None:
        c.send(b"s SELECT INBOX\r\n")
        h.check(c.read_until(rb"s (OK|NO|BAD)")[-1].startswith(b"s OK"),
                "a held session still works")
    for c in conns:
        c.close()
h.stop_emailproxy()
h.finish()
