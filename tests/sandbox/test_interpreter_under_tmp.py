"""An interpreter that lives under /tmp (a CI clone's virtual environment) still starts inside the sandbox,
although the sandbox puts a fresh tmpfs over /tmp."""

from __future__ import annotations

import subprocess
import sys

from rsft.sandbox import Sandbox


def test_venv_under_tmp_runs(tmp_path):
    assert str(tmp_path).startswith("/tmp")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    r = Sandbox(python=str(venv / "bin" / "python"), workers=1).run("import sys; print(sys.prefix)")
    assert r.ok, r.stderr
    assert r.stdout.strip() == str(venv)
    # and the rest of /tmp stays hidden: a file next to the venv is not visible
    (tmp_path / "secret.txt").write_text("x")
    r = Sandbox(python=str(venv / "bin" / "python"), workers=1).run(
        f"import os; print(os.path.exists({str(tmp_path / 'secret.txt')!r}))"
    )
    assert r.ok and r.stdout.strip() == ("False" if r.isolation.get("mountns") else "True")
