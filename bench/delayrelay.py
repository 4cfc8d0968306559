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
"""delayrelay: a TCP relay that adds a one-way delay in each direction,
to stand for a network between a client and a mail server.

    delayrelay.py -l PORT -c HOST:PORT -d MS [-r READYFILE]

Listens on 127.0.0.1:PORT (0: any free port; the ready file then gets
"port N"), and relays each connection to HOST:PORT.  Every byte arrives
MS milliseconds after it was read, in order, in both directions (the
round trip is 2 * MS).  The TCP handshake costs a round trip as well: the
connection to HOST:PORT is opened MS after the client's, as a SYN would
arrive, and the client's first bytes reach the server no earlier than
3 * MS after it connected (its SYN, the SYN-ACK back, then its data), as
they would over a network.  Bytes are not otherwise limited (no
bandwidth model).  A close is passed on after the bytes before it.
Runs until SIGTERM or SIGINT.
"""

import argparse
import asyncio
import os
import signal
import socket
import sys


async def pipe(src, dst, delay, floor, loop):
    """Copy src to dst, each chunk delivered delay seconds after it was
    read but not before floor (a loop.time()); EOF is passed on as a
    half-close after the bytes before it."""
    queue = asyncio.Queue()

    async def deliver():
        while True:
            when, data = await queue.get()
            wait = when - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                try:
                    if dst.can_write_eof():
                        dst.write_eof()
                except OSError:
                    pass
                return
            dst.write(data)
            await dst.drain()

    writer = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await src.read(65536)
            now = loop.time()
            queue.put_nowait((max(now, floor) + delay, data or None))
            if not data:
                break
        await writer
    except (OSError, asyncio.IncompleteReadError):
        writer.cancel()
        raise


async def serve(args):
    loop = asyncio.get_running_loop()
    delay = args.delay_ms / 1000.0
    host, port = args.connect.rsplit(":", 1)

    async def handle(creader, cwriter):
        t0 = loop.time()
        sock = cwriter.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        swriter = None
        try:
            await asyncio.sleep(delay)          # the SYN on its way
            sreader, swriter = await asyncio.open_connection(host,
                                                             int(port))
            ssock = swriter.get_extra_info("socket")
            if ssock is not None:
                ssock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await asyncio.gather(
                pipe(creader, swriter, delay, t0 + 2 * delay, loop),
                pipe(sreader, cwriter, delay, 0, loop))
        except (OSError, asyncio.IncompleteReadError,
                asyncio.CancelledError):
            pass
        finally:
            for w in (cwriter, swriter):
                if w is not None:
                    w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", args.listen,
                                        backlog=512)
    bound = server.sockets[0].getsockname()[1]
    if args.ready:
        with open(args.ready + ".tmp", "w") as f:
            f.write("port %d\n" % bound)
        os.rename(args.ready + ".tmp", args.ready)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main():
    ap = argparse.ArgumentParser(description="TCP relay with a one-way "
                                 "delay in each direction")
    ap.add_argument("-l", dest="listen", type=int, required=True,
                    help="port on 127.0.0.1 (0: any)")
    ap.add_argument("-c", dest="connect", required=True,
                    help="HOST:PORT to relay to")
    ap.add_argument("-d", dest="delay_ms", type=float, required=True,
                    help="one-way delay in milliseconds")
    ap.add_argument("-r", dest="ready", help="file written once listening")
    args = ap.parse_args()
    if args.delay_ms < 0:
        sys.exit("delayrelay: the delay must not be negative")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
