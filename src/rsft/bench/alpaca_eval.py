"""AlpacaEval (805 instructions), scored by a reward model on the post-thinking answer: mean reward.

The reward model is any ``AutoModelForSequenceClassification`` with one output (default: the paper's
``allenai/Llama-3.1-8B-Instruct-RM-RB2``; ``reward_model`` option = hub id or local folder, ``reward_revision``
to pin the hub commit — the resolved commit is recorded in every record). The (instruction, answer) pair is
rendered with the reward model's chat template; its logit is the reward. The value is the raw reward (unbounded:
higher is better, not a probability); ``beats_reference`` says whether it beats the reward of the reference
output shipped with the instruction (AlpacaEval's own GPT-4 reference), giving a win rate as well. Rows carry
``score_scale = "reward"``: the analysis never averages the raw reward into the general domain; it turns each
response's reward into its win rate against the run's base checkpoint's responses to the same item.
Answers longer than ``max_length`` tokens are cut from the right and the cut is recorded.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from rsft.bench._loaders import require, rows_for, subset
from rsft.bench.base import Benchmark, SourceOptions
from rsft.tasks.base import Sample, ScoreRecord

DEFAULT_REWARD_MODEL = "allenai/Llama-3.1-8B-Instruct-RM-RB2"


class RewardModel:
    """A sequence-classification reward model, loaded on first use.

    Args:
        model: hub id or local folder.
        revision: hub commit (pin it for reproducible numbers).
        device: "auto" (CUDA when available), "cpu", "cuda:N".
        batch_size: pairs scored together.
        max_length: tokens per (instruction, answer) pair; longer ones are cut.
    """

    def __init__(
        self,
        model: str,
        *,
        revision: str | None = None,
        device: str = "auto",
        batch_size: int = 8,
        max_length: int = 4096,
    ) -> None:
        self.model_id, self.revision, self.device_name = model, revision, device
        self.batch_size, self.max_length = batch_size, max_length
        self.model: Any = None
        self.tokenizer: Any = None

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from rsft._util.errors import OfflineError

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_id, revision=self.revision)
            dev = "cuda" if self.device_name == "auto" and torch.cuda.is_available() else self.device_name
            dev = "cpu" if dev == "auto" else dev
            dtype = torch.bfloat16 if dev.startswith("cuda") else torch.float32
            self.model = AutoModelForSequenceClassification.from_pretrained(
                self.model_id, revision=self.revision, dtype=dtype
            ).to(dev)
        except OSError as e:
            raise OfflineError(
                f"could not load reward model '{self.model_id}': {e}",
                file=self.model_id,
                fix="check network access / HF_TOKEN, or download it and pass options.reward_model=FOLDER",
            ) from e
        self.model.eval()
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.config.pad_token_id = self.tokenizer.pad_token_id

    @property
    def commit(self) -> str | None:
        return getattr(self.model.config, "_commit_hash", None) if self.model is not None else None

    def rewards(self, pairs: list[tuple[str, str]]) -> list[tuple[float, bool]]:
        """(reward, cut) for each (instruction, answer)."""
        import torch

        if self.model is None:
            self._load()
        out: list[tuple[float, bool]] = []
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start : start + self.batch_size]
            texts = [
                self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": q}, {"role": "assistant", "content": a}], tokenize=False
                )
                for q, a in chunk
            ]
            full = [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
            enc = self.tokenizer(
                texts,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                add_special_tokens=False,
                return_tensors="pt",
            ).to(self.model.device)
            with torch.no_grad():
                logits = self.model(**enc).logits[:, 0].float().cpu().tolist()
            out.extend((float(r), n > self.max_length) for r, n in zip(logits, full, strict=True))
        return out


class AlpacaEvalOptions(SourceOptions):
    reward_model: str = Field(DEFAULT_REWARD_MODEL, description="reward model folder or hub id")
    reward_revision: str | None = None
    reward_device: str = "auto"
    reward_batch_size: int = Field(8, ge=1)
    max_length: int = Field(4096, ge=1, description="reward model input tokens")


class AlpacaEval(Benchmark):
    """AlpacaEval; options: path, reward_model, reward_revision, reward_device, reward_batch_size, max_length,
    n_items."""

    name = "alpaca_eval"
    items = 805
    protocol = "alpaca_eval"
    # its default data source for `rsft data fetch` (fields and hash policy: rsft.bench.sources)
    sources: ClassVar[list[dict[str, Any]]] = [
        {
            "local": "alpaca_eval/alpaca_eval_gpt4_1106_preview_reference.json",
            "repo": "tatsu-lab/alpaca_eval",
            "path": ["alpaca_eval_gpt4_baseline.json"],
            "split": "eval",
            "sha256": {"alpaca_eval_gpt4_baseline.json": None},
        },
    ]
    version = 1
    group = "general"
    score_on = "answer"
    scale = "reward"  # bounded by the analysis: win rate against the base's response (docs/analysis.md)
    defaults: ClassVar[dict[str, Any]] = {
        "n": 1,
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": 50,
        "max_new_tokens": 16384,
    }
    Options = AlpacaEvalOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._rm: RewardModel | None = None
        self._ref_rewards: dict[str, float] = {}

    @property
    def reward_model(self) -> RewardModel:
        if self._rm is None:
            self._rm = RewardModel(
                self.opts.reward_model,
                revision=self.options.get("reward_revision"),
                device=self.opts.reward_device,
                batch_size=self.opts.reward_batch_size,
                max_length=self.opts.max_length,
            )
        return self._rm

    def load(self) -> list[Sample]:
        source, rows = rows_for(
            self.options, "alpaca_eval", "alpaca_eval_gpt4_1106_preview_reference.json", hub_split="eval"
        )
        out = []
        for i, row in rows:
            require(row, ["instruction"], source, i)
            meta = {
                "dataset": row.get("dataset"),
                "reference_output": row.get("output"),
                "generator": row.get("generator"),
            }
            out.append(Sample(f"alpaca_eval/{i}", row["instruction"], "", meta))
        return subset(out, self.options)

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        return self.score_many([(sample, text)])[0]

    def score_many(self, pairs: list[tuple[Sample, str]]) -> list[ScoreRecord]:
        rm = self.reward_model
        todo = {
            s.id: s for s, _ in pairs if s.metadata.get("reference_output") and s.id not in self._ref_rewards
        }
        if todo:
            refs = rm.rewards([(s.prompt, s.metadata["reference_output"]) for s in todo.values()])
            self._ref_rewards.update({sid: r for sid, (r, _) in zip(todo, refs, strict=True)})
        rewards = rm.rewards([(s.prompt, t) for s, t in pairs])
        out = []
        for (s, _), (reward, cut) in zip(pairs, rewards, strict=True):
            ref = self._ref_rewards.get(s.id)
            meta = {
                "reward": reward,
                "reference_reward": ref,
                "beats_reference": None if ref is None else reward > ref,
                "reward_model": rm.model_id,
                "reward_revision": rm.revision or rm.commit,
                "judge_cut": cut,
            }
            out.append(ScoreRecord(reward, None, "rewarded", meta))
        return out
