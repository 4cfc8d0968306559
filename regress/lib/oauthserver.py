#!/usr/bin/python3
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
"""A scripted OAuth 2.0 authorisation server for the regression tests.

Python stdlib + `cryptography` only; run it with /usr/bin/python3.  It
listens on 127.0.0.1 only, HTTPS when given a certificate, plain HTTP
otherwise.  Every request is served in its own thread, so a delayed token
request never holds up another one.

As a program
------------
    /usr/bin/python3 regress/lib/oauthserver.py --port P \
        [--cert CERT --key KEY] [--ready-file F] \
        [--client-id ID --client-secret S] \
        [--introspect-user U --introspect-password P] [--verbose]

--port 0 picks a free port.  Once listening it writes the ready file
atomically (write + rename): line 1 the port number, line 2 the base URL
(e.g. "https://127.0.0.1:40123").  SIGTERM/SIGINT stop it (exit 0).
--verbose logs one line per request to stderr.

As a module
-----------
    sys.path.insert(0, os.path.join(top, "regress/lib"))
    from oauthserver import OAuthServer
    srv = OAuthServer(port=0, cert=None, key=None, client_id=None,
                      client_secret=None, introspect_user=None,
                      introspect_password=None, verbose=False)
    srv.start()                  # binds, serves in a daemon thread
    srv.port, srv.url            # bound port, base URL
    srv.admin("/admin/set", token_status=500)   # any admin endpoint -> JSON
    srv.set(expires_in=60)       # same as /admin/set, no HTTP
    srv.set_jwt_public_key(pem)  # service-account public key (PEM str/bytes)
    srv.set_client_cert(pem)     # Entra client certificate (PEM)
    srv.requests()               # same as /admin/requests
    srv.approve(login_hint)      # same as /admin/approve, returns the URL
    srv.approve_device(user_code)
    srv.mint(username)           # a live access token for that user
    srv.reset()
    srv.stop()
    srv.fetch(url)               # GET any URL (e.g. an approve redirect),
                                 # returns (status, body bytes); never
                                 # verifies certificates (tests only)

Client authentication
---------------------
If a client id is configured, every token/devicecode request (except the
jwt-bearer grant) must carry it, else 401 invalid_client.  If a client
secret is configured, a token request must carry client_secret equal to it
or a valid client_assertion (see below), else 401 invalid_client; with no
configured secret any secret or none is accepted (public client).

Endpoints
---------
GET /authorize
    Authorization-code endpoint (parameters: client_id,
    redirect_uri, scope, response_type, access_type, login_hint, state,
    code_challenge, code_challenge_method).  Records a pending request
    (all query parameters) and answers a small HTML page.

    With the setting consent_page=1 the page is a consent screen
    instead: an "Allow" link (id "allow") to GET /consent?login_hint=X,
    which approves that request as /admin/approve does and answers 302
    with the redirect in Location (a person's browser then follows it).

GET /admin/approve?login_hint=X[&error=access_denied][&bad_state=1]
    Approves the most recent pending /authorize request for login hint X
    (or the most recent of all without login_hint).  Returns
    {"redirect": "<redirect_uri>?code=...&state=..."} ('&' if redirect_uri
    has a query).  error=E gives "?error=E&error_description=...&state=..."
    instead; bad_state=1 replaces the state with a wrong one.  The test
    then fetches the redirect URL (authd's redirect listener).  404 with
    {"error": ...} when nothing is pending.

POST /devicecode
    RFC 8628 device authorisation request (form POST; GET with a query is
    accepted too and recorded as such).  The user is the login_hint field
    (or the device_user setting).  Answers device_code, user_code,
    verification_uri (<base>/device), verification_uri_complete,
    expires_in (setting device_expires_in, default 600) and interval
    (setting device_interval, default 1).

GET /admin/approve_device?user_code=C[&error=access_denied]
    Approves (or denies) that device code; without user_code the most
    recent one.  Returns {"approved": user_code}.

POST /token, by grant_type:
    authorization_code   code must be live and unused, redirect_uri must
                         equal the one given to /authorize, and with a
                         code_challenge the code_verifier must match (S256)
                         -> else 400 invalid_grant.
    refresh_token        the refresh token must be live; setting rotate=1
                         issues a new refresh token and revokes the old
                         one (rotate=0: no refresh_token in the answer);
                         refresh_invalid_grant=1 -> 400 invalid_grant.
    urn:ietf:params:oauth:grant-type:device_code
                         400 authorization_pending until approved,
                         slow_down while the slow_down counter is > 0 (each
                         answer decrements it), expired_token when the
                         device code expired or device_expired=1,
                         access_denied when denied.
    client_credentials   user = setting ccg_user (default: the client_id).
    password             username, password (must equal setting
                         ropc_password if set, else any non-empty one),
                         scope, resource recorded.
    urn:ietf:params:oauth:grant-type:jwt-bearer
                         Google service account: the assertion must be an
                         RS256 JWT whose signature verifies with the key
                         registered by set_jwt_public_key() or
                         /admin/set?jwt_public_key=<PEM>, with exp in the
                         future and aud equal to this server's token
                         endpoint (<base>/token, RFC 7523 section 3);
                         user = its sub (else iss).
    client_assertion     (any grant) client_assertion_type
                         urn:ietf:params:oauth:client-assertion-type:
                         jwt-bearer + client_assertion: RS256 signature
                         checked with the registered client certificate
                         (set_client_cert() or /admin/set?client_cert=PEM)
                         and header x5t#S256 must equal base64url(SHA-256
                         (DER cert)) with '=' padding; otherwise 401
                         invalid_client.
    Success: {"access_token", "token_type": "Bearer", "expires_in"
    (setting expires_in, default 3600; a string when expires_in_string=1),
    "scope", ["refresh_token"]}.  Refresh tokens are issued for the
    authorization_code, device and password grants unless no_refresh=1.
    Unknown grant -> 400 unsupported_grant_type.

POST /introspect  (RFC 7662)
    Token from the form field `token`, the query `?token=` (Dovecot's
    "get" mode) or an "Authorization: Bearer" header (Dovecot's "auth"
    mode).  With --introspect-user, the form/query modes need HTTP basic
    auth with those credentials (else 401).  Answers {"active": true,
    "username": U, "email": U, "sub": U, "scope", "client_id", "exp",
    "token_type": "Bearer"} for a live issued token, {"active": false}
    otherwise.  U = the token's user (login_hint for auth code and device,
    username for password, JWT sub for service account, ccg_user for
    client credentials, the original user for refresh).  GET works too.

CONNECT host:port
    The server is also an HTTP proxy for loopback targets (127.0.0.1,
    localhost, ::1), so a test can check that a client honours
    https_proxy: run a second instance without --cert and point the
    client at http://127.0.0.1:<its port>.  Each CONNECT is recorded in
    /admin/requests (method "CONNECT", path "host:port"); others get 403.

Admin endpoints (GET, JSON answers)
    /admin/requests   list of every request received, oldest first:
                      {"method", "path", "query": {k: v}, "form": {k: v},
                      "form_keys": [names in order], "headers":
                      {lower-case name: value}, "time": float,
                      "grant_type", "user", "jwt": {...} (for a jwt-bearer
                      assertion), "client_assertion": {...}}.  A jwt
                      record is {"header", "claims", "signature_valid",
                      "x5t_valid" (client assertions)}.  A repeated field
                      gives a list.
    /admin/reset      clears requests, stats, settings, pending
                      authorisations, codes and device codes (issued tokens
                      and registered keys stay; ?all=1 clears them too).
    /admin/revoke?token=T | ?username=U   revokes (access and refresh).
    /admin/mint?username=U   {"access_token", "refresh_token",
                      "expires_in"}: live tokens for U.
    /admin/stats      {"token": {grant_type: n}, "devicecode": n,
                      "authorize": n, "introspect": n, "refresh_reused": n
                      (refresh requests with a refresh token that rotate=1
                      replaced)}.
    /admin/pending    pending /authorize requests and device codes.
    /admin/set?k=v... settings (integers where the value is numeric;
                      an empty value resets to the default):
        expires_in=N, expires_in_string=1, rotate=1, no_refresh=1,
        ccg_user=U, ropc_password=P, device_user=U,
        device_interval=N, device_expires_in=N, device_expired=1,
        slow_down=N (answer slow_down to the next N device polls),
        refresh_invalid_grant=1,
        token_delay=S (seconds, float ok) [delay_user=U: only that user],
        token_status=N [token_error=E token_error_description=D]
            (answer N with {"error": E (default server_error), ...}),
        retry_after=N (answer 429 with Retry-After: N),
        token_body_nonjson=1 (answer 200 with an HTML body),
        fail_user=U (token_status/retry_after/token_body_nonjson apply
            only to that user), fail_count=N (they apply to the next N
            matching requests, then switch off; 0 = until changed),
        jwt_public_key=PEM, client_cert=PEM, consent_page=1,
        expires_in_json=TEXT (the token answer's expires_in written as
            this JSON text verbatim: 1e300, -5, 3599.5, "abc"),
        device_expires_in_json=TEXT, device_interval_json=TEXT (the
            same for the device authorisation answer).
        Returns the full settings.
The delay runs first, then the failure switches, then the grant logic.
"""

import argparse
import base64
import hashlib
import html
import json
import os
import secrets
import select
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

GT_CODE = "authorization_code"
GT_REFRESH = "refresh_token"
GT_DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
GT_CCG = "client_credentials"
GT_PASSWORD = "password"
GT_JWT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

DEFAULTS = {
    "expires_in": 3600,
    "expires_in_string": 0,
    "rotate": 0,
    "no_refresh": 0,
    "ccg_user": "",
    "ropc_password": "",
    "device_user": "",
    "device_interval": 1,
    "device_expires_in": 600,
    "device_expired": 0,
    "slow_down": 0,
    "refresh_invalid_grant": 0,
    "token_delay": 0,
    "delay_user": "",
    "token_status": 0,
    "token_error": "server_error",
    "token_error_description": "",
    "retry_after": 0,
    "token_body_nonjson": 0,
    "fail_user": "",
    "fail_count": 0,
    "jwt_public_key": "",
    "client_cert": "",
    "expires_in_json": "",
    "device_expires_in_json": "",
    "device_interval_json": "",
    "consent_page": 0,
}
# Settings kept as the text given (never converted to numbers).
TEXT_SETTINGS = ("jwt_public_key", "client_cert", "expires_in_json",
                 "device_expires_in_json", "device_interval_json")
KEY_SETTINGS = ("jwt_public_key", "client_cert")


def b64url(data, pad=False):
    s = base64.urlsafe_b64encode(data).decode("ascii")
    return s if pad else s.rstrip("=")


def b64url_decode(s):
    s = s.strip()
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _convert(v):
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


class RawJSON:
    """A value written into an answer as the JSON text given (1e300,
    -5, 3599.5, "abc"), as a broken server would send it."""

    def __init__(self, text):
        self.text = text


def dumps(obj):
    """json.dumps with RawJSON values spliced in verbatim."""
    raw = []

    def mark(o):
        if isinstance(o, RawJSON):
            raw.append(o.text)
            return "\x00raw%d\x00" % (len(raw) - 1)
        raise TypeError(type(o).__name__)

    text = json.dumps(obj, default=mark)
    for i, r in enumerate(raw):
        text = text.replace(json.dumps("\x00raw%d\x00" % i), r)
    return text


class OAuthError(Exception):
    def __init__(self, status, error, description=""):
        Exception.__init__(self, error)
        self.status = status
        self.error = error
        self.description = description


class OAuthServer:
    def __init__(self, port=0, cert=None, key=None, client_id=None,
                 client_secret=None, introspect_user=None,
                 introspect_password=None, verbose=False):
        self.req_port = port
        self.cert = cert
        self.key = key
        self.client_id = client_id
        self.client_secret = client_secret
        self.introspect_user = introspect_user
        self.introspect_password = introspect_password
        self.verbose = verbose
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.httpd = None
        self.thread = None
        self.port = None
        self.url = None
        self.settings = dict(DEFAULTS)
        self.tokens = {}       # token -> {user, kind, exp, scope, active}
        self._reset_state()

    # ---- state -----------------------------------------------------------

    def _reset_state(self, keep_keys=True):
        with self.lock:
            keys = {k: self.settings.get(k, "") for k in KEY_SETTINGS}
            self.settings = dict(DEFAULTS)
            if keep_keys:
                self.settings.update(keys)
            self.log = []
            self.pending = []      # /authorize requests not yet approved
            self.codes = {}        # code -> {user, redirect_uri, challenge..}
            self.devices = {}      # device_code -> {...}
            self.stats = {"token": {}, "devicecode": 0, "authorize": 0,
                          "introspect": 0, "refresh_reused": 0}

    def set(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if k not in DEFAULTS:
                    raise KeyError("unknown setting %s" % k)
                if v is None or v == "":
                    v = DEFAULTS[k]
                if isinstance(v, bytes):
                    v = v.decode()
                self.settings[k] = v
            return dict(self.settings)

    def set_jwt_public_key(self, pem):
        self.set(jwt_public_key=pem)

    def set_client_cert(self, pem):
        self.set(client_cert=pem)

    def _issue(self, user, scope, refresh=True, client_id=None):
        with self.lock:
            exp_in = int(self.settings["expires_in"])
            at = "at-" + secrets.token_urlsafe(24)
            self.tokens[at] = {"user": user, "kind": "access",
                               "exp": time.time() + exp_in,
                               "scope": scope, "active": True,
                               "client_id": client_id}
            out = {"access_token": at, "token_type": "Bearer",
                   "expires_in": (str(exp_in)
                                  if self.settings["expires_in_string"]
                                  else exp_in),
                   "scope": scope or ""}
            if self.settings["expires_in_json"] != "":
                out["expires_in"] = RawJSON(self.settings["expires_in_json"])
            if refresh and not self.settings["no_refresh"]:
                rt = "rt-" + secrets.token_urlsafe(24)
                self.tokens[rt] = {"user": user, "kind": "refresh",
                                   "exp": None, "scope": scope,
                                   "active": True, "client_id": client_id}
                out["refresh_token"] = rt
            return out

    def _live(self, token, kind):
        t = self.tokens.get(token)
        if t is None or not t["active"] or t["kind"] != kind:
            return None
        if t["exp"] is not None and t["exp"] < time.time():
            return None
        return t

    # ---- module API ------------------------------------------------------

    def start(self):
        srv = self

        class Handler(_Handler):
            server_obj = srv

        class HTTPD(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def finish_request(self, request, client_address):
                # TLS handshake here, in the request's own thread.
                if srv.ctx is not None:
                    request.settimeout(10)
                    try:
                        request = srv.ctx.wrap_socket(request,
                                                      server_side=True)
                    except (ssl.SSLError, OSError):
                        return
                ThreadingHTTPServer.finish_request(self, request,
                                                   client_address)

            def handle_error(self, request, client_address):
                if srv.verbose:
                    ThreadingHTTPServer.handle_error(self, request,
                                                     client_address)

        self.ctx = None
        if self.cert:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(self.cert, self.key)
        self.httpd = HTTPD(("127.0.0.1", self.req_port), Handler)
        self.port = self.httpd.server_address[1]
        self.url = "%s://127.0.0.1:%d" % ("https" if self.cert else "http",
                                          self.port)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        if self.thread is not None:
            self.thread.join(5)
            self.thread = None

    def fetch(self, url, data=None, timeout=10):
        """GET (or POST data) any URL; returns (status, body bytes)."""
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        req = urllib.request.Request(url, data=data)
        try:
            with urllib.request.urlopen(req, timeout=timeout,
                                        context=ctx) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def admin(self, path, **params):
        q = urllib.parse.urlencode(params)
        status, body = self.fetch(self.url + path + ("?" + q if q else ""))
        return json.loads(body.decode())

    def requests(self):
        with self.lock:
            return json.loads(json.dumps(self.log))

    def reset(self, all=False):
        self._reset_state(keep_keys=not all)
        if all:
            with self.lock:
                self.tokens = {}

    def approve(self, login_hint=None, error=None, bad_state=False):
        r = self._approve(login_hint, error, bad_state)
        return r.get("redirect")

    def approve_device(self, user_code=None, error=None):
        return self._approve_device(user_code, error)

    def mint(self, username):
        return self._issue(username, "", True)["access_token"]

    # ---- endpoint logic --------------------------------------------------

    def _approve(self, login_hint, error, bad_state):
        with self.lock:
            for i in range(len(self.pending) - 1, -1, -1):
                p = self.pending[i]
                if login_hint and p["query"].get("login_hint") != login_hint:
                    continue
                del self.pending[i]
                break
            else:
                return {"error": "no pending authorisation request"}
            q = p["query"]
            ru = q.get("redirect_uri", "")
            state = q.get("state", "")
            if bad_state:
                state = "wrong-" + secrets.token_urlsafe(8)
            if error:
                params = [("error", error),
                          ("error_description",
                           "The user denied the request")]
            else:
                code = "code-" + secrets.token_urlsafe(16)
                self.codes[code] = {
                    "user": q.get("login_hint", ""),
                    "redirect_uri": q.get("redirect_uri"),
                    "challenge": q.get("code_challenge"),
                    "method": q.get("code_challenge_method", "plain"),
                    "scope": q.get("scope", ""),
                    "client_id": q.get("client_id"),
                }
                params = [("code", code)]
            if state:
                params.append(("state", state))
            sep = "&" if "?" in ru else "?"
            return {"redirect": ru + sep + urllib.parse.urlencode(params)}

    def _approve_device(self, user_code, error):
        with self.lock:
            found = None
            for dc, d in self.devices.items():
                if user_code is None or d["user_code"] == user_code:
                    found = d
            if found is None:
                return {"error": "no such device code"}
            found["state"] = "denied" if error else "approved"
            found["error"] = error
            return {"approved": found["user_code"]}

    def _check_client(self, form, grant, rec):
        if grant == GT_JWT:
            return
        if self.client_id and form.get("client_id") != self.client_id:
            raise OAuthError(401, "invalid_client", "unknown client_id")
        if form.get("client_assertion") is not None:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise OAuthError(401, "invalid_client",
                                 "bad client_assertion_type")
            j = self._verify_jwt(form["client_assertion"],
                                 self.settings["client_cert"], True)
            rec["client_assertion"] = j
            if not (j["signature_valid"] and j["x5t_valid"]):
                raise OAuthError(401, "invalid_client",
                                 "client assertion rejected")
            return
        if self.client_secret is not None and \
           form.get("client_secret") != self.client_secret:
            raise OAuthError(401, "invalid_client", "bad client secret")

    def _verify_jwt(self, jwt, keypem, is_cert):
        out = {"header": None, "claims": None, "signature_valid": False}
        if is_cert:
            out["x5t_valid"] = False
        try:
            h, c, s = jwt.split(".")
            out["header"] = json.loads(b64url_decode(h))
            out["claims"] = json.loads(b64url_decode(c))
        except (ValueError, TypeError):
            return out
        if not keypem:
            return out
        pem = keypem.encode() if isinstance(keypem, str) else keypem
        if is_cert:
            cert = x509.load_pem_x509_certificate(pem)
            pub = cert.public_key()
            der = cert.public_bytes(serialization.Encoding.DER)
            want = b64url(hashlib.sha256(der).digest(), pad=True)
            out["x5t_valid"] = out["header"].get("x5t#S256") == want
        else:
            pub = serialization.load_pem_public_key(pem)
        try:
            if out["header"].get("alg") != "RS256":
                raise InvalidSignature()
            pub.verify(b64url_decode(s), (h + "." + c).encode("ascii"),
                       padding.PKCS1v15(), hashes.SHA256())
            out["signature_valid"] = True
        except (InvalidSignature, ValueError, TypeError):
            pass
        return out

    def _guess_user(self, form, grant):
        """Who a token request is for, before it is processed."""
        with self.lock:
            if grant == GT_CODE:
                c = self.codes.get(form.get("code", ""))
                return c["user"] if c else ""
            if grant == GT_REFRESH:
                t = self.tokens.get(form.get("refresh_token", ""))
                return t["user"] if t else ""
            if grant == GT_DEVICE:
                d = self.devices.get(form.get("device_code", ""))
                return d["user"] if d else ""
            if grant == GT_PASSWORD:
                return form.get("username", "")
            if grant == GT_CCG:
                return self.settings["ccg_user"] or form.get("client_id", "")
            if grant == GT_JWT:
                try:
                    claims = json.loads(b64url_decode(
                        form.get("assertion", "").split(".")[1]))
                    return claims.get("sub") or claims.get("iss") or ""
                except (ValueError, IndexError, TypeError):
                    return ""
        return ""

    def token(self, form, rec):
        grant = form.get("grant_type", "")
        rec["grant_type"] = grant
        with self.lock:
            st = self.stats["token"]
            st[grant] = st.get(grant, 0) + 1
            s = dict(self.settings)
        user = self._guess_user(form, grant)
        rec["user"] = user

        delay = float(s["token_delay"] or 0)
        if delay > 0 and (not s["delay_user"] or s["delay_user"] == user):
            end = time.monotonic() + delay
            while time.monotonic() < end and not self.stopping.is_set():
                time.sleep(0.05)

        if not s["fail_user"] or s["fail_user"] == user:
            fail = None
            if s["retry_after"]:
                fail = (429, {"Retry-After": str(s["retry_after"])},
                        json.dumps({"error": "rate_limited",
                                    "error_description":
                                    "Too many requests"}).encode(),
                        "application/json")
            elif s["token_status"]:
                body = {"error": s["token_error"]}
                if s["token_error_description"]:
                    body["error_description"] = s["token_error_description"]
                fail = (int(s["token_status"]), {},
                        json.dumps(body).encode(), "application/json")
            elif s["token_body_nonjson"]:
                fail = (200, {}, b"<html><body>Service unavailable"
                        b"</body></html>\n", "text/html")
            if fail is not None:
                with self.lock:
                    if self.settings["fail_count"]:
                        self.settings["fail_count"] -= 1
                        if self.settings["fail_count"] == 0:
                            for k in ("retry_after", "token_status",
                                      "token_body_nonjson"):
                                self.settings[k] = DEFAULTS[k]
                return fail

        self._check_client(form, grant, rec)
        with self.lock:
            return self._grant(grant, form, rec, s)

    def _grant(self, grant, form, rec, s):
        scope = form.get("scope", "")
        cid = form.get("client_id")
        if grant == GT_CODE:
            c = self.codes.pop(form.get("code", ""), None)
            if c is None:
                raise OAuthError(400, "invalid_grant", "unknown code")
            if c["redirect_uri"] is not None and \
               form.get("redirect_uri") != c["redirect_uri"]:
                raise OAuthError(400, "invalid_grant",
                                 "redirect_uri mismatch")
            if c["challenge"]:
                v = form.get("code_verifier", "")
                if c["method"] == "S256":
                    got = b64url(hashlib.sha256(v.encode()).digest())
                else:
                    got = v
                if got != c["challenge"]:
                    raise OAuthError(400, "invalid_grant",
                                     "PKCE verification failed")
            return self._issue(c["user"], c["scope"], True, cid)
        if grant == GT_REFRESH:
            if s["refresh_invalid_grant"]:
                raise OAuthError(400, "invalid_grant",
                                 "Token has been expired or revoked.")
            rt = form.get("refresh_token", "")
            t = self._live(rt, "refresh")
            old = self.tokens.get(rt)
            if t is None and old is not None and old["kind"] == "refresh" \
                    and old.get("rotated"):
                self.stats["refresh_reused"] += 1
            if t is None:
                raise OAuthError(400, "invalid_grant",
                                 "unknown refresh token")
            out = self._issue(t["user"], t["scope"], bool(s["rotate"]), cid)
            if s["rotate"]:
                t["active"] = False
                t["rotated"] = True
            return out
        if grant == GT_DEVICE:
            d = self.devices.get(form.get("device_code", ""))
            if d is None:
                raise OAuthError(400, "invalid_grant", "unknown device code")
            if s["device_expired"] or d["exp"] < time.time():
                raise OAuthError(400, "expired_token",
                                 "The device code has expired")
            if self.settings["slow_down"]:
                self.settings["slow_down"] -= 1
                raise OAuthError(400, "slow_down", "Polling too fast")
            if d["state"] == "denied":
                raise OAuthError(400, d["error"] or "access_denied",
                                 "The user denied the request")
            if d["state"] != "approved":
                raise OAuthError(400, "authorization_pending",
                                 "The user has not yet approved")
            del self.devices[form["device_code"]]
            return self._issue(d["user"], d["scope"], True, cid)
        if grant == GT_CCG:
            return self._issue(rec["user"], scope, False, cid)
        if grant == GT_PASSWORD:
            pw = form.get("password", "")
            if not form.get("username") or not pw or \
               (s["ropc_password"] and pw != s["ropc_password"]):
                raise OAuthError(400, "invalid_grant",
                                 "bad username or password")
            return self._issue(form["username"], scope, True, cid)
        if grant == GT_JWT:
            j = self._verify_jwt(form.get("assertion", ""),
                                 s["jwt_public_key"], False)
            rec["jwt"] = j
            if not j["signature_valid"]:
                raise OAuthError(400, "invalid_grant", "Invalid JWT "
                                 "Signature.")
            claims = j["claims"] or {}
            if not isinstance(claims.get("exp"), int) or \
               claims["exp"] < time.time():
                raise OAuthError(400, "invalid_grant", "JWT expired")
            # RFC 7523 section 3: the audience is this token endpoint.
            if claims.get("aud") != self.url + "/token":
                raise OAuthError(400, "invalid_grant", "Invalid JWT: "
                                 "aud is not this token endpoint")
            return self._issue(rec["user"], claims.get("scope", ""), False,
                               claims.get("iss"))
        raise OAuthError(400, "unsupported_grant_type", grant)

    def devicecode(self, form):
        with self.lock:
            self.stats["devicecode"] += 1
            if self.client_id and form.get("client_id") != self.client_id:
                raise OAuthError(401, "invalid_client", "unknown client_id")
            dc = "dc-" + secrets.token_urlsafe(16)
            uc = "%s-%s" % (secrets.token_hex(2).upper(),
                            secrets.token_hex(2).upper())
            exp_in = int(self.settings["device_expires_in"])
            self.devices[dc] = {
                "user_code": uc,
                "user": form.get("login_hint") or self.settings["device_user"],
                "scope": form.get("scope", ""),
                "exp": time.time() + exp_in,
                "state": "pending", "error": None,
            }
            vu = self.url + "/device"
            out = {"device_code": dc, "user_code": uc,
                   "verification_uri": vu,
                   "verification_uri_complete": vu + "?user_code=" + uc,
                   "expires_in": exp_in,
                   "interval": int(self.settings["device_interval"])}
            for k in ("expires_in", "interval"):
                raw = self.settings["device_%s_json" % k]
                if raw != "":
                    out[k] = RawJSON(raw)
            return out

    def introspect(self, token):
        with self.lock:
            self.stats["introspect"] += 1
            t = self._live(token or "", "access")
            if t is None:
                return {"active": False}
            return {"active": True, "username": t["user"],
                    "email": t["user"], "sub": t["user"],
                    "scope": t["scope"] or "",
                    "client_id": t["client_id"] or self.client_id or "",
                    "exp": int(t["exp"]), "token_type": "Bearer"}

    def revoke(self, token=None, username=None):
        n = 0
        with self.lock:
            for k, t in self.tokens.items():
                if (token and k == token) or \
                   (username and t["user"] == username):
                    if t["active"]:
                        n += 1
                    t["active"] = False
        return {"revoked": n}


def _flat(d):
    return {k: (v[0] if len(v) == 1 else v) for k, v in d.items()}


class _Handler(BaseHTTPRequestHandler):
    server_obj = None
    server_version = "oauthserver/1"

    def log_message(self, fmt, *args):
        if self.server_obj.verbose:
            sys.stderr.write("oauthserver: %s\n" % (fmt % args))

    def _send(self, status, body, ctype="application/json", headers=None):
        if isinstance(body, (dict, list)):
            body = dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype + "; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _parse(self):
        u = urllib.parse.urlsplit(self.path)
        pairs_q = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
        pairs_f = []
        body = b""
        n = int(self.headers.get("Content-Length") or 0)
        if n > 0:
            body = self.rfile.read(min(n, 1 << 20))
        ctype = self.headers.get("Content-Type", "")
        if body and ctype.startswith("application/x-www-form-urlencoded"):
            pairs_f = urllib.parse.parse_qsl(body.decode("utf-8", "replace"),
                                             keep_blank_values=True)
        q, f = {}, {}
        for k, v in pairs_q:
            q.setdefault(k, []).append(v)
        for k, v in pairs_f:
            f.setdefault(k, []).append(v)
        rec = {"method": self.command, "path": u.path, "query": _flat(q),
               "form": _flat(f), "form_keys": [k for k, _ in pairs_f],
               "headers": {k.lower(): v for k, v in self.headers.items()},
               "time": time.time()}
        if body and not pairs_f:
            rec["body"] = body.decode("utf-8", "replace")
        return u.path, rec

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_CONNECT(self):
        """A tunnel to a loopback host:port (https_proxy tests)."""
        srv = self.server_obj
        host, _, port = self.path.rpartition(":")
        host = host.strip("[]")
        with srv.lock:
            srv.log.append({"method": "CONNECT", "path": self.path,
                            "query": {}, "form": {}, "form_keys": [],
                            "headers": {k.lower(): v for k, v in
                                        self.headers.items()},
                            "time": time.time()})
        if host not in ("127.0.0.1", "localhost", "::1") or \
           not port.isdigit():
            self.send_error(403, "loopback targets only")
            return
        try:
            upstream = socket.create_connection((host, int(port)), 10)
        except OSError:
            self.send_error(502, "cannot connect")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        conns = [self.connection, upstream]
        try:
            while not srv.stopping.is_set():
                ready, _, _ = select.select(conns, [], [], 0.2)
                for c in ready:
                    data = c.recv(65536)
                    if not data:
                        return
                    (upstream if c is self.connection
                     else self.connection).sendall(data)
        except OSError:
            pass
        finally:
            upstream.close()
            self.close_connection = True

    def _dispatch(self):
        srv = self.server_obj
        path, rec = self._parse()
        if not path.startswith("/admin/"):
            with srv.lock:
                srv.log.append(rec)
        first = lambda d: {k: (v if isinstance(v, str) else v[-1])
                           for k, v in d.items()}
        q, form = first(rec["query"]), first(rec["form"])
        try:
            if path == "/authorize":
                with srv.lock:
                    srv.stats["authorize"] += 1
                    srv.pending.append({"query": q, "time": rec["time"]})
                hint = q.get("login_hint", "")
                if srv.settings.get("consent_page"):
                    self._send(200, "<html><head><title>Consent</title>"
                               "</head><body><p>Allow access to %s?</p>"
                               "<p><a id=\"allow\" href=\"/consent?%s\">"
                               "Allow</a></p></body></html>\n" % (
                                   html.escape(hint), html.escape(
                                       urllib.parse.urlencode(
                                           {"login_hint": hint}))),
                               "text/html")
                else:
                    self._send(200, "<html><body><p>Authorise %s</p>"
                               "</body></html>\n" % hint, "text/html")
            elif path == "/consent":
                r = srv._approve(q.get("login_hint"), None, False)
                if "redirect" in r:
                    self._send(302, "redirecting\n", "text/plain",
                               {"Location": r["redirect"]})
                else:
                    self._send(404, r)
            elif path == "/devicecode":
                self._send(200, srv.devicecode(form if self.command ==
                                               "POST" else q))
            elif path == "/token":
                if self.command != "POST":
                    raise OAuthError(405, "invalid_request", "use POST")
                r = srv.token(form, rec)
                if isinstance(r, tuple):
                    status, hdrs, body, ctype = r
                    self._send(status, body, ctype, hdrs)
                else:
                    self._send(200, r)
            elif path == "/introspect":
                self._introspect(q, form)
            elif path == "/device":
                self._send(200, "<html><body>device</body></html>\n",
                           "text/html")
            elif path.startswith("/admin/"):
                self._admin(path, q)
            else:
                self._send(404, {"error": "not_found"})
        except OAuthError as e:
            body = {"error": e.error}
            if e.description:
                body["error_description"] = e.description
            self._send(e.status, body)

    def _introspect(self, q, form):
        srv = self.server_obj
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            self._send(200, srv.introspect(auth[7:].strip()))
            return
        if srv.introspect_user is not None:
            want = "Basic " + base64.b64encode(
                ("%s:%s" % (srv.introspect_user, srv.introspect_password or
                            "")).encode()).decode()
            if auth != want:
                self._send(401, {"error": "invalid_client"},
                           headers={"WWW-Authenticate":
                                    'Basic realm="introspect"'})
                return
        self._send(200, srv.introspect(form.get("token") or q.get("token")))

    def _admin(self, path, q):
        srv = self.server_obj
        if path == "/admin/requests":
            self._send(200, srv.requests())
        elif path == "/admin/reset":
            srv.reset(all=bool(q.get("all")))
            self._send(200, {"reset": True})
        elif path == "/admin/approve":
            r = srv._approve(q.get("login_hint"), q.get("error"),
                             bool(q.get("bad_state")))
            self._send(200 if "redirect" in r else 404, r)
        elif path == "/admin/approve_device":
            r = srv._approve_device(q.get("user_code"), q.get("error"))
            self._send(200 if "approved" in r else 404, r)
        elif path == "/admin/revoke":
            self._send(200, srv.revoke(q.get("token"), q.get("username")))
        elif path == "/admin/mint":
            if not q.get("username"):
                self._send(400, {"error": "username required"})
                return
            r = srv._issue(q["username"], q.get("scope", ""), True)
            self._send(200, r)
        elif path == "/admin/stats":
            with srv.lock:
                self._send(200, json.loads(json.dumps(srv.stats)))
        elif path == "/admin/pending":
            with srv.lock:
                self._send(200, {
                    "authorize": [p["query"] for p in srv.pending],
                    "device": [dict(d, device_code=k)
                               for k, d in srv.devices.items()]})
        elif path == "/admin/set":
            kw = {}
            for k, v in q.items():
                if k not in DEFAULTS:
                    self._send(400, {"error": "unknown setting " + k})
                    return
                kw[k] = v if k in TEXT_SETTINGS or v == "" else _convert(v)
            self._send(200, srv.set(**kw))
        else:
            self._send(404, {"error": "not_found"})


def main():
    ap = argparse.ArgumentParser(description="scripted OAuth 2.0 server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--ready-file")
    ap.add_argument("--client-id")
    ap.add_argument("--client-secret")
    ap.add_argument("--introspect-user")
    ap.add_argument("--introspect-password")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    if bool(a.cert) != bool(a.key):
        ap.error("--cert and --key go together")
    srv = OAuthServer(a.port, a.cert, a.key, a.client_id, a.client_secret,
                      a.introspect_user, a.introspect_password, a.verbose)
    srv.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    if a.ready_file:
        tmp = a.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n%s\n" % (srv.port, srv.url))
        os.rename(tmp, a.ready_file)
    while not done.wait(1):
        pass
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
