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
"""The self-service authorisation page through the real daemon, Dovecot
and the scripted OAuth server, with a real HTTP client (urllib, a cookie
jar): a person fills the form, follows the consent to the OAuth server,
whose consent screen redirects back to the page's callback, and lands on
the page that says what to put in the mail client; then IMAP, POP and
SMTP logins with that password succeed.  The device grant shows its code
and completes; an unattended grant says so; the provider's redirect with
a forged state, a replayed one, or one from another browser is refused;
a hostile address is shown escaped; the provider's refusal is shown;
a wrong password is refused and
throttled like a wrong mail login (the mail login from that address is
then throttled too); no password, state or code reaches the log.
"""

import base64
import html
import http.cookiejar
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

AUTH = "auth@example.com"
DEVICE = "dev@example.com"
CCG = "ccg@example.com"
DENY = "deny@example.com"
PASSWORD = "page-pw-81c3"
DEV_PASSWORD = "dev-pw-0b5e"
FAILURES = 3            # max_login_failures

h = Harness("web_page")
h.start_dovecot()
oauth = h.oauth
oauth.set(consent_page=1)
page_port = h.free_port()
PAGE = "http://127.0.0.1:%d/" % page_port
common = ("token_url = %s\noauth2_scope = mail\nclient_id = %s\n"
          % (oauth.token_url, oauth.client_id))
if oauth.client_secret:
    common += "client_secret = %s\n" % oauth.client_secret
conf = h.standard_config(
    extra_globals="kdf_iterations = 100000\nauth_timeout = 120\n"
                  "delete_account_token_on_password_error = False\n"
                  "max_login_failures = %d\n"
                  "authorisation_page_url = %s\n"
                  "authorisation_page_listen = 127.0.0.1:%d"
                  % (FAILURES, PAGE, page_port),
    extra="[%s]\npermission_url = %s\noauth2_flow = device\n%s"
          "[%s]\npermission_url = %s\nredirect_uri = REDIRECT\n%s"
          % (DEVICE, oauth.devicecode_url, common, DENY,
             oauth.authorize_url, common))
conf = conf.replace("redirect_uri = REDIRECT",
                    "redirect_uri = " + h.accounts[AUTH]["redirect_uri"])
h.start_emailproxy(conf)
ports = h.proxy_ports
secrets = [PASSWORD, DEV_PASSWORD]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None


class Browser:
    """urllib with a cookie jar; follows redirects unless told not to."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        handlers = [urllib.request.ProxyHandler({}),
                    urllib.request.HTTPCookieProcessor(self.jar),
                    urllib.request.HTTPSHandler(context=h.client_ctx())]
        self.opener = urllib.request.build_opener(*handlers)
        self.raw = urllib.request.build_opener(NoRedirect, *handlers)

    def get(self, url, data=None, follow=True):
        """(status, headers, body str, final url)."""
        if isinstance(data, dict):
            data = urllib.parse.urlencode(data).encode()
        op = self.opener if follow else self.raw
        try:
            r = op.open(url, data=data, timeout=30)
            return r.status, r.headers, r.read().decode(), r.geturl()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode(), url


def csrf_of(body):
    m = re.search(r'name="csrf" value="([^"]+)"', body)
    return m.group(1) if m else ""


def attr(body, ident, name="href"):
    m = re.search(r'id="%s"[^>]*\b%s="([^"]*)"' % (ident, name), body)
    if m is None:
        m = re.search(r'%s="([^"]*)"[^>]*id="%s"' % (name, ident), body)
    return html.unescape(m.group(1)) if m else None


def wait_status(b, pred, timeout=30):
    """GET status until pred(body); the last (status, body)."""
    end = time.monotonic() + timeout
    while True:
        st, _, body, _ = b.get(PAGE + "status")
        if pred(body) or time.monotonic() > end:
            return st, body
        time.sleep(0.5)


def submit(b, address, password):
    st, hd, body, _ = b.get(PAGE)
    return b.get(PAGE + "login", {"csrf": csrf_of(body),
                                  "address": address,
                                  "password": password})


def imap_login(user, password):
    c = h.connect(ports["imap"], timeout=30)
    try:
        c.readline()
        c.send(b'a LOGIN "%s" "%s"\r\n' % (user.encode(),
                                           password.encode()))
        return c.read_until(rb"^a (OK|NO|BAD)")[-1].decode(
            "utf-8", "replace").strip()
    finally:
        c.close()


def pop_login(user, password):
    c = h.connect(ports["pop"], timeout=30)
    try:
        c.readline()
        c.send(b"USER %s\r\n" % user.encode())
        c.readline()
        c.send(b"PASS %s\r\n" % password.encode())
        return c.readline().decode("utf-8", "replace").strip()
    finally:
        c.close()


def smtp_login(user, password):
    c = h.connect(ports["smtp"], timeout=30)
    try:
        c.read_until(rb"\d{3}( |\r\n)")
        c.send(b"EHLO client.example\r\n")
        c.read_until(rb"\d{3}( |\r\n)")
        c.send(b"AUTH PLAIN %s\r\n" % base64.b64encode(
            b"\0" + user.encode() + b"\0" + password.encode()))
        return c.read_until(rb"\d{3}( |\r\n)")[-1].decode(
            "utf-8", "replace").strip()
    finally:
        c.close()


# -- the form ----------------------------------------------------------
b = Browser()
st, hd, body, _ = b.get(PAGE)
cookie = hd.get("Set-Cookie", "")
csp = hd.get("Content-Security-Policy", "")
h.check(st == 200 and 'name="password"' in body and csrf_of(body),
        "the page shows the form with a CSRF token", "%d %s" % (st, body[:300]))
h.check("HttpOnly" in cookie and "SameSite=Lax" in cookie and
        "Secure" not in cookie and "Path=/" in cookie,
        "the session cookie is HttpOnly, SameSite=Lax (not Secure over "
        "plain HTTP)", cookie)
h.check(hd.get("Cache-Control", "") == "no-store" and
        "default-src 'none'" in csp and "script" not in csp and
        "style-src 'self'" in csp and "<script" not in body and
        "style=" not in body,
        "no-store, a strict Content-Security-Policy, no script, no inline "
        "style", "%s / %s" % (hd.get("Cache-Control"), csp))
st, hd, css, _ = b.get(PAGE + "style.css")
h.check(st == 200 and hd.get("Content-Type", "").startswith("text/css"),
        "the stylesheet is served beside the page", "%d" % st)

# A form post without the browser's CSRF token is refused.
st, _, body, _ = b.get(PAGE + "login", {"csrf": "x" * 43, "address": AUTH,
                                        "password": PASSWORD})
h.check(st == 403, "a post without the form's CSRF token is refused (403)",
        "%d %s" % (st, body[:200]))
other = Browser()
st, _, body, _ = other.get(PAGE + "login", {"csrf": csrf_of(
    b.get(PAGE)[2]), "address": AUTH, "password": PASSWORD})
h.check(st == 403, "a post with another browser's token and no session "
        "cookie is refused (403)", "%d" % st)

# -- code grant: the person follows the consent ------------------------
mark = h.log_mark()
st, _, body, url = submit(b, AUTH, PASSWORD)
consent = attr(body, "consent")
refresh = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', body)
h.check(st == 200 and url == PAGE + "status" and consent is not None and
        consent.startswith(oauth.authorize_url) and refresh is not None and
        html.unescape(refresh.group(1)) == consent,
        "the password is accepted and the page sends the browser to the "
        "provider's consent", "%d %s %s" % (st, url, body[:400]))
q = urllib.parse.parse_qs(urllib.parse.urlsplit(consent or "").query)
h.check(q.get("redirect_uri") == [PAGE + "callback"] and
        q.get("code_challenge_method") == ["S256"] and
        q.get("response_type") == ["code"] and "state" in q,
        "the consent URL asks for a code with PKCE and the page's callback "
        "as redirect_uri", str(q))
state = q.get("state", [""])[0]
st, _, body, _ = b.get(consent)
allow = attr(body, "allow")
h.check(st == 200 and allow is not None, "the provider shows its consent "
        "screen", body[:200])
# The consent's redirect, taken by hand to replay it later.
st, hd, _, _ = b.get(urllib.parse.urljoin(consent, allow), follow=False)
callback = hd.get("Location", "") if hd else ""
h.check(st == 302 and callback.startswith(PAGE + "callback?"),
        "the provider redirects the browser to the page's callback",
        "%d %s" % (st, callback))
code = urllib.parse.parse_qs(urllib.parse.urlsplit(callback).query).get(
    "code", [""])[0]
secrets += [state, code]

# Another browser (no session) with the right state: refused.
st, _, body, _ = Browser().get(callback)
h.check(st == 400 and "does not belong" in body, "the callback from another "
        "browser (right state, no session) is refused (400)",
        "%d %s" % (st, body[:200]))
# A forged state in the right browser: refused.
forged = callback.replace("state=" + urllib.parse.quote(state),
                          "state=forged" + "A" * 16)
st, _, body, _ = b.get(forged)
h.check(st == 400 and "does not belong" in body, "a forged state is refused "
        "(400)", "%d %s" % (st, body[:200]))
st, _, body, url = b.get(callback)
st, body = wait_status(b, lambda t: 'id="done"' in t or 'id="error"' in t)
h.check(st == 200 and 'id="done"' in body and AUTH in body,
        "the callback completes the grant and the page says the account is "
        "ready", "%d %s" % (st, body[:500]))
for key, what in (("imap", "IMAP"), ("pop", "POP3"), ("smtp", "SMTP")):
    h.check(re.search(r"\(%s\)</th><td>server <strong>127\.0\.0\.1</strong>,"
                      r" port <strong>%d</strong>" % (what, ports[key]),
                      body) is not None,
            "the page names the %s server and port for the mail client"
            % what, body[-600:])
h.check("User name</th><td><strong>%s</strong>" % AUTH in body,
        "... and the user name", "")
st, _, body, _ = b.get(callback)
h.check(st == 400, "the same redirect again (replayed state) is refused "
        "(400)", "%d %s" % (st, body[:200]))

r = imap_login(AUTH, PASSWORD)
h.check(r.startswith("a OK"), "IMAP login with the page's password succeeds",
        r)
r = pop_login(AUTH, PASSWORD)
h.check(r.startswith("+OK"), "POP login with the page's password succeeds",
        r)
r = smtp_login(AUTH, PASSWORD)
h.check(r.startswith("235"), "SMTP login with the page's password succeeds",
        r)
stats = oauth.stats()
h.check(stats["token"].get("authorization_code") == 1,
        "one authorisation served all three logins", str(stats))

# -- device grant ------------------------------------------------------
b2 = Browser()
st, _, body, _ = submit(b2, DEVICE, DEV_PASSWORD)
m = re.search(r'id="user-code">([^<]+)<', body)
verify = attr(body, "verify")
h.check(st == 200 and m is not None and verify is not None and
        verify.startswith(oauth.url) and
        'http-equiv="refresh" content="5;url=/status"' in body,
        "device grant: the page shows the code and the verification link "
        "and refreshes itself", body[:600])
if m is not None:
    oauth.approve_device(user_code=html.unescape(m.group(1)))
st, body = wait_status(b2, lambda t: 'id="done"' in t or 'id="error"' in t)
h.check('id="done"' in body and DEVICE in body,
        "device grant: the page completes once the code is entered",
        body[:400])
r = imap_login(DEVICE, DEV_PASSWORD)
h.check(r.startswith("a OK"), "device grant: IMAP login with the page's "
        "password succeeds", r)

# -- a grant that needs no person --------------------------------------
b3 = Browser()
st, _, body, _ = submit(b3, CCG, "ccg-pw-2f")
st, body = wait_status(b3, lambda t: 'id="done"' in t or 'id="error"' in t)
h.check('id="done"' in body and "needs no sign-in by a person" in body and
        "client credentials" in body,
        "client credentials: the page says no person needs to sign in",
        body[:400])
secrets.append("ccg-pw-2f")

# -- the person says no at the provider --------------------------------
b6 = Browser()
st, _, body, _ = submit(b6, DENY, "deny-pw-3")
consent = attr(body, "consent")
if consent is not None:
    b6.get(consent)
denied = oauth.approve(login_hint=DENY, error="access_denied")
st, _, body, _ = b6.get(denied) if denied else (0, None, "", "")
st, body = wait_status(b6, lambda t: 'id="done"' in t or 'id="error"' in t)
h.check(st == 403 and 'id="error"' in body and "access_denied" in body and
        'name="password"' in body, "the provider's refusal is shown, with "
        "the form to try again", body[:500])
secrets.append("deny-pw-3")

# -- escaping ----------------------------------------------------------
hostile = '<script>alert("x")</script>\'&@example.com'
b4 = Browser()
st, _, body, _ = submit(b4, hostile, "whatever-pw-1")
h.check(st == 403 and "<script>" not in body and
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;@"
        "example.com" in body, "a hostile address is shown escaped",
        body[:600])

# -- wrong passwords: refused and throttled like mail logins ------------
b5 = Browser()
results = []
for i in range(FAILURES + 1):
    st, _, body, _ = submit(b5, AUTH, "wrong-pw-%d" % i)
    results.append((st, body))
first = results[0]
h.check(first[0] == 403 and "is incorrect" in first[1],
        "a wrong password on the page is refused", first[1][:300])
last = results[-1]
h.check(last[0] == 403 and "too many failed logins" in last[1],
        "after %d wrong passwords the page is throttled" % FAILURES,
        last[1][:300])
r = imap_login(AUTH, PASSWORD)
h.check(r.startswith("a NO") and "too many failed logins" in r,
        "... and so is a mail login from the same address (the same "
        "throttle)", r)
m = re.findall(r"audit: result=(\S+) proto=web listener=page "
               r"client=127\.0\.0\.1 account=(\S+)", h.log_text()[mark:])
h.check(("bad-password", AUTH) in m and ("throttled", AUTH) in m and
        ("ok", AUTH) in m, "the page's logins are audited like mail "
        "logins", str(m[-6:]))

# -- nothing secret in the log -----------------------------------------
log = h.log_text()
leaked = [s for s in secrets if s and s in log]
h.check(not leaked, "no password, state or code in the -vv log",
        str(leaked))
h.finish()
