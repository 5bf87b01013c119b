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

import difflib
from pathlib import Path
from typing import Literal

from rsft._util.errors import RsftError

PACKAGE_DIR = Path(__file__).resolve().parent
SUITES_DIR = PACKAGE_DIR / "suites"
CONFIGS_DIR = PACKAGE_DIR / "configs"

Kind = Literal["suite", "config", "study", "train", "any"]
# which packaged configs are of which kind, by their folder: studies are the rest
_CONFIG_FOLDERS = {"train": ("train/",), "accelerate": ("accelerate/",)}


TOY_BASES_DIR = PACKAGE_DIR / "toy" / "bases"
PACKAGED_MODEL_PREFIX = "rsft:"


def packaged_model(path: str) -> str:
    """``rsft:toy/large`` and ``rsft:toy/small`` name the tiny bases shipped in the package (the demo's), so a
    packaged config can point at them from any folder; any other path is returned as it is.

    Raises:
        RsftError: an ``rsft:`` name the package does not ship.
    """
    if not path.startswith(PACKAGED_MODEL_PREFIX):
        return path
    name = path.removeprefix(PACKAGED_MODEL_PREFIX)
    bases = {f"toy/{p.name}": p for p in sorted(TOY_BASES_DIR.iterdir()) if (p / "config.json").is_file()}
    if name not in bases:
        close = difflib.get_close_matches(name, list(bases), n=1, cutoff=0.6)
        raise RsftError(
            f"no packaged model '{name}' (packaged: {', '.join(PACKAGED_MODEL_PREFIX + b for b in bases)})",
            field="model.path",
            fix=f"did you mean '{PACKAGED_MODEL_PREFIX}{close[0]}'?" if close else "give a folder or a hub id",
        )
    return str(bases[name])


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


def packaged_names(kind: Kind = "any") -> list[str]:
    """The names a kind can be given by: suites, training configs (``train/...``), studies (the packaged configs
    outside ``train/`` and ``accelerate/``), every config, or all of them."""
    suites = list(packaged_suites())
    configs = list(packaged_configs())
    train = [n for n in configs if n.startswith(_CONFIG_FOLDERS["train"])]
    other = tuple(x for v in _CONFIG_FOLDERS.values() for x in v)
    studies = [n for n in configs if not n.startswith(other)]
    return {"suite": suites, "config": configs, "study": studies, "train": train,
            "any": list(dict.fromkeys([*suites, *configs]))}[kind]  # fmt: skip


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
    if kind != "suite":
        key = _strip(clean, "configs/").rstrip("/")
        if key in packaged_names("config" if kind == "any" else kind):
            return packaged_configs()[key]
    return None


def resolve_config(name_or_path: str | Path, kind: Kind = "any") -> Path:
    """An existing file, else the packaged file of that name.

    Raises:
        RsftError: neither a file nor a packaged name of that kind; the message names the closest name ("did you
            mean") and lists the names there are.
    """
    p = Path(name_or_path)
    if p.is_file():
        return p
    hit = find_packaged(str(name_or_path), kind)
    if hit is not None:
        return hit
    names = packaged_names(kind)
    what = {"suite": "suite", "config": "config", "study": "study", "train": "training config",
            "any": "config or suite"}[kind]  # fmt: skip
    key = _strip(str(name_or_path).replace("\\", "/").removeprefix("./"), "configs/")
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    other = None if kind == "any" else find_packaged(str(name_or_path), "any")
    if other is not None:
        hint = f"'{name_or_path}' is a packaged file, but not a {what}: {other}"
    elif close:
        hint = f"did you mean '{close[0]}'?"
    else:
        hint = f"give a file path or a packaged {what} name"
    raise RsftError(
        f"no such file, and no packaged {what} of that name (packaged: {', '.join(names)})",
        file=str(name_or_path),
        fix=hint,
    )
