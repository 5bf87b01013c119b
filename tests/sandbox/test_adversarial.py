"""Hostile programs: each is contained, scored as a failure, and the runner goes on unharmed."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from rsft.sandbox import Sandbox, SandboxLimits, capabilities
from rsft.sandbox.runner import _uid_pids

CAPS = capabilities()
needs_root = pytest.mark.skipif(not CAPS["uid_drop"], reason="uid drop and namespaces need root")


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(SandboxLimits(wall_s=5, cpu_s=3, memory_mb=512, nproc=16, fsize_mb=1, output_bytes=4096))


def _healthy(sandbox: Sandbox) -> None:
    r = sandbox.run("print(sum(range(10)))")
    assert r.ok and r.stdout.strip() == "45"


def test_plain_program_runs_with_stdin(sandbox):
    r = sandbox.run("a, b = map(int, input().split())\nprint(a + b)", "2 3\n")
    assert r.ok and r.stdout == "5\n"
    assert r.isolation["netns"] == CAPS["netns"]


def test_failing_program_is_error(sandbox):
    r = sandbox.run("raise SystemExit(3)")
    assert r.status == "error" and r.returncode == 3


@needs_root
def test_fork_bomb_is_contained(sandbox):
    r = sandbox.run(
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    assert not r.ok
    assert r.isolation["uid"] is not None and _uid_pids(r.isolation["uid"]) == []
    _healthy(sandbox)


def test_memory_bomb_is_contained(sandbox):
    r = sandbox.run("x = bytearray(8 * 1024 ** 3)\nprint(len(x))")
    assert r.status == "memory_limit"
    r = sandbox.run("a = []\nwhile True:\n    a.append(' ' * 10 ** 7)\n")
    assert r.status == "memory_limit"
    _healthy(sandbox)


def test_infinite_loops_hit_cpu_or_wall_limit(sandbox):
    r = sandbox.run("while True:\n    pass\n")
    assert r.status in ("cpu_limit", "timeout") and r.seconds < 6
    r = sandbox.run("import time\ntime.sleep(100)\n", wall_s=1.0)
    assert r.status == "timeout" and r.seconds < 3
    _healthy(sandbox)


@pytest.mark.skipif(not CAPS["netns"], reason="network namespaces need root")
def test_network_access_fails(sandbox):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    src = (
        f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('connected')\n"
    )
    r = sandbox.run(src)
    r2 = sandbox.run("import urllib.request\nurllib.request.urlopen('http://example.com', timeout=2)\n")
    server.close()
    assert not r.ok and "connected" not in r.stdout and not accepted
    assert not r2.ok


@needs_root
def test_writing_outside_the_temp_dir_fails(sandbox, tmp_path):
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    targets = [
        open_dir / "pwned",
        Path("/etc/rsft_pwned"),
        Path.cwd() / "rsft_pwned",
        Path("/root/rsft_pwned"),
    ]
    src = f"import sys\nok = 0\nfor p in {[str(t) for t in targets]!r}:\n    try:\n        open(p, 'w').write('x'); ok += 1\n    except OSError:\n        pass\nsys.exit(0 if ok == {len(targets)} else 1)\n"
    r = sandbox.run(src)
    assert not r.ok
    assert not any(t.exists() for t in targets)
    r = sandbox.run("open('mine.txt', 'w').write('ok')\nprint(open('mine.txt').read())")
    assert r.ok and r.stdout.strip() == "ok"  # its own temp dir is writable


def test_environment_secrets_are_not_visible(sandbox, monkeypatch):
    secret = "rsft-test-secret-7f3a9"
    monkeypatch.setenv("RSFT_TEST_SECRET_TOKEN", secret)
    monkeypatch.setenv("HF_TOKEN", secret)
    src = (
        "import os, sys\nfound = [v for v in os.environ.values() if 'secret' in v]\n"
        "for p in ('/proc/%d/environ' % os.getppid(), '/proc/1/environ'):\n"
        "    try:\n        found.append(open(p, 'rb').read().decode('latin1'))\n    except OSError:\n        pass\n"
        "found = [f for f in found if 'rsft-test-secret' in f]\nprint(found)\nsys.exit(0 if found else 1)\n"
    )
    r = sandbox.run(src)
    assert not r.ok and secret not in r.stdout


@needs_root
def test_killing_the_parent_fails(sandbox):
    src = (
        "import os, signal\nfor f in (lambda: os.kill(os.getppid(), signal.SIGKILL), lambda: os.kill(1, 9),\n"
        "          lambda: os.killpg(os.getpgid(os.getppid()), 9), lambda: os.kill(-1, signal.SIGKILL)):\n"
        "    try:\n        f()\n    except OSError:\n        pass\nraise SystemExit(1)\n"
    )
    r = sandbox.run(src)
    assert not r.ok
    os.kill(os.getpid(), 0)  # still alive
    _healthy(sandbox)


def test_flooding_stdout_is_capped(sandbox):
    r = sandbox.run("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n")
    assert not r.ok and r.status == "output_limit"
    assert len(r.stdout) <= 4096 and r.truncated
    _healthy(sandbox)


@needs_root
def test_deleting_files_fails(sandbox, tmp_path):
    victim_dir = tmp_path / "victims"
    victim_dir.mkdir()
    victim_dir.chmod(0o777)
    victim = victim_dir / "precious.txt"
    victim.write_text("keep me")
    victim.chmod(0o666)
    repo_file = Path(__file__)
    src = (
        "import os, shutil, sys\nok = 0\n"
        f"for p in ({str(victim)!r}, {str(repo_file)!r}):\n"
        "    try:\n        os.remove(p); ok += 1\n    except OSError:\n        pass\n"
        f"shutil.rmtree({str(victim_dir)!r}, ignore_errors=True)\nsys.exit(0 if ok else 1)\n"
    )
    r = sandbox.run(src)
    assert not r.ok
    assert victim.read_text() == "keep me" and repo_file.exists()


def test_many_programs_in_parallel_keep_order():
    sb = Sandbox(SandboxLimits(wall_s=10), workers=2)
    from rsft.sandbox import Program

    res = sb.run_many([Program(f"print({i} * 2)") for i in range(8)])
    assert [r.stdout.strip() for r in res] == [str(i * 2) for i in range(8)]


def test_limits_only_mode_still_scrubs_env_and_caps_memory(monkeypatch):
    """What a non-root user gets: no uid drop or namespaces, but limits, timeout and a clean environment."""
    monkeypatch.setenv("RSFT_TEST_SECRET_TOKEN", "rsft-test-secret-limits")
    sb = Sandbox(SandboxLimits(wall_s=3, memory_mb=512), isolate="limits")
    r = sb.run("import os\nprint(sorted(os.environ))")
    assert (
        r.ok
        and "RSFT_TEST_SECRET_TOKEN" not in r.stdout
        and not any(r.isolation.values())
    )
    assert sb.run("x = bytearray(4 * 1024 ** 3)").status == "memory_limit"
    assert sb.run("import time\ntime.sleep(30)", wall_s=1).status == "timeout"
