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
"""authd through the real daemon: IMAP LOGIN at the proxy, every grant
against the regress OAuth server, Dovecot upstream checking the token by
introspection (so a login that says OK proves the token reached tokend
and the proxy).

Grants: authorization code with PKCE (redirect on authd's own listener,
and pasted into emailproxyctl authorise), device, client credentials,
password, Google service account (key file), Entra certificate
credentials, refresh.  Failures, each a NO to the client and a log line:
token endpoint down, slow past http_timeout, 500, 429 with Retry-After,
non-JSON, invalid_grant on refresh (the grant runs again), device
code expired, redirect with error=access_denied, redirect with a wrong
state (ignored; the right one still completes).  One account's token
request held 5 s does not hold up another's login.  The -vv log holds
none of the secrets used.
"""

import base64
import datetime
import hashlib
import json
import os
import re
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

AUTH = "auth@example.com"
AUTH2 = "auth2@example.com"
DEVICE = "device@example.com"
CCG = "ccg@example.com"
ROPC = "ropc@example.com"
SA = "sa@example.com"
ENTRA = "entra@example.com"
SLOW = "slow@example.com"
FAST = "fast@example.com"
DOWN = "down@example.com"
REFRESH = "refresh@example.com"
FAIL = "fail@example.com"
AUTH3 = "auth3@example.com"
DEVICE2 = "device2@example.com"
PASSWORD = "imap-pw-6c1e"
ROPC_PASSWORD = "ropc-pw-91d3"

h = Harness("authd_grants")
h.start_dovecot()
oauth = h.oauth
secrets = [PASSWORD, ROPC_PASSWORD]
if oauth.client_secret:
    secrets.append(oauth.client_secret)


def pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


# Google service-account key (a file, client_id = file).
sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
sa_json = {"type": "service_account", "project_id": "regress",
           "private_key_id": "kid-42", "private_key": pem_key(sa_key),
           "client_email": "svc@regress.iam.gserviceaccount.com",
           "token_uri": oauth.token_url}
with open(h.path("sa.json"), "w") as f:
    json.dump(sa_json, f)
oauth.set(jwt_public_key=sa_key.public_key().public_bytes(
    serialization.Encoding.PEM,
    serialization.PublicFormat.SubjectPublicKeyInfo).decode())
secrets.append(pem_key(sa_key).split("\n")[2])

# Entra client certificate and key.
en_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "regress")])
now = datetime.datetime.now(datetime.timezone.utc)
en_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
           .public_key(en_key.public_key())
           .serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(days=1))
           .not_valid_after(now + datetime.timedelta(days=2))
           .sign(en_key, hashes.SHA256()))
en_cert_pem = en_cert.public_bytes(serialization.Encoding.PEM).decode()
with open(h.path("entra.crt"), "w") as f:
    f.write(en_cert_pem)
with open(h.path("entra.key"), "w") as f:
    f.write(pem_key(en_key))
oauth.set(client_cert=en_cert_pem)
secrets.append(pem_key(en_key).split("\n")[2])

common = ("token_url = %s\noauth2_scope = mail\nclient_id = %s\n"
          % (oauth.token_url, oauth.client_id))
if oauth.client_secret:
    common += "client_secret = %s\n" % oauth.client_secret
sections = [
    "[%s]\npermission_url = %s\n%sredirect_uri = REDIRECT\n"
    % (AUTH2, oauth.authorize_url, common),
    "[%s]\npermission_url = %s\n%sredirect_uri = REDIRECT\n"
    % (AUTH3, oauth.authorize_url, common),
    "[%s]\npermission_url = %s\noauth2_flow = device\n%s"
    % (DEVICE, oauth.devicecode_url, common),
    "[%s]\npermission_url = %s\noauth2_flow = device\n%s"
    % (DEVICE2, oauth.devicecode_url, common),
    "[%s]\noauth2_flow = service_account\ntoken_url = %s\n"
    "oauth2_scope = mail\nclient_id = file\nclient_secret = %s\n"
    % (SA, oauth.token_url, h.path("sa.json")),
    "[%s]\noauth2_flow = client_credentials\ntoken_url = %s\n"
    "oauth2_scope = mail\nclient_id = %s\njwt_certificate_path = %s\n"
    "jwt_key_path = %s\n" % (ENTRA, oauth.token_url, oauth.client_id,
                             h.path("entra.crt"), h.path("entra.key")),
    "[%s]\noauth2_flow = password\n%s" % (SLOW, common),
    "[%s]\noauth2_flow = password\n%s" % (FAST, common),
    "[%s]\noauth2_flow = password\n%s" % (REFRESH, common),
    "[%s]\noauth2_flow = password\n%s" % (FAIL, common),
    "[%s]\noauth2_flow = client_credentials\ntoken_url = "
    "https://127.0.0.1:%d/token\noauth2_scope = mail\nclient_id = %s\n"
    "client_secret = x\n" % (DOWN, h.free_port(), oauth.client_id),
]
conf = h.standard_config(
    pop=False, smtp=False,
    extra_globals="kdf_iterations = 100000\nrefresh_ahead = 0\n"
                  "http_timeout = 8\nauth_timeout = 60\nauth_wait = 60",
    extra="\n".join(sections))
redirect_uri = h.accounts[AUTH]["redirect_uri"]
# Both code-grant accounts share one redirect listener: state tells them
# apart.
conf = conf.replace("redirect_uri = REDIRECT", "redirect_uri = " +
                    redirect_uri)
conf = conf.replace("[%s]\n" % AUTH, "[%s]\nuse_pkce = True\n" % AUTH)
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


class Background:
    """A login in a thread (it waits for a person)."""

    def __init__(self, user, password=PASSWORD):
        self.result = None
        self.t = threading.Thread(target=self._run, args=(user, password))
        self.t.start()

    def _run(self, user, password):
        try:
            self.result = login(user, password, timeout=60)
        except Exception as e:  # noqa: BLE001 -- reported as a result
            self.result = "exception: %r" % e

    def wait(self, timeout=60):
        self.t.join(timeout)
        return self.result or ""


def browser_get(url):
    """The person's browser: (status, body str); no proxy, test CA."""
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=h.client_ctx()))
    try:
        with opener.open(url, timeout=10) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def pending_url(account, since, code=False):
    pat = (r"account %s needs authorisation: visit (\S+)%s"
           % (re.escape(account), r" and enter code (\S+)" if code else ""))
    return h.wait_log(pat, timeout=15, since=since)


def last_token_request(grant=None):
    for r in reversed(oauth.requests()):
        if r["path"] == "/token" and (grant is None or
                                      r.get("grant_type") == grant):
            return r
    return None


def b64url_sha256(s):
    return base64.urlsafe_b64encode(
        hashlib.sha256(s.encode()).digest()).decode().rstrip("=")


def authorize(account, since, **approve):
    """Visit the logged URL and approve; returns (url, redirect)."""
    m = pending_url(account, since)
    if m is None:
        return None, None
    browser_get(m.group(1))
    redirect = oauth.approve(login_hint=account, **approve)
    secrets.extend(urllib.parse.parse_qs(
        urllib.parse.urlsplit(redirect).query).get("code", []))
    return m.group(1), redirect


# -- authorization code with PKCE, via the redirect listener ------------
mark = h.log_mark()
bg = Background(AUTH)
url, redirect = authorize(AUTH, mark)
h.check(url is not None, "code grant: the authorisation URL is logged at "
        "notice level", h.log_text()[-500:])
out = h.emailproxyctl("-s", h.path("ctl.sock"), "show", "pending")
text = (out.stdout or b"").decode() + (out.stderr or b"").decode()
h.check(url is not None and url in text, "code grant: emailproxyctl show "
        "pending shows the URL", text)
status, page = browser_get(redirect) if redirect else (0, "")
h.check(status == 200 and "received the authorisation for account " + AUTH
        in page, "code grant: the redirect listener answers a success "
        "page", "%d %s" % (status, page[:200]))
r = bg.wait()
h.check(r.startswith("a OK"), "code grant: the login completes", r)
q = urllib.parse.parse_qs(urllib.parse.urlsplit(url or "").query)
tr = last_token_request("authorization_code") or {"form": {}}
verifier = tr["form"].get("code_verifier", "")
secrets.append(verifier)
h.check(q.get("code_challenge_method") == ["S256"] and
        q.get("code_challenge") == [b64url_sha256(verifier)],
        "code grant: code_verifier matches the S256 challenge",
        json.dumps(tr["form"]))
h.check(len(q.get("state", [""])[0]) == 22 and
        tr["form"].get("redirect_uri") == redirect_uri and
        tr["headers"].get("user-agent", "").startswith("emailproxy/"),
        "code grant: 22-character state, redirect_uri and User-Agent",
        json.dumps(tr.get("headers", {})))

# -- the same grant pasted into emailproxyctl authorise ---------------
mark = h.log_mark()
bg = Background(AUTH2)
url, redirect = authorize(AUTH2, mark)
out = h.emailproxyctl("-s", h.path("ctl.sock"), "authorise", AUTH2,
                      redirect or "")
r = bg.wait()
h.check(out.returncode == 0 and r.startswith("a OK"),
        "emailproxyctl authorise with the pasted URL completes the login",
        "%s %r" % (r, out.stderr))

# -- device grant ------------------------------------------------------
mark = h.log_mark()
bg = Background(DEVICE)
m = pending_url(DEVICE, mark, code=True)
h.check(m is not None, "device grant: URI and user code logged", "")
if m is not None:
    oauth.approve_device(user_code=m.group(2))
r = bg.wait()
h.check(r.startswith("a OK"), "device grant: the login completes", r)
dc = [x for x in oauth.requests() if x["path"] == "/devicecode"]
h.check(dc and dc[-1]["method"] == "POST" and
        dc[-1]["form"].get("client_id") == oauth.client_id,
        "device grant: the device code request is a form POST", str(dc))

# -- client credentials, password, service account, Entra --------------
r = login(CCG)
h.check(r.startswith("a OK"), "client credentials: login", r)
r = login(ROPC, ROPC_PASSWORD)
tr = last_token_request("password") or {"form": {}}
h.check(r.startswith("a OK") and tr["form"].get("username") == ROPC and
        tr["form"].get("password") == ROPC_PASSWORD,
        "password grant: login with username and password sent", r)
r = login(SA)
tr = last_token_request("urn:ietf:params:oauth:grant-type:jwt-bearer") or {}
jwt = tr.get("jwt") or {}
claims = jwt.get("claims") or {}
secrets.append(tr.get("form", {}).get("assertion", "-"))
h.check(r.startswith("a OK") and jwt.get("signature_valid") is True and
        claims.get("sub") == SA and
        claims.get("iss") == sa_json["client_email"] and
        claims.get("aud") == oauth.token_url and
        jwt.get("header", {}).get("kid") == "kid-42",
        "service account: login; RS256 assertion verified, sub/iss/kid, "
        "aud = the key file's token_uri",
        "%s %s" % (r, json.dumps(jwt)))
oauth.set(ccg_user=ENTRA)
r = login(ENTRA)
tr = last_token_request("client_credentials") or {}
ca = tr.get("client_assertion") or {}
secrets.append(tr.get("form", {}).get("client_assertion", "-"))
h.check(r.startswith("a OK") and ca.get("signature_valid") is True and
        ca.get("x5t_valid") is True and
        (ca.get("claims") or {}).get("aud") == oauth.token_url,
        "certificate credentials: login; assertion signature and x5t#S256 "
        "verified, aud = token_url", "%s %s" % (r, json.dumps(ca)))
oauth.set(ccg_user=CCG)

# -- refresh, then invalid_grant on refresh ---------------------------
oauth.set(expires_in=2)
r = login(REFRESH, ROPC_PASSWORD)
oauth.set(expires_in=2)
time.sleep(2.5)
before = dict(oauth.stats()["token"])
r = login(REFRESH, ROPC_PASSWORD)
after = oauth.stats()["token"]
h.check(r.startswith("a OK") and after.get("refresh_token", 0) ==
        before.get("refresh_token", 0) + 1 and
        after.get("password") == before.get("password"),
        "refresh: an expired token is refreshed (one refresh_token "
        "request, no new grant)", "%s %s" % (r, after))
time.sleep(2.5)
oauth.set(refresh_invalid_grant=1, expires_in=3600)
mark = h.log_mark()
before = dict(oauth.stats()["token"])
r = login(REFRESH, ROPC_PASSWORD)
after = oauth.stats()["token"]
oauth.set(refresh_invalid_grant=0)
h.check(h.wait_log(r"refresh request refused \(HTTP 400\): invalid_grant.*"
                   r"\(invalid grant failure\)", timeout=5, since=mark)
        is not None, "invalid_grant on refresh: classified and logged",
        h.log_text()[mark:][-800:])
h.check(r.startswith("a OK") and after.get("password", 0) ==
        before.get("password", 0) + 1, "invalid_grant on refresh: the "
        "refresh token is dropped and the grant runs again", "%s %s"
        % (r, after))

# -- one slow account does not hold up another -------------------------
oauth.set(token_delay=5, delay_user=SLOW)
t0 = time.monotonic()
slow = Background(SLOW, ROPC_PASSWORD)
time.sleep(0.3)
r = login(FAST, ROPC_PASSWORD)
fast_took = time.monotonic() - t0
rs = slow.wait()
slow_took = time.monotonic() - t0
oauth.set(token_delay=0, delay_user="")
h.check(r.startswith("a OK") and fast_took < 3, "concurrency: another "
        "account logs in at once (%.1f s) while one token request is held "
        "5 s" % fast_took, r)
h.check(rs.startswith("a OK") and slow_took >= 4.5, "concurrency: the "
        "held login completes afterwards (%.1f s)" % slow_took, rs)


# -- failures: each a NO with the reason, and a log line -----------------
def expect_no(what, user, password, pattern, logpat, **setting):
    oauth.set(**setting)
    mark = h.log_mark()
    t0 = time.monotonic()
    r = login(user, password)
    took = time.monotonic() - t0
    oauth.set(**{k: 0 for k in setting})
    h.check(r.startswith("a NO") and re.search(pattern, r) is not None,
            "failure: %s -> NO to the client (%.1f s)" % (what, took), r)
    h.check(h.wait_log(logpat, timeout=5, since=mark) is not None,
            "failure: %s is logged" % what, h.log_text()[mark:][-600:])
    return took


expect_no("token endpoint down", DOWN, PASSWORD, r"internet connection",
          r"request failed: .*(refused|connect)")
took = expect_no("slow past http_timeout (8 s)", FAIL, ROPC_PASSWORD,
                 r"internet connection", r"(timed out|Timeout)",
                 token_delay=12)
h.check(took < 11, "failure: the slow request gave up after http_timeout",
        "%.1f s" % took)
expect_no("HTTP 500", FAIL, ROPC_PASSWORD, r"HTTP 500",
          r"HTTP 500.*\(transient failure\)", token_status=500)
expect_no("HTTP 429 with Retry-After", FAIL, ROPC_PASSWORD,
          r"retry after 30 s", r"HTTP 429.*\(transient failure\)",
          retry_after=30)
expect_no("non-JSON body", FAIL, ROPC_PASSWORD, r"not JSON",
          r"not JSON.*\(transient failure\)", token_body_nonjson=1)
oauth.set(token_error="invalid_client")
expect_no("401 invalid_client", FAIL, ROPC_PASSWORD, r"invalid_client",
          r"invalid_client.*\(permanent failure\)", token_status=401)
oauth.set(token_error="server_error")
expect_no("device code expired", DEVICE2, PASSWORD, r"expired",
          r"device code expired.*\(expired failure\)", device_expired=1)

mark = h.log_mark()
bg = Background(AUTH3)
url, redirect = authorize(AUTH3, mark, error="access_denied")
status, page = browser_get(redirect) if redirect else (0, "")
r = bg.wait()
h.check("access_denied" in page, "failure: the redirect page shows the "
        "provider's error", page[:300])
h.check(r.startswith("a NO") and "OAuth 2.0 authorisation error for "
        "account %s: access_denied" % AUTH3 in r,
        "failure: redirect with error=access_denied -> NO with the "
        "provider's error", r)

mark = h.log_mark()
bg = Background(AUTH3)
url, redirect = authorize(AUTH3, mark, bad_state=1)
status, page = browser_get(redirect) if redirect else (0, "")
h.check(status == 400 and h.wait_log(r"unknown state: ignored", timeout=5,
                                     since=mark) is not None,
        "failure: a redirect with a wrong state is refused and logged",
        "%d %s" % (status, page[:200]))
time.sleep(0.5)
h.check(bg.result is None, "failure: a wrong state does not end the "
        "waiting login", str(bg.result))
browser_get(url)
redirect = oauth.approve(login_hint=AUTH3)
secrets.extend(urllib.parse.parse_qs(
    urllib.parse.urlsplit(redirect).query).get("code", []))
browser_get(redirect)
r = bg.wait()
h.check(r.startswith("a OK"), "failure: after a wrong state the right "
        "redirect still completes the login", r)

# -- no secret in the -vv log ------------------------------------------
for req in oauth.requests():
    for k in ("token", "refresh_token", "code", "code_verifier",
              "device_code", "assertion", "client_assertion", "password"):
        v = req.get("form", {}).get(k)
        if isinstance(v, str) and len(v) >= 8:
            secrets.append(v)
log = h.log_text()
leaks = [s[:6] + "..." for s in set(secrets) if s and s in log]
h.check(len(secrets) > 20 and not leaks, "none of the %d secrets used "
        "appears in the -vv log" % len(set(secrets)), str(leaks))
h.finish()
