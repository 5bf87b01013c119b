"""Sweep a hub repo that keeps one *revision* per checkpoint: branches or tags named for the step (``step1000``,
``stage1-step1000-tokens4B``, as OLMo publishes), each holding a whole Hugging Face model at the repo root.

``hub:ORG/NAME`` (no revision) sweeps every branch and tag whose name carries ``stepN``; ``hub:ORG/NAME@GLOB``
(a revision with ``*``) only those whose name matches the glob, e.g. ``@stage1-*`` to pick one series of a repo
that publishes several. Steps are swept in step order; a step named by two refs at different commits is an error
(pick a series with a glob). Each ref is resolved to its commit, recorded with the weights hash (the store key).

Where the refs come from:

* online: ``HfApi.list_repo_refs`` (branches and tags). A revision whose commit is already a whole snapshot in
  the local Hugging Face cache is read there, in place; otherwise it is downloaded at that commit into a folder
  that holds one checkpoint's weights at a time (as :mod:`rsft.eval.hubrun` does for step folders) and its
  weights are deleted after it is evaluated.
* offline (``HF_HUB_OFFLINE=1``): the local Hugging Face cache, through ``huggingface_hub.scan_cache_dir``: the
  repo's ``refs/<ref>`` files name the commits, ``snapshots/<commit>/`` hold the files. Nothing is downloaded or
  deleted; a ref whose snapshot is not a whole model (a download cut short) is skipped with a note.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsft._util.errors import OfflineError, RsftError
from rsft._util.hashing import WEIGHT_SUFFIXES, weights_hash
from rsft._util.progress import Progress, Say, quiet
from rsft.eval.config import SuiteConfig
from rsft.eval.plan import Target, expand, load_benchmarks
from rsft.eval.scoring import DEFAULT_MAX_ERROR_RATE
from rsft.eval.store import Store
from rsft.generate.base import Backend

STEP_REF = re.compile(r"(?:^|[-_/.])step[-_]?(\d+)(?=$|[-_/.])")
REVISION_RECORD = "rsft_hub_revision.json"


@dataclass(frozen=True)
class StepRevision:
    step: int
    ref: str  # the branch or tag name
    commit: str  # what the ref pointed at when listed


def _api() -> Any:
    import os

    from huggingface_hub import HfApi

    return HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None)


def _free_weights(folder: Path) -> None:
    for f in folder.iterdir():
        if f.is_file() and f.suffix in WEIGHT_SUFFIXES:
            f.unlink()


def _check_disk(cache: Path, need: int, max_bytes: int | None) -> None:
    if max_bytes is not None and need > max_bytes:
        raise RsftError(
            f"a checkpoint needs {need / 1e9:.2f} GB, more than the cache bound {max_bytes / 1e9:.2f} GB",
            field="--hub-cache-gb",
            fix="raise --hub-cache-gb (one checkpoint is held at a time)",
        )
    free = shutil.disk_usage(cache).free
    if need > free:
        raise RsftError(
            f"not enough disk for the next checkpoint ({need / 1e9:.2f} GB needed, {free / 1e9:.2f} GB free)",
            file=str(cache),
            fix="free disk or point --hub-cache at a larger disk",
        )


def _download(repo: str, revision: str, patterns: list[str], local: Path) -> None:
    import os

    from huggingface_hub import snapshot_download

    try:
        snapshot_download(
            repo, revision=revision, allow_patterns=patterns, local_dir=local,
            endpoint=os.environ.get("HF_ENDPOINT") or None,
        )  # fmt: skip
    except Exception as e:  # noqa: BLE001
        raise OfflineError(
            f"cannot download {patterns} from {repo}@{revision}: {type(e).__name__}: {e}",
            file=f"hub:{repo}@{revision}",
            fix="check network access and disk space; rerun the same command to resume",
        ) from None


def is_revision_sweep(revision: str | None) -> bool:
    """``hub:ORG/NAME`` and ``hub:ORG/NAME@GLOB`` sweep step revisions; ``@REVISION`` sweeps step folders."""
    return revision is None or "*" in revision or "?" in revision


def step_revisions(refs: dict[str, str], pattern: str | None = None) -> list[StepRevision]:
    """The refs (name -> commit) that name a step, sorted by step; ``pattern`` (a glob) keeps matching names.

    Raises:
        RsftError: two refs name one step at different commits.
    """
    by_step: dict[int, list[tuple[str, str]]] = {}
    for name, commit in refs.items():
        if pattern is not None and not fnmatch.fnmatchcase(name, pattern):
            continue
        m = STEP_REF.search(name)
        if m is not None:
            by_step.setdefault(int(m.group(1)), []).append((name, commit))
    out = []
    for step, named in sorted(by_step.items()):
        if len({c for _, c in named}) > 1:
            names = ", ".join(sorted(n for n, _ in named))
            raise RsftError(
                f"step {step} is named by revisions at different commits ({names})",
                field="--run",
                fix="pick one series with a glob over branch and tag names, e.g. hub:ORG/NAME@'stage1-*'",
            )
        name, commit = sorted(named)[0]
        out.append(StepRevision(step, name, commit))
    return out


def cached_repo(repo: str) -> tuple[dict[str, str], dict[str, Path]]:
    """(ref -> commit, commit -> snapshot folder) of ``repo`` in the local Hugging Face cache (empty if absent)."""
    from huggingface_hub import constants, scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(constants.HF_HUB_CACHE)
    except CacheNotFound:
        return {}, {}
    for r in info.repos:
        if r.repo_id == repo and r.repo_type == "model":
            refs = {name: rev.commit_hash for name, rev in r.refs.items()}
            return refs, {rev.commit_hash: Path(rev.snapshot_path) for rev in r.revisions}
    return {}, {}


def remote_refs(repo: str) -> dict[str, str]:
    """Branch and tag name -> commit of a hub repo (``HfApi.list_repo_refs``).

    Raises:
        OfflineError: the hub cannot be reached or refuses the repo.
    """
    try:
        got = _api().list_repo_refs(repo)
    except Exception as e:  # noqa: BLE001 - huggingface_hub raises many types for "cannot list"
        raise OfflineError(
            f"cannot list the branches and tags of hub repo {repo}: {type(e).__name__}: {e}",
            file=f"hub:{repo}",
            fix="check the repo id, network access and HF_TOKEN; or set HF_HUB_OFFLINE=1 to sweep the revisions "
            "already in the local Hugging Face cache",
        ) from None
    return {r.name: r.target_commit for r in [*got.tags, *got.branches]}


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _whole_snapshot(folder: Path | None) -> bool:
    from rsft.eval.layouts import _whole, has_tokenizer

    return folder is not None and folder.is_dir() and _whole(folder) is None and has_tokenizer(folder)


def _repo_size(repo: str, commit: str) -> int:
    try:
        files = _api().list_repo_tree(repo, revision=commit, recursive=True)
        return sum(getattr(f, "size", 0) or 0 for f in files)
    except Exception as e:  # noqa: BLE001
        raise OfflineError(
            f"cannot list hub repo {repo}@{commit}: {type(e).__name__}: {e}", file=f"hub:{repo}@{commit}",
            fix="check network access; rerun the same command to resume",
        ) from None  # fmt: skip


def sweep_hub_revisions(
    suite: SuiteConfig,
    repo: str,
    pattern: str | None,
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
    """Evaluate every (or the listed) step revision of ``repo`` in step order (see the module docstring).

    Returns:
        The summed :class:`rsft.eval.runner.SweepReport`, plus ``downloads`` (revisions fetched this time) and
        ``revisions`` (step -> {ref, commit, folder, weights_hash}).

    Raises:
        RsftError: no ref names a step (or none matches the glob). OfflineError: the refs cannot be listed.
    """
    from rsft.eval.runner import SweepReport, build_backend, check_errors, sweep_target

    offline = _offline()
    cached, snapshots = cached_repo(repo)
    refs = cached if offline else remote_refs(repo)
    where = "the local Hugging Face cache" if offline else "the hub"
    found = step_revisions(refs, pattern)
    if not found:
        which = f"matching '{pattern}'" if pattern else "named stepN"
        raise RsftError(
            f"hub repo {repo} has no branch or tag {which} in {where}",
            file=f"hub:{repo}",
            fix="a repo with stepN folders is swept with hub:ORG/NAME@REVISION; offline, download the step "
            "revisions first (huggingface-cli download ORG/NAME --revision step1000)",
        )
    if steps is not None:
        for s in sorted(set(steps) - {r.step for r in found}):
            say(f"no step {s} among the revisions of hub:{repo}")
        found = [r for r in found if r.step in steps]
    name = repo.rsplit("/", 1)[-1]  # the run name in the store, as for step folders
    root = Path(cache_dir) / repo.replace("/", "--") / "revisions"
    own = backend is None
    backend = backend or build_backend(suite.backend)
    loaded = load_benchmarks(suite)
    report = SweepReport()
    report.downloads = 0  # type: ignore[attr-defined]
    report.revisions = {}  # type: ignore[attr-defined]
    try:
        for rev in found:
            snap = snapshots.get(rev.commit)
            if _whole_snapshot(snap):  # already on this machine: read in place, never deleted
                assert snap is not None
                target = Target(run=name, step=rev.step, model=str(snap), path=snap)
                report.add(sweep_target(target, loaded, store, backend, progress=progress))
                report.revisions[rev.step] = {"ref": rev.ref, "commit": rev.commit, "folder": str(snap),  # type: ignore[attr-defined]
                                              "weights_hash": target.weights_hash}  # fmt: skip
                continue
            if offline:
                say(
                    f"{rev.ref} ({rev.commit[:12]}) is not a whole model in the local Hugging Face cache: skipped"
                )
                continue
            folder = root / rev.commit
            record = folder / REVISION_RECORD
            if record.is_file():  # evaluated before: plan from the kept tokenizer, reuse the recorded hash
                target = Target(run=name, step=rev.step, model=str(folder), path=folder)
                target._hash = json.loads(record.read_text())["weights_hash"]
                backend.load(str(folder))
                if all(p.key in store.keys() for p in expand(target, loaded, backend.render)):
                    report.add(sweep_target(target, loaded, store, backend, progress=progress))
                    report.revisions[rev.step] = {"ref": rev.ref, "commit": rev.commit, "folder": str(folder),  # type: ignore[attr-defined]
                                                  "weights_hash": target._hash}  # fmt: skip
                    continue
            folder.mkdir(parents=True, exist_ok=True)
            size = _repo_size(repo, rev.commit)
            _check_disk(folder, size, max_bytes)
            say(f"downloading {repo}@{rev.ref} ({rev.commit[:12]}, {size / 1e9:.2f} GB)")
            _download(repo, rev.commit, ["*"], folder)
            report.downloads += 1  # type: ignore[attr-defined]
            target = Target(run=name, step=rev.step, model=str(folder), path=folder)
            digest = weights_hash(folder)
            try:
                report.add(sweep_target(target, loaded, store, backend, progress=progress))
            finally:
                rec = {
                    "repo": repo,
                    "ref": rev.ref,
                    "commit": rev.commit,
                    "step": rev.step,
                    "weights_hash": digest,
                }
                record.write_text(json.dumps(rec, indent=1) + "\n")
                _free_weights(folder)  # disk back before the next checkpoint, even after a failure
            report.revisions[rev.step] = {"ref": rev.ref, "commit": rev.commit, "folder": str(folder),  # type: ignore[attr-defined]
                                          "weights_hash": digest}  # fmt: skip
    finally:
        if own:
            backend.close()
    check_errors(report, max_error_rate)
    return report
