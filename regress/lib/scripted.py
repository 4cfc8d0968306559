"""A scripted line-at-a-time upstream for the STARTTLS tests: it sends a
greeting, answers each CRLF-terminated line with script(line) (None
closes the connection) and records every byte it gets in .got, so a test
can show that nothing it must not see (a login in clear) ever arrived."""

import socket
import threading


class ScriptedServer:
    def __init__(self, h, greeting, script):
        self.greeting = greeting
        self.script = script
        self.got = b""
        self.junk = None    # sent in answer to the next bytes, then close
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.port = h.free_port()
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(5)
        self.sock.settimeout(30)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.settimeout(10)
            try:
                self.session(c)
            except OSError:
                pass
            finally:
                c.close()

    def session(self, c):
        c.sendall(self.greeting)
        buf = b""
        while True:
            d = c.recv(4096)
            if not d:
                return
            self.got += d
            if self.junk is not None:
                c.sendall(self.junk)
                return
            buf += d
            while b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                r = self.script(line)
                if r is None:
                    return
                c.sendall(r)

    def close(self):
        self.sock.close()
