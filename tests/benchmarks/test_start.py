"""``python -m benchmarks start``: serving and building the course's service, plain and lazy."""

from __future__ import annotations

import json

import pytest

from benchmarks import start


@pytest.mark.server
def test_a_lazy_start_is_measured_to_readiness(saved_model) -> None:
    found = start.measure_serve("lazy_bentoml")
    assert found["ready_s"] > 0 and found["supervisor_cpu_s"] > 0
    assert found["workers_cpu_s"] > 0  # the workers had loaded the model by then


def test_the_report_says_what_the_lazy_command_saves(tmp_path) -> None:
    plain = {"ready_s": 6.0, "supervisor_cpu_s": 3.0, "workers_cpu_s": 3.0, "build_s": 6.0,
             "build_cpu_s": 5.0}
    lazy = {**plain, "supervisor_cpu_s": 1.5, "build_s": 4.0}
    found = {"rounds": 1, "medians": {"bentoml": plain, "lazy_bentoml": lazy}, "all_rounds": {}}
    table = start.write(found, tmp_path, machine="A test.").read_text()
    assert "| supervisor CPU, s | 3.00 | 1.50 | 1.50 |" in table
    assert "| `bentoml build`, s | 6.00 | 4.00 | 2.00 |" in table
    assert "| start to /readyz, s | 6.00 | 6.00 | 0.00 |" in table
    assert json.loads((tmp_path / "start.json").read_text()) == found
