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
"""Hostile scripted upstreams: a mail server that misbehaves on purpose.

    up = Upstream(h, handler, tls=True)    # implicit TLS (or plain)
    ... point a server section at up.port, let a client log in ...
    peer = up.next()                       # the finished connection

Each accepted connection runs handler(peer) in its own thread; when the
handler returns (or raises) the connection is closed (abruptly, unless
the handler closed it already) and the Peer is queued for next().  A
Peer can:

  send(data, frag=0, delay=0)   fragments of frag bytes (TCP_NODELAY,
                                a pause between them), after delay s
  readline(), read_until_eof()  everything received is also in .got
  pump(data)                    send data while reading to EOF
  starttls()                    server side of a STARTTLS upgrade
  mark()                        from now on .sent_after holds what the
                                script sends (to compare with what a
                                client received through the proxy)
  read_exact(n)
  close_by(how)                 one of CLOSERS: "clean" (TLS
                                close_notify, then close),
                                "no_close_notify", "half_close"
                                (shutdown(SHUT_WR), read on to EOF),
                                "reset" (RST once the last bytes are
                                acknowledged); end_socket() does the
                                same to any socket (a test's client)

The login helpers (imap_login, pop_login, smtp_login) answer the
proxy's XOAUTH2 login and check it carries the right user and a bearer
token; xoauth2_user() decodes one.  CLOSERS names the close paths.
"""

import array
import base64
import fcntl
import hashlib
import os
import queue
import random
import re
import select
import signal
import socket
import ssl
import struct
import termios
import threading
import time

CLOSERS = ("clean", "no_close_notify", "half_close", "reset")


class Peer:
    def __init__(self, up, sock):
        self.up = up
        self.sock = sock
        self.raw = sock
        self.got = b""
        self.buf = b""
        self.sent = b""
        self.sent_after = None
        self.error = None
        self.closed = False
        self.eof = False
        self.notes = []
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(up.timeout)

    # -- output --------------------------------------------------------

    def mark(self):
        self.sent_after = b""

    def send(self, data, frag=0, delay=0):
        if delay:
            time.sleep(delay)
        step = frag if frag > 0 else len(data) or 1
        for i in range(0, len(data), step):
            chunk = data[i:i + step]
            self.sock.sendall(chunk)
            self.sent += chunk
            if self.sent_after is not None:
                self.sent_after += chunk
            if frag > 0 and i + step < len(data):
                time.sleep(0.002)

    # -- input ---------------------------------------------------------

    def _fill(self):
        try:
            d = self.sock.recv(65536)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError,
                ConnectionResetError):
            d = b""
        if not d:
            self.eof = True
            raise EOFError("closed; have %r" % self.buf[-200:])
        self.got += d
        self.buf += d

    def readline(self):
        while b"\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_until_eof(self, timeout=None):
        """Everything up to the peer's close; socket.timeout if none."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            while True:
                self._fill()
        except EOFError:
            pass
        data, self.buf = self.buf, b""
        return data

    def pump(self, data, timeout=20):
        """Send data while reading until EOF (one thread: an SSLSocket
        takes no concurrent use); returns what was read.  Sending stops
        at the first error, reading at EOF or a reset."""
        sock, off, got = self.sock, 0, b""
        sock.setblocking(False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            w = [sock] if off < len(data) else []
            r, w, _ = select.select([sock], w, [], 1)
            if w:
                try:
                    off += sock.send(data[off:off + 65536])
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError,
                        BlockingIOError):
                    pass
                except OSError:
                    off = len(data)
            if r or (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                try:
                    d = sock.recv(65536)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError,
                        BlockingIOError):
                    continue
                except (ssl.SSLEOFError, ssl.SSLZeroReturnError,
                        ConnectionResetError):
                    d = b""
                if not d:
                    self.eof = True
                    break
                got += d
                self.got += d
        else:
            raise socket.timeout("no EOF in %d s" % timeout)
        sock.settimeout(self.up.timeout)
        return got

    # -- TLS -----------------------------------------------------------

    def starttls(self):
        """Take a TLS handshake as the server (bytes already buffered
        in clear are an error: the proxy must send nothing after its
        STARTTLS command)."""
        if self.buf:
            raise ValueError("data after STARTTLS: %r" % self.buf)
        self.sock = self.up.ctx.wrap_socket(self.sock, server_side=True,
                                            suppress_ragged_eofs=False)
        self.sock.settimeout(self.up.timeout)

    # -- the ways to end -----------------------------------------------

    def close_by(self, how):
        """End the connection the CLOSERS way how (see end_socket)."""
        if how == "half_close":
            self.sock.shutdown(socket.SHUT_WR)
            try:
                self.read_until_eof()
            except (OSError, ValueError) as e:
                self.notes.append("after half-close: %r" % e)
        else:
            end_socket(self.sock, how)
        self._close()

    def _close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass


def end_socket(sock, how):
    """End sock (plain or TLS, either side) one of the CLOSERS ways:
    clean: close_notify (TLS), then close; no_close_notify: close, which
    for an SSLSocket sends no close_notify; half_close: shutdown(SHUT_WR)
    only, the socket stays open for reading; reset: once the peer's
    kernel has acknowledged all we sent (so that the bytes are there to
    read and only the way of closing differs), close with SO_LINGER 0,
    which sends a RST."""
    if how == "clean":
        if isinstance(sock, ssl.SSLSocket):
            try:
                sock.settimeout(5)
                sock.unwrap()
            except (OSError, ValueError):
                pass
    elif how == "half_close":
        sock.shutdown(socket.SHUT_WR)
        return
    elif how == "reset":
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            n = array.array("i", [0])
            fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, n)
            if n[0] == 0:
                break
            time.sleep(0.005)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    elif how != "no_close_notify":
        raise ValueError(how)
    try:
        sock.close()
    except OSError:
        pass


class Upstream:
    """A listening scripted server; see the module docstring."""

    def __init__(self, h, handler, tls=False, timeout=10):
        self.h = h
        self.handler = handler
        self.timeout = timeout
        self.ctx = h.server_ctx()
        self.tls = tls
        self.done = queue.Queue()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.port = h.free_port()
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._run, args=(c,),
                             daemon=True).start()

    def _run(self, c):
        p = Peer(self, c)
        try:
            if self.tls:
                p.sock = self.ctx.wrap_socket(c, server_side=True,
                                              suppress_ragged_eofs=False)
                p.sock.settimeout(self.timeout)
            self.handler(p)
        except Exception as e:  # noqa: BLE001 -- reported by next()
            p.error = "%s: %s" % (type(e).__name__, e)
        finally:
            p._close()
            self.done.put(p)

    def next(self, timeout=20):
        """The next finished connection, or None after timeout s."""
        try:
            return self.done.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self):
        while not self.done.empty():
            self.done.get_nowait()

    def close(self):
        self.sock.close()


# ---- logins -----------------------------------------------------------

def xoauth2_user(b64):
    """The user of an XOAUTH2 initial response, if it carries a bearer
    token; else None."""
    try:
        raw = base64.b64decode(b64, validate=True)
    except ValueError:
        return None
    m = re.fullmatch(rb"user=([^\x01]+)\x01auth=Bearer [^\x01]+\x01\x01",
                     raw)
    return m.group(1).decode() if m else None


def imap_login(p, user, greeting=None, frag=0, caps=None, untagged=b"",
               starttls=False):
    """Greet, answer CAPABILITY (and STARTTLS), take the XOAUTH2 login
    (SASL-IR or continuation) for user; untagged lines go between the
    command and its tagged OK, which is sent in frag-byte pieces.
    Returns the login's tag."""
    if caps is None:
        caps = b"IMAP4rev1 SASL-IR AUTH=XOAUTH2"
        if starttls and not isinstance(p.sock, ssl.SSLSocket):
            caps += b" STARTTLS"
    if greeting is None:
        greeting = b"* OK [CAPABILITY " + caps + b"] hostile ready\r\n"
    p.send(greeting, frag=frag)
    while True:
        line = p.readline()
        m = re.match(rb"(\S+) (\S+)(?: (\S+))?(?: (\S+))?\r\n\Z", line)
        if not m:
            raise ValueError("unexpected line %r" % line)
        tag, verb = m.group(1), m.group(2).upper()
        if verb == b"CAPABILITY":
            c = b"IMAP4rev1 SASL-IR AUTH=XOAUTH2"
            if starttls and not isinstance(p.sock, ssl.SSLSocket):
                c += b" STARTTLS"
            p.send(b"* CAPABILITY " + c + b"\r\n" + tag + b" OK\r\n")
        elif verb == b"STARTTLS" and starttls:
            p.send(tag + b" OK begin TLS\r\n")
            p.starttls()
        elif verb == b"AUTHENTICATE" and m.group(3).upper() == b"XOAUTH2":
            resp = m.group(4)
            if resp is None:
                p.send(b"+ \r\n")
                resp = p.readline().rstrip(b"\r\n")
            if xoauth2_user(resp) != user:
                p.send(tag + b" NO bad token\r\n")
                raise ValueError("XOAUTH2 for someone else: %r" % resp)
            p.send(untagged + tag + b" OK logged in\r\n", frag=frag)
            return tag
        else:
            p.send(tag + b" BAD unexpected\r\n")


def pop_login(p, user, frag=0, starttls=False, capa=True):
    """+OK greeting, CAPA (-ERR if not capa), STLS, AUTH XOAUTH2 for
    user; the greeting and the final +OK in frag-byte pieces."""
    p.send(b"+OK hostile POP ready\r\n", frag=frag)
    while True:
        line = p.readline().rstrip(b"\r\n")
        verb = line.split(b" ", 1)[0].upper()
        if verb == b"CAPA" and capa:
            c = b"+OK\r\nSASL XOAUTH2\r\nUSER\r\n"
            if starttls and not isinstance(p.sock, ssl.SSLSocket):
                c += b"STLS\r\n"
            p.send(c + b".\r\n")
        elif verb == b"STLS" and starttls:
            p.send(b"+OK begin TLS\r\n")
            p.starttls()
        elif line.upper() == b"AUTH XOAUTH2":
            p.send(b"+ \r\n")
            resp = p.readline().rstrip(b"\r\n")
            if xoauth2_user(resp) != user:
                p.send(b"-ERR bad token\r\n")
                raise ValueError("XOAUTH2 for someone else: %r" % resp)
            p.send(b"+OK logged in\r\n", frag=frag)
            return
        else:
            p.send(b"-ERR unexpected\r\n")


def smtp_login(p, user, frag=0, starttls=False, ehlo=None):
    """220 greeting, EHLO (answered ehlo if given), STARTTLS, AUTH
    XOAUTH2 for user; the greeting and the 235 in frag-byte pieces."""
    p.send(b"220 hostile ESMTP\r\n", frag=frag)
    while True:
        line = p.readline().rstrip(b"\r\n")
        verb = line.split(b" ", 1)[0].upper()
        if verb in (b"EHLO", b"HELO") and ehlo is not None:
            p.send(ehlo, frag=frag)
        elif verb in (b"EHLO", b"HELO"):
            r = b"250-hostile.example\r\n"
            if starttls and not isinstance(p.sock, ssl.SSLSocket):
                r += b"250-STARTTLS\r\n"
            p.send(r + b"250 AUTH XOAUTH2\r\n")
        elif verb == b"STARTTLS" and starttls:
            p.send(b"220 2.0.0 go ahead\r\n")
            p.starttls()
        elif line.upper().startswith(b"AUTH XOAUTH2"):
            parts = line.split(b" ")
            if len(parts) > 2:
                resp = parts[2]
            else:
                p.send(b"334 \r\n")
                resp = p.readline().rstrip(b"\r\n")
            if xoauth2_user(resp) != user:
                p.send(b"535 5.7.8 bad token\r\n")
                raise ValueError("XOAUTH2 for someone else: %r" % resp)
            p.send(b"235 2.7.0 logged in\r\n", frag=frag)
            return
        else:
            p.send(b"502 5.5.1 unexpected\r\n")


# ---- the proxy's side of a test -------------------------------------------

USER = "ccg@example.com"
PASSWORD = "Hostile-Upstream-Secret"


def config(h, sections):
    """A whole config: sections (text) and the client-credentials
    account USER at the OAuth server (h.start_oauth() first)."""
    o = h.oauth
    o.set(ccg_user=USER)
    acct = ("[%s]\noauth2_flow = client_credentials\ntoken_url = %s\n"
            "oauth2_scope = mail\nclient_id = %s\n"
            % (USER, o.token_url, o.client_id))
    if o.client_secret:
        acct += "client_secret = %s\n" % o.client_secret
    return "[emailproxy]\n\n%s\n%s" % (sections, acct)


def section(h, proto, port, upstream, starttls=False, local_tls=False):
    s = ("[%s-%d]\nlocal_address = 127.0.0.1\nserver_address = 127.0.0.1\n"
         "server_port = %d\n" % (proto, port, upstream))
    if starttls:
        s += "server_starttls = True\n"
    if local_tls:
        s += "local_certificate_path = %s\nlocal_key_path = %s\n" % (
            h.cert_file, h.key_file)
    return s + "\n"


class Imap:
    name = "IMAP"
    starttls = "STARTTLS"
    error = re.compile(rb"(\* BYE |a NO |a BAD )")

    @staticmethod
    def server_login(p, user, **kw):
        imap_login(p, user, **kw)

    @staticmethod
    def client_login(c):
        """Greeting and LOGIN; the lines read, the last one the answer."""
        lines = [c.readline()]
        if not lines[0].startswith(b"* OK"):
            return lines
        c.send(b'a LOGIN %s "%s"\r\n' % (USER.encode(), PASSWORD.encode()))
        return lines + c.read_until(rb"(a (OK|NO|BAD)|\* BYE)", timeout=20)

    @staticmethod
    def logged_in(lines):
        return lines[-1].startswith(b"a OK")


class Pop:
    name = "POP"
    starttls = "STLS"
    error = re.compile(rb"-ERR ")

    @staticmethod
    def server_login(p, user, **kw):
        pop_login(p, user, **kw)

    @staticmethod
    def client_login(c):
        lines = [c.readline()]
        if not lines[0].startswith(b"+OK"):
            return lines
        c.send(b"USER %s\r\n" % USER.encode())
        lines.append(c.readline())
        if not lines[-1].startswith(b"+OK"):
            return lines
        c.send(b"PASS %s\r\n" % PASSWORD.encode())
        lines.append(c.readline(timeout=20))
        return lines

    @staticmethod
    def logged_in(lines):
        return len(lines) == 3 and lines[-1].startswith(b"+OK")


class Smtp:
    name = "SMTP"
    starttls = "STARTTLS"
    error = re.compile(rb"[45]\d\d[ -]")

    @staticmethod
    def server_login(p, user, **kw):
        smtp_login(p, user, **kw)

    @staticmethod
    def client_login(c):
        lines = [c.readline()]
        if not lines[0].startswith(b"220"):
            return lines
        c.send(b"EHLO client.example\r\n")
        lines += c.read_until(rb"\d\d\d ")
        if not lines[-1].startswith(b"250"):
            return lines
        plain = base64.b64encode(b"\0%s\0%s" % (USER.encode(),
                                                PASSWORD.encode()))
        c.send(b"AUTH PLAIN %s\r\n" % plain)
        lines += c.read_until(rb"\d\d\d ", timeout=20)
        return lines

    @staticmethod
    def logged_in(lines):
        return lines[-1].startswith(b"235")


def start(h, proto):
    """The OAuth server, the three upstreams every hostile test uses (a
    TLS relay, a STARTTLS relay, a server that speaks TLS at once and
    waits for a ClientHello longer than the proxy's idle timeout) and
    the proxy in front of them: sections "tls", "starttls", "local"
    (a TLS client to the TLS relay) and "confused" (server_starttls
    against the TLS-first server).  Returns (tls, stls, ports)."""
    h.start_oauth()
    tls = Relay(h, proto, tls=True)
    stls = Relay(h, proto, tls=False, starttls=True)
    tls_first = Upstream(h, lambda p: None, tls=True, timeout=90)
    ports = {k: h.free_port() for k in ("tls", "starttls", "local",
                                        "confused")}
    n = proto.name
    sections = (section(h, n, ports["tls"], tls.port) +
                section(h, n, ports["starttls"], stls.port,
                        starttls=True) +
                section(h, n, ports["local"], tls.port, local_tls=True) +
                section(h, n, ports["confused"], tls_first.port,
                        starttls=True))
    h.start_emailproxy(config(h, sections))
    return tls, stls, ports


def close_paths(h, proto, tls, stls, ports):
    """Every close path, byte-exact, through the sections of start()."""
    up = "%s, TLS upstream" % proto.name
    sup = "%s, %s upstream" % (proto.name, proto.starttls)
    server_closes(h, proto, tls, ports["tls"], up)
    server_closes(h, proto, stls, ports["starttls"], sup)
    client_closes(h, proto, tls, ports["local"],
                  "%s, TLS client" % proto.name)
    server_refuses_upload(h, proto, tls, ports["tls"], up)
    client_resets_download(h, proto, tls, ports["tls"], up)
    server_refuses_upload(h, proto, stls, ports["starttls"], sup)


def broken_paths(h, proto, tls, stls, ports, no_greeting, garbage_greeting,
                 endless_greeting, gone_in_login, starttls_then_plain):
    """The broken paths every protocol shares, through the sections of
    start(): no greeting, a garbage greeting, an endless greeting line,
    the server gone (reset, no close_notify) in the login and its retry,
    the STARTTLS command answered and then plaintext; then
    server_starttls against a server that speaks TLS at once (no wait
    for the idle timeout, the log names the key and the section).  The
    handlers are the protocol's own; gone_in_login(how) makes one."""
    n = proto.name
    broken(h, proto, tls, ports["tls"], "%s: no greeting" % n, no_greeting,
           login=False)
    broken(h, proto, tls, ports["tls"], "%s: garbage greeting" % n,
           garbage_greeting)
    broken(h, proto, tls, ports["tls"], "%s: endless greeting line" % n,
           endless_greeting, login=False)
    for how in ("reset", "no_close_notify"):
        broken(h, proto, tls, ports["tls"],
               "%s: server gone (%s) in the login and its retry" % (n, how),
               gone_in_login(how))
    broken(h, proto, stls, ports["starttls"],
           "%s: %s answered, then plaintext" % (n, proto.starttls),
           starttls_then_plain)


def confused_port(h, proto, ports):
    """server_starttls against the TLS-first server of start()."""
    n = proto.name
    port = ports["confused"]
    mark = h.log_mark()
    t0 = time.monotonic()
    broken(h, proto, None, port, "%s: server_starttls on a TLS port" % n,
           None, login=False, timeout=40)
    h.check(time.monotonic() - t0 < 30,
            "%s: server_starttls on a TLS port: no wait for the idle "
            "timeout" % n, "%.0f s" % (time.monotonic() - t0))
    h.check(h.wait_log(r"server_starttls.*\[%s-%d\]|\[%s-%d\].*"
                       r"server_starttls" % (n, port, n, port),
                       since=mark, timeout=5),
            "%s: server_starttls on a TLS port: the log names the key and "
            "the section" % n)


def payload(i):
    """What the server sends after login in run i: short answers and
    big ones, a 100 KB line, NULs, 8-bit bytes, bare CR and LF."""
    r = random.Random(i)
    if i % 2 == 0:
        return (b"* 1 FETCH (FLAGS (\\Seen caf\xc3\xa9 \x00))\r\n" * i +
                b"* BYE logging out \xff\r\nb OK LOGOUT done\r\n")
    return (r.randbytes(r.randrange(1, 300000)) + b"x" * 100000 + b"\r\n" +
            r.randbytes(r.randrange(1, 1000)))


def read_to_eof(c, timeout=20):
    """All a harness Conn gets until the proxy closes: (bytes, closed)."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            c._fill(deadline)
    except EOFError:
        closed = True
    except Exception:  # noqa: BLE001 -- the harness's read timeout
        closed = False
    data, c.buf = c.buf, b""
    return data, closed


class Relay:
    """One upstream (TLS or plain with STARTTLS) whose connections log
    in and then do what .state says: "server" (read the client's bytes,
    send payload, close by .state["how"]) or "client" (read to EOF);
    any other "case" is a handler taking (peer)."""

    def __init__(self, h, proto, tls=True, starttls=False):
        self.proto = proto
        self.starttls = starttls
        self.state = {"case": "server"}
        self.up = Upstream(h, self.handle, tls=tls)
        self.port = self.up.port

    def handle(self, p):
        st = self.state
        if callable(st["case"]):
            st["case"](p)
            return
        self.proto.server_login(p, USER, starttls=self.starttls)
        p.mark()
        if st["case"] == "client":
            p.client_bytes = p.read_until_eof(timeout=20)
            return
        if st["case"] == "download":
            p.client_bytes = p.pump(b"z" * (16 << 20))
            return
        if st["case"] == "upload":
            p.client_bytes = p.readline()
            # Let the upload fill every buffer on the way, so that the
            # proxy has bytes for us it cannot write; then the answer
            # and the reset reach it together, while it is stopped.
            time.sleep(0.5)
            os.kill(st["pid"], signal.SIGSTOP)
            try:
                p.send(st["payload"])
                p.close_by("reset")
            finally:
                os.kill(st["pid"], signal.SIGCONT)
            return
        p.client_bytes = p.read_exact(len(st["client"]))
        p.send(st["payload"])
        p.close_by(st["how"])


def _log_in(h, proto, port, tls, why, i):
    c = h.connect(port, tls=tls)
    lines = proto.client_login(c)
    if not proto.logged_in(lines):
        why.append("run %d: login: %r" % (i, lines[-3:]))
        c.close()
        return None
    return c


def server_closes(h, proto, relay, port, label, runs=10):
    """Every CLOSERS way for the server to end after its last bytes,
    runs times each: the client must get exactly what the server sent
    after login, the server exactly what the client sent."""
    for how in CLOSERS:
        good, why = 0, []
        for i in range(runs):
            relay.up.drain()
            client = b"b LOGOUT \x00\xe9\r\n" + random.Random(-i).randbytes(
                i * 997) + b"\r\n"
            relay.state.update(case="server", how=how, payload=payload(i),
                               client=client)
            c = _log_in(h, proto, port, False, why, i)
            if c is None:
                continue
            c.send(client)
            data, closed = read_to_eof(c)
            c.close()
            p = relay.up.next()
            if p is None or p.error:
                why.append("run %d: server: %s" % (
                    i, p.error if p else "no connection"))
                continue
            want = p.sent_after or b""
            if data != want:
                why.append("run %d: client got %d bytes (sha256 %s), "
                           "server sent %d (sha256 %s)" % (
                               i, len(data), hashlib.sha256(data)
                               .hexdigest()[:16], len(want),
                               hashlib.sha256(want).hexdigest()[:16]))
            elif p.client_bytes != client:
                why.append("run %d: the server got other bytes" % i)
            elif not closed:
                why.append("run %d: the proxy did not close" % i)
            else:
                good += 1
        h.check(good == runs, "%s: server ends by %s: %d of %d runs "
                "byte-exact both ways" % (label, how, good, runs),
                "; ".join(why[:3]))


def proxy_pid(h):
    """The proxy child of the running daemon."""
    for pid in h.proxy.children():
        try:
            t = h.proc_title(pid)
        except OSError:
            continue
        if re.search(r"\bproxy\b", t) and "tokend" not in t and \
           "authd" not in t:
            return pid
    raise ValueError("no proxy child")


def server_refuses_upload(h, proto, relay, port, label, runs=10):
    """The server answers while the client is still sending a lot, and
    resets: its answer must reach the client whole all the same."""
    good, why = 0, []
    pid = proxy_pid(h)
    for i in range(runs):
        relay.up.drain()
        answer = b"b NO [TOOBIG] no more \xff\r\n" * (i + 1)
        relay.state.update(case="upload", payload=answer, pid=pid)
        c = _log_in(h, proto, port, False, why, i)
        if c is None:
            continue
        blob = b"b APPEND\r\n" + b"x" * (16 << 20)

        def upload():
            try:
                c.sock.sendall(blob)
            except OSError:
                pass
        t = threading.Thread(target=upload, daemon=True)
        t.start()
        data, closed = read_to_eof(c)
        c.close()
        t.join(10)
        p = relay.up.next()
        if p is None or p.error:
            why.append("run %d: server: %s" % (
                i, p.error if p else "no connection"))
        elif data != answer:
            why.append("run %d: client got %r" % (i, data[-60:]))
        else:
            good += 1
    h.check(good == runs, "%s: server answers an upload and resets: %d of "
            "%d runs the answer arrives whole" % (label, good, runs),
            "; ".join(why[:3]))


def client_resets_download(h, proto, relay, port, label, runs=10):
    """The client sends its last bytes and resets while the server's big
    answer is still on its way to it: the bytes must reach the server."""
    good, why = 0, []
    pid = proxy_pid(h)
    for i in range(runs):
        relay.up.drain()
        relay.state.update(case="download")
        c = _log_in(h, proto, port, False, why, i)
        if c is None:
            continue
        last = b"b LOGOUT \xe9\x00\r\n" * (i + 1)
        # The proxy now has bytes for the client it cannot write; the
        # client's last bytes and its reset reach it while it is stopped.
        time.sleep(0.5)
        os.kill(pid, signal.SIGSTOP)
        try:
            c.sock.sendall(last)
            end_socket(c.sock, "reset")
        finally:
            os.kill(pid, signal.SIGCONT)
        p = relay.up.next()
        if p is None or p.error:
            why.append("run %d: server: %s" % (
                i, p.error if p else "no connection"))
        elif p.client_bytes != last:
            why.append("run %d: server got %r" % (i, p.client_bytes[-60:]))
        else:
            good += 1
    h.check(good == runs, "%s: client sends and resets during a download: "
            "%d of %d runs its bytes reach the server" % (label, good, runs),
            "; ".join(why[:3]))


def client_closes(h, proto, relay, port, label, runs=10):
    """The same with the client (over TLS) ending every CLOSERS way
    right after its last bytes: they must all reach the server."""
    for how in CLOSERS:
        good, why = 0, []
        for i in range(runs):
            relay.up.drain()
            relay.state.update(case="client")
            c = _log_in(h, proto, port, True, why, i)
            if c is None:
                continue
            blob = payload(i)
            c.sock.sendall(blob)
            end_socket(c.sock, how)
            if how == "half_close":
                read_to_eof(c)
            c.close()
            p = relay.up.next()
            if p is None or p.error:
                why.append("run %d: server: %s" % (
                    i, p.error if p else "no connection"))
            elif p.client_bytes != blob:
                why.append("run %d: server got %d bytes of %d" % (
                    i, len(p.client_bytes), len(blob)))
            else:
                good += 1
        h.check(good == runs, "%s: client ends by %s: %d of %d runs "
                "reach the server byte-exact" % (label, how, good, runs),
                "; ".join(why[:3]))


def broken(h, proto, relay, port, label, case, login=True, timeout=20):
    """A broken server (case: a handler for relay; or relay None and
    the server at port's section is broken): the client must get a
    well-formed error from the proxy, then the close.  login: the
    client tries to log in if it gets a greeting.  Returns the lines."""
    if relay is not None:
        relay.up.drain()
        relay.state.update(case=case)
    c = h.connect(port)
    lines = []
    try:
        if login:
            lines = proto.client_login(c)
        else:
            lines = [c.readline(timeout=timeout)]
        closed = c.closed_by_peer(timeout)
    except Exception as e:  # noqa: BLE001 -- reported below
        lines.append(("%s: %s" % (type(e).__name__, e)).encode())
        closed = isinstance(e, EOFError)
    c.close()
    last = lines[-1] if lines else b""
    h.check(proto.error.match(last) is not None and last.endswith(b"\r\n"),
            "%s: the client gets a well-formed error" % label, lines[-3:])
    h.check(closed, "%s: then the proxy closes" % label)
    return lines


def works(h, proto, relay, port, label, case):
    """An odd but valid server (case: a handler for relay): the client's
    login must work.  Returns the lines the client read."""
    relay.up.drain()
    relay.state.update(case=case)
    c = h.connect(port)
    try:
        lines = proto.client_login(c)
    except Exception as e:  # noqa: BLE001 -- reported below
        lines = [("%s: %s" % (type(e).__name__, e)).encode()]
    c.close()
    p = relay.up.next()
    h.check(proto.logged_in(lines) and p is not None and p.error is None,
            "%s: the login works" % label,
            "%r %s" % (lines[-3:], p and p.error))
    return lines
