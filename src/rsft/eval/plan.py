"""What a sweep evaluates: checkpoints × benchmarks × items × samples, each with its store key.

A row's key hashes (weights hash, benchmark@version, prompt hash, generation-config hash, item, sample): cached rows
are found by what was computed, never by a path. The prompt hash is the hash of the exact prompt text the backend
feeds the model (chat template applied), so a changed template or tokenizer is a new row too. The generation hash
leaves out ``n``: raising k from 4 to 8 reuses the first 4 samples. Per-sample seeds derive from
(seed, benchmark, item, sample).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsft._util.errors import DataError, RsftError
from rsft._util.hashing import hash_obj, hash_text, weights_hash
from rsft._util.seeding import derive_seed
from rsft.eval.config import BenchmarkSpec, SuiteConfig
from rsft.generate.base import GenerateConfig, Request
from rsft.tasks.base import Sample


@dataclass
class Target:
    """One model to evaluate.

    Attributes:
        run: training run name (the run folder's name) or the model's name.
        step: checkpoint step (None for a plain model).
        model: what the backend loads (a folder, hub id or served model name).
        path: the local folder, when there is one (its weights are hashed).
        layout: the run layout it came from (:mod:`rsft.eval.layouts`; None for a plain model).
        source: the producer's own folder, when ``path`` is a view of it.
        adapter_base: for a PEFT adapter, the base model it is applied to (its weights hash is part of the key).
    """

    run: str
    step: int | None
    model: str
    path: Path | None = None
    layout: str | None = None
    source: str | None = None
    adapter_base: str | None = None
    _hash: str | None = field(default=None, repr=False)

    @property
    def weights_hash(self) -> str:
        """Content hash of the weight files (cached beside them by size and mtime); ``id:NAME`` without a folder.
        An adapter's hash covers its base's weights too."""
        if self._hash is None:
            if self.adapter_base is not None:
                base = model_target(self.adapter_base)
                own = Target(self.run, self.step, self.model, self.path).weights_hash
                self._hash = hash_obj(["adapter", base.weights_hash, own])
            elif self.path is None:
                self._hash = "id:" + hash_text(self.model)
            else:
                try:
                    self._hash = weights_hash(self.path)
                except FileNotFoundError:
                    raise DataError(
                        "model folder holds no weight files (*.safetensors, *.bin)",
                        file=str(self.path),
                        fix="point at a complete Hugging Face model folder",
                    ) from None
        return self._hash


def discover_run(
    run_dir: str | Path, *, base: str | None = None, empty_ok: bool = False
) -> tuple[list[Target], Any]:
    """Complete checkpoints of a training run from any trainer (sorted by step, the base as step 0 when the run
    names one) and the :class:`rsft.eval.layouts.RunListing` they came from (half-written folders, done, notes)."""
    from rsft.eval.layouts import scan_run

    run_dir = Path(run_dir)
    listing = scan_run(run_dir, base=base, empty_ok=empty_ok)
    name = run_dir.parent.name if run_dir.is_file() else run_dir.name
    targets = []
    for c in listing.complete:
        local = Path(c.folder) if Path(c.folder).is_dir() else None
        targets.append(
            Target(
                run=name, step=c.step, model=str(c.folder), path=local, layout=c.layout,
                source=str(c.source), adapter_base=c.adapter_base,
            )
        )  # fmt: skip
    return targets, listing


def discover_checkpoints(
    run_dir: str | Path, *, base: str | None = None, empty_ok: bool = True
) -> tuple[list[Target], list[Path]]:
    """Complete checkpoints of a training run (sorted by step) and the half-written folders, under whichever
    layout the run folder holds (:func:`rsft.eval.layouts.scan_run`; rsft's own is
    :func:`rsft.train.checkpoints.scan_checkpoints`)."""
    targets, listing = discover_run(run_dir, base=base, empty_ok=empty_ok)
    return targets, sorted(p for p, _ in listing.partial)


def parse_steps(steps: str | None) -> list[int] | None:
    """``"0,10,20"`` -> [0, 10, 20]; ``None``/``"all"`` -> None (every checkpoint)."""
    if steps is None or steps.strip().lower() == "all":
        return None
    try:
        return sorted({int(s) for s in steps.split(",") if s.strip()})
    except ValueError:
        raise RsftError(
            f"bad --steps '{steps}'", field="steps", fix="use e.g. --steps 0,10,20 or --steps all"
        ) from None


def model_target(model: str, local_dir: Path | None = None) -> Target:
    """A target for a plain model (folder, hub id or served name)."""
    p = local_dir or (Path(model) if Path(model).is_dir() else None)
    name = p.name if p is not None else model
    return Target(run=name, step=None, model=str(model), path=p)


@dataclass
class PlannedRow:
    """One sample to have in the store."""

    key: str
    target: Target
    benchmark: Any
    sample: Sample
    sample_idx: int
    seed: int
    messages: list[dict[str, str]]
    prompt_text: str
    prompt_hash: str
    gen: GenerateConfig
    gen_hash: str

    def request(self) -> Request:
        return Request(messages=self.messages, id=self.key, seed=self.seed)

    def identity(self, with_version: bool = True) -> tuple:
        b = self.benchmark
        head = (self.target.weights_hash, b.name) + ((b.version,) if with_version else ())
        return head + (self.prompt_hash, self.gen_hash, self.sample.id, self.sample_idx)


def row_key(
    weights: str, bench: str, version: int, prompt_hash: str, gen_hash: str, item: str, idx: int
) -> str:
    return hash_obj([weights, bench, version, prompt_hash, gen_hash, item, idx], length=32)


def gen_hash(gen: GenerateConfig) -> str:
    return hash_obj(gen.model_dump(mode="json", exclude={"n"}))


@dataclass
class LoadedBenchmark:
    spec: BenchmarkSpec
    benchmark: Any
    samples: list[Sample]
    gen: GenerateConfig


def load_benchmarks(suite: SuiteConfig) -> list[LoadedBenchmark]:
    """Instantiate and load every benchmark of the suite once (items are shared by all checkpoints)."""
    from rsft.bench.registry import get_benchmark

    out = []
    for spec in suite.benchmarks:
        bench = get_benchmark(spec.name, **spec.options)
        bench.outcome_policy  # noqa: B018 - a bad policy option fails here, before any generation
        samples = bench.load()
        ids = [s.id for s in samples]
        if len(set(ids)) != len(ids):
            raise RsftError(f"benchmark '{spec.name}' yields duplicate item ids", field="benchmarks")
        out.append(LoadedBenchmark(spec, bench, samples, suite.generation_for(spec, dict(bench.defaults))))
    return out


def expand(
    target: Target, loaded: list[LoadedBenchmark], render: Callable[[Request], str]
) -> Iterator[PlannedRow]:
    """Every planned row of one target, benchmark by benchmark, item by item, sample by sample."""
    for lb in loaded:
        b, gh = lb.benchmark, gen_hash(lb.gen)
        for sample in lb.samples:
            messages = b.prompt(sample)
            text = render(Request(messages=messages))
            ph = hash_text(text)
            for j in range(lb.gen.n):
                seed = derive_seed(lb.gen.seed, b.name, sample.id, j)
                key = row_key(target.weights_hash, b.name, b.version, ph, gh, sample.id, j)
                yield PlannedRow(key, target, b, sample, j, seed, messages, text, ph, lb.gen, gh)
