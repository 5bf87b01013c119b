"""Report: renders ``analysis.json`` into one self-contained HTML file, PNG figures and a Markdown summary."""

from rsft.report.render import load_analysis, markdown_summary, render_report

__all__ = ["load_analysis", "markdown_summary", "render_report"]
