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
"""The authorisation page over HTTPS (authorisation_page_certificate and
authorisation_page_key): the page is served with the configured
certificate, the session cookie is Secure, plain HTTP to the port gets
no page, the consent's redirect_uri is the https callback; a reload with
another certificate serves the new one on the same socket; a reload
without authorisation_page_listen stops the page, and one with it
again serves it.  A public listen address without a certificate is
refused at start with the file, line and key.
"""

import os
import re
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import http.cookiejar

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

AUTH = "auth@example.com"

h = Harness("web_https")
h.start_dovecot()
oauth = h.oauth
port = h.free_port()
PAGE = "https://localhost:%d/authorise/" % port


BASE = h.standard_config(pop=False, smtp=False, extra_globals="@PAGE@")


def config(listen=True, cert=None, key=None):
    g = "kdf_iterations = 100000\nauthorisation_page_url = %s" % PAGE
    if listen:
        g += ("\nauthorisation_page_listen = 127.0.0.1:%d\n"
              "authorisation_page_certificate = %s\n"
              "authorisation_page_key = %s" % (port, cert or h.cert_file,
                                               key or h.key_file))
    return BASE.replace("@PAGE@", g)


def opener(jar):
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPCookieProcessor(jar),
        urllib.request.HTTPSHandler(context=h.client_ctx()))


def get(op, url, data=None):
    if isinstance(data, dict):
        data = urllib.parse.urlencode(data).encode()
    try:
        r = op.open(url, data=data, timeout=20)
        return r.status, r.headers, r.read().decode(), r.geturl()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode(), url
    except (urllib.error.URLError, OSError) as e:
        return 0, {}, str(e), url


def peer_cert_der():
    ctx = ssl.create_default_context(cafile=h.ca_file)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            return t.getpeercert(binary_form=True)


def pem_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


h.start_emailproxy(config())
jar = http.cookiejar.CookieJar()
op = opener(jar)
st, hd, body, _ = get(op, PAGE)
cookie = hd.get("Set-Cookie", "") if hd else ""
h.check(st == 200 and 'name="password"' in body,
        "the page is served over HTTPS with the configured certificate",
        "%d %s" % (st, body[:200]))
h.check("Secure" in cookie and "HttpOnly" in cookie and
        "Path=/authorise/" in cookie, "the session cookie is Secure, "
        "HttpOnly, for the page's path", cookie)
h.check(peer_cert_der() == pem_der(h.cert_file), "... the certificate is "
        "authorisation_page_certificate", "")
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"GET /authorise/ HTTP/1.1\r\nHost: x\r\n\r\n")
s.settimeout(10)
try:
    got = s.recv(4096)
except OSError:
    got = b""
s.close()
h.check(b"password" not in got, "plain HTTP to the HTTPS port gets no page",
        repr(got[:80]))
csrf = re.search(r'name="csrf" value="([^"]+)"', body)
st, _, body, url = get(op, PAGE + "login", {
    "csrf": csrf.group(1) if csrf else "", "address": AUTH,
    "password": "https-pw-1"})
m = re.search(r'id="consent" href="([^"]+)"', body)
q = urllib.parse.parse_qs(urllib.parse.urlsplit(
    m.group(1).replace("&amp;", "&") if m else "").query)
h.check(url == PAGE + "status" and q.get("redirect_uri") ==
        [PAGE + "callback"], "the consent's redirect_uri is the https "
        "callback under the page's path", "%s %s" % (url, q))

# Another certificate on reload: the same socket serves it.
other_key = h.path("other.key")
other_crt = h.path("other.crt")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", other_key,
                "-out", other_crt, "-days", "2", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost"],
               check=True, capture_output=True)
mark = h.log_mark()
h.reload_emailproxy(config(cert=other_crt, key=other_key))
h.wait_log(r"configuration reloaded", timeout=20, since=mark)


def served_der():
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            return t.getpeercert(binary_form=True)


h.check(served_der() == pem_der(other_crt), "a reload with another "
        "certificate serves it on the same socket", "")

# Without the listener the page goes; with it again it comes back.
mark = h.log_mark()
h.reload_emailproxy(config(listen=False))
h.wait_log(r"configuration reloaded", timeout=20, since=mark)
st, _, body, _ = get(opener(http.cookiejar.CookieJar()), PAGE)
h.check(st == 0, "a reload without authorisation_page_listen stops the page",
        "%d %s" % (st, body[:100]))
mark = h.log_mark()
h.reload_emailproxy(config())
h.wait_log(r"authorisation page on 127\.0\.0\.1:%d \(https\)" % port,
           timeout=20, since=mark)
st, _, body, _ = get(opener(http.cookiejar.CookieJar()), PAGE)
h.check(st == 200 and 'name="password"' in body, "... and a reload with it "
        "serves the page again", "%d %s" % (st, body[:100]))
h.stop_emailproxy()

# A public address without a certificate is refused at start.
bad = config(listen=False).replace(
    "[emailproxy]\n", "[emailproxy]\nauthorisation_page_listen = "
    "0.0.0.0:%d\n" % port, 1)
with open(h.path("bad.conf"), "w") as f:
    f.write(h.fill_config(bad))
r = subprocess.run([h.emailproxy_bin, "-n",
                    "-f", h.path("bad.conf")], capture_output=True,
                   text=True)
h.check(r.returncode == 78 and re.search(
    r"bad\.conf:\d+: authorisation_page_listen: 0\.0\.0\.0 is not a "
    r"loopback address", r.stderr) is not None, "plain HTTP on a public "
    "address is a configuration error with file, line and key",
    "%d %s" % (r.returncode, r.stderr[-300:]))
h.finish()
