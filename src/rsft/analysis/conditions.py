"""Run conditions (data variant x base model x schedule) and the comparison table, like the paper's Table 2.

Conditions come from, in order: a mapping passed in, ``STORE/runs.json`` (written by the study orchestrator:
``{run name: {"model": ..., "dataset": ..., "lr": ..., "epochs": ..., ...}}``), or the run name when it follows the
paper's pattern (:func:`rsft.train.config.parse_run_name`); otherwise a run has no conditions and its
name is its only label.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from rsft._util.errors import DataError
from rsft.train.config import parse_run_name


def load_conditions(
    store: Path, runs: list[str], given: Mapping[str, Mapping] | None = None
) -> dict[str, dict]:
    """run -> conditions dict for every run (see the module docstring).

    Raises:
        DataError: ``runs.json`` is not a JSON object of objects.
    """
    table: dict[str, dict] = {}
    path = Path(store) / "runs.json"
    if given is None and path.is_file():
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise DataError(f"not valid JSON: {e}", file=str(path)) from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise DataError(
                "runs.json must map run name -> object of conditions",
                file=str(path),
                fix='write {"RUN": {"model": "...", "dataset": "...", "lr": 5e-5, "epochs": 8}}',
            )
        given = data
    for run in runs:
        cond = dict((given or {}).get(run) or {}) or parse_run_name(run)
        table[run] = dict(cond)
    return table


def condition_keys(conditions: dict[str, dict]) -> list[str]:
    """Condition names that vary across runs (those worth a column), in first-seen order."""
    keys: list[str] = []
    for cond in conditions.values():
        for k in cond:
            if k not in keys:
                keys.append(k)
    varying = [k for k in keys if len({json.dumps(c.get(k), default=str) for c in conditions.values()}) > 1]
    return varying or keys  # [] when no run has conditions: the run name is the only label


def mark(below: bool, above: bool) -> str:
    """Significance mark vs the base: '▲' above, '▼' below, '' not distinguishable."""
    return "▲" if above else "▼" if below else ""


def gain_of(rec: dict) -> dict:
    """A curve's final − base: its own pointwise interval (``final_change``; the detector's simultaneous
    ``final_gain`` only for records written before it existed)."""
    return rec.get("final_change") or rec["detector"]["final_gain"]


def comparison_rows(
    bench_records: list[dict], domain_records: list[dict], conditions: dict[str, dict]
) -> list[dict]:
    """One row per run: conditions, then per benchmark and domain the final score, its gain over the base with its
    own pointwise interval (a pre-specified contrast), a significance mark (▲/▼: that interval excludes 0) and
    the detector's class."""
    rows = []
    for run in sorted(conditions):
        row: dict = {"run": run, "conditions": conditions[run], "cells": {}}
        for rec in [*bench_records, *domain_records]:
            if rec["run"] != run:
                continue
            name = rec.get("benchmark") or f"[{rec['domain']}]"
            cur, det = rec["curve"], rec["detector"]
            if len(cur["step"]) < 2:
                continue
            gain = gain_of(rec)
            row["cells"][name] = {
                "base": cur["est"][0],
                "final": cur["est"][-1],
                "final_lo": cur["lo"][-1],
                "final_hi": cur["hi"][-1],
                "gain": gain,
                "mark": mark(gain["hi"] < 0, gain["lo"] > 0),
                "class": det["class"],
                "base_step": det["base_step"],
                "final_step": det["final_step"],
                "n_items": rec["stat"]["n_items"],
                "k": rec["stat"]["k"],
            }
        rows.append(row)
    return rows
