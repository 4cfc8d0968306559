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
"""emailproxyctl -j prints JSON for every command, also when the answer is
empty: show accounts, sessions (nobody connected), pending, stats and
metrics (the counters as one object, as show stats -j), log and reload.
No upstream server is needed: nothing logs in.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

h = Harness("ctl_json")
port = h.free_port()
upstream = h.free_port()
config = """[emailproxy]

[IMAP-%d]
local_address = 127.0.0.1
server_address = 127.0.0.1
server_port = %d

[user@example.com]
oauth2_flow = password
token_url = http://127.0.0.1:%d/token
oauth2_scope = mail
client_id = test-client
""" % (port, upstream, h.free_port())
h.start_emailproxy(config)
h.check(h.wait_log(r"in place: ready", 20) is not None, "daemon is ready",
        h.log_text()[-1000:])
SOCK = h.path("ctl.sock")


def ctl_json(*args):
    r = h.emailproxyctl("-j", "-s", SOCK, *args)
    text = r.stdout.decode("utf-8", "replace")
    try:
        return r.returncode, json.loads(text), text
    except ValueError:
        return r.returncode, None, text + r.stderr.decode(errors="replace")


for what, kind in (("accounts", list), ("sessions", list),
                   ("pending", list), ("stats", dict), ("metrics", dict)):
    rc, val, text = ctl_json("show", what)
    h.check(rc == 0 and isinstance(val, kind),
            "-j show %s prints JSON (%s)" % (what, kind.__name__),
            "%d %r" % (rc, text[:300]))
    if what == "sessions":
        h.check(val == [], "-j show sessions with nobody connected is []",
                repr(text[:300]))
    if what == "metrics":
        rc2, stats, text2 = ctl_json("show", "stats")
        h.check(isinstance(val, dict) and isinstance(stats, dict) and
                sorted(val) == sorted(stats) and
                any(k.startswith("proxy_") for k in val),
                "-j show metrics has the counters of show stats -j",
                "%r %r" % (text[:200], text2[:200]))
rc, val, text = ctl_json("show", "accounts")
h.check(isinstance(val, list) and
        [r.get("account") for r in val] == ["user@example.com"],
        "-j show accounts lists the configured account", repr(text[:300]))
for args in (("log", "verbose"), ("reload",)):
    rc, val, text = ctl_json(*args)
    h.check(rc == 0 and val == [], "-j %s prints []" % " ".join(args),
            "%d %r" % (rc, text[:300]))
h.stop_emailproxy()
h.finish()
