"""Work leases: several sweep processes (on one host or on hosts sharing the store's filesystem) split the work.

A *unit* is one checkpoint (weights hash) x one benchmark. A worker generates a unit's rows only while it holds
the unit's lease. Leases are files ``STORE/leases/<unit>.<generation>``; the newest generation is the lease in
force. Taking a lease is an exclusive create of the next generation (``O_CREAT | O_EXCL``, atomic on local file
systems and on NFS v3+), so when two workers race for the same generation exactly one wins. A lease holds its
owner and an expiry; the owner renews it after each batch it writes. A lease whose expiry has passed (its owner
crashed or stalled), or whose owner is a process on the same host that no longer runs, is taken over by creating
the next generation. An owner that finds a newer generation than its
own when renewing has lost the lease and stops that unit; the rows it already wrote are kept (keys are unique),
so nothing is lost and at most the batch in flight is generated twice.

Clocks: expiry is wall-clock time written by the owner and read by others, so hosts sharing a store need clocks
within a small fraction of ``ttl_s`` (NTP does this).
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from rsft._util.errors import RsftError
from rsft._util.hashing import hash_obj

DEFAULT_TTL_S = 300.0
MAX_TTL_S = 7 * 86400.0  # a week: longer is a stalled worker's unit held for good (and the heartbeat's wait overflows)


def check_ttl(ttl_s: object, *, allow_off: bool = True, field: str = "--lease-ttl") -> float:
    """``ttl_s`` as a lease lifetime: a finite number of seconds in (0, :data:`MAX_TTL_S`], or 0 (no leases) when
    ``allow_off``. NaN compared false with every expiry (claims were silently off: rows generated twice) and inf
    overflowed the heartbeat's wait; both are refused here, at the boundary.

    Raises:
        RsftError: naming ``field``.
    """
    try:
        value = float(ttl_s)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if allow_off and value == 0:
        return 0.0
    if not (math.isfinite(value) and 0 < value <= MAX_TTL_S):
        raise RsftError(
            f"{field} must be a finite number of seconds in (0, {MAX_TTL_S:g}]{' or 0 (no claims)' if allow_off else ''}"
            f", got {ttl_s!r}",
            field=field,
            fix=f"e.g. {field} {DEFAULT_TTL_S:g}",
        )
    return value


def unit_id(weights_hash: str, benchmark: str, version: int) -> str:
    """A file-name-safe id of one checkpoint x benchmark unit."""
    return hash_obj([weights_hash, benchmark, int(version)])[:24]


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Lease:
    """A held lease (see the module docstring)."""

    path: Path
    unit: str
    generation: int
    owner: str
    ttl_s: float

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._lost = False
        self._beat = threading.Thread(target=self._heartbeat, name=f"lease-{self.unit}", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            if not self.renew():
                return

    def renew(self) -> bool:
        """Extend the expiry; False when the lease was taken over (stop working on the unit)."""
        with self._lock:
            if self._lost or self._stop.is_set():
                return not self._lost
            if _latest_generation(self.path.parent, self.unit) != self.generation:
                self._lost = True
                return False
            _write(self.path, self.owner, self.unit, time.time() + self.ttl_s, replace=True)
            return True

    def release(self) -> None:
        """Give the unit back (its rows are in the store, or the next worker picks up the rest)."""
        with self._lock:
            self._stop.set()
            if not self._lost and _latest_generation(self.path.parent, self.unit) == self.generation:
                _write(self.path, self.owner, self.unit, 0.0, replace=True)
        self._beat.join(timeout=5)


class LeaseBook:
    """The leases of one store folder.

    Args:
        store_path: the store folder (leases live in ``STORE/leases``).
        ttl_s: how long a lease lasts without renewal.
    """

    def __init__(self, store_path: str | Path, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.ttl_s = check_ttl(ttl_s, allow_off=False, field="ttl_s")
        self.dir = Path(store_path) / "leases"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.owner = _owner()

    def state(self, unit: str) -> tuple[int, dict | None]:
        """(newest generation, its content) — generation 0 and None when the unit was never leased."""
        gen = _latest_generation(self.dir, unit)
        if gen == 0:
            return 0, None
        return gen, _read(self.dir / f"{unit}.{gen}")

    def acquire(self, unit: str) -> Lease | None:
        """Take the unit's lease when it is free, expired, or held by a dead process on this host; None when
        another worker holds it."""
        gen, info = self.state(unit)
        if info is not None and info.get("expires", 0.0) > time.time() and not _owner_dead(info.get("owner")):
            return None
        nxt = gen + 1
        path = self.dir / f"{unit}.{nxt}"
        try:
            _write(path, self.owner, unit, time.time() + self.ttl_s, replace=False)
        except FileExistsError:
            return None  # another worker took this generation first
        for old in range(max(1, gen - 2), gen):  # keep the folder small; the two newest stay for inspection
            (self.dir / f"{unit}.{old}").unlink(missing_ok=True)
        return Lease(path, unit, nxt, self.owner, self.ttl_s)

    def holder(self, unit: str) -> str | None:
        """The owner of a live lease on ``unit``, else None."""
        _, info = self.state(unit)
        if info is None or info.get("expires", 0.0) <= time.time():
            return None
        return info.get("owner")


def _owner_dead(owner: str | None) -> bool:
    """True when ``owner`` ("host:pid:tag") is a process on this host that no longer runs (a killed sweep: its
    lease need not be waited out). Owners on other hosts are never judged dead: their leases expire."""
    try:
        host, pid, _ = str(owner).rsplit(":", 2)
        pid_n = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname() or pid_n == os.getpid():
        return False
    try:
        os.kill(pid_n, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid_n)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _latest_generation(folder: Path, unit: str) -> int:
    best = 0
    for p in folder.glob(f"{unit}.*"):
        tail = p.name.rsplit(".", 1)[-1]
        if tail.isdigit():
            best = max(best, int(tail))
    return best


def _read(path: Path) -> dict | None:
    for _ in range(5):  # a lease being created is briefly empty
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        if text.strip():
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                pass
        time.sleep(0.02)
    return {"expires": time.time() + 1.0, "owner": "unknown"}  # unreadable: treat as briefly held


def _write(path: Path, owner: str, unit: str, expires: float, *, replace: bool) -> None:
    body = json.dumps({"owner": owner, "unit": unit, "expires": expires}).encode()
    if replace:
        tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(body)
        os.replace(tmp, path)
        return
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    try:
        os.write(fd, body)
    finally:
        os.close(fd)
