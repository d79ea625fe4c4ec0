"""``python -m benchmarks kit``: the goal lines and the report (the measurements: grader.bench and
grader.learn.bench, run by CI and by tests/learn/test_watch.py)."""

from __future__ import annotations

import json

from benchmarks import kit


def found(grading_median: float, train_median: float, service_median: float) -> dict:
    grading = {"runs": 2, "confine": "auto", "build": True, "seconds": [9.0, grading_median],
               "cpu_seconds": [10.0, 8.0], "scores": ["100/100", "100/100"], "median_s": grading_median,
               "median_cpu_s": 9.0}
    watch = {"train": {"exercise": "train", "live": False, "builds": False, "seconds": [train_median],
                       "median_s": train_median},
             "service": {"exercise": "service", "live": True, "builds": False, "seconds": [service_median],
                         "median_s": service_median}}
    return {"grading": grading, "watch": watch, "load_average": {"before": [0.1] * 3, "after": [0.2] * 3}}


def test_each_goal_holds_at_its_bound_and_not_above() -> None:
    at_bounds = kit.verdicts(found(kit.GRADING_GOAL, kit.WATCH_GOALS["train"], kit.WATCH_GOALS["service"]))
    assert len(at_bounds) == 1 + len(kit.WATCH_GOALS) and all(at_bounds.values())
    above = kit.verdicts(found(kit.GRADING_GOAL + 0.1, kit.WATCH_GOALS["train"] + 0.1, 1.0))
    assert [ok for ok in above.values()] == [False, False, True]


def test_the_report_says_each_verdict_and_every_run(tmp_path) -> None:
    measured = found(7.5, 1.5, 6.5)
    text = kit.write(measured, tmp_path, machine="A test.").read_text()
    assert "- grading `solutions/` end to end (--build), median <= 6 s: **does not hold**" in text
    assert "exercise train (no live check), median <= 2 s: **holds**" in text
    assert "exercise service (a live check), median <= 6 s: **does not hold**" in text
    assert "| 2 | 7.5 | 8.0 | 100/100 |" in text and "| median | 7.5 | 9.0 | |" in text
    assert "| service | yes | 6.50 | 6.50 |" in text
    assert json.loads((tmp_path / "kit.json").read_text()) == measured
