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
"""emailproxy -M: the token records of a file store copied into Redis
and back, byte for byte, and each copy serves logins with no new
authorisation.

An instance on the file store authorises two accounts (password and
client-credentials grants) and stops.  `emailproxy -M to-redis` copies
both records into Redis (the same bytes); an instance on Redis logs
both in without a grant.  `emailproxy -M to-file` copies them into an
empty store_dir: the same bytes as the original files, mode 0600,
owned by the daemon's user; an instance on that directory logs in
without a grant.  A damaged file is reported and not copied (exit 1).
"""

import os
import pwd
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import Harness  # noqa: E402
from redisstore import Cluster  # noqa: E402

ROPC = "ropc@example.com"
CCG = "ccg@example.com"

h = Harness("redis_migrate")
h.start_dovecot()
oauth = h.oauth
oauth.set(ropc_password="right")
c = Cluster(h)
c.start_redis()


def grants():
    return sum(oauth.stats().get("token", {}).values())


def files(d):
    out = {}
    for n in sorted(os.listdir(d)):
        if n.endswith(".json"):
            with open(os.path.join(d, n), "rb") as f:
                out[n] = f.read()
    return out


def migrate(inst, direction):
    p = subprocess.run([h.emailproxy_bin, "-f", inst.conf, "-M", direction],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


f1 = c.start_proxy("file1", store="file")
r1 = c.login(f1, ROPC, "right")
r2 = c.login(f1, CCG, "anything")
h.check(r1.startswith("a OK") and r2.startswith("a OK"),
        "file store: two accounts authorised", r1 + r2)
c.stop(f1)
orig = files(f1.store)
h.check(len(orig) == 2, "two record files", str(list(orig)))

rc, out, err = migrate(f1, "to-redis")
h.check(rc == 0 and "2 token records copied" in out,
        "emailproxy -M to-redis copies 2 records", out + err)
recs = c.records()
same = all(recs.get("emailproxy:record:" + n[:-5], (0, b""))[1] == b
           for n, b in orig.items())
h.check(len(recs) == 2 and same,
        "Redis holds the files' bytes, byte for byte", str(list(recs)))

n = grants()
r = c.start_proxy("redis1")
r1 = c.login(r, ROPC, "right")
r2 = c.login(r, CCG, "anything")
h.check(r1.startswith("a OK") and r2.startswith("a OK") and grants() == n,
        "an instance on Redis logs both in with no new grant",
        r1 + r2 + str(oauth.stats()))
c.stop(r)

f2 = c.start_proxy("file2", store="file")
c.stop(f2)
for name in os.listdir(f2.store):
    os.unlink(os.path.join(f2.store, name))
back = c.records()
rc, out, err = migrate(f2, "to-file")
h.check(rc == 0 and "2 token records copied" in out,
        "emailproxy -M to-file copies 2 records", out + err)
got = files(f2.store)
h.check(got == orig, "the files are the original bytes, byte for byte",
        "%s vs %s" % (list(got), list(orig)))
uid = pwd.getpwnam(harness.PROXY_USER).pw_uid
modes = [(os.stat(os.path.join(f2.store, x)).st_mode & 0o777,
          os.stat(os.path.join(f2.store, x)).st_uid) for x in got]
h.check(modes and all(m == (0o600, uid) for m in modes),
        "mode 0600, owned by %s" % harness.PROXY_USER, str(modes))
h.check(c.records() == back, "Redis unchanged by the copy back", "")

n = grants()
c.restart(f2)
r1 = c.login(f2, ROPC, "right")
r2 = c.login(f2, CCG, "anything")
h.check(r1.startswith("a OK") and r2.startswith("a OK") and grants() == n,
        "an instance on the copied files logs both in with no new grant",
        r1 + r2 + str(oauth.stats()))
c.stop(f2)

with open(os.path.join(f2.store, "broken%40example.com.json"), "w") as f:
    f.write("{not json")
rc, out, err = migrate(f2, "to-redis")
h.check(rc == 1 and "2 token records copied" in out and
        "1 not copied" in out and "broken%40example.com.json" in err,
        "a damaged file is named and not copied (exit 1)", out + err)
h.finish()
