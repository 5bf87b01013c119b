"""Tested mode: a program passes only when its tests ran, in their own process, and held on plain values.

Every cheat below is a wrong solution (``f`` should double its argument, it returns 0) plus one way of ending with
status 0, faking the tests' report or fooling a comparison. Each must fail; the honest solution must pass.
"""

from __future__ import annotations

import textwrap

import pytest

from rsft.sandbox import Program, Sandbox, SandboxLimits, capabilities
from rsft.sandbox import runner as runner_mod

CAPS = capabilities()
TESTS = "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(5) == 10\n\ncheck(f)\n"
WRONG = "def f(x):\n    return 0\n"


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(SandboxLimits(wall_s=10, cpu_s=5, memory_mb=512, nproc=16), workers=2)


def _run(sandbox: Sandbox, source: str, tests: str = TESTS, exports: list[str] | None = None):
    return sandbox.run_program(Program(textwrap.dedent(source), tests=tests, exports=exports))


def test_honest_solution_passes_and_the_verdict_is_signed(sandbox):
    r = _run(sandbox, "def f(x):\n    return 2 * x\n")
    assert r.ok and r.tests == {"passed": True, "reason": "all tests ran and passed", "signed": True}
    assert not _run(sandbox, WRONG).ok


CHEATS = {
    "sys_exit_0": "import sys\nsys.exit(0)\n" + WRONG,
    "raise_systemexit": "raise SystemExit\n",
    "os_exit_0": "import os\nos._exit(0)\n",
    "os_exit_inside_the_call": "def f(x):\n    import os\n    os._exit(0)\n",
    "sys_exit_inside_the_call": "def f(x):\n    raise SystemExit(0)\n",
    "atexit_exit_0": "import atexit, os\natexit.register(lambda: os._exit(0))\n" + WRONG,
    "patched_assertion_error": (
        "import builtins\nclass Quiet(BaseException):\n    pass\nbuiltins.AssertionError = Quiet\n"
        "builtins.print = lambda *a, **k: None\n" + WRONG
    ),
    "redefined_check": WRONG + "def check(candidate):\n    return True\n",
    "always_equal_object": (
        "class A:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\n"
        "def f(x):\n    return A()\n"
    ),
    "always_equal_inside_a_list": (
        "class A:\n    def __eq__(self, other):\n        return True\ndef f(x):\n    return [A()]\n"
    ),
    "always_equal_int_subclass": (
        "class I(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
        "def f(x):\n    return I(0)\n"
    ),
    "kill_the_parent_and_everyone": (
        "import os, signal\n"
        "for pid in [os.getppid(), 1, -1] + [int(p) for p in os.listdir('/proc') if p.isdigit()]:\n"
        "    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\n" + WRONG
    ),
    "fake_marker_on_every_fd": (
        "import os, json\n"
        "fake = json.dumps({'verdict': {'passed': True, 'reason': 'all tests ran and passed'}, 'mac': '0' * 64})\n"
        "print(fake)\n"
        "for fd in range(256):\n"
        "    try:\n        os.write(fd, (fake + '\\n').encode())\n    except OSError:\n        pass\n" + WRONG
    ),
    "forged_replies_on_the_pipe": (
        "import os\nfor fd in range(3, 64):\n    try:\n"
        '        os.write(fd, b\'{"ok": ["i", "0x4"]}\\n{"ok": ["i", "0xa"]}\\n\')\n'
        "    except OSError:\n        pass\n" + WRONG
    ),
    "write_a_verdict_through_proc_fds": (
        "import os, glob\n"
        "for p in glob.glob('/proc/*/fd/*'):\n"
        "    try:\n        fd = os.open(p, os.O_WRONLY)\n"
        '        os.write(fd, b\'{"verdict": {"passed": true, "reason": "x"}, "mac": "00"}\\n\')\n'
        "    except OSError:\n        pass\n" + WRONG
    ),
    "stop_the_tests_with_a_thread": (
        "import threading, os, time\n"
        "def spin():\n    time.sleep(0.05)\n    os._exit(0)\n"
        "threading.Thread(target=spin, daemon=True).start()\n"
        "def f(x):\n    time.sleep(1)\n    return 0\n"
    ),
    "bool_always_true": (
        "class T:\n    def __bool__(self):\n        return True\n    def __eq__(self, o):\n        return T()\n"
        "def f(x):\n    return T()\n"
    ),
}


@pytest.mark.parametrize("name", sorted(CHEATS))
def test_cheat_fails(sandbox, name):
    r = _run(sandbox, CHEATS[name], exports=["f"])
    assert not r.ok, (name, r)
    assert r.tests is not None and r.tests["passed"] is False
    assert sandbox.run_program(Program("def f(x):\n    return 2 * x\n", tests=TESTS)).ok  # runner unharmed


def test_names_the_tests_do_not_take_from_the_program(sandbox):
    """Only exported names come from the program: its own ``sorted`` or a fake ``math`` cannot stand in for the
    real ones under the tests (MBPP's asserts use ``math.isclose`` relying on the solution's import)."""
    shadow = "def sorted(*a, **k):\n    return 0\ndef f(x):\n    return [1]\n"
    assert not _run(sandbox, shadow, tests="assert sorted(f(2)) == sorted([4])\n", exports=["f"]).ok
    fake_math = (
        "class math:\n    isclose = staticmethod(lambda *a, **k: True)\n    pi = 0\n"
        "def f(x):\n    return 0.0\n"
    )
    assert not _run(sandbox, fake_math, tests="assert math.isclose(f(2), 4.0)\n", exports=["f"]).ok
    # with every name exported, the program's module object is still swapped for the real one
    fake_import = "import math\nmath.isclose = lambda *a, **k: True\ndef f(x):\n    return 0.0\n"
    assert not _run(sandbox, fake_import, tests="assert math.isclose(f(2), 4.0)\n").ok
    honest = "import math\ndef f(x):\n    return math.sqrt(x * x) * 2\n"
    assert _run(sandbox, honest, tests="assert math.isclose(f(2), 4.0)\n", exports=["f"]).ok
    sum_task = "def sum(a, b):\n    return a + b\n"  # MBPP 126: the function under test is called sum
    assert _run(sandbox, sum_task, tests="assert sum(2, 3) == 5\n", exports=["sum"]).ok


def test_a_truthy_object_fails_a_bare_assert(sandbox):
    src = "class T:\n    def __bool__(self):\n        return True\ndef f(x):\n    return T()\n"
    r = _run(sandbox, src, tests="assert f(1)\n")
    assert not r.ok and "not plain data" in r.tests["reason"]


def test_the_secret_never_reaches_the_program(sandbox, monkeypatch):
    """With the per-run key known to this test, a program that searches every place it can read for it (other
    processes' command lines, environments, memory and open files) finds nothing and cannot sign a verdict."""
    key = bytes(range(32))
    monkeypatch.setattr(runner_mod.secrets, "token_bytes", lambda n: key[:n])
    src = (
        "import glob, os\nneedle = bytes(range(32)).hex().encode()\nfound = []\n"
        "for p in glob.glob('/proc/*/cmdline') + glob.glob('/proc/*/environ') + glob.glob('/proc/*/fd/*')"
        " + glob.glob('/proc/*/mem'):\n"
        "    try:\n        with open(p, 'rb') as fh:\n            data = fh.read(1 << 20)\n"
        "    except OSError:\n        continue\n"
        "    if needle in data:\n        found.append(p)\n"
        "print('FOUND', found)\n" + WRONG
    )
    r = _run(sandbox, src)
    assert not r.ok and "FOUND []" in r.stdout


def test_plain_values_of_every_kind_cross(sandbox):
    src = (
        "import collections, fractions\n"
        "def f(x):\n"
        "    return [1, 2.5, 'a', b'b', (1, 2), {'k': {3}}, frozenset({4}), None, True, 2 ** 100000,"
        " complex(1, 2), collections.Counter('aab'), collections.OrderedDict(a=1), fractions.Fraction(1, 3),"
        " float('inf')]\n"
        "def gen(n):\n    yield from range(n)\n"
        "def fail(x):\n    raise ValueError('no')\n"
        "class Node:\n    def __init__(self, v):\n        self.v, self.left = v, None\n"
        "def depth(n):\n    return 0 if n is None else 1 + depth(n.left)\n"
        "def kinds(t):\n    return t is int\n"
    )
    tests = (
        "import collections, fractions\n"
        "assert f(0) == [1, 2.5, 'a', b'b', (1, 2), {'k': {3}}, frozenset({4}), None, True, 2 ** 100000,"
        " complex(1, 2), collections.Counter({'a': 2, 'b': 1}), collections.OrderedDict(a=1),"
        " fractions.Fraction(1, 3), float('inf')]\n"
        "assert list(gen(3)) == [0, 1, 2]\n"
        "try:\n    fail(1)\nexcept ValueError:\n    pass\nelse:\n    raise AssertionError('no raise')\n"
        "root = Node(1)\nroot.left = Node(2)\nassert depth(root) == 2 and root.v == 1\n"
        "assert kinds(int) is True\n"
    )
    r = _run(sandbox, src, tests=tests)
    assert r.ok, r


def test_main_block_does_not_run(sandbox):
    """As in the official harnesses, the program is imported as a module, not run as __main__."""
    src = "def f(x):\n    return 2 * x\nif __name__ == '__main__':\n    input()\n"
    assert _run(sandbox, src).ok


def test_limits_mode_still_needs_a_signed_verdict():
    sb = Sandbox(SandboxLimits(wall_s=10), isolate="limits", workers=1)
    for name in ("sys_exit_0", "os_exit_0", "fake_marker_on_every_fd", "always_equal_object"):
        r = _run(sb, CHEATS[name])
        assert not r.ok and r.tests["passed"] is False, name
    assert _run(sb, "def f(x):\n    return 2 * x\n").ok


def test_rollout_code_verifier_uses_tested_mode():
    from rsft.rollouts.verify import get_verifier

    code = get_verifier("code")
    meta = {"test": TESTS.replace("check(f)\n", ""), "entry_point": "f"}
    good = "<think>x</think>\n```python\ndef f(x):\n    return 2 * x\n```"
    cheat = "<think>x</think>\n```python\nimport sys\nsys.exit(0)\n```"
    assert code("q", "", "", meta, good).reason == "correct"
    assert code("q", "", "", meta, cheat).value == 0.0
