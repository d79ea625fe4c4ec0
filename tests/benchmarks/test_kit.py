"""``python -m benchmarks kit``: the goal lines and the report (the measurements: grader.bench,
grader.learn.bench and the class run, run by CI's last step, and by tests/learn/test_watch.py)."""

from __future__ import annotations

import json

import pytest

from benchmarks import __main__ as benchmarks_main
from benchmarks import kit


def a_class(seconds: float, size: int = kit.CLASS_SIZE, jobs: int = kit.CLASS_JOBS) -> dict:
    return {"size": size, "jobs": jobs, "seconds": seconds, "learner_seconds": [6.0, 8.0, 7.0],
            "median_learner_s": 7.0, "full_marks": size - 8, "median_score": 100.0, "max_score": 100.0}


def found(grading_median: float, train_median: float, service_median: float,
          cohort: dict | None = None) -> dict:
    grading = {"runs": 2, "confine": "auto", "build": True, "seconds": [9.0, grading_median],
               "cpu_seconds": [10.0, 8.0], "scores": ["100/100", "100/100"], "median_s": grading_median,
               "median_cpu_s": 9.0}
    watch = {"train": {"exercise": "train", "live": False, "builds": False, "seconds": [train_median],
                       "median_s": train_median},
             "service": {"exercise": "service", "live": True, "builds": False, "seconds": [service_median],
                         "median_s": service_median}}
    return {"grading": grading, "watch": watch, "class": cohort,
            "load_average": {"before": [0.1] * 3, "after": [0.2] * 3}}


def test_each_goal_holds_at_its_bound_and_not_above() -> None:
    at_bounds = kit.verdicts(found(kit.GRADING_GOAL, kit.WATCH_GOALS["train"], kit.WATCH_GOALS["service"]))
    assert len(at_bounds) == 1 + len(kit.WATCH_GOALS) and all(at_bounds.values())
    above = kit.verdicts(found(kit.GRADING_GOAL + 0.1, kit.WATCH_GOALS["train"] + 0.1, 1.0))
    assert [ok for ok in above.values()] == [False, False, True]


def test_the_class_goal_is_judged_for_its_own_class_only(tmp_path) -> None:
    """40 learners at -j 2, at or under the bound; another size or -j is reported but not judged."""
    line = f"a class of {kit.CLASS_SIZE} at `-j {kit.CLASS_JOBS}` <= {kit.CLASS_GOAL / 60:g} min"
    assert kit.verdicts(found(5, 1, 5, a_class(kit.CLASS_GOAL)))[line] is True
    assert kit.verdicts(found(5, 1, 5, a_class(kit.CLASS_GOAL + 1)))[line] is False
    for other in (a_class(10, size=3), a_class(10, jobs=1), None):
        assert line not in kit.verdicts(found(5, 1, 5, other))
    small = kit.write(found(5, 1, 5, a_class(10, size=3)), tmp_path).read_text()
    assert "## A class of 3" in small and "this run is not judged" in small


def test_the_report_says_each_verdict_and_every_run(tmp_path) -> None:
    measured = found(7.5, 1.5, 6.5, a_class(150.4))
    text = kit.write(measured, tmp_path, machine="A test.").read_text()
    assert "- grading `solutions/` end to end (--build), median <= 6 s: **does not hold**" in text
    assert "exercise train (no live check), median <= 2 s: **holds**" in text
    assert "exercise service (a live check), median <= 6 s: **does not hold**" in text
    assert "| 2 | 7.5 | 8.0 | 100/100 |" in text and "| median | 7.5 | 9.0 | |" in text
    assert "| service | yes | 6.50 | 6.50 |" in text
    assert "- a class of 40 at `-j 2` <= 3 min: **holds**" in text
    assert "- the whole run: **150 s**" in text and "median 7.0 s (6.0-8.0 s)" in text
    assert "full marks: 32 of 40; median score 100 / 100" in text and "not judged" not in text
    assert json.loads((tmp_path / "kit.json").read_text()) == measured


@pytest.mark.parametrize(("args", "says"), [
    (["kit", "--runs", "0"], "argument --runs: '0': give 1 or more"),
    (["kit", "--class-size", "2"], "give 0 (no class run) or 3 or more"),
    (["image", "--rounds", "0"], "argument --rounds: '0': give 1 or more"),
])
def test_counts_that_would_end_minutes_of_work_in_an_error_are_refused_at_once(args, says, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        benchmarks_main.parser().parse_args(args)
    assert exited.value.code == 2 and says in capsys.readouterr().err


def test_a_class_run_can_be_left_out_or_sized() -> None:
    assert benchmarks_main.parser().parse_args(["kit", "--class-size", "0"]).class_size == 0
    assert benchmarks_main.parser().parse_args(["kit"]).class_size == kit.CLASS_SIZE
