"""SFT readers and writers: every accepted form, one test per bad-input case, the card, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rsft._util.errors import DataError, OfflineError
from rsft._util.hashing import hash_file
from rsft.data.io import card_path, read_card, read_sft, write_sft
from rsft.data.schemas import SFTRow

GOOD = {"messages": [{"role": "user", "content": "hi"}], "response": "<think>a</think>b", "weight": 0.5}


def _jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _rows(n: int = 3) -> list[SFTRow]:
    return [
        SFTRow(
            [{"role": "user", "content": f"q{i} é"}],
            f"<think>t{i}</think>a{i}",
            1.0 + i,
            id=f"r{i}",
            metadata={"task": "x", "k": [i]},
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_round_trip_with_card(tmp_path, suffix):
    rows = _rows()
    rows[1].teacher_logprobs = [-0.5, -1.0]
    path = tmp_path / f"train.{suffix}"
    cp = write_sft(rows, path, card={"source": "test", "generator": {"name": "t", "version": 1}, "seed": 3})
    assert cp == card_path(path) == tmp_path / "train.card.json"
    card = read_card(path)
    assert card["rows"] == 3 and card["seed"] == 3 and card["sha256"] == hash_file(path)
    back = read_sft(path)
    assert [r.to_record() for r in back] == [r.to_record() for r in rows]
    first = path.read_bytes()
    write_sft(rows, path, card={"seed": 3})
    assert path.read_bytes() == first  # same rows -> byte-identical file


def test_paper_columns_prompt_and_advantage(tmp_path):
    p = _jsonl(
        tmp_path / "a.jsonl",
        [
            {"message": [{"role": "user", "content": "q"}], "response": "r", "advantage": 2},
            {"prompt": "plain", "response": "r"},
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "from chat"}]},
        ],
    )
    rows = read_sft(p)
    assert rows[0].weight == 2.0 and rows[0].messages[0]["content"] == "q"
    assert rows[1].messages == [{"role": "user", "content": "plain"}] and rows[1].weight == 1.0
    assert rows[2].response == "from chat" and len(rows[2].messages) == 1


def test_column_map(tmp_path):
    p = _jsonl(tmp_path / "a.jsonl", [{"question": "q", "answer": "a"}])
    rows = read_sft(p, column_map={"question": "prompt", "answer": "response"})
    assert rows[0].response == "a"


def test_csv(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text('messages,response,weight\n"[{""role"": ""user"", ""content"": ""q""}]",r,0.25\n')
    rows = read_sft(p)
    assert rows[0].messages == [{"role": "user", "content": "q"}] and rows[0].weight == 0.25


def test_save_to_disk_folder(tmp_path):
    import datasets

    datasets.Dataset.from_list([GOOD, GOOD]).save_to_disk(str(tmp_path / "ds"))
    assert len(read_sft(tmp_path / "ds")) == 2
    datasets.DatasetDict({"test": datasets.Dataset.from_list([GOOD])}).save_to_disk(str(tmp_path / "dd"))
    assert len(read_sft(tmp_path / "dd", split="test")) == 1
    with pytest.raises(DataError, match="no split 'train'"):
        read_sft(tmp_path / "dd")


def test_hub_id_offline_names_the_id(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(OfflineError) as e:
        read_sft("rsft-test/no-such-dataset", revision="0123456789abcdef")
    assert "rsft-test/no-such-dataset" in str(e.value) and "HF_HUB_OFFLINE" in str(e.value)
    with pytest.raises(OfflineError):
        read_sft("rsft-test/no-such-dataset@0123456789abcdef")


def test_hub_id_needs_revision():
    with pytest.raises(DataError, match="pinned revision") as e:
        read_sft("rsft-test/no-such-dataset")
    assert e.value.field == "revision"


def _bad(tmp_path, record, row=1):
    return _jsonl(tmp_path / "bad.jsonl", [GOOD] * row + [record])


@pytest.mark.parametrize(
    ("record", "field", "text"),
    [
        ({"response": "r"}, "messages", "missing column 'messages'"),
        ({"messages": GOOD["messages"]}, "response", "missing column 'response'"),
        ({**GOOD, "response": 3}, "response", "wrong type"),
        ({**GOOD, "weight": "heavy"}, "weight", "wrong type"),
        ({**GOOD, "weight": True}, "weight", "wrong type"),
        ({**GOOD, "teacher_logprobs": "x"}, "teacher_logprobs", "wrong type"),
        ({**GOOD, "response": "   "}, "response", "empty response"),
        ({**GOOD, "messages": "hello"}, "messages", "messages not a list"),
        ({**GOOD, "messages": [{"role": "wizard", "content": "x"}]}, "messages", "unknown role 'wizard'"),
        ({**GOOD, "messages": [{"role": "user"}]}, "messages", "not an object with 'role' and 'content'"),
    ],
)
def test_bad_rows_name_file_row_field(tmp_path, record, field, text):
    p = _bad(tmp_path, record)
    with pytest.raises(DataError, match=text) as e:
        read_sft(p)
    assert e.value.file == str(p) and e.value.row == 1 and e.value.field == field
    assert f"file {p}, row 1, field '{field}'" in e.value.render()


def test_unclosed_think_error_keep_drop(tmp_path):
    bad = {**GOOD, "response": "<think>never closed"}
    p = _jsonl(tmp_path / "u.jsonl", [GOOD, bad, GOOD, bad])
    with pytest.raises(DataError, match=r"2 response\(s\) open <think> .* rows 1, 3") as e:
        read_sft(p)
    assert e.value.row == 1 and e.value.field == "response"
    kept = read_sft(p, on_unclosed="keep")
    assert len(kept) == 4 and kept[1].metadata["unclosed_think"]
    assert len(read_sft(p, on_unclosed="drop")) == 2


def test_corrupt_parquet(tmp_path):
    p = tmp_path / "c.parquet"
    write_sft(_rows(), p, card={})
    p.write_bytes(p.read_bytes()[:40] + b"garbage" * 5)
    with pytest.raises(DataError, match="corrupt or unreadable Parquet") as e:
        read_sft(p)
    assert e.value.file == str(p)


def test_invalid_utf8_jsonl_and_csv(tmp_path):
    p = tmp_path / "u.jsonl"
    p.write_bytes(json.dumps(GOOD).encode() + b"\n" + b'{"prompt": "\xff\xfe", "response": "r"}\n')
    with pytest.raises(DataError, match="invalid UTF-8") as e:
        read_sft(p)
    assert e.value.row == 1
    c = tmp_path / "u.csv"
    c.write_bytes(b"prompt,response\nq,r\nq,\xff\n")
    with pytest.raises(DataError, match="invalid UTF-8") as e:
        read_sft(c)
    assert e.value.row == 1


@pytest.mark.parametrize("name", ["e.jsonl", "e.csv", "e.parquet"])
def test_empty_file(tmp_path, name):
    p = tmp_path / name
    if name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(
            pa.table({"prompt": pa.array([], pa.string()), "response": pa.array([], pa.string())}), p
        )
    else:
        p.write_text("prompt,response\n" if name.endswith(".csv") else "\n")
    with pytest.raises(DataError, match="empty"):
        read_sft(p)


def test_not_json_and_missing_path(tmp_path):
    p = tmp_path / "j.jsonl"
    p.write_text(json.dumps(GOOD) + "\n{oops\n")
    with pytest.raises(DataError, match="line 2 is not valid JSON") as e:
        read_sft(p)
    assert e.value.row == 1
    with pytest.raises(DataError, match="no such file"):
        read_sft(tmp_path / "missing.jsonl")
    with pytest.raises(DataError, match="no such file"):
        read_sft("data/missing.parquet")  # a relative path is not mistaken for a hub id
    with pytest.raises(DataError, match="unsupported file type"):
        (tmp_path / "x.txt").write_text("x")
        read_sft(tmp_path / "x.txt")
