"""The train/eval contract: how a prompt is rendered and how a response is split.

Training and evaluation both call :func:`render_prompt` with the same :class:`PromptFormat`, so the tokens a model
is trained to continue are exactly the tokens it is evaluated on. Training writes its format next to every
checkpoint (:data:`PROMPT_FILE`); evaluation uses it unless the suite sets its own. :func:`split_thinking`
separates ``<think>...</think>`` from the answer; an unclosed thinking block is *truncated*, its own outcome, and is
never parsed as an answer. Templates that open ``<think>`` in the prompt (DeepSeek-R1 distills) are handled by
:func:`prompt_opens_thinking` and :func:`align_response`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from rsft._util.errors import RsftError
from rsft.config import StrictModel

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
PROMPT_FILE = "rsft_prompt.json"  # the PromptFormat a checkpoint was trained with
_SENTINEL_SYS = "\u27e6rsft-system\u27e7"
_SENTINEL_USER = "\u27e6rsft-user\u27e7"


class PromptFormat(StrictModel):
    """How messages become prompt text, beyond the template itself.

    ``system_prompt``: ``model_default`` leaves the conversation as it is, so a template that injects a default
    system turn (Qwen2.5: "You are Qwen, created by Alibaba Cloud ...") keeps it; ``none`` adds nothing and removes
    such a default turn (what the paper's Qwen2.5 copies did); any other text is the system turn for
    conversations that carry none of their own (a conversation's own system message always wins: it is data).
    ``chat_template_kwargs`` go to the template as variables, e.g. ``{enable_thinking: false}`` for Qwen3.
    """

    system_prompt: str = Field("model_default", description="none | model_default | the system text itself")
    chat_template_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="template variables, e.g. {enable_thinking: false}"
    )


def read_prompt_format(model_dir: str | Path) -> PromptFormat | None:
    """The format recorded next to a checkpoint (``PROMPT_FILE``), or None."""
    p = Path(model_dir) / PROMPT_FILE
    if not p.is_file():
        return None
    return PromptFormat(**json.loads(p.read_text(encoding="utf-8")))


def write_prompt_format(model_dir: str | Path, fmt: PromptFormat) -> None:
    (Path(model_dir) / PROMPT_FILE).write_text(json.dumps(fmt.model_dump(mode="json"), sort_keys=True) + "\n")


def resolve_format(
    model_dir: str | Path | None, system_prompt: str | None, chat_template_kwargs: dict[str, Any] | None
) -> PromptFormat:
    """Explicit settings win; unset ones come from the checkpoint's recorded format, then the defaults."""
    recorded = (read_prompt_format(model_dir) if model_dir is not None else None) or PromptFormat()
    return PromptFormat(
        system_prompt=system_prompt if system_prompt is not None else recorded.system_prompt,
        chat_template_kwargs=(
            chat_template_kwargs if chat_template_kwargs is not None else recorded.chat_template_kwargs
        ),
    )


def _apply(tokenizer: Any, messages: list[dict[str, str]], kwargs: dict[str, Any], gen: bool = True) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen, **kwargs)


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def default_system_turn(tokenizer: Any, kwargs: dict[str, Any] | None = None) -> tuple[str, str]:
    """``(lead, turn)``: the text a template injects as its default system turn when a conversation has none
    (``("", "")`` when it injects nothing), and what precedes it (BOS).

    Found by rendering one user message with and without an explicit system message: the two renders differ
    only inside the system turn. The turn ends with the template's turn terminator — read off the user turn,
    which it closes the same way — and starts after the BOS text.

    Raises:
        RsftError: the template injects something that does not look like one system turn.
    """
    kwargs = kwargs or {}
    user = [{"role": "user", "content": _SENTINEL_USER}]
    plain = _apply(tokenizer, user, kwargs)
    given = _apply(tokenizer, [{"role": "system", "content": _SENTINEL_SYS}, *user], kwargs)
    if _SENTINEL_SYS not in given:
        return "", ""  # the template ignores system messages altogether
    head = _common_prefix(plain, given)
    tail = _common_prefix(plain[::-1], given[::-1])
    injected = plain[head : len(plain) - tail]
    if not injected:
        return "", ""
    closed = _apply(tokenizer, user, kwargs, gen=False)
    after_user = closed[closed.rindex(_SENTINEL_USER) + len(_SENTINEL_USER) :]
    bos = getattr(tokenizer, "bos_token", None) or ""
    lead = bos if bos and plain.startswith(bos) else ""
    end = plain.find(after_user, head + len(injected)) if after_user else -1
    if not after_user or end != head + len(injected):
        raise RsftError(
            f"cannot tell where the chat template's default system turn ends (it injects {injected[:60]!r})",
            field="system_prompt",
            fix="use system_prompt: model_default, or pass a chat_template without the default system turn",
        )
    return lead, plain[len(lead) : end + len(after_user)]


def render_prompt(tokenizer: Any, messages: list[dict[str, str]], fmt: PromptFormat | None = None) -> str:
    """The prompt text: the tokenizer's own chat template on ``messages`` with ``add_generation_prompt=True``,
    the system-prompt policy and the template variables of ``fmt``.

    Raises:
        RsftError: the tokenizer has no chat template (say how to pass one).
    """
    if not getattr(tokenizer, "chat_template", None):
        name = getattr(tokenizer, "name_or_path", "?")
        raise RsftError(
            f"tokenizer '{name}' has no chat template",
            field="chat_template",
            fix="pass `chat_template: PATH.jinja` in the config (or set tokenizer.chat_template), "
            "e.g. the instruct model's template for a base model",
        )
    fmt = fmt or PromptFormat()
    kwargs = dict(fmt.chat_template_kwargs)
    has_system = bool(messages) and messages[0].get("role") == "system"
    policy = fmt.system_prompt
    if policy not in ("none", "model_default") and not has_system:
        messages = [{"role": "system", "content": policy}, *messages]
    text = _apply(tokenizer, messages, kwargs)
    if policy == "none" and not has_system:
        lead, turn = default_system_turn(tokenizer, kwargs)
        if turn and text.startswith(lead + turn):
            text = lead + text[len(lead) + len(turn) :]
    return text


def prompt_ids(tokenizer: Any, messages: list[dict[str, str]], fmt: PromptFormat | None = None) -> list[int]:
    """Token ids of :func:`render_prompt` (no extra special tokens: the template carries them)."""
    return tokenizer(render_prompt(tokenizer, messages, fmt), add_special_tokens=False)["input_ids"]


def prompt_opens_thinking(prompt: str | None) -> bool:
    """True when the rendered prompt ends inside an open thinking block (its last ``<think>`` is not closed):
    the response starts inside the thinking and holds at most ``</think>``."""
    if not prompt:
        return False
    return prompt.rfind(THINK_OPEN) > prompt.rfind(THINK_CLOSE)


def prompt_closes_thinking(prompt: str) -> bool:
    """The generation prompt ends with an (empty) closed thinking block, e.g. Qwen3 with enable_thinking=false."""
    tail = prompt.rstrip()
    start = tail.rfind(THINK_OPEN)
    return (
        tail.endswith(THINK_CLOSE)
        and start != -1
        and not tail[start + len(THINK_OPEN) : -len(THINK_CLOSE)].strip()
    )


def align_response(prompt: str, response: str) -> str:
    """The training response as the model continues ``prompt``: when the prompt already opened ``<think>``, the
    response's own opening tag (and the newline after it) is dropped so the tag is not learned twice."""
    if prompt_opens_thinking(prompt):
        body = response.lstrip()
        if body.startswith(THINK_OPEN):
            rest = body[len(THINK_OPEN) :]
            opened = prompt[prompt.rfind(THINK_OPEN) + len(THINK_OPEN) :]
            return rest[1:] if opened.endswith("\n") and rest.startswith("\n") else rest
    return response


@dataclass(frozen=True)
class ThinkSplit:
    """A response split into thinking and answer.

    Attributes:
        thinking: text inside the thinking block ("" when there is none).
        answer: text after ``</think>`` (or the whole text when there is no thinking block); "" when truncated.
        has_thinking: a thinking block was opened.
        truncated: the thinking block was opened but never closed.
    """

    thinking: str
    answer: str
    has_thinking: bool
    truncated: bool


def split_thinking(text: str) -> ThinkSplit:
    """Split ``<think>…</think>`` from the answer.

    Some templates put ``<think>`` in the prompt, so a response may contain only the closing tag: everything before
    it is thinking. The *last* closing tag ends thinking (a model may mention the tag inside its reasoning).
    """
    close = text.rfind(THINK_CLOSE)
    open_ = text.find(THINK_OPEN)
    if close != -1:
        start = open_ + len(THINK_OPEN) if -1 < open_ < close else 0
        return ThinkSplit(text[start:close].strip(), text[close + len(THINK_CLOSE) :].strip(), True, False)
    if open_ != -1:
        return ThinkSplit(text[open_ + len(THINK_OPEN) :].strip(), "", True, True)
    return ThinkSplit("", text.strip(), False, False)
