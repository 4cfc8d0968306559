"""The process model: five processes, privileges dropped, sandboxed,
listeners held by the proxy only, reload keeps a broken config out, and
the daemon stops whole (SIGTERM, or any child dying)."""

import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import time

TMP = os.path.join(os.environ.get("REGRESS_TMP", "/tmp"), "foundation")
DAEMON = os.environ["EMAILPROXY"]
failed = 0


def check(cond, what, why=""):
    global failed
    if cond:
        print("PASS: " + what)
    else:
        failed += 1
        print("FAIL: %s: %s" % (what, why))
    sys.stdout.flush()
    return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = pred()
        if r:
            return r
        time.sleep(0.05)
    return pred()


def children_of(pid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(p))
        except OSError:
            pass
    return sorted(out)


def status_field(pid, name):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].split()
    return None


def title(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().replace(b"\0", b" ").decode(errors="replace")


def role(pid):
    """The process title is "emailproxy: <role>"."""
    t = title(pid).strip()
    return t.split(":", 1)[1].strip() if ":" in t else t


def socket_inodes(pid):
    inodes = set()
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            link = os.readlink(os.path.join(d, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", link)
        if m:
            inodes.add(m.group(1))
    return inodes


def listening_inodes(ports):
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                port = int(cols[1].rsplit(":", 1)[1], 16)
                if cols[3] == "0A" and port in ports:
                    found[port] = cols[9]
    return found


def upstream_listener():
    """A TCP socket standing for the mail server the listeners relay to."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.settimeout(5)
    return s


# What each protocol's client is told when the server goes away.
BYE = {0: b"* BYE Server unavailable\r\n",
       1: b"-ERR Server unavailable\r\n",
       2: b"421 4.3.2 Server unavailable\r\n"}


def read_line(sock, limit=512):
    buf = b""
    while not buf.endswith(b"\n") and len(buf) < limit:
        try:
            b = sock.recv(1)
        except OSError:
            break
        if not b:
            break
        buf += b
    return buf


def relayed(port, index, upstream):
    """Connect to a listener; the proxy must open the configured server
    connection with a TLS ClientHello, and when that server hangs up
    the client must get its protocol's bye line.  Returns a reason for
    failure, or None."""
    c = socket.create_connection(("127.0.0.1", port), 5)
    c.settimeout(5)
    try:
        try:
            u, _ = upstream.accept()
        except socket.timeout:
            return "the proxy did not connect to the server"
        with u:
            u.settimeout(5)
            try:
                hello = u.recv(5)
            except socket.timeout:
                hello = b""
            if hello[:1] != b"\x16":
                return "no TLS handshake towards the server: %r" % hello
        line = read_line(c)
        if line != BYE[index]:
            return "client got %r, not %r" % (line, BYE[index])
        return None
    finally:
        c.close()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not alive.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def write_config(path, ports, upstream, broken=False):
    text = """[emailproxy]
user = _emailproxy
store_dir = {tmp}/store
empty_dir = {tmp}/empty
control_socket = {tmp}/emailproxy.sock

[IMAP-{imap}]
server_address = 127.0.0.1
server_port = {up}
local_address = 127.0.0.1

[POP-{pop}]
server_address = 127.0.0.1
server_port = {up}
local_address = 127.0.0.1

[SMTP-{smtp}]
server_address = 127.0.0.1
server_port = {up}
local_address = 127.0.0.1

[user@example.com]
permission_url = https://127.0.0.1:1/authorize
token_url = https://127.0.0.1:1/token
oauth2_scope = mail
redirect_uri = http://127.0.0.1:{redir}/
client_id = test-client
""".format(tmp=TMP, imap=ports[0], pop=ports[1], smtp=ports[2],
           up=upstream, redir=free_port())
    if broken:
        text += "client_id = second\n"
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return text.count("\n") + 1 if broken else None


class Daemon:
    def __init__(self, conf, logname):
        self.log = os.path.join(TMP, logname)
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen([DAEMON, "-d", "-v", "-f", conf],
                                     stdout=self.logf, stderr=self.logf)

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=10, after=0):
        return wait_for(lambda: re.search(pattern, self.text()[after:]),
                        timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


def main():
    global failed
    subprocess.run(["rm", "-rf", TMP])
    os.makedirs(TMP)
    os.chmod(TMP, 0o755)
    conf = os.path.join(TMP, "emailproxy.conf")
    ports = [free_port(), free_port(), free_port()]
    upstream = upstream_listener()
    write_config(conf, ports, upstream.getsockname()[1])
    user = pwd.getpwnam("_emailproxy")

    d = Daemon(conf, "daemon.log")
    try:
        ready = d.wait_log(r"parent: configuration of .* in place: ready", 15)
        check(ready, "daemon starts and configures its children",
              d.text()[-2000:])
        parent = d.proc.pid
        kids = wait_for(lambda: len(children_of(parent)) == 4 and
                        children_of(parent), 5) or children_of(parent)
        check(len(kids) == 4, "five processes: parent and four children",
              "children %s" % kids)
        roles = {}
        for k in kids:
            roles[role(k)] = k
        check(sorted(roles) == ["authd", "control", "proxy", "tokend"],
              "children are proxy, tokend, authd and control",
              str({k: title(k) for k in kids}))
        roots = {"proxy": TMP + "/empty", "authd": TMP + "/empty",
                 "control": TMP + "/empty", "tokend": TMP + "/store"}
        for r, pid in sorted(roles.items()):
            uids = status_field(pid, "Uid")
            gids = status_field(pid, "Gid")
            check(uids == [str(user.pw_uid)] * 4 and
                  gids == [str(user.pw_gid)] * 4,
                  "%s runs as _emailproxy (uid and gid, all four)" % r,
                  "Uid %s Gid %s" % (uids, gids))
            root = os.readlink("/proc/%d/root" % pid)
            check(root == roots[r], "%s is chrooted to %s" % (r, roots[r]),
                  root)
            check(status_field(pid, "NoNewPrivs") == ["1"],
                  "%s has NoNewPrivs 1" % r,
                  str(status_field(pid, "NoNewPrivs")))
            check(status_field(pid, "Seccomp") == ["2"],
                  "%s has Seccomp 2 (filter)" % r,
                  str(status_field(pid, "Seccomp")))
        st = os.stat(TMP + "/store")
        check(st.st_uid == user.pw_uid and (st.st_mode & 0o777) == 0o700,
              "store_dir created 0700 and owned by _emailproxy",
              "%o uid %d" % (st.st_mode, st.st_uid))

        listen = listening_inodes(ports)
        check(len(listen) == 3, "three listening sockets exist",
              str(listen))
        # The sockets follow the configuration; give them a moment.
        held = wait_for(lambda: all(
            i in socket_inodes(roles.get("proxy", parent))
            for i in listening_inodes(ports).values()), 5)
        parent_socks = socket_inodes(parent)
        check(held, "the proxy child holds the listening sockets")
        check(not any(i in parent_socks for i in listen.values()),
              "the parent holds no listening socket")
        for i, (p, proto) in enumerate(zip(ports, ("IMAP", "POP", "SMTP"))):
            why = relayed(p, i, upstream)
            check(why is None, "%s listener: accepted, relayed to the "
                  "server with TLS, bye line when the server hangs up" %
                  proto, why)

        # A broken config on SIGHUP changes nothing.
        mark = len(d.text())
        badline = write_config(conf, ports, upstream.getsockname()[1],
                               broken=True)
        os.kill(parent, signal.SIGHUP)
        m = d.wait_log(r"emailproxy\.conf:\d+: client_id: [^\n]*", 10,
                       mark)
        check(m, "SIGHUP with a broken config logs file:line: key",
              d.text()[mark:])
        check(d.wait_log(r"keeping the running configuration", 5, mark),
              "the daemon says it keeps the running configuration")
        time.sleep(0.3)
        check(all(alive(p) for p in [parent] + kids),
              "all five processes still run after the broken reload")
        why = relayed(ports[0], 0, upstream)
        check(why is None, "the IMAP listener still accepts and relays "
              "after the broken reload", why)

        # A good config on SIGHUP is taken.
        write_config(conf, ports, upstream.getsockname()[1])
        mark = len(d.text())
        os.kill(parent, signal.SIGHUP)
        check(d.wait_log(r"parent: configuration of .* in place: ready", 10, mark),
              "SIGHUP with a valid config reconfigures the children")

        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        try:
            rc = d.proc.wait(5)
        except subprocess.TimeoutExpired:
            rc = None
        elapsed = time.monotonic() - t0
        gone = wait_for(lambda: not any(alive(k) for k in kids), 2)
        check(rc == 0 and elapsed < 2.0 and gone,
              "SIGTERM stops all five within 2 s, exit status 0",
              "rc %s after %.2fs, children gone %s" % (rc, elapsed, gone))
    finally:
        d.stop()

    for victim in ("proxy", "tokend", "authd", "control"):
        d = Daemon(conf, "kill-%s.log" % victim)
        try:
            if not d.wait_log(r"parent: configuration of .* in place: ready", 15):
                check(False, "killing %s stops the daemon" % victim,
                      "did not start")
                continue
            parent = d.proc.pid
            kids = children_of(parent)
            pid = [k for k in kids if role(k) == victim]
            if not pid:
                check(False, "killing %s stops the daemon" % victim,
                      "no such child")
                continue
            os.kill(pid[0], signal.SIGKILL)
            try:
                rc = d.proc.wait(5)
            except subprocess.TimeoutExpired:
                rc = None
            gone = wait_for(lambda: not any(alive(k) for k in kids), 3)
            check(rc not in (None, 0) and gone,
                  "killing %s stops the rest, parent exits non-zero" %
                  victim, "rc %s, children gone %s" % (rc, gone))
            named = re.findall(r"lost child: (\w+)", d.text())
            check(named and set(named) == {victim},
                  "the parent logs which child was lost (%s), and only "
                  "that one (the others followed it)" % victim,
                  "named %r" % named)
        finally:
            d.stop()

    # Every error class of -n, and the Python-format sample, are in
    # regress/config.sh; here, the example configuration shipped.
    r = subprocess.run([DAEMON, "-n", "-f", os.path.join(
        os.environ.get("REGRESS_TOP", "."), "etc", "emailproxy.conf")],
        capture_output=True, text=True)
    check(r.returncode == 0 and
          "configuration OK: 3 servers, 1 account" in r.stdout + r.stderr,
          "emailproxy -n accepts etc/emailproxy.conf "
          "(3 servers, 1 account)", r.stdout + r.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
