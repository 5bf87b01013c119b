"""The two halves of a tested program: the program's own process and the tests' process.

A code benchmark's tests used to run in the same interpreter as the program they test, so whatever ended that
interpreter with status 0 passed (``sys.exit(0)``, ``os._exit(0)``, a patched ``AssertionError``, a redefined
``check``, an object whose ``==`` is always true). Here they are two processes:

* **program** (``python _harness.py program``, the sandbox uid): runs the untrusted source as a module, then serves
  requests from the tests on a pipe: call this, read that attribute, iterate this. Every value it sends back is
  *plain data* — ``None``, ``bool``, ``int``, ``float``, ``complex``, ``str``, ``bytes``, ``list``, ``tuple``,
  ``dict``, ``set``, ``frozenset`` (and ``OrderedDict``, ``Counter``, ``deque``, ``Fraction``, ``Decimal``), built
  from the object's raw contents with the base types' own methods, so no method the program defines runs on the
  other side. Anything else (a class, a function, an instance of its own class) travels as an opaque reference.
* **tests** (``python _harness.py tests``, another uid, not dumpable): reads the test code and a per-run secret from
  a descriptor the runner opened (unlinked, never on a path the program can reach), runs the test code with the
  program's exported top-level names (all, or the benchmark's list: the function under test and its classes)
  bound to references, builtins and standard-library modules its own, and writes the verdict, signed with the
  secret (HMAC-SHA256), to a descriptor only it holds. Comparisons, truth tests and hashing of a reference raise :class:`NonPlainValue`: a
  result the tests can only judge by calling the program's own ``__eq__`` or ``__bool__`` fails.

The runner trusts only a signed verdict. Whatever the program does — exit 0 early, kill the tests, print a marker,
write garbage on the pipe — the tests either finish with all assertions passing on plain values, or there is no
signed "passed" verdict.

Imports here are standard library only: this file runs as a script under ``python -I``.
"""

from __future__ import annotations

import builtins
import collections
import json
import os
import sys

MAX_MESSAGE = 64 << 20  # a message longer than this on the pipe fails the tests
MAX_DEPTH = 200
PR_SET_DUMPABLE = 4
_TYPES = {
    t.__name__: t
    for t in (int, float, complex, str, bytes, bool, list, tuple, dict, set, frozenset, type(None), object)
}


class NonPlainValue(TypeError):
    """The tests compared, tested or hashed something that is not plain data (the program's own object)."""


class ProgramGone(RuntimeError):
    """The program's process ended or broke the protocol before the tests finished."""


# ---------------------------------------------------------------------------------------------------------------
# encoding: plain data as tagged JSON (ints in hex, so no digit limit applies), references as ["r", id, type]


def encode(value, refs=None, depth=0):
    """Tagged-JSON form of ``value``; a non-plain value becomes a reference via ``refs(value)`` (or raises)."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    d = depth + 1
    t = type(value)
    if value is None or t is bool:
        return value
    if isinstance(value, int):
        return ["i", hex(int.__int__(value))]
    if isinstance(value, float):
        return ["f", float.__float__(value)]
    if isinstance(value, str):
        return ["s", str.__str__(value)]
    if isinstance(value, (bytes, bytearray)):
        return ["b", bytes(value).hex()]
    if isinstance(value, complex):
        c = complex.__complex__(value)
        return ["c", c.real, c.imag]
    if t is collections.OrderedDict or t is collections.Counter:
        tag = "od" if t is collections.OrderedDict else "ctr"
        return [tag, [[encode(k, refs, d), encode(v, refs, d)] for k, v in dict.items(value)]]
    if t is collections.deque:
        return ["dq", [encode(x, refs, d) for x in value]]
    if isinstance(value, dict):
        return ["d", [[encode(k, refs, d), encode(v, refs, d)] for k, v in dict.items(value)]]
    if isinstance(value, list):
        return ["l", [encode(x, refs, d) for x in list.__iter__(value)]]
    if isinstance(value, tuple):
        return ["t", [encode(x, refs, d) for x in tuple.__iter__(value)]]
    if isinstance(value, (set, frozenset)):
        base = set if isinstance(value, set) else frozenset
        return ["fs" if base is frozenset else "set", [encode(x, refs, d) for x in base.__iter__(value)]]
    # Fraction and Decimal can only exist when their module was imported: no import here for the others' sake
    if t is getattr(sys.modules.get("fractions"), "Fraction", None):
        return ["frac", hex(int.__int__(value.numerator)), hex(int.__int__(value.denominator))]
    if t is getattr(sys.modules.get("decimal"), "Decimal", None):
        return ["dec", str.__str__(str(value))]
    if isinstance(value, type) and _TYPES.get(value.__name__) is value:
        return ["type", value.__name__]
    if t.__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return encode(value.item(), refs, d)  # a numpy scalar: its Python value
    if refs is None:
        raise NonPlainValue(f"cannot pass a {t.__name__} to the program: only plain values cross")
    return refs(value)


def decode(obj, ref):
    """Inverse of :func:`encode`; ``ref(id, type_name)`` builds whatever a reference becomes on this side."""
    if obj is None or obj is True or obj is False:
        return obj
    if not isinstance(obj, list) or not obj or not isinstance(obj[0], str):
        raise ProgramGone(f"malformed value on the pipe: {str(obj)[:80]}")
    tag, *rest = obj
    if tag == "i":
        return int(rest[0], 16)
    if tag == "f":
        return float(rest[0])
    if tag == "s":
        return str(rest[0])
    if tag == "b":
        return bytes.fromhex(rest[0])
    if tag == "c":
        return complex(float(rest[0]), float(rest[1]))
    if tag in ("l", "t", "set", "fs", "dq"):
        items = [decode(x, ref) for x in rest[0]]
        return {"l": list, "t": tuple, "set": set, "fs": frozenset, "dq": collections.deque}[tag](items)
    if tag in ("d", "od", "ctr"):
        pairs = dict((decode(k, ref), decode(v, ref)) for k, v in rest[0])
        return {"d": dict, "od": collections.OrderedDict, "ctr": collections.Counter}[tag](pairs)
    if tag == "frac":
        import fractions

        return fractions.Fraction(int(rest[0], 16), int(rest[1], 16))
    if tag == "dec":
        import decimal

        return decimal.Decimal(rest[0])
    if tag == "type":
        return _TYPES[rest[0]]
    if tag == "r":
        return ref(int(rest[0]), str(rest[1]))
    raise ProgramGone(f"unknown tag {tag!r} on the pipe")


class _Channel:
    """Newline-delimited JSON over two pipe descriptors."""

    def __init__(self, rfd: int, wfd: int) -> None:
        self.r = os.fdopen(rfd, "rb", buffering=1 << 16)
        self.w = os.fdopen(wfd, "wb", buffering=0)

    def send(self, msg) -> None:
        self.w.write(json.dumps(msg, allow_nan=True).encode() + b"\n")

    def recv(self):
        line = self.r.readline(MAX_MESSAGE + 1)
        if not line:
            raise ProgramGone("the program's process ended before the tests finished")
        if len(line) > MAX_MESSAGE or not line.endswith(b"\n"):
            raise ProgramGone("oversized message from the program")
        try:
            return json.loads(line)
        except ValueError:
            raise ProgramGone("garbage on the pipe from the program") from None


# ---------------------------------------------------------------------------------------------------------------
# the program's side


def _describe(e: BaseException) -> list:
    return [type(e).__name__, str(e)[:500]]


def program_main(rfd: int, wfd: int, path: str, module_name: str) -> None:
    """Run the program's source as a module, then answer the tests' requests until the pipe closes."""
    chan = _Channel(rfd, wfd)
    table: dict[int, object] = {}

    def ref(value) -> list:
        table[id(value)] = value
        return ["r", id(value), type(value).__name__]

    def arg(x):
        return decode(x, lambda i, _t: table[i])

    g = {"__name__": module_name, "__builtins__": builtins}
    try:
        with open(path, encoding="utf-8") as f:
            code = compile(f.read(), path, "exec")
        exec(code, g)
    except BaseException as e:  # noqa: BLE001 - any failure of the program is reported to the tests
        chan.send({"import_error": _describe(e)})
        return
    names = {}
    for k, v in list(g.items()):
        if not k.startswith("__"):
            names[k] = encode(v, ref)
    chan.send({"ready": names})
    while True:
        try:
            req = chan.recv()
        except ProgramGone:
            return
        try:
            target = table[req["ref"]] if "ref" in req else None
            op = req["op"]
            if op == "call":
                args = [arg(a) for a in req["args"]]
                kwargs = {k: arg(v) for k, v in req["kwargs"]}
                out = target(*args, **kwargs)
            elif op == "getattr":
                out = getattr(target, req["name"])
            elif op == "setattr":
                setattr(target, req["name"], arg(req["value"]))
                out = None
            elif op == "getitem":
                out = target[arg(req["key"])]
            elif op == "len":
                out = len(target)
            elif op == "iter":
                out = iter(target)
            elif op == "next":
                out = next(target)
            else:
                raise ValueError(f"unknown op {op}")
            reply = {"ok": encode(out, ref)}
        except BaseException as e:  # noqa: BLE001 - SystemExit from a called function included
            reply = {"raise": _describe(e)}
        chan.send(reply)


# ---------------------------------------------------------------------------------------------------------------
# the tests' side


class Remote:
    """A reference to one of the program's objects. Calls, attributes, items, ``len`` and iteration are forwarded;
    comparing, truth-testing or hashing it raises :class:`NonPlainValue`."""

    __slots__ = ("_ch", "_id", "_type")

    def __init__(self, ch, ident: int, type_name: str) -> None:
        object.__setattr__(self, "_ch", ch)
        object.__setattr__(self, "_id", ident)
        object.__setattr__(self, "_type", type_name)

    def _ask(self, op: str, **kw):
        return object.__getattribute__(self, "_ch").ask(op, object.__getattribute__(self, "_id"), **kw)

    def __call__(self, *args, **kwargs):
        ch = object.__getattribute__(self, "_ch")
        return self._ask(
            "call", args=[ch.enc(a) for a in args], kwargs=[[k, ch.enc(v)] for k, v in kwargs.items()]
        )

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._ask("getattr", name=name)

    def __setattr__(self, name: str, value) -> None:
        self._ask("setattr", name=name, value=object.__getattribute__(self, "_ch").enc(value))

    def __getitem__(self, key):
        return self._ask("getitem", key=object.__getattribute__(self, "_ch").enc(key))

    def __len__(self) -> int:
        return self._ask("len")

    def __iter__(self):
        it = self._ask("iter")
        if not isinstance(it, Remote):
            raise ProgramGone("iter() of a program object returned plain data")
        while True:
            try:
                value = it._ask("next")
            except StopIteration:
                return
            yield value

    def _refuse(self, *_a):
        raise NonPlainValue(
            f"the program returned a {object.__getattribute__(self, '_type')}, not plain data: rsft compares only "
            "builtin values (see docs/reliability.md)"
        )

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = __hash__ = _refuse  # type: ignore[assignment]
    __contains__ = __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse  # type: ignore[assignment]
    __truediv__ = __floordiv__ = __mod__ = __neg__ = __abs__ = __float__ = __int__ = __index__ = _refuse

    def __repr__(self) -> str:
        return f"<program's {object.__getattribute__(self, '_type')}>"


class _TestsChannel(_Channel):
    def enc(self, value):
        def ref(v):
            if isinstance(v, Remote):
                return ["r", object.__getattribute__(v, "_id"), ""]
            raise NonPlainValue(f"cannot pass a {type(v).__name__} to the program: only plain values cross")

        return encode(value, ref)

    def dec(self, obj):
        return decode(obj, lambda i, t: Remote(self, i, t))

    def ask(self, op: str, ident: int, **kw):
        self.send({"op": op, "ref": ident, **kw})
        reply = self.recv()
        if not isinstance(reply, dict):
            raise ProgramGone("malformed reply from the program")
        if "raise" in reply:
            name, message = reply["raise"]
            exc = getattr(builtins, str(name), None)
            if isinstance(exc, type) and issubclass(exc, Exception) and exc is not NonPlainValue:
                raise exc(message)
            raise RuntimeError(f"the program raised {name}: {message}")
        if "ok" not in reply:
            raise ProgramGone("malformed reply from the program")
        return self.dec(reply["ok"])


def _set_not_dumpable() -> None:
    """Nobody but root may ptrace this process or open its /proc/PID/{mem,fd}."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def tests_main(setup_fd: int, verdict_fd: int, ready_fd: int, rfd: int, wfd: int) -> None:
    """Read the tests and the secret, let the runner start the program, run the tests, sign the verdict."""
    import hashlib
    import hmac

    _set_not_dumpable()
    with os.fdopen(setup_fd, "rb") as f:
        setup = json.loads(f.read())
    key = bytes.fromhex(setup["secret"])
    os.write(ready_fd, b"1")
    os.close(ready_fd)
    verdict_out = os.fdopen(verdict_fd, "wb", buffering=0)
    chan = _TestsChannel(rfd, wfd)
    try:
        verdict = _run_tests(chan, setup["tests"], setup.get("exports"))
    except BaseException as e:  # noqa: BLE001 - whatever happens, the verdict is "failed" with the reason
        verdict = {"passed": False, "reason": f"{type(e).__name__}: {str(e)[:500]}"}
    payload = json.dumps(verdict, sort_keys=True).encode()
    mac = hmac.new(key, payload, hashlib.sha256).hexdigest()
    verdict_out.write(json.dumps({"verdict": verdict, "mac": mac}).encode() + b"\n")
    verdict_out.close()


def _run_tests(chan: _TestsChannel, tests: str, exports: list[str] | None) -> dict:
    first = chan.recv()
    if not isinstance(first, dict):
        raise ProgramGone("malformed first message from the program")
    if "import_error" in first:
        name, message = first["import_error"]
        return {"passed": False, "reason": f"the program raised {name} before the tests ran: {message}"}
    if not isinstance(first.get("ready"), dict):
        raise ProgramGone("malformed first message from the program")
    g = {"__name__": "__rsft_tests__", "__builtins__": builtins}
    for name, value in first["ready"].items():
        if exports is None or name in exports:
            g[str(name)] = chan.dec(value)
    _real_modules(g, tests)
    exec(compile(tests, "<tests>", "exec"), g)
    return {"passed": True, "reason": "all tests ran and passed"}


def _real_modules(g: dict, tests: str) -> None:
    """Standard-library modules the tests use by name (``math.isclose``, ``sys.getsizeof``) are this process's
    own, never the program's: a name bound to one of the program's modules, or left unbound (the tests relied on
    the solution's ``import``), gets the real module. A program's own function or class of that name stays."""
    import importlib
    import io
    import tokenize

    try:
        names = {
            t.string for t in tokenize.generate_tokens(io.StringIO(tests).readline) if t.type == tokenize.NAME
        }
    except (tokenize.TokenError, SyntaxError):
        return
    for name in names & set(sys.stdlib_module_names):
        current = g.get(name)
        if current is None or (
            isinstance(current, Remote) and object.__getattribute__(current, "_type") == "module"
        ):
            try:
                g[name] = importlib.import_module(name)
            except ImportError:
                g.pop(name, None)


def main() -> None:
    role, *fds = sys.argv[1:]
    if role == "program":
        program_main(int(fds[0]), int(fds[1]), fds[2], fds[3])
    elif role == "tests":
        tests_main(*(int(x) for x in fds))
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main()
