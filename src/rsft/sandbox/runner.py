"""Run untrusted programs: one subprocess each, confined, in parallel across cores.

Each program gets its own temporary directory and process group, limits on CPU time, address space, processes,
open files and file size (which also caps stdout/stderr: they go to files), a wall-clock timeout and a scrubbed
environment. Run as root (the usual case on our machines), it also gets its own uid (a fresh one per concurrent
run, so ``RLIMIT_NPROC`` — which root ignores — applies and a program cannot signal another), a network
namespace with no interfaces up, a mount namespace with private ``/tmp`` and ``/dev/shm``, a PID namespace (its
``/proc`` lists only its own processes, and whatever it leaves running dies with it) and, where the machine has
cgroups (v2, or v1 memory + pids), one control group that caps memory and process count for the program's whole
process tree. Not root, it falls back to limits only and says so in :attr:`ExecResult.isolation`.

Without a cgroup the memory cap is per process: a program may hold up to ``memory_mb × nproc`` (``nproc`` bounds
its processes through ``RLIMIT_NPROC`` under its own uid).

A program with ``tests`` runs in tested mode (``_harness.py``): the tests run in a separate process, under another
uid, and talk to the program only through plain data; the program passes only when the tests' process sends a
verdict signed with a secret the program never sees.

Programs run on a thread pool; each thread only waits on its subprocess, so ``workers`` programs run at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
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
from rsft.sandbox import _cgroup

_LAUNCHER = str(Path(__file__).with_name("_launch.py"))
_HARNESS = str(Path(__file__).with_name("_harness.py"))
_HARNESS_PROCS = 3  # launcher, supervisor (PID 1) and the tests' process, counted in the cgroup's pids.max
_SAFE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
_UID_BASE = 200_000
_UIDS_PER_PROCESS = 256

Status = Literal["ok", "error", "timeout", "cpu_limit", "memory_limit", "output_limit", "sandbox_error"]


class SandboxLimits(StrictModel):
    """Per-program limits (each also part of what a stored code score depends on)."""

    wall_s: float = Field(10.0, gt=0, description="wall-clock timeout, seconds")
    cpu_s: int = Field(10, ge=1, description="CPU time (RLIMIT_CPU), seconds")
    memory_mb: int = Field(
        2048, ge=64, description="memory of the whole program (cgroup) and address space per process, MiB"
    )
    nproc: int = Field(
        32, ge=1, description="processes + threads of the program (cgroup pids.max, RLIMIT_NPROC)"
    )
    fsize_mb: int = Field(32, ge=1, description="largest file the program may write, stdout included")
    nofile: int = Field(128, ge=16, description="open file descriptors")
    output_bytes: int = Field(1 << 20, ge=1024, description="stdout/stderr kept per program")
    tmpfs_mb: int = Field(64, ge=1, description="size of the private /tmp and /dev/shm")


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
    """What confinement this machine allows: {"root", "uid_drop", "netns", "mountns", "pidns": bool, "cgroup":
    "v2" | "v1" | None, "cgroup_reason": why not}."""
    root = os.geteuid() == 0
    linux = sys.platform == "linux"
    cgroup, why = _cgroup.available() if root and linux else (None, "not root")
    return {
        "root": root,
        "uid_drop": root,
        "netns": root and linux,
        "mountns": root,
        "pidns": root and linux,
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
        self._cgroup = caps["cgroup"] if strong and cgroup else None
        self._reveal = (
            _hidden_ancestors([self.python, sys.prefix, sys.base_prefix, _LAUNCHER]) if self._mountns else []
        )
        # the harness is started by path after the fresh /tmp is mounted: a checkout under /tmp (a CI clone)
        # needs its folder bound back too
        self._rebind = _under_tmpfs(
            [str(Path(self.python).parent.parent), sys.prefix, sys.base_prefix, str(Path(_HARNESS).parent)]
        )

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

    def _spec(self, work: str, uid: int | None, report_fd: int, harness: dict | None, cgroup) -> dict:
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
            "pidns": self._pidns,
            "required_ns": True,
            "reveal": self._reveal,
            "tmpfs": list(_TMPFS_DIRS),
            "rebind": self._rebind,
            "tmpfs_mb": lim.tmpfs_mb,
            "report_fd": report_fd,
            "harness": harness,
            "cgroup_procs": cgroup.procs_files if cgroup else [],
        }

    def _run(self, program: Program) -> ExecResult:
        tested = program.tests is not None
        uid = _UIDS.acquire() if self._drop else None
        tests_uid = _UIDS.acquire() if self._drop and tested else None
        private = tempfile.mkdtemp(prefix="rsft-sbx-io-")  # 0700, ours: stdout/stderr/report live here
        work = tempfile.mkdtemp(prefix="rsft-sbx-")
        group = None
        try:
            if self._cgroup:
                group = _cgroup.Group.create(
                    memory_bytes=self.limits.memory_mb << 20, pids=self.limits.nproc + _HARNESS_PROCS
                )
            return self._execute(program, uid, tests_uid, private, work, group)
        finally:
            if group is not None:
                group.remove()
            for u in (uid, tests_uid):
                if u is not None:
                    _kill_uid(u)
                    _UIDS.release(u)
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(private, ignore_errors=True)

    def _execute(
        self, program: Program, uid: int | None, tests_uid: int | None, private: str, work: str, group
    ) -> ExecResult:
        Path(work, "main.py").write_text(program.source, encoding="utf-8")
        for name, text in program.files.items():
            Path(work, name).write_text(text, encoding="utf-8")
        if uid is not None:
            for p in [work, *(str(q) for q in Path(work).iterdir())]:
                os.chown(p, uid, uid)
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
            spec = self._spec(work, uid, frep.fileno(), harness, group)
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
            timed_out = False
            try:
                rc = proc.wait(timeout=wall)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc.pid)
                if group is not None:
                    group.kill_all()
                rc = proc.wait()
            seconds = time.perf_counter() - start
            _kill_group(proc.pid)
            usage = group.usage() if group is not None else {}
            frep.seek(0)
            report = frep.read().decode("utf-8", "replace")
            fverdict.seek(0)
            verdict = _check_verdict(fverdict.read(1 << 16), key) if program.tests is not None else None
        stdout, t1 = _read_capped(Path(private, "stdout"), self.limits.output_bytes)
        stderr, t2 = _read_capped(Path(private, "stderr"), self.limits.output_bytes)
        isolation = {
            "uid": uid,
            "netns": self._netns,
            "mountns": self._mountns,
            "pidns": self._pidns,
            "cgroup": group.kind if group is not None else None,
        }
        full = (
            max(Path(private, n).stat().st_size for n in ("stdout", "stderr")) >= self.limits.fsize_mb << 20
        )
        outcome, setup_errors = _parse_report(report)
        rc = _program_rc(outcome, rc)
        status = _status(rc, timed_out, stderr, setup_errors, full, usage, verdict)
        if status == "sandbox_error":
            stderr = f"sandbox setup failed: {setup_errors.strip()}\n{stderr}"
        return ExecResult(status, rc, stdout, stderr, seconds, t1 or t2, isolation, verdict, usage)


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
