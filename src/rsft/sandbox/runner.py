"""Run untrusted programs: one subprocess each, confined, in parallel across cores.

Each program gets its own process group, limits on CPU time, address space, processes, open files and file size
(which also caps stdout/stderr: they go to files), a wall-clock timeout and a scrubbed environment. Run as root
(the usual case on our machines), it also gets:

* **its own view of the filesystem** (``_launch._isolate_fs``): a fresh tmpfs root holding only ``/usr`` (and the
  ``/bin``, ``/lib*`` links), the interpreter's own trees (its prefix, a virtual environment) read-only with rsft's
  package masked, a few ``/dev`` nodes and a fresh ``/proc``; ``pivot_root`` detaches the host's root, so the data
  folders, the project checkout, stores, home folders, the host's ``/tmp`` and every filesystem socket are simply
  not there;
* **one size-limited tmpfs** (``tmpfs_mb``) for everything it can write: its work folder ``/tmp/sandbox``,
  ``/tmp`` and ``/dev/shm``; it vanishes with the program's mount namespace, so nothing reaches the host's disk and
  nothing the program writes can defeat the cleanup;
* **its own uid** from a host-wide pool (an ``flock`` per uid: no two programs of any rsft processes share one;
  a full pool waits), so ``RLIMIT_NPROC`` applies and a program cannot signal another;
* **namespaces**: network (no interfaces up), mount, PID (its ``/proc`` lists only its own processes, and
  whatever it leaves running dies with it) and IPC (SysV shared memory, semaphores and POSIX message queues die
  with the program and are invisible to every other);
* where the machine has cgroups (v2, or v1 memory + pids), **one control group** that caps memory and process
  count for the whole process tree and counts its CPU time (v2 ``cpu.stat``, v1 ``cpuacct``): the runner kills
  the tree once the sum passes ``cpu_s``.

Not root, it falls back to limits only and says so in :attr:`ExecResult.isolation`. Without a cgroup the memory
cap is per process (a program may hold up to ``memory_mb × nproc``) and so is the CPU limit (``RLIMIT_CPU``: up
to ``cpu_s × nproc`` for a tree, bounded by ``wall_s``); ``isolation["cpu_tree"]`` says which applied.

A program with ``tests`` runs in tested mode (``_harness.py``): the tests run in a separate process, under another
uid, and talk to the program only through plain data; the program passes only when the tests' process sends a
verdict signed with a secret the program never sees.

Whatever the program does, :meth:`Sandbox.run` returns its result: once the program has started, a failure of the
runner's own bookkeeping makes it a failed program (status ``error``), never an exception the scorer would turn
into an excluded row; cleanup failures are logged, never raised. Only a sandbox that could not start the program
(``sandbox_error``) grades nothing.

Programs run on a thread pool; each thread only waits on its subprocess, so ``workers`` programs run at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field

from rsft.config import StrictModel
from rsft.sandbox import _cgroup

_LAUNCHER = str(Path(__file__).with_name("_launch.py"))
_HARNESS = str(Path(__file__).with_name("_harness.py"))
_HARNESS_PROCS = 3  # launcher, supervisor (PID 1) and the tests' process, counted in the cgroup's pids.max
_SAFE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
_UID_BASE = 200_000
_UID_POOL = 4096  # uids 200000..204095, shared by every rsft process on the host
_SYSTEM = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")  # shown read-only (links stay links)
_CPU_POLL_S = 0.05

log = logging.getLogger("rsft.sandbox")

Status = Literal["ok", "error", "timeout", "cpu_limit", "memory_limit", "output_limit", "sandbox_error"]
_ISOLATION_KEYS = ("uid", "netns", "mountns", "pidns", "ipcns", "fsview", "cgroup", "cpu_tree")


class SandboxLimits(StrictModel):
    """Per-program limits (each also part of what a stored code score depends on)."""

    wall_s: float = Field(10.0, gt=0, description="wall-clock timeout, seconds")
    cpu_s: int = Field(
        10, ge=1, description="CPU time of the whole process tree (cgroup), and of each process (RLIMIT_CPU), s"
    )
    memory_mb: int = Field(
        2048, ge=64, description="memory of the whole program (cgroup) and address space per process, MiB"
    )
    nproc: int = Field(
        32, ge=1, description="processes + threads of the program (cgroup pids.max, RLIMIT_NPROC)"
    )
    fsize_mb: int = Field(32, ge=1, description="largest file the program may write, stdout included")
    nofile: int = Field(128, ge=16, description="open file descriptors")
    output_bytes: int = Field(1 << 20, ge=1024, description="stdout/stderr kept per program")
    tmpfs_mb: int = Field(64, ge=1, description="size of the one tmpfs holding the work folder, /tmp and /dev/shm")


@dataclass
class Program:
    """One program to run: Python source, standard input, extra files written beside it.

    With ``tests`` (Python source), the program runs in tested mode: its source is run as a module named
    ``module_name`` and then ``tests`` run in a separate process, with the program's top-level names bound to
    references into it; the result is ``ok`` only when every test ran and passed. ``exports`` limits which names
    the tests take from the program (None: all); builtins and standard-library modules are always the tests' own
    unless exported, so a program cannot replace ``set``, ``sorted`` or ``math`` under the tests.
    """

    source: str
    stdin: str = ""
    files: dict[str, str] = field(default_factory=dict)
    wall_s: float | None = None
    tests: str | None = None
    module_name: str = "solution"
    exports: list[str] | None = None


@dataclass
class ExecResult:
    """What a program did.

    Attributes:
        status: "ok" (exit 0), "error" (non-zero exit), "timeout" (wall clock), "cpu_limit", "memory_limit",
            "output_limit" (file size limit hit, e.g. flooding stdout), or "sandbox_error" (confinement failed;
            the program did not run).
        returncode: exit code, or minus the signal number.
        stdout: standard output (at most ``output_bytes``, decoded leniently).
        stderr: standard error (same cap).
        seconds: wall time.
        truncated: stdout or stderr was longer than the cap.
        isolation: which confinements were in force ({"uid", "netns", "mountns", "pidns", "cgroup"}).
        tests: tested mode only: {"passed": bool, "reason": str, "signed": bool} (``signed`` false: no verdict
            with a valid signature arrived, and ``passed`` is then false).
        usage: the cgroup's peak memory (MiB), OOM kills, refused forks and peak process count, when one was used.
    """

    status: Status
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    truncated: bool = False
    isolation: dict = field(default_factory=dict)
    tests: dict | None = None
    usage: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class _UidPool:
    """Hands out sandbox uids, each held by one running program across every process on the host.

    A uid is held by an exclusive ``flock`` on its lock file (``LOCK_DIR/UID``): the kernel arbitrates between
    threads and processes alike (two open file descriptions of one file conflict even within a process) and drops
    the lock when its holder dies, so a killed rsft process frees its uids without cleanup. When every uid of the
    pool is held, :meth:`acquire` waits for one to be released instead of failing.
    """

    def __init__(self, base: int = _UID_BASE, size: int = _UID_POOL, lock_dir: str | None = None) -> None:
        self.base, self.size = base, size
        self.lock_dir = lock_dir
        self._lock = threading.Lock()
        self._held: dict[int, int] = {}  # uid -> the descriptor holding its lock

    def _dir(self) -> str:
        if self.lock_dir is None:
            for d in ("/run/rsft-sandbox/uids", os.path.join(tempfile.gettempdir(), f"rsft-sandbox-uids-{os.geteuid()}")):
                try:
                    os.makedirs(d, 0o700, exist_ok=True)
                    self.lock_dir = d
                    break
                except OSError:
                    continue
            else:
                raise OSError("no folder for the sandbox's uid lock files (/run/rsft-sandbox or the temp dir)")
        return self.lock_dir

    def _try(self, uid: int) -> bool:
        fd = os.open(os.path.join(self._dir(), str(uid)), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._held[uid] = fd
        return True

    def acquire(self, n: int = 1, poll_s: float = 0.05) -> list[int]:
        """``n`` uids no other program on this host holds, taken together (a tested program needs two: taking
        them one by one, two waiting programs could each hold one forever); waits while the pool is short."""
        if not 1 <= n <= self.size:
            raise ValueError(f"cannot take {n} uids from a pool of {self.size}")
        while True:
            start = secrets.randbelow(self.size)  # spread concurrent processes over the pool
            got: list[int] = []
            with self._lock:
                for i in range(self.size):
                    uid = self.base + (start + i) % self.size
                    if uid not in self._held and self._try(uid):
                        got.append(uid)
                        if len(got) == n:
                            return got
            for uid in got:
                self.release(uid)
            time.sleep(poll_s)

    def release(self, uid: int) -> None:
        with self._lock:
            fd = self._held.pop(uid, None)
        if fd is not None:
            os.close(fd)

    def held(self) -> int:
        with self._lock:
            return len(self._held)


_UIDS = _UidPool()


def _interpreter_trees(python: str) -> list[str]:
    """The folders the sandbox shows read-only besides the system's (``/usr``): the interpreter's prefixes (a
    virtual environment and the installation it was made from), nested and ``/usr`` ones dropped."""
    cands = {str(Path(python).parent.parent), str(Path(os.path.realpath(python)).parent.parent)}
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        cands |= {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths = sorted({os.path.abspath(c) for c in cands} | {os.path.realpath(c) for c in cands})
    out: list[str] = []
    for p in paths:
        if p == "/" or any(Path(p).is_relative_to(s) for s in ("/" + n for n in _SYSTEM)):
            continue
        if not any(Path(p).is_relative_to(q) for q in out):
            out.append(p)
    return out


def _masked(trees: list[str]) -> list[str]:
    """rsft's own package folder when an interpreter tree holds it (a non-editable install): hidden."""
    pkg = Path(__file__).resolve().parents[1]
    return [str(pkg)] if any(pkg.is_relative_to(t) for t in trees) else []


def capabilities() -> dict:
    """What confinement this machine allows: {"root", "uid_drop", "netns", "mountns", "pidns", "ipcns", "fsview":
    bool, "cgroup": "v2" | "v1" | None, "cgroup_reason": why not}."""
    root = os.geteuid() == 0
    linux = sys.platform == "linux"
    cgroup, why = _cgroup.available() if root and linux else (None, "not root")
    return {
        "root": root,
        "uid_drop": root,
        "netns": root and linux,
        "mountns": root,
        "pidns": root and linux,
        "ipcns": root and linux,
        "fsview": root and linux,
        "cgroup": cgroup,
        "cgroup_reason": why,
    }


class Sandbox:
    """Runs programs under :class:`SandboxLimits`.

    Args:
        limits: per-program limits (defaults: 10 s wall and CPU, 2 GiB, 32 processes, 32 MiB files).
        workers: programs run at once (default: CPU count).
        python: interpreter for the programs (default: this one, so its packages are importable).
        isolate: use uid drop and namespaces where running as root ("auto"), or limits only ("limits").
        cgroup: cap memory and processes per program with a cgroup where the machine allows it (False: the
            per-process fallback, ``RLIMIT_AS`` each and ``RLIMIT_NPROC`` under the program's uid).
    """

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        *,
        workers: int | None = None,
        python: str | None = None,
        isolate: Literal["auto", "limits"] = "auto",
        cgroup: bool = True,
    ) -> None:
        self.limits = limits or SandboxLimits()
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.python = python or sys.executable
        caps = capabilities()
        strong = isolate == "auto" and caps["root"]
        self._netns = strong and caps["netns"]
        self._mountns = strong and caps["mountns"]
        self._drop = strong and caps["uid_drop"]
        self._pidns = strong and caps["pidns"] and self._mountns
        self._ipcns = strong and caps["ipcns"]
        self._fsview = self._mountns and self._pidns and caps["fsview"]
        self._cgroup = caps["cgroup"] if strong and cgroup else None
        self._trees = _interpreter_trees(self.python)
        self._mask = _masked(self._trees)

    def run(self, source: str, stdin: str = "", *, wall_s: float | None = None) -> ExecResult:
        """Run one Python program and return what it did (never raises for anything the program does)."""
        return self._run(Program(source, stdin, wall_s=wall_s))

    def run_program(self, program: Program) -> ExecResult:
        """Run one :class:`Program` (source, stdin, extra files, own timeout)."""
        return self._run(program)

    def run_many(self, programs: list[Program]) -> list[ExecResult]:
        """Run programs in parallel (``workers`` at once); results in input order."""
        if self.workers == 1 or len(programs) <= 1:
            return [self._run(p) for p in programs]
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(self._run, programs))

    def _spec(self, private: str, uid: int | None, report_fd: int, harness: dict | None, cgroup) -> dict:
        lim = self.limits
        limits = {
            "cpu": lim.cpu_s,
            "as": lim.memory_mb << 20,
            "fsize": lim.fsize_mb << 20,
            "nofile": lim.nofile,
            "core": 0,
        }
        if uid is not None:  # RLIMIT_NPROC counts per uid: only meaningful with our own uid
            limits["nproc"] = lim.nproc
        return {
            "argv": [self.python, "-I", "-B", "-X", "utf8", "main.py"],
            "cwd": str(Path(private, "work")),
            "root_dir": str(Path(private, "root")),
            "mount_cwd": "/tmp/sandbox",
            "env": _SAFE_ENV,
            "limits": limits,
            "uid": uid,
            "netns": self._netns,
            "mountns": self._fsview,
            "pidns": self._pidns,
            "ipcns": self._ipcns,
            "required_ns": True,
            "system": list(_SYSTEM),
            "trees": self._trees,
            "mask": self._mask,
            "tmpfs_mb": lim.tmpfs_mb,
            "report_fd": report_fd,
            "harness": harness,
            "cgroup_procs": cgroup.procs_files if cgroup else [],
        }

    def _run(self, program: Program) -> ExecResult:
        tested = program.tests is not None
        uids = _acquire_uids(2 if tested else 1) if self._drop else []
        uid, tests_uid = (uids + [None, None])[0], (uids + [None, None])[1]
        # 0700, ours: stdout/stderr/report, the staged sources (work/) and the view's mount point (root/)
        private, group, started = None, None, [False]
        try:
            private = tempfile.mkdtemp(prefix="rsft-sbx-")
            Path(private, "work").mkdir()
            Path(private, "root").mkdir()
            if self._cgroup:
                group = _cgroup.Group.create(
                    memory_bytes=self.limits.memory_mb << 20, pids=self.limits.nproc + _HARNESS_PROCS
                )
            try:
                return self._execute(program, uid, tests_uid, private, group, started)
            except Exception as e:  # noqa: BLE001 - see below
                if not started[0]:
                    raise
                # the program ran and the runner's bookkeeping broke afterwards (whatever the program left
                # behind): the program failed, it is never an excluded error
                log.warning("sandbox bookkeeping failed after the program ran: %s: %s", type(e).__name__, e)
                return ExecResult("error", None, "", f"the sandbox's bookkeeping failed: {type(e).__name__}: {e}",
                                  0.0, isolation=self._isolation(uid, group))  # fmt: skip
        finally:
            _cleanup(group, uids, private)

    def _isolation(self, uid: int | None, group) -> dict:
        return {
            "uid": uid,
            "netns": self._netns,
            "mountns": self._mountns,
            "pidns": self._pidns,
            "ipcns": self._ipcns,
            "fsview": self._fsview,
            "cgroup": group.kind if group is not None else None,
            "cpu_tree": bool(group is not None and group.counts_cpu),
        }

    def _wait(self, proc: subprocess.Popen, wall: float, group) -> tuple[int, bool, bool]:
        """(exit status, timed out, over the tree's CPU limit): waits for the launcher, reading the cgroup's CPU
        time every ``_CPU_POLL_S`` when it counts the whole tree, and kills the tree at either limit."""
        deadline = time.monotonic() + wall
        count_cpu = group is not None and group.counts_cpu
        while True:
            left = deadline - time.monotonic()
            try:
                return proc.wait(timeout=max(0.0, min(left, _CPU_POLL_S) if count_cpu else left)), False, False
            except subprocess.TimeoutExpired:
                pass
            over = count_cpu and (group.cpu_seconds() or 0.0) > self.limits.cpu_s
            if over or time.monotonic() >= deadline:
                _kill_group(proc.pid)
                if group is not None:
                    group.kill_all()
                return proc.wait(), not over, over

    def _execute(
        self, program: Program, uid: int | None, tests_uid: int | None, private: str, group, started: list
    ) -> ExecResult:
        work = Path(private, "work")
        Path(work, "main.py").write_text(program.source, encoding="utf-8")
        for name, text in program.files.items():
            if Path(name).name != name or name in ("main.py", ".", ".."):
                raise ValueError(f"program file name {name!r}: a plain file name is needed")
            Path(work, name).write_text(text, encoding="utf-8")
        if uid is not None and not self._fsview:
            for q in [work, *work.iterdir()]:
                os.chown(q, uid, uid)
        Path(private, "stdin").write_text(program.stdin, encoding="utf-8")
        wall = program.wall_s or self.limits.wall_s
        key = secrets.token_bytes(32)
        with (
            open(Path(private, "stdin"), "rb") as fin,
            open(Path(private, "stdout"), "wb") as fout,
            open(Path(private, "stderr"), "wb") as ferr,
            open(Path(private, "report"), "w+b") as frep,
            # unlinked files: no path leads to them, only the descriptors handed to the tests' process
            tempfile.TemporaryFile(dir=private) as fsetup,
            tempfile.TemporaryFile(dir=private) as fverdict,
        ):
            harness, pass_fds = None, [frep.fileno()]
            if program.tests is not None:
                setup = {"secret": key.hex(), "tests": program.tests, "exports": program.exports}
                fsetup.write(json.dumps(setup).encode())
                fsetup.flush()
                fsetup.seek(0)
                harness = {
                    "script": _HARNESS,
                    "setup_fd": fsetup.fileno(),
                    "verdict_fd": fverdict.fileno(),
                    "tests_uid": tests_uid,
                    "module_name": program.module_name,
                }
                pass_fds += [fsetup.fileno(), fverdict.fileno()]
            spec = self._spec(private, uid, frep.fileno(), harness, group)
            start = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", _LAUNCHER, json.dumps(spec)],
                stdin=fin,
                stdout=fout,
                stderr=ferr,
                pass_fds=tuple(pass_fds),
                start_new_session=True,
                env=_SAFE_ENV,
                close_fds=True,
            )
            started[0] = True
            rc, timed_out, cpu_over = self._wait(proc, wall, group)
            seconds = time.perf_counter() - start
            _kill_group(proc.pid)
            usage = group.usage() if group is not None else {}
            frep.seek(0)
            report = frep.read().decode("utf-8", "replace")
            fverdict.seek(0)
            verdict = _check_verdict(fverdict.read(1 << 16), key) if program.tests is not None else None
        stdout, t1 = _read_capped(Path(private, "stdout"), self.limits.output_bytes)
        stderr, t2 = _read_capped(Path(private, "stderr"), self.limits.output_bytes)
        full = (
            max(Path(private, n).stat().st_size for n in ("stdout", "stderr")) >= self.limits.fsize_mb << 20
        )
        outcome, setup_errors = _parse_report(report)
        rc = _program_rc(outcome, rc)
        status = "cpu_limit" if cpu_over else _status(rc, timed_out, stderr, setup_errors, full, usage, verdict)
        if status == "sandbox_error":
            stderr = f"sandbox setup failed: {setup_errors.strip()}\n{stderr}"
        return ExecResult(
            status, rc, stdout, stderr, seconds, t1 or t2, self._isolation(uid, group), verdict, usage
        )


def _acquire_uids(n: int) -> list[int]:
    """``n`` uids from the host-wide pool, with whatever a dead holder left running under them killed first."""
    uids = _UIDS.acquire(n)
    for uid in uids:
        _kill_uid(uid)
    return uids


def _cleanup(group, uids: list[int], private: str | None) -> None:
    """Kill and remove everything a program left: its cgroup, its uids' processes, the runner's folder. Each
    step runs whatever the one before did; a failure is logged, never raised into the score."""
    steps = [lambda: group.remove()] if group is not None else []
    for u in uids:
        steps.append(lambda u=u: _kill_uid(u))
    if private is not None:
        steps.append(lambda: remove_tree(private))
    for step in steps:
        try:
            step()
        except Exception as e:  # noqa: BLE001 - a cleanup failure must not turn a program's result into an error
            log.warning("sandbox cleanup: %s: %s", type(e).__name__, e)
    for u in uids:
        _UIDS.release(u)


def remove_tree(top: str) -> None:
    """Delete a folder whatever it holds: iterative (any depth, no recursion), through directory descriptors (no
    path grows past ``PATH_MAX``), never following links, making folders the owner locked (mode 000) writable
    again. A missing folder is no error."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(top, flags)
    except FileNotFoundError:
        return
    except PermissionError:
        os.chmod(top, 0o700)
        fd = os.open(top, flags)
    names: list[str] = []  # the path from top to the folder fd is open on
    try:
        while True:
            sub = None
            with os.scandir(fd) as it:
                entries = list(it)
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    sub = e.name
                else:
                    try:
                        os.unlink(e.name, dir_fd=fd)
                    except FileNotFoundError:
                        pass
            if sub is not None:
                try:
                    child = os.open(sub, flags, dir_fd=fd)
                except PermissionError:  # locked by its owner (mode 000): unlock, as its owner or root
                    os.chmod(sub, 0o700, dir_fd=fd)
                    child = os.open(sub, flags, dir_fd=fd)
                if not os.access(f"/proc/self/fd/{child}", os.W_OK | os.X_OK):
                    os.fchmod(child, 0o700)  # readable but not writable: its entries could not be unlinked
                os.close(fd)
                fd, names = child, [*names, sub]
                continue
            if not entries and not names:
                break
            if not entries:  # this folder is empty: go up and remove it
                parent = os.open("..", flags, dir_fd=fd)
                os.close(fd)
                fd = parent
                os.rmdir(names.pop(), dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(top)


def _check_verdict(raw: bytes, key: bytes) -> dict:
    """The tests' verdict when its signature is valid; otherwise a failed, unsigned one."""
    try:
        msg = json.loads(raw.decode("utf-8").splitlines()[0])
        payload = json.dumps(msg["verdict"], sort_keys=True).encode()
        good = hmac.compare_digest(hmac.new(key, payload, hashlib.sha256).hexdigest(), str(msg["mac"]))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        good = False
    if not good:
        return {"passed": False, "reason": "no signed verdict from the tests' process", "signed": False}
    v = msg["verdict"]
    return {"passed": v.get("passed") is True, "reason": str(v.get("reason", "")), "signed": True}


def _parse_report(report: str) -> tuple[dict, str]:
    """(the supervisor's outcome line, the setup-error lines)."""
    outcome, errors = {}, []
    for line in report.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            errors.append(line)
            continue
        if isinstance(obj, dict) and "program" in obj:
            outcome = obj
        else:
            errors.append(line)
    return outcome, "\n".join(errors)


def _program_rc(outcome: dict, launcher_rc: int) -> int | None:
    """The program's exit code (or minus its signal) as the supervisor saw it; the launcher's when unknown."""
    prog = outcome.get("program") or {}
    if "signal" in prog:
        return -int(prog["signal"])
    if prog.get("exit") is not None:
        return int(prog["exit"])
    if prog.get("stopped"):
        return None
    return launcher_rc


def _status(
    rc: int | None,
    timed_out: bool,
    stderr: str,
    setup_errors: str,
    output_full: bool,
    usage: dict,
    verdict: dict | None,
) -> Status:
    if timed_out:
        return "timeout"
    if rc == 121 and setup_errors.strip():
        return "sandbox_error"
    if verdict is not None and verdict["passed"]:
        return "ok"
    if verdict is None and rc == 0:
        return "ok"
    if rc in (-signal.SIGXCPU, -signal.SIGKILL) and not stderr.strip() and not usage.get("oom_kills"):
        return "cpu_limit"
    if rc == -signal.SIGXFSZ or output_full:  # Python ignores SIGXFSZ: writes fail with EFBIG instead
        return "output_limit"
    reason = (verdict or {}).get("reason", "")
    if usage.get("oom_kills") or "MemoryError" in stderr[-2000:] or "MemoryError" in reason:
        return "memory_limit"
    return "error"


def _read_capped(path: Path, cap: int) -> tuple[str, bool]:
    with open(path, "rb") as f:
        data = f.read(cap + 1)
    return data[:cap].decode("utf-8", "replace"), len(data) > cap


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _uid_pids(uid: int) -> list[int]:
    """Live (not zombie) processes owned by ``uid``."""
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid != uid:
                    continue
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    state = f.read().rsplit(b")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if state not in (b"Z", b"X"):
                pids.append(int(entry.name))
    return pids


def _kill_uid(uid: int, rounds: int = 50) -> None:
    """SIGKILL every process of a sandbox uid (escaped ``setsid`` children, fork-bomb remnants) until none is left.

    Each round kills what it sees; a process forked in between is seen in the next round, and ``RLIMIT_NPROC``
    bounds how many there can be.
    """
    _cgroup.kill_until_empty(lambda: _uid_pids(uid), rounds)
