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
"""Accounts from include_directory through the real daemon (IMAP LOGIN at
the proxy, password grant at the regress OAuth server, Dovecot upstream).

Checks: an account whose section is only in a file of the include
directory logs in with its local password and is refused with a wrong
one; a file added to the directory is read on SIGHUP (its account logs
in); a reload whose included file has an error fails, the error names
that file and line, and the accounts loaded before still log in.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

h = Harness("include_login")
h.start_dovecot()
oauth = h.oauth

INC = "inc@example.com"
INC2 = "inc2@example.com"


def hash_password(pw):
    r = subprocess.run([h.emailproxyctl_bin, "hash-password"],
                       input=(pw + "\n").encode(), capture_output=True,
                       timeout=30)
    out = r.stdout.decode().strip()
    h.check(r.returncode == 0 and out.startswith("$"),
            "emailproxyctl hash-password prints a hash",
            "%d %r" % (r.returncode, r.stderr))
    return out


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


common = ("oauth2_flow = password\ntoken_url = %s\noauth2_scope = mail\n"
          "client_id = %s\n" % (oauth.token_url, oauth.client_id))
if oauth.client_secret:
    common += "client_secret = %s\n" % oauth.client_secret

incdir = h.path("conf.d")
os.mkdir(incdir, 0o700)
with open(os.path.join(incdir, "10-inc.conf"), "w") as f:
    f.write("[%s]\n%slocal_password = %s\n"
            % (INC, common, hash_password("inc right")))
conf = h.standard_config(pop=False, smtp=False,
                         extra_globals="kdf_iterations = 100000\n"
                         "include_directory = %s\n" % incdir)
h.start_emailproxy(conf)

r = login(INC, "inc right")
h.check(r.startswith("a OK"), "an account defined only in an included "
        "file logs in with its local password", r)
r = login(INC, "inc wrong")
h.check(r.startswith("a NO") and "is incorrect" in r,
        "the included account refuses a wrong password", r)
r = login(INC2, "inc2 right")
h.check(r.startswith("a NO"), "an account in no file is refused", r)

# A new file in the directory: read on SIGHUP.
with open(os.path.join(incdir, "20-inc2.conf"), "w") as f:
    f.write("[%s]\n%slocal_password = %s\n"
            % (INC2, common, hash_password("inc2 right")))
mark = h.log_mark()
h.reload_emailproxy()
h.check(h.wait_log(r"configuration reloaded|reload failed", 20,
                   since=mark) is not None and
        h.wait_log(r"reload failed", 0.2, since=mark) is None,
        "SIGHUP reloads with the new included file", h.log_text()[-400:])
r = login(INC2, "inc2 right")
h.check(r.startswith("a OK"), "the account of a file added to the "
        "include directory logs in after SIGHUP", r)

# An error in an included file: the reload fails naming it.
bad = os.path.join(incdir, "30-bad.conf")
with open(bad, "w") as f:
    f.write("[bad@example.com]\n%suse_pkce = maybe\n" % common)
mark = h.log_mark()
h.reload_emailproxy()
m = h.wait_log(r"%s:\d+: use_pkce: invalid boolean" % bad, 20, since=mark)
h.check(m is not None and m.group(0).startswith(
    "%s:%d:" % (bad, 2 + common.count("\n"))),
        "a reload with an error in an included file names that file and "
        "line", h.log_text()[-400:])
h.check(h.wait_log(r"reload failed", 20, since=mark) is not None,
        "the reload with the error fails", h.log_text()[-400:])
r = login(INC, "inc right")
h.check(r.startswith("a OK"), "after the failed reload the included "
        "account still logs in", r)
h.finish()
