"""`rsft report --svg` writes a vector copy of every figure, byte-identical on a rerun."""

from __future__ import annotations

import pytest

from rsft.analysis.synthetic import make_store
from rsft.cli.main import main


def test_svg_figures_beside_png_and_deterministic(tmp_path):
    store = make_store(tmp_path / "s", ["r"], [0, 10, 20], {"m": "math"}, items=20, samples=2)
    outs = []
    for name in ("a", "b"):
        with pytest.raises(SystemExit) as e:
            main(["report", str(store), "--out", str(tmp_path / name / "r.html"), "--svg"])
        assert e.value.code == 0
        outs.append(tmp_path / name / "r_figures")
    pngs = sorted(p.stem for p in outs[0].glob("*.png"))
    svgs = sorted(p.stem for p in outs[0].glob("*.svg"))
    assert pngs and pngs == svgs
    for stem in svgs:
        assert (outs[0] / f"{stem}.svg").read_bytes() == (outs[1] / f"{stem}.svg").read_bytes()
