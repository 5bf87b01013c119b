from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from rsft.analysis.summary import bootstrap_ci, summarize
from rsft.eval.metrics import majority_correct, math_equivalent, pass_at_k, vote_equivalence


@pytest.mark.parametrize(
    "n,c,k", [(4, 0, 1), (4, 1, 2), (5, 2, 3), (6, 3, 2), (8, 7, 4), (5, 5, 5), (3, 1, 3)]
)
def test_pass_at_k_equals_brute_force(n, c, k):
    outcomes = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    brute = sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)
    assert pass_at_k(n, c, k) == pytest.approx(brute)


def test_majority_vote_and_ties():
    assert majority_correct(["3", "4", "3"], [1.0, 0.0, 1.0]) == 1.0
    assert majority_correct(["4", "3", "4"], [0.0, 1.0, 0.0]) == 0.0
    assert majority_correct(["4", "3"], [0.0, 1.0]) == 0.0  # tie: the answer seen first
    assert majority_correct([None, None], [0.0, 0.0]) == 0.0
    assert (
        majority_correct([float("nan"), "3", float("nan")], [0.0, 1.0, 0.0]) == 1.0
    )  # pandas' missing value


def test_majority_vote_groups_math_equivalent_answers():
    # three spellings of one half outvote the first-seen "3"; by strings every answer has one vote and "3" wins
    answers = ["3", "x=\\frac{1}{2}", "\\frac12", "0.5"]
    scores = [0.0, 1.0, 1.0, 1.0]
    assert majority_correct(answers, scores) == 0.0
    assert majority_correct(answers, scores, math_equivalent) == 1.0
    # and the other way round: two spellings of a wrong answer beat two different right-looking strings
    assert majority_correct(["1/2", "2", "\\frac{4}{2}", "0.5"], [1.0, 0.0, 0.0, 1.0], math_equivalent) == 1.0
    assert majority_correct(["7", "2", "\\frac{4}{2}", "0.5"], [1.0, 0.0, 0.0, 0.0], math_equivalent) == 0.0
    assert not math_equivalent("3", "4") and math_equivalent("\\frac12", "x=\\frac{1}{2}")
    assert vote_equivalence("math500") is math_equivalent and vote_equivalence("aime24") is math_equivalent
    assert vote_equivalence("gpqa_diamond") is None and vote_equivalence("not_registered") is None


def _frame():
    rows = []
    rng = np.random.default_rng(0)
    for item in range(20):
        for j in range(4):
            ok = rng.random() < 0.5
            outcome = "truncated" if (item == 0 and j == 0) else "ok"
            rows.append(
                dict(
                    run="r",
                    step=0,
                    weights_hash="w",
                    benchmark="b",
                    benchmark_version=1,
                    gen_hash="g",
                    item_id=f"i{item}",
                    sample_idx=j,
                    score=float(ok and outcome == "ok"),
                    outcome=outcome,
                    extracted="x" if ok else "y",
                    n_tokens=10 + j,
                    n_thinking_tokens=j,
                )
            )
    rows.append({**rows[-1], "sample_idx": 4, "outcome": "error", "score": 0.0})
    return pd.DataFrame(rows)


def test_summarize_states_n_k_seed_and_interval():
    df = _frame()
    out = summarize(df, n_boot=200, seed=1).set_index("metric")
    assert set(out.index) == {"avg@4", "pass@4", "maj@4", "truncation", "response_tokens", "thinking_tokens"}
    ok = df[df.outcome != "error"]
    assert out.loc["avg@4", "value"] == pytest.approx(ok.groupby("item_id")["score"].mean().mean())
    assert out.loc["truncation", "value"] == pytest.approx(1 / 80)
    assert out.loc["response_tokens", "value"] == pytest.approx(11.5)
    assert (out["n_items"] == 20).all() and (out["k"] == 4).all() and (out["seed"] == 1).all()
    assert (out["n_errors"] == 1).all() and (out["n_samples"] == 80).all()
    for m in ("avg@4", "pass@4"):
        assert out.loc[m, "ci_low"] <= out.loc[m, "value"] <= out.loc[m, "ci_high"]
    k2 = summarize(df, k=2, n_boot=0).set_index("metric")
    assert "pass@2" in k2.index and k2.loc["pass@2", "value"] >= k2.loc["avg@2", "value"]


def test_bootstrap_is_seeded():
    v = np.linspace(0, 1, 30)
    assert bootstrap_ci(v, 300, 5) == bootstrap_ci(v, 300, 5)
    lo, hi = bootstrap_ci(v, 300, 5)
    assert lo < v.mean() < hi


def test_summary_cli(tmp_path):
    from typer.testing import CliRunner

    from rsft.cli.main import app
    from rsft.eval.store import Store

    df = _frame()
    df["key"] = [f"k{i}" for i in range(len(df))]
    df["extracted"] = [
        None if i % 3 else "x" for i in range(len(df))
    ]  # missing answers read back as NaN/None
    Store(tmp_path).append(df.to_dict("records"))
    out = tmp_path / "m.csv"
    r = CliRunner().invoke(app, ["eval", "summary", str(tmp_path), "--csv", str(out), "--n-boot", "100"])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(out)
    assert set(table["metric"]) >= {"avg@4", "pass@4", "maj@4"} and (table["n_items"] == 20).all()


def test_summary_counts_every_outcome_and_keeps_all_error_groups():
    df = _frame()
    df.loc[df.index[4:7], "outcome"] = "no_answer"  # row 0 is the truncated one
    df["policy"] = "truncated=wrong;no_answer=scored;error=excluded"
    down = df.iloc[:2].assign(benchmark="judged", outcome="error", score=float("nan"))
    out = summarize(pd.concat([df, down]), n_boot=0)
    b = out[out.benchmark == "b"].set_index("metric")
    assert (b["n_truncated"] == 1).all() and (b["n_no_answer"] == 3).all() and (b["n_errors"] == 1).all()
    assert b.loc["avg@4", "policy"] == "truncated=wrong;no_answer=scored;error=excluded"
    # nothing but errors: still a row, counted, without a value
    (only,) = out[out.benchmark == "judged"].itertuples()
    assert only.n_errors == 2 and only.n_items == 0 and only.value != only.value


def test_the_summary_interval_is_the_item_bootstrap_of_the_analysis():
    """bootstrap_ci draws items with analysis.stats.item_weights: the same draws as indexing with
    rng.integers(0, n, (B, n)) (the summary's former own bootstrap), so the same interval up to float rounding."""
    rng = np.random.default_rng(3)
    for n, B, seed in ((7, 200, 0), (50, 1000, 5), (333, 400, 11)):
        v = rng.random(n)
        draws = np.random.default_rng(seed).integers(0, n, size=(B, n))
        means = v[draws].mean(axis=1)
        old = (float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975)))
        assert np.allclose(bootstrap_ci(v, B, seed), old, rtol=0, atol=1e-12)
