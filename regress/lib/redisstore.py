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
"""Two emailproxy daemons sharing one Redis token store, for the
regress/e2e/redis_*.py tests.

    from redisstore import Cluster
    c = Cluster(h)                    # h: a Harness after start_dovecot()
    c.start_redis()                   # redis-server on redis/redis.sock,
                                      # appendonly yes, stopped by PID
    a = c.start_proxy("a", extra_globals="refresh_ahead = 0")
    b = c.start_proxy("b")            # Instance: .ports .conf .log_path
                                      # .store .ctl .proc
    c.redis("HGETALL", "emailproxy:record:ropc@example.com")
    c.login(a, user, password)        # IMAP LOGIN: the tagged answer
    c.kill(a, signal.SIGKILL); c.stop(a); c.restart(a)

Each instance has its own ports, store_dir (its chroot), control socket
and log (proxy-NAME.log); both use the harness's OAuth server and
Dovecot.  The Redis socket and its AOF are in the scratch directory.
"""

import os
import pwd
import signal
import socket
import time

import harness
from harness import HarnessError, wait_listening, wait_until

REDIS_SERVER = "/usr/bin/redis-server"


class Instance:
    def __init__(self, name, conf, ports, log_path, store, ctl):
        self.name = name
        self.conf = conf
        self.ports = ports
        self.log_path = log_path
        self.store = store
        self.ctl = ctl
        self.proc = None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class Cluster:
    def __init__(self, h):
        self.h = h
        self.redis_proc = None
        self.sock = h.path("redis", "redis.sock")
        self.instances = {}

    # -- Redis -----------------------------------------------------------

    def start_redis(self):
        d = self.h.path("redis")
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o700)
        conf = os.path.join(d, "redis.conf")
        with open(conf, "w") as f:
            f.write("port 0\nunixsocket %s\nunixsocketperm 700\n"
                    "dir %s\nappendonly yes\nappendfsync always\n"
                    "save \"\"\ndaemonize no\nlogfile \"\"\n"
                    % (self.sock, d))
        self.redis_proc = self.h._start("redis-server",
                                        [REDIS_SERVER, conf],
                                        os.path.join(d, "redis.log"))
        ok = wait_until(lambda: self._ping(), timeout=20)
        if not ok:
            raise HarnessError("redis-server did not answer PING")
        return self.redis_proc

    def stop_redis(self):
        p = self.redis_proc
        if p is None:
            return
        p.stop()
        if p in self.h.procs:
            self.h.procs.remove(p)
        self.redis_proc = None

    def _ping(self):
        try:
            return self.redis("PING") == "PONG"
        except OSError:
            return False

    def redis(self, *args):
        """One command over the unix socket; the decoded reply (bytes
        for bulk strings, str for status, int, list, None)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect(self.sock)
            out = b"*%d\r\n" % len(args)
            for a in args:
                if isinstance(a, str):
                    a = a.encode()
                elif isinstance(a, int):
                    a = str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            f = s.makefile("rb")
            return self._reply(f)
        finally:
            s.close()

    def _reply(self, f):
        line = f.readline()
        if not line.endswith(b"\r\n"):
            raise OSError("redis: short reply")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise OSError("redis: " + rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._reply(f) for _ in range(n)]
        raise OSError("redis: bad reply %r" % line)

    def records(self, prefix="emailproxy:"):
        """{key: (version, text bytes)} of every record in Redis."""
        out = {}
        for k in self.redis("KEYS", prefix + "record:*"):
            v, d = self.redis("HMGET", k, "v", "d")
            out[k.decode()] = (int(v), d)
        return out

    # -- emailproxy instances --------------------------------------------

    def config(self, name, extra_globals="", extra="", store="redis",
               all_protocols=False):
        h = self.h
        text = h.standard_config(
            pop=all_protocols, smtp=all_protocols,
            extra_globals=("token_store = %s\nredis_url = unix:%s\n"
                           "kdf_iterations = 100000\n%s"
                           % (store, self.sock, extra_globals)),
            extra=extra)
        ports = dict(h.proxy_ports)
        g = h.harness_globals()
        g["store_dir"] = h.path("store-" + name)
        g["control_socket"] = h.path("ctl-%s.sock" % name)
        lines = text.split("\n")
        i = lines.index("[emailproxy]")
        add = ["%s = %s" % kv for kv in g.items()]
        return "\n".join(lines[:i + 1] + add + lines[i + 1:]), ports, g

    def start_proxy(self, name, extra_globals="", extra="", store="redis",
                    config=None, all_protocols=False):
        if config is None:
            text, ports, g = self.config(name, extra_globals, extra, store,
                                         all_protocols)
        else:
            text, ports, g = config
        store_dir = g["store_dir"]
        os.makedirs(store_dir, exist_ok=True)
        pw = pwd.getpwnam(harness.PROXY_USER)
        os.chown(store_dir, pw.pw_uid, pw.pw_gid)
        os.chmod(store_dir, 0o700)
        empty = self.h.path("empty")
        os.makedirs(empty, exist_ok=True)
        os.chmod(empty, 0o755)
        conf = self.h.path("emailproxy-%s.conf" % name)
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        inst = Instance(name, conf, ports, self.h.path("proxy-%s.log" % name),
                        store_dir, g["control_socket"])
        self.instances[name] = inst
        self._run(inst)
        return inst

    def _run(self, inst):
        argv = [self.h.emailproxy_bin, "-d", "-vv", "-f", inst.conf]
        inst.proc = self.h._start("emailproxy-" + inst.name, argv,
                                  inst.log_path)
        try:
            wait_listening(inst.ports.values(), alive=inst.proc.alive)
        except HarnessError as e:
            raise HarnessError("emailproxy %s: %s\n%s" % (
                inst.name, e, inst.log_text()[-3000:]))
        # Ready: tokend has its Redis connection or said why not.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if "ready" in inst.log_text():
                break
            time.sleep(0.05)

    def stop(self, inst, sig=signal.SIGTERM):
        p = inst.proc
        if p is None:
            return None
        rc = p.stop(sig=sig)
        if p in self.h.procs:
            self.h.procs.remove(p)
        inst.proc = None
        return rc

    def kill9(self, inst):
        """SIGKILL every process of the instance at once."""
        p = inst.proc
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.stop(inst)

    def restart(self, inst):
        self._run(inst)

    def login(self, inst, user, password, timeout=30):
        """IMAP LOGIN through an instance: the tagged answer (str)."""
        c = self.h.connect(inst.ports["imap"], timeout=timeout)
        try:
            c.readline()
            c.send(b'a LOGIN "%s" "%s"\r\n' % (user.encode(),
                                               password.encode()))
            return c.read_until(rb"^a (OK|NO|BAD)")[-1].decode(
                "utf-8", "replace").strip()
        finally:
            c.close()

    def ctl(self, inst, *args):
        return self.h.emailproxyctl("-s", inst.ctl, *args)
