"""Limits hold for a program's whole process tree, and a program sees only its own processes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from rsft.sandbox import Sandbox, SandboxLimits, capabilities

CAPS = capabilities()
needs_root = pytest.mark.skipif(not CAPS["uid_drop"], reason="uid drop and namespaces need root")
needs_cgroup = pytest.mark.skipif(
    CAPS["cgroup"] is None, reason=f"no per-program cgroup here: {CAPS['cgroup_reason']}"
)

# 8 children each touch 250 MiB and hold it; the parent prints how many reported holding it
EIGHT_CHILDREN = """
import os, time
r, w = os.pipe()
for i in range(8):
    if os.fork() == 0:
        try:
            b = bytearray(250 << 20)
            for j in range(0, len(b), 4096):
                b[j] = 1
            os.write(w, b"1")
            time.sleep(2)
        finally:
            os._exit(0)
os.close(w)
got = b""
while True:
    chunk = os.read(r, 64)
    if not chunk:
        break
    got += chunk
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
print("HELD", len(got))
"""

FORK_BOMB = """
import os, time
n = 0
while n < 10000:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(5)
        os._exit(0)
    n += 1
print("FORKED", n)
"""


@needs_cgroup
def test_eight_children_share_one_memory_cap():
    """Without a group the 8 children held 8 x 250 MiB under memory_mb=300 (per-process limits only)."""
    sb = Sandbox(SandboxLimits(wall_s=30, cpu_s=20, memory_mb=300, nproc=16), workers=1)
    r = sb.run(EIGHT_CHILDREN)
    assert r.isolation["cgroup"] == CAPS["cgroup"]
    assert r.usage["peak_memory_mb"] is not None and r.usage["peak_memory_mb"] <= 300, r.usage
    assert r.usage["oom_kills"] >= 1, r.usage
    sb.run("print(1)")  # the group is gone and the next program runs


@needs_cgroup
def test_fork_bomb_is_bounded_by_the_group():
    sb = Sandbox(SandboxLimits(wall_s=20, cpu_s=10, nproc=12), workers=1)
    r = sb.run(FORK_BOMB)
    forked = int(r.stdout.split()[-1])
    # the program itself + its children stay within nproc; the group counts the supervisors too
    assert forked + 1 <= 12, (r.stdout, r.usage)
    assert r.usage["peak_pids"] is not None and r.usage["peak_pids"] <= 12 + 3, r.usage


@needs_root
def test_fork_bomb_is_bounded_without_a_group():
    """The fallback: RLIMIT_NPROC under the program's own uid bounds its processes (memory: memory_mb each)."""
    sb = Sandbox(SandboxLimits(wall_s=20, cpu_s=10, nproc=12), workers=1, cgroup=False)
    r = sb.run(FORK_BOMB)
    assert r.isolation["cgroup"] is None
    assert int(r.stdout.split()[-1]) < 12, r.stdout
    assert sb.run("x = bytearray(400 << 20)").status == "ok"  # under memory_mb=2048 per process
    big = Sandbox(SandboxLimits(wall_s=20, memory_mb=300), workers=1, cgroup=False)
    assert big.run("x = bytearray(400 << 20)").status == "memory_limit"


@pytest.mark.skipif(not CAPS["pidns"], reason="PID namespaces need root")
def test_proc_shows_only_the_programs_own_processes():
    marker = f"rsft-marker-{uuid.uuid4().hex}"
    outside = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    try:
        src = (
            "import os\npids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
            "seen = []\nfor p in pids:\n    try:\n"
            "        seen.append(open(f'/proc/{p}/cmdline', 'rb').read().decode('latin1'))\n"
            "    except OSError:\n        pass\n"
            "print(pids)\nprint(repr(seen))\nprint(os.getpid())\n"
        )
        r = Sandbox(SandboxLimits(wall_s=10), workers=1).run(src)
        assert r.ok, r.stderr
        pids, seen, own = r.stdout.splitlines()
        assert marker not in seen and "pytest" not in seen
        assert eval(pids) == [1, int(own)]  # the supervisor (PID 1) and the program itself
        assert outside.poll() is None  # and nothing outside was touched
    finally:
        outside.kill()
        outside.wait()


@pytest.mark.skipif(not CAPS["pidns"], reason="PID namespaces need root")
def test_what_the_program_leaves_running_dies_with_it():
    src = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\nprint('parent done')\n"
    sb = Sandbox(SandboxLimits(wall_s=10), workers=1)
    r = sb.run(src)
    assert r.ok and r.stdout.strip() == "parent done"
    from rsft.sandbox.runner import _uid_pids

    assert _uid_pids(r.isolation["uid"]) == []


@needs_cgroup
def test_groups_left_by_a_dead_process_are_removed():
    from rsft.sandbox import _cgroup

    kind, bases = _cgroup._layout()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [b / f"rsft-sbx-{dead.pid}-0" for b in bases.values()]
    live = [b / f"rsft-sbx-{os.getpid()}-999999" for b in bases.values()]
    for d in stale + live:
        d.mkdir()
    try:
        removed = _cgroup.remove_stale(bases)
        # the cgroup tree is machine-wide: groups other dead rsft processes left are rightly removed too
        assert {str(d) for d in stale} <= set(removed) and not any(d.exists() for d in stale)
        assert not {str(d) for d in live} & set(removed) and all(d.exists() for d in live)
    finally:
        for d in live:
            d.rmdir()
