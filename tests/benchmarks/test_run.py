"""A whole (tiny) run against a real fake server: per-round balance figures, the partial checkpoint
after every target, and none once the run has finished."""

from __future__ import annotations

import json
import shutil

import pytest

from benchmarks import run, targets
from tests.benchmarks.test_procgroup import fake

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


def test_a_run_records_balance_and_checkpoints_after_every_target(tmp_path, monkeypatch, saved_model):
    # The registry gets one more entry, a real HTTP server process (the fake server of test_procgroup).
    monkeypatch.setitem(targets.TARGETS, "fake", fake())
    plan = run.Plan(targets=["fake"], clients=[4], seconds=1, rounds=1, warmup=0)
    checkpoints = []

    def progress(line: str) -> None:  # called after each target: its checkpoint is written by then
        if (tmp_path / run.PARTIAL_JSON).is_file():
            checkpoints.append(json.loads((tmp_path / run.PARTIAL_JSON).read_text()))

    results = run.run(plan, tmp_path, progress=progress)
    load = results["runs"][0]["loads"][0]
    assert load["requests"] > 0 and load["failed"] == 0
    # the fake server is single-threaded and closes after each answer: it holds at most one of wrk's
    # connections at a time (the rest queue in the kernel); test_balance checks the counting itself
    assert load["connections_per_process"] in ([], [1])
    assert len(load["load_avg"]) == 3 and load["cpu_s_per_process"]
    assert checkpoints and checkpoints[-1]["runs"] == results["runs"]
    assert run.failures(results) == []

    report = run.finish(results, tmp_path)  # the run finished: the report, and no checkpoint
    assert report.is_file() and (tmp_path / "results.json").is_file()
    assert not (tmp_path / run.PARTIAL_JSON).exists()
