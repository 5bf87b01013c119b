"""Which checkpoints a training run has, whichever trainer wrote them: layouts detected without configuration.

A run folder is recognised by what its producer writes; each layout has its own completeness rule, so a
checkpoint that is still being written is listed as half-written (and retried by ``rsft eval --watch``), never read:

============  ===========================================  ==============================================================
layout        what the producer writes                     complete when
============  ===========================================  ==============================================================
rsft          ``checkpoints/step_N/`` (``rsft train``)      ``COMPLETE`` is written (last) and the weights are there
hf_trainer    ``checkpoint-N/`` (Hugging Face ``Trainer``:  ``trainer_state.json`` (the Trainer writes it last) parses and
              TRL ``SFTTrainer``, LLaMA-Factory, axolotl,   names the step, and the weights are whole: every safetensors
              Unsloth); full weights, sharded weights with  file's header and bytes, every shard the index names; or an
              ``model.safetensors.index.json``, or a PEFT   adapter (``adapter_config.json`` + ``adapter_model.*``)
              adapter
verl          ``global_step_N/[actor/]huggingface/``        ``latest_checkpointed_iteration.txt`` has reached N and
                                                           ``huggingface/`` holds whole weights (FSDP shards only: an
                                                           error naming ``python -m verl.model_merger merge``)
torchtune     ``epoch_N/`` (step N + 1)                     the index names only whole shards; config and tokenizer there
openrlhf      ``global_stepN_hf/`` (``--save_hf_ckpt``)     whole weights and the tokenizer (written last)
manifest      ``rsft_run.yaml``: base, then step -> folder  each folder is a whole Hugging Face folder or adapter
============  ===========================================  ==============================================================

The base model (step 0) is what the run names: the manifest's ``base:``, an adapter's ``base_model_name_or_path``,
``config.json``'s ``_name_or_path``, or the ``base_model:`` of the model card (``README.md``) the trainer wrote, in
that order, or ``base=`` given by the caller (``rsft eval --base``). rsft's own layout holds its base as step 0.

A checkpoint without tokenizer files (some trainers save them once, in the run folder) is evaluated through a
*view*: a folder of links to its own files plus the run folder's tokenizer, under ``$RSFT_CACHE/views``. Links keep
the weight file names, so the weights hash (the store key) is the same as for the producer's folder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsft._util.errors import DataError, RsftError
from rsft._util.hashing import hash_text, weight_files
from rsft._util.model_folder import ADAPTER_BASE_FILE, ADAPTER_CONFIG, TOKENIZER_FILES, check_model_folder

MANIFEST = "rsft_run.yaml"
DONE_MARKER = "DONE"
_HF_CKPT = re.compile(r"^checkpoint-(\d+)$")
_VERL_STEP = re.compile(r"^global_step_(\d+)$")  # verl: trainer.default_local_dir/global_step_N
_VERL_TRACKER = "latest_checkpointed_iteration.txt"  # verl writes it (atomically) after a checkpoint is saved
_VERL_SHARD = re.compile(r"^model_world_size_(\d+)_rank_(\d+)\.pt$")
_TORCHTUNE_EPOCH = re.compile(r"^epoch_(\d+)$")  # torchtune: output_dir/epoch_N (FullModelHFCheckpointer)
_OPENRLHF_HF = re.compile(r"^global_step(\d+)_hf$")  # OpenRLHF --save_hf_ckpt: ckpt_path/global_stepN_hf
_TOKENIZER_EXTRA = re.compile(
    r"^(tokenizer.*|special_tokens_map\.json|chat_template\.jinja|vocab\..*|merges\.txt|added_tokens\.json)$"
)
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


@dataclass(frozen=True)
class Checkpoint:
    """One complete checkpoint of a run.

    Attributes:
        step: the optimizer step (0 = the base model).
        folder: what a backend loads: the producer's folder, or a view of it with the run's tokenizer.
        source: the producer's own folder (or the base model's id).
        layout: the layout it was found under (``rsft``, ``hf_trainer``, ``manifest``, ``base``).
        adapter_base: for a PEFT adapter, the base model it applies to (a folder or hub id).
        files: the weight files read (names, relative to ``source``).
    """

    step: int
    folder: Path | str
    source: Path | str
    layout: str
    adapter_base: str | None = None
    files: tuple[str, ...] = ()


@dataclass
class RunListing:
    """What :func:`scan_run` found in a run folder."""

    layout: str
    complete: list[Checkpoint] = field(default_factory=list)
    partial: list[tuple[Path, str]] = field(default_factory=list)  # (folder, what it still lacks)
    done: bool = False  # the run says it finished (no further checkpoint will appear)
    base: str | None = None  # the base model (step 0) when one is named
    base_from: str | None = None  # where the base's name was read
    notes: list[str] = field(default_factory=list)

    def add(
        self, step: int, d: Path, run_dir: Path, *, tokenizer: bool = False, why: str | None = None
    ) -> bool:
        """``d`` as step ``step``: complete when it is whole (and, with ``tokenizer``, holds a tokenizer or is an
        adapter), else partial with what it lacks (``why`` when the caller already knows). True when complete."""
        why = why or _whole(d)
        if why is None and tokenizer and not (has_tokenizer(d) or is_adapter(d)):
            why = "no tokenizer files yet"
        if why is not None:
            self.partial.append((d, why))
            return False
        self.complete.append(_checkpoint(step, d, run_dir, self.layout))
        return True


# ----------------------------------------------------------------------------------------------------- helpers


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def has_tokenizer(folder: Path) -> bool:
    return any((folder / f).is_file() for f in TOKENIZER_FILES)


def is_adapter(folder: Path) -> bool:
    return (folder / ADAPTER_CONFIG).is_file()


def _whole(folder: Path) -> str | None:
    """None when ``folder`` holds a whole model or adapter, else what is missing or damaged."""
    if is_adapter(folder):
        cfg = _read_json(folder / ADAPTER_CONFIG)
        if not isinstance(cfg, dict):
            return f"{ADAPTER_CONFIG} does not parse yet"
        present = [w for w in ADAPTER_WEIGHTS if (folder / w).is_file()]
        if not present:
            return "no adapter_model.safetensors yet"
        if present[0].endswith(".safetensors"):
            try:
                check_model_folder_weights(folder / present[0])
            except RsftError as e:
                return e.message
        return None
    try:
        check_model_folder(folder, tokenizer=False)
    except RsftError as e:
        return e.message
    return None


def check_model_folder_weights(path: Path) -> None:
    """The header and bytes of one safetensors file are whole (the check :func:`check_model_folder` applies)."""
    from rsft._util.model_folder import _check_safetensors

    _check_safetensors(path, None)


def _adapter_base(folder: Path) -> str | None:
    cfg = _read_json(folder / ADAPTER_CONFIG)
    base = cfg.get("base_model_name_or_path") if isinstance(cfg, dict) else None
    return _resolve(str(base), folder.parent) if base else None


def _card_base(run_dir: Path) -> str | None:
    """``base_model:`` from the YAML front matter of the model card a trainer wrote (``README.md``)."""
    card = run_dir / "README.md"
    if not card.is_file():
        return None
    text = card.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    import yaml

    try:
        meta = yaml.safe_load(text.split("---", 2)[1])
    except (yaml.YAMLError, IndexError):
        return None
    base = meta.get("base_model") if isinstance(meta, dict) else None
    if isinstance(base, list):
        base = base[0] if base else None
    return str(base) if base else None


def _config_base(folder: Path) -> str | None:
    cfg = _read_json(folder / "config.json")
    name = cfg.get("_name_or_path") if isinstance(cfg, dict) else None
    if not name or Path(str(name)).resolve() == folder.resolve():
        return None
    return str(name)


def _resolve(ref: str, anchor: Path) -> str:
    """A path relative to ``anchor`` when it names a local folder there, else the reference as given (a hub id)."""
    p = Path(ref).expanduser()
    if not p.is_absolute() and (anchor / p).exists():
        return str((anchor / p).resolve())
    return str(p.resolve()) if p.exists() else ref


def view_root() -> Path:
    from rsft.bench.sources import cache_root

    return cache_root() / "views"


def tokenizer_view(folder: Path, tokenizer_from: Path | None, *, adapter_base: str | None = None) -> Path:
    """A folder of links: ``folder``'s files plus the tokenizer files of ``tokenizer_from`` (see the module doc);
    for an adapter, also ``rsft_adapter.json`` naming the base it is evaluated on.

    Rebuilt on every call (cheap: links), so a view never outlives a change of the files it points at.
    """
    view = view_root() / hash_text(str(folder.resolve())) / folder.name
    view.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, Path] = {f.name: f.resolve() for f in folder.iterdir() if f.is_file()}
    if tokenizer_from is not None and not has_tokenizer(folder):
        for f in tokenizer_from.iterdir():
            if f.is_file() and _TOKENIZER_EXTRA.match(f.name) and f.name not in wanted:
                wanted[f.name] = f.resolve()
    wanted.pop(ADAPTER_BASE_FILE, None)
    for old in view.iterdir():
        if old.is_symlink() and (old.name not in wanted or old.resolve() != wanted[old.name]):
            old.unlink()
    for name, target in wanted.items():
        link = view / name
        if not link.is_symlink() and not link.exists():
            link.symlink_to(target)
    if adapter_base is not None:
        record = view / ADAPTER_BASE_FILE
        text = json.dumps({"base": adapter_base, "adapter": str(folder.resolve())}) + "\n"
        if not record.is_file() or record.read_text() != text:
            record.write_text(text)
    return view


def _vocab_signature(folder: Path) -> str | None:
    """Hash of the token -> id map of ``tokenizer.json`` (None without one)."""
    tok = _read_json(folder / "tokenizer.json")
    if not isinstance(tok, dict):
        return None
    vocab = (tok.get("model") or {}).get("vocab")
    added = sorted((t.get("content"), t.get("id")) for t in tok.get("added_tokens") or [] if isinstance(t, dict))
    return hash_text(json.dumps([vocab, added], sort_keys=True, default=str))


def check_same_tokenizer(checkpoint: Path, base: Path) -> None:
    """Raise unless a checkpoint's tokenizer maps tokens to the same ids as its base's (a sweep compares them).

    Raises:
        DataError: both have ``tokenizer.json`` and their vocabularies differ.
    """
    a, b = _vocab_signature(checkpoint), _vocab_signature(base)
    if a is not None and b is not None and a != b:
        raise DataError(
            "the checkpoint's tokenizer disagrees with the base model's (another vocabulary or token ids)",
            file=str(checkpoint / "tokenizer.json"),
            fix=f"name the base this run was trained from (rsft eval --base, or base: in {MANIFEST}); "
            f"the base given was {base}",
        )


# ----------------------------------------------------------------------------------------------------- layouts


def _scan_rsft(run_dir: Path) -> RunListing:
    from rsft.train.checkpoints import scan_checkpoints

    done = (run_dir / DONE_MARKER).exists()  # read before listing: no checkpoint can follow it
    found, partial = scan_checkpoints(run_dir)
    out = RunListing("rsft", partial=[(p, "no COMPLETE marker") for p in partial], done=done)
    for step, d in found:
        if not weight_files(d):
            out.partial.append((d, "no weight files"))  # removed weights: skipped, retried in watch mode
            continue
        meta = _read_json(d / "meta.json")
        if isinstance(meta, dict):
            try:
                step = int(meta.get("step", step))
            except (ValueError, TypeError):
                pass
        out.complete.append(Checkpoint(step, d, d, "rsft", files=tuple(f.name for f in weight_files(d))))
    return out


def _hf_step(folder: Path) -> tuple[int | None, dict[str, Any] | None, str | None]:
    """(step, trainer state, why incomplete) of a ``checkpoint-N`` folder."""
    state = _read_json(folder / "trainer_state.json")
    if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
        return None, None, "no readable trainer_state.json yet (the Trainer writes it last)"
    return int(state["global_step"]), state, None


def _scan_hf_trainer(run_dir: Path) -> RunListing:
    out = RunListing("hf_trainer", done=(run_dir / DONE_MARKER).exists())  # read before listing
    for d in sorted(run_dir.iterdir()):
        m = _HF_CKPT.match(d.name)
        if not (m and d.is_dir()):
            continue
        step, state, why = _hf_step(d)
        if out.add(step or 0, d, run_dir, why=why):
            assert step is not None and state is not None
            if state.get("max_steps") and step >= int(state["max_steps"]):
                out.done = True
    return out


def _checkpoint(step: int, d: Path, run_dir: Path, layout: str) -> Checkpoint:
    folder: Path = d
    if not has_tokenizer(d) and has_tokenizer(run_dir) and not is_adapter(d):
        folder = tokenizer_view(d, run_dir)
    if is_adapter(d):  # its view (tokenizer, base) is made once the base is known: _name_base
        files = tuple(w for w in ADAPTER_WEIGHTS if (d / w).is_file())
        return Checkpoint(step, folder, d, layout, adapter_base=_adapter_base(d), files=files)
    return Checkpoint(step, folder, d, layout, files=tuple(f.name for f in weight_files(d)))


def _verl_tracker(run_dir: Path) -> int | None:
    try:
        return int((run_dir / _VERL_TRACKER).read_text().strip())
    except (OSError, ValueError):
        return None


def _scan_verl(run_dir: Path) -> RunListing:
    """verl (``verl/trainer/fsdp_sft_trainer.py``, ``verl/utils/checkpoint/fsdp_checkpoint_manager.py``):
    ``global_step_N/`` (the SFT trainer) or ``global_step_N/actor/`` (PPO) holds per-rank FSDP shards
    ``model_world_size_W_rank_R.pt`` and ``huggingface/`` (config and tokenizer, plus the full weights when
    ``checkpoint.save_contents`` includes ``hf_model``). A step is complete once ``latest_checkpointed_iteration.txt``
    (written last, by rename) has reached it and ``huggingface/`` holds whole weights.

    Raises:
        RsftError: a complete step has only FSDP shards: the one line names verl's model merger command.
    """
    out = RunListing("verl", done=(run_dir / DONE_MARKER).exists())
    latest = _verl_tracker(run_dir)
    for d in sorted(run_dir.iterdir(), key=lambda p: p.name):
        m = _VERL_STEP.match(d.name)
        if not (m and d.is_dir()):
            continue
        step = int(m.group(1))
        model_dir = d / "actor" if (d / "actor").is_dir() else d
        hf = model_dir / "huggingface"
        if latest is None or step > latest:
            out.partial.append((d, f"not yet in {_VERL_TRACKER} (verl writes it after the checkpoint)"))
            continue
        if not (hf.is_dir() and weight_files(hf)):
            if any(_VERL_SHARD.match(f.name) for f in model_dir.iterdir()):
                raise RsftError(
                    "verl saved this checkpoint as FSDP shards only (no Hugging Face weights in huggingface/)",
                    file=str(model_dir),
                    fix=f"merge them with verl's model merger: python -m verl.model_merger merge --backend fsdp "
                    f"--local_dir {model_dir} --target_dir {hf} (or train with "
                    "trainer.checkpoint.save_contents=[model,optimizer,extra,hf_model])",
                )
            out.partial.append((d, "no weights in huggingface/ yet"))
            continue
        why = _whole(hf)
        if why is not None:
            out.partial.append((d, why))  # named by its global_step folder, as verl's other partial lines
            continue
        out.add(step, hf, hf)
    return out


def _scan_torchtune(run_dir: Path) -> RunListing:
    """torchtune (``torchtune/training/checkpointing/_checkpointer.py``, ``FullModelHFCheckpointer``):
    ``epoch_N/`` gets the weight shards, then ``model.safetensors.index.json``, then (adapters,) then a copy of
    the input checkpoint's other files (config, tokenizer) last. Complete when the index names only whole shards
    and the config and tokenizer are there. The step is the number of epochs completed (``epoch_0`` -> 1)."""
    out = RunListing("torchtune", done=(run_dir / DONE_MARKER).exists())
    for d in sorted(run_dir.iterdir(), key=lambda p: p.name):
        m = _TORCHTUNE_EPOCH.match(d.name)
        if not (m and d.is_dir()):
            continue
        if not is_adapter(d) and not (d / "model.safetensors.index.json").is_file():
            out.partial.append((d, "no model.safetensors.index.json yet (torchtune writes it after the shards)"))
            continue
        out.add(int(m.group(1)) + 1, d, run_dir, tokenizer=True)
    return out


def _scan_openrlhf(run_dir: Path) -> RunListing:
    """OpenRLHF with ``--save_hf_ckpt`` (``openrlhf/trainer/sft_trainer.py``, ``save_logs_and_checkpoints``):
    ``ckpt_path/global_stepN_hf/`` through ``strategy.save_model`` (weights and config, then the tokenizer).
    Complete when the weights are whole and the tokenizer is there. Its DeepSpeed ``global_stepN/`` folders
    beside them are resume state, not read."""
    out = RunListing("openrlhf", done=(run_dir / DONE_MARKER).exists())
    for d in sorted(run_dir.iterdir(), key=lambda p: p.name):
        m = _OPENRLHF_HF.match(d.name)
        if not (m and d.is_dir()):
            continue
        out.add(int(m.group(1)), d, run_dir, tokenizer=True)
    return out


def read_manifest(path: Path) -> dict[str, Any]:
    """``rsft_run.yaml``: ``base:`` (a folder relative to the file, or a hub id) and ``checkpoints:`` (step ->
    folder), both optional.

    Raises:
        RsftError: not a mapping, an unknown key, a step that is not an integer, a folder that is not a string.
    """
    from rsft.config import read_yaml

    raw = read_yaml(path)
    unknown = sorted(set(raw) - {"base", "checkpoints", "done"})
    if unknown:
        raise RsftError(
            f"unknown key '{unknown[0]}' in a run manifest", file=str(path), field=unknown[0],
            fix="a run manifest has base: (the model at step 0) and checkpoints: (step -> folder)",
        )  # fmt: skip
    cks = raw.get("checkpoints") or {}
    if not isinstance(cks, dict):
        raise RsftError("checkpoints: must map step -> folder", file=str(path), field="checkpoints")
    steps: dict[int, str] = {}
    for k, v in cks.items():
        try:
            s = int(k)
        except (TypeError, ValueError):
            raise RsftError(
                f"step '{k}' is not an integer", file=str(path), field=f"checkpoints.{k}"
            ) from None
        if not isinstance(v, str):
            raise RsftError("a checkpoint is a folder path", file=str(path), field=f"checkpoints.{k}")
        steps[s] = v
    base = raw.get("base")
    if base is not None and not isinstance(base, str):
        raise RsftError("base: is a folder or a hub id", file=str(path), field="base")
    return {"base": base, "checkpoints": steps, "done": bool(raw.get("done", False))}


def _scan_manifest(path: Path) -> RunListing:
    man = read_manifest(path)
    root = path.parent
    out = RunListing("manifest", done=man["done"] or (root / DONE_MARKER).exists())
    for step, rel in sorted(man["checkpoints"].items()):
        d = Path(rel).expanduser()
        d = d if d.is_absolute() else root / d
        if not d.is_dir():
            out.partial.append((d, "folder not there yet"))
            continue
        out.add(step, d, root)
    return out


# --------------------------------------------------------------------------------------------------- detection


def detect(run_dir: Path) -> list[str]:
    """The layouts ``run_dir`` holds (more than one is an error for :func:`scan_run`)."""
    if run_dir.is_file():
        return ["manifest"]
    found = []
    if (run_dir / "checkpoints").is_dir() and any(
        p.name.startswith("step_") for p in (run_dir / "checkpoints").iterdir()
    ):
        found.append("rsft")
    names = [p.name for p in run_dir.iterdir() if p.is_dir()]
    for layout, pattern in (
        ("hf_trainer", _HF_CKPT), ("verl", _VERL_STEP), ("torchtune", _TORCHTUNE_EPOCH), ("openrlhf", _OPENRLHF_HF),
    ):  # fmt: skip
        if any(pattern.match(n) for n in names):
            found.append(layout)
    man = run_dir / MANIFEST
    if man.is_file() and read_manifest(man)["checkpoints"]:
        found.append("manifest")
    return found


_KNOWN = (
    "rsft (checkpoints/step_N/COMPLETE), Hugging Face Trainer (checkpoint-N/ with trainer_state.json: TRL, "
    "LLaMA-Factory, axolotl, Unsloth), verl (global_step_N/), torchtune (epoch_N/), OpenRLHF "
    f"(global_stepN_hf/), or a run manifest ({MANIFEST}: base, then step -> folder)"
)
_SCANNERS = {"hf_trainer": _scan_hf_trainer, "verl": _scan_verl, "torchtune": _scan_torchtune,
             "openrlhf": _scan_openrlhf}  # fmt: skip


def scan_run(run_dir: str | Path, *, base: str | None = None, empty_ok: bool = False) -> RunListing:
    """The complete checkpoints of a run (sorted by step, the base first as step 0 when one is named), the
    half-written ones, and whether the run says it is done.

    Args:
        run_dir: the run folder, or a run manifest file.
        base: the base model (folder or hub id) evaluated as step 0; overrides what the run names.
        empty_ok: a missing folder, or one with no checkpoint yet, is an empty listing (watching a run that has
            not saved yet) instead of an error.

    Raises:
        RsftError: the folder does not exist, holds no known layout, or holds more than one.
    """
    run_dir = Path(run_dir)
    layouts = detect(run_dir) if run_dir.exists() else []
    if not layouts and empty_ok:
        return RunListing("none", done=(run_dir / DONE_MARKER).exists())
    if not run_dir.exists():
        raise RsftError(
            "no complete checkpoint: the run folder does not exist", file=str(run_dir), fix="check the --run path"
        )
    if len(layouts) > 1:
        raise RsftError(
            f"the run folder mixes checkpoint layouts ({', '.join(layouts)}): which checkpoints are the run is "
            "ambiguous",
            file=str(run_dir),
            fix=f"move one trainer's checkpoints to their own folder, or list the run's checkpoints in a {MANIFEST}",
        )
    if not layouts:
        raise RsftError(
            "no complete checkpoint: no known checkpoint layout in the run folder",
            file=str(run_dir),
            fix=f"point --run at a run folder: {_KNOWN}",
        )
    layout = layouts[0]
    manifest_file = run_dir if run_dir.is_file() else run_dir / MANIFEST
    root = manifest_file.parent if run_dir.is_file() else run_dir
    if layout == "rsft":
        listing = _scan_rsft(run_dir)
    elif layout in _SCANNERS:
        listing = _SCANNERS[layout](run_dir)
    else:
        listing = _scan_manifest(manifest_file)
    if layout == "rsft":  # its base is its own step 0
        if base is not None:
            listing.notes.append(f"--base is ignored for {run_dir.name}: an rsft run holds its base as step 0")
        return listing
    _name_base(listing, root, manifest_file, base)
    return listing


def _name_base(listing: RunListing, root: Path, manifest_file: Path, base: str | None) -> None:
    """Find the run's base (see the module docstring), check it, and list it as step 0."""
    named: list[tuple[str | None, str]] = [(base, "--base")]
    if manifest_file.is_file():
        named.append((read_manifest(manifest_file)["base"], str(manifest_file)))
    cks = [c for c in listing.complete if isinstance(c.source, Path)]
    adapters = [c.adapter_base for c in cks if c.adapter_base]
    named.append((adapters[0] if adapters else None, "adapter_config.json base_model_name_or_path"))
    named.append((_config_base(cks[0].source) if cks else None, "config.json _name_or_path"))  # type: ignore[arg-type]
    named.append((_card_base(root), f"{root / 'README.md'} base_model"))
    ref, origin = next(((r, o) for r, o in named if r), (None, None))
    if ref is None:
        if any(c.adapter_base is None and is_adapter(Path(c.source)) for c in listing.complete):
            raise RsftError(
                "a LoRA adapter names no base model", file=str(root),
                fix=f"name the base: rsft eval --base MODEL, or base: MODEL in {root / MANIFEST}",
            )  # fmt: skip
        listing.notes.append(
            f"no base model named for {root.name}: step 0 is not evaluated (pass --base MODEL or write base: "
            f"in {root / MANIFEST})"
        )
        return
    anchor = manifest_file.parent if origin == str(manifest_file) else root
    ref = _resolve(ref, anchor)
    explicit = origin in ("--base", str(manifest_file))
    local = Path(ref) if Path(ref).is_dir() else _hub_snapshot(ref)
    if local is None:  # a base the user named, or adapters need, must be there; one read from a file may not be
        if explicit or adapters:
            what = "LoRA adapters' base model" if adapters else "base model"
            raise RsftError(
                f"the {what} is not there (named by {origin})", file=ref,
                fix="put the base model at that path, or name it with rsft eval --base MODEL "
                f"or base: MODEL in {root / MANIFEST}",
            )  # fmt: skip
        listing.notes.append(
            f"base {ref} (named by {origin}) is neither a folder here nor in the local hub cache: step 0 is not "
            f"evaluated (pass --base MODEL or write base: in {root / MANIFEST})"
        )
        return
    check_model_folder(local, field="base")
    for c in listing.complete:
        check_same_tokenizer(Path(c.folder), local)
    listing.base, listing.base_from = str(local), origin
    out = [Checkpoint(0, local, ref, "base")]
    for c in listing.complete:
        if c.step == 0:
            continue
        if is_adapter(Path(c.source)):
            view = tokenizer_view(Path(c.source), root if has_tokenizer(root) else local, adapter_base=str(local))
            c = Checkpoint(c.step, view, c.source, c.layout, str(local), c.files)
        out.append(c)
    listing.complete = sorted(out, key=lambda c: c.step)


def _hub_snapshot(ref: str) -> Path | None:
    """The local hub-cache folder of a hub id, or None (nothing is downloaded)."""
    from rsft._util.model_folder import looks_local

    if looks_local(ref) or ref.count("/") != 1:
        return None
    from rsft.generate.hf import resolve_model_dir

    try:
        return resolve_model_dir(ref)
    except RsftError:
        return None


# --------------------------------------------------------------------------------------------------- provenance

PROVENANCE = "provenance.json"


def provenance(listing: RunListing, targets: list[Any]) -> dict[str, Any]:
    """Where a run's checkpoints came from: layout, base and how it was named, and per step the producer's
    folder, the weight files read, an adapter's base and the weights hash (the store key's first part)."""
    by_step = {c.step: c for c in listing.complete}
    steps = {}
    for t in targets:
        c = by_step.get(t.step)
        if c is None:
            continue
        steps[str(t.step)] = {
            "layout": c.layout, "source": str(c.source), "files": list(c.files),
            "adapter_base": c.adapter_base, "weights_hash": t.weights_hash,
        }  # fmt: skip
    return {"layout": listing.layout, "base": listing.base, "base_from": listing.base_from, "steps": steps}


def write_provenance(store_dir: str | Path, run: str, record: dict[str, Any]) -> Path:
    """Merge one run's :func:`provenance` into ``STORE/provenance.json`` (run -> record; written by rename)."""
    import os

    path = Path(store_dir) / PROVENANCE
    data = _read_json(path)
    data = data if isinstance(data, dict) else {}
    data[run] = record
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{PROVENANCE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)
    return path
