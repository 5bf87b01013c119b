"""Config files shipped inside the package: named suites (``rsft/suites/``) and configs (``rsft/configs/``).

A pip-installed rsft has no source checkout, so every named config lives in the package and is found by name:

* suites: ``paper`` -> ``rsft/suites/paper.yaml``;
* configs: ``paper/dynamics`` -> ``rsft/configs/paper/dynamics.yaml``, ``train/toy`` -> ``rsft/configs/train/toy.yaml``,
  and a folder name stands for its ``all.yaml`` (``paper`` -> ``rsft/configs/paper/all.yaml``).

A path that exists always wins. The checkout-era paths ``configs/...`` and ``suites/...`` still resolve to the
packaged files when no such file exists in the current folder, so ``rsft study plan configs/paper/all.yaml``
works from anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from rsft._util.errors import ConfigError, Problem

PACKAGE_DIR = Path(__file__).resolve().parent
SUITES_DIR = PACKAGE_DIR / "suites"
CONFIGS_DIR = PACKAGE_DIR / "configs"

Kind = Literal["suite", "config", "any"]


def packaged_suites() -> dict[str, Path]:
    """Suite name -> file, sorted by name."""
    return {p.stem: p for p in sorted(SUITES_DIR.glob("*.yaml"))}


def packaged_configs() -> dict[str, Path]:
    """Config name (path under ``rsft/configs`` without ``.yaml``) -> file; a folder with ``all.yaml`` is also
    named by itself."""
    out: dict[str, Path] = {}
    for p in sorted(CONFIGS_DIR.rglob("*.yaml")):
        name = p.relative_to(CONFIGS_DIR).with_suffix("").as_posix()
        out[name] = p
        if p.name == "all.yaml":
            out[p.parent.relative_to(CONFIGS_DIR).as_posix()] = p
    return dict(sorted(out.items()))


def _strip(name: str, prefix: str) -> str:
    for suffix in (".yaml", ".yml"):
        name = name.removesuffix(suffix)
    return name.removeprefix(prefix)


def find_packaged(name: str, kind: Kind = "any") -> Path | None:
    """The packaged file a name (or checkout-era path) stands for, or ``None``."""
    clean = name.replace("\\", "/").removeprefix("./")
    if kind in ("suite", "any"):
        hit = packaged_suites().get(_strip(clean, "suites/"))
        if hit is not None:
            return hit
    if kind in ("config", "any"):
        hit = packaged_configs().get(_strip(clean, "configs/").rstrip("/"))
        if hit is not None:
            return hit
    return None


def resolve_config(name_or_path: str | Path, kind: Kind = "any") -> Path:
    """An existing file, else the packaged file of that name.

    Raises:
        ConfigError: neither a file nor a packaged name; the message lists the names there are.
    """
    p = Path(name_or_path)
    if p.is_file():
        return p
    hit = find_packaged(str(name_or_path), kind)
    if hit is not None:
        return hit
    names = dict.fromkeys(
        [*(packaged_suites() if kind != "config" else {}), *(packaged_configs() if kind != "suite" else {})]
    )
    what = {"suite": "suite", "config": "config", "any": "config or suite"}[kind]
    raise ConfigError(
        [Problem("<file>", f"no such file and no packaged {what} of that name (known: {', '.join(names)})")],
        file=str(name_or_path),
    )
