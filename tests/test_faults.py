"""The one fault-injection hook: named points that die or pause when a crash test asks."""

from __future__ import annotations

import time

import pytest

from rsft._util.errors import RsftError
from rsft._util.faults import fault_delays, fault_point


def test_delays_are_read_per_point_and_the_legacy_spelling_still_works(monkeypatch):
    monkeypatch.delenv("RSFT_TRAIN_SLEEP_PER_STEP", raising=False)
    monkeypatch.setenv("RSFT_FAULT_DELAY", "study:analysis=0.5, train:step=0.25")
    assert fault_delays() == {"study:analysis": 0.5, "train:step": 0.25}
    monkeypatch.delenv("RSFT_FAULT_DELAY")
    monkeypatch.setenv("RSFT_TRAIN_SLEEP_PER_STEP", "0.15")
    assert fault_delays() == {"train:step": 0.15}


def test_a_point_pauses_only_when_named(monkeypatch):
    monkeypatch.delenv("RSFT_TRAIN_SLEEP_PER_STEP", raising=False)
    monkeypatch.delenv("RSFT_FAULT", raising=False)
    monkeypatch.setenv("RSFT_FAULT_DELAY", "here=0.2")
    t0 = time.perf_counter()
    fault_point("elsewhere")
    assert time.perf_counter() - t0 < 0.15
    fault_point("here")
    assert time.perf_counter() - t0 >= 0.2


@pytest.mark.parametrize("value", ["train:step", "train:step=soon"])
def test_a_malformed_delay_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("RSFT_FAULT_DELAY", value)
    with pytest.raises(RsftError, match="RSFT_FAULT_DELAY"):
        fault_delays()
