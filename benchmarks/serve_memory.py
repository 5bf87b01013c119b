"""Peak memory of a real ``rsft serve`` before and after one huge chat body, from a real client.

    python benchmarks/serve_memory.py [--src SRC] [--mib 15] [--limit-gb 4] [--wait-s 120]

Starts ``rsft serve`` (the code under ``--src``, default this checkout's ``src``) on the shipped
``toy/bases/small`` model on 127.0.0.1 with ``--device cpu``, sends one chat request whose single message is
``Sort 5 3 9 1 `` repeated to ``--mib`` MiB, and prints one JSON line: the HTTP status line, seconds to the answer,
and the server's peak resident memory (``VmHWM`` of ``/proc/PID/status``) before and after. A watchdog samples
``VmRSS`` every 50 ms and kills the server above ``--limit-gb`` (the code before issue 23 grew past 4 GiB).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=str(ROOT / "src"))
    ap.add_argument("--mib", type=float, default=15.0)
    ap.add_argument("--limit-gb", type=float, default=4.0)
    ap.add_argument("--wait-s", type=float, default=120.0)
    a = ap.parse_args()
    model = ROOT / "src" / "rsft" / "toy" / "bases" / "small"
    env = {**os.environ, "PYTHONPATH": a.src, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "rsft.cli.main", "serve", str(model), "--port", "0", "--device", "cpu"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = int(re.search(r":(\d+)/v1", proc.stdout.readline()).group(1))

    def kib(field: str) -> int:
        text = Path(f"/proc/{proc.pid}/status").read_text()
        return int(re.search(field + r":\s+(\d+) kB", text).group(1))

    with socket.create_connection(("127.0.0.1", port)) as s:  # one answered request: the server is warm
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(4096)
    before = kib("VmHWM")
    peak, killed, done = [before], [False], threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                rss = kib("VmRSS")
            except (OSError, AttributeError):
                return
            peak[0] = max(peak[0], rss)
            if rss > a.limit_gb * (1 << 20):
                killed[0] = True
                proc.kill()
                return
            time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()
    content = "Sort 5 3 9 1 " * int(a.mib * (1 << 20) / 13)
    body = json.dumps({"messages": [{"role": "user", "content": content}], "max_tokens": 2}).encode()
    t0 = time.time()
    with socket.create_connection(("127.0.0.1", port), timeout=a.wait_s) as s:
        head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
        s.sendall(head.encode() + body)
        try:
            answer = s.recv(300).split(b"\r\n")[0].decode() or "closed without an answer"
        except OSError as e:
            answer = f"no answer ({type(e).__name__})"
    seconds = time.time() - t0
    try:
        after = kib("VmHWM")
    except (OSError, AttributeError):
        after = peak[0]
    done.set()
    proc.kill()
    print(json.dumps({
        "src": a.src, "body_bytes": len(body), "answer": answer, "seconds": round(seconds, 1),
        "killed_over_gb": a.limit_gb if killed[0] else None,
        "peak_rss_before_mib": round(before / 1024), "peak_rss_after_mib": round(max(after, peak[0]) / 1024),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
