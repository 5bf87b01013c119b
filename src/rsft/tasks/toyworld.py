"""The toy world of the embedded default: the pretraining mixture for toy bases and the tokenizer corpus.

``toy_mixture`` mixes the toy tasks evenly (safety refusals included) into SFT rows; Countdown is left out by
default because it is the SFT domain whose transfer the demo measures (pass ``tasks=(..., "countdown")`` to add
it; its terse, 3-number, short-prompt form is used). Rows are interleaved round-robin over tasks, so any prefix is
balanced.
"""

from __future__ import annotations

from typing import Any

from rsft.core import SFTRow
from rsft.tasks.registry import get_task
from rsft.tasks.rows import task_rows as build_rows

TOY_TASKS = ("toy_arith", "toy_sort", "toy_mcq", "toy_instruct", "toy_safety")

# Countdown inside the toy world: 2 or 3 numbers up to 12, targets up to 40, the short prompt and a terse trace
# with one backtrack. Two-number items (one operation to find) are within reach of a sub-million-parameter model
# after a short SFT, three-number ones (two operations) mostly are not: a difficulty mix that leaves the in-domain
# score room to rise from a base that never saw Countdown solving.
TOY_COUNTDOWN_SETTINGS: dict[str, Any] = {
    "min_numbers": 2,
    "max_numbers": 3,
    "num_max": 12,
    "target_max": 40,
    "prompt_style": "short",
}
TOY_COUNTDOWN_STYLE: dict[str, Any] = {"verbosity": 0, "max_backtracks": 1}


def task_rows(name: str, n: int, seed: int, *, style: str = "cot", **settings: Any) -> list[SFTRow]:
    """``n`` SFT rows of one task (Countdown in its toy form), the sample kept in ``metadata`` for verification."""
    extra: dict[str, Any] = {}
    if name == "countdown":
        settings = {**TOY_COUNTDOWN_SETTINGS, **settings}
        extra = dict(TOY_COUNTDOWN_STYLE)
    return build_rows(
        get_task(name), n, seed, settings=settings, style={"style": style, **extra}, verify=False
    )


def toy_mixture(
    n_per_task: int, seed: int, tasks: tuple[str, ...] = TOY_TASKS, style: str = "cot"
) -> list[SFTRow]:
    """The pretraining mixture for toy bases: ``n_per_task`` rows of each task, interleaved round-robin.

    Args:
        n_per_task: rows per task.
        seed: generator seed (each task draws its own stream from it).
        tasks: registered task names.
        style: ``cot`` (short ``<think>`` traces) or ``nocot``.
    """
    per_task = [task_rows(t, n_per_task, seed, style=style) for t in tasks]
    return [rows[i] for i in range(n_per_task) for rows in per_task]


def tokenizer_corpus(seed: int = 0, n_per_task: int = 200) -> list[str]:
    """Texts covering every toy task and Countdown (prompts and cot/nocot responses), for ``build_tokenizer``."""
    texts: list[str] = []
    for style in ("cot", "nocot"):
        for row in toy_mixture(n_per_task, seed, (*TOY_TASKS, "countdown"), style=style):
            texts.append(row.messages[0]["content"])
            texts.append(row.response)
    cd = get_task("countdown")
    for s in cd.generate(20, seed):
        texts.append(s.prompt)
        texts.append(cd.response(s, verbosity=1))
    return texts
