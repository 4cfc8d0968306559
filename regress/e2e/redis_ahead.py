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
"""Refresh ahead of expiry with two instances sharing a Redis token
store: both hold the account and both have their refresh-ahead timer,
but each cycle's refresh is made by one of them; the other takes the
new record.  The OAuth server rotates refresh tokens and counts one
used twice: none is, over several cycles, and both instances still log
in with no further request.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402
from redisstore import Cluster  # noqa: E402

ROPC = "ropc@example.com"
LIFE = 8            # refresh ahead at half the lifetime: every 4 s
RUN = 18

h = Harness("redis_ahead")
h.start_dovecot()
oauth = h.oauth
oauth.set(ropc_password="right", rotate=1, expires_in=LIFE)
c = Cluster(h)
c.start_redis()
G = "refresh_ahead = 300"
a = c.start_proxy("a", extra_globals=G)
b = c.start_proxy("b", extra_globals=G)


def grants(kind):
    return oauth.stats().get("token", {}).get(kind, 0)


r1 = c.login(a, ROPC, "right")
r2 = c.login(b, ROPC, "right")
h.check(r1.startswith("a OK") and r2.startswith("a OK"),
        "both instances hold the account", r1 + r2)
time.sleep(RUN)
n = grants("refresh_token")
reused = oauth.stats().get("refresh_reused", 0)
taken = sum(i.log_text().count("another instance refreshed the tokens")
            for i in (a, b))
h.info("%d s: %d refresh requests, %d records taken from the other "
       "instance, %d reused refresh tokens" % (RUN, n, taken, reused))
h.check(n >= 2, "refresh ahead ran (several cycles)", str(n))
h.check(reused == 0, "no refresh token was sent twice", str(reused))
h.check(n <= RUN // (LIFE // 2) + 1,
        "one refresh per cycle, not one per instance",
        "%d requests in %d s" % (n, RUN))
h.check(taken >= 1, "an instance took the other's refreshed record", "")
r1 = c.login(a, ROPC, "right")
r2 = c.login(b, ROPC, "right")
h.check(r1.startswith("a OK") and r2.startswith("a OK") and
        grants("password") == 1 and
        oauth.stats().get("refresh_reused", 0) == 0,
        "both log in afterwards with no new authorisation",
        str(oauth.stats()))
h.finish()
