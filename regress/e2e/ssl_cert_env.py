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
"""OpenSSL's SSL_CERT_FILE and SSL_CERT_DIR choose the CA certificates
when the configuration sets no ca_file, as for any OpenSSL program: for
the mail server's certificate (the proxy) and for the OAuth server's
(authd, HTTPS).  Both servers here have certificates of the test CA,
which no system bundle holds.  ca_file, when set, wins.
"""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

h = Harness("ssl_cert_env")
h.start_dovecot()
base = h.standard_config(pop=False, smtp=False)
port = h.proxy_ports["imap"]
# The test CA only through the environment: no ca_file line.
no_ca = re.sub(r"(?m)^ca_file = .*\n", "", h.fill_config(base))

# SSL_CERT_DIR: the test CA under its subject hash, as c_rehash names it.
cadir = h.path("cadir")
os.makedirs(cadir, exist_ok=True)
r = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", h.ca_file],
                   stdout=subprocess.PIPE, check=True, timeout=30)
shutil.copy(h.ca_file, os.path.join(cadir, r.stdout.decode().strip() +
                                    ".0"))


def run(what, config, env):
    """Start with env as the only SSL_CERT_* variables, log in as the
    client-credentials account with a fresh token store; returns
    (greeting, login answer)."""
    for k in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        os.environ.pop(k, None)
    os.environ.update(env)
    store = h.path("store")
    if os.path.isdir(store):
        for f in os.listdir(store):
            p = os.path.join(store, f)
            if os.path.isfile(p):
                os.unlink(p)
    h.start_emailproxy(config, fill=False)
    for k in env:
        del os.environ[k]
    c = h.connect(port)
    try:
        greeting = c.readline(timeout=20)
        answer = b""
        if greeting.startswith(b"* OK"):
            c.send(b'a LOGIN ccg@example.com "ccg pw"\r\n')
            answer = c.read_until(rb"a (OK|NO|BAD)", timeout=60)[-1]
    except (EOFError, Exception) as e:  # noqa: BLE001
        greeting, answer = repr(e).encode(), b""
    c.close()
    h.stop_emailproxy()
    h.info("%s: %r %r" % (what, greeting, answer))
    return greeting, answer


g, a = run("SSL_CERT_FILE", no_ca, {"SSL_CERT_FILE": h.ca_file})
h.check(g.startswith(b"* OK"), "SSL_CERT_FILE: the mail server's "
        "certificate verifies (proxy)", repr(g))
h.check(a.startswith(b"a OK"), "SSL_CERT_FILE: the OAuth server's "
        "certificate verifies (authd HTTPS), the login succeeds", repr(a))

g, a = run("SSL_CERT_DIR", no_ca, {"SSL_CERT_DIR": cadir})
h.check(g.startswith(b"* OK") and a.startswith(b"a OK"),
        "SSL_CERT_DIR: a hashed directory holding the CA works for both",
        "%r %r" % (g, a))

# Negative: neither variable, no ca_file.
g, a = run("no variable", no_ca, {})
h.check(g == b"* BYE Server unavailable\r\n", "without them the mail "
        "server's certificate is refused", repr(g))
# ... and authd too, when the proxy trusts the mail server on its own.
own = no_ca.replace("server_port = %d\n" % h.dovecot.ports["imaps"],
                    "server_port = %d\nserver_ca_file = %s\n"
                    % (h.dovecot.ports["imaps"], h.ca_file), 1)
g, a = run("no variable, server_ca_file", own, {})
h.check(g.startswith(b"* OK") and a.startswith(b"a NO"),
        "without them the OAuth server's certificate is refused (authd)",
        "%r %r" % (g, a))

# ca_file wins over the environment.
other = h.fill_config(base).replace("ca_file = %s" % h.ca_file,
                                    "ca_file = %s" % h.untrusted_ca_file)
g, a = run("ca_file and SSL_CERT_FILE", other,
           {"SSL_CERT_FILE": h.ca_file})
h.check(g == b"* BYE Server unavailable\r\n", "ca_file set: "
        "SSL_CERT_FILE is not used", repr(g))

# -n names a variable that points nowhere.
env = dict(os.environ)
env.pop("SSL_CERT_DIR", None)
env["SSL_CERT_FILE"] = h.path("missing.crt")
conf = h.path("nv.conf")
with open(conf, "w") as f:
    f.write(no_ca)
r = subprocess.run([h.emailproxy_bin, "-n", "-f", conf], env=env,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   stdin=subprocess.DEVNULL, timeout=30)
err = r.stderr.decode()
h.check(r.returncode == 78 and "SSL_CERT_FILE: %s: No such file" %
        h.path("missing.crt") in err, "-n: SSL_CERT_FILE naming a missing "
        "file is an error", err[-300:])
env.pop("SSL_CERT_FILE")
env["SSL_CERT_DIR"] = "%s:%s" % (h.path("missing"), cadir)
r = subprocess.run([h.emailproxy_bin, "-n", "-f", conf], env=env,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   stdin=subprocess.DEVNULL, timeout=30)
err = r.stderr.decode()
h.check(r.returncode == 0 and "SSL_CERT_DIR: %s, skipped: No such file" %
        h.path("missing") in err, "-n: a missing SSL_CERT_DIR directory is "
        "skipped with a warning, as OpenSSL skips it", err[-300:])
h.finish()
