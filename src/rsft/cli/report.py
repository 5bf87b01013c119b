"""`rsft report`: render analysis.json (or analyse a store first) into one self-contained HTML file.

Run: ``rsft report STORE|ANALYSIS_DIR --out report.html``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from rsft.cli._common import console, esc, stage_app

app = stage_app("report stage: one self-contained HTML report with figures and a Markdown summary")


@app.command("run")
def run(
    source: Path = typer.Argument(..., help="analysis folder (analysis.json) or store folder (rows/)"),
    out: Path = typer.Option(Path("report.html"), "--out", help="HTML file to write"),
    svg: bool = typer.Option(False, "--svg", help="also write every figure as SVG"),
) -> None:
    """Render the report (figures beside it in <stem>_figures/, summary in <stem>.md)."""
    from rsft.report import render_report

    if not (source / "analysis.json").is_file() and (source / "rows").is_dir():
        from rsft.analysis import analyze_store

        with console.status("analysing the store first (defaults; `rsft analyze` for options)") as status:
            source = analyze_store(source, progress=lambda msg: status.update(msg))
    with console.status("rendering"):
        path = render_report(source, out, svg=svg)
    figures = path.parent / (path.stem + '_figures')
    console.print(f"wrote {esc(path)}, {esc(path.with_suffix('.md'))} and {esc(figures)}")
