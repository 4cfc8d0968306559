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
"""Pre-login limits that hold by default.

- login_timeout: a client must log in within that many seconds of
  connecting, however busy it keeps the connection.  A client trickling
  a byte a second (which restarts the idle timer every time) is closed at
  the deadline with IMAP `* BYE`, POP `-ERR`, SMTP `421`, and the log
  says why.  A session that logged in is not cut.
- Without max_connections_per_address, one address may hold 250
  connections to a server; the next gets the limit's reply.
- emailproxy -nv shows the defaults when the keys are absent.
"""

import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

DEADLINE = 3        # login_timeout on the trickle listeners
SLACK = 7           # scheduling on a loaded machine
PER_ADDRESS = 250   # the default max_connections_per_address

h = Harness("prelogin_limits")
h.start_dovecot()
dv = h.dovecot.ports

# An upstream that accepts connections and never answers: sessions to it
# stay before login, and count against the limits.
hole = socket.socket()
hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
hole_port = h.free_port()
hole.bind(("127.0.0.1", hole_port))
hole.listen(1024)

ports = {k: h.free_port() for k in ("imap", "pop", "smtp", "late", "many")}
extra = ""
for key, sect, up, more in (
        ("imap", "IMAP", dv["imaps"], ""),
        ("pop", "POP", dv["pop3s"], ""),
        ("smtp", "SMTP", dv["submission"], "server_starttls = True\n")):
    extra += ("[%s-%d]\nlocal_address = 127.0.0.1\nserver_address = "
              "127.0.0.1\nserver_port = %d\n%slogin_timeout = %d\n"
              "idle_timeout = 30\n\n" % (sect, ports[key], up, more,
                                          DEADLINE))
extra += ("[IMAP-%d]\nlocal_address = 127.0.0.1\nserver_address = "
          "127.0.0.1\nserver_port = %d\nlogin_timeout = 6\n\n"
          % (ports["late"], dv["imaps"]))
extra += ("[IMAP-%d]\nlocal_address = 127.0.0.1\nserver_address = "
          "127.0.0.1\nserver_port = %d\n\n" % (ports["many"], hole_port))
config = h.standard_config(pop=False, smtp=False, extra=extra)

# The defaults, as -nv shows them for a server without the keys.
conf = h.path("nv.conf")
with open(conf, "w") as f:
    f.write(h.fill_config(config))
r = subprocess.run([h.emailproxy_bin, "-nv", "-f", conf],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   stdin=subprocess.DEVNULL, timeout=30)
out = r.stdout.decode()
want = ("IMAP-%d: max_connections 1000, max_connections_per_address 250, "
        "login_timeout 120 s, idle_timeout 60 s" % ports["many"])
h.check(r.returncode == 0 and want in out.splitlines(),
        "-nv: defaults of a server without limit keys", repr(out[-600:]))
want = ("IMAP-%d: max_connections 1000, max_connections_per_address 250, "
        "login_timeout %d s, idle_timeout 30 s" % (ports["imap"], DEADLINE))
h.check(want in out.splitlines(), "-nv: login_timeout of a server",
        repr(out[-600:]))

h.start_emailproxy(config)


def trickle(key, greeting, command, bye):
    """Connect, then send command one byte a second until the proxy
    closes; the last line must be bye."""
    mark = h.log_mark()
    c = h.connect(ports[key])
    line = c.readline(timeout=20)
    h.check(line.startswith(greeting), "%s: greeting" % key, repr(line))
    t0 = time.monotonic()
    got = c.buf
    closed = False
    i = 0
    while not closed and time.monotonic() - t0 < DEADLINE + SLACK:
        try:
            c.sock.sendall(command[i % len(command):i % len(command) + 1])
        except OSError:
            closed = True
            break
        i += 1
        # Whatever comes within a second; b"" is the proxy's close.
        end = time.monotonic() + 1
        while time.monotonic() < end:
            c.sock.settimeout(max(0.01, end - time.monotonic()))
            try:
                d = c.sock.recv(4096)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not d:
                closed = True
                break
            got += d
    took = time.monotonic() - t0
    lines = got.split(b"\r\n")
    last = lines[-2] + b"\r\n" if len(lines) > 1 else got[-80:]
    h.check(closed, "%s: a client sending a byte a second is closed within "
            "login_timeout + %d s" % (key, SLACK), "%.1f s" % took)
    h.check(last == bye, "%s: the reply is %r" % (key, bye), repr(got[-200:]))
    cport = c.sock.getsockname()[1]
    h.check(h.wait_log(r"session \d+: 127\.0\.0\.1:%d: not logged in %d "
                       r"seconds after connecting \(login_timeout\)"
                       % (cport, DEADLINE), since=mark) is not None,
            "%s: the log says why, with the client address" % key)
    c.close()


threads = [
    threading.Thread(target=trickle, args=(
        "imap", b"* OK", b"a NOOP\r\n", b"* BYE Login timeout\r\n")),
    threading.Thread(target=trickle, args=(
        "pop", b"+OK", b"NOOP\r\n", b"-ERR Login timeout\r\n")),
    threading.Thread(target=trickle, args=(
        "smtp", b"220", b"NOOP\r\n", b"421 4.3.2 Login timeout\r\n")),
]
for t in threads:
    t.start()
for t in threads:
    t.join(60)

# A session that logged in before its deadline stays after it.
c = h.connect(h.proxy_ports["imap"])
c.readline()
c.send(b'a LOGIN ccg@example.com "ccg pw"\r\n')
ok = c.read_until(rb"a (OK|NO|BAD)", timeout=60)[-1]
h.check(ok.startswith(b"a OK"), "first login (sets the local password)",
        repr(ok))
c.close()
c = h.connect(ports["late"])
c.readline()
t0 = time.monotonic()
c.send(b'b LOGIN ccg@example.com "ccg pw"\r\n')
ok = c.read_until(rb"b (OK|NO|BAD)", timeout=30)[-1]
if ok.startswith(b"b OK") and time.monotonic() - t0 < 6:
    time.sleep(max(0, 6 + 1 - (time.monotonic() - t0)))
    c.send(b"c NOOP\r\n")
    try:
        last = c.read_until(rb"c (OK|NO|BAD)", timeout=10)[-1]
    except (EOFError, Exception) as e:  # noqa: BLE001
        last = repr(e).encode()
    h.check(last.startswith(b"c OK"), "a logged-in session outlives "
            "login_timeout", repr(last))
else:
    h.check(False, "login on the login_timeout = 6 listener", repr(ok))
c.close()

# max_connections_per_address by default.
mark = h.log_mark()
held = []
for i in range(PER_ADDRESS):
    held.append(h.connect(ports["many"]))
c = h.connect(ports["many"])
try:
    line = c.readline(timeout=20)
except (EOFError, Exception) as e:  # noqa: BLE001
    line = repr(e).encode()
want = ("* BYE IMAP-%d rejecting new connection from 127.0.0.1 above "
        "max_connections_per_address limit of %d\r\n"
        % (ports["many"], PER_ADDRESS))
h.check(line == want.encode(), "connection %d from one address, no limit "
        "keys: the default limit's reply" % (PER_ADDRESS + 1), repr(line))
c.close()
for c in held:
    c.close()

h.stop_emailproxy()
hole.close()
h.finish()
