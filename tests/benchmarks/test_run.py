"""A whole (tiny) run against a real fake server: per-round balance figures, the partial checkpoint
while it runs, and none once it has finished."""

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
    results = run.run(plan, tmp_path, progress=lambda line: None)
    load = results["runs"][0]["loads"][0]
    assert load["requests"] > 0 and load["failed"] == 0
    # the fake server is single-threaded and closes after each answer: it holds at most one of wrk's
    # connections at a time (the rest queue in the kernel); test_balance checks the counting itself
    assert load["connections_per_process"] in ([], [1])
    assert len(load["load_avg"]) == 3 and load["cpu_s_per_process"]
    partial = json.loads((tmp_path / run.PARTIAL_JSON).read_text())
    assert partial["runs"] == results["runs"]
    assert run.failures(results) == []


def test_a_finished_run_leaves_its_report_and_no_checkpoint(tmp_path, monkeypatch, saved_model):
    import argparse

    from benchmarks.__main__ import cmd_run

    monkeypatch.setitem(targets.TARGETS, "fake", fake())
    args = argparse.Namespace(targets=["fake"], variants=False, clients=[2], seconds=1.0, rounds=1,
                              warmup=0.0, out=tmp_path, model="credit_risk_model:test", source="t", note="")
    assert cmd_run(args) == 0
    assert (tmp_path / "report.md").is_file() and (tmp_path / "results.json").is_file()
    assert not (tmp_path / run.PARTIAL_JSON).exists()
