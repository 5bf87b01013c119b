"""Check a local model folder at the boundary, before anything is loaded or written.

A folder that from_pretrained would half-load (no config, truncated weights, no tokenizer, a tokenizer with more
ids than the embedding has rows) fails here with one line naming the file and a fix, instead of a traceback deep
in transformers or, worse, a run that trains on a 1-token vocabulary.
"""

from __future__ import annotations

import json
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
    return config


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


def _check_safetensors(path: Path, field: str | None) -> None:
    """The header parses and every tensor's bytes lie within the file (a truncated copy fails here)."""
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
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            end = max(end, int(info["data_offsets"][1]))
        except (KeyError, TypeError, IndexError, ValueError):
            raise RsftError(
                f"tensor '{name}' has no data offsets", file=str(path), field=field, fix=fix
            ) from None
    if 8 + n + end > size:
        raise RsftError(
            f"truncated: the header promises {8 + n + end} bytes, the file has {size}",
            file=str(path),
            field=field,
            fix=fix,
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
