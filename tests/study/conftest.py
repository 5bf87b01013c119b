"""Fixtures shared by the study tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _tiny_study import _write


@pytest.fixture(scope="session")
def tiny_study_reference(tmp_path_factory, tiny_model_dir) -> Path:
    """The tiny study (``_tiny_study``) run once by `rsft study` in one process, uninterrupted: the reference that
    every other way of running it (killed and resumed, --jobs, a Slurm array, Ray) must reproduce."""
    ref = tmp_path_factory.mktemp("ref")
    _write(ref, tiny_model_dir)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "rsft.cli.main", "study", "study.yaml", "--no-progress"],
        cwd=ref, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return ref
