"""Run untrusted programs: one subprocess each, confined, in parallel across cores.

Each program gets its own temporary directory and process group, limits on CPU time, address space, processes,
open files and file size (which also caps stdout/stderr: they go to files), a wall-clock timeout and a scrubbed
environment. Run as root (the usual case on our machines), it also gets its own uid (a fresh one per concurrent
run, so ``RLIMIT_NPROC`` — which root ignores — applies and a program cannot signal another), a network
namespace with no interfaces up, and a mount namespace with private ``/tmp`` and ``/dev/shm``. Not root, it falls
back to limits only and says so in :attr:`ExecResult.isolation`.

Programs run on a thread pool; each thread only waits on its subprocess, so ``workers`` programs run at once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
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

_LAUNCHER = str(Path(__file__).with_name("_launch.py"))
_SAFE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
_UID_BASE = 200_000
_UIDS_PER_PROCESS = 256

Status = Literal["ok", "error", "timeout", "cpu_limit", "memory_limit", "output_limit", "sandbox_error"]


class SandboxLimits(StrictModel):
    """Per-program limits (each also part of what a stored code score depends on)."""

    wall_s: float = Field(10.0, gt=0, description="wall-clock timeout, seconds")
    cpu_s: int = Field(10, ge=1, description="CPU time (RLIMIT_CPU), seconds")
    memory_mb: int = Field(2048, ge=64, description="address space (RLIMIT_AS), MiB")
    nproc: int = Field(32, ge=1, description="processes + threads of the sandbox uid (RLIMIT_NPROC)")
    fsize_mb: int = Field(32, ge=1, description="largest file the program may write, stdout included")
    nofile: int = Field(128, ge=16, description="open file descriptors")
    output_bytes: int = Field(1 << 20, ge=1024, description="stdout/stderr kept per program")
    tmpfs_mb: int = Field(64, ge=1, description="size of the private /tmp and /dev/shm")


@dataclass
class Program:
    """One program to run: Python source, standard input, extra files written beside it."""

    source: str
    stdin: str = ""
    files: dict[str, str] = field(default_factory=dict)
    wall_s: float | None = None


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
        isolation: which confinements were in force ({"uid": ..., "netns": bool, "mountns": bool}).
    """

    status: Status
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    truncated: bool = False
    isolation: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class _UidPool:
    """Hands out a distinct uid per concurrently running program (this process's own block of uids)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: list[int] = []
        self._pid = -1

    def acquire(self) -> int:
        with self._lock:
            if self._pid != os.getpid():  # a fork gets a fresh block
                self._pid = os.getpid()
                start = _UID_BASE + (os.getpid() % 4096) * _UIDS_PER_PROCESS
                self._free = list(range(start + _UIDS_PER_PROCESS - 1, start - 1, -1))
            return self._free.pop()

    def release(self, uid: int) -> None:
        with self._lock:
            self._free.append(uid)


_UIDS = _UidPool()


def _hidden_ancestors(paths: list[str]) -> list[tuple[str, str]]:
    """(dir, child) pairs: the first ancestor of each path that others cannot traverse, and the step below it."""
    out: set[tuple[str, str]] = set()
    for p in paths:
        parts = Path(os.path.realpath(p)).parts
        for i in range(1, len(parts) - 1):
            d = str(Path(*parts[:i]))
            if not os.stat(d).st_mode & stat.S_IXOTH:
                out.add((d, parts[i]))
                break
    return sorted(out)


_TMPFS_DIRS = ("/tmp", "/dev/shm", "/var/tmp", "/run/lock")


def _under_tmpfs(paths: list[str]) -> list[str]:
    """The interpreter trees that lie under a directory the sandbox replaces by a fresh tmpfs (e.g. a virtual
    environment in /tmp): they are bound back in, unchanged, so the interpreter still starts."""
    out = set()
    for p in paths:
        real = Path(os.path.realpath(p))
        if any(real.is_relative_to(d) and real != Path(d) for d in _TMPFS_DIRS):
            out.add(str(real))
    return sorted(out)


def capabilities() -> dict:
    """What confinement this machine allows: {"root": bool, "uid_drop": bool, "netns": bool, "mountns": bool}."""
    root = os.geteuid() == 0
    return {"root": root, "uid_drop": root, "netns": root and sys.platform == "linux", "mountns": root}


class Sandbox:
    """Runs programs under :class:`SandboxLimits`.

    Args:
        limits: per-program limits (defaults: 10 s wall and CPU, 2 GiB, 32 processes, 32 MiB files).
        workers: programs run at once (default: CPU count).
        python: interpreter for the programs (default: this one, so its packages are importable).
        isolate: use uid drop and namespaces where running as root ("auto"), or limits only ("limits").
    """

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        *,
        workers: int | None = None,
        python: str | None = None,
        isolate: Literal["auto", "limits"] = "auto",
    ) -> None:
        self.limits = limits or SandboxLimits()
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.python = python or sys.executable
        caps = capabilities()
        strong = isolate == "auto" and caps["root"]
        self._netns = strong and caps["netns"]
        self._mountns = strong and caps["mountns"]
        self._drop = strong and caps["uid_drop"]
        self._reveal = (
            _hidden_ancestors([self.python, sys.prefix, sys.base_prefix, _LAUNCHER]) if self._mountns else []
        )
        self._rebind = _under_tmpfs([str(Path(self.python).parent.parent), sys.prefix, sys.base_prefix])

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

    def _spec(self, work: str, uid: int | None, report_fd: int) -> dict:
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
            "cwd": work,
            "mount_cwd": "/tmp/sandbox",
            "env": _SAFE_ENV,
            "limits": limits,
            "uid": uid,
            "netns": self._netns,
            "mountns": self._mountns,
            "required_ns": True,
            "reveal": self._reveal,
            "tmpfs": list(_TMPFS_DIRS),
            "rebind": self._rebind,
            "tmpfs_mb": lim.tmpfs_mb,
            "report_fd": report_fd,
        }

    def _run(self, program: Program) -> ExecResult:
        uid = _UIDS.acquire() if self._drop else None
        private = tempfile.mkdtemp(prefix="rsft-sbx-io-")  # 0700, ours: stdout/stderr/report live here
        work = tempfile.mkdtemp(prefix="rsft-sbx-")
        try:
            return self._execute(program, uid, private, work)
        finally:
            if uid is not None:
                _kill_uid(uid)
                _UIDS.release(uid)
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(private, ignore_errors=True)

    def _execute(self, program: Program, uid: int | None, private: str, work: str) -> ExecResult:
        Path(work, "main.py").write_text(program.source, encoding="utf-8")
        for name, text in program.files.items():
            Path(work, name).write_text(text, encoding="utf-8")
        if uid is not None:
            for p in [work, *(str(q) for q in Path(work).iterdir())]:
                os.chown(p, uid, uid)
        Path(private, "stdin").write_text(program.stdin, encoding="utf-8")
        wall = program.wall_s or self.limits.wall_s
        with (
            open(Path(private, "stdin"), "rb") as fin,
            open(Path(private, "stdout"), "wb") as fout,
            open(Path(private, "stderr"), "wb") as ferr,
            open(Path(private, "report"), "w+b") as frep,
        ):
            spec = self._spec(work, uid, frep.fileno())
            start = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", _LAUNCHER, json.dumps(spec)],
                stdin=fin,
                stdout=fout,
                stderr=ferr,
                pass_fds=(frep.fileno(),),
                start_new_session=True,
                env=_SAFE_ENV,
                close_fds=True,
            )
            timed_out = False
            try:
                rc = proc.wait(timeout=wall)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc.pid)
                rc = proc.wait()
            seconds = time.perf_counter() - start
            _kill_group(proc.pid)
            frep.seek(0)
            report = frep.read().decode("utf-8", "replace")
        stdout, t1 = _read_capped(Path(private, "stdout"), self.limits.output_bytes)
        stderr, t2 = _read_capped(Path(private, "stderr"), self.limits.output_bytes)
        isolation = {"uid": uid, "netns": self._netns, "mountns": self._mountns}
        full = (
            max(Path(private, n).stat().st_size for n in ("stdout", "stderr")) >= self.limits.fsize_mb << 20
        )
        status = _status(rc, timed_out, stderr, report, full)
        if status == "sandbox_error":
            stderr = f"sandbox setup failed: {report.strip()}\n{stderr}"
        return ExecResult(status, rc, stdout, stderr, seconds, t1 or t2, isolation)


def _status(rc: int, timed_out: bool, stderr: str, report: str, output_full: bool) -> Status:
    if timed_out:
        return "timeout"
    if rc == 121 and report.strip():
        return "sandbox_error"
    if rc == 0:
        return "ok"
    if rc in (-signal.SIGXCPU, -signal.SIGKILL) and not stderr.strip():
        return "cpu_limit"
    if rc == -signal.SIGXFSZ or output_full:  # Python ignores SIGXFSZ: writes fail with EFBIG instead
        return "output_limit"
    if "MemoryError" in stderr[-2000:]:
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
    for _ in range(rounds):
        pids = _uid_pids(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
