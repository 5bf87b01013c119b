"""Live progress (a ``progress`` callback) and metrics (``metrics.jsonl``, optional TensorBoard / W&B via accelerate)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rsft._util.progress import Progress, Say, quiet


class Monitor:
    """Writes one JSON line per optimizer step and reports tokens/s, loss and lr (main process only)."""

    def __init__(
        self,
        run_dir: Path,
        *,
        total: int,
        start: int,
        main: bool,
        progress: Progress | None = None,
        say: Say = quiet,
        accelerator: Any = None,
        trackers: bool = False,
        log_every: int = 1,
    ) -> None:
        self.path = run_dir / "metrics.jsonl"
        self.main = main
        self.accelerator = accelerator if trackers else None
        self.log_every = log_every
        self.t0 = time.perf_counter()
        self.c0 = time.process_time()
        self.start = start
        self.total = total
        self.tokens = 0
        self.say = say
        self.label = f"train {run_dir.name}"
        self.progress = progress if main and progress else None
        if self.progress is not None:
            self.progress(self.label, start, total, "")

    def log(self, rec: dict[str, Any]) -> None:
        """Record one step's metrics; ``rec`` needs ``step``, ``loss``, ``lr`` and ``tokens``."""
        last = rec.pop("last", False)
        self.tokens += rec["tokens"]
        elapsed = time.perf_counter() - self.t0
        rec["tokens_per_s"] = round(self.tokens / elapsed, 2) if elapsed > 0 else None
        rec["elapsed_s"] = round(elapsed, 3)
        rec["cpu_s"] = round(time.process_time() - self.c0, 3)  # all threads of this process
        if self.main:
            with self.path.open("a") as f:
                f.write(json.dumps(rec) + "\n")
        if self.accelerator is not None:
            self.accelerator.log(
                {k: v for k, v in rec.items() if isinstance(v, int | float)}, step=rec["step"]
            )
        if self.progress is not None:
            info = f"loss {rec['loss']:.4f}  lr {rec['lr']:.2e}  {rec['tokens_per_s'] or 0:,.0f} tok/s"
            done = rec["step"] - self.start
            if done % self.log_every == 0 or last:
                self.progress(self.label, rec["step"], self.total, info)

    def note(self, text: str) -> None:
        if self.main:
            self.say(text)

    def close(self) -> None:
        self.progress = None
