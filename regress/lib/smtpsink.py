#!/usr/bin/python3
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

"""A plain SMTP sink on loopback for the regress tests.

Dovecot's submission service relays to it, so a test can check the exact
bytes that were delivered.  Every accepted message N is stored in --dir as

    N.json   {"helo": ..., "mail_from": ..., "rcpt_to": [...],
              "peer": "host:port"}
    N.eml    the message data after dot-unstuffing: every byte between
             the 354 reply and the terminating CRLF.CRLF, including the
             CRLF that ends the last line

N counts from 1.  N.eml is renamed into place last, so its presence means
the message is complete.  The sink speaks ESMTP (EHLO advertises
PIPELINING, 8BITMIME and SIZE) and also HELO, MAIL, RCPT, DATA, RSET, NOOP,
QUIT; it offers no AUTH and no STARTTLS.

Usage: smtpsink.py --port P --dir D --ready-file F [--host 127.0.0.1]
The ready file is written (atomically) once the socket listens; it holds
the port number.  SIGTERM stops the sink.
"""

import argparse
import json
import os
import re
import signal
import socket
import socketserver
import sys
import threading

MAX_LINE = 4096
MAX_MESSAGE = 64 * 1024 * 1024
IDLE_TIMEOUT = 60

counter_lock = threading.Lock()
counter = [0]


def next_id():
    with counter_lock:
        counter[0] += 1
        return counter[0]


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


class Session(socketserver.StreamRequestHandler):
    timeout = IDLE_TIMEOUT

    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def getline(self):
        line = self.rfile.readline(MAX_LINE + 1)
        if not line:
            return None
        if len(line) > MAX_LINE:
            raise ValueError("line too long")
        return line

    def handle(self):
        outdir = self.server.outdir
        peer = "%s:%d" % self.client_address[:2]
        helo = None
        mail_from = None
        rcpts = []
        self.reply("220 localhost regress SMTP sink ready")
        while True:
            try:
                line = self.getline()
            except (ValueError, OSError):
                return
            if line is None:
                return
            cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
            verb = cmd.split(" ", 1)[0].upper()
            arg = cmd[len(verb):].strip()
            if verb == "EHLO":
                helo = arg
                mail_from, rcpts = None, []
                self.reply("250-localhost")
                self.reply("250-PIPELINING")
                self.reply("250-8BITMIME")
                self.reply("250 SIZE %d" % MAX_MESSAGE)
            elif verb == "HELO":
                helo = arg
                mail_from, rcpts = None, []
                self.reply("250 localhost")
            elif verb == "MAIL":
                m = re.match(r"(?i)FROM:\s*<([^>]*)>", arg)
                if m is None:
                    self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
                    continue
                mail_from, rcpts = m.group(1), []
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                m = re.match(r"(?i)TO:\s*<([^>]*)>", arg)
                if mail_from is None:
                    self.reply("503 5.5.1 MAIL first")
                elif m is None:
                    self.reply("501 5.5.4 Syntax: RCPT TO:<address>")
                else:
                    rcpts.append(m.group(1))
                    self.reply("250 2.1.5 Ok")
            elif verb == "DATA":
                if mail_from is None or not rcpts:
                    self.reply("503 5.5.1 MAIL and RCPT first")
                    continue
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = self.read_data()
                if data is None:
                    return
                if len(data) > MAX_MESSAGE:
                    self.reply("552 5.3.4 Message too big")
                else:
                    n = next_id()
                    env = {"helo": helo, "mail_from": mail_from,
                        "rcpt_to": rcpts, "peer": peer}
                    base = os.path.join(outdir, str(n))
                    write_atomic(base + ".json",
                        json.dumps(env).encode())
                    write_atomic(base + ".eml", data)
                    self.reply("250 2.0.0 Ok: queued as %d" % n)
                mail_from, rcpts = None, []
            elif verb == "RSET":
                mail_from, rcpts = None, []
                self.reply("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 Command not recognised")

    def read_data(self):
        """Lines up to "." alone; None if the client went away."""
        parts = []
        size = 0
        while True:
            line = self.rfile.readline(MAX_MESSAGE)
            if not line:
                return None
            if line == b".\r\n":
                break
            if line.startswith(b"."):
                line = line[1:]
            size += len(line)
            if size <= MAX_MESSAGE:
                parts.append(line)
        if size > MAX_MESSAGE:
            return b"x" * (MAX_MESSAGE + 1)
        return b"".join(parts)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description="regress SMTP sink")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--ready-file", required=True)
    args = ap.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    if ":" in args.host:
        Server.address_family = socket.AF_INET6
    srv = Server((args.host, args.port), Session)
    srv.outdir = args.dir
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    write_atomic(args.ready_file, b"%d\n" % args.port)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
