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
"""Two instances, one Redis token store: an account authorised through
instance A logs in through instance B with no new authorisation; the
record in Redis is the file store's format, sealed (no token in clear);
B's `emailproxyctl show accounts` lists it; a refresh by B is seen by A.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402
from redisstore import Cluster  # noqa: E402

ROPC = "ropc@example.com"
KEY = "emailproxy:record:" + ROPC

h = Harness("redis_shared")
h.start_dovecot()
oauth = h.oauth
oauth.set(ropc_password="right")
c = Cluster(h)
c.start_redis()
G = "refresh_ahead = 0\ndelete_account_token_on_password_error = False"
a = c.start_proxy("a", extra_globals=G)
b = c.start_proxy("b", extra_globals=G)


def grants(kind):
    return oauth.stats().get("token", {}).get(kind, 0)


r = c.login(a, ROPC, "right")
h.check(r.startswith("a OK"), "instance A: the first login obtains tokens",
        r)
h.check(grants("password") == 1, "one password grant at the OAuth server",
        str(oauth.stats()))
recs = c.records()
h.check(KEY in recs and recs[KEY][0] == 1,
        "the record is in Redis under %s, version 1" % KEY, str(recs))
text = recs.get(KEY, (0, b""))[1]
h.check(text.startswith(b"{") and text.endswith(b"}\n") and
        b'"aead": "aes-256-gcm"' in text and b'"account": "%s"' % ROPC.encode()
        in text, "the Redis record is the file store's text", text[:200])
h.check(b"access_token\"" not in text and b"refresh_token" not in text,
        "no token in clear in Redis", text[:300])
h.check(not os.listdir(a.store) and not os.listdir(b.store),
        "no record file in either store_dir",
        "%s %s" % (os.listdir(a.store), os.listdir(b.store)))

r = c.login(b, ROPC, "right")
h.check(r.startswith("a OK"), "instance B logs in with A's record", r)
h.check(grants("password") == 1 and grants("refresh_token") == 0,
        "B needed no new authorisation and no refresh", str(oauth.stats()))
r = c.login(b, ROPC, "wrong")
h.check(r.startswith("a NO"), "B: a wrong password is refused", r)

out = c.ctl(b, "show", "accounts")
h.check(out.returncode == 0 and ROPC in out.stdout.decode(),
        "B's emailproxyctl show accounts lists the account",
        (out.stdout + out.stderr).decode())

# Both restart: memory is empty, Redis keeps the record.
c.stop(a)
c.stop(b)
c.restart(a)
before = grants("password")
r = c.login(a, ROPC, "right")
h.check(r.startswith("a OK") and grants("password") == before,
        "A after a restart logs in from Redis", r + " " + str(oauth.stats()))
h.finish()
