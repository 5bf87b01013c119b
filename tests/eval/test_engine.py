"""The runner through the Python API: cache identity, rescore, watch, outcomes, suite configs."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from rsft._util.errors import ConfigError, RsftError
from rsft.bench.registry import BENCHMARKS
from rsft.eval import Store, discover_checkpoints, load_suite, model_target, run_sweep, watch_run
from rsft.eval.config import SuiteConfig
from rsft.eval.scoring import score_response, token_split
from rsft.generate.hf import HFBackend
from rsft.tasks.base import Sample

sys.path.insert(0, str(Path(__file__).parent))
import _benchbank  # noqa: E402


@pytest.fixture(autouse=True)
def _test_benchmarks(monkeypatch):
    for cls in ("EchoBench", "FullBench", "BrokenBench", "BatchBench"):
        monkeypatch.setitem(BENCHMARKS, getattr(_benchbank, cls).name, f"_benchbank:{cls}")
    monkeypatch.setattr(_benchbank.EchoBench, "version", 1)
    monkeypatch.setattr(_benchbank.EchoBench, "wanted", "a")


def _suite(*names: str, n: int = 2, options: dict | None = None) -> SuiteConfig:
    return SuiteConfig.model_validate(
        {
            "seed": 1,
            "generation": {"temperature": 1.0, "max_new_tokens": 8},
            "backend": {"batch_size": 4, "device": "cpu"},
            "benchmarks": [{"name": b, "generation": {"n": n}, "options": options or {}} for b in names],
        }
    )


def test_weights_identity_not_path(tmp_path, tiny_tokenizer):
    from rsft.toy import tiny_qwen3

    model = tmp_path / "m"
    tiny_qwen3(tiny_tokenizer, "micro", seed=0, out_dir=model)
    store, suite, be = Store(tmp_path / "s"), _suite("t_echo"), HFBackend(batch_size=4, device="cpu")
    first = run_sweep(suite, store, be, targets=[model_target(str(model))])
    assert first.generated == first.planned == 6
    again = run_sweep(suite, store, be, targets=[model_target(str(model))])
    assert again.reused == 6 and again.generated == 0  # nothing changed: reused
    tiny_qwen3(tiny_tokenizer, "micro", seed=7, out_dir=model)  # new weights, same path
    changed = run_sweep(suite, store, be, targets=[model_target(str(model))])
    assert changed.generated == 6 and changed.reused == 0
    assert be.last_load["how"] == "in_place"
    assert store.frame()["weights_hash"].nunique() == 2


def test_more_samples_reuse_the_first(tmp_path, tiny_model_dir):
    store, be = Store(tmp_path), HFBackend(batch_size=4, device="cpu")
    run_sweep(_suite("t_echo", n=2), store, be, targets=[model_target(str(tiny_model_dir))])
    rep = run_sweep(_suite("t_echo", n=4), store, be, targets=[model_target(str(tiny_model_dir))])
    assert rep.reused == 6 and rep.generated == 6


def test_rescore_without_generating(tmp_path, tiny_model_dir, monkeypatch):
    store, be = Store(tmp_path), HFBackend(batch_size=4, device="cpu")
    targets = [model_target(str(tiny_model_dir))]
    suite = _suite(
        "t_echo", options={"truncated": "paper"}
    )  # the random model's cut responses reach the scorer
    run_sweep(suite, store, be, targets=targets)
    before = store.frame()
    monkeypatch.setattr(_benchbank.EchoBench, "wanted", "")  # every response now "contains" it
    rep = run_sweep(suite, store, be, targets=targets, rescore=True)
    assert rep.rescored == 6 and rep.generated == 0 and rep.missing == 0
    after = store.frame().sort_values("key")
    assert list(after["key"]) == sorted(before["key"]) and (after["score"] == 1.0).all()
    assert list(after["response"]) == list(before.sort_values("key")["response"])
    monkeypatch.setattr(_benchbank.EchoBench, "version", 2)  # a scoring change bumps the version
    rep = run_sweep(_suite("t_echo"), store, be, targets=targets, rescore=True)
    assert rep.rescored == 6
    assert sorted(store.frame()["benchmark_version"].value_counts().to_dict().items()) == [(1, 6), (2, 6)]
    fresh = run_sweep(_suite("t_echo"), store, be, targets=targets)
    assert fresh.generated == 0 and fresh.reused == 6


def test_watch_picks_up_new_checkpoints(run_dir, tmp_path):
    store, be = Store(tmp_path / "s"), HFBackend(batch_size=8, device="cpu")
    said = []
    rep = watch_run(_suite("t_echo"), run_dir, store, be, max_polls=1, say=said.append)
    assert rep.planned == 12 and any("step_000020" in s for s in said)
    (run_dir / "checkpoints" / "step_000020" / "COMPLETE").write_text("")
    (run_dir / "DONE").write_text("")
    rep = watch_run(_suite("t_echo"), run_dir, store, be, poll_s=0.01, until_done=True, say=said.append)
    assert rep.generated == 6 and rep.reused == 12
    assert sorted(store.frame()["step"].unique()) == [0, 10, 20]
    assert [t.step for t in discover_checkpoints(run_dir)[0]] == [0, 10, 20]


def test_outcomes():
    bench, full = _benchbank.EchoBench(), _benchbank.FullBench()
    s = Sample("x", "p", "a")
    never = score_response(bench, s, "<think>a a a", "stop")
    assert (never.outcome, never.score) == ("no_answer", 0.0)  # stopped inside thinking: never parsed
    t = score_response(bench, s, "<think>abc</think> zzz", "stop")
    assert (t.outcome, t.score) == ("no_answer", 0.0)  # "a" only inside thinking: the answer part is scored
    assert score_response(full, s, "<think>abc</think> zzz", "stop").score == 1.0
    assert score_response(bench, s, "zzz", "length").outcome == "truncated"
    cut = score_response(
        bench, s, "a", "length"
    )  # an answer in a cut response: still truncated, wrong by default
    assert (cut.outcome, cut.score) == ("truncated", 0.0)
    e = score_response(bench, s, "", "error", "HTTP 500")
    assert (e.outcome, e.error) == ("error", "HTTP 500") and math.isnan(e.score)  # never a 0
    assert score_response(_benchbank.BrokenBench(), s, "a", "stop").error.startswith("scorer: ValueError")
    u = score_response(bench, Sample("y", "nan", "a"), "a", "stop")
    assert u.outcome == "error" and math.isnan(u.score) and u.error == "unscored: unscored"
    assert score_response(bench, s, "", "stop").outcome == "no_answer"  # empty completion: no answer, wrong
    assert score_response(bench, s, "ya", "stop").outcome == "ok"
    assert token_split("<think>abcd</think>ef", 21) == (19, 2)  # by characters without a tokenizer
    assert token_split("<think>abcd", 10) == (10, 0) and token_split("abc", 3) == (0, 3)
    assert token_split("abc", 3, prompt="<think>\n") == (3, 0)  # the prompt opened thinking


def test_a_broken_scorer_scores_zero_and_fails_the_sweep_loudly(tmp_path, tiny_model_dir):
    """A scorer that raises on the responses: every row is stored and scores 0 (a response cannot raise a mean
    by breaking its scorer), the exception kept; past ``max_error_rate`` the sweep then fails naming the rows."""
    target = [model_target(str(tiny_model_dir))]
    with pytest.raises(RsftError, match="could not be scored") as e:
        run_sweep(_suite("t_broken"), Store(tmp_path / "a"), targets=target)
    assert "t_broken item" in e.value.message and "scorer bug" in e.value.message
    df = Store(tmp_path / "a").frame()
    scored = df[~df["outcome"].isin(["truncated", "no_answer"])]  # cut or unclosed: never reach the scorer
    assert len(df) == 6 and len(scored) > 0
    assert (scored["outcome"] == "ok").all() and (scored["score"] == 0.0).all()
    assert (scored["score_reason"] == "scorer_error").all() and scored["error"].str.contains("scorer bug").all()
    rep = run_sweep(_suite("t_broken"), Store(tmp_path / "b"), targets=target, max_error_rate=None)
    assert rep.scorer_errors == len(scored) and rep.errors == 0 and len(rep.flagged) == len(scored)


def test_suite_configs():
    toy = load_suite("toy", ["benchmarks.toy_arith.options.n_items=3", "generation.max_new_tokens=5"])
    assert (
        toy.name == "toy" and toy.benchmarks[1].options["n_items"] == 3 and toy.generation.max_new_tokens == 5
    )
    spec = toy.benchmarks[0]
    gen = toy.generation_for(spec, {"n": 8, "max_new_tokens": 3})
    assert gen.n == 8 and gen.max_new_tokens == spec.generation["max_new_tokens"] and gen.seed == toy.seed
    from rsft.config import build_config

    with pytest.raises(ConfigError) as e:
        build_config(
            SuiteConfig,
            {"benchmarks": [{"name": "nope"}, {"name": "toy_arith", "generation": {"temp": 1}}], "x": 1},
        )
    msg = e.value.render()
    assert "unknown benchmark 'nope'" in msg and "temp" in msg and "x: unknown key" in msg
    with pytest.raises(ConfigError, match="no benchmark 'zzz'"):
        load_suite("toy", ["benchmarks.zzz.options.n_items=3"])


def test_toy_benchmarks_are_registered_with_groups():
    from rsft.bench.registry import get_benchmark

    groups = {
        n: get_benchmark(n, n_items=2).group
        for n in ("toy_arith", "toy_countdown", "toy_sort", "toy_mcq", "toy_instruct", "toy_safety")
    }
    assert groups == {
        "toy_arith": "math",
        "toy_countdown": "math",
        "toy_sort": "reasoning",
        "toy_mcq": "reasoning",
        "toy_instruct": "general",
        "toy_safety": "safety",
    }
    b = get_benchmark("toy_sort", n_items=2)
    items = b.load()
    assert [s.id for s in items] == [s.id for s in get_benchmark("toy_sort", n_items=2).load()]
    assert b.score(items[0], items[0].target).value == 1.0


def test_countdown_benchmark(shared_benchmarks):
    from rsft.bench.registry import get_benchmark

    cd = get_benchmark("countdown", path=str(shared_benchmarks / "countdown"), n_items=5)
    items = cd.load()
    assert len(items) == 5 and items[0].id == "cd3-0" and "[30, 100, 93]" in items[0].prompt
    assert cd.score(items[0], "<answer>100 - 93 + 30 - 0</answer>").reason in (
        "numbers_not_from_set",
        "number_reused",
    )
    assert cd.score(items[0], "<answer>100 - (93 - 30)</answer>").value == 0.0  # 37, not 23
    assert cd.score(items[0], "<answer>30 - (100 - 93)</answer>").value == 1.0
    tz = get_benchmark("countdown", source="tinyzero", path=str(shared_benchmarks / "countdown"), n_items=3)
    assert [s.id for s in tz.load()] == ["tz-0", "tz-1", "tz-2"]
    gen = get_benchmark("countdown", source="generated", n_items=4).load()
    assert len(gen) == 4 and all(cd.score(s, f"<answer>{s.target}</answer>").value == 1.0 for s in gen)


def test_scoring_goes_through_score_many(tmp_path, tiny_model_dir):
    from rsft.eval.scoring import score_responses

    _benchbank.BatchBench.calls.clear()
    bench = _benchbank.BatchBench()
    items = [(s, "y", "stop", None) for s in bench.load()] + [(bench.load()[0], "<think>", "length", None)]
    out = score_responses(bench, items)
    assert _benchbank.BatchBench.calls == [3]  # one batched call; the truncated response never reaches it
    assert [o.outcome for o in out] == ["ok", "error", "ok", "truncated"] and math.isnan(out[1].score)
    assert "judge down" in out[1].error


def test_runs_sharing_a_base_checkpoint_each_get_rows(run_dir, tmp_path):
    import shutil

    other = tmp_path / "run2"
    shutil.copytree(run_dir / "checkpoints" / "step_000000", other / "checkpoints" / "step_000000")
    store, be = Store(tmp_path / "s"), HFBackend(batch_size=8, device="cpu")
    run_sweep(_suite("t_echo"), store, be, targets=discover_checkpoints(run_dir)[0][:1])
    rep = run_sweep(_suite("t_echo"), store, be, targets=discover_checkpoints(other)[0])
    assert rep.generated == 0 and rep.reused == 6  # same weights: computed once
    df = store.frame()
    assert sorted(df["run"].value_counts().items()) == [("run1", 6), ("run2", 6)]
    a, b = (
        df[df["run"] == r].sort_values("key")[["key", "response"]].reset_index(drop=True)
        for r in ("run1", "run2")
    )
    assert a.equals(b) and store.keys("run2") == store.keys("run1")
    again = run_sweep(_suite("t_echo"), store, be, targets=discover_checkpoints(other)[0])
    assert again.reused == 6 and len(store.frame()) == 12


def test_checkpoint_without_weights_is_half_written(run_dir, tmp_path):
    from rsft._util.errors import DataError

    (run_dir / "checkpoints" / "step_000010" / "model.safetensors").unlink()
    complete, partial = discover_checkpoints(run_dir)
    assert [t.step for t in complete] == [0] and len(partial) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no weight files"):
        _ = model_target(str(empty)).weights_hash
