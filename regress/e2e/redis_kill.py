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
"""kill -9 of one of two instances sharing a Redis token store, at
points of its refresh cycles (a bounded loop; the OAuth server rotates
refresh tokens and answers each refresh after a delay, so a kill lands
before, during or after the refresh request, holding the account's
lock or not).  After each kill the survivor logs the account in (after
the dead instance's lock expires, at worst); a refresh token the dead
one had already rotated may leave the record with a refused one, and
then the account gets a new grant (password grant here), which is what
"needs authorisation" means for it.  Checked: every record in Redis
decrypts with the password (the test opens it as the format says); the
survivor's first refresh after a kill sends the refresh token of the
newest record, never an older one; the killed instance, restarted,
logs in.
"""

import base64
import hashlib
import json
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402
from redisstore import Cluster  # noqa: E402

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

ROPC = "ropc@example.com"
PW = "right"
KEY = "emailproxy:record:" + ROPC
ROUNDS = 4

h = Harness("redis_kill")
h.start_dovecot()
oauth = h.oauth
oauth.set(ropc_password=PW, rotate=1, expires_in=2)
c = Cluster(h)
c.start_redis()
G = "refresh_ahead = 0\nhttp_timeout = 5"
a = c.start_proxy("a", extra_globals=G)
b = c.start_proxy("b", extra_globals=G)
rng = random.Random(18)


def open_record(text):
    """The secret part of a record, opened as the format says."""
    r = json.loads(text)
    salt = base64.b64decode(r["salt"])
    key = hashlib.pbkdf2_hmac("sha256", PW.encode(), salt, r["iterations"],
                              32)
    aad = (b"emailproxy-record\0" + r["version"].to_bytes(4, "big") +
           r["iterations"].to_bytes(4, "big") + salt +
           r["account"].encode())
    pt = AESGCM(key).decrypt(base64.b64decode(r["nonce"]),
                             base64.b64decode(r["ciphertext"]), aad)
    return json.loads(pt)


def saved_refresh():
    rec = c.records().get(KEY)
    if rec is None:
        return None, None
    return rec[0], open_record(rec[1]).get("refresh_token")


def refresh_requests(since):
    return [(q["time"], q["form"].get("refresh_token"))
            for q in oauth.requests()
            if q.get("grant_type") == "refresh_token" and q["time"] > since]


r = c.login(a, ROPC, PW)
h.check(r.startswith("a OK"), "A authorises the account", r)
r = c.login(b, ROPC, PW)
h.check(r.startswith("a OK"), "B logs in from Redis", r)

decrypts = True
first_ok = True
survivor_ok = True
for i in range(ROUNDS):
    time.sleep(1.5)                 # the 2 s token is no longer fresh
    oauth.set(token_delay=1.0)
    res = {}

    def a_login():
        try:
            res["a"] = c.login(a, ROPC, PW, timeout=20)
        except (OSError, EOFError):
            pass            # killed under it

    t = threading.Thread(target=a_login)
    t.start()
    time.sleep(rng.uniform(0.1, 1.6))
    c.kill9(a)
    t.join(timeout=30)
    t_kill = time.time()
    oauth.set(token_delay=0)
    try:
        version, rt = saved_refresh()
    except Exception as e:  # noqa: BLE001 - a record that does not open
        decrypts = False
        h.info("round %d: the record does not open: %r" % (i, e))
        version, rt = None, None
    t0 = time.monotonic()
    r = c.login(b, ROPC, PW, timeout=90)
    waited = time.monotonic() - t0
    survivor_ok &= r.startswith("a OK")
    reqs = refresh_requests(t_kill)
    if reqs and rt is not None and reqs[0][1] != rt:
        first_ok = False
        h.info("round %d: B's first refresh sent an older token" % i)
    h.info("round %d: A killed %s, record v%s, B: %s after %.1f s, "
           "B's refreshes %d, reused refresh tokens so far %d"
           % (i, "after its answer" if "a" in res else "mid-login",
              version, r[:4], waited, len(reqs),
              oauth.stats().get("refresh_reused", 0)))
    c.restart(a)
    r = c.login(a, ROPC, PW, timeout=90)
    survivor_ok &= r.startswith("a OK")

h.check(decrypts, "after every kill the record in Redis decrypts", "")
h.check(first_ok, "the survivor never refreshed with a token older than "
        "the newest record", "")
h.check(survivor_ok, "after every kill both instances log the account in "
        "(a refused refresh token gets a new grant)", "")
recs = c.records()
ok = True
for k, (v, text) in recs.items():
    try:
        open_record(text)
    except Exception:  # noqa: BLE001
        ok = False
h.check(ok and KEY in recs, "every record decrypts at the end",
        str(list(recs)))
h.finish()
