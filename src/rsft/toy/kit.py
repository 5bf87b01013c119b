"""Tiny model kit, used by the tests and the embedded demo.

``build_tokenizer`` trains a byte-level BPE tokenizer with ``tokenizers`` (digits split one per token, as Qwen
does, so toy arithmetic is learnable) and attaches a Qwen3-style chat template that supports ``<think>`` and carries
``{% generation %}`` markers (so ``return_assistant_tokens_mask`` works). ``tiny_qwen3`` builds a randomly
initialised ``Qwen3ForCausalLM`` for it. Both save and load with ``save_pretrained``/``from_pretrained`` offline.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Qwen3-style: <|im_start|>role\n...<|im_end|>\n; the assistant turn is wrapped in generation markers so
# transformers can return an assistant-token mask. `enable_thinking=False` pre-fills an empty thinking block, as
# Qwen3's own template does.
QWEN3_STYLE_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{% generation %}{{- message['content'] + '<|im_end|>' -}}{% endgeneration %}"
    "{{- '\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}{{- '<think>\\n\\n</think>\\n\\n' -}}{%- endif -%}"
    "{%- endif -%}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
THINK_TOKENS = ["<think>", "</think>"]

_BASE_CORPUS = [
    string.printable,
    "Let me think step by step. Wait, let me re-check. Alternatively, try another way. The answer is 42.",
    "I can't help with that request. Sure, here is the answer: sorted list [1, 2, 3].",
]


def build_tokenizer(
    corpus: Iterable[str] = (), *, vocab_size: int = 512, out_dir: str | Path | None = None
) -> Any:
    """Train a byte-level BPE tokenizer on ``corpus`` and wrap it as a fast tokenizer with the chat template.

    Args:
        corpus: training texts (the toy task responses, for example); a small built-in corpus is always added.
        vocab_size: target vocabulary size, special tokens included.
        out_dir: when given, ``save_pretrained`` there.

    Returns:
        A ``PreTrainedTokenizerFast`` with eos ``<|im_end|>``, pad ``<|endoftext|>`` and the chat template.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS + THINK_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = list(_BASE_CORPUS) + list(corpus)
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = QWEN3_STYLE_TEMPLATE
    fast.padding_side = "left"
    if out_dir is not None:
        fast.save_pretrained(str(out_dir))
    return fast


SIZES: dict[str, dict[str, int]] = {
    # name: (hidden, layers, heads, kv_heads, intermediate); ~0.1M / ~1M / ~4M parameters at vocab 512
    "micro": dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=64,
    ),
    "1m": dict(
        hidden_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=384,
    ),
    "4m": dict(
        hidden_size=256,
        num_hidden_layers=5,
        num_attention_heads=8,
        num_key_value_heads=4,
        intermediate_size=768,
    ),
}


def tiny_qwen3(
    tokenizer: Any,
    size: str = "micro",
    *,
    seed: int = 0,
    max_position_embeddings: int = 4096,
    out_dir: str | Path | None = None,
    **overrides: Any,
) -> Any:
    """A randomly initialised ``Qwen3ForCausalLM`` sized for ``tokenizer`` (fp32, tied embeddings).

    Args:
        tokenizer: the tokenizer it is paired with (vocab size and special ids are read from it).
        size: one of :data:`SIZES`.
        seed: initialisation seed.
        out_dir: when given, save model and tokenizer there.
        **overrides: any ``Qwen3Config`` field.
    """
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    shape = dict(SIZES[size])
    shape.update(overrides)
    heads = shape["num_attention_heads"]
    cfg = Qwen3Config(
        vocab_size=len(tokenizer),
        head_dim=shape.pop("head_dim", shape["hidden_size"] // heads),
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        rope_theta=10000.0,
        **shape,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen3ForCausalLM(cfg)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    if out_dir is not None:
        model.save_pretrained(str(out_dir))
        tokenizer.save_pretrained(str(out_dir))
    return model
