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
"""A shared mailbox through the real daemon: [Shared@example.com] has
token_owner = owner@example.com (password grant at the regress OAuth
server) and a local_password of its own.  The upstream is scripted as
Office 365 behaves: it takes XOAUTH2 for the shared mailbox with the
access token of its owner (asked of the OAuth server's introspection),
and nothing else.

- emailproxyctl health does not count the shared mailbox as needing an
  authorisation, though a catch-all section gives its domain the
  device grant;
- a login as the shared address before the owner's tokens are unlocked
  is refused, saying so;
- owner\\shared with the owner's password reaches the shared mailbox
  with the owner's token (user= the section's spelling), and the log
  names both;
- a login as the shared address with its own password does too;
- once the owner's token expired, logins as the owner, as owner\\shared
  and as the shared address at once cost exactly one refresh;
- someone\\shared, someone not the token owner, is refused and never
  reaches the upstream;
- owner\\shared with a wrong password fails, and is throttled.
"""

import base64
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402
import hostile  # noqa: E402

OWNER = "owner@example.com"
SHARED = "Shared@example.com"
OTHER = "other@example.com"
PW = {OWNER: "owner pw", SHARED: "shared pw", OTHER: "other pw"}
DELEGATED = "%s\\%s" % (OWNER, SHARED.lower())

h = Harness("shared_mailbox")
oauth = h.start_oauth()
seen = []       # (XOAUTH2 user, owner of its token) per AUTHENTICATE
tokens = []     # the token of each


def xoauth2(resp):
    try:
        raw = base64.b64decode(resp, validate=True)
    except ValueError:
        return None, None
    m = re.fullmatch(rb"user=([^\x01]+)\x01auth=Bearer ([^\x01]+)\x01\x01",
                     raw)
    if not m:
        return None, None
    return m.group(1).decode(), m.group(2).decode()


def server(p):
    """IMAP that accepts SHARED and OWNER with a live token of OWNER."""
    p.send(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n")
    while True:
        try:
            line = p.readline()
        except EOFError:
            return
        words = line.rstrip(b"\r\n").split(b" ")
        tag = words[0]
        verb = words[1].upper() if len(words) > 1 else b""
        if verb == b"CAPABILITY":
            p.send(b"* CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2\r\n" +
                   tag + b" OK done\r\n")
        elif verb == b"AUTHENTICATE" and len(words) > 2 and \
                words[2].upper() == b"XOAUTH2":
            if len(words) > 3:
                resp = words[3]
            else:
                p.send(b"+ \r\n")
                resp = p.readline().rstrip(b"\r\n")
            user, token = xoauth2(resp)
            info = oauth.introspect(token) if token else {}
            owner = info.get("username") if info.get("active") else None
            seen.append((user, owner))
            tokens.append(token)
            if user in (SHARED, OWNER) and owner == OWNER:
                p.send(tag + b" OK logged in\r\n")
            else:
                p.send(tag + b" NO [AUTHENTICATIONFAILED] refused\r\n")
        elif verb == b"LOGOUT":
            p.send(b"* BYE bye\r\n" + tag + b" OK\r\n")
            return
        else:
            p.send(tag + b" BAD unexpected\r\n")


def hash_of(password):
    r = subprocess.run([h.emailproxyctl_bin, "hash-password"],
                       input=(password + "\n").encode(),
                       capture_output=True, timeout=30)
    return r.stdout.decode().strip()


up = hostile.Upstream(h, server, tls=True, timeout=30)
port = h.free_port()
grant = ("oauth2_flow = password\ntoken_url = %s\noauth2_scope = mail\n"
         "client_id = %s\n" % (oauth.token_url, oauth.client_id))
if oauth.client_secret:
    grant += "client_secret = %s\n" % oauth.client_secret
conf = ("[emailproxy]\nkdf_iterations = 100000\nrefresh_ahead = 0\n"
        "max_login_failures = 2\nallow_catch_all_accounts = yes\n\n" +
        hostile.section(h, "IMAP", port, up.port) +
        "[@example.com]\noauth2_flow = device\nclient_id = %s\n\n"
        % oauth.client_id +
        "[%s]\n%slocal_password = %s\n\n" % (OWNER, grant,
                                             hash_of(PW[OWNER])) +
        "[%s]\ntoken_owner = %s\nlocal_password = %s\n\n"
        % (SHARED, OWNER, hash_of(PW[SHARED])) +
        "[%s]\n%slocal_password = %s\n" % (OTHER, grant, hash_of(PW[OTHER])))
# The first token lives 2 s: it expires before the refresh test.
oauth.set(expires_in=2)
h.start_emailproxy(conf)


def quoted(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def open_login(user, password):
    c = h.connect(port)
    c.readline()
    c.send(("a LOGIN %s %s\r\n" % (quoted(user), quoted(password))).encode())
    return c


def answer(c):
    try:
        return c.read_until(rb"^a (OK|NO|BAD)", timeout=30)[-1].decode(
            "utf-8", "replace").strip()
    finally:
        c.close()


def login(user, password):
    return answer(open_login(user, password))


def refreshes():
    return oauth.stats().get("token", {}).get("refresh_token", 0)


r = h.emailproxyctl("-s", h.path("ctl.sock"), "health", "-s")
out = (r.stdout or b"").decode() + (r.stderr or b"").decode()
h.check(r.returncode == 0 and SHARED not in out,
        "health does not count the shared mailbox as needing an "
        "authorisation", "%d %s" % (r.returncode, out))

r = login(SHARED, PW[SHARED])
h.check(r.startswith("a NO") and "locked" in r and seen == [],
        "a login as the shared address before its owner's tokens are "
        "unlocked is refused, saying so", r)

mark = h.log_mark()
r = login(DELEGATED, PW[OWNER])
h.check(r.startswith("a OK") and seen[-1:] == [(SHARED, OWNER)],
        "owner\\shared with the owner's password reaches the shared "
        "mailbox with the owner's token, user= the section's spelling",
        "%s %r" % (r, seen))
h.check(h.wait_log(r"logged in to the shared mailbox %s with the tokens "
                   r"of %s" % (re.escape(SHARED), re.escape(OWNER)),
                   10, since=mark) is not None and
        h.wait_log(r"audit: result=ok .*account=%s$" %
                   re.escape(DELEGATED), 10, since=mark) is not None,
        "the log and the audit line name both the owner and the mailbox")

n = len(seen)
r = login(SHARED, PW[SHARED])
h.check(r.startswith("a OK") and seen[n:] == [(SHARED, OWNER)],
        "a login as the shared address with its own password reaches it "
        "with the owner's token", "%s %r" % (r, seen[n:]))

# The 2 s token is stale now; the refresh that renews it is slow.
time.sleep(2.5)
oauth.set(expires_in=3600, token_delay=2)
before, n = refreshes(), len(seen)
conns = [open_login(DELEGATED, PW[OWNER]), open_login(SHARED, PW[SHARED]),
         open_login(OWNER, PW[OWNER])]
rs = [answer(c) for c in conns]
oauth.set(token_delay=0)
h.check(rs[0].startswith("a OK") and rs[1].startswith("a OK"),
        "after expiry owner\\shared and the shared address log in at once",
        repr(rs))
h.check(refreshes() - before == 1, "one refresh served the owner, "
        "owner\\shared and the shared address",
        "%d refreshes" % (refreshes() - before))
h.check(sorted(seen[n:]) == sorted([(OWNER, OWNER), (SHARED, OWNER),
                                    (SHARED, OWNER)]) and
        len(set(tokens[n:])) == 1 and tokens[n] not in tokens[:n],
        "each went upstream with the owner's one renewed token",
        repr(seen[n:]))

n = len(seen)
mark = h.log_mark()
r = login("%s\\%s" % (OTHER, SHARED), PW[OTHER])
h.check(r.startswith("a NO") and len(seen) == n,
        "someone\\shared, someone not the token owner, is refused and "
        "never reaches the upstream", r)
h.check(h.wait_log(r"the token_owner of %s is %s" % (re.escape(SHARED),
                                                     re.escape(OWNER)),
                   10, since=mark) is not None,
        "the log says who the token owner is")

for i in range(2):
    r = login(DELEGATED, "wrong pw")
    h.check(r.startswith("a NO") and "incorrect" in r,
            "owner\\shared with a wrong password fails (%d)" % (i + 1), r)
r = login(DELEGATED, PW[OWNER])
h.check(r.startswith("a NO") and "too many failed logins" in r,
        "after two wrong passwords owner\\shared is throttled", r)
h.finish()
