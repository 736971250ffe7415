"""Every benchmark `python -m bench` names can be imported: a benchmark that no longer imports
is found by the suite, not by the next person who wants its figures."""

from __future__ import annotations

import importlib

import pytest

from bench.__main__ import BENCHMARKS


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_the_benchmark_imports_and_has_a_main(name: str) -> None:
    module = importlib.import_module(BENCHMARKS[name])
    assert callable(module.main)
