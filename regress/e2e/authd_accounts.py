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
"""Which accounts log in, through the real daemon (IMAP LOGIN at the
proxy, Dovecot upstream checking the token by introspection):

- what `emailproxy -n` accepts, tokend and authd serve: a password-grant
  account with oauth2_resource and no oauth2_scope logs in, and its token
  request carries the resource and no scope;
- an account still holding the Python proxy's sample text in client_id
  or client_secret passes `-n` with a warning but is refused at login
  with a clear NO and a log line, and nothing reaches the provider;
- an authorization-code account whose redirect_uri comes from a
  catch-all section and permission_url from its own section gets its
  redirect listener, and the browser's redirect completes the login.
"""

import os
import subprocess
import sys
import threading
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

RES = "resource@example.com"
SAMPLE_ID = "sampleid@example.com"
SAMPLE_SECRET = "samplesecret@example.com"
CATCH = "person@example.org"
PASSWORD = "imap-pw-40c2"
ROPC_PASSWORD = "ropc-pw-7ab3"
RESOURCE = "https://resource.example.com"

h = Harness("authd_accounts")
h.start_dovecot()
oauth = h.oauth
secret = "client_secret = %s\n" % oauth.client_secret \
    if oauth.client_secret else ""
redirect_port = h.free_port()
redirect_uri = "http://127.0.0.1:%d/catchall" % redirect_port
sections = [
    # No oauth2_scope: the resource is enough for the password grant.
    "[%s]\noauth2_flow = password\ntoken_url = %s\noauth2_resource = %s\n"
    "client_id = %s\n%s" % (RES, oauth.token_url, RESOURCE,
                            oauth.client_id, secret),
    "[%s]\noauth2_flow = client_credentials\ntoken_url = %s\n"
    "oauth2_scope = mail\nclient_id = *** your client id here ***\n%s"
    % (SAMPLE_ID, oauth.token_url, secret),
    "[%s]\noauth2_flow = client_credentials\ntoken_url = %s\n"
    "oauth2_scope = mail\nclient_id = %s\nclient_secret = *** your client "
    "secret here (remove this entire line if a secret is not required) "
    "***\n" % (SAMPLE_SECRET, oauth.token_url, oauth.client_id),
    # Only the permission_url here; everything else from [@example.org].
    "[%s]\npermission_url = %s\n" % (CATCH, oauth.authorize_url),
    "[@example.org]\ntoken_url = %s\noauth2_scope = mail\nclient_id = %s\n"
    "%sredirect_uri = %s\n" % (oauth.token_url, oauth.client_id, secret,
                               redirect_uri),
]
conf = h.standard_config(
    pop=False, smtp=False,
    extra_globals="kdf_iterations = 100000\nallow_catch_all_accounts = "
                  "True\nauth_timeout = 60\nauth_wait = 60",
    extra="\n".join(sections))
conf_path = h.path("check.conf")
with open(conf_path, "w") as f:
    f.write(h.fill_config(conf))
os.chmod(conf_path, 0o600)
r = subprocess.run([h.emailproxy_bin, "-n", "-f", conf_path],
                   capture_output=True, text=True, timeout=30)
out = r.stdout + r.stderr
h.check(r.returncode == 0 and "configuration OK" in out,
        "emailproxy -n accepts the file (resource without scope, catch-all "
        "redirect_uri)", out[-800:])
h.check("[%s]: client_id still holds the sample text" % SAMPLE_ID in out and
        "[%s]: client_secret still holds the sample text" % SAMPLE_SECRET
        in out, "emailproxy -n warns about the sample client_id and "
        "client_secret", out[-800:])
h.check("[%s]" % RES not in out and "[%s]" % CATCH not in out,
        "emailproxy -n reports no gap for the resource and the catch-all "
        "accounts", out[-800:])

h.start_emailproxy(conf)
port = h.proxy_ports["imap"]
oauth.set(ropc_password=ROPC_PASSWORD)


def login(user, password=PASSWORD, timeout=40):
    """IMAP LOGIN through the proxy: the tagged answer line (str)."""
    c = h.connect(port, timeout=timeout)
    try:
        c.readline()
        c.send(b'a LOGIN "%s" "%s"\r\n' % (user.encode(),
                                           password.encode()))
        return c.read_until(rb"^a (OK|NO|BAD)")[-1].decode(
            "utf-8", "replace").strip()
    finally:
        c.close()


def token_requests():
    return [x for x in oauth.requests() if x["path"] == "/token"]


# -- password grant with a resource and no scope ------------------------
mark = h.log_mark()
r = login(RES, ROPC_PASSWORD)
tr = [x for x in token_requests() if x["form"].get("username") == RES]
h.check(r.startswith("a OK"), "password grant with oauth2_resource and no "
        "oauth2_scope: the login completes", r + " " +
        h.log_text()[mark:][-600:])
h.check(tr and tr[-1]["form"].get("resource") == RESOURCE and
        "scope" not in tr[-1]["form"], "password grant: the token request "
        "has the resource and no scope", str(tr[-1:]))

# -- the sample's placeholders: refused, nothing sent -------------------
for who, key in ((SAMPLE_ID, "client_id"), (SAMPLE_SECRET,
                                              "client_secret")):
    before = len(token_requests())
    mark = h.log_mark()
    r = login(who)
    h.check(r.startswith("a NO") and "%s still holds the sample text" % key
            in r, "%s from the sample: the login is refused with a clear "
            "message" % key, r)
    h.check(h.wait_log(r"account %s: .*%s still holds the sample text"
                       % (who, key), timeout=5, since=mark) is not None,
            "%s from the sample: the refusal is logged" % key,
            h.log_text()[mark:][-600:])
    h.check(len(token_requests()) == before and
            "your client" not in str(oauth.requests()),
            "%s from the sample: nothing is sent to the provider" % key,
            str(oauth.requests()[-1:]))

# -- redirect_uri from a catch-all, permission_url from the account ----
result = {}


def background():
    try:
        result["r"] = login(CATCH, timeout=60)
    except Exception as e:  # noqa: BLE001 -- reported as a result
        result["r"] = "exception: %r" % e


mark = h.log_mark()
t = threading.Thread(target=background)
t.start()
m = h.wait_log(r"account %s needs authorisation: visit (\S+)" % CATCH,
               timeout=15, since=mark)
h.check(m is not None, "catch-all redirect_uri: the authorisation is "
        "pending", h.log_text()[mark:][-600:])
redirect = None
if m is not None:
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(m.group(1)).query)
    h.check(q.get("redirect_uri") == [redirect_uri], "catch-all "
            "redirect_uri: the permission URL carries the catch-all's "
            "redirect_uri", str(q.get("redirect_uri")))
    # The person's browser visits the permission URL.
    urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=h.client_ctx())).open(
            m.group(1), timeout=10).read()
    redirect = oauth.approve(login_hint=CATCH)
status, page = 0, ""
if redirect:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(redirect, timeout=10) as resp:
            status, page = resp.status, resp.read().decode("utf-8",
                                                           "replace")
    except urllib.error.HTTPError as e:
        status, page = e.code, e.read().decode("utf-8", "replace")
    except OSError as e:
        page = "no listener: %r" % e
h.check(status == 200 and "received the authorisation for account " + CATCH
        in page, "catch-all redirect_uri: authd listens on it and answers "
        "the browser's redirect", "%d %s" % (status, page[:200]))
t.join(60)
r = result.get("r", "")
h.check(r.startswith("a OK"), "catch-all redirect_uri: the login "
        "completes", r)
h.finish()
