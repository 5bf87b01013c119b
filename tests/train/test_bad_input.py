"""Every bad-input case: no chat template, overlong rows, non-finite loss, indivisible batch."""

from __future__ import annotations

import json
import shutil

import pytest
from train_helpers import make_rows, write_jsonl

from rsft._util.errors import ConfigError, RsftError
from rsft.data.schemas import SFTRow
from rsft.train.checkpoints import list_checkpoints
from rsft.train.data import encode_rows
from rsft.train.sft import TrainingDiverged, train


def test_missing_chat_template_says_how_to_pass_one(tmp_path, make_cfg, tiny_model_dir):
    bare = tmp_path / "bare"
    shutil.copytree(tiny_model_dir, bare)
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    tc = json.loads((bare / "tokenizer_config.json").read_text())
    tc.pop("chat_template", None)
    (bare / "tokenizer_config.json").write_text(json.dumps(tc))
    with pytest.raises(RsftError) as e:
        train(make_cfg(model={"path": str(bare)}), progress=False)
    assert "no chat template" in e.value.render() and "model.chat_template" in e.value.render()
    # passing one as a file works, and the checkpoints carry it
    from rsft.toy import QWEN3_STYLE_TEMPLATE

    tpl = tmp_path / "qwen3.jinja"
    tpl.write_text(QWEN3_STYLE_TEMPLATE)
    res = train(
        make_cfg(model={"path": str(bare), "chat_template": str(tpl)}, schedule={"max_steps": 1}),
        progress=False,
    )
    assert (res.checkpoints[-1][1] / "chat_template.jinja").read_text() == QWEN3_STYLE_TEMPLATE


def test_overlong_rows_truncate_or_skip(tiny_tokenizer):
    rows = [
        SFTRow([{"role": "user", "content": "Hi"}], "short"),
        SFTRow([{"role": "user", "content": "Hi"}], "Let me think step by step. " * 20),
    ]
    cut = encode_rows(tiny_tokenizer, rows, max_length=40, overlong="truncate", use_weights=False)
    assert (cut.truncated, cut.skipped, len(cut.rows)) == (1, 0, 2)
    assert (
        len(cut.rows[1].ids) == 40 and cut.rows[1].ids[-1] != tiny_tokenizer.eos_token_id
    )  # right truncation
    skip = encode_rows(tiny_tokenizer, rows, max_length=40, overlong="skip", use_weights=False)
    assert (skip.truncated, skip.skipped, [r.source_row for r in skip.rows]) == (0, 1, [0])
    with pytest.raises(RsftError, match="no training row left"):
        encode_rows(tiny_tokenizer, rows, max_length=5, overlong="skip", use_weights=False)


def test_overlong_counts_are_reported(make_cfg, capsys):
    train(make_cfg(data={"max_length": 40}, schedule={"max_steps": 1}), progress=False)
    err = capsys.readouterr().err
    assert "rows truncated to 40 tokens" in err


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, make_cfg):
    rows = make_rows(24)
    rows[10]["weight"] = 1e38  # finite as a number, but weight x loss overflows float32 in step 2 (rows 8-15)
    data = write_jsonl(tmp_path / "huge.jsonl", rows)
    cfg = make_cfg(data={"path": str(data)}, loss={"weighting": "weight"}, checkpoints={"every": 1})
    with pytest.raises(TrainingDiverged) as e:
        train(cfg, progress=False)
    msg = e.value.render()
    assert "at step 2" in msg and "last good checkpoint is step 1" in msg
    run = cfg.run_dir()
    assert [s for s, _ in list_checkpoints(run)] == [0, 1]
    assert not (run / "DONE").exists()
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1]


def test_non_finite_gradient_norm_skips_the_update(make_cfg, capsys):
    """lr 1e30 blows the weights up after step 1: later losses stay finite but gradients are NaN -> skipped."""
    cfg = make_cfg(schedule={"lr": 1e30, "scheduler": "constant", "max_steps": 3}, checkpoints={"every": 1})
    res = train(cfg, progress=False)
    lines = [json.loads(x) for x in (res.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [x["skipped"] for x in lines] == [False, True, True]
    assert res.checkpoints[2][1].joinpath("meta.json").exists()
    assert "gradient norm is nan; update skipped" in capsys.readouterr().err
    from rsft._util.hashing import weights_hash

    assert weights_hash(res.checkpoints[1][1]) == weights_hash(
        res.checkpoints[3][1]
    )  # no update after step 1


def test_batch_not_divisible_is_a_clear_error(make_cfg):
    with pytest.raises(ConfigError, match="not divisible by micro_batch"):
        train(make_cfg(schedule={"global_batch": 6, "micro_batch": 4}), progress=False)
