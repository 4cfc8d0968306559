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
"""Cross-instance single flight: two instances share one Redis token
store; the OAuth server rotates refresh tokens (a used one is revoked,
and counted if it comes back).  The account's access token expires
while both instances hold it in memory; 50 concurrent logins, 25
through each instance, make exactly one refresh request, reuse no
refresh token, and all succeed.  Refresh ahead is off so that the
expired token really meets the 50 logins.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402
from redisstore import Cluster  # noqa: E402

ROPC = "ropc@example.com"
N = 50

h = Harness("redis_refresh")
h.start_dovecot()
oauth = h.oauth
oauth.set(ropc_password="right", rotate=1, expires_in=4)
c = Cluster(h)
c.start_redis()
G = "refresh_ahead = 0"
a = c.start_proxy("a", extra_globals=G)
b = c.start_proxy("b", extra_globals=G)


def grants(kind):
    return oauth.stats().get("token", {}).get(kind, 0)


r1 = c.login(a, ROPC, "right")
r2 = c.login(b, ROPC, "right")
h.check(r1.startswith("a OK") and r2.startswith("a OK"),
        "both instances hold the account (one authorisation)", r1 + r2)
h.check(grants("password") == 1, "one password grant", str(oauth.stats()))

# The 4 s token is no longer fresh after 2 s (half its life).
oauth.set(expires_in=3600)
time.sleep(3)
before = grants("refresh_token")
results = [None] * N
barrier = threading.Barrier(N)


def one(i):
    inst = a if i % 2 == 0 else b
    try:
        barrier.wait(timeout=30)
        results[i] = c.login(inst, ROPC, "right", timeout=60)
    except Exception as e:  # noqa: BLE001 - reported as a result
        results[i] = "error: %r" % e


threads = [threading.Thread(target=one, args=(i,)) for i in range(N)]
for t in threads:
    t.start()
for t in threads:
    t.join(timeout=120)
ok = sum(1 for r in results if r and r.startswith("a OK"))
refreshes = grants("refresh_token") - before
reused = oauth.stats().get("refresh_reused", 0)
h.info("50 logins over two instances: %d succeeded, %d refresh request(s), "
       "%d reused refresh token(s)" % (ok, refreshes, reused))
h.check(ok == N, "%d concurrent logins over two instances succeed" % N,
        str([r for r in results if not (r and r.startswith("a OK"))][:3]))
h.check(refreshes == 1, "exactly one refresh request at the OAuth server",
        "%d" % refreshes)
h.check(reused == 0, "no refresh token was used twice", str(reused))
waited = "another instance refreshed the tokens" in (a.log_text() +
                                                      b.log_text())
h.check(waited, "the other instance took the refreshed record from Redis",
        "no such log line")

# Both go on with the new tokens: no more requests.
r1 = c.login(a, ROPC, "right")
r2 = c.login(b, ROPC, "right")
h.check(r1.startswith("a OK") and r2.startswith("a OK") and
        grants("refresh_token") - before == 1,
        "later logins through either instance need no request",
        str(oauth.stats()))
recs = c.records()
h.check(recs.get("emailproxy:record:" + ROPC, (0,))[0] >= 2,
        "the record's version went up with the refresh", str(recs.keys()))
h.finish()
