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
"""The control protocol on the wire, for tests that speak it without
emailproxyctl: the message numbers and CTL_VERSION read from
common/emailproxy.h (so a renumbering never needs a test changed), a
request's frame and the messages of an answer; and the small daemon
those tests start."""

import os
import re
import struct


def header_text(top):
    with open(os.path.join(top, "common", "emailproxy.h")) as f:
        return f.read()


def imsg_types(top):
    """{name: number} of enum imsg_type in common/emailproxy.h."""
    text = header_text(top)
    body = text[text.index("enum imsg_type {"):]
    body = re.sub(r"/\*.*?\*/", "", body[:body.index("};")], flags=re.S)
    names = re.findall(r"\b(IMSG_[A-Z0-9_]+)\b", body)
    return {n: i for i, n in enumerate(names)}


def ctl_version(top):
    """CTL_VERSION: the peerid of every request and answer."""
    return int(re.search(r"#define CTL_VERSION\s+(\d+)",
                         header_text(top)).group(1))


def frame(typ, payload=b"", version=0, length=None):
    """One imsg: type, length (the true one unless given), peerid
    version, pid 0, then the payload."""
    if length is None:
        length = 16 + len(payload)
    return struct.pack("=IIII", typ, length, version, 0) + payload


def messages(data):
    """[(type, peerid, payload)] of the whole messages in data."""
    out = []
    while len(data) >= 16:
        typ, ln, peerid = struct.unpack("=III", data[:12])
        ln &= 0x7fffffff
        if ln < 16 or len(data) < ln:
            break
        out.append((typ, peerid, data[16:ln]))
        data = data[ln:]
    return out


def start_daemon(h):
    """The daemon with one IMAP listener (no server behind it) and one
    password-flow account, ready; returns the control socket's path."""
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
""" % (h.free_port(), h.free_port(), h.free_port())
    h.start_emailproxy(config)
    h.check(h.wait_log(r"in place: ready", 20) is not None,
            "daemon is ready", h.log_text()[-1000:])
    return h.path("ctl.sock")
