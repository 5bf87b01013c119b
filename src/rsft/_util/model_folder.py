"""Check a local model folder at the boundary, before anything is loaded or written.

A folder that from_pretrained would half-load (no config, truncated weights, no tokenizer, a tokenizer with more
ids than the embedding has rows) fails here with one line naming the file and a fix, instead of a traceback deep
in transformers or, worse, a run that trains on a 1-token vocabulary.

What the checks cost (``check_model_folder``): config and tokenizer files are parsed (small); each safetensors
file's header is read (kilobytes), never its data; the weights' stored hash (an rsft checkpoint's ``meta.json``)
is compared with :func:`rsft._util.hashing.weights_hash`, which reads every weight byte once and is then cached
beside the weights by (size, mtime), so a checkpoint rsft wrote costs a ``stat``. NaN / inf values are found
after loading, in memory (:func:`check_finite_weights`): one reduction per tensor, no copy.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from rsft._util.errors import RsftError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")


def looks_local(path: str | Path) -> bool:
    """True when ``path`` reads as a file-system path rather than a hub id (ORG/NAME)."""
    s = str(path)
    return Path(s).exists() or s.startswith(("/", ".", "~")) or s.count("/") > 1 or "\\" in s


def check_model_folder(
    path: str | Path, *, field: str | None = None, tokenizer: bool = True, weights: bool = True
) -> None:
    """Raise a one-line :class:`RsftError` unless ``path`` (when local) is a loadable model folder.

    Hub ids are left to the loader. Checks: the folder exists; ``config.json`` parses and names a ``model_type``;
    weights exist and every safetensors file's header and data are complete (when ``weights``: a backend that
    reads the tokenizer first checks the weights when it loads them); tokenizer files exist (when ``tokenizer``);
    the tokenizer's largest id fits the embedding (``vocab_size``).
    """
    if not looks_local(path):
        return
    p = Path(path).expanduser()
    fix_path = (
        f"check {field or 'the model path'}: a model folder holds config.json, weights and tokenizer files"
    )
    if not p.exists():
        raise RsftError("model folder not found", file=str(p), field=field, fix=fix_path)
    if not p.is_dir():
        raise RsftError("a file, not a model folder", file=str(p), field=field, fix=fix_path)
    config = _config(p, field)
    if weights:
        _check_weights(p, field)
        _check_stored_hash(p, field)
    if tokenizer:
        if not any((p / f).is_file() for f in TOKENIZER_FILES):
            raise RsftError(
                f"no tokenizer files in the model folder (none of {', '.join(TOKENIZER_FILES)})",
                file=str(p),
                field=field,
                fix="copy the base model's tokenizer files (tokenizer.json, tokenizer_config.json) into it",
            )
        _check_vocab(p, config, field)


def _config(p: Path, field: str | None) -> dict[str, Any]:
    cfg_file = p / "config.json"
    if not cfg_file.is_file():
        raise RsftError(
            "no config.json: not a complete model folder or checkpoint",
            file=str(p),
            field=field,
            fix="copy the base model's config.json beside the weights, or point at a complete checkpoint",
        )
    try:
        config = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RsftError(f"config.json is not valid JSON ({e})", file=str(cfg_file), field=field) from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise RsftError(
            "config.json has no model_type",
            file=str(cfg_file),
            field=field,
            fix="write the model's config.json",
        )
    _check_model_type(config, cfg_file, field)
    _check_sizes(config, cfg_file, field)
    return config


# config.json keys that are sizes: each a whole number >= 1 where present (transformers builds tensors from them,
# and a negative one is a traceback at construction, a zero one a model without layers)
SIZE_KEYS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "max_position_embeddings",
)


def _check_model_type(config: dict[str, Any], cfg_file: Path, field: str | None) -> None:
    """The model type is one this transformers knows (a repo with its own code, ``auto_map``, brings its own)."""
    model_type = config["model_type"]
    if config.get("auto_map"):
        return
    from transformers import CONFIG_MAPPING

    if isinstance(model_type, str) and model_type in CONFIG_MAPPING:
        return
    import difflib

    import transformers

    close = difflib.get_close_matches(str(model_type), list(CONFIG_MAPPING.keys()), n=1, cutoff=0.6)
    raise RsftError(
        f"unknown model_type {model_type!r}: transformers {transformers.__version__} has no such architecture"
        + (f"; did you mean '{close[0]}'?" if close else ""),
        file=str(cfg_file),
        field=field,
        fix="correct model_type in config.json, or install a transformers release that has the architecture",
    )


def _check_sizes(config: dict[str, Any], cfg_file: Path, field: str | None) -> None:
    for node, prefix in ((config, ""), (config.get("text_config"), "text_config.")):
        if not isinstance(node, dict):
            continue
        for key in SIZE_KEYS:
            v = node.get(key)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise RsftError(
                    f"config.json: {prefix}{key} must be a whole number of at least 1 (got {v!r})",
                    file=str(cfg_file),
                    field=field,
                    fix="restore the model's own config.json",
                )
    layers, types = config.get("num_hidden_layers"), config.get("layer_types")
    if isinstance(types, list) and isinstance(layers, int) and len(types) != layers:
        raise RsftError(
            f"config.json: num_hidden_layers is {layers} but layer_types lists {len(types)} layers",
            file=str(cfg_file),
            field=field,
            fix="restore the model's own config.json",
        )


def _check_weights(p: Path, field: str | None) -> None:
    shards = sorted(p.glob("*.safetensors"))
    if not shards and not list(p.glob("pytorch_model*.bin")):
        raise RsftError(
            "no weights (model.safetensors) in the model folder",
            file=str(p),
            field=field,
            fix="point at a folder that holds the weights, or a complete checkpoint",
        )
    index = p / "model.safetensors.index.json"
    if index.is_file():
        try:
            wanted = set(json.loads(index.read_text())["weight_map"].values())
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
            raise RsftError(f"weight index is not valid ({e})", file=str(index), field=field) from None
        for name in sorted(wanted):
            if not (p / name).is_file():
                raise RsftError(
                    "a weight shard named in the index is missing", file=str(p / name), field=field
                )
    for shard in shards:
        _check_safetensors(shard, field)


# bytes per element of each safetensors dtype
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}  # fmt: skip


def _check_safetensors(path: Path, field: str | None) -> None:
    """The header parses, and it describes the data exactly: each tensor's byte range is its shape times its dtype's
    size, the ranges follow one another from 0 without gap or overlap, and they end where the file ends (a
    truncated copy, appended bytes, or a header that lies about a shape fail here, from the header alone)."""
    fix = "the weights are damaged or truncated: copy or save them again"
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise RsftError(
                "not a safetensors file (shorter than its header)", file=str(path), field=field, fix=fix
            )
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > 100_000_000:
            raise RsftError(
                "not a safetensors file (bad header length)", file=str(path), field=field, fix=fix
            )
        try:
            header = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RsftError(
                "not a safetensors file (header is not JSON)", file=str(path), field=field, fix=fix
            ) from None
    if not isinstance(header, dict):
        raise RsftError(
            "not a safetensors file (header is not an object)", file=str(path), field=field, fix=fix
        )
    ranges = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, IndexError, ValueError):
            raise RsftError(
                f"tensor '{name}' has no data offsets", file=str(path), field=field, fix=fix
            ) from None
        ranges.append((begin, end, name, info))
    ranges.sort(key=lambda r: (r[0], r[1]))
    end = max((r[1] for r in ranges), default=0)
    if 8 + n + end > size:
        raise RsftError(
            f"truncated: the header promises {8 + n + end} bytes, the file has {size}",
            file=str(path),
            field=field,
            fix=fix,
        )
    at = 0
    for begin, stop, name, info in ranges:
        shape = info.get("shape") if isinstance(info, dict) else None
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise RsftError(f"tensor '{name}' has no valid shape in the header", file=str(path), field=field, fix=fix)
        width = DTYPE_BYTES.get(info.get("dtype"))  # a dtype newer than this table (packed 4-bit...) is not sized
        numel = math.prod(shape)
        if width is not None and stop - begin != numel * width:
            raise RsftError(
                f"tensor '{name}': the header gives shape {shape} ({info['dtype']}, {numel * width} bytes) but "
                f"{stop - begin} bytes of data",
                file=str(path),
                field=field,
                fix=fix,
            )
        if begin != at:
            raise RsftError(
                f"tensor '{name}' starts at byte {begin} of the data, not at {at} where the one before ends "
                "(a gap or an overlap)",
                file=str(path),
                field=field,
                fix=fix,
            )
        at = stop
    if 8 + n + at != size:
        raise RsftError(
            f"{size - 8 - n - at} bytes after the last tensor: the file is longer than its header says",
            file=str(path),
            field=field,
            fix=fix,
        )


def _check_stored_hash(p: Path, field: str | None) -> None:
    """An rsft checkpoint records its weights' hash in ``meta.json``: weights that changed since (a flipped bit,
    a partial overwrite, another model copied in) are refused. Folders without one are not checked."""
    meta_file = p / "meta.json"
    if not meta_file.is_file():
        return
    try:
        stored = json.loads(meta_file.read_text(encoding="utf-8")).get("weights_hash")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return  # not rsft's meta.json: nothing to compare with
    if not isinstance(stored, str) or not stored:
        return
    from rsft._util.hashing import weights_hash

    actual = weights_hash(p, length=len(stored))
    if actual != stored:
        raise RsftError(
            f"the weights changed since they were saved: their hash is {actual}, meta.json records {stored} "
            "(damaged or replaced weight files)",
            file=str(p),
            field=field,
            fix="copy the checkpoint again from a good source, or retrain that step (--resume)",
        )


def check_finite_weights(model: Any, path: str | Path, *, field: str | None = None) -> None:
    """Raise a one-line :class:`RsftError` naming the first parameter that holds NaN or inf.

    Cost: one float32-accumulated sum per parameter, on the device the model is on, and a single host sync; only
    a parameter whose sum is not finite (a NaN or inf in it, or finite values whose sum overflows float32) is
    then checked element-wise, so an overflowing sum alone is never an error. ``model`` is any object with
    ``named_parameters()`` (a torch module).
    """
    import torch

    named = [(n, t) for n, t in model.named_parameters() if t.is_floating_point() and t.numel()]
    if not named:
        return
    with torch.no_grad():
        # reductions queue on each tensor's device; moving the scalars to the host waits for them once each
        sums = torch.stack([t.detach().sum(dtype=torch.float32).cpu() for _, t in named])
        if bool(torch.isfinite(sums).all()):
            return
        for (name, t), s in zip(named, sums.tolist(), strict=True):
            if s == s and abs(s) != float("inf"):
                continue
            bad = ~torch.isfinite(t.detach())
            count = int(bad.sum())
            if count:
                raise RsftError(
                    f"the weights hold NaN or inf: parameter '{name}' has {count:,} of {t.numel():,} values "
                    "non-finite",
                    file=str(path),
                    field=field,
                    fix="these weights cannot be trained or evaluated: use an earlier checkpoint or the base model",
                )


def _vocab_size(config: dict[str, Any]) -> int | None:
    for node in (config, config.get("text_config") or {}):
        if isinstance(node, dict) and isinstance(node.get("vocab_size"), int):
            return node["vocab_size"]
    return None


def _check_vocab(p: Path, config: dict[str, Any], field: str | None) -> None:
    """The tokenizer's largest id must index a row of the embedding (else an IndexError mid-run)."""
    rows = _vocab_size(config)
    tok_file = p / "tokenizer.json"
    if rows is None or not tok_file.is_file():
        return
    try:
        tok = json.loads(tok_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RsftError(f"tokenizer.json is not valid JSON ({e})", file=str(tok_file), field=field) from None
    vocab = (tok.get("model") or {}).get("vocab") if isinstance(tok, dict) else None
    ids: list[int] = []
    if isinstance(vocab, dict):
        ids += [v for v in vocab.values() if isinstance(v, int)]
    elif isinstance(vocab, list):  # unigram: a list of [piece, score]; ids are positions
        ids.append(len(vocab) - 1)
    ids += [
        t["id"]
        for t in (tok.get("added_tokens") or [])
        if isinstance(t, dict) and isinstance(t.get("id"), int)
    ]
    if ids and max(ids) >= rows:
        raise RsftError(
            f"the tokenizer has ids up to {max(ids)} but the model's embedding has {rows} rows (vocab_size in "
            "config.json)",
            file=str(tok_file),
            field=field,
            fix="use the tokenizer the model was trained with, or resize the embeddings and save the model again",
        )
    mismatch = "use the tokenizer the model was trained with (copy its tokenizer files into the folder)"
    if ids and max(ids) + 1 < MIN_VOCAB_COVERAGE * rows:
        raise RsftError(
            f"the tokenizer does not match the model: it has {max(ids) + 1} ids but the embedding has {rows} rows "
            f"(fewer than {MIN_VOCAB_COVERAGE:.0%} of the rows are reachable; a model's own tokenizer leaves only "
            "padding rows unused)",
            file=str(tok_file),
            field=field,
            fix=mismatch,
        )
    _check_eos(p, config, tok, field, mismatch)


# the share of embedding rows a model's own tokenizer reaches: real models pad the embedding by < 1% (Qwen2.5:
# 151,665 ids for 152,064 rows; Pythia 50,277 for 50,304; Phi-2 50,295 for 51,200)
MIN_VOCAB_COVERAGE = 0.9


def _token_id(tok: dict[str, Any], token: Any) -> int | None:
    """The id of a special token (a string or ``{"content": ...}``) in a tokenizer.json, or None."""
    text = token.get("content") if isinstance(token, dict) else token
    if not isinstance(text, str):
        return None
    for t in tok.get("added_tokens") or []:
        if isinstance(t, dict) and t.get("content") == text and isinstance(t.get("id"), int):
            return t["id"]
    vocab = (tok.get("model") or {}).get("vocab")
    if isinstance(vocab, dict) and isinstance(vocab.get(text), int):
        return vocab[text]
    return None


def _ids(value: Any) -> set[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return {value}
    if isinstance(value, list):
        return {v for v in value if isinstance(v, int) and not isinstance(v, bool)}
    return set()


def _check_eos(p: Path, config: dict[str, Any], tok: dict[str, Any], field: str | None, fix: str) -> None:
    """The tokenizer's end-of-sequence token is one the model's configs stop on (``eos_token_id`` of config.json
    or generation_config.json): a tokenizer from another model ends its rows with a token the model never learnt
    to stop on, and generation runs to the length limit."""
    try:
        tok_cfg = json.loads((p / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return
    if not isinstance(tok_cfg, dict) or tok_cfg.get("eos_token") is None:
        return
    eos = _token_id(tok, tok_cfg["eos_token"])
    wanted = _ids(config.get("eos_token_id"))
    try:
        gen = json.loads((p / "generation_config.json").read_text(encoding="utf-8"))
        wanted |= _ids(gen.get("eos_token_id")) if isinstance(gen, dict) else set()
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        pass
    if eos is None or not wanted or eos in wanted:
        return
    shown = tok_cfg["eos_token"].get("content") if isinstance(tok_cfg["eos_token"], dict) else tok_cfg["eos_token"]
    raise RsftError(
        f"the tokenizer does not match the model: its end-of-sequence token {shown!r} is id {eos}, but the "
        f"model's eos_token_id is {', '.join(map(str, sorted(wanted)))} (config.json / generation_config.json)",
        file=str(p / "tokenizer_config.json"),
        field=field,
        fix=fix,
    )


def check_output_folder(path: str | Path, *, need_bytes: int = 0, field: str | None = None) -> None:
    """Raise a one-line :class:`RsftError` unless ``path`` can be created (or written) with ``need_bytes`` free.

    The nearest existing folder on the way up decides: it must be a folder, writable, and on a disk with at
    least ``need_bytes`` free. A disk that fills later (other writers) is still caught where the write fails.
    """
    import os
    import shutil

    p = Path(path).expanduser().absolute()
    up = p
    while not up.exists() and up != up.parent:
        up = up.parent
    if not up.is_dir():
        raise RsftError(
            f"{up} is a file, not a folder",
            file=str(p),
            field=field,
            fix=f"choose another {field or 'output folder'}, or move the file away",
        )
    if not os.access(up, os.W_OK | os.X_OK):
        raise RsftError(
            "the output folder is not writable" + (f" ({up} is not)" if up != p else ""),
            file=str(p),
            field=field,
            fix=f"choose an {field or 'output folder'} you can write to (a read-only disk cannot hold a run)",
        )
    free = shutil.disk_usage(up).free
    if free < need_bytes:
        raise RsftError(
            f"not enough free space: {free:,} bytes free on the disk of {up}, at least {need_bytes:,} needed "
            "(one checkpoint)",
            file=str(p),
            field=field,
            fix="free space on that disk or choose another output folder",
        )


def weights_bytes(path: str | Path) -> int:
    """Bytes of a local model folder's weight files (0 for a hub id)."""
    p = Path(path)
    if not p.is_dir():
        return 0
    return sum(f.stat().st_size for pat in ("*.safetensors", "pytorch_model*.bin") for f in p.glob(pat))


ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_BASE_FILE = "rsft_adapter.json"  # {"base": ...}: the base an adapter is evaluated on, when named by rsft


def is_adapter_folder(path: str | Path) -> bool:
    """A PEFT adapter folder (``adapter_config.json`` + adapter weights), not a whole model."""
    return (Path(path) / ADAPTER_CONFIG).is_file()


def adapter_base_of(path: str | Path) -> str:
    """The base model an adapter folder applies to: ``rsft_adapter.json``'s ``base`` (the base the user or the
    run named), else ``adapter_config.json``'s ``base_model_name_or_path``.

    Raises:
        RsftError: neither names a base.
    """
    p = Path(path)
    for name, key in ((ADAPTER_BASE_FILE, "base"), (ADAPTER_CONFIG, "base_model_name_or_path")):
        try:
            value = json.loads((p / name).read_text(encoding="utf-8")).get(key)
        except (OSError, ValueError, AttributeError):
            continue
        if value:
            return str(value)
    raise RsftError(
        "the LoRA adapter names no base model",
        file=str(p / ADAPTER_CONFIG),
        fix="name the base: rsft eval --base MODEL, or base: MODEL in the run's rsft_run.yaml",
    )
