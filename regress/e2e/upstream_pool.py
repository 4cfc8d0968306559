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
"""Pre-warmed upstream connections (upstream_pool), against scripted
upstreams that count every connection they accept and every command
each one gets, and against Dovecot.

- With upstream_pool = N, N connections are open, TLS done and greeted,
  before any client; show stats and show metrics report the pool.
- A login takes a pooled connection: the upstream sees no new connection
  for it, only the login's AUTHENTICATE on a connection it had greeted
  before the client came; the pool is filled up again.
- What the client gets from a pooled connection (greeting, capabilities)
  is what it gets from a fresh one (scripted server and Dovecot).
- A pooled connection the server closes, or one that gets an unasked
  BYE, is replaced, and the next client logs in without an error.
- A connection serves one session: no connection ever gets a second
  AUTHENTICATE, and after the client's LOGOUT the proxy closes it.
- 20 clients at once: the pool never holds more than its size, and the
  upstream sees no more than 20 + the size connections.
- A reload with another size resizes the pool (extra idle connections
  closed, the logged-in session kept); another change to the section
  replaces the pool.
- POP and SMTP: a login over a pooled connection; server_starttls: the
  session upgrades the pooled connection before the login.
- A server that refuses connections, or greets with BYE: attempts are
  backed off (a handful in 6 s, never a loop), the log says why, and a
  client gets what it would get from a fresh connection.
- The daemon stops cleanly with its pools open.
"""

import base64
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from harness import Harness, wait_until  # noqa: E402
import hostile  # noqa: E402
from hostile import Imap, Pop, Smtp, USER  # noqa: E402

IMAP_CAPS = b"IMAP4rev1 SASL-IR AUTH=XOAUTH2 ID"
GREETINGS = {
    "IMAP": b"* OK [CAPABILITY " + IMAP_CAPS + b"] counted ready\r\n",
    "POP": b"+OK counted POP ready\r\n",
    "SMTP": b"220-counted.example ESMTP\r\n220 counted ready\r\n",
}


class Counted:
    """An upstream that numbers its connections and records, for each,
    the commands it got, the logins and whether the proxy closed it.
    kill: None, "close" (a connection that got no command yet is closed
    by the server) or "bye" (it gets an unasked BYE and stays open)."""

    def __init__(self, h, proto, tls=True):
        self.proto = proto
        self.lock = threading.Lock()
        self.conns = []
        self.kill = None
        self.up = hostile.Upstream(h, self.handle, tls=tls, timeout=60)
        self.port = self.up.port

    def accepted(self):
        with self.lock:
            return len(self.conns)

    def idle(self):
        """Open connections that have had no command."""
        with self.lock:
            return [r for r in self.conns
                    if not r["cmds"] and not r["end"]]

    def handle(self, p):
        r = {"n": len(self.conns), "cmds": [], "auths": 0, "end": None,
             "killed": None, "after_login": b""}
        with self.lock:
            r["n"] = len(self.conns)
            self.conns.append(r)
        p.send(GREETINGS[self.proto])
        p.sock.settimeout(0.2)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                line = p.readline()
            except (socket.timeout, TimeoutError):
                if not r["cmds"] and self.kill and not r["killed"]:
                    r["killed"] = self.kill
                    if self.kill == "close":
                        r["end"] = "server closed"
                        p.close_by("clean")
                        return
                    p.send({"IMAP": b"* BYE Autologout; idle\r\n",
                            "POP": b"-ERR idle\r\n",
                            "SMTP": b"421 4.4.2 idle\r\n"}[self.proto])
                continue
            except (EOFError, OSError):
                r["end"] = "closed by the proxy"
                return
            r["cmds"].append(line)
            if r["auths"] > 0:
                r["after_login"] += line
            getattr(self, self.proto.lower())(p, r, line)
        r["end"] = "timeout"

    def imap(self, p, r, line):
        m = re.match(rb"(\S+) (\S+)(?: (\S+))?(?: (\S+))?\r\n\Z", line)
        if not m:
            p.send(b"* BAD what\r\n")
            return
        tag, verb = m.group(1), m.group(2).upper()
        if verb == b"CAPABILITY":
            p.send(b"* CAPABILITY " + IMAP_CAPS + b"\r\n" + tag + b" OK\r\n")
        elif verb == b"AUTHENTICATE":
            r["auths"] += 1
            ok = hostile.xoauth2_user(m.group(4) or b"") == USER
            p.send(tag + (b" OK logged in\r\n" if ok else b" NO bad\r\n"))
        elif verb == b"LOGOUT":
            # No close from here: the proxy must close it.
            p.send(b"* BYE bye\r\n" + tag + b" OK LOGOUT done\r\n")
        elif verb == b"NOOP":
            p.send(tag + b" OK NOOP done\r\n")
        else:
            p.send(tag + b" BAD unexpected\r\n")

    def pop(self, p, r, line):
        verb = line.split(b" ", 1)[0].rstrip(b"\r\n").upper()
        if verb == b"CAPA":
            p.send(b"+OK\r\nSASL XOAUTH2\r\nUSER\r\n.\r\n")
        elif line.upper().startswith(b"AUTH XOAUTH2"):
            p.send(b"+ \r\n")
            resp = p.readline()
            r["auths"] += 1
            ok = hostile.xoauth2_user(resp.rstrip(b"\r\n")) == USER
            p.send(b"+OK logged in\r\n" if ok else b"-ERR bad\r\n")
        elif verb == b"QUIT":
            p.send(b"+OK bye\r\n")
        else:
            p.send(b"-ERR unexpected\r\n")

    def smtp(self, p, r, line):
        verb = line.split(b" ", 1)[0].rstrip(b"\r\n").upper()
        if verb in (b"EHLO", b"HELO"):
            p.send(b"250-counted.example\r\n250-PIPELINING\r\n"
                   b"250 AUTH XOAUTH2\r\n")
        elif line.upper().startswith(b"AUTH XOAUTH2"):
            parts = line.rstrip(b"\r\n").split(b" ")
            if len(parts) > 2:
                resp = parts[2]
            else:
                p.send(b"334 \r\n")
                resp = p.readline().rstrip(b"\r\n")
            r["auths"] += 1
            ok = hostile.xoauth2_user(resp) == USER
            p.send(b"235 2.7.0 logged in\r\n" if ok else b"535 bad\r\n")
        elif verb == b"QUIT":
            p.send(b"221 2.0.0 bye\r\n")
        else:
            p.send(b"502 5.5.1 unexpected\r\n")


class SmtpMulti(Smtp):
    """The client side, for a greeting of more than one line."""

    @staticmethod
    def client_login(c):
        lines = c.read_until(rb"\d\d\d ")
        if not lines[-1].startswith(b"220 "):
            return lines
        c.send(b"EHLO client.example\r\n")
        lines += c.read_until(rb"\d\d\d ")
        if not lines[-1].startswith(b"250"):
            return lines
        plain = base64.b64encode(b"\0%s\0%s" % (
            USER.encode(), hostile.PASSWORD.encode()))
        c.send(b"AUTH PLAIN %s\r\n" % plain)
        lines += c.read_until(rb"\d\d\d ", timeout=20)
        return lines


def section(name, port, up, pool=0, extra=""):
    s = hostile.section(h, name, port, up.port)
    if pool:
        s = s.rstrip("\n") + "\nupstream_pool = %d\n\n" % pool
    if extra:
        s = s.rstrip("\n") + "\n" + extra + "\n\n"
    return s


def ctl(*args):
    return h.emailproxyctl("-s", h.path("ctl.sock"), *args).stdout.decode()


def stats():
    out = {}
    for line in ctl("show", "stats").splitlines():
        f = line.split()
        if len(f) == 2 and f[1].lstrip("-").isdigit():
            out[f[0]] = int(f[1])
    return out


def pool_gauge(what, sec):
    return stats().get('upstream_pool_%s{server="%s"}' % (what, sec))


def login(proto, port):
    c = h.connect(port)
    lines = proto.client_login(c)
    return c, lines


def logout(proto, c):
    c.send({"IMAP": b"z LOGOUT\r\n", "POP": b"QUIT\r\n",
            "SMTP": b"QUIT\r\n"}[proto.name])
    got = c.read_until({"IMAP": rb"z OK", "POP": rb"\+OK",
                        "SMTP": rb"221"}[proto.name])
    c.close()
    return got


def conn_of_login(up):
    """The connection that got the login (the last with an AUTH)."""
    with up.lock:
        done = [r for r in up.conns if r["auths"] > 0]
    return done[-1] if done else None


h = Harness("upstream_pool")
h.start_oauth()
imap = Counted(h, "IMAP")
imap2 = Counted(h, "IMAP")
pop = Counted(h, "POP")
smtp = Counted(h, "SMTP")
stls_peers = []


def stls_handle(p):
    stls_peers.append(p)
    p.tag = hostile.imap_login(p, USER, starttls=True)
    p.tls_login = isinstance(p.sock, hostile.ssl.SSLSocket)
    p.rest = p.read_until_eof(timeout=30)


stls = hostile.Upstream(h, stls_handle, tls=False, timeout=30)
busy_conns = []


def busy_handle(p):
    busy_conns.append(time.monotonic())
    p.send(b"* BYE too busy\r\n")
    p.read_until_eof(timeout=20)


busy = hostile.Upstream(h, busy_handle, tls=True, timeout=30)
ports = {k: h.free_port() for k in ("imap", "fresh", "pop", "smtp",
                                     "stls", "down", "nobody", "busy")}
SEC = "IMAP-%d" % ports["imap"]


def config(imap_pool, extra=""):
    return hostile.config(h, section("IMAP", ports["imap"], imap,
                                     pool=imap_pool, extra=extra) +
                          section("IMAP", ports["fresh"], imap2) +
                          section("POP", ports["pop"], pop, pool=1) +
                          section("SMTP", ports["smtp"], smtp, pool=1) +
                          hostile.section(h, "IMAP", ports["stls"],
                                          stls.port, starttls=True)
                          .rstrip("\n") + "\nupstream_pool = 1\n\n" +
                          hostile.section(h, "IMAP", ports["down"],
                                          ports["nobody"])
                          .rstrip("\n") + "\nupstream_pool = 3\n\n" +
                          hostile.section(h, "IMAP", ports["busy"],
                                          busy.port)
                          .rstrip("\n") + "\nupstream_pool = 2\n\n")


h.start_emailproxy(config(2))

# ---- warm before any client -----------------------------------------------
wait_until(lambda: len(imap.idle()) >= 2, timeout=15)
time.sleep(0.5)
h.check(imap.accepted() == 2 and len(imap.idle()) == 2,
        "IMAP, upstream_pool = 2: 2 connections open upstream before any "
        "client", "accepted %d, idle %d" % (imap.accepted(),
                                            len(imap.idle())))
h.check(all(not r["cmds"] for r in imap.conns),
        "the pooled connections got nothing after their TLS handshake "
        "(greeting not answered)", repr([r["cmds"] for r in imap.conns]))
wait_until(lambda: pool_gauge("idle", SEC) == 2, timeout=10)
h.check(pool_gauge("limit", SEC) == 2 and pool_gauge("idle", SEC) == 2
        and pool_gauge("connections", SEC) == 2,
        "show stats: the pool's limit, connections and idle for %s" % SEC,
        ctl("show", "stats"))
m = ctl("show", "metrics")
h.check('emailproxy_proxy_upstream_pool_idle{server="%s"} 2' % SEC in m and
        'emailproxy_proxy_upstream_pool_limit{server="%s"} 2' % SEC in m and
        "# TYPE emailproxy_proxy_upstream_pool_connections_taken_total "
        "counter" in m,
        "show metrics: the pool gauges per server and its counters", m[-800:])
if os.path.exists("/usr/bin/promtool"):
    r = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=m,
                       capture_output=True, text=True, timeout=30)
    h.check(r.returncode == 0, "promtool check metrics accepts them",
            r.stdout + r.stderr)

# ---- a login takes a pooled connection ---------------------------------------
before = imap.accepted()
c, lines = login(Imap, ports["imap"])
h.check(Imap.logged_in(lines), "IMAP: a login through the pool", lines)
r = conn_of_login(imap)
h.check(r is not None and r["n"] < before,
        "the login went over a connection the upstream had greeted before "
        "the client came (no new connection for it)",
        "login on connection %s, %d accepted before" % (
            r and r["n"], before))
h.check(r is not None and r["cmds"][0].split(b" ")[1:3] ==
        [b"AUTHENTICATE", b"XOAUTH2"] and r["auths"] == 1,
        "its first and only command before login is the AUTHENTICATE",
        r and r["cmds"])
greet_pooled = lines[0]
got = logout(Imap, c)
wait_until(lambda: r["end"] is not None, timeout=10)
h.check(r["end"] == "closed by the proxy",
        "after the client's LOGOUT the proxy closes that connection",
        r["end"])
h.check(r["auths"] == 1 and b"AUTHENTICATE" not in r["after_login"],
        "no second AUTHENTICATE on it", r["cmds"])
wait_until(lambda: len(imap.idle()) == 2, timeout=10)
h.check(len(imap.idle()) == 2 and imap.accepted() == before + 1,
        "the pool is filled up again with one new connection",
        "accepted %d, idle %d" % (imap.accepted(), len(imap.idle())))

# ---- the same greeting and capabilities as a fresh connection ----------------
c = h.connect(ports["fresh"])
greet_fresh = c.readline()
c.send(b"a CAPABILITY\r\n")
capa_fresh = c.read_until(rb"a OK")
c.close()
c = h.connect(ports["imap"])
greet_pooled2 = c.readline()
c.send(b"a CAPABILITY\r\n")
capa_pooled = c.read_until(rb"a OK")
c.close()
h.check(greet_pooled == greet_fresh == greet_pooled2,
        "the client's greeting from a pooled connection is a fresh "
        "connection's, byte for byte", "%r / %r" % (greet_pooled,
                                                   greet_fresh))
h.check(capa_pooled == capa_fresh,
        "and so is the CAPABILITY answer", "%r / %r" % (capa_pooled,
                                                       capa_fresh))

# ---- a pooled connection the server ends is replaced ---------------------------
for kill, what in (("close", "closed by the server"),
                   ("bye", "given an unasked BYE")):
    wait_until(lambda: len(imap.idle()) == 2 and
                 pool_gauge("idle", SEC) == 2, timeout=15)
    idle = imap.idle()
    n0 = imap.accepted()
    imap.kill = kill
    wait_until(lambda: all(x["killed"] for x in idle), timeout=10)
    imap.kill = None
    wait_until(lambda: all(x["end"] for x in idle), timeout=10)
    h.check(all(x["end"] for x in idle),
            "IMAP: pooled connections %s are closed" % what,
            repr([x["end"] for x in idle]))
    wait_until(lambda: pool_gauge("idle", SEC) == 2 and
                 len(imap.idle()) == 2, timeout=20)
    h.check(imap.accepted() == n0 + 2 and len(imap.idle()) == 2,
            "and replaced (%s)" % what,
            "accepted %d -> %d, idle %d" % (n0, imap.accepted(),
                                            len(imap.idle())))
    c, lines = login(Imap, ports["imap"])
    h.check(Imap.logged_in(lines) and not any(b"BYE" in x or b"NO" in x
                                              for x in lines),
            "the next client logs in without seeing an error (%s)" % what,
            lines)
    logout(Imap, c)

# ---- never reused ---------------------------------------------------------------
for i in range(5):
    c, lines = login(Imap, ports["imap"])
    h.check(Imap.logged_in(lines), "IMAP: login %d of 5 in a row" % (i + 1),
            lines)
    logout(Imap, c)
wait_until(lambda: all(x["end"] for x in imap.conns if x["auths"]),
             timeout=10)
with imap.lock:
    used = [x for x in imap.conns if x["auths"]]
h.check(len(used) >= 7 and all(x["auths"] == 1 for x in used),
        "no upstream connection ever got a second AUTHENTICATE "
        "(%d logins)" % len(used),
        repr([(x["n"], x["auths"]) for x in used]))
h.check(all(x["end"] == "closed by the proxy" for x in used),
        "every connection that served a login was closed by the proxy",
        repr([x["end"] for x in used]))

# ---- many clients at once: never above the limit ------------------------------
wait_until(lambda: pool_gauge("idle", SEC) == 2, timeout=15)
n0 = imap.accepted()
seen = []
clients = []
for i in range(20):
    c = h.connect(ports["imap"])
    clients.append(c)
    seen.append(pool_gauge("connections", SEC) or 0)
greets = [c.readline() for c in clients]
for c in clients:
    c.send(b'a LOGIN %s "%s"\r\n' % (USER.encode(),
                                     hostile.PASSWORD.encode()))
answers = [c.read_until(rb"a (OK|NO|BAD)|\* BYE", timeout=20)[-1]
           for c in clients]
wait_until(lambda: pool_gauge("idle", SEC) == 2, timeout=15)
seen.append(pool_gauge("connections", SEC) or 0)
h.check(all(g.startswith(b"* OK") for g in greets) and
        all(a.startswith(b"a OK") for a in answers),
        "20 clients at once all greeted and logged in",
        repr([a for a in answers if not a.startswith(b"a OK")][:3]))
h.check(max(seen) <= 2, "the pool never held more than 2 connections "
        "(sampled %d times)" % len(seen), repr(seen))
h.check(imap.accepted() - n0 <= 20 + 2,
        "the upstream saw at most 20 + 2 new connections",
        "%d" % (imap.accepted() - n0))
for c in clients:
    logout(Imap, c)

# ---- reload: resize ----------------------------------------------------------------
c_kept, lines = login(Imap, ports["imap"])
h.check(Imap.logged_in(lines), "IMAP: a session logged in before the reload",
        lines)
wait_until(lambda: len(imap.idle()) == 2, timeout=15)
mark = h.log_mark()
h.reload_emailproxy(config(4))
wait_until(lambda: len(imap.idle()) == 4 and
             pool_gauge("idle", SEC) == 4, timeout=20)
h.check(len(imap.idle()) == 4 and pool_gauge("limit", SEC) == 4,
        "reload to upstream_pool = 4: 4 idle connections upstream",
        "idle %d, stats %s" % (len(imap.idle()), pool_gauge("idle", SEC)))
old_idle = imap.idle()
h.reload_emailproxy(config(1))
wait_until(lambda: len(imap.idle()) == 1, timeout=20)
time.sleep(0.5)
h.check(len(imap.idle()) == 1 and pool_gauge("idle", SEC) == 1 and
        pool_gauge("limit", SEC) == 1 and
        sum(1 for x in old_idle if x["end"]) == 3,
        "reload to upstream_pool = 1: 3 of the 4 closed, 1 left",
        "idle %d, closed %d" % (len(imap.idle()),
                                sum(1 for x in old_idle if x["end"])))
c_kept.send(b"n NOOP\r\n")
h.check(c_kept.read_until(rb"n OK")[-1].startswith(b"n OK"),
        "a resize keeps the section's logged-in sessions")
logout(Imap, c_kept)
h.check(not re.search(r"IMAP-%d: changed" % ports["imap"],
                      h.log_text()[mark:]),
        "a resize does not replace the section")
old_idle = imap.idle()
h.reload_emailproxy(config(1, extra="idle_timeout = 33"))
wait_until(lambda: all(x["end"] for x in old_idle) and
             len(imap.idle()) == 1, timeout=20)
h.check(all(x["end"] for x in old_idle) and len(imap.idle()) == 1,
        "another change to the section replaces its pool",
        "old %r, idle %d" % ([x["end"] for x in old_idle],
                             len(imap.idle())))
h.reload_emailproxy(config(0, extra="idle_timeout = 33"))
wait_until(lambda: not imap.idle(), timeout=20)
h.check(not imap.idle() and pool_gauge("idle", SEC) is None,
        "reload to upstream_pool = 0: no pooled connection left")

# ---- POP and SMTP ----------------------------------------------------------------
for proto, up, port in ((Pop, pop, ports["pop"]), (SmtpMulti, smtp, ports["smtp"])):
    wait_until(lambda: len(up.idle()) == 1, timeout=15)
    before = up.accepted()
    c, lines = login(proto, port)
    h.check(proto.logged_in(lines), "%s: a login through the pool" %
            proto.name, lines)
    r = conn_of_login(up)
    h.check(before == 1 and r is not None and r["n"] == 0,
            "%s: the login went over the connection pooled before the "
            "client came" % proto.name,
            "accepted before %d, login on %s" % (before, r and r["n"]))
    logout(proto, c)
    wait_until(lambda: r["end"] is not None, timeout=10)
    h.check(r["auths"] == 1 and r["end"] == "closed by the proxy",
            "%s: one AUTH on it, and the proxy closes it after QUIT" %
            proto.name, "%r %r" % (r["auths"], r["end"]))
    wait_until(lambda: len(up.idle()) == 1, timeout=10)
    h.check(up.accepted() == 2 and len(up.idle()) == 1,
            "%s: the pool is filled up again" % proto.name)

# ---- server_starttls: the session upgrades the pooled connection -----------
wait_until(lambda: len(stls_peers) == 1, timeout=15)
time.sleep(0.3)
h.check(len(stls_peers) == 1 and not stls_peers[0].got,
        "IMAP server_starttls: 1 connection pooled, greeted in clear, "
        "nothing sent to it", "%d %r" % (len(stls_peers), [
            x.got for x in stls_peers]))
c, lines = login(Imap, ports["stls"])
h.check(Imap.logged_in(lines), "IMAP server_starttls: a login through the "
        "pool", lines)
c.close()
first = stls.next(timeout=10)
h.check(first is stls_peers[0] and first.error is None and
        first.tls_login,
        "its login went over the pooled connection, after STARTTLS",
        first and first.error)

# ---- a server that refuses every connection: back-off, no busy loop ------
DOWN = "IMAP-%d" % ports["down"]
f0 = stats().get("proxy_upstream_pool_failed_total", 0)
time.sleep(6)
f1 = stats().get("proxy_upstream_pool_failed_total", 0)
h.check(0 <= f1 - f0 <= 6 and pool_gauge("idle", DOWN) == 0 and
        pool_gauge("connections", DOWN) <= 1,
        "a refusing server: %d failed attempts in 6 s (back-off), at "
        "most one at a time" % (f1 - f0),
        "connections %s" % pool_gauge("connections", DOWN))
h.check(re.search(r"%s: pooled connection to 127\.0\.0\.1:%d: .*refused"
                  % (DOWN, ports["nobody"]), h.log_text()) is not None,
        "the log names the section and why the pooled connection failed")
c = h.connect(ports["down"])
h.check(c.readline().startswith(b"* BYE Server unavailable"),
        "a client of that section gets the bye a fresh connection gets")
c.close()

# A server that greets with BYE: never pooled, attempts backed off, and
# a client gets that BYE as from a fresh connection.
BUSY = "IMAP-%d" % ports["busy"]
n0 = len(busy_conns)
time.sleep(6)
n1 = len(busy_conns)
h.check(n1 >= 1 and n1 - n0 <= 4 and pool_gauge("idle", BUSY) == 0,
        "a server greeting with BYE: no pooled connection, %d attempts in "
        "6 s (back-off)" % (n1 - n0), "%d attempts in all" % n1)
c = h.connect(ports["busy"])
h.check(c.readline() == b"* BYE too busy\r\n",
        "its client gets the server's BYE, as from a fresh connection")
c.close()

h.check(h.stop_emailproxy() == 0,
        "the daemon stops cleanly with its pools open (exit 0)")

# ---- Dovecot ------------------------------------------------------------------------
h.start_dovecot()
dports = {k: h.free_port() for k in ("pooled", "fresh")}
dsec = "IMAP-%d" % dports["pooled"]
dconf = h.standard_config(pop=False, smtp=False)
cfg = dconf
for k, pool in (("pooled", 2), ("fresh", 0)):
    cfg += ("\n[IMAP-%d]\nlocal_address = 127.0.0.1\n"
            "server_address = 127.0.0.1\nserver_port = %d\n" %
            (dports[k], h.dovecot.ports["imaps"]))
    if pool:
        cfg += "upstream_pool = %d\n" % pool
h.start_emailproxy(cfg)
wait_until(lambda: pool_gauge("idle", dsec) == 2, timeout=20)
h.check(pool_gauge("idle", dsec) == 2,
        "Dovecot: 2 pooled connections ready before any client")
greets = {}
for k in ("fresh", "pooled"):
    c = h.connect(dports[k])
    greets[k] = [c.readline()]
    c.send(b"a CAPABILITY\r\n")
    greets[k] += c.read_until(rb"a OK")
    c.close()
h.check(greets["pooled"] == greets["fresh"],
        "Dovecot: greeting and CAPABILITY through a pooled connection are "
        "a fresh connection's", "%r / %r" % (greets["pooled"],
                                             greets["fresh"]))
st0 = stats().get("proxy_upstream_pool_taken_total", 0)
c = h.connect(dports["pooled"])
c.readline()
c.send(b'a LOGIN %s "%s"\r\n' % (USER.encode(),
                                 hostile.PASSWORD.encode()))
ans = c.read_until(rb"a (OK|NO|BAD)", timeout=20)
h.check(ans[-1].startswith(b"a OK"),
        "Dovecot: a login over a pooled connection", ans)
c.send(b"b SELECT INBOX\r\n")
h.check(c.read_until(rb"b (OK|NO|BAD)")[-1].startswith(b"b OK"),
        "Dovecot: the session works after it")
logout(Imap, c)
h.check(stats().get("proxy_upstream_pool_taken_total", 0) >= st0 + 1,
        "Dovecot: the pool counted the connection it gave")

h.finish()
