"""Step arithmetic, learning-rate shape, data order and checkpoint schedules."""

from __future__ import annotations

import pytest

from rsft._util.errors import ConfigError
from rsft.train.config import CheckpointConfig, ScheduleConfig
from rsft.train.schedule import batch_rows, checkpoint_steps, lr_lambda, plan_schedule


def test_paper_schedule_arithmetic():
    plan = plan_schedule(20_480, ScheduleConfig(global_batch=256, micro_batch=4, epochs=8), processes=8)
    assert (plan.steps_per_epoch, plan.total_steps, plan.warmup_steps, plan.accumulation) == (80, 640, 64, 8)
    text = plan.describe()
    assert "20,480 rows" in text and "80 steps/epoch" in text and "640 steps, 64 warmup" in text
    budget = plan_schedule(20_480, ScheduleConfig(global_batch=32, micro_batch=4, epochs=8), processes=1)
    assert (budget.total_steps, budget.warmup_steps, budget.accumulation) == (5120, 512, 8)


def test_max_steps_and_leftover_rows():
    plan = plan_schedule(100, ScheduleConfig(global_batch=16, micro_batch=4, max_steps=20, warmup_ratio=0.05))
    assert (plan.steps_per_epoch, plan.total_steps, plan.warmup_steps, plan.dropped_per_epoch) == (
        6,
        20,
        1,
        4,
    )
    assert "4 rows per epoch left over" in plan.describe()


@pytest.mark.parametrize(("micro", "procs"), [(3, 1), (4, 3)])
def test_global_batch_must_divide(micro, procs):
    with pytest.raises(ConfigError) as e:
        plan_schedule(1000, ScheduleConfig(global_batch=32, micro_batch=micro), processes=procs)
    msg = e.value.render()
    assert "schedule.global_batch" in msg and f"{micro} × {procs} = {micro * procs}" in msg


def test_global_batch_larger_than_data():
    with pytest.raises(ConfigError, match="larger than the 10 training rows"):
        plan_schedule(10, ScheduleConfig(global_batch=16, micro_batch=4))


def test_lr_shapes():
    cos = lr_lambda("cosine", 10, 100)
    assert [cos(0), cos(5), cos(10)] == [0.0, 0.5, 1.0]
    assert cos(55) == pytest.approx(0.5) and cos(100) == pytest.approx(0.0)
    assert lr_lambda("constant", 10, 100)(99) == 1.0
    assert lr_lambda("linear", 0, 100)(75) == pytest.approx(0.25)


def test_data_order_is_a_function_of_step():
    plan = plan_schedule(12, ScheduleConfig(global_batch=4, micro_batch=2, epochs=2))
    assert [batch_rows(s, plan, shuffle=False, seed=0).tolist() for s in (1, 3, 4)] == [
        [0, 1, 2, 3],
        [8, 9, 10, 11],
        [0, 1, 2, 3],
    ]
    e0 = [batch_rows(s, plan, shuffle=True, seed=7).tolist() for s in (1, 2, 3)]
    e1 = [batch_rows(s, plan, shuffle=True, seed=7).tolist() for s in (4, 5, 6)]
    assert sorted(sum(e0, [])) == list(range(12)) and e0 != e1
    assert e0 == [batch_rows(s, plan, shuffle=True, seed=7).tolist() for s in (1, 2, 3)]


def test_checkpoint_schedules():
    assert checkpoint_steps(CheckpointConfig(every=10), 25) == [0, 10, 20, 25]
    assert checkpoint_steps(CheckpointConfig(steps=[5, 7, 99]), 20) == [0, 5, 7, 20]
    assert checkpoint_steps(CheckpointConfig(log_spaced=5), 640) == [0, 1, 5, 25, 127, 640]
    with pytest.raises(ValueError, match="choose one"):
        CheckpointConfig(every=3, steps=[1])
