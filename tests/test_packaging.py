"""The built wheel works outside the source tree: packaged suites and configs, `rsft study plan paper`, a toy sweep.

The wheel is built offline (``pip wheel --no-deps --no-build-isolation``) from a copy of the source, installed
into a fresh venv in a temporary folder; the venv borrows the already-installed dependencies (torch, transformers,
...) through a ``.pth`` file, so nothing is downloaded. Every command runs with the temporary folder as its working
directory and without PYTHONPATH, so only the installed wheel can answer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin folder, clean environment, working folder) of a fresh venv with only the wheel installed."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src-copy"  # building in a copy keeps build/ and *.egg-info out of the checkout
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__",
                                                             "tests", "docs", "benchmarks", "rsft-demo", "runs"))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "-w", str(tmp / "dist"), str(src)], cwd=tmp, env=env)  # fmt: skip
    wheel = next((tmp / "dist").glob("rsft-*.whl"))
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp, env=env)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    # the dependencies already installed here (torch, transformers, pip ...), after the venv's own site-packages;
    # a plain path line in a .pth adds the folder without running the .pth files inside it (no editable rsft)
    borrowed = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]
    (purelib / "_rsft_test_borrowed.pth").write_text("\n".join(borrowed) + "\n")
    bin_dir = venv / "bin"
    _run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
        cwd=tmp,
        env=env,
    )
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    work = tmp / "work"
    work.mkdir()
    return bin_dir, env, work, wheel


def test_wheel_ships_suites_configs_and_toy_bases(installed):
    *_, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for must in ("rsft/suites/paper.yaml", "rsft/suites/toy.yaml", "rsft/configs/paper/all.yaml",
                 "rsft/configs/paper/common.yaml", "rsft/configs/train/toy.yaml",
                 "rsft/configs/accelerate/fsdp2.yaml", "rsft/toy/bases/small/model.safetensors"):  # fmt: skip
        assert must in names, must


def test_installed_rsft_is_the_wheel_not_the_checkout(installed):
    bin_dir, env, work, _ = installed
    r = _run([str(bin_dir / "python"), "-c", "import rsft; print(rsft.__file__)"], cwd=work, env=env)
    where = Path(r.stdout.strip()).resolve()
    assert str(where).startswith(str(bin_dir.parent.resolve())), where
    assert REPO not in where.parents


def test_study_plan_paper_and_suites_by_name(installed):
    bin_dir, env, work, _ = installed
    r = _run([str(bin_dir / "rsft"), "study", "plan", "paper", "--json"], cwd=work, env=env)
    import json

    plan = json.loads(r.stdout)
    assert len(plan["runs"]) == 33
    r = _run([str(bin_dir / "rsft"), "suites"], cwd=work, env=env)
    # the listing is the command's output: stdout
    assert all(n in r.stdout for n in ("paper", "extended", "quick", "toy", "paper/dynamics", "train/toy"))
    r = _run([str(bin_dir / "rsft"), "validate", "extended"], cwd=work, env=env)
    assert "valid suite 'extended'" in r.stderr.replace("\n", " ")
    r = _run([str(bin_dir / "rsft"), "suites", "--path", "accelerate/fsdp2"], cwd=work, env=env)
    assert Path(r.stdout.strip()).is_file() and str(bin_dir.parent) in r.stdout


def test_toy_sweep_from_the_installed_wheel(installed):
    bin_dir, env, work, _ = installed
    py = str(bin_dir / "python")
    base = _run(
        [py, "-c", "from rsft.study.demo import BASES_DIR; print(BASES_DIR / 'small')"], cwd=work, env=env
    )
    small = base.stdout.strip()
    assert str(bin_dir.parent) in small
    over = [f"benchmarks.{b}.options.n_items=3" for b in ("toy_countdown", "toy_arith", "toy_sort", "toy_mcq",
                                                           "toy_instruct", "toy_safety")]  # fmt: skip
    cmd = [str(bin_dir / "rsft"), "eval", "run", "--model", small, "--suite", "toy", "--store", "store",
           "--no-progress", *over]  # fmt: skip
    r = _run(cmd, cwd=work, env=env)
    assert "18 planned rows" in r.stderr and "18 generated" in r.stderr, r.stderr
    r = _run(cmd, cwd=work, env=env)  # resumes: nothing left to generate
    assert "18 reused" in r.stderr and "0 generated" in r.stderr, r.stderr
