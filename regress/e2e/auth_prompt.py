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
"""A login whose account needs a person is answered after auth_wait,
through the real daemon, Dovecot and the scripted OAuth server: a code
flow account with no token gets IMAP "NO [ALERT]", POP "-ERR [AUTH]"
and SMTP "454 4.7.0", each naming authorisation_page_url, long before
auth_timeout; the authorisation stays pending, and once a person
consented (emailproxyctl authorise with the redirect URL) the next IMAP,
POP and SMTP logins succeed.  Without a page the answer says that the
administrator has been notified; a revoked account (its refresh token
refused with invalid_grant) gets that answer too instead of a login held
until auth_timeout, and the login after a new consent succeeds.  Other
failures (an unknown account) keep their answers.
"""

import base64
import os
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

AUTH = "auth@example.com"
PASSWORD = "prompt-pw-81c2"
PAGE = "https://mail.example.com/authorise"
BOUND = 60      # generous; the held login of old waits auth_timeout (300)

h = Harness("auth_prompt")
h.start_dovecot()
oauth = h.oauth
GLOBALS = "kdf_iterations = 100000\nauth_timeout = 300\nauth_wait = 2\n"
conf = h.standard_config(extra_globals=GLOBALS +
                         "authorisation_page_url = %s" % PAGE)
ports = dict(h.proxy_ports)
h.start_emailproxy(conf)
sock = h.path("ctl.sock")


def imap_login(user=AUTH):
    c = h.connect(ports["imap"], timeout=BOUND)
    try:
        c.readline()
        c.send(b'a LOGIN "%s" "%s"\r\n' % (user.encode(),
                                           PASSWORD.encode()))
        return c.read_until(rb"^a (OK|NO|BAD)", timeout=BOUND)[-1].decode(
            "utf-8", "replace").strip()
    except Exception as e:  # noqa: BLE001 -- reported as the answer
        return "no answer: %s" % e
    finally:
        c.close()


def pop_login():
    c = h.connect(ports["pop"], timeout=BOUND)
    try:
        c.readline()
        c.send(b"USER %s\r\n" % AUTH.encode())
        c.readline()
        c.send(b"PASS %s\r\n" % PASSWORD.encode())
        return c.readline(timeout=BOUND).decode("utf-8", "replace").strip()
    except Exception as e:  # noqa: BLE001 -- reported as the answer
        return "no answer: %s" % e
    finally:
        c.close()


def smtp_login():
    c = h.connect(ports["smtp"], timeout=BOUND)
    try:
        c.read_until(rb"^220 ")
        c.send(b"EHLO client.example\r\n")
        c.read_until(rb"^250 ")
        ir = base64.b64encode(b"\0" + AUTH.encode() + b"\0" +
                              PASSWORD.encode())
        c.send(b"AUTH PLAIN " + ir + b"\r\n")
        return c.read_until(rb"^\d{3} ", timeout=BOUND)[-1].decode(
            "utf-8", "replace").strip()
    except Exception as e:  # noqa: BLE001 -- reported as the answer
        return "no answer: %s" % e
    finally:
        c.close()


def consent(since):
    """The person: open the URL authd logged, consent, paste the redirect
    URL into emailproxyctl authorise.  Returns its output."""
    m = h.wait_log(r"account %s needs authorisation: visit (\S+)" % AUTH,
                   timeout=20, since=since)
    if m is None:
        return "no authorisation URL in the log"
    urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=h.client_ctx())).open(
            m.group(1), timeout=10).read()
    redirect = oauth.approve(login_hint=AUTH)
    r = h.emailproxyctl("-s", sock, "authorise", AUTH, redirect,
                        timeout=60)
    return (r.stdout + r.stderr).decode("utf-8", "replace").strip()


# -- a first login: no token, a person must consent ----------------------
mark = h.log_mark()
got = imap_login()
h.check(got.startswith("a NO [ALERT] ") and PAGE in got and AUTH in got,
        "IMAP: a login waiting for a person gets a tagged NO [ALERT] "
        "naming the page", got)
got = pop_login()
h.check(got.startswith("-ERR [AUTH] ") and PAGE in got,
        "POP: -ERR [AUTH] naming the page", got)
got = smtp_login()
h.check(got.startswith("454 4.7.0 ") and PAGE in got,
        "SMTP: 454 4.7.0 naming the page", got)
h.check(h.wait_log(r"audit: result=authorisation-pending proto=IMAP",
                   timeout=5, since=mark) is not None,
        "the audit line says authorisation-pending", "")
r = h.emailproxyctl("-s", sock, "show", "pending")
h.check(AUTH in r.stdout.decode("utf-8", "replace"),
        "the authorisation stays pending after the answers",
        r.stdout.decode("utf-8", "replace")[-300:])

out = consent(mark)
h.check("authorised" in out, "a person consents (emailproxyctl authorise "
        "with the redirect URL)", out)
got = imap_login()
h.check(got.startswith("a OK"), "IMAP: the next login after consent "
        "succeeds", got)
got = pop_login()
h.check(got.startswith("+OK"), "POP: the next login succeeds", got)
got = smtp_login()
h.check(got.startswith("235"), "SMTP: the next login succeeds", got)
got = imap_login(user="nobody@example.org")
h.check(got.startswith("a NO [AUTHENTICATIONFAILED] "),
        "an unknown account keeps its answer", got)

# -- no page; the account is revoked upstream ----------------------------
mark = h.log_mark()
h.reload_emailproxy(h.standard_config(extra_globals=GLOBALS))
h.check(h.wait_log(r"configuration reloaded", 20, since=mark) is not None,
        "reloaded without authorisation_page_url", "")
ports = dict(h.proxy_ports)
mark = h.log_mark()
oauth.revoke(username=AUTH)
got = imap_login()
h.check(got.startswith("a NO [ALERT] ") and "administrator has been "
        "notified" in got and PAGE not in got,
        "revoked (invalid_grant): a tagged NO [ALERT] saying the "
        "administrator has been notified", got)
h.check(h.wait_log(r"refresh token was refused \(invalid_grant\)",
                   timeout=5, since=mark) is not None,
        "... after the refresh token was refused", "")
out = consent(mark)
h.check("authorised" in out, "a person consents again", out)
got = imap_login()
h.check(got.startswith("a OK"), "the next login after consent succeeds",
        got)
h.finish()
