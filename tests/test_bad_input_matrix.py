"""The bad-input matrix: every command, every kind of bad input a user can cause. Each case asserts a non-zero
exit, a message naming the culprit (file, row, field or option), no traceback, and no half-written output that a
later run would trust.

The commands run in-process through ``rsft.cli.main.main`` (what the ``rsft`` script calls); an exception other
than ``SystemExit`` escaping it is a traceback and fails the case.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from rsft.cli.main import main


@dataclass
class Case:
    id: str
    argv: Callable[[Path], list[str]]  # built from the workspace folder
    culprit: Callable[[Path], str] | str  # text the message must contain
    setup: Callable[[Path], None] | None = None
    no_output: Callable[[Path], Path] | None = None  # a path that must not exist afterwards


def _w(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


GOOD_ROW = {"messages": [{"role": "user", "content": "2+2?"}], "response": "<think>2+2=4</think> 4"}


@pytest.fixture(scope="module")
def ws(tmp_path_factory, tiny_model_dir) -> Path:
    """A workspace of good and bad inputs shared by the cases (each case writes only below its own folder)."""
    w = tmp_path_factory.mktemp("ws")
    _w(w / "good.jsonl", json.dumps(GOOD_ROW) + "\n")
    _w(w / "bad_json.jsonl", json.dumps(GOOD_ROW) + "\n{not json\n")
    _w(w / "no_response.jsonl", json.dumps({"messages": GOOD_ROW["messages"]}) + "\n")
    _w(w / "null_response.jsonl", json.dumps({**GOOD_ROW, "response": None}) + "\n")
    _w(w / "bad_role.jsonl", json.dumps({**GOOD_ROW, "messages": [{"role": "robot", "content": "x"}]}) + "\n")
    _w(w / "messages_not_list.jsonl", json.dumps({**GOOD_ROW, "messages": "hello"}) + "\n")
    _w(w / "bad_messages.csv", 'messages,response\n"[{not json",ok\n')
    _w(w / "empty.jsonl", "")
    (w / "a_folder").mkdir()
    _w(w / "a_file", "x")
    _w(w / "unknown_key.yaml", "model: {path: x}\nnot_a_key: 1\n")
    _w(w / "bad_yaml.yaml", "model: [unclosed\n")
    _w(w / "list.yaml", "- 1\n- 2\n")
    model = str(tiny_model_dir)
    _w(
        w / "train.yaml",
        f"model: {{path: {model}, dtype: float32}}\ndata: {{path: {w / 'good.jsonl'}, max_length: 64}}\n"
        f"schedule: {{lr: 1.0e-3, epochs: 1, global_batch: 1, micro_batch: 1}}\noutput_dir: {w / 'runs'}\n",
    )
    _w(
        w / "suite.yaml",
        "name: t\nbackend: {kind: hf, device: cpu, batch_size: 2}\n"
        "benchmarks:\n  - name: toy_arith\n    options: {n_items: 2}\n",
    )
    _w(w / "suite_unknown_bench.yaml", "name: t\nbenchmarks:\n  - name: toy_arithh\n")
    # a model folder without weights, one without config.json, one with garbage weights
    for name in ("no_weights", "no_config", "garbage_weights"):
        d = w / name
        d.mkdir()
        for f in Path(model).iterdir():
            if f.is_file():
                (d / f.name).write_bytes(f.read_bytes())
    for f in (w / "no_weights").glob("*.safetensors"):
        f.unlink()
    (w / "no_config" / "config.json").unlink()
    for f in (w / "garbage_weights").glob("*.safetensors"):
        f.write_bytes(b"\x00garbage" * 10)
    # a tokenizer with ids past the embedding, a folder without tokenizer files, truncated weights
    for name in ("big_vocab", "no_tokenizer", "truncated_weights"):
        d = w / name
        d.mkdir()
        for f in Path(model).iterdir():
            if f.is_file():
                (d / f.name).write_bytes(f.read_bytes())
    rows = json.loads((w / "big_vocab" / "config.json").read_text())["vocab_size"]
    tok = json.loads((w / "big_vocab" / "tokenizer.json").read_text())
    tok["added_tokens"].append(
        {"id": rows + 10, "content": "<extra>", "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
    )
    (w / "big_vocab" / "tokenizer.json").write_text(json.dumps(tok))
    for f in (w / "no_tokenizer").glob("tokenizer*"):
        f.unlink()
    st = w / "truncated_weights" / "model.safetensors"
    st.write_bytes(st.read_bytes()[: st.stat().st_size // 2])
    # a run whose only checkpoint has no config.json
    from rsft.train import COMPLETE_MARKER

    step = w / "run_no_config" / "checkpoints" / "step_000001"
    step.mkdir(parents=True)
    for f in (w / "no_config").iterdir():
        (step / f.name).write_bytes(f.read_bytes())
    (step / COMPLETE_MARKER).write_text("")
    # rows: a lone surrogate in a response (a JSON escape without its pair), a CSV cell of bad JSON
    _w(w / "surrogate.jsonl", json.dumps(GOOD_ROW)[:-1] + ', "id": "x"}\n' + json.dumps(GOOD_ROW).replace(
        "4</think> 4", "4</think> \\udc80") + "\n")
    _w(w / "study_model_path_missing.yaml",
       f"study: {{name: s, output_dir: {w / 'studies'}}}\nmodels: {{m: {{path: {w / 'no-such-model'}}}}}\n"
       f"datasets: {{d: {{path: {w / 'good.jsonl'}}}}}\ntrain: {{schedule: {{global_batch: 1, micro_batch: 1}}}}\n"
       "runs: [{model: m, dataset: d}]\n")
    _w(w / "suite_n_items_negative.yaml", "name: t\nbackend: {kind: hf, device: cpu, batch_size: 2}\n"
       "benchmarks:\n  - name: toy_arith\n    options: {n_items: -3}\n")
    _w(w / "study_unknown_dataset.yaml",
       "study: {name: s}\nmodels: {m: {path: x}}\ndatasets: {d: {path: y}}\nruns: [{model: m, dataset: nope}]\n")
    # a store: valid folder, then store.json damaged, and a file given as the store
    (w / "store_bad_json").mkdir()
    _w(w / "store_bad_json" / "store.json", "{nope")
    (w / "store_bad_json" / "rows").mkdir()
    _w(w / "store_new_version" / "store.json", json.dumps({"schema_version": 999}))
    # an analysis folder without analysis.json
    (w / "empty_analysis").mkdir()
    _issue23_inputs(w, Path(model))
    # a study whose model path is missing; one with an unknown dataset
    _w(w / "study_missing_model.yaml", "name: s\nmodels: [{name: m, path: /no/such/model}]\n")
    return w


def _clone_model(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        if f.is_file():
            (dst / f.name).write_bytes(f.read_bytes())
    return dst


def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def _issue23_inputs(w: Path, model: Path) -> None:
    """The inputs of issue 23's bad-input cases: damaged or mismatched model folders, analysis files, Parquet, YAML."""
    import struct

    import numpy as np
    from safetensors.numpy import load_file, save_file

    from rsft._util.hashing import weights_hash
    from rsft.analysis import make_store
    from rsft.toy import build_tokenizer

    for name, changes in {
        "m_unknown_type": {"model_type": "qwen99"},
        "m_negative_hidden": {"hidden_size": -32},
        "m_zero_layers": {"num_hidden_layers": 0},
    }.items():
        _edit_json(_clone_model(model, w / name) / "config.json", **changes)
    tensors = load_file(str(model / "model.safetensors"))
    save_file({k: np.full_like(v, np.nan) for k, v in tensors.items()}, str(_clone_model(model, w / "m_nan") / "model.safetensors"))
    one_inf = dict(tensors)
    first = sorted(one_inf)[0]
    one_inf[first] = one_inf[first].copy()
    one_inf[first].flat[3] = np.inf
    save_file(one_inf, str(_clone_model(model, w / "m_one_inf") / "model.safetensors"))
    raw = (model / "model.safetensors").read_bytes()
    (_clone_model(model, w / "m_trailing") / "model.safetensors").write_bytes(raw + b"\0" * 64)
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    key = next(k for k in header if k != "__metadata__")
    header[key]["shape"] = [header[key]["shape"][0] * 2, *header[key]["shape"][1:]]  # the data stays as it was
    hb = json.dumps(header).encode()
    hb += b" " * (-len(hb) % 8)
    (_clone_model(model, w / "m_shape_lie") / "model.safetensors").write_bytes(struct.pack("<Q", len(hb)) + hb + raw[8 + n :])
    # a checkpoint whose meta.json records the hash of its weights, then one flipped bit inside the tensor data
    ck = _clone_model(model, w / "ck_flipped")
    (ck / "meta.json").write_text(json.dumps({"step": 4, "weights_hash": weights_hash(ck)}))
    data = bytearray((ck / "model.safetensors").read_bytes())
    data[-100] ^= 0x01
    (ck / "model.safetensors").write_bytes(bytes(data))
    # another model's tokenizer (a smaller vocabulary), and a tokenizer whose end-of-sequence token is another id
    build_tokenizer(["another corpus, another vocabulary: 0123456789"] * 8, vocab_size=200, out_dir=w / "tok_other")
    mixed = _clone_model(model, w / "m_other_tokenizer")
    for f in (w / "tok_other").iterdir():
        if f.is_file():
            (mixed / f.name).write_bytes(f.read_bytes())
    _edit_json(_clone_model(model, w / "m_eos_mismatch") / "tokenizer_config.json", eos_token="<think>")
    # analysis files: {}, a list, another layout version; a swept store (synthetic rows, two checkpoints)
    for name, text in {"an_empty": "{}", "an_list": "[1]", "an_v99": json.dumps({"analysis_version": 99})}.items():
        _w(w / name / "analysis.json", text)
    make_store(w / "sweep", ["r"], [0, 10], {"toy_arith": "math"}, items=4, samples=1)
    # Parquet that is not Parquet; a pool folder of such parts
    _w(w / "garbage.parquet", "PAR1garbagegarbagePAR1")
    _w(w / "pool_garbage" / "part-0.parquet", "not parquet at all")
    # YAML: a key given twice (top level, nested), generation settings that cannot be right, absurd sizes
    _w(w / "train_dup.yaml", (w / "train.yaml").read_text() + f"output_dir: {w / 'runs_elsewhere'}\n")
    _w(w / "dup_nested.yaml", f"model: {{path: {model}, dtype: float32, dtype: bfloat16}}\ndata: {{path: x}}\n")
    suite = "name: t\nbackend: {kind: hf, device: cpu, batch_size: 2}\n"
    bench = "benchmarks:\n  - name: toy_arith\n    options: {n_items: 2}\n"
    _w(w / "suite_stop_empty.yaml", suite + "generation: {stop: ['']}\n" + bench)
    _w(w / "suite_temperature_inf.yaml", suite + "generation: {temperature: .inf}\n" + bench)
    _w(w / "suite_n_items_absurd.yaml", suite + "benchmarks:\n  - name: toy_arith\n    options: {n_items: 1.0e+11}\n")
    _w(w / "suite_dup.yaml", "name: t\nname: u\n" + bench)
    _w(w / "two_rows.jsonl", (json.dumps(GOOD_ROW) + "\n") * 2)
    step = w / "run_nan" / "checkpoints" / "step_000000"  # a run whose one checkpoint holds NaN weights
    step.parent.mkdir(parents=True)
    _clone_model(w / "m_nan", step)
    from rsft.train import COMPLETE_MARKER

    (step / COMPLETE_MARKER).write_text("")
    _w(w / "study_escape.yaml", "study: {name: ../escaped_study}\nmodels: {m: {path: x}}\ndatasets: {d: {path: y}}\n"
       "runs: [{model: m, dataset: d}]\n")


def _j(*parts: str) -> Callable[[Path], str]:
    return lambda w: str(w.joinpath(*parts))


def _train(w: Path, *overrides: str) -> list[str]:
    return ["train", str(w / "train.yaml"), *overrides, "--no-progress"]


def _eval(w: Path, model: str, store: str, suite: str = "suite.yaml", *extra: str) -> list[str]:
    return ["eval", "run", "--model", str(w / model), "--suite", str(w / suite), "--store", str(w / store),
            "--no-progress", *extra]


def _no(*parts: str) -> Callable[[Path], Path]:
    return lambda w: w.joinpath(*parts)


# issue 23: model folders that are damaged or do not match their tokenizer (train and eval), values that cannot be
# right (non-finite, empty stop strings, duplicate YAML keys, names that leave their folder), absurd sizes
# (refused before any work), damaged analysis and Parquet files; a failed command leaves no folder behind
_MODEL_CASES = {
    "unknown_model_type": ("m_unknown_type", "unknown model_type 'qwen99'"),
    "negative_hidden_size": ("m_negative_hidden", "hidden_size"),
    "zero_layers": ("m_zero_layers", "num_hidden_layers"),
    "nan_weights": ("m_nan", "NaN or inf"),
    "one_inf_weight": ("m_one_inf", "1 of"),
    "bytes_after_tensors": ("m_trailing", "longer than its header"),
    "header_shape_lie": ("m_shape_lie", "the header gives shape"),
    "flipped_bit_in_checkpoint": ("ck_flipped", "weights changed since they were saved"),
    "other_models_tokenizer": ("m_other_tokenizer", "tokenizer does not match the model"),
    "tokenizer_eos_mismatch": ("m_eos_mismatch", "end-of-sequence token '<think>'"),
}
ISSUE23: list[Case] = [
    *(
        Case(f"train_{name}", lambda w, m=m: _train(w, f"model.path={w / m}"), culprit, no_output=_no("runs"))
        for name, (m, culprit) in _MODEL_CASES.items()
    ),
    *(
        Case(f"eval_{name}", lambda w, m=m, name=name: _eval(w, m, f"st_{name}"), culprit,
             no_output=lambda w, name=name: w / f"st_{name}")
        for name, (m, culprit) in _MODEL_CASES.items()
    ),
    Case("train_lr_inf", lambda w: _train(w, "schedule.lr=inf"), "schedule.lr: Input should be a finite number",
         no_output=_no("runs")),
    Case("train_lr_nan", lambda w: _train(w, "schedule.lr=.nan"), "schedule.lr", no_output=_no("runs")),
    Case("train_epochs_absurd", lambda w: _train(w, "schedule.epochs=1000000000000"), "schedule.epochs",
         no_output=_no("runs")),
    Case("train_max_steps_absurd", lambda w: _train(w, "schedule.max_steps=1000000000000"), "schedule.max_steps",
         no_output=_no("runs")),
    Case("train_steps_past_bound", lambda w: _train(w, f"data.path={w / 'two_rows.jsonl'}",
                                                    "schedule.epochs=999999"), "optimizer steps",
         no_output=_no("runs")),
    Case("train_log_spaced_absurd", lambda w: _train(w, "checkpoints.every=null",
                                                     "checkpoints.log_spaced=1000000000000"), "log_spaced",
         no_output=_no("runs")),
    Case("train_run_name_up", lambda w: _train(w, "run_name=../escaped"), "run_name: must be one folder name",
         no_output=_no("escaped")),
    Case("train_run_name_absolute", lambda w: _train(w, f"run_name={w / 'escaped_abs'}"), "run_name",
         no_output=_no("escaped_abs")),
    Case("train_run_name_nested", lambda w: _train(w, "run_name=a/b"), "run_name", no_output=_no("runs")),
    Case("train_duplicate_key", lambda w: ["train", str(w / "train_dup.yaml"), "--no-progress"],
         "duplicate key 'output_dir'", no_output=_no("runs_elsewhere")),
    Case("validate_duplicate_nested_key", lambda w: ["validate", str(w / "dup_nested.yaml")],
         "duplicate key 'dtype'"),
    Case("validate_suite_duplicate_key", lambda w: ["validate", str(w / "suite_dup.yaml")], "line 2"),
    Case("study_name_escapes", lambda w: ["study", "plan", str(w / "study_escape.yaml")], "study.name"),
    Case("eval_empty_stop_string", lambda w: _eval(w, "no_weights", "st30", "suite_stop_empty.yaml"),
         "generation.stop", no_output=_no("st30")),
    Case("eval_temperature_inf", lambda w: _eval(w, "no_weights", "st31", "suite_temperature_inf.yaml"),
         "generation.temperature", no_output=_no("st31")),
    Case("eval_n_items_absurd", lambda w: _eval(w, "no_weights", "st32", "suite_n_items_absurd.yaml"),
         "n_items", no_output=_no("st32")),
    Case("eval_samples_absurd", lambda w: _eval(w, "no_weights", "st33", "suite.yaml", "generation.n=1000000000000"),
         "generation.n", no_output=_no("st33")),
    Case("eval_max_new_tokens_absurd", lambda w: _eval(w, "no_weights", "st34", "suite.yaml",
                                                       "generation.max_new_tokens=1000000000000"),
         "generation.max_new_tokens", no_output=_no("st34")),
    Case("eval_rescore_without_store", lambda w: _eval(w, "no_weights", "st35", "suite.yaml", "--rescore"),
         "--rescore", no_output=_no("st35")),
    Case("summary_nboot_absurd", lambda w: ["eval", "summary", str(w / "store_bad_json"), "--n-boot",
                                            "1000000000000"], "--n-boot"),
    Case("analyze_in_domain_misspelt", lambda w: ["analyze", str(w / "sweep"), "--in-domain", "toy_arithh",
                                                  "--out", str(w / "an_typo"), "--set", "power_sims=0"],
         "did you mean 'toy_arith'", no_output=_no("an_typo")),
    Case("analyze_B_absurd", lambda w: ["analyze", str(w / "sweep"), "--set", "B=1000000000000"], "B"),
    Case("power_n_absurd", lambda w: ["analyze", "power", "--n", "1000000000000", "--k", "4", "--steps", "3"],
         "--n"),
    Case("power_B_absurd", lambda w: ["analyze", "power", "--n", "10", "--k", "4", "--steps", "3", "--B",
                                      "1000000000000"], "--B"),
    Case("power_sims_absurd", lambda w: ["analyze", "power", "--n", "10", "--k", "4", "--steps", "3", "--sims",
                                         "1000000000000"], "--sims"),
    Case("power_depth_not_a_number", lambda w: ["analyze", "power", "--n", "10", "--k", "4", "--steps", "3",
                                                "--depth", "abc"], "--depth"),
    Case("power_base_acc_above_one", lambda w: ["analyze", "power", "--n", "10", "--k", "4", "--steps", "3",
                                                "--base-acc", "2"], "--base-acc"),
    Case("report_empty_object", lambda w: ["report", str(w / "an_empty"), "--out", str(w / "rep1.html")],
         "analysis_version", no_output=_no("rep1_figures")),
    Case("report_list", lambda w: ["report", str(w / "an_list"), "--out", str(w / "rep2.html")], "list",
         no_output=_no("rep2_figures")),
    Case("report_other_version", lambda w: ["report", str(w / "an_v99"), "--out", str(w / "rep3.html")],
         "analysis_version 99", no_output=_no("rep3_figures")),
    Case("curate_garbage_parquet", lambda w: ["curate", str(w / "garbage.parquet"), "--task", "countdown",
                                              "--out", str(w / "cur3")], "garbage.parquet",
         no_output=_no("cur3")),
    Case("curate_garbage_pool_part", lambda w: ["curate", str(w / "pool_garbage"), "--task", "countdown",
                                                "--out", str(w / "cur4")], "part-0.parquet",
         no_output=_no("cur4")),
    Case("curate_jsonl_as_pool", lambda w: ["curate", str(w / "good.jsonl"), "--task", "countdown", "--out",
                                            str(w / "cur5")], "not a readable Parquet file",
         no_output=_no("cur5")),
    Case("score_garbage_parquet", lambda w: ["rollouts", "score", "--model", str(w / "no_weights"), "--data",
                                             str(w / "garbage.parquet"), "--out", str(w / "sc.parquet")],
         "garbage.parquet", no_output=_no("sc.parquet")),
    Case("rollouts_task_n_absurd", lambda w: ["rollouts", "run", "--teacher", f"hf/{w / 'no_weights'}", "--queries",
                                              "toy_arith:1000000000000", "--n", "1", "--out", str(w / "pool3")],
         "N must be from 1", no_output=_no("pool3")),
    Case("rollouts_temperature_inf", lambda w: ["rollouts", "run", "--teacher", f"hf/{w / 'no_weights'}",
                                                "--queries", "toy_arith:2", "--temperature", "inf", "--out",
                                                str(w / "pool4")], "temperature", no_output=_no("pool4")),
    Case("fetch_unknown_benchmark", lambda w: ["data", "fetch", "gsm8kk"], "did you mean 'gsm8k'"),
    Case("variant_output_is_input", lambda w: ["data", "variant", str(w / "self.jsonl"), str(w / "self.jsonl"),
                                               "--kind", "nocot"], "the output file is the input file",
         setup=lambda w: _w(w / "self.jsonl", json.dumps(GOOD_ROW) + "\n")),
    Case("subset_output_is_input", lambda w: ["data", "subset", str(w / "self2.jsonl"), str(w / "self2.jsonl"),
                                              "--rows", "1"], "the output file is the input file",
         setup=lambda w: _w(w / "self2.jsonl", json.dumps(GOOD_ROW) + "\n")),
    Case("nll_nan_weights", lambda w: ["analyze", "nll", "--run", str(w / "run_nan"), "--data", str(w / "good.jsonl"),
                                       "--out", str(w / "nll.json")], "NaN or inf", no_output=_no("nll.json")),
    Case("score_nan_weights", lambda w: ["rollouts", "score", "--model", str(w / "m_nan"), "--data",
                                         str(w / "good.jsonl"), "--out", str(w / "sc2.parquet")], "NaN or inf",
         no_output=_no("sc2.parquet")),
    Case("rollouts_nan_teacher", lambda w: ["rollouts", "run", "--teacher", f"hf/{w / 'm_nan'}", "--queries",
                                            "toy_arith:2", "--n", "1", "--out", str(w / "pool5")], "NaN or inf",
         no_output=_no("pool5")),
    Case("countdown_n_absurd", lambda w: ["data", "countdown", "--out", str(w / "cd9"), "--n", "1000000000000"],
         "--n", no_output=_no("cd9")),
    Case("toy_n_absurd", lambda w: ["data", "toy", "--out", str(w / "toy9"), "--task", "toy_arith", "--n",
                                    "1000000000000"], "--n", no_output=_no("toy9")),
    Case("countdown_unsatisfiable_ranges", lambda w: ["data", "countdown", "--out", str(w / "cd8"), "--n", "2",
                                                      "--num-max", "1000000000000000"], "no instance found",
         no_output=_no("cd8")),
]

CASES: list[Case] = [
    # --- validate and configs -----------------------------------------------------------------------------
    Case("validate_missing_file", lambda w: ["validate", str(w / "nope.yaml")], "nope.yaml"),
    Case("validate_unknown_key", lambda w: ["validate", str(w / "unknown_key.yaml")], "not_a_key"),
    Case("validate_bad_yaml", lambda w: ["validate", str(w / "bad_yaml.yaml")], "bad_yaml.yaml"),
    Case("validate_list_yaml", lambda w: ["validate", str(w / "list.yaml")], "list.yaml"),
    Case("validate_folder", lambda w: ["validate", str(w / "a_folder")], "a_folder"),
    # --- data ---------------------------------------------------------------------------------------------
    Case("countdown_n_zero", lambda w: ["data", "countdown", "--out", str(w / "cd0"), "--n", "0"], "--n",
         no_output=lambda w: w / "cd0" / "countdown.parquet"),
    Case("countdown_n_negative", lambda w: ["data", "countdown", "--out", str(w / "cdn"), "--n", "-5"], "--n",
         no_output=lambda w: w / "cdn" / "countdown.parquet"),
    Case("countdown_out_is_file", lambda w: ["data", "countdown", "--out", str(w / "a_file"), "--n", "4"],
         "a_file"),
    Case("countdown_bad_format", lambda w: ["data", "countdown", "--out", str(w / "cdf"), "--format", "xls"],
         "xls"),
    Case("countdown_min_gt_max", lambda w: ["data", "countdown", "--out", str(w / "cdm"), "--n", "3",
                                           "--min-numbers", "5", "--max-numbers", "3"], "numbers"),
    Case("countdown_not_int", lambda w: ["data", "countdown", "--out", str(w / "cdi"), "--n", "ten"], "--n"),
    Case("countdown_unwritable", lambda w: ["data", "countdown", "--out", "/sys/rsft-out", "--n", "3"],
         "/sys/rsft-out"),
    Case("toy_unknown_task", lambda w: ["data", "toy", "--out", str(w / "toy1"), "--task", "toy_nope"],
         "toy_nope"),
    Case("toy_n_zero", lambda w: ["data", "toy", "--out", str(w / "toy0"), "--task", "toy_arith", "--n", "0"],
         "--n"),
    Case("toy_bad_style", lambda w: ["data", "toy", "--out", str(w / "toy2"), "--task", "toy_arith",
                                     "--style", "fancy"], "fancy"),
    Case("variant_missing_src", lambda w: ["data", "variant", str(w / "nope.jsonl"), str(w / "v.jsonl"),
                                           "--kind", "nocot"], "nope.jsonl"),
    Case("variant_bad_kind", lambda w: ["data", "variant", str(w / "good.jsonl"), str(w / "v1.jsonl"),
                                        "--kind", "shiny"], "shiny", no_output=lambda w: w / "v1.jsonl"),
    Case("variant_bad_json_row", lambda w: ["data", "variant", str(w / "bad_json.jsonl"), str(w / "v2.jsonl"),
                                            "--kind", "nocot"], "bad_json.jsonl", no_output=lambda w: w / "v2.jsonl"),
    Case("variant_src_is_folder", lambda w: ["data", "variant", str(w / "a_folder"), str(w / "v3.jsonl"),
                                             "--kind", "nocot"], "a_folder"),
    Case("variant_bad_rate", lambda w: ["data", "variant", str(w / "good.jsonl"), str(w / "v4.jsonl"),
                                        "--kind", "lowquality", "--wrong-rate", "1.5"], "wrong"),
    Case("variant_dst_unwritable", lambda w: ["data", "variant", str(w / "good.jsonl"), "/sys/rsft/v.jsonl",
                                              "--kind", "nocot"], "/sys/rsft"),
    Case("verify_unknown_task", lambda w: ["data", "verify", str(w / "good.jsonl"), str(w / "ver.jsonl"),
                                           "--task", "nope"], "nope"),
    Case("verify_missing_src", lambda w: ["data", "verify", str(w / "nope.jsonl"), str(w / "ver2.jsonl"),
                                          "--task", "countdown"], "nope.jsonl"),
    Case("stats_missing_src", lambda w: ["data", "stats", str(w / "nope.jsonl")], "nope.jsonl"),
    Case("stats_no_response_column", lambda w: ["data", "stats", str(w / "no_response.jsonl")], "response"),
    Case("stats_null_response", lambda w: ["data", "stats", str(w / "null_response.jsonl")], "response"),
    Case("stats_messages_not_list", lambda w: ["data", "stats", str(w / "messages_not_list.jsonl")],
         "messages"),
    Case("stats_bad_role", lambda w: ["data", "stats", str(w / "bad_role.jsonl")], "robot"),
    Case("stats_csv_bad_messages_json", lambda w: ["data", "stats", str(w / "bad_messages.csv")], "messages"),
    Case("stats_empty_file", lambda w: ["data", "stats", str(w / "empty.jsonl")], "empty.jsonl"),
    Case("stats_bad_tokenizer", lambda w: ["data", "stats", str(w / "good.jsonl"), "--tokenizer",
                                           str(w / "a_folder")], "a_folder"),
    Case("subset_rows_zero", lambda w: ["data", "subset", str(w / "good.jsonl"), str(w / "sub.jsonl"),
                                        "--rows", "0"], "--rows", no_output=lambda w: w / "sub.jsonl"),
    Case("subset_bad_rule", lambda w: ["data", "subset", str(w / "good.jsonl"), str(w / "sub2.jsonl"),
                                       "--rule", "best"], "best"),
    Case("subset_missing_src", lambda w: ["data", "subset", str(w / "nope.jsonl"), str(w / "sub3.jsonl")],
         "nope.jsonl"),
    # --- train --------------------------------------------------------------------------------------------
    Case("train_missing_config", lambda w: ["train", str(w / "nope.yaml")], "nope.yaml"),
    Case("train_unknown_key", lambda w: ["train", str(w / "unknown_key.yaml")], "not_a_key"),
    Case("train_override_not_numeric", lambda w: ["train", str(w / "train.yaml"), "schedule.epochs=two"],
         "schedule.epochs", no_output=lambda w: w / "runs"),
    Case("train_override_unknown_key", lambda w: ["train", str(w / "train.yaml"), "schedule.epoch=2"],
         "schedule.epoch", no_output=lambda w: w / "runs"),
    Case("train_override_no_key", lambda w: ["train", str(w / "train.yaml"), "=5"], "=5",
         no_output=lambda w: w / "runs"),
    Case("train_negative_lr", lambda w: ["train", str(w / "train.yaml"), "schedule.lr=-1"], "lr",
         no_output=lambda w: w / "runs"),
    Case("train_missing_model", lambda w: ["train", str(w / "train.yaml"), f"model.path={w / 'no-model'}"],
         "no-model", no_output=lambda w: w / "runs"),
    Case("train_model_without_weights", lambda w: ["train", str(w / "train.yaml"),
                                                   f"model.path={w / 'no_weights'}"], "no_weights",
         no_output=lambda w: w / "runs"),
    Case("train_model_without_config", lambda w: ["train", str(w / "train.yaml"),
                                                  f"model.path={w / 'no_config'}"], "no_config",
         no_output=lambda w: w / "runs"),
    Case("train_garbage_weights", lambda w: ["train", str(w / "train.yaml"),
                                             f"model.path={w / 'garbage_weights'}"], "garbage_weights",
         no_output=lambda w: w / "runs"),
    Case("train_missing_data", lambda w: ["train", str(w / "train.yaml"), f"data.path={w / 'nope.jsonl'}"],
         "nope.jsonl", no_output=lambda w: w / "runs"),
    Case("train_bad_data_row", lambda w: ["train", str(w / "train.yaml"), f"data.path={w / 'bad_json.jsonl'}"],
         "bad_json.jsonl", no_output=lambda w: w / "runs"),
    Case("train_data_no_response", lambda w: ["train", str(w / "train.yaml"),
                                              f"data.path={w / 'no_response.jsonl'}"], "response",
         no_output=lambda w: w / "runs"),
    Case("train_batch_not_divisible", lambda w: ["train", str(w / "train.yaml"), "schedule.global_batch=3",
                                                 "schedule.micro_batch=2"], "batch",
         no_output=lambda w: w / "runs"),
    Case("train_output_is_file", lambda w: ["train", str(w / "train.yaml"), f"output_dir={w / 'a_file'}"],
         "a_file"),
    Case("train_resume_and_overwrite", lambda w: ["train", str(w / "train.yaml"), "--resume", "--overwrite"],
         "--resume", no_output=lambda w: w / "runs"),
    Case("train_unwritable_output", lambda w: ["train", str(w / "train.yaml"), "output_dir=/sys/rsft-runs"],
         "/sys/rsft-runs"),
    # --- eval ---------------------------------------------------------------------------------------------
    Case("eval_no_model_no_run", lambda w: ["eval", "run", "--suite", str(w / "suite.yaml"), "--store",
                                            str(w / "st1")], "--model"),
    Case("eval_both_model_and_run", lambda w: ["eval", "run", "--model", "x", "--run", str(w / "a_folder"),
                                               "--suite", str(w / "suite.yaml"), "--store", str(w / "st2")],
         "--model"),
    Case("eval_missing_suite", lambda w: ["eval", "run", "--model", "x", "--suite", str(w / "nope.yaml"),
                                          "--store", str(w / "st3")], "nope"),
    Case("eval_unknown_benchmark", lambda w: ["eval", "run", "--model", "x", "--suite",
                                              str(w / "suite_unknown_bench.yaml"), "--store", str(w / "st4")],
         "toy_arithh"),
    Case("eval_unknown_backend", lambda w: ["eval", "run", "--model", "x", "--suite", str(w / "suite.yaml"),
                                            "--store", str(w / "st5"), "--backend", "tpu"], "tpu"),
    Case("eval_store_is_file", lambda w: ["eval", "run", "--model", str(w / "no_weights"), "--suite",
                                          str(w / "suite.yaml"), "--store", str(w / "a_file")], "a_file"),
    Case("eval_store_bad_json", lambda w: ["eval", "run", "--model", str(w / "no_weights"), "--suite",
                                           str(w / "suite.yaml"), "--store", str(w / "store_bad_json")],
         "store.json"),
    Case("eval_store_unknown_version", lambda w: ["eval", "run", "--model", str(w / "no_weights"), "--suite",
                                                  str(w / "suite.yaml"), "--store", str(w / "store_new_version")],
         "store.json"),
    Case("eval_model_missing", lambda w: ["eval", "run", "--model", str(w / "no-model-here"), "--suite",
                                          str(w / "suite.yaml"), "--store", str(w / "st6")], "no-model-here"),
    Case("eval_model_without_weights", lambda w: ["eval", "run", "--model", str(w / "no_weights"), "--suite",
                                                  str(w / "suite.yaml"), "--store", str(w / "st7")], "no_weights"),
    Case("eval_garbage_weights", lambda w: ["eval", "run", "--model", str(w / "garbage_weights"), "--suite",
                                            str(w / "suite.yaml"), "--store", str(w / "st8")], "garbage_weights"),
    Case("eval_run_missing", lambda w: ["eval", "run", "--run", str(w / "no-run"), "--suite",
                                        str(w / "suite.yaml"), "--store", str(w / "st9")], "no-run"),
    Case("eval_run_without_checkpoints", lambda w: ["eval", "run", "--run", str(w / "a_folder"), "--suite",
                                                    str(w / "suite.yaml"), "--store", str(w / "st10")], "a_folder"),
    Case("eval_bad_steps", lambda w: ["eval", "run", "--run", str(w / "a_folder"), "--steps", "ten",
                                      "--suite", str(w / "suite.yaml"), "--store", str(w / "st11")], "ten"),
    Case("eval_poll_negative", lambda w: ["eval", "run", "--run", str(w / "a_folder"), "--watch", "--poll",
                                          "-1", "--suite", str(w / "suite.yaml"), "--store", str(w / "st12")],
         "--poll"),
    Case("eval_lease_negative", lambda w: ["eval", "run", "--model", "x", "--lease-ttl", "-1", "--suite",
                                           str(w / "suite.yaml"), "--store", str(w / "st13")], "--lease-ttl"),
    Case("eval_override_unknown", lambda w: ["eval", "run", "--model", "x", "--suite", str(w / "suite.yaml"),
                                             "--store", str(w / "st14"), "generation.temprature=1"],
         "temprature"),
    Case("eval_bench_option_typo", lambda w: ["eval", "run", "--model", str(w / "no_weights"), "--suite",
                                              str(w / "suite.yaml"), "--store", str(w / "st15"),
                                              "benchmarks.toy_arith.options.n_itmes=3"], "n_itmes"),
    Case("summary_not_a_store", lambda w: ["eval", "summary", str(w / "a_folder")], "a_folder"),
    Case("summary_store_is_file", lambda w: ["eval", "summary", str(w / "a_file")], "a_file"),
    Case("summary_k_zero", lambda w: ["eval", "summary", str(w / "store_bad_json"), "--k", "0"], "--k"),
    Case("summary_nboot_zero", lambda w: ["eval", "summary", str(w / "store_bad_json"), "--n-boot", "0"],
         "--n-boot"),
    Case("summary_bad_store_json", lambda w: ["eval", "summary", str(w / "store_bad_json")], "store.json"),
    Case("check_missing_store", lambda w: ["eval", "check", str(w / "no-store-c")], "no-store-c",
         no_output=lambda w: w / "no-store-c"),
    Case("check_store_is_file", lambda w: ["eval", "check", str(w / "a_file")], "a_file"),
    Case("check_bad_store_json", lambda w: ["eval", "check", str(w / "store_bad_json")], "store.json"),
    Case("check_unknown_version", lambda w: ["eval", "check", str(w / "store_new_version")], "store_new_version"),
    # --- analyze and report -------------------------------------------------------------------------------
    Case("analyze_missing_store", lambda w: ["analyze", str(w / "no-store")], "no-store",
         no_output=lambda w: w / "no-store"),  # its default output is inside STORE: nothing is created
    Case("analyze_store_is_file", lambda w: ["analyze", str(w / "a_file")], "a_file"),
    Case("analyze_empty_store", lambda w: ["analyze", str(w / "a_folder")], "a_folder"),
    Case("analyze_bad_store_json", lambda w: ["analyze", str(w / "store_bad_json")], "store_bad_json"),
    Case("analyze_unknown_version", lambda w: ["analyze", str(w / "store_new_version")], "store_new_version"),
    Case("report_missing", lambda w: ["report", str(w / "no-analysis")], "no-analysis"),
    Case("report_empty_folder", lambda w: ["report", str(w / "empty_analysis")], "empty_analysis"),
    Case("report_file", lambda w: ["report", str(w / "a_file")], "a_file"),
    # --- study --------------------------------------------------------------------------------------------
    Case("study_plan_missing", lambda w: ["study", "plan", str(w / "nope.yaml")], "nope"),
    Case("study_plan_unknown_key", lambda w: ["study", "plan", str(w / "unknown_key.yaml")], "unknown_key"),
    Case("study_run_missing", lambda w: ["study", "run", str(w / "nope.yaml")], "nope"),
    Case("study_bad_shard", lambda w: ["study", "run", str(w / "nope.yaml"), "--shard", "3/2"], "shard"),
    Case("study_bad_stop_after", lambda w: ["study", "run", str(w / "nope.yaml"), "--stop-after", "lunch"],
         "lunch"),
    # --- the issue's listed cases: model folders, rows, study references ---------------------------------
    Case("train_vocab_exceeds_embedding", lambda w: ["train", str(w / "train.yaml"),
                                                     f"model.path={w / 'big_vocab'}"], "embedding",
         no_output=lambda w: w / "runs"),
    Case("eval_vocab_exceeds_embedding", lambda w: ["eval", "run", "--model", str(w / "big_vocab"), "--suite",
                                                    str(w / "suite.yaml"), "--store", str(w / "st20")],
         "embedding"),
    Case("train_model_without_tokenizer", lambda w: ["train", str(w / "train.yaml"),
                                                     f"model.path={w / 'no_tokenizer'}"], "no tokenizer files",
         no_output=lambda w: w / "runs"),
    Case("eval_model_without_tokenizer", lambda w: ["eval", "run", "--model", str(w / "no_tokenizer"), "--suite",
                                                    str(w / "suite.yaml"), "--store", str(w / "st21")],
         "no tokenizer files"),
    Case("train_truncated_weights", lambda w: ["train", str(w / "train.yaml"),
                                               f"model.path={w / 'truncated_weights'}"], "truncated",
         no_output=lambda w: w / "runs"),
    Case("eval_truncated_weights", lambda w: ["eval", "run", "--model", str(w / "truncated_weights"), "--suite",
                                              str(w / "suite.yaml"), "--store", str(w / "st22")], "truncated"),
    Case("eval_model_without_config", lambda w: ["eval", "run", "--model", str(w / "no_config"), "--suite",
                                                 str(w / "suite.yaml"), "--store", str(w / "st23")],
         "config.json"),
    Case("eval_checkpoint_without_config", lambda w: ["eval", "run", "--run", str(w / "run_no_config"),
                                                      "--suite", str(w / "suite.yaml"), "--store", str(w / "st24")],
         "config.json"),
    Case("stats_lone_surrogate", lambda w: ["data", "stats", str(w / "surrogate.jsonl")], "surrogate"),
    Case("verify_lone_surrogate", lambda w: ["data", "verify", str(w / "surrogate.jsonl"), str(w / "ver3.jsonl"),
                                             "--task", "toy_arith"], "row 1", no_output=lambda w: w / "ver3.jsonl"),
    Case("train_lone_surrogate", lambda w: ["train", str(w / "train.yaml"), f"data.path={w / 'surrogate.jsonl'}"],
         "surrogate", no_output=lambda w: w / "runs"),
    Case("train_null_response", lambda w: ["train", str(w / "train.yaml"),
                                           f"data.path={w / 'null_response.jsonl'}"], "response is null",
         no_output=lambda w: w / "runs"),
    Case("stats_null_response_named", lambda w: ["data", "stats", str(w / "null_response.jsonl")],
         "response is null"),
    Case("stats_csv_cell_not_json", lambda w: ["data", "stats", str(w / "bad_messages.csv")], "not valid JSON"),
    Case("train_data_is_folder", lambda w: ["train", str(w / "train.yaml"), f"data.path={w / 'a_folder'}"],
         "a_folder", no_output=lambda w: w / "runs"),
    Case("study_unknown_dataset", lambda w: ["study", "plan", str(w / "study_unknown_dataset.yaml")],
         "runs.0.dataset: unknown dataset 'nope'"),
    Case("study_run_missing_model", lambda w: ["study", "run", str(w / "study_missing_model.yaml")],
         "study_missing_model.yaml"),
    Case("study_model_path_missing", lambda w: ["study", "run", str(w / "study_model_path_missing.yaml")],
         "no-such-model", no_output=lambda w: w / "studies" / "s" / "runs"),
    Case("eval_n_items_negative", lambda w: ["eval", "run", "--model", str(w / "no_weights"), "--suite",
                                             str(w / "suite_n_items_negative.yaml"), "--store", str(w / "st25")],
         "n_items"),
    Case("subset_rows_negative", lambda w: ["data", "subset", str(w / "good.jsonl"), str(w / "sub4.jsonl"),
                                            "--rows", "-2"], "--rows", no_output=lambda w: w / "sub4.jsonl"),
    Case("summary_k_negative", lambda w: ["eval", "summary", str(w / "store_bad_json"), "--k", "-1"], "--k"),
    Case("summary_nboot_small", lambda w: ["eval", "summary", str(w / "store_bad_json"), "--n-boot", "99"],
         "--n-boot"),
    Case("power_k_zero", lambda w: ["analyze", "power", "--n", "10", "--k", "0", "--steps", "3"], "--k"),
    Case("rollouts_n_zero", lambda w: ["rollouts", "run", "--n", "0", "--out", str(w / "pool2")], "--n"),
    # --- rollouts and curate ------------------------------------------------------------------------------
    Case("rollouts_no_args", lambda w: ["rollouts", "--out", str(w / "pool1")], "--"),
    Case("curate_missing_pool", lambda w: ["curate", str(w / "no-pool"), "--task", "countdown", "--out",
                                           str(w / "cur1")], "no-pool"),
    Case("curate_unknown_task", lambda w: ["curate", str(w / "a_folder"), "--task", "nope", "--out",
                                           str(w / "cur2")], "nope"),
    *ISSUE23,
]


# cases fixed by typed benchmark options (issue 17): expected to fail only while they are not there
_TYPED_OPTIONS_MISSING = not hasattr(importlib.import_module("rsft.bench.base"), "BenchmarkOptions")
PENDING = {
    "eval_bench_option_typo": "typed benchmark options (issue 17) reject a misspelled option",
    "eval_n_items_negative": "typed benchmark options (issue 17) bound n_items",
}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.xfail(_TYPED_OPTIONS_MISSING, reason=PENDING[c.id], strict=True))
        if c.id in PENDING
        else c
        for c in CASES
    ],
    ids=[c.id for c in CASES],
)
def test_bad_input(case: Case, ws: Path, capsys):
    if case.setup is not None:
        case.setup(ws)
    with pytest.raises(SystemExit) as exit_info:
        main(case.argv(ws))
    out = capsys.readouterr()
    text = out.out + out.err
    assert exit_info.value.code not in (0, None), text
    assert "Traceback" not in text
    culprit = case.culprit(ws) if callable(case.culprit) else case.culprit
    assert culprit.lower() in text.lower(), f"message does not name {culprit!r}: {text}"
    if case.no_output is not None:
        assert not case.no_output(ws).exists(), f"half-written output left at {case.no_output(ws)}"


def test_the_matrix_is_large_and_covers_every_command():
    assert len(CASES) >= 175
    commands = {c.argv(Path("/w"))[0] for c in CASES}
    assert {"validate", "data", "train", "eval", "analyze", "report", "study", "rollouts", "curate"} <= commands


@pytest.fixture
def tiny_disk(tmp_path):
    """A 300 KB tmpfs: room for the run folder and one checkpoint of the tiny model, not for the run."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_full_disk_during_checkpoint_write(tiny_disk, tiny_model_dir, tmp_path, capsys):
    """The disk fills while checkpoints are written: one line naming the disk, no traceback, and every checkpoint
    left behind is complete (a half-written one is never listed, so --resume and eval cannot trust it)."""
    from rsft._util.model_folder import check_model_folder
    from rsft.train.checkpoints import list_checkpoints

    data = _w(tmp_path / "d.jsonl", (json.dumps(GOOD_ROW) + "\n") * 8)
    cfg = _w(
        tmp_path / "t.yaml",
        f"model: {{path: {tiny_model_dir}, dtype: float32}}\ndata: {{path: {data}, max_length: 64}}\n"
        "schedule: {lr: 1.0e-3, epochs: 1, global_batch: 1, micro_batch: 1}\n"
        f"checkpoints: {{every: 1, keep: all}}\noutput_dir: {tiny_disk}\nrun_name: r\n",
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(cfg), "--no-progress"])
    out = capsys.readouterr()
    text = out.out + out.err
    assert exit_info.value.code not in (0, None), text
    assert "Traceback" not in text
    assert "while writing" in text and str(tiny_disk) in text, text  # during the run, not at the boundary
    kept = list_checkpoints(tiny_disk / "r")
    assert kept, "the checkpoints written before the disk filled are kept"
    for _, step in kept:
        check_model_folder(step)  # complete: config, untruncated weights, tokenizer
    assert not list((tiny_disk / "r" / "checkpoints").glob(".tmp-*")), "a half-written folder is left"
