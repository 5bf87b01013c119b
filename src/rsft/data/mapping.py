"""Column mappings: data whose column names differ from rsft's, read through a YAML file instead of code.

```yaml
# mapping.yaml — source column -> rsft column; `defaults` fills columns the source does not have
columns:
  query: prompt
  output: response
  reward: weight
  token_logprobs: logprobs        # pool: chosen-token log-probs (SFT rows: teacher_logprobs)
defaults:
  teacher: hf/Qwen/Qwen3-8B
```

SFT data takes it as ``data.column_map: mapping.yaml`` (or an inline mapping); a raw rollout pool becomes an rsft
pool Parquet with ``rsft rollouts import RAW --mapping mapping.yaml --out POOL.parquet``. Source columns that are
not mapped keep their names (unknown ones are dropped by the pool import and ignored by the SFT reader).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from rsft._util.errors import ConfigError, DataError, Problem
from rsft.config import StrictModel, build_config, read_yaml


class ColumnMapping(StrictModel):
    columns: dict[str, str] = Field(default_factory=dict, description="source column -> rsft column")
    defaults: dict[str, Any] = Field(default_factory=dict, description="rsft column -> value for every row")

    def apply(self, rec: dict[str, Any]) -> dict[str, Any]:
        """One record with its columns renamed and the defaults filled in (a mapped value wins)."""
        out = {self.columns.get(k, k): v for k, v in rec.items()}
        for k, v in self.defaults.items():
            out.setdefault(k, v)
        return out


def load_mapping(spec: str | Path | dict[str, Any] | None) -> ColumnMapping:
    """A mapping from a YAML file, an inline ``{columns: ..., defaults: ...}``, or a plain ``{source: rsft}`` dict.

    Raises:
        ConfigError: unreadable or invalid file (every problem at once); two source columns mapped to one name.
    """
    if spec is None:
        return ColumnMapping()
    if isinstance(spec, dict):
        data = spec if set(spec) <= {"columns", "defaults"} and spec else {"columns": spec}
        source = "<column_map>"
    else:
        data, source = read_yaml(spec), str(spec)
    m = build_config(ColumnMapping, data, source=source)
    targets = list(m.columns.values())
    dups = sorted({t for t in targets if targets.count(t) > 1})
    if dups:
        raise ConfigError([Problem("columns", f"several source columns map to {dups}")], file=source)
    return m


def require_columns(present: list[str], needed: list[str], label: str, mapping: ColumnMapping) -> None:
    """Raise a DataError naming the rsft columns the mapped source still lacks."""
    missing = [c for c in needed if c not in present]
    if missing:
        raise DataError(
            f"after the mapping, columns {missing} are missing (have: {', '.join(sorted(present))})",
            file=label,
            field=missing[0],
            fix="map a source column to it under `columns:` or give a value under `defaults:` in the mapping file",
        )
