"""Screenshot the first screen of an rsft report (the four questions) as a PNG, with headless Chromium.

Run from the repository root after a demo:

    rsft demo && python docs/screenshot_report.py rsft-demo/full/report.html docs/report-first-screen.png

Options: ``--width`` (default 1400 px, the width the layout test checks) and ``--height`` (default 1250 px: the
title, the four answer cards and the run key). Needs ``chromium`` (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update"]  # fmt: skip


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        sys.exit("chromium is not installed (apt-get install chromium)")
    return exe


def screenshot(html: Path, png: Path, width: int = 1400, height: int = 1250) -> Path:
    """Write a ``width`` x ``height`` PNG of the top of ``html``; returns ``png``."""
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        cmd = [chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={png.resolve()}", html.resolve().as_uri()]  # fmt: skip
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if not png.is_file():
        sys.exit(f"chromium wrote no screenshot: {res.stderr[-1000:]}")
    return png


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("html", type=Path)
    ap.add_argument("png", type=Path)
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=1250)
    args = ap.parse_args()
    print(screenshot(args.html, args.png, args.width, args.height))


if __name__ == "__main__":
    main()
