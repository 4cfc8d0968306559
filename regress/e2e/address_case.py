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
"""Addresses without case, through the real daemon: the section
[Mixed.Case@example.com] (password grant at the regress OAuth server,
its local password from local_password_file under a lower-case user).

- a login typed in another case reaches Dovecot; the token was asked
  for the section's spelling;
- a login in a third case is served from the same token record (no
  second grant, one record file, named as the section);
- a scripted upstream receives XOAUTH2 user= in the section's spelling;
- emailproxyctl forget in another case deletes that record;
- the authorisation a login in another case waits for is completed by
  emailproxyctl authorise naming the account in a third case;
- wrong passwords typed in different cases count against one account:
  the right one is then throttled.
"""

import os
import re
import subprocess
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402
import hostile  # noqa: E402

SECTION = "Mixed.Case@example.com"
PASSWORD = "case pw"

h = Harness("address_case")
h.start_dovecot()
oauth = h.oauth
pwfile = h.path("emailproxy.passwd")

r = subprocess.run([h.emailproxyctl_bin, "hash-password", "-a", pwfile,
                    SECTION.lower()], input=(PASSWORD + "\n").encode(),
                   capture_output=True, timeout=30)
h.check(r.returncode == 0, "hash-password -a writes the lower-case user",
        "%d %r" % (r.returncode, r.stderr))

users = []


def scripted(p):
    """XOAUTH2 accepted only for the section's spelling."""
    users.append(hostile.imap_login(p, SECTION))
    p.read_until_eof(timeout=10)


up = hostile.Upstream(h, scripted, tls=True, timeout=20)
scripted_port = h.free_port()
common = ("oauth2_flow = password\ntoken_url = %s\noauth2_scope = mail\n"
          "client_id = %s\n" % (oauth.token_url, oauth.client_id))
if oauth.client_secret:
    common += "client_secret = %s\n" % oauth.client_secret
conf = h.standard_config(
    pop=False, smtp=False,
    extra_globals="kdf_iterations = 100000\nmax_login_failures = 2\n"
    "local_password_file = %s\n" % pwfile,
    extra="[%s]\n%s\n%s" % (SECTION, common,
                            hostile.section(h, "IMAP", scripted_port,
                                            up.port)))
h.start_emailproxy(conf)


def login(user, password, port=None):
    """IMAP LOGIN at the proxy: the tagged answer line."""
    c = h.connect(port or h.proxy_ports["imap"])
    try:
        c.readline()
        c.send(b'a LOGIN "%s" "%s"\r\n' % (user.encode(),
                                           password.encode()))
        return c.read_until(rb"^a (OK|NO|BAD)", timeout=30)[-1].decode(
            "utf-8", "replace").strip()
    finally:
        c.close()


def grants():
    return [q for q in oauth.requests()
            if q.get("path") == "/token" and
            q.get("grant_type") == "password"]


def records():
    d = h.path("store")
    return sorted(n for n in os.listdir(d)
                  if n.lower().startswith("mixed.case") and
                  n.endswith(".json"))


r = login("mixed.case@EXAMPLE.COM", PASSWORD)
h.check(r.startswith("a OK"), "a login typed in another case than the "
        "section reaches Dovecot", r)
g = grants()
h.check(len(g) == 1 and g[0].get("form", {}).get("username") == SECTION,
        "the token is asked for the section's spelling",
        repr([q.get("form", {}).get("username") for q in g]))

r = login("MIXED.CASE@example.com", PASSWORD)
h.check(r.startswith("a OK"), "a login in a third case succeeds", r)
h.check(len(grants()) == 1, "it is served from the same record: no second "
        "grant", "%d grants" % len(grants()))
h.check(records() == [SECTION + ".json"], "one token record, named as "
        "the section", repr(records()))

r = login("mIXED.cASE@Example.Com", PASSWORD, scripted_port)
p = up.next(timeout=20)
h.check(r.startswith("a OK") and len(users) == 1 and p is not None and
        p.error is None, "the scripted upstream gets XOAUTH2 user= in the "
        "section's spelling", "%s; %s" % (r, p.error if p is not None
                                         else "no connection"))

r = h.emailproxyctl("-s", h.path("ctl.sock"), "forget", "MIXED.case@EXAMPLE.com")
h.check(r.returncode == 0 and records() == [], "emailproxyctl forget in "
        "another case deletes the section's record",
        "%d %r %r" % (r.returncode, r.stdout, records()))

AUTH = "auth@example.com"     # standard_config's authorization-code account
result = []
t = threading.Thread(target=lambda: result.append(
    login(AUTH.upper(), "auth pw")))
mark = h.log_mark()
t.start()
m = h.wait_log(r"account %s needs authorisation: visit (\S+)"
               % re.escape(AUTH), 20, since=mark)
redirect = None
if m is not None:
    oauth.get(urllib.parse.urlsplit(m.group(1)).path + "?" +
              urllib.parse.urlsplit(m.group(1)).query)
    redirect = oauth.approve()
r = h.emailproxyctl("-s", h.path("ctl.sock"), "authorise",
                    "Auth@EXAMPLE.com", redirect or "")
t.join(60)
h.check(m is not None and r.returncode == 0,
        "emailproxyctl authorise naming the account in another case "
        "takes the pasted URL", "%s %r" % (m, r.stderr))
first = result[0] if result else ""
if not first.startswith("a OK"):
    # A login that was answered before the consent: the next one gets in.
    first = login("aUTH@example.com", "auth pw")
h.check(first.startswith("a OK"), "the login in another case gets the "
        "tokens authorised under a third spelling", first)

for user in ("mixed.case@example.com", "MIXED.CASE@EXAMPLE.COM"):
    r = login(user, "wrong pw")
    h.check(r.startswith("a NO"), "a wrong password typed as %s is "
            "refused" % user, r)
r = login(SECTION, PASSWORD)
h.check(r.startswith("a NO") and "too many failed logins" in r,
        "wrong passwords in two cases count against one account: the "
        "right one is throttled", r)
h.finish()
