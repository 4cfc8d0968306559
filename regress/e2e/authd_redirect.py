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
"""authd's redirect listener against slow clients, through the real
daemon: one client address holds at most 8 connections (the next one is
closed at once, while another address still gets its redirect served and
the login completes), and a request that trickles one byte a second is
closed at the 10 s deadline counted from accept, long before its bytes
stop, instead of being kept as long as bytes keep coming.
"""

import os
import select
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness  # noqa: E402

AUTH = "auth@example.com"
PASSWORD = "imap-pw-5d0e"
PER_ADDRESS = 8         # authd's limit of connections per client address
TRICKLE = 25            # bytes a trickler sends, one a second; the
                        # listener's deadline (10 s) is well before

h = Harness("authd_redirect")
h.start_dovecot()
oauth = h.oauth
h.start_emailproxy(h.standard_config(
    pop=False, smtp=False,
    extra_globals="kdf_iterations = 100000\nauth_timeout = 120\n"
                  "auth_wait = 120"))
port = h.proxy_ports["imap"]
redirect_uri = h.accounts[AUTH]["redirect_uri"]
rport = urllib.parse.urlsplit(redirect_uri).port


def login(user, password=PASSWORD, timeout=90):
    c = h.connect(port, timeout=timeout)
    try:
        c.readline()
        c.send(b'a LOGIN "%s" "%s"\r\n' % (user.encode(),
                                           password.encode()))
        return c.read_until(rb"^a (OK|NO|BAD)")[-1].decode(
            "utf-8", "replace").strip()
    finally:
        c.close()


def connect_from(src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((src, 0))
    s.connect(("127.0.0.1", rport))
    return s


def closed_by_peer(s, timeout):
    """True if the peer closed (or reset) s within timeout."""
    end = time.monotonic() + timeout
    while True:
        r, _, _ = select.select([s], [], [], max(0, end - time.monotonic()))
        if not r:
            return False
        try:
            if s.recv(4096) == b"":
                return True
        except OSError:
            return True


def get_from(src, url):
    """GET url from source address src: (status, body str)."""
    u = urllib.parse.urlsplit(url)
    s = connect_from(src)
    try:
        s.sendall(("GET %s?%s HTTP/1.1\r\nHost: %s\r\n\r\n" % (
            u.path, u.query, u.netloc)).encode())
        data = b""
        end = time.monotonic() + 10
        while time.monotonic() < end:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    text = data.decode("utf-8", "replace")
    try:
        status = int(text.split(" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    return status, text


# A login waits for a person; its redirect is ready before the flood.
result = {}


def background():
    try:
        result["r"] = login(AUTH)
    except Exception as e:  # noqa: BLE001 -- reported as a result
        result["r"] = "exception: %r" % e


mark = h.log_mark()
t = threading.Thread(target=background)
t.start()
m = h.wait_log(r"account %s needs authorisation: visit (\S+)" % AUTH,
               timeout=20, since=mark)
h.check(m is not None, "the code grant waits for a person",
        h.log_text()[mark:][-500:])
redirect = None
if m is not None:
    urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=h.client_ctx())).open(
            m.group(1), timeout=10).read()
    redirect = oauth.approve(login_hint=AUTH)

# The flood: PER_ADDRESS connections from 127.0.0.1 sending a byte each.
tricklers = [connect_from("127.0.0.1") for _ in range(PER_ADDRESS)]
for s in tricklers:
    s.sendall(b"G")
sent = [1] * PER_ADDRESS
closed_at = [None] * PER_ADDRESS

extra = connect_from("127.0.0.1")
h.check(closed_by_peer(extra, 3), "a connection over %d from one address "
        "is closed at once" % PER_ADDRESS, "still open after 3 s")
extra.close()

status, page = get_from("127.0.0.2", redirect) if redirect else (0, "")
h.check(status == 200 and "received the authorisation for account " + AUTH
        in page, "meanwhile another address (127.0.0.2) gets its redirect "
        "served", "%d %s" % (status, page[:200]))
t.join(60)
h.check(result.get("r", "").startswith("a OK"), "... and the login "
        "completes", result.get("r", "still waiting"))

# Keep trickling: each is closed at the deadline, not kept alive.
for n in range(1, TRICKLE):
    time.sleep(1)
    for i, s in enumerate(tricklers):
        if closed_at[i] is not None:
            continue
        if closed_by_peer(s, 0):
            closed_at[i] = sent[i]
            continue
        try:
            s.sendall(b"E")
            sent[i] += 1
        except OSError:
            closed_at[i] = sent[i]
    if all(c is not None for c in closed_at):
        break
for i, s in enumerate(tricklers):
    if closed_at[i] is None and closed_by_peer(s, 0):
        closed_at[i] = sent[i]
    s.close()
h.check(all(c is not None and c < TRICKLE for c in closed_at),
        "a request trickling a byte a second is closed at its deadline, "
        "before its %d bytes are sent" % TRICKLE,
        "bytes sent when closed: %s" % closed_at)

s = connect_from("127.0.0.1")
h.check(not closed_by_peer(s, 1), "once they are gone, the address may "
        "connect again", "closed at once")
s.close()
h.finish()
