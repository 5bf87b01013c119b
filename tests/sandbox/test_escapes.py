"""The escapes found in issue 23, each as a program that tries it: it must be contained and, where it is a
graded program, scored as a failure (never a pass, never an excluded error).

Each test failed on the sandbox before the filesystem view, the IPC namespace, the tree-wide CPU limit, the
host-wide uid pool and the iterative cleanup (see docs/reliability.md, "The sandbox sees only the program").
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

import rsft.sandbox.runner as runner
from rsft.bench._code import exec_record
from rsft.sandbox import Program, Sandbox, SandboxLimits, capabilities
from rsft.sandbox.runner import _UidPool, remove_tree

CAPS = capabilities()
needs_root = pytest.mark.skipif(not CAPS["uid_drop"], reason="uid drop and namespaces need root")
needs_view = pytest.mark.skipif(not CAPS["fsview"], reason="the filesystem view needs root and Linux")


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(SandboxLimits(wall_s=20, cpu_s=10, memory_mb=512, nproc=16), workers=2)


def _fast_tmp(tmp_path: Path) -> Path:
    """A fresh folder on a tmpfs where there is one (3,000 ``rmdir`` on a loaded disk take ~12 s), else tmp_path."""
    if os.access("/dev/shm", os.W_OK):
        return Path(tempfile.mkdtemp(dir="/dev/shm", prefix="rsft-test-"))
    d = tmp_path / "fast"
    d.mkdir()
    return d


@pytest.fixture
def own_tmp(tmp_path, monkeypatch):
    """A temp dir of this test's own for the runner's folders (other processes' sandboxes share /tmp)."""
    d = _fast_tmp(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    yield d
    remove_tree(str(d))


# ---------------------------------------------------------------------------------------------------------------
# the filesystem view


_EXPLOIT = """
import json

def {entry}(*args, **kwargs):  # defines the entry point, so the grader takes this as the whole program
    return None

for line in open({path!r}):
    row = json.loads(line)
    try:
        exec(row["prompt"] + row["canonical_solution"], globals())
    except Exception:
        pass
"""


@needs_view
def test_canonical_solutions_in_the_data_folder_cannot_be_read(shared_benchmarks):
    """A model that solves 1 of 4 HumanEval items and answers the other 3 with a program that reads the data
    file and execs the canonical solutions scores 0.25, not 1.0. The same programs do pass where the file is
    readable (limits mode, no view): the exploit is real."""
    from rsft.bench.humaneval import HumanEval, build_program

    path = shared_benchmarks / "humaneval/HumanEval.jsonl"
    bench = HumanEval(path=str(path), workers=2, n_items=4)
    samples = bench.load()[:4]
    honest = samples[0].metadata["prompt"] + samples[0].metadata["canonical_solution"]
    cheats = [_EXPLOIT.format(entry=s.metadata["entry_point"], path=str(path.resolve())) for s in samples[1:]]
    pairs = [(samples[0], f"```python\n{honest}\n```")]
    pairs += [(s, f"```python\n{c}\n```") for s, c in zip(samples[1:], cheats, strict=True)]
    recs = bench.score_many(pairs)
    assert [r.value for r in recs] == [1.0, 0.0, 0.0, 0.0], [r.metadata.get("tests") for r in recs]
    assert sum(r.value for r in recs) / 4 == 0.25
    built = [build_program(s, c) for s, c in zip(samples[1:], cheats, strict=True)]
    open_box = Sandbox(SandboxLimits(wall_s=30, memory_mb=1024), isolate="limits", workers=2)
    results = open_box.run_many([b[0] if isinstance(b, tuple) else b for b in built])
    assert [exec_record(r, "code").value for r in results] == [1.0, 1.0, 1.0]


@needs_view
def test_host_files_are_not_in_the_view(sandbox, tmp_path):
    """Project source, the tests, the shared data folder, the home folder, a store-like folder and the host's
    /tmp: none of them exists inside."""
    import rsft

    store = Path(tempfile.mkdtemp(dir=Path(__file__).parent, prefix=".store-"))  # beside the checkout's tests
    try:
        (store / "rows.parquet").write_text("secret")
        (store / "rows.parquet").chmod(0o644)
        store.chmod(0o755)
        (tmp_path / "host-tmp.txt").write_text("secret")
        home = Path.home()
        trees = runner._interpreter_trees(sys.executable)  # /root/.pyenv/... shows when the interpreter is there
        in_home = [home / x for x in os.listdir(home) if not any(t.startswith(str(home / x)) for t in trees)]
        paths = [
            Path(rsft.__file__),
            Path(runner.__file__),
            Path(__file__),
            Path(__file__).resolve().parents[2] / "shared",
            Path("/work/shared"),
            *in_home,
            store / "rows.parquet",
            tmp_path / "host-tmp.txt",
            Path("/etc/passwd"),
        ]
        src = (
            "import os, json\n"
            f"print(json.dumps([p for p in {[str(p) for p in paths]!r} if os.path.exists(p)]))\n"
            "print(json.dumps(sorted(os.listdir('/'))))\n"
        )
        r = sandbox.run(src)
        assert r.ok, r.stderr
        seen, top = (json.loads(line) for line in r.stdout.splitlines())
        assert seen == [], f"visible inside the sandbox: {seen}"
        assert not {"home", "srv", "mnt", "opt"} & set(top)
    finally:
        remove_tree(str(store))


@needs_view
def test_system_libraries_stay_read_only(sandbox):
    src = (
        "import sys, os\nbad = []\n"
        "for p in (sys.prefix + '/pwned', '/usr/pwned', '/etc/pwned', '/pwned', sys.base_prefix + '/pwned'):\n"
        "    try:\n        open(p, 'w').write('x'); bad.append(p)\n    except OSError:\n        pass\n"
        "print(bad)\n"
    )
    r = sandbox.run(src)
    assert r.ok and r.stdout.strip() == "[]", r.stdout + r.stderr
    assert not Path(sys.prefix, "pwned").exists()


@needs_view
def test_filesystem_unix_socket_does_not_reach_a_host_listener(sandbox):
    """A listener on a socket file outside /tmp (here /run), world-connectable: unreachable from inside."""
    base = "/run" if os.access("/run", os.W_OK) else str(Path.home())
    d = tempfile.mkdtemp(dir=base, prefix="rsft-sock-")
    os.chmod(d, 0o755)
    path = os.path.join(d, "s.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    os.chmod(path, 0o777)
    server.listen(1)
    server.settimeout(15)
    accepted = []

    def accept():
        try:
            accepted.append(server.accept())
        except OSError:  # closed at the end of the test
            pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        src = (
            "import socket\ns = socket.socket(socket.AF_UNIX)\n"
            f"s.connect({path!r})\ns.sendall(b'hello')\nprint('connected')\n"
        )
        r = sandbox.run(src)
        assert not r.ok and "connected" not in r.stdout
        assert not accepted
    finally:
        server.close()
        remove_tree(d)


# ---------------------------------------------------------------------------------------------------------------
# IPC


_LIBC = """
import ctypes, ctypes.util, os, sys
libc = ctypes.CDLL(None, use_errno=True)
try:
    rt = ctypes.CDLL(ctypes.util.find_library("rt") or "librt.so.1", use_errno=True)
except OSError:
    rt = libc
rt.mq_open.restype = ctypes.c_int
libc.shmat.restype = ctypes.c_void_p
KEY = {key}
QUEUE = {queue!r}
"""

_CREATE = """
seg = libc.shmget(KEY, 4096, 0o1000 | 0o666)  # IPC_CREAT
assert seg >= 0, os.strerror(ctypes.get_errno())
addr = libc.shmat(seg, None, 0)
ctypes.memmove(addr, b"leaked-secret", 13)
q = rt.mq_open(QUEUE.encode(), os.O_CREAT | os.O_WRONLY, 0o666, None)
assert q >= 0, os.strerror(ctypes.get_errno())
assert rt.mq_send(q, b"leaked-message", 14, 0) == 0
print("created")
"""

_READ = """
found = []
seg = libc.shmget(KEY, 0, 0)
if seg >= 0:
    addr = libc.shmat(seg, None, 0o10000)  # SHM_RDONLY
    found.append(ctypes.string_at(addr, 13).decode())
q = rt.mq_open(QUEUE.encode(), os.O_RDONLY | os.O_NONBLOCK, 0, None)
if q >= 0:
    buf = ctypes.create_string_buffer(8192)
    n = rt.mq_receive(q, buf, 8192, None)
    found.append(buf.raw[: max(n, 0)].decode())
print(found)
sys.exit(1 if found else 0)
"""


def _host_ipc_cleanup(key: int, queue: str) -> bool:
    """Remove the segment and the queue from the host's IPC namespace; True when either was there."""
    libc = ctypes.CDLL(None, use_errno=True)
    seg = libc.shmget(key, 0, 0)
    if seg >= 0:
        libc.shmctl(seg, 0, None)  # IPC_RMID
    try:
        rt = ctypes.CDLL("librt.so.1", use_errno=True)
    except OSError:
        rt = libc
    return seg >= 0 or rt.mq_unlink(queue.encode()) == 0


@needs_root
def test_sysv_shm_and_posix_mqueue_do_not_outlive_the_program(sandbox):
    key, queue = 0x52530000 + os.getpid() % 0xFFFF, f"/rsft-test-{os.getpid()}"
    head = _LIBC.format(key=key, queue=queue)
    try:
        first = sandbox.run(head + _CREATE)
        assert first.ok and "created" in first.stdout, first.stderr
        second = sandbox.run(head + _READ)
        assert second.ok, f"a later program read them: {second.stdout}"
        assert CAPS["ipcns"] and first.isolation["ipcns"]
    finally:
        assert not _host_ipc_cleanup(key, queue), "the program's IPC objects were left in the host's namespace"


# ---------------------------------------------------------------------------------------------------------------
# resources


@needs_root
def test_cpu_of_children_counts_against_cpu_s():
    """Three children, each spinning 0.7 s of CPU (under the per-process RLIMIT_CPU of 1 s): 2.1 s in all, over
    ``cpu_s=1`` for the tree."""
    sb = Sandbox(SandboxLimits(wall_s=60, cpu_s=1, memory_mb=512, nproc=16), workers=1)
    if not _cpu_tree():
        pytest.skip("no cgroup CPU accounting here: the limit is per process (RLIMIT_CPU), see the docs")
    src = textwrap.dedent(
        """
        import os, time
        kids = []
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                t = time.process_time()
                while time.process_time() - t < 0.7:
                    pass
                os._exit(0)
            kids.append(pid)
        for pid in kids:
            os.waitpid(pid, 0)
        print("done")
        """
    )
    r = sb.run(src)
    assert r.status == "cpu_limit", (r.status, r.stdout, r.usage)
    assert "done" not in r.stdout  # killed before the children finished


def _cpu_tree() -> bool:
    from rsft.sandbox import _cgroup

    if not CAPS["cgroup"]:
        return False
    g = _cgroup.Group.create(memory_bytes=64 << 20, pids=4)
    try:
        return g.counts_cpu
    finally:
        g.remove()


@needs_view
def test_writes_are_bounded_by_tmpfs_mb():
    """With ``tmpfs_mb=64`` the program writes at most 64 MiB, in its folder, /tmp and /dev/shm together, all on
    filesystems of at most 64 MiB (never the host's disk)."""
    sb = Sandbox(SandboxLimits(wall_s=60, memory_mb=1024, fsize_mb=512, tmpfs_mb=64), workers=1)
    src = textwrap.dedent(
        """
        import os
        chunk = b"x" * (1 << 20)
        written = 0
        for d in (".", "/tmp", "/dev/shm"):
            for i in range(100):
                try:
                    with open(os.path.join(d, f"f{i}"), "wb") as f:
                        for _ in range(16):
                            f.write(chunk)
                            f.flush()
                            written += 1
                except OSError:
                    break
        sizes = [os.statvfs(d).f_blocks * os.statvfs(d).f_frsize >> 20 for d in (".", "/tmp", "/dev/shm")]
        print(written, max(sizes))
        """
    )
    r = sb.run(src)
    assert r.ok, r.stderr
    written, largest = map(int, r.stdout.split())
    assert written <= 64, f"{written} MiB written"
    assert largest <= 64  # each folder lies on a filesystem of at most 64 MiB in all: not the host's disk


# ---------------------------------------------------------------------------------------------------------------
# cleanup


@needs_view
def test_a_deep_directory_tree_is_a_normal_program(sandbox, own_tmp):
    """3,000 nested folders: the program's result stands (a pass stays a pass, a failure a 0) and nothing is
    left in the temp dir."""
    deep = "import os\nfor _ in range(3000):\n    os.mkdir('d')\n    os.chdir('d')\n"
    passed = sandbox.run_program(Program(deep + "def f(x):\n    return x + 1\n", tests="assert f(1) == 2\n"))
    failed = sandbox.run_program(Program(deep + "def f(x):\n    return x\n", tests="assert f(1) == 2\n"))
    assert exec_record(passed, "code").value == 1.0, passed.stderr
    assert exec_record(failed, "code").value == 0.0
    assert list(own_tmp.iterdir()) == []


def test_deep_tree_in_limits_mode_is_removed(own_tmp):
    """Without namespaces the program writes in a host folder: cleanup still removes a 3,000-level tree and a
    folder the program locked (mode 000)."""
    sb = Sandbox(SandboxLimits(wall_s=60, memory_mb=512), isolate="limits", workers=1)
    src = (
        "import os\nos.makedirs('locked/inner'); open('locked/inner/f', 'w').write('x'); os.chmod('locked', 0)\n"
        "for _ in range(3000):\n    os.mkdir('d')\n    os.chdir('d')\nopen('leaf', 'w').write('x')\nprint('ok')\n"
    )
    r = sb.run(src)
    assert r.ok and r.stdout.strip() == "ok", r.stderr
    assert list(own_tmp.iterdir()) == []


def test_remove_tree_handles_depth_links_and_locked_folders(tmp_path):
    base = _fast_tmp(tmp_path)
    top = base / "t"
    top.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    fd = os.open(top, os.O_RDONLY)
    for _ in range(3000):  # deeper than PATH_MAX allows as one path
        os.mkdir("d", dir_fd=fd)
        nfd = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    os.symlink(str(outside), "link", dir_fd=fd)
    os.close(fd)
    (top / "locked").mkdir()
    (top / "locked" / "f").write_text("x")
    (top / "locked").chmod(0)
    remove_tree(str(top))
    assert not top.exists() and outside.read_text() == "keep"
    remove_tree(str(top))  # a missing folder is no error
    remove_tree(str(base))


def test_a_program_that_breaks_the_bookkeeping_fails(tmp_path):
    """In limits mode the program can reach the runner's own files (its stdout, the report): deleting them makes
    the program a failure, not an exception in the scorer."""
    sb = Sandbox(SandboxLimits(wall_s=30, memory_mb=512), isolate="limits", workers=1)
    src = "import os\nfor f in ('../stdout', '../stderr', '../report'):\n    os.remove(f)\nprint('gone')\n"
    r = sb.run_program(Program(src, tests="pass\n"))
    assert r.status == "error" and not r.ok
    assert exec_record(r, "code").value == 0.0


# ---------------------------------------------------------------------------------------------------------------
# uids


_DRAW = """
import json, os, sys, time, ctypes
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x20000000) != 0:  # CLONE_NEWPID: both drawers are PID 1 of their own namespace
    sys.exit(3)
pid = os.fork()
if pid:
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
from rsft.sandbox.runner import _UIDS
uids = _UIDS.acquire(3)
out, other = sys.argv[1], sys.argv[2]
with open(out + ".tmp", "w") as f:
    json.dump({{"pid": os.getpid(), "uids": uids}}, f)
os.rename(out + ".tmp", out)
deadline = time.time() + {wait}
while not os.path.exists(other) and time.time() < deadline:  # hold the uids until the other has drawn too
    time.sleep(0.05)
time.sleep(0.2)
"""


@needs_root
def test_two_processes_never_draw_the_same_uid(tmp_path):
    """Two real rsft processes, each PID 1 of its own PID namespace (the same pid: the old ``pid % 4096`` block
    collided there), draw uids at once: disjoint."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    code = _DRAW.format(wait=60)
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(x), str(y)], env=env) for x, y in ((a, b), (b, a))
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    da, db = json.loads(a.read_text()), json.loads(b.read_text())
    assert da["pid"] == db["pid"] == 1
    assert len(set(da["uids"])) == 3 and not set(da["uids"]) & set(db["uids"]), (da, db)


def test_pool_waits_instead_of_raising(tmp_path):
    pool = _UidPool(base=300_000, size=2, lock_dir=str(tmp_path))
    held = pool.acquire(2)
    got: list[int] = []
    t = threading.Thread(target=lambda: got.extend(pool.acquire(1)), daemon=True)
    t.start()
    time.sleep(0.3)
    assert got == [] and t.is_alive()  # waiting, not raising
    pool.release(held[0])
    t.join(10)
    assert got == [held[0]]


def test_pool_takes_uids_together_and_across_pool_objects(tmp_path):
    """Two pool objects on one lock folder stand for two processes: the kernel's lock keeps them apart."""
    one = _UidPool(base=300_000, size=3, lock_dir=str(tmp_path))
    two = _UidPool(base=300_000, size=3, lock_dir=str(tmp_path))
    a = one.acquire(2)
    b = two.acquire(1)
    assert not set(a) & set(b) and len(set(a + b)) == 3
    with pytest.raises(ValueError):
        one.acquire(4)


def test_more_than_128_concurrent_draws_from_the_real_pool():
    n = 160
    out: list[list[int]] = []
    barrier = threading.Barrier(n)

    def draw():
        barrier.wait()
        out.append(runner._UIDS.acquire(1))

    threads = [threading.Thread(target=draw) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    uids = [u for x in out for u in x]
    try:
        assert len(uids) == n and len(set(uids)) == n
    finally:
        for u in uids:
            runner._UIDS.release(u)


@needs_root
def test_tested_programs_share_a_tiny_pool_without_deadlock(tmp_path, monkeypatch):
    """Tested programs take two uids each; with only two in the pool and three workers, they wait their turn."""
    monkeypatch.setattr(runner, "_UIDS", _UidPool(base=300_000, size=2, lock_dir=str(tmp_path)))
    sb = Sandbox(SandboxLimits(wall_s=60), workers=3)
    prog = Program("def f(x):\n    return x + 1\n", tests="assert f(1) == 2\n", exports=["f"])
    results = sb.run_many([prog] * 4)
    assert [r.status for r in results] == ["ok"] * 4


@pytest.mark.slow
@needs_root
def test_130_concurrent_programs_all_run():
    sb = Sandbox(SandboxLimits(wall_s=240, memory_mb=256), workers=130)
    results = sb.run_many([Program("import time\ntime.sleep(2)\nprint('ok')\n")] * 130)
    assert [r.stdout.strip() for r in results] == ["ok"] * 130, {r.status for r in results}
