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
"""local_password_file through the real daemon (IMAP LOGIN at the proxy,
password grant at the regress OAuth server, Dovecot upstream).

The hashes are written by `emailproxyctl hash-password -a FILE USER`;
the account sections have no local_password.  Checks: a wrong password
is refused even on the first login (without the file the first login
would be trusted and set the password); the right one logs in; a user
appended to the file logs in after SIGHUP and a wrong password for that
user is refused; a reload with a bad line in the file fails naming the
file and line and the loaded hashes stay in force.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

h = Harness("passwd_login")
h.start_dovecot()
oauth = h.oauth

PW = "pw@example.com"
PW2 = "pw2@example.com"
pwfile = h.path("emailproxy.passwd")


def append(user, pw):
    r = subprocess.run([h.emailproxyctl_bin, "hash-password", "-a",
                        pwfile, user], input=(pw + "\n").encode(),
                       capture_output=True, timeout=30)
    h.check(r.returncode == 0, "hash-password -a adds %s" % user,
            "%d %r" % (r.returncode, r.stderr))


def login(user, password):
    """IMAP LOGIN at the proxy: the tagged answer line."""
    c = h.connect(h.proxy_ports["imap"])
    try:
        c.readline()
        c.send(b'a LOGIN "%s" "%s"\r\n' % (user.encode(),
                                           password.encode()))
        return c.read_until(rb"^a (OK|NO|BAD)")[-1].decode(
            "utf-8", "replace").strip()
    finally:
        c.close()


def reload_wait(mark):
    h.reload_emailproxy()
    h.wait_log(r"configuration reloaded|reload failed", 20, since=mark)
    return h.wait_log(r"reload failed", 0.2, since=mark) is None


common = ("oauth2_flow = password\ntoken_url = %s\noauth2_scope = mail\n"
          "client_id = %s\n" % (oauth.token_url, oauth.client_id))
if oauth.client_secret:
    common += "client_secret = %s\n" % oauth.client_secret

append(PW, "pw right")
conf = h.standard_config(pop=False, smtp=False,
                         extra_globals="kdf_iterations = 100000\n"
                         "local_password_file = %s\n" % pwfile,
                         extra="[%s]\n%s\n[%s]\n%s" % (PW, common, PW2,
                                                       common))
h.start_emailproxy(conf)

r = login(PW, "pw wrong")
h.check(r.startswith("a NO") and "is incorrect" in r,
        "a wrong password is refused on the first login (hash from "
        "local_password_file)", r)
r = login(PW, "pw right")
h.check(r.startswith("a OK"), "the right password from "
        "local_password_file logs in", r)
r = login(PW, "pw wrong")
h.check(r.startswith("a NO"), "a wrong password is refused after a "
        "login", r)

append(PW2, "pw2 right")
h.check(reload_wait(h.log_mark()), "SIGHUP reloads with the appended user",
        h.log_text()[-400:])
r = login(PW2, "pw2 wrong")
h.check(r.startswith("a NO") and "is incorrect" in r,
        "after SIGHUP a wrong password for the appended user is refused", r)
r = login(PW2, "pw2 right")
h.check(r.startswith("a OK"), "after SIGHUP the appended user logs in", r)

with open(pwfile, "a") as f:
    f.write("broken line\n")
mark = h.log_mark()
h.check(not reload_wait(mark) and
        h.wait_log(r"%s:3: not a \"user:hash\" line" % pwfile, 5,
                   since=mark) is not None,
        "a reload with a bad password file line fails naming file and "
        "line", h.log_text()[-400:])
r = login(PW, "pw wrong")
h.check(r.startswith("a NO"), "after the failed reload the hashes are "
        "still checked", r)
r = login(PW, "pw right")
h.check(r.startswith("a OK"), "after the failed reload the right "
        "password still logs in", r)
h.finish()
