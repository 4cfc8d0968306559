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
"""notify_command on every event, through the real daemon, Dovecot and
the scripted OAuth server, with a hook that appends its EMAILPROXY_*
environment, its arguments and its command lines to a file:
auth-needed (with the URL) and auth-completed for a code-flow account,
refresh-failed when the background refresh gets invalid_grant,
token-revoked when Dovecot refuses a token and the new one too.  Each
event runs the hook exactly once, with the account and (only for
auth-needed) the URL in the environment and on no command line.  A hook
that sleeps beyond notify_timeout is killed and the log says so; events
that come while one runs are all run, one after the other.
"""

import os
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness, wait_until  # noqa: E402

AUTH = "auth@example.com"
CCG = "ccg@example.com"
PASSWORD = "notify-pw-3f7a"
EXPIRES = 20    # the consented token's lifetime: refreshed ahead at ~10 s

h = Harness("notify_events")
h.start_dovecot()
oauth = h.oauth
hooks = h.path("hooks")
os.makedirs(hooks, exist_ok=True)
os.chmod(hooks, 0o777)
EVENTS = os.path.join(hooks, "events.log")
SLEEP = os.path.join(hooks, "sleep")
HOOK = os.path.join(hooks, "hook.sh")
with open(HOOK, "w") as f:
    f.write("#!/bin/sh\n"
            "printf '%%s\\t%%s\\t%%s\\t%%s\\t%%s\\t%%s\\n' "
            "\"${EMAILPROXY_EVENT-<unset>}\" "
            "\"${EMAILPROXY_ACCOUNT-<unset>}\" "
            "\"${EMAILPROXY_URL-<unset>}\" \"$# $*\" "
            "\"$(tr '\\000' ' ' < /proc/$$/cmdline)\" "
            "\"$(tr '\\000' ' ' < /proc/$PPID/cmdline)\" >> %s\n"
            "if [ -s %s ]; then sleep \"$(cat %s)\"; fi\n"
            % (EVENTS, SLEEP, SLEEP))
os.chmod(HOOK, 0o755)

conf = h.standard_config(
    pop=False, smtp=False,
    extra_globals="kdf_iterations = 100000\nauth_timeout = 300\n"
                  "auth_wait = 2\nnotify_timeout = 3\n"
                  "notify_command = %s" % HOOK)
port = h.proxy_ports["imap"]
h.start_emailproxy(conf)
sock = h.path("ctl.sock")


def login(user, password=PASSWORD):
    c = h.connect(port, timeout=60)
    try:
        c.readline()
        c.send(b'a LOGIN "%s" "%s"\r\n' % (user.encode(),
                                           password.encode()))
        return c.read_until(rb"^a (OK|NO|BAD)", timeout=60)[-1].decode(
            "utf-8", "replace").strip()
    except Exception as e:  # noqa: BLE001 -- reported as the answer
        return "no answer: %s" % e
    finally:
        c.close()


def events():
    """The hook's lines: (event, account, url, args, own and parent
    command lines)."""
    try:
        with open(EVENTS) as f:
            return [tuple(line.rstrip("\n").split("\t"))
                    for line in f if line.strip()]
    except OSError:
        return []


def wait_events(pred, timeout=30):
    wait_until(lambda: pred(events()), timeout)
    return events()


def of(evs, name):
    return [e for e in evs if len(e) == 6 and e[0] == name]


# -- auth-needed, auth-completed ----------------------------------------
mark = h.log_mark()
got = login(AUTH)
h.check(got.startswith("a NO [ALERT]"), "a code-flow login with no token "
        "is answered after auth_wait", got)
evs = wait_events(lambda e: of(e, "auth-needed"))
needed = of(evs, "auth-needed")
url = needed[0][2] if needed else ""
h.check(len(needed) == 1 and needed[0][1] == AUTH and
        url.startswith(oauth.authorize_url),
        "auth-needed: the account and the URL to visit", repr(evs))

oauth.set(expires_in=EXPIRES)
if url:
    urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=h.client_ctx())).open(
            url, timeout=10).read()
redirect = oauth.approve(login_hint=AUTH)
r = h.emailproxyctl("-s", sock, "authorise", AUTH, redirect, timeout=60)
h.check(r.returncode == 0, "a person consents (emailproxyctl authorise)",
        (r.stdout + r.stderr).decode("utf-8", "replace"))
evs = wait_events(lambda e: of(e, "auth-completed"))
done = of(evs, "auth-completed")
h.check(len(done) == 1 and done[0][1] == AUTH and done[0][2] == "<unset>",
        "auth-completed: the account, no URL", repr(evs))

# -- refresh-failed: the background refresh gets invalid_grant ----------
got = login(AUTH)
h.check(got.startswith("a OK"), "the next login succeeds", got)
oauth.set(refresh_invalid_grant=1, expires_in=3600)
evs = wait_events(lambda e: of(e, "refresh-failed"), timeout=EXPIRES + 30)
failed = of(evs, "refresh-failed")
h.check(len(failed) == 1 and failed[0][1] == AUTH and
        failed[0][2] == "<unset>", "refresh-failed: the background "
        "refresh refused with invalid_grant, the account, no URL",
        repr(evs))
h.check(h.wait_log(r"%s: the refresh token was refused \(invalid_grant\)"
                   % AUTH, timeout=5, since=mark) is not None,
        "... which the log says too", "")
oauth.set(refresh_invalid_grant=0)

# -- token-revoked: the server refuses a token and the new one ----------
got = login(CCG)
h.check(got.startswith("a OK"), "a client-credentials account logs in",
        got)
oauth.set(ccg_user="someone-else@example.com")
oauth.revoke(username=CCG)
got = login(CCG)
h.check(got.startswith("a NO"), "the server refuses its token and the "
        "new one", got)
evs = wait_events(lambda e: of(e, "token-revoked"))
revoked = of(evs, "token-revoked")
h.check(len(revoked) == 1 and revoked[0][1] == CCG and
        revoked[0][2] == "<unset>", "token-revoked: the account, no URL",
        repr(evs))

# Nothing else comes: each event ran once.
time.sleep(2)
evs = events()
h.check(len(evs) == 4 and all(len(of(evs, n)) == 1 for n in (
        "auth-needed", "auth-completed", "refresh-failed", "token-revoked")),
        "each event ran the hook exactly once", repr(evs))
h.check(all(len(e) == 6 and e[3] == "0 " and (not url or (
        url not in e[4] and url not in e[5])) for e in evs),
        "no argument and no command line carries the URL", repr(evs))

# -- a hook that outlives notify_timeout is killed -----------------------
with open(SLEEP, "w") as f:
    f.write("60\n")
mark = h.log_mark()
got = login(CCG)
h.check(h.wait_log(r"notify_command for token-revoked of %s still runs "
                   r"after 3 s: killed" % CCG, timeout=30, since=mark)
        is not None, "a hook sleeping beyond notify_timeout is killed, "
        "and logged", h.log_text()[mark:][-600:])


def sleepers():
    """Command lines of the processes the killed hook started."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8",
                                                            "replace")
        except OSError:
            continue
        if cmd.startswith("sleep 60"):
            out.append(cmd)
    return out


h.check(wait_until(lambda: not sleepers(), 5), "... with the "
        "processes it started", repr(sleepers()))

# -- events in quick succession all run, one at a time -------------------
with open(SLEEP, "w") as f:
    f.write("1\n")
before = len(of(events(), "token-revoked"))
threads = [threading.Thread(target=login, args=(CCG,)) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join(90)
evs = wait_events(lambda e: len(of(e, "token-revoked")) >= before + 3)
h.check(len(of(evs, "token-revoked")) == before + 3, "three events in "
        "quick succession: all three run", repr(evs[-4:]))
time.sleep(2)
h.check(len(of(events(), "token-revoked")) == before + 3, "... each once",
        repr(events()[-5:]))
oauth.set(ccg_user=CCG)
h.finish()
