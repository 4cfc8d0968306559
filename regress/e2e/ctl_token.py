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
"""emailproxyctl token ACCOUNT: an access token for clients that speak
XOAUTH2 themselves, given only for the account's password, read from
standard input or a descriptor (-p FD).

- The right password prints a token alone on a line; Dovecot (XOAUTH2
  only) accepts it; the audit line says result=ok proto=CTL.
- -p FD reads the password from that descriptor.
- A wrong password prints nothing on standard output, exits 1, is
  audited (result=bad-password) and counted toward throttling like a
  wrong mail login.
- A token about to expire is refreshed first, and token requests and a
  mail login at the same moment share one refresh.
- No password on the command line: the usage refuses one there; the
  password never reaches the log.
- mbsync with PassCmd "emailproxyctl ... token ..." and AuthMechs
  XOAUTH2 (Cyrus SASL's XOAUTH2 module) syncs INBOX straight from
  Dovecot over TLS.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness, xoauth2  # noqa: E402

h = Harness("ctl_token")
h.start_dovecot()
o = h.oauth
ACCOUNT = "mbox@example.com"
PASSWORD = "right horse battery"
MESSAGE = (b"From: Bob <bob@example.com>\r\n"
           b"Subject: for mbsync\r\n"
           b"Message-ID: <ctl-token@example.com>\r\n"
           b"\r\n"
           b"synced by mbsync with a token from emailproxyctl\r\n")
h.seed_message(ACCOUNT, MESSAGE)
common = ("token_url = %s\noauth2_scope = mail\nclient_id = %s\n"
          % (o.token_url, o.client_id))
if o.client_secret:
    common += "client_secret = %s\n" % o.client_secret
r = subprocess.run([h.emailproxyctl_bin, "hash-password"],
                   input=(PASSWORD + "\n").encode(), capture_output=True,
                   timeout=30)
HASH = r.stdout.decode().strip()
h.check(r.returncode == 0 and HASH.startswith("$"),
        "emailproxyctl hash-password hashes the account's local password",
        repr(r.stderr))
# No refresh ahead: a token is refreshed only when a request needs it.
h.start_emailproxy(h.standard_config(
    pop=False, smtp=False, extra_globals="refresh_ahead = 0\n",
    extra="[%s]\noauth2_flow = password\n%slocal_password = %s\n"
    % (ACCOUNT, common, HASH)))
h.check(h.wait_log(r"in place: ready", 20) is not None, "daemon is ready",
        h.log_text()[-500:])
SOCK = h.path("ctl.sock")


def token(password, *args, fd=False):
    """emailproxyctl token: (status, stdout, stderr); the password on
    standard input, or with fd on a pipe's descriptor (-p N)."""
    argv = [h.emailproxyctl_bin, "-s", SOCK, "token"]
    if not fd:
        argv += list(args) + [ACCOUNT]
        r = subprocess.run(argv, input=password.encode() + b"\n",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
    else:
        rd, wr = os.pipe()
        os.write(wr, password.encode() + b"\n")
        os.close(wr)
        argv += ["-p", str(rd), ACCOUNT]
        r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           pass_fds=(rd,), timeout=60)
        os.close(rd)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def dovecot_accepts(tok):
    """AUTHENTICATE XOAUTH2 straight at Dovecot (IMAPS) with tok."""
    c = h.connect(h.dovecot.ports["imaps"], tls=True)
    try:
        c.readline()
        c.send(b"a AUTHENTICATE XOAUTH2 " + xoauth2(ACCOUNT, tok) + b"\r\n")
        lines = c.read_until(rb"a (OK|NO|BAD)")
        return lines[-1].startswith(b"a OK")
    finally:
        c.close()


def refreshes():
    return o.stats().get("token", {}).get("refresh_token", 0)


def failures():
    r = h.emailproxyctl("-j", "-s", SOCK, "show", "accounts")
    for a in json.loads(r.stdout.decode() or "[]"):
        if a.get("account") == ACCOUNT:
            return a.get("failures", 0)
    return None


# -- the right password ------------------------------------------------------
rc, out, err = token(PASSWORD)
tok = out.strip()
h.check(rc == 0 and out.count("\n") == 1 and len(tok) > 0 and
        " " not in tok, "the right password prints a token alone on a line",
        "%d %r %r" % (rc, out, err))
h.check(tok and dovecot_accepts(tok),
        "Dovecot accepts the printed token (AUTHENTICATE XOAUTH2)", tok)
h.check(h.wait_log(r"audit: result=ok proto=CTL listener=control "
                   r"client=local account=%s" % re.escape(ACCOUNT), 5)
        is not None, "the audit line: result=ok proto=CTL", "")

rc, out, err = token(PASSWORD, fd=True)
h.check(rc == 0 and out.strip() and dovecot_accepts(out.strip()),
        "-p N reads the password from descriptor N (standard input "
        "closed); that token works too",
        "%d %r %r" % (rc, out, err))

# -- a wrong password --------------------------------------------------------
before = failures()
mark = h.log_mark()
rc, out, err = token("wrong horse")
h.check(rc == 1 and out == "" and "emailproxyctl: %s:" % ACCOUNT in err,
        "a wrong password prints nothing on standard output and exits 1",
        "%d %r %r" % (rc, out, err))
h.check(h.wait_log(r"audit: result=bad-password proto=CTL listener=control "
                   r"client=local account=%s" % re.escape(ACCOUNT), 5,
                   since=mark) is not None,
        "the audit line: result=bad-password proto=CTL", "")
after = failures()
h.check(before is not None and after is not None and after > before,
        "the wrong password counts toward throttling (failures %s -> %s)" %
        (before, after), "")
rc, out, err = token(PASSWORD)
h.check(rc == 0 and out.strip(),
        "the right password still gets a token after one wrong one",
        "%d %r %r" % (rc, out, err))

# -- refresh, shared with logins --------------------------------------------
# 4 s tokens: used while 2 s (half their life) remain, then refreshed
# (whole seconds: 3.2 s later at most 1 s remains).
o.set(expires_in=4)
r = h.emailproxyctl("-s", SOCK, "forget", ACCOUNT)
rc, out, err = token(PASSWORD)      # a new grant: a 4 s token
h.check(r.returncode == 0 and rc == 0 and
        h.wait_log(r"expires in 4 s", 5) is not None,
        "after forget, the next token request obtains a new (4 s) token",
        "%d %d %r" % (r.returncode, rc, err))
n0 = refreshes()
time.sleep(3.2)
rc, out, err = token(PASSWORD)
h.check(rc == 0 and out.strip() and refreshes() == n0 + 1 and
        dovecot_accepts(out.strip()),
        "a token near its expiry is refreshed first (one refresh), and "
        "the new one works", "%d refreshes %d -> %d" % (rc, n0, refreshes()))
time.sleep(3.2)
n0 = refreshes()
o.set(token_delay=1.5)
results = []


def ask():
    results.append(token(PASSWORD))


def login():
    c = h.connect(h.proxy_ports["imap"])
    c.readline()
    c.send(b'l LOGIN %s "%s"\r\n' % (ACCOUNT.encode(), PASSWORD.encode()))
    results.append(c.read_until(rb"l (OK|NO|BAD)", timeout=30)[-1])
    c.close()


threads = [threading.Thread(target=f) for f in (ask, ask, login)]
for t in threads:
    t.start()
for t in threads:
    t.join(60)
o.set(token_delay=0)
toks = [r[1].strip() for r in results if isinstance(r, tuple)]
logins = [r for r in results if not isinstance(r, tuple)]
h.check(len(toks) == 2 and all(toks) and len(logins) == 1 and
        logins[0].startswith(b"l OK") and refreshes() == n0 + 1,
        "two token requests and a mail login at once share one refresh",
        "results %r, refreshes %d -> %d" % (results, n0, refreshes()))
o.set(expires_in=3600)

# -- never on the command line -------------------------------------------
r = h.emailproxyctl("-s", SOCK, "token", ACCOUNT, PASSWORD)
h.check(r.returncode == 2 and b"token takes [-p fd] account" in r.stderr,
        "a password on the command line is a usage error",
        "%d %r" % (r.returncode, r.stderr))
r = subprocess.run([h.emailproxyctl_bin, "-s", SOCK, "token", ACCOUNT],
                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, timeout=30)
h.check(r.returncode == 1 and r.stdout == b"" and
        b"no password" in r.stderr,
        "no password on standard input: exit 1, nothing asked",
        "%d %r" % (r.returncode, r.stderr))
h.check(PASSWORD not in h.log_text() and "wrong horse" not in h.log_text(),
        "no password in the log", "")

# -- mbsync with PassCmd -----------------------------------------------------
pwfile = h.path("mbsync.pw")
with open(pwfile, "w") as f:
    f.write(PASSWORD + "\n")
os.chmod(pwfile, 0o600)
local = h.path("mbsync-mail")
os.makedirs(local, exist_ok=True)
conf = h.path("mbsyncrc")
with open(conf, "w") as f:
    f.write("""IMAPAccount dovecot
Host 127.0.0.1
Port %d
User %s
PassCmd "%s -s %s token %s < %s"
AuthMechs XOAUTH2
SSLType IMAPS
CertificateFile %s

IMAPStore dovecot-remote
Account dovecot

MaildirStore dovecot-local
Path %s/
Inbox %s/INBOX

Channel dovecot
Far :dovecot-remote:
Near :dovecot-local:
Patterns INBOX
Create Near
SyncState *
""" % (h.dovecot.ports["imaps"], ACCOUNT, h.emailproxyctl_bin, SOCK,
       ACCOUNT, pwfile, h.cert_file, local, local))
mark = h.log_mark()
try:
    r = subprocess.run(["mbsync", "-c", conf, "-a"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60, env=dict(os.environ, HOME=h.dir))
    rc, mout = r.returncode, (r.stdout + r.stderr).decode(errors="replace")
except subprocess.TimeoutExpired:
    rc, mout = None, "timed out"
got = []
for sub in ("cur", "new"):
    d = os.path.join(local, "INBOX", sub)
    for name in (os.listdir(d) if os.path.isdir(d) else []):
        with open(os.path.join(d, name), "rb") as f:
            got.append(f.read())
h.check(rc == 0 and any(b"<ctl-token@example.com>" in m for m in got),
        "mbsync with PassCmd \"emailproxyctl token\" and AuthMechs XOAUTH2 "
        "syncs INBOX from Dovecot", "rc %s, %d messages: %s" % (
            rc, len(got), mout[-600:]))
h.check(h.wait_log(r"audit: result=ok proto=CTL listener=control "
                   r"client=local account=%s" % re.escape(ACCOUNT), 5,
                   since=mark) is not None,
        "mbsync's token came from emailproxyctl token (audit line)", "")

h.stop_emailproxy()
h.finish()
