"""Typed configs loaded from YAML: unknown keys rejected, dotted overrides, every error at once.

Every entry point has one pydantic model deriving from :class:`StrictModel`. Defaults live only in the model.
``load_config(path, Model, ["train.lr=1e-4"])`` reads the YAML, applies ``key=value`` overrides (values parsed as
YAML scalars), validates, and raises one :class:`~rsft.ConfigError` listing every problem.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from rsft._util.errors import ConfigError, Problem

M = TypeVar("M", bound=BaseModel)

# Bounds on sizes, checked before any work: a value past one is a typo (1e12 for 1e2), and would otherwise hang
# or exhaust memory instead of failing. Each is far above anything the paper's protocol uses.
MAX_ROWS = 1_000_000  # rows a generator writes, items a benchmark keeps, queries of a TASK:N spec
MAX_STEPS = 1_000_000  # optimizer steps (and epochs) of one training run
MAX_BOOT = 100_000  # bootstrap replicates of one interval
MAX_SAMPLES = 100_000  # samples per prompt (generation.n), simulated runs per setting
MAX_NEW_TOKENS = 1 << 20  # generated tokens per response


class StrictModel(BaseModel):
    """Base for every rsft config: unknown keys are errors, assignment is validated, and a float must be finite
    (``.inf`` / ``nan`` in a YAML file or an override is refused: no config value of rsft means "unbounded")."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, protected_namespaces=(), allow_inf_nan=False
    )


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (PyYAML keeps the last one
    silently, so ``lr: 1e-5`` further down a file would quietly win). Keys brought in by a ``<<:`` merge may be
    overridden, as YAML intends."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    seen = key in first
                except TypeError:  # an unhashable key: PyYAML's own error follows
                    continue
                if seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key '{key}' (first given on line {first[key] + 1}): keep one",
                        key_node.start_mark,
                    )
                first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def folder_name(value: str) -> str:
    """A name that becomes exactly one folder below its parent (a run or study name): no path separator, not
    ``.`` or ``..``, not absolute. Else ``runs/`` + ``../../x`` or ``/abs`` would write outside the output folder.

    Raises:
        ValueError: the name is not one folder name (pydantic reports it against the key).
    """
    if value in ("", ".", "..") or "/" in value or "\\" in value or "\0" in value or value.startswith("~"):
        raise ValueError(
            "must be one folder name (not empty; no '/', '\\', '~', '.' or '..'), so that it stays inside its output "
            "folder"
        )
    return value


FolderName = Annotated[str, AfterValidator(folder_name)]
"""A ``str`` config field checked by :func:`folder_name`."""


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with errors naming the file and line (a duplicate key is one)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError([Problem("<file>", "file not found")], file=str(p))
    try:
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "<file>"
        raise ConfigError(
            [Problem(where, f"invalid YAML: {getattr(e, 'problem', e)}")], file=str(p)
        ) from None
    except UnicodeDecodeError as e:
        raise ConfigError([Problem("<file>", f"not UTF-8 text: {e}")], file=str(p)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([Problem("<root>", f"expected a mapping, got {type(data).__name__}")], file=str(p))
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply dotted ``a.b.c=value`` overrides (value parsed as YAML) to a nested dict, in place."""
    problems = []
    for item in overrides or []:
        if "=" not in item:
            problems.append(Problem(item, "override must look like key=value (dotted keys allowed)"))
            continue
        key, raw = item.split("=", 1)
        if any(not part.strip() for part in key.split(".")):
            problems.append(
                Problem(
                    item, "override has an empty key: it must look like key=value (e.g. schedule.lr=1e-5)"
                )
            )
            continue
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = {}
                node[part] = nxt
            node = nxt
        node[parts[-1]] = value
    if problems:
        raise ConfigError(problems, file="<command line>")
    return data


def problems_from_validation(err: ValidationError, cls: type[BaseModel] | None = None) -> list[Problem]:
    """One :class:`Problem` per error; with ``cls`` (the validated model) an unknown key names the closest valid
    key at its place ("did you mean ..."), and a wrong type names the type it got."""
    out = []
    for e in err.errors():
        key = ".".join(str(x) for x in e["loc"]) or "<root>"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key" + did_you_mean(str(e["loc"][-1]), valid_keys(cls, e["loc"][:-1]))
        elif e["type"] == "value_error":
            # a model validator's own message names its keys ("runs.0.dataset: unknown dataset 'x'; ..."):
            # one problem per part, and never the whole input (a study's input is the whole config)
            msg = msg.removeprefix("Value error, ")
            parts = msg.split("; ")
            if key == "<root>" and all(re.match(r"^[\w.\[\]-]+: ", x) for x in parts):
                out += [Problem(*x.split(": ", 1)) for x in parts]
                continue
            if "input" in e and not isinstance(e["input"], dict | list):
                msg += f" (got {repr(e['input'])[:60]})"
        elif "input" in e and e["type"] not in ("missing",):
            shown = repr(e["input"])
            msg += f" (got {type(e['input']).__name__} {shown[:60]})"
        out.append(Problem(key, msg))
    return out


def did_you_mean(key: str, valid: list[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``valid`` (by difflib's ratio, at least 0.6), else ``""``.
    Without a close one, the valid keys are listed when there are few."""
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    if valid and len(valid) <= 12:
        return f"; valid keys: {', '.join(sorted(valid))}"
    return ""


def valid_keys(cls: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model found by following ``loc`` (field names; list indices and dict keys are
    stepped over) from ``cls``; [] when the path leaves pydantic models."""
    current: Any = cls
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        if isinstance(part, int) or part not in current.model_fields:
            return []
        current = _model_in(current.model_fields[part].annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside an annotation such as ``X``, ``X | None``, ``list[X]`` or ``dict[str, X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def leaf_keys(node: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys of a nested mapping's leaves (``{"a": {"b": 1}}`` -> ``["a.b"]``); an empty mapping is a
    leaf."""
    out = []
    for k, v in node.items():
        if isinstance(v, dict) and v:
            out += leaf_keys(v, f"{prefix}{k}.")
        else:
            out.append(f"{prefix}{k}")
    return out


def build_config(cls: type[M], data: dict[str, Any], *, source: str | None = None) -> M:
    """Validate a dict into ``cls``, raising one ConfigError with every problem."""
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise ConfigError(problems_from_validation(e, cls), file=source) from None


def load_config(path: str | Path, cls: type[M], overrides: list[str] | None = None) -> M:
    """Load ``path`` as ``cls`` with dotted overrides; relative paths stay relative to the caller's cwd."""
    data = apply_overrides(read_yaml(path), overrides)
    return build_config(cls, data, source=str(path))
