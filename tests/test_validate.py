"""`rsft validate` on every shipped config, and on a broken one (all problems at once, no traceback)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rsft.cli.validate import check, detect_kind
from rsft.config import read_yaml
from rsft.resources import CONFIGS_DIR, PACKAGE_DIR, SUITES_DIR

SHIPPED = sorted(
    p
    for p in [
        *CONFIGS_DIR.glob("paper/*.yaml"),
        *CONFIGS_DIR.glob("train/*.yaml"),
        *SUITES_DIR.glob("*.yaml"),
    ]
    if p.name != "common.yaml"  # an include fragment, not a study on its own
)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_every_shipped_config_validates(path):
    kind = detect_kind(read_yaml(path))
    assert kind is not None
    assert check(path, None, kind)


def test_validate_reports_every_problem_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {path: x}\ndata: {path: y, max_lenght: 3}\nschedule: {lr: -1, warmup_ratio: 3}\n")
    r = subprocess.run(
        [sys.executable, "-m", "rsft.cli.main", "validate", str(bad)], capture_output=True, text=True
    )
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    for key in ("data.max_lenght", "schedule.lr", "schedule.warmup_ratio"):
        assert key in r.stderr
    assert "3 config problems" in r.stderr
