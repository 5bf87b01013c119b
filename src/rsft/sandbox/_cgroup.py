"""One control group per sandboxed program: memory and process count capped for its whole process tree.

Two layouts are supported, tried in this order:

* **cgroup v2** (``/sys/fs/cgroup/cgroup.controllers`` exists): a child of this process's own cgroup gets
  ``memory.max``, ``memory.swap.max = 0`` and ``pids.max``; this needs the ``memory`` and ``pids`` controllers
  enabled in our cgroup's ``cgroup.subtree_control`` (rsft tries to enable them) and write access (root, or a
  delegated subtree). Its ``cpu.stat`` (``usage_usec``, kept by the kernel for every v2 group) is the CPU time
  of the whole process tree.
* **cgroup v1** (``/sys/fs/cgroup/memory`` and ``/sys/fs/cgroup/pids`` hierarchies): children of this process's
  memory and pids cgroups get ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes`` where swap
  accounting exists) and ``pids.max``; where a ``cpuacct`` hierarchy exists, a child there gives the tree's CPU
  time (``cpuacct.usage``).

The runner reads :meth:`Group.cpu_seconds` while the program runs and kills the tree once it passes ``cpu_s``:
the CPU limit holds for all the program's processes together, not per process.

Where neither works, :func:`available` says why and the sandbox falls back to per-process limits (see
``runner.py``). The launcher joins the group before it starts anything, so every descendant is counted.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

_ROOT = Path("/sys/fs/cgroup")
_counter = itertools.count()


def _own(controller: str | None) -> str:
    """This process's cgroup path in the hierarchy of ``controller`` (None: the v2 unified hierarchy)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if (controller is None and ctrls == "") or (controller and controller in ctrls.split(",")):
            return path.lstrip("/")
    raise OSError(f"no {controller or 'v2'} cgroup in /proc/self/cgroup")


def _layout() -> tuple[str, dict[str, Path]]:
    """("v2", {"unified": base}) or ("v1", {"memory": base, "pids": base}): where our children go."""
    if (_ROOT / "cgroup.controllers").exists():
        base = _ROOT / _own(None)
        wanted = {"memory", "pids"}
        if not wanted <= set((base / "cgroup.controllers").read_text().split()):
            raise OSError(f"{base}: the memory and pids controllers are not available")
        if not wanted <= set((base / "cgroup.subtree_control").read_text().split()):
            (base / "cgroup.subtree_control").write_text("+memory +pids")
        return "v2", {"unified": base}
    bases = {c: _ROOT / c / _own(c) for c in ("memory", "pids")}
    for c, b in bases.items():
        if not (b / "cgroup.procs").exists():
            raise OSError(f"no cgroup v1 {c} hierarchy at {b}")
    try:
        cpu = _ROOT / "cpuacct" / _own("cpuacct")
        if (cpu / "cpuacct.usage").exists():
            bases["cpuacct"] = cpu
    except OSError:
        pass  # no cpuacct hierarchy: the CPU limit stays per process (RLIMIT_CPU)
    return "v1", bases


_probe: tuple[str | None, str] | None = None


def available() -> tuple[str | None, str]:
    """("v2" | "v1", "") when per-program groups can be made here, else (None, the reason). Cached."""
    global _probe
    if _probe is None:
        try:
            if os.geteuid() != 0:
                raise OSError("not root")
            kind, bases = _layout()
            remove_stale(bases)
            group = Group.create(memory_bytes=64 << 20, pids=4)
            group.remove()
            _probe = (kind, "")
        except OSError as e:
            _probe = (None, str(e))
    return _probe


def remove_stale(bases: dict[str, Path]) -> list[str]:
    """Delete groups left by rsft processes that died (killed mid-run); their own names say whose they were."""
    removed = []
    for base in bases.values():
        for d in base.glob("rsft-sbx-*"):
            try:
                owner = int(d.name.split("-")[2])
                os.kill(owner, 0)
                continue  # its owner still runs
            except ProcessLookupError:
                pass
            except (ValueError, IndexError, PermissionError):
                continue
            Group("v1", {"stale": d}).remove()
            if not d.exists():
                removed.append(str(d))
    return removed


class Group:
    """A per-program cgroup (one directory per hierarchy)."""

    def __init__(self, kind: str, dirs: dict[str, Path]) -> None:
        self.kind, self.dirs = kind, dirs

    @classmethod
    def create(cls, *, memory_bytes: int, pids: int) -> Group:
        kind, bases = _layout()
        name = f"rsft-sbx-{os.getpid()}-{next(_counter)}"
        dirs = {c: b / name for c, b in bases.items()}
        group = cls(kind, dirs)
        try:
            for c, d in list(dirs.items()):
                try:
                    d.mkdir()
                except OSError:
                    if c != "cpuacct":
                        raise
                    del dirs[c]  # CPU accounting is optional: the limit stays per process (RLIMIT_CPU)
            if kind == "v2":
                d = dirs["unified"]
                (d / "memory.max").write_text(str(memory_bytes))
                if (d / "memory.swap.max").exists():
                    (d / "memory.swap.max").write_text("0")
                (d / "pids.max").write_text(str(pids))
            else:
                m = dirs["memory"]
                (m / "memory.limit_in_bytes").write_text(str(memory_bytes))
                if (m / "memory.memsw.limit_in_bytes").exists():
                    (m / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
                (dirs["pids"] / "pids.max").write_text(str(pids))
        except OSError:
            group.remove()
            raise
        return group

    @property
    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files the launcher writes its pid into."""
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def _read(self, controller: str, name: str) -> str:
        d = self.dirs["unified" if self.kind == "v2" else controller]
        try:
            return (d / name).read_text()
        except OSError:
            return ""

    @property
    def counts_cpu(self) -> bool:
        """Whether :meth:`cpu_seconds` measures the whole tree (v2, or v1 with a cpuacct hierarchy)."""
        return self.kind == "v2" or "cpuacct" in self.dirs

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) used so far by every process that was ever in the group; None: not counted."""
        if self.kind == "v2":
            stat = self._read("cpu", "cpu.stat")
            usec = next((int(x.split()[1]) for x in stat.splitlines() if x.startswith("usage_usec ")), None)
            return None if usec is None else usec / 1e6
        if "cpuacct" not in self.dirs:
            return None
        ns = self._read("cpuacct", "cpuacct.usage").strip()
        return int(ns) / 1e9 if ns.isdigit() else None

    def usage(self) -> dict:
        """Peak memory (MiB), OOM kills and refused forks over the group's life."""
        if self.kind == "v2":
            peak = self._read("memory", "memory.peak").strip()
            events = self._read("memory", "memory.events")
        else:
            peak = self._read("memory", "memory.max_usage_in_bytes").strip()
            events = self._read("memory", "memory.oom_control")
        oom = next((int(x.split()[1]) for x in events.splitlines() if x.startswith("oom_kill ")), 0)
        pid_events = self._read("pids", "pids.events")
        forks_refused = next((int(x.split()[1]) for x in pid_events.splitlines() if x.startswith("max ")), 0)
        pids_peak = self._read("pids", "pids.peak").strip()
        cpu = self.cpu_seconds()
        return {
            "cpu_s": None if cpu is None else round(cpu, 3),
            "cgroup": self.kind,
            "peak_memory_mb": round(int(peak) / 2**20, 1) if peak.isdigit() else None,
            "oom_kills": oom,
            "forks_refused": forks_refused,
            "peak_pids": int(pids_peak) if pids_peak.isdigit() else None,
        }

    def kill_all(self, rounds: int = 100) -> None:
        """SIGKILL every process in the group until it is empty."""
        kill_until_empty(lambda: {int(p) for d in self.dirs.values() for p in _lines(d / "cgroup.procs")}, rounds)

    def remove(self) -> None:
        """Kill what is left and delete the directories (retrying while the kernel finishes the exits)."""
        self.kill_all()
        for d in self.dirs.values():
            for _ in range(200):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


def kill_until_empty(list_pids, rounds: int = 100) -> None:
    """SIGKILL what ``list_pids()`` returns, round after round, until it returns nothing (a process forked in
    between is seen in the next round)."""
    for _ in range(rounds):
        pids = list_pids()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []
