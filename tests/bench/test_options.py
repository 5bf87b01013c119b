"""Typed benchmark options: every registered benchmark rejects a misspelled key naming the closest valid one, and
names a wrong type; its options model is the one place its defaults live."""

from __future__ import annotations

import pytest

from rsft._util.errors import ConfigError
from rsft.bench.registry import BENCHMARKS, benchmark_names, get_benchmark


def _cls(name: str):
    import importlib

    module, attr = BENCHMARKS[name].split(":")
    return getattr(importlib.import_module(module), attr)


@pytest.mark.parametrize("name", benchmark_names())
def test_every_misspelled_option_names_the_closest_key(name):
    fields = list(_cls(name).Options.model_fields)
    assert "n_items" in fields
    for key in fields:
        typo = key + key[-1]  # one letter too many: "n_itemss"
        with pytest.raises(ConfigError) as ei:
            get_benchmark(name, **{typo: 1})
        assert f"options.{typo}: unknown key; did you mean '{key}'?" in str(ei.value)
    with pytest.raises(ConfigError) as ei:  # the example: a swapped pair
        get_benchmark(name, n_itmes=3)
    assert "did you mean 'n_items'?" in str(ei.value)


@pytest.mark.parametrize("name", benchmark_names())
def test_a_wrong_type_is_named(name):
    with pytest.raises(ConfigError) as ei:
        get_benchmark(name, n_items="a few")
    assert f"benchmark {name}: options.n_items" in str(ei.value) and "got str 'a few'" in str(ei.value)


@pytest.mark.parametrize("name", benchmark_names())
def test_valid_options_build_and_are_kept(name):
    bench = get_benchmark(name, n_items=2)
    assert bench.opts.n_items == 2 and bench.options["n_items"] == 2


def test_defaults_come_from_the_options_model():
    assert get_benchmark("toy_sort").options == {"n_items": 50, "seed": 10_000, "settings": {}}
    assert get_benchmark("mmlu_pro").opts.subset_size == 1000
    assert get_benchmark("mmlu_pro", subset_size=None).opts.subset_size is None
    assert get_benchmark("countdown").opts.source == "cd3"


def test_a_suite_with_a_misspelled_option_fails_when_it_loads():
    from rsft.eval.config import load_suite

    with pytest.raises(ConfigError) as ei:
        load_suite("toy", ["benchmarks.toy_arith.options.n_itmes=3"])
    assert "options.n_itmes: unknown key; did you mean 'n_items'?" in str(ei.value)
