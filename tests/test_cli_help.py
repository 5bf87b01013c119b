"""Every `--help` reads as written: each option and argument has a description, flags carry no type tag, no
default is shown as an internal name, and no text was eaten as markup."""

from __future__ import annotations

import re

import pytest

from rsft.cli.main import command


def _commands():
    out = []

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            out.append((" ".join(path), cmd))

    walk(command(), [])
    return out


COMMANDS = _commands()


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_option_and_argument_has_a_description(path, cmd):
    missing = [p.name for p in cmd.params if p.name != "help" and not (getattr(p, "help", None) or "").strip()]
    assert not missing, f"rsft {path}: no help text for {missing}"


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_help_text_reads_as_written(path, cmd, capsys):
    from rsft.cli.main import main

    with pytest.raises(SystemExit) as e:
        main([*path.split(), "--help"])
    assert e.value.code in (0, None)
    text = capsys.readouterr().out
    assert "Usage:" in text
    assert "<bool>" not in text  # a flag takes no value
    # a default is shown in user words, not as the constant that holds it (ROLLOUT_SAMPLING)
    defaults = re.findall(r"\[default: ([^\]]*)\]", " ".join(text.split()))
    assert not [d for d in defaults if re.search(r"\b[A-Z]+_[A-Z_]+\b", d)], (path, defaults)
    # "draw the count in [min, max] (default: max)" once lost its brackets to markup: "in  (default: max)"
    assert not [ln for ln in text.splitlines() if re.search(r"\S  \(|\(\)", ln)], f"rsft {path}: text was eaten"
    for p in cmd.params:  # each description is in the rendered help, as written
        h = " ".join((getattr(p, "help", None) or "").split())
        if h and p.name != "help":
            assert h.split()[0] in text, (path, p.name)
