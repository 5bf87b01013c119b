"""Rewrite the README's demo-findings block from a finished `rsft demo` run (never by hand).

Run from the repository root after a fresh full demo:

    rsft demo --out /tmp/rsft-demo && python scripts/update_readme_demo.py /tmp/rsft-demo/full

It writes ``docs/demo-findings.json`` (the four findings as the run measured them, its timing and provenance) and
replaces the block between the README's ``rsft-demo-findings`` markers with the table built from that file;
``tests/study/test_demo.py`` checks that the README's block is exactly what this file renders.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rsft.study.demo import findings_record, rewrite_readme

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study_dir", type=Path, help="the demo's study folder (rsft-demo/full)")
    args = ap.parse_args()
    record = findings_record(args.study_dir)
    (ROOT / "docs" / "demo-findings.json").write_text(json.dumps(record, indent=2) + "\n")
    rewrite_readme(ROOT / "README.md", record)
    for f in record["findings"]:
        print(f"{f['verdict']:>20}  {f['question']}")


if __name__ == "__main__":
    main()
