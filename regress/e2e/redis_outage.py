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
"""Redis stopped and started again under two instances sharing it.

While it is down: logins whose access token is fresh in the instance's
memory go on; a login that needs the record (instance B never unlocked
the account) gets a prompt temporary failure in each protocol (IMAP
NO [UNAVAILABLE], POP -ERR [SYS/TEMP], SMTP 454) and so does one whose
token expired (its refresh needs the lock); the outage is logged once,
however many logins; health and the metrics show it.  Redis comes back
with its AOF: the record is the same bytes as before; the instances
reconnect by themselves (no restart) and the expired token is
refreshed.
"""

import base64
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness, wait_until  # noqa: E402
from redisstore import Cluster  # noqa: E402

ROPC = "ropc@example.com"
KEY = "emailproxy:record:" + ROPC
LIFE = 10

h = Harness("redis_outage")
h.start_dovecot()
oauth = h.oauth
oauth.set(ropc_password="right", rotate=1, expires_in=LIFE)
c = Cluster(h)
c.start_redis()
G = "refresh_ahead = 0"
a = c.start_proxy("a", extra_globals=G, all_protocols=True)
b = c.start_proxy("b", extra_globals=G, all_protocols=True)


def grants(kind):
    return oauth.stats().get("token", {}).get(kind, 0)


def pop_login(inst, user, pw):
    s = h.connect(inst.ports["pop"], timeout=30)
    try:
        s.readline()
        s.send(b"USER %s\r\nPASS %s\r\n" % (user.encode(), pw.encode()))
        s.readline()
        return s.readline().decode("utf-8", "replace").strip()
    finally:
        s.close()


def smtp_login(inst, user, pw):
    s = h.connect(inst.ports["smtp"], timeout=30)
    try:
        s.readline()
        s.send(b"EHLO client.example\r\n")
        while not s.readline().startswith(b"250 "):
            pass
        s.send(b"AUTH PLAIN " + base64.b64encode(
            b"\0" + user.encode() + b"\0" + pw.encode()) + b"\r\n")
        return s.readline().decode("utf-8", "replace").strip()
    finally:
        s.close()


t0 = time.monotonic()
r = c.login(a, ROPC, "right")
h.check(r.startswith("a OK"), "A: the first login obtains tokens", r)
before = c.records().get(KEY)

c.stop_redis()
warm = [c.login(a, ROPC, "right") for _ in range(5)]
fresh_window = time.monotonic() - t0 < LIFE / 2
h.check(all(x.startswith("a OK") for x in warm) and fresh_window,
        "Redis down: 5 warm logins through A (fresh token in memory) work",
        str(warm[:2]))
r = c.login(b, ROPC, "right", timeout=20)
h.check(r.startswith("a NO [UNAVAILABLE]"),
        "Redis down: B, which needs the record, answers IMAP NO "
        "[UNAVAILABLE]", r)
r = pop_login(b, ROPC, "right")
h.check(r.startswith("-ERR [SYS/TEMP]"),
        "Redis down: POP answers -ERR [SYS/TEMP]", r)
r = smtp_login(b, ROPC, "right")
h.check(r.startswith("454 4.7.0"), "Redis down: SMTP answers 454 4.7.0", r)

out = c.ctl(b, "health")
text = (out.stdout + out.stderr).decode()
h.check(out.returncode != 0 and "Redis unavailable" in text,
        "emailproxyctl health fails naming Redis", text)
out = c.ctl(b, "show", "metrics")
text = out.stdout.decode()
h.check(re.search(r"(?m)^emailproxy_tokend_store_available 0$", text)
        is not None, "metrics: emailproxy_tokend_store_available 0",
        text[-400:])

# The token expires (LIFE s): the login needs a refresh, hence the lock.
time.sleep(max(0, LIFE + 1 - (time.monotonic() - t0)))
n_before = grants("refresh_token")
r = c.login(a, ROPC, "right", timeout=20)
h.check(r.startswith("a NO [UNAVAILABLE]") and
        grants("refresh_token") == n_before,
        "Redis down: an expired token gets NO [UNAVAILABLE], no refresh",
        r)
for inst in (a, b):
    n = inst.log_text().count("Redis is unavailable")
    h.check(n == 1, "instance %s logged the outage once" % inst.name,
            "%d times" % n)

c.start_redis()
after = c.records().get(KEY)
h.check(after is not None and after == before,
        "Redis restarted from its AOF: the record is the same bytes",
        "%r / %r" % (before and before[0], after and after[0]))
got = {}


def recovered():
    got["r"] = c.login(a, ROPC, "right", timeout=20)
    return got["r"].startswith("a OK")


h.check(wait_until(recovered, timeout=60, interval=1),
        "A reconnects by itself and the expired token is refreshed",
        got.get("r", ""))
h.check(grants("refresh_token") == n_before + 1, "one refresh request",
        str(oauth.stats()))
h.check("Redis is available again" in a.log_text(),
        "A logged the end of the outage", "")
h.check(wait_until(lambda: c.login(b, ROPC, "right").startswith("a OK"),
                   timeout=60, interval=1),
        "B logs in with the refreshed record", "")
out = c.ctl(b, "health")
h.check(out.returncode == 0, "emailproxyctl health passes again",
        (out.stdout + out.stderr).decode())
h.check(oauth.stats().get("refresh_reused", 0) == 0,
        "no refresh token was used twice", str(oauth.stats()))
h.finish()
