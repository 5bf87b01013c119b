"""The commands README.md and docs/ show a user are real: each one parses (its sub-command and options exist, its
required arguments are given), and the README's data and training sequence runs from an empty folder."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# placeholders a page writes in capitals, and a value of the right kind for each
PLACEHOLDERS = {"STUDY.yaml": "study.yaml", "STUDY": "paper", "STORE": "store/", "FULL_STORE": "store/",
                "RUN_DIR": "runs/r", "DIR": "out/", "FILE": "train/toy", "SUITE": "toy", "SRC": "a.parquet",
                "OUT": "b.parquet", "N": "2", "i/n": "0/2", "i/33": "0/33", "REF.jsonl": "ref.jsonl",
                "ANALYSIS_DIR/nll.json": "nll.json", "X": "0.1", "<COMMIT>": "abc123", "hf/PATH": "hf/m"}  # fmt: skip


def _commands() -> list[tuple[str, str]]:
    out = []
    for page in DOCS:
        text = page.read_text(encoding="utf-8")
        # inline commands: README.md's (its stage table is what a newcomer types); the other pages' inline
        # mentions name options in prose, their code blocks hold the commands
        found = [" ".join(c.split()) for c in re.findall(r"`(rsft [^`]+)`", text)] if page.name == "README.md" else []
        for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.M | re.S):  # code blocks
            block = block.replace("\\\n", " ")
            lines = re.findall(r"^\s*(rsft .+)$", block, flags=re.M)
            found += [ln.strip() for ln in lines if ln.count("rsft ") == 1]  # not a diagram's row of stages
        for cmd in found:
            cmd = cmd.split("  #")[0].split(" # ")[0].strip()
            out.append((page.name, cmd))
    return sorted(set(out))


def _fragment(cmd: str) -> str | None:
    """Why a shown command is a fragment of prose rather than a command to run, or None."""
    if any(t in cmd for t in ("…", "...", "[", "|", "$(", "/--")):
        return "written with alternatives or elisions"
    words = shlex.split(cmd)
    if len(words) <= 2 or words[-1].startswith("--") and len(words) <= 3:
        return "names a command or an option, not a whole command"
    return None


COMMANDS = _commands()


def _env() -> dict[str, str]:
    """The commands run in a temporary folder: this checkout's sources first on the path (a relative
    PYTHONPATH=src would point nowhere there), one thread, no hub."""
    path = os.pathsep.join([str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH", "")])])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


@pytest.mark.parametrize(("page", "cmd"), COMMANDS, ids=[f"{p}: {c}" for p, c in COMMANDS])
def test_each_shown_command_parses(page, cmd):
    why = _fragment(cmd)
    if why:
        pytest.skip(why)
    from rsft.cli.main import command

    args = [PLACEHOLDERS.get(w, "2" if re.fullmatch(r"[A-Z][A-Z_]*", w) else w) for w in shlex.split(cmd)[1:]]
    ctx_cmd, name, rest = command(), "rsft", list(args)
    # walk the sub-commands (a stage's default command is `run`), then let click parse the rest
    while hasattr(ctx_cmd, "commands"):
        sub = rest[0] if rest and rest[0] in ctx_cmd.commands else getattr(ctx_cmd, "default_command", None)
        assert sub in ctx_cmd.commands, f"{page}: `{cmd}`: no command {rest[:1]}"
        if rest and rest[0] == sub:
            rest = rest[1:]
        ctx_cmd, name = ctx_cmd.commands[sub], f"{name} {sub}"
    if not rest:
        pytest.skip("names a command, not a whole command line")
    ctx = ctx_cmd.make_context(name, rest)  # raises on an unknown option or a missing required argument
    assert ctx.command is ctx_cmd


def test_the_readme_data_and_training_sequence_runs_from_an_empty_folder(tmp_path):
    """The data commands of README.md's stage table, exactly as written, then `rsft validate train/toy` after the
    README's data step for it (the training itself is tested in tests/train)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = [c for p, c in COMMANDS if p == "README.md" and c.startswith("rsft data ") and not _fragment(c)
             and len(shlex.split(c)) > 3 and not c.startswith("rsft data fetch")]  # fetch needs the hub
    table.sort(key=lambda c: 0 if " countdown " in c else 1)  # the variant, verify and stats rows read its output
    assert any("data toy --mixture --out" in c for c in table) and any("data variant" in c for c in table)
    env = _env()
    for cmd in table:
        args = shlex.split(cmd)[1:]
        if args[:2] == ["data", "countdown"] and "--n" in args:
            args[args.index("--n") + 1] = "64"  # the README's 20,480 rows, cut for the test
        r = subprocess.run([sys.executable, "-m", "rsft.cli.main", *args], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=600)  # fmt: skip
        assert r.returncode == 0, f"`{cmd}`: {r.stderr[-2000:]}"
    assert "rsft train train/toy" in readme
    r = subprocess.run([sys.executable, "-m", "rsft.cli.main", "validate", "train/toy"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0 and "does not exist yet" not in r.stderr, r.stderr


def test_the_readme_rollouts_and_curate_example_verifies_samples(tmp_path):
    """README.md's rollouts row, exactly as written (the shipped toy base as teacher): the pool is written and
    curation finds verified samples and writes every variant. A property, not a count: sampling is seeded, but the
    count depends on the platform's floating point."""
    import json

    shown = ("rsft rollouts --teacher", "rsft curate ")
    rows = [c for p, c in COMMANDS if p == "README.md" and c.startswith(shown)]
    rollouts = [c for c in rows if c.startswith("rsft rollouts")]
    curate = [c for c in rows if c.startswith("rsft curate")]
    assert len(rollouts) == 1 and len(curate) == 1, rows
    env = _env()
    for cmd in (rollouts[0], curate[0]):
        r = subprocess.run([sys.executable, "-m", "rsft.cli.main", *shlex.split(cmd)[1:]], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=600)  # fmt: skip
        assert r.returncode == 0, f"`{cmd}`: {r.stderr[-2000:]}"
    out = tmp_path / shlex.split(curate[0])[shlex.split(curate[0]).index("--out") + 1]
    report = json.loads((out / "report.json").read_text())
    assert report["verdicts"]["verified"] >= 1, report["verdicts"]
    assert report["yield"]["selected_rows"] >= 1, report["yield"]
    assert all(v["rows"] >= 1 for v in report["variants"].values()), report["variants"]
