"""Where a result came from: rsft version, git commit, package versions."""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path

from rsft._version import __version__


@functools.lru_cache(maxsize=1)
def git_revision() -> dict[str, object]:
    """Commit and dirty flag of the rsft source tree, when it is a git checkout."""
    root = Path(__file__).resolve().parents[3]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": dirty if commit else None}


def package_versions(names: tuple[str, ...] = ("torch", "transformers", "accelerate", "peft", "trl")) -> dict:
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


def provenance() -> dict[str, object]:
    """A small dict to store beside every result."""
    return {"rsft_version": __version__, "git": git_revision(), "packages": package_versions()}
