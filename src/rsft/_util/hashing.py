"""Content hashes: configs, data files and model weights.

Cached results are keyed by what was computed from (the weights' bytes), never by a path: replacing the weights at
the same path invalidates them; touching nothing reuses them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
# files trainers keep beside the weights that are not model weights (Hugging Face Trainer, accelerate): never hashed
_TRAINER_STATE = re.compile(
    r"^(optimizer|scheduler|scaler|training_args|rng_state.*|random_states.*|pytorch_model_fsdp_optim.*)"
    r"\.(pt|pth|bin)$"
)
_HASH_CACHE_NAME = ".rsft_weights_hash.json"


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal objects give equal strings."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def hash_obj(obj: Any, length: int = 16) -> str:
    """Short sha256 of an object's canonical JSON."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def hash_text(text: str, length: int = 16) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def hash_file(path: str | Path, chunk: int = 1 << 22) -> str:
    """Full sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def weight_files(model_dir: str | Path) -> list[Path]:
    """The weight files of a Hugging Face model folder, sorted by name (a trainer's optimizer, scheduler, RNG and
    argument files beside them are not weights)."""
    d = Path(model_dir)
    return sorted(
        p
        for p in d.iterdir()
        if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES) and not _TRAINER_STATE.match(p.name)
    )


def weights_hash(model_dir: str | Path, length: int = 16) -> str:
    """Content hash of a model folder's weight files (names and bytes).

    The full sha256 of each file is cached beside the weights, keyed by (size, mtime_ns), so re-hashing an unchanged
    checkpoint costs a ``stat``; any rewrite of a file changes its mtime and forces a re-read.

    Raises:
        FileNotFoundError: the folder holds no weight files.
    """
    d = Path(model_dir)
    files = weight_files(d)
    if not files:
        raise FileNotFoundError(f"no weight files ({', '.join(WEIGHT_SUFFIXES)}) in {d}")
    cache_path = d / _HASH_CACHE_NAME
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    h = hashlib.sha256()
    changed = False
    for f in files:
        st = f.stat()
        stamp = [st.st_size, st.st_mtime_ns]
        entry = cache.get(f.name)
        if entry is None or entry.get("stamp") != stamp:
            entry = {"stamp": stamp, "sha256": hash_file(f)}
            cache[f.name] = entry
            changed = True
        h.update(f.name.encode())
        h.update(entry["sha256"].encode())
    if changed:
        try:
            # a name of this process's own: several processes hash a shared base checkpoint at once
            tmp = cache_path.with_name(f"{cache_path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
            tmp.write_text(json.dumps(cache))
            os.replace(tmp, cache_path)
        except OSError:
            pass  # read-only model folders are fine: we just re-hash next time
    return h.hexdigest()[:length]
