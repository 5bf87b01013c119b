"""Name lookups say "did you mean", know which kind a name is, and packaged files describe themselves in a sentence."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rsft._util.errors import RsftError
from rsft.cli.main import app
from rsft.resources import packaged_configs, packaged_names, packaged_suites, resolve_config


@pytest.mark.parametrize(
    ("name", "kind", "close"),
    [("tyo", "suite", "toy"), ("papr", "study", "paper"), ("train/ty", "train", "train/toy"),
     ("paper/dynamic", "study", "paper/dynamics"), ("quik", "any", "quick")],
)  # fmt: skip
def test_a_mistyped_name_gets_the_closest_name_of_its_kind(name, kind, close):
    with pytest.raises(RsftError) as e:
        resolve_config(name, kind)
    assert f"did you mean '{close}'?" in str(e.value)


def test_a_study_lookup_lists_studies_not_training_configs():
    with pytest.raises(RsftError) as e:
        resolve_config("papr", "study")
    listed = str(e.value).split("packaged: ", 1)[1]
    assert "paper/dynamics" in listed and "train/toy" not in listed and "accelerate/ddp" not in listed


def test_a_name_of_another_kind_is_named_as_such():
    with pytest.raises(RsftError) as e:
        resolve_config("train/toy", "suite")
    assert "is a packaged file, but not a suite" in str(e.value)


def test_validate_checks_every_kind_a_name_has():
    """`paper` is a suite and a study: `rsft validate paper` checks both (it checked only the suite)."""
    r = CliRunner().invoke(app, ["validate", "paper"], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    assert "valid study 'paper'" in r.output and "valid suite 'paper'" in r.output


def test_suites_lists_on_stdout_with_one_sentence_each(capfd):
    from rsft.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["suites"])
    assert e.value.code in (0, None)
    out, err = capfd.readouterr()
    assert "toy" in out and "train/toy" in out and "toy" not in err


@pytest.mark.parametrize("path", [*packaged_suites().values(), *dict.fromkeys(packaged_configs().values())])
def test_each_packaged_file_opens_with_a_whole_sentence_a_user_can_read(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# "), path
    text = first[2:]
    assert text[0].isupper() and text.endswith((".", "?")) and len(first) <= 120, first
    assert ".md" not in text and "§" not in text, first  # no files the package does not ship


def test_kinds_partition_the_configs():
    configs = set(packaged_names("config"))
    studies, train = set(packaged_names("study")), set(packaged_names("train"))
    assert studies and train and not studies & train and studies | train <= configs


def test_packaged_toy_bases_resolve_from_any_folder_and_a_typo_is_named():
    from rsft.resources import TOY_BASES_DIR, packaged_model
    from rsft.train.config import ModelConfig

    assert ModelConfig(path="rsft:toy/large").path == str(TOY_BASES_DIR / "large")
    assert packaged_model("rsft:toy/small") == str(TOY_BASES_DIR / "small")
    assert packaged_model("Qwen/Qwen3-8B-Base") == "Qwen/Qwen3-8B-Base"  # anything else as it is
    with pytest.raises(RsftError) as e:
        packaged_model("rsft:toy/lage")
    assert "did you mean 'rsft:toy/large'?" in str(e.value)


def test_the_vllm_backend_on_a_cpu_machine_points_to_the_hf_backend():
    pytest.importorskip("torch")
    import importlib.util

    import torch

    if importlib.util.find_spec("vllm") is not None or torch.cuda.is_available():
        pytest.skip("vllm is installed or a GPU is present: the hint for a CPU machine without vllm does not apply")
    from rsft.generate.vllm import VLLMBackend

    with pytest.raises(RsftError) as e:
        VLLMBackend("m")
    assert "--backend hf" in str(e.value) and "rsft[vllm]" in str(e.value)


def test_a_mistyped_backend_gets_the_closest_backend(tmp_path, capfd):
    from rsft.cli.main import main
    from rsft.generate.registry import split_backend_id

    with pytest.raises(SystemExit) as e:
        main(["eval", "--model", "m", "--suite", "toy", "--store", str(tmp_path / "s"), "--backend", "vlm"])
    assert e.value.code == 2
    assert "did you mean 'vllm'?" in capfd.readouterr().err
    with pytest.raises(RsftError) as err:
        split_backend_id("hff/models/x")
    assert "did you mean 'hf'?" in str(err.value)
    assert not (tmp_path / "s").exists()  # nothing left behind
