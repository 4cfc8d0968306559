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
"""IMAP sessions across a reload and a shutdown:
sessions of an unchanged server section keep going; those of a removed
or changed section get `* BYE Server shutting down` and are closed; on
shutdown every client gets the bye line.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

USER = "reload@example.com"
BYE = b"* BYE Server shutting down\r\n"

h = Harness("imap_reload")
h.start_dovecot()
o = h.oauth
imaps = h.dovecot.ports["imaps"]
h.seed_message(USER, b"Subject: r\r\n\r\nr\r\n")
common = ("token_url = %s\noauth2_scope = mail\nclient_id = %s\n"
          % (o.token_url, o.client_id))
if o.client_secret:
    common += "client_secret = %s\n" % o.client_secret
p_gone = h.free_port()
p_changed = h.free_port()


def config(changed_idle, with_gone):
    extra = "[%s]\noauth2_flow = password\n%s\n" % (USER, common)
    extra += ("[IMAP-%d]\nlocal_address = 127.0.0.1\nserver_address = "
              "127.0.0.1\nserver_port = %d\nidle_timeout = %d\n\n"
              % (p_changed, imaps, changed_idle))
    if with_gone:
        extra += ("[IMAP-%d]\nlocal_address = 127.0.0.1\nserver_address = "
                  "127.0.0.1\nserver_port = %d\n\n" % (p_gone, imaps))
    return h.standard_config(pop=False, smtp=False, extra=extra)


cfg1 = config(100, True)
kept_port = h.proxy_ports["imap"]
h.start_emailproxy(cfg1)


def logged_in(port, tag):
    c = h.connect(port)
    c.readline()
    c.send(tag + b' LOGIN reload@example.com "r pw"\r\n')
    ok = c.read_until(tag + rb" (OK|NO|BAD)", timeout=30)[-1]
    return c, ok.startswith(tag + b" OK")


kept, ok1 = logged_in(kept_port, b"a")
gone, ok2 = logged_in(p_gone, b"b")
changed = h.connect(p_changed)
changed.readline()
h.check(ok1 and ok2, "sessions logged in on two servers, a third waits")

# Same IMAP section text (same port), the changed one gets a new
# idle_timeout, the third goes.
cfg2 = config(200, False)
cfg2 = cfg2.replace("[IMAP-%d]" % h.proxy_ports["imap"],
                    "[IMAP-%d]" % kept_port)
mark = h.log_mark()
h.reload_emailproxy(cfg2)
h.check(h.wait_log(r"configuration reloaded", 20, since=mark) is not None,
        "the proxy took the new configuration")
try:
    line = gone.readline(timeout=10)
except Exception as e:  # noqa: BLE001
    line = repr(e).encode()
h.check(line == BYE, "removed server: its session gets the bye line",
        repr(line))
h.check(gone.closed_by_peer(5), "removed server: session closed")
try:
    line = changed.readline(timeout=10)
except Exception as e:  # noqa: BLE001
    line = repr(e).encode()
h.check(line == BYE, "changed server: its session gets the bye line",
        repr(line))
kept.send(b"n NOOP\r\n")
line = kept.read_until(rb"n (OK|NO|BAD)", timeout=10)[-1]
h.check(line.startswith(b"n OK"), "unchanged server: session goes on",
        repr(line))
c, ok = logged_in(kept_port, b"c")
h.check(ok, "unchanged server still accepts new sessions")
c.close()
c, ok = logged_in(p_changed, b"d")
h.check(ok, "changed server accepts sessions under its new section")
c.close()
time.sleep(0.5)
refused = False
try:
    x = h.connect(p_gone)
    refused = x.closed_by_peer(3)
    x.close()
except OSError:
    refused = True
h.check(refused, "removed server no longer accepts connections")

# Shutdown: every client gets the bye line.
h.stop_emailproxy()
try:
    line = kept.readline(timeout=10)
except Exception as e:  # noqa: BLE001
    line = repr(e).encode()
h.check(line == BYE, "shutdown: the logged-in client gets the bye line",
        repr(line))
kept.close()
h.finish()
