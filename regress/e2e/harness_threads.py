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
"""Checks made from several threads at once are counted, each on a line
of its own.

regress/run counts the lines that begin with "PASS: " or "FAIL: ".
Tests check from threads (prelogin_limits.py trickles to three
listeners at once); a line written in two pieces can be cut by another
thread's, and then a PASS is lost or a FAIL sits in the middle of a
line where regress/run does not see it.  A child test here checks from
8 threads at once, 400 times each, alternating with diagnostic lines,
into a file as regress/run gives it; every line of that file must be
whole, and the counts exact.
"""

import os
import re
import subprocess
import sys

LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib")
sys.path.insert(0, LIB)
from harness import Harness  # noqa: E402

THREADS, CHECKS = 8, 400

CHILD = r"""
import sys, threading
sys.path.insert(0, %r)
from harness import Harness
h = Harness("harness_threads_child")
go = threading.Event()
def run(t):
    go.wait()
    for i in range(%d):
        h.check(True, "thread %%d check %%d" %% (t, i))
        h.info("thread %%d note %%d" %% (t, i))
ts = [threading.Thread(target=run, args=(t,)) for t in range(%d)]
for t in ts:
    t.start()
go.set()
for t in ts:
    t.join()
h.check(h.passed == %d, "the child counted every check", h.passed)
h.finish()
""" % (LIB, CHECKS, THREADS, THREADS * CHECKS)

h = Harness("harness_threads")
script = h.path("child.py")
with open(script, "w") as f:
    f.write(CHILD)
out = h.path("child.out")
env = dict(os.environ, REGRESS_TMP=h.dir)
with open(out, "w") as f:
    st = subprocess.run([sys.executable, script], stdout=f,
                        stderr=subprocess.STDOUT, env=env,
                        timeout=120).returncode
h.check(st == 0, "the child test exits 0", "status %d" % st)

with open(out) as f:
    lines = f.read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
passre = re.compile(r"PASS: thread (\d+) check (\d+)")
notere = re.compile(r"# thread (\d+) note (\d+)")
passes, notes, bad = set(), set(), []
for line in lines:
    m = passre.fullmatch(line)
    if m:
        passes.add((int(m.group(1)), int(m.group(2))))
        continue
    m = notere.fullmatch(line)
    if m:
        notes.add((int(m.group(1)), int(m.group(2))))
        continue
    if line != "PASS: the child counted every check":
        bad.append(line)
h.check(not bad, "every line the threads wrote is whole",
        "%d lines cut or joined, the first: %r" % (len(bad),
                                                  bad[0] if bad else ""))
h.check(len(passes) == THREADS * CHECKS,
        "each of the %d checks is on a PASS line of its own"
        % (THREADS * CHECKS), "%d found" % len(passes))
h.check(len(notes) == THREADS * CHECKS,
        "each of the %d diagnostic lines is on a line of its own"
        % (THREADS * CHECKS), "%d found" % len(notes))
counted = sum(1 for line in lines if line.startswith("PASS: "))
h.check(counted == THREADS * CHECKS + 1,
        "regress/run's count of the file is exact (%d PASS lines)"
        % (THREADS * CHECKS + 1), "%d counted" % counted)
h.finish()
