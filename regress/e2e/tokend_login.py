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
"""tokend through the real daemon: IMAP LOGIN at the proxy, tokens from
the regress OAuth server (password grant), Dovecot upstream.

Checks: the first login obtains a token and stores it (0600 record, no
secret in clear); later logins, a restart and 20 concurrent logins with
an expired token cost the OAuth server exactly one request each time; a
wrong password gets the Python proxy's text and changes nothing; a Python-proxy
cache in the config (made now with the Python algorithm) logs in with no
new authorisation; emailproxyctl shows the account unlocked.  Refresh
ahead is off (refresh_ahead = 0) so that the expired token really meets
20 logins at once.
"""

import base64
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

from cryptography.fernet import Fernet  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC  # noqa

ROPC = "ropc@example.com"
PY = "py@example.com"


def python_cache(password, access, refresh, expiry, iterations=1200000):
    """The cached keys the Python proxy writes (Fernet, PBKDF2 salt)."""
    salt = os.urandom(16)
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt,
                     iterations=iterations)
    f = Fernet(base64.urlsafe_b64encode(kdf.derive(password.encode())))
    return ("token_salt = %s\ntoken_iterations = %d\n"
            "access_token = %s\naccess_token_expiry = %d\n"
            "refresh_token = %s\n"
            % (base64.b64encode(salt).decode(), iterations,
               f.encrypt(access.encode()).decode(), expiry,
               f.encrypt(refresh.encode()).decode()))


h = Harness("tokend_login")
h.start_dovecot()
oauth = h.oauth
minted = oauth.admin("/admin/mint", username=PY)
oauth.set(ropc_password="right", expires_in=3)
common = ("token_url = %s\noauth2_scope = mail\nclient_id = %s\n"
          % (oauth.token_url, oauth.client_id))
if oauth.client_secret:
    common += "client_secret = %s\n" % oauth.client_secret
py_section = ("[%s]\noauth2_flow = password\n%s%s"
              % (PY, common, python_cache("py pass", minted["access_token"],
                                          minted["refresh_token"],
                                          int(time.time()) + 3000)))
conf = h.standard_config(
    pop=False, smtp=False,
    extra_globals="kdf_iterations = 100000\n"
                  "refresh_ahead = 0\n"
                  "delete_account_token_on_password_error = False",
    extra=py_section + "\n[slow@example.com]\noauth2_flow = password\n"
    + common + "\n[first@example.com]\noauth2_flow = password\n" + common)
h.start_emailproxy(conf)
port = h.proxy_ports["imap"]


def login(user, password):
    """IMAP LOGIN through the proxy: the tagged answer line (str)."""
    c = h.connect(port, timeout=30)
    try:
        c.readline()
        c.send(b'a LOGIN "%s" "%s"\r\n' % (user.encode(),
                                           password.encode()))
        return c.read_until(rb"^a (OK|NO|BAD)")[-1].decode(
            "utf-8", "replace").strip()
    finally:
        c.close()


def grants(kind):
    return oauth.stats().get("token", {}).get(kind, 0)


# First login: trust on first use, a 3 s token (refresh ahead is off).
r = login(ROPC, "right")
h.check(r.startswith("a OK"), "first login obtains a token", r)
h.check(grants("password") == 1, "one password grant at the OAuth server",
        str(oauth.stats()))
rec = h.path("store", ROPC + ".json")
try:
    st = os.stat(rec)
    text = open(rec).read()
    h.check(st.st_mode & 0o777 == 0o600, "record written with mode 0600",
            oct(st.st_mode))
    h.check('"version": 1' in text and '"aead": "aes-256-gcm"' in text,
            "record is the documented JSON", text[:200])
except OSError as e:
    h.check(False, "record written with mode 0600", str(e))

# The token expires; 20 logins at once share one refresh.
oauth.set(expires_in=3600)
time.sleep(4)
results = []


def worker():
    results.append(login(ROPC, "right"))


threads = [threading.Thread(target=worker) for _ in range(20)]
for t in threads:
    t.start()
for t in threads:
    t.join(60)
h.check(len(results) == 20 and all(x.startswith("a OK") for x in results),
        "20 concurrent logins with an expired token succeed",
        repr(results[:3]))
h.check(grants("refresh_token") == 1 and grants("password") == 1,
        "exactly one refresh request for the 20 logins", str(oauth.stats()))

before = dict(oauth.stats().get("token", {}))
r = login(ROPC, "right")
h.check(r.startswith("a OK") and oauth.stats().get("token", {}) == before,
        "a warm login does not reach the OAuth server", r)

mark = h.log_mark()
r = login(ROPC, "wrong")
h.check(r.startswith("a NO") and "emailproxy: Login failed - the password "
        "for account %s is incorrect" % ROPC in r,
        "wrong password: NO with the password-incorrect text", r)
h.check(oauth.stats().get("token", {}) == before,
        "a wrong password asks the OAuth server nothing", str(oauth.stats()))
r = login(ROPC, "right")
h.check(r.startswith("a OK"), "the right password still works", r)

# Restart: the record is unlocked from disk, no new token.
h.stop_emailproxy()
h.start_emailproxy(conf)
r = login(ROPC, "right")
h.check(r.startswith("a OK") and oauth.stats().get("token", {}) == before,
        "after a restart the stored token is used", r)

# Import of the Python proxy's cache.
mark = h.log_mark()
r = login(PY, "py pass")
h.check(r.startswith("a OK"), "imported Python-proxy tokens log in", r)
h.check(oauth.stats().get("token", {}) == before,
        "import needs no new authorisation", str(oauth.stats()))
h.check(h.wait_log(r"imported tokens of %s from the Python proxy's cache"
                   % re.escape(PY), since=mark) is not None,
        "the import is logged", "")

# A client that leaves while tokend waits for the OAuth server.
SLOW = "slow@example.com"
mark = h.log_mark()
oauth.set(token_delay=4)
c = h.connect(port, timeout=30)
c.readline()
c.send(b'a LOGIN "%s" "right"\r\n' % SLOW.encode())
h.wait_log(r"%s: token request \d+ to authd|audit: .*account=%s"
           % (re.escape(SLOW), re.escape(SLOW)), timeout=5, since=mark)
c.close()
m = h.wait_log(r"audit: result=(\S+) proto=IMAP .* account=%s$"
               % re.escape(SLOW), timeout=10, since=mark)
oauth.set(token_delay=0)
h.check(m is not None and m.group(1) == "aborted",
        "a client that leaves while its login is decided gets an audit "
        "line (result=aborted)", m.group(0) if m else "no audit line")

# A wrong password at an account's first login (the provider refuses it).
FIRST = "first@example.com"
mark = h.log_mark()
r = login(FIRST, "wrong")
m = h.wait_log(r"audit: result=(\S+) proto=IMAP .* account=%s$"
               % re.escape(FIRST), timeout=10, since=mark)
h.check(r.startswith("a NO") and m is not None and m.group(1) != "ok",
        "a wrong password at a first login gets an audit line",
        "%r %s" % (r, m.group(0) if m else "no audit line"))

out = h.emailproxyctl("-s", h.path("ctl.sock"), "show", "accounts")
text = (out.stdout or b"").decode() + (out.stderr or b"").decode()
h.check(out.returncode == 0 and re.search(
    r"%s\s+unlocked" % re.escape(ROPC), text) is not None,
    "emailproxyctl shows the account unlocked", text)
log = h.log_text()
h.check("right" not in re.sub(r"ropc_password=right", "", log) and
        minted["access_token"] not in log,
        "no password or token in the log", "")
h.finish()
