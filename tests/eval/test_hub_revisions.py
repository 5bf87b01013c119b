"""`rsft eval --run hub:ORG/NAME`: a hub repo with one revision (branch or tag) per step, as OLMo publishes, swept
from the local Hugging Face cache with HF_HUB_OFFLINE=1, and online from a local hub stand-in (a real HTTP server on
127.0.0.1 answering huggingface_hub's refs, tree and file requests; no network).

The cache is written in huggingface_hub's own layout (``models--ORG--NAME/{blobs,refs,snapshots}``: each ref file
names a commit, each snapshot links to content-addressed blobs) and read back through huggingface_hub's API before
rsft is pointed at it. Checked: step revisions are found and swept in step order, refs that name no step are
ignored, rows are keyed by the weights hash (the same checkpoints as a local run reuse every row), a snapshot cut
short is skipped and swept once whole, two series naming one step are one clear error that a glob resolves.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rsft._util.errors import RsftError
from rsft._util.hashing import weights_hash
from rsft.eval import Store, discover_checkpoints, load_suite, run_sweep
from rsft.eval.hubrevs import step_revisions
from rsft.eval.hubrun import parse_hub_run, sweep_hub_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _hub_standin import HubStandIn  # noqa: E402

REPO = "org/Toy-Revs"
_SKIP = ("COMPLETE", "meta.json")


def cache_revision(
    cache: Path, repo: str, ref: str, src: Path, *, skip: tuple[str, ...] = (), commit: str | None = None
) -> str:
    """Put ``src``'s files into the Hugging Face cache as revision ``ref`` of ``repo`` (huggingface_hub's layout:
    ``refs/REF`` holds the commit, ``snapshots/COMMIT/FILE`` links to ``blobs/SHA256``). Returns the commit."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    files = sorted(
        f for f in src.iterdir() if f.is_file() and f.name not in _SKIP + skip and not f.name.startswith(".")
    )
    commit = (
        commit
        or hashlib.sha1(
            "".join(hashlib.sha256(f.read_bytes()).hexdigest() for f in files).encode()
        ).hexdigest()
    )
    snap = folder / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    (folder / "blobs").mkdir(exist_ok=True)
    for f in files:
        data = f.read_bytes()
        blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snap / f.name
        if not link.is_symlink():
            link.symlink_to(os.path.relpath(blob, snap))
    (folder / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
    (folder / "refs" / ref).write_text(commit)
    return commit


@pytest.fixture
def hf_cache(tmp_path, run_dir, monkeypatch):
    """Steps 0 and 10 of the local run as branches step0 and step10 (main points at step10, no step in its name);
    step 20 (complete in this copy) as a branch whose snapshot lacks its weights (a download cut short)."""
    import huggingface_hub.constants as hub_constants

    ck = run_dir / "checkpoints"
    (ck / "step_000020" / "COMPLETE").write_text("")
    cache = tmp_path / "hf-cache"
    commits = {s: cache_revision(cache, REPO, f"step{s}", ck / f"step_{s:06d}") for s in (0, 10)}
    cache_revision(cache, REPO, "main", ck / "step_000010")
    cache_revision(cache, REPO, "step20", ck / "step_000020", skip=("model.safetensors",))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    return cache, commits, run_dir


def test_the_cache_is_in_huggingface_hubs_layout(hf_cache):
    """huggingface_hub itself resolves the refs written by the fixture (so rsft is tested on the real layout)."""
    from huggingface_hub import scan_cache_dir, snapshot_download, try_to_load_from_cache

    cache, commits, _ = hf_cache
    snap = Path(snapshot_download(REPO, revision="step10", local_files_only=True))
    assert snap.name == commits[10] and (snap / "config.json").is_file()
    assert try_to_load_from_cache(REPO, "config.json", revision="step0") == str(
        snap.parent / commits[0] / "config.json"
    )
    (repo,) = scan_cache_dir(cache).repos
    assert repo.repo_id == REPO and set(repo.refs) == {"step0", "step10", "step20", "main"}


def test_step_revisions_are_swept_in_step_order_keyed_by_weights_hash(hf_cache, tmp_path, suite_file):
    cache, commits, local_run = hf_cache
    suite = load_suite(suite_file)
    store = Store(tmp_path / "store")
    notes: list[str] = []
    rep = sweep_hub_run(suite, f"hub:{REPO}", store, cache_dir=tmp_path / "rsft-cache", say=notes.append)
    assert rep.targets == ["Toy-Revs@0", "Toy-Revs@10"]  # step order; main (no step) ignored
    assert rep.downloads == 0 and rep.planned == rep.generated == 2 * 24 and rep.errors == 0
    assert [n for n in notes if "step20" in n and "not a whole model" in n]  # cut short: skipped, one note
    assert {s: r["commit"] for s, r in rep.revisions.items()} == commits
    frame = store.frame()
    hashes = {s: weights_hash(local_run / "checkpoints" / f"step_{s:06d}") for s in (0, 10)}
    assert {int(s): h for s, h in zip(frame["step"], frame["weights_hash"], strict=True)} == hashes
    assert set(frame["run"]) == {"Toy-Revs"}

    # the same checkpoints as a local run reuse every row (keys are weights hashes)
    targets, _ = discover_checkpoints(local_run)
    local = run_sweep(suite, store, targets=[t for t in targets if t.step in (0, 10)])
    assert local.generated == 0 and local.reused == 48

    # the cut-short revision finished downloading: the next sweep picks it up and generates only its rows
    cache_revision(cache, REPO, "step20", local_run / "checkpoints" / "step_000020")
    again = sweep_hub_run(suite, f"hub:{REPO}", store, cache_dir=tmp_path / "rsft-cache")
    assert again.targets == ["Toy-Revs@0", "Toy-Revs@10", "Toy-Revs@20"]
    assert again.generated == 24 and again.reused == 48


def test_two_series_naming_one_step_need_a_glob(hf_cache, tmp_path, suite_file):
    cache, _, local_run = hf_cache
    cache_revision(cache, REPO, "anneal-step10", local_run / "checkpoints" / "step_000000")  # another commit
    suite = load_suite(suite_file)
    with pytest.raises(
        RsftError, match=r"step 10 is named by revisions at different commits \(anneal-step10, step10\)"
    ):
        sweep_hub_run(suite, f"hub:{REPO}", Store(tmp_path / "s"), cache_dir=tmp_path / "c")
    rep = sweep_hub_run(
        suite, f"hub:{REPO}@step*", Store(tmp_path / "s"), cache_dir=tmp_path / "c", steps=[10]
    )
    assert rep.targets == ["Toy-Revs@10"] and rep.generated == 24
    with pytest.raises(RsftError, match="no branch or tag matching 'nothing-\\*'"):
        sweep_hub_run(suite, f"hub:{REPO}@nothing-*", Store(tmp_path / "s2"), cache_dir=tmp_path / "c")


def test_ref_names_to_steps():
    refs = {
        "step0": "a",
        "stage1-step1000-tokens4B": "b",
        "main": "c",
        "v1.0": "d",
        "step_20": "e",
        "mystep5": "f",
    }
    assert [(r.step, r.ref) for r in step_revisions(refs)] == [
        (0, "step0"),
        (20, "step_20"),
        (1000, "stage1-step1000-tokens4B"),
    ]
    assert [r.ref for r in step_revisions(refs, "stage1-*")] == ["stage1-step1000-tokens4B"]
    assert parse_hub_run("hub:org/x").revision is None and parse_hub_run("hub:org/x@main").revision == "main"
    for bad in ("hub:org", "hub:org/x@", "hub:/x"):
        with pytest.raises(RsftError, match="hub:ORG/NAME"):
            parse_hub_run(bad)


def test_cli_sweeps_step_revisions_offline(hf_cache, tmp_path, suite_file):
    env = {**os.environ, "RSFT_CACHE": str(tmp_path / "cli-cache")}
    cmd = [sys.executable, "-m", "rsft.cli.main", "eval", "run", "--run", f"hub:{REPO}", "--steps", "10",
           "--suite", str(suite_file), "--store", str(tmp_path / "cli-store"), "--no-progress"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    out = " ".join(r.stderr.split())
    assert "1 checkpoint(s) (0 downloaded)" in out and "24 generated" in out
    shutil.rmtree(hf_cache[0] / f"models--{REPO.replace('/', '--')}")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "no branch or tag named stepN" in r.stderr


def test_online_refs_are_listed_and_downloaded_one_at_a_time(hf_cache, tmp_path, suite_file, monkeypatch):
    """Online: the refs come from the hub (list_repo_refs); a revision whose commit is a whole snapshot in the local
    cache is read there, the others are downloaded at their commit, swept, and their weights deleted."""
    import huggingface_hub.constants as hub_constants

    from rsft._util.hashing import WEIGHT_SUFFIXES

    _, _, local_run = hf_cache
    served = {}
    for s in (0, 10):
        served[f"step{s}"] = tmp_path / "served" / f"step{s}"
        shutil.copytree(local_run / "checkpoints" / f"step_{s:06d}", served[f"step{s}"],
                        ignore=shutil.ignore_patterns(*_SKIP, ".*"))  # fmt: skip
    served["main"] = served["step10"]
    empty = tmp_path / "hf-cache-online"
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(empty))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    cache_revision(empty, REPO, "step0", served["step0"], commit=HubStandIn.commit_of("step0"))
    suite, store, rsft_cache = load_suite(suite_file), Store(tmp_path / "store"), tmp_path / "rsft-cache"
    with HubStandIn(tmp_path / "hub", revisions={REPO: served}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        rep = sweep_hub_run(suite, f"hub:{REPO}", store, cache_dir=rsft_cache)
        assert rep.targets == ["Toy-Revs@0", "Toy-Revs@10"] and rep.downloads == 1 and rep.generated == 48
        assert rep.revisions[10]["commit"] == HubStandIn.commit_of("step10")
        weights = [r for r in server.downloads() if r.endswith(".safetensors")]
        assert len(weights) == 1 and HubStandIn.commit_of("step10") in weights[0]
        assert not [p for p in rsft_cache.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES]
        again = sweep_hub_run(suite, f"hub:{REPO}", store, cache_dir=rsft_cache)
        assert again.downloads == 0 and again.generated == 0 and again.reused == 48
    frame = store.frame()
    hashes = {s: weights_hash(local_run / "checkpoints" / f"step_{s:06d}") for s in (0, 10)}
    assert {int(s): h for s, h in zip(frame["step"], frame["weights_hash"], strict=True)} == hashes
