"""Sweep a model repo's released checkpoints (``stepN`` folders on the hub) without keeping them all on disk.

``hub:ORG/NAME@REVISION`` names a repo whose folders ``step80``, ``step160`` ... (or ``step_000080``) each hold a
Hugging Face checkpoint, as the paper's releases do. :func:`sweep_hub_run` lists those folders, and for each step:
downloads it (through ``huggingface_hub``, honouring ``HF_ENDPOINT``/``HF_TOKEN``) into a cache that holds one
checkpoint's weights at a time, evaluates it like a local checkpoint (store key = the weights' content hash), then
deletes the weight files before the next. What stays per step is small: config, tokenizer and
``rsft_hub_step.json`` (the weights hash and where they came from). A rerun plans each step from those small files
and downloads the weights again only when rows are missing, so it resumes like a local run.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsft._util.errors import OfflineError, RsftError
from rsft._util.hashing import weights_hash
from rsft._util.progress import Progress, Say, quiet
from rsft.eval.config import SuiteConfig
from rsft.eval.hubrevs import _api, _check_disk, _free_weights
from rsft.eval.hubrevs import _download as _download_at
from rsft.eval.plan import Target, expand, load_benchmarks
from rsft.eval.scoring import DEFAULT_MAX_ERROR_RATE
from rsft.eval.store import Store
from rsft.generate.base import Backend

HUB_PREFIX = "hub:"
STEP_RECORD = "rsft_hub_step.json"
_STEP_DIR = re.compile(r"^step_?(\d+)$")
_TOKENIZER_FILES = re.compile(
    r"^(tokenizer.*|special_tokens_map\.json|chat_template\.jinja|vocab\..*|merges\.txt)$"
)


@dataclass(frozen=True)
class HubRun:
    repo: str
    revision: str | None  # None (or a glob): one revision per step (rsft.eval.hubrevs)

    @property
    def name(self) -> str:
        """The run name in the store: the repo's name (its checkpoints' rows group under it)."""
        return self.repo.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class HubStep:
    step: int
    folder: str
    size: int  # bytes of the folder's files


def parse_hub_run(spec: str | Path) -> HubRun:
    """``hub:ORG/NAME@REVISION`` (step folders at that revision), or ``hub:ORG/NAME`` / ``hub:ORG/NAME@GLOB``
    (one branch or tag per step: :mod:`rsft.eval.hubrevs`) -> :class:`HubRun`.

    Raises:
        RsftError: not of that form.
    """
    body = str(spec).removeprefix(HUB_PREFIX)
    repo, at, rev = body.partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")) or (at and not rev):
        raise RsftError(
            f"bad hub run '{spec}'",
            field="--run",
            fix="write hub:ORG/NAME@REVISION (stepN folders at a pinned commit or tag), or hub:ORG/NAME "
            "(one stepN branch or tag per checkpoint; hub:ORG/NAME@'GLOB' picks some)",
        )
    return HubRun(repo, rev or None)


def list_steps(run: HubRun) -> list[HubStep]:
    """The repo's ``stepN`` folders, sorted by step, with their sizes.

    Raises:
        OfflineError: the hub cannot be reached or refuses the repo. RsftError: the repo has no step folders.
    """
    try:
        api = _api()
        top = list(api.list_repo_tree(run.repo, revision=run.revision))
        steps = []
        for entry in top:
            m = _STEP_DIR.match(entry.path)
            if m is None or getattr(entry, "size", None) is not None:
                continue
            files = api.list_repo_tree(
                run.repo, revision=run.revision, path_in_repo=entry.path, recursive=True
            )
            steps.append(HubStep(int(m.group(1)), entry.path, sum(getattr(f, "size", 0) or 0 for f in files)))
    except Exception as e:  # noqa: BLE001 - huggingface_hub raises many types for "cannot list"
        raise OfflineError(
            f"cannot list hub repo {run.repo}@{run.revision}: {type(e).__name__}: {e}",
            file=f"hub:{run.repo}@{run.revision}",
            fix="check the repo id, revision, network access (HF_HUB_OFFLINE unset) and HF_TOKEN",
        ) from None
    if not steps:
        raise RsftError(
            f"hub repo {run.repo}@{run.revision} has no stepN folders",
            file=f"hub:{run.repo}@{run.revision}",
            fix="a released-checkpoint repo keeps one folder per checkpoint: step80/, step160/, ...",
        )
    return sorted(steps, key=lambda s: s.step)


def _download(run: HubRun, patterns: list[str], local: Path) -> None:
    assert run.revision is not None
    _download_at(run.repo, run.revision, patterns, local)


def _tokenizer_from_root(run: HubRun, root: Path, folder: Path) -> None:
    """Released step folders often hold only weights and config: take the repo root's tokenizer files."""
    if any(_TOKENIZER_FILES.match(f.name) for f in folder.iterdir()):
        return
    names = [
        e.path
        for e in _api().list_repo_tree(run.repo, revision=run.revision)
        if _TOKENIZER_FILES.match(e.path)
    ]
    if names:
        _download(run, names, root)
        for n in names:
            shutil.copy2(root / n, folder / n)


def sweep_hub_run(
    suite: SuiteConfig,
    spec: str,
    store: Store,
    *,
    steps: list[int] | None = None,
    cache_dir: Path,
    max_bytes: int | None = None,
    backend: Backend | None = None,
    progress: Progress | None = None,
    say: Say = quiet,
    max_error_rate: float | None = DEFAULT_MAX_ERROR_RATE,
) -> Any:
    """Evaluate every (or the listed) ``stepN`` checkpoint of a hub repo, one download at a time (failing at the
    end, as :func:`rsft.eval.runner.run_sweep` does, past ``max_error_rate`` unscorable rows). A spec without a
    revision, or with a glob, sweeps one branch or tag per step instead (:mod:`rsft.eval.hubrevs`).

    Returns:
        The summed :class:`rsft.eval.runner.SweepReport`, plus ``downloads`` (checkpoints fetched this time).
    """
    from rsft.eval.hubrevs import is_revision_sweep, sweep_hub_revisions
    from rsft.eval.runner import SweepReport, build_backend, check_errors, sweep_target

    run = parse_hub_run(spec)
    if is_revision_sweep(run.revision):
        return sweep_hub_revisions(
            suite, run.repo, run.revision, store, steps=steps, cache_dir=cache_dir, max_bytes=max_bytes,
            backend=backend, progress=progress, say=say, max_error_rate=max_error_rate,
        )  # fmt: skip
    assert run.revision is not None
    found = list_steps(run)
    if steps is not None:
        for s in sorted(set(steps) - {h.step for h in found}):
            say(f"no step {s} in hub:{run.repo}@{run.revision}")
        found = [h for h in found if h.step in steps]
    root = Path(cache_dir) / run.repo.replace("/", "--") / run.revision
    root.mkdir(parents=True, exist_ok=True)
    own = backend is None
    backend = backend or build_backend(suite.backend)
    loaded = load_benchmarks(suite)
    report = SweepReport()
    report.downloads = 0  # type: ignore[attr-defined]
    try:
        for hs in found:
            folder = root / hs.folder
            record = folder / STEP_RECORD
            target = Target(run=run.name, step=hs.step, model=str(folder), path=folder)
            if record.is_file():  # evaluated before: plan from the kept tokenizer, reuse the recorded hash
                target._hash = json.loads(record.read_text())["weights_hash"]
                backend.load(str(folder))
                have = store.keys()
                if all(p.key in have for p in expand(target, loaded, backend.render)):
                    report.add(sweep_target(target, loaded, store, backend, progress=progress))
                    continue
            _check_disk(root, hs.size, max_bytes)
            say(f"downloading {run.repo}@{run.revision}/{hs.folder} ({hs.size / 1e9:.2f} GB)")
            _download(run, [f"{hs.folder}/*"], root)
            report.downloads += 1  # type: ignore[attr-defined]
            _tokenizer_from_root(run, root, folder)
            target = Target(run=run.name, step=hs.step, model=str(folder), path=folder)
            digest = weights_hash(folder)
            try:
                report.add(sweep_target(target, loaded, store, backend, progress=progress))
            finally:
                rec = {"repo": run.repo, "revision": run.revision, "folder": hs.folder, "step": hs.step,
                       "weights_hash": digest}  # fmt: skip
                record.write_text(json.dumps(rec, indent=1) + "\n")
                _free_weights(folder)  # disk back before the next checkpoint, even after a failure
    finally:
        if own:
            backend.close()
    check_errors(report, max_error_rate)
    return report
