"""One run-name function: the same run gets the same name from `rsft train` and from `rsft study`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rsft.cli.main import app
from rsft.train.config import ScheduleConfig, run_name


@pytest.mark.parametrize(
    ("lr", "text"), [(5e-5, "5e-5"), (1e-4, "1e-4"), (2e-3, "2e-3"), (1.5e-5, "1.5e-5"), (0.5, "0.5"), (3.0, "3")]
)
def test_learning_rates_are_written_the_short_way(lr, text):
    assert run_name("m", "d", ScheduleConfig(lr=lr)).startswith(f"m_d_lr{text}_ep")


@pytest.mark.parametrize("lr", ["5e-5", "1e-4", "2.5e-6"])
def test_rsft_train_and_rsft_study_name_a_run_identically(tmp_path, lr):
    """The study's model and dataset keys equal the train config's folder and file names, so both entry points
    must produce one name; before, the study wrote 5e-5 as 5e-05."""
    schedule = f"{{lr: {lr}, epochs: 8, global_batch: 256, micro_batch: 4}}"
    (tmp_path / "train.yaml").write_text(
        f"model: {{path: models/Qwen3-8B-Base}}\ndata: {{path: data/Math-CoT-20k.jsonl}}\nschedule: {schedule}\n"
    )
    (tmp_path / "study.yaml").write_text(
        "study: {name: s, output_dir: out}\n"
        "models: {Qwen3-8B-Base: {path: models/Qwen3-8B-Base}}\n"
        "datasets: {Math-CoT-20k: {path: data/Math-CoT-20k.jsonl, rows: 20480}}\n"
        f"train: {{schedule: {schedule}}}\n"
        "runs: [{model: Qwen3-8B-Base, dataset: Math-CoT-20k}]\n"
    )
    runner = CliRunner()
    train = runner.invoke(app, ["validate", str(tmp_path / "train.yaml")], env={"COLUMNS": "400"})
    assert train.exit_code == 0, train.output
    study = runner.invoke(app, ["study", "plan", str(tmp_path / "study.yaml"), "--json"])
    assert study.exit_code == 0, study.output
    (study_name,) = [r["name"] for r in json.loads(study.output)["runs"]]
    expected = f"Qwen3-8B-Base_Math-CoT-20k_lr{lr}_ep8_bs256"
    assert study_name == expected
    assert f"'{expected}'" in " ".join(train.output.split())


def test_a_study_hands_the_source_of_each_value_to_the_trainer(tmp_path):
    """resolved_config.yaml of a study run tags an lr set in the study file `# file`, one set on the study's
    command line `# cli`, values the study derives `# study`, and the rest `# default`."""
    from rsft.study.config import load_study
    from rsft.study.matrix import resolve_runs
    from rsft.train.sft import write_resolved_config

    (tmp_path / "study.yaml").write_text(
        "study: {name: s, output_dir: out}\n"
        "models: {m: {path: models/m}}\n"
        "datasets: {d: {path: d.jsonl, rows: 64}}\n"
        "train: {schedule: {lr: 5.0e-5, global_batch: 8, micro_batch: 4}}\n"
        "runs: [{model: m, dataset: d, overrides: {schedule.epochs: 2}}]\n"
    )
    (run,) = resolve_runs(load_study(tmp_path / "study.yaml", ["train.schedule.warmup_ratio=0.2"]))
    write_resolved_config(run.train, tmp_path / "resolved.yaml", run.sources)
    tags = {}
    for line in (tmp_path / "resolved.yaml").read_text().splitlines():
        if "#" in line and not line.startswith("#"):
            key, _, tag = line.partition("#")
            tags[key.split(":")[0].strip()] = tag.strip()
    assert (tags["lr"], tags["global_batch"], tags["epochs"]) == ("file", "file", "file")
    assert tags["warmup_ratio"] == "cli"
    assert (tags["output_dir"], tags["run_name"]) == ("study", "study")
    assert (tags["path"], tags["seed"], tags["max_grad_norm"]) == ("file", "default", "default")


def test_a_misspelled_key_of_the_train_section_is_named_once_with_a_suggestion(tmp_path):
    from rsft._util.errors import ConfigError
    from rsft.study.config import load_study

    (tmp_path / "study.yaml").write_text(
        "study: {name: s}\nmodels: {m: {path: models/m}}\ndatasets: {d: {path: d.jsonl}}\n"
        "train: {schedule: {lrr: 1.0e-5}}\nruns: [{model: m, dataset: d}]\n"
    )
    with pytest.raises(ConfigError) as ei:
        load_study(tmp_path / "study.yaml")
    assert "train.schedule.lrr: unknown key; did you mean 'lr'?" in str(ei.value)


@pytest.mark.parametrize(
    "schedule",
    [
        {"lr": 5e-5, "epochs": 8, "global_batch": 256},
        {"lr": 1e-4, "epochs": 16, "global_batch": 256, "scheduler": "constant"},
        {"lr": 1e-5, "epochs": 1, "global_batch": 32},
        {"lr": 1e-3, "max_steps": 48, "global_batch": 8},  # the demo's runs are named by steps
        {"lr": 2.5e-6, "max_steps": 640, "global_batch": 32, "scheduler": "constant"},
    ],
)
def test_a_run_name_parses_back_to_the_schedule_it_was_written_from(schedule):
    """run_name and parse_run_name round-trip, types preserved (lr a float, epochs or max_steps an int)."""
    from rsft.train.config import parse_run_name

    for model, dataset in (("Qwen3-14B-Base", "Math-CoT-20k"), ("large", "long-cot"), ("micro", "cd-cot")):
        s = ScheduleConfig(micro_batch=min(4, schedule["global_batch"]), **schedule)
        name = run_name(model, dataset, s)
        got = parse_run_name(name)
        assert got["model"] == model and got["dataset"] == dataset
        assert isinstance(got["lr"], float) and got["lr"] == pytest.approx(s.lr, rel=1e-12)
        length = {"max_steps": s.max_steps} if s.max_steps is not None else {"epochs": s.epochs}
        assert {k: got[k] for k in length} == length and all(isinstance(v, int) for v in length.values())
        assert got["batch"] == s.global_batch and got["schedule"] == ("constant" if s.scheduler == "constant" else "cosine")
        again = ScheduleConfig(lr=got["lr"], global_batch=got["batch"], micro_batch=s.micro_batch,
                               scheduler=s.scheduler, **length)  # fmt: skip
        assert run_name(got["model"], got["dataset"], again) == name


def test_names_not_written_by_run_name_have_no_conditions():
    from rsft.train.config import parse_run_name

    for name in ("my-run", "a_b_lrX_ep8_bs4", "m_d_lr5e-5_ep8", "m_d_lr5e-5_xx8_bs4"):
        assert parse_run_name(name) == {}
