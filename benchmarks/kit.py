"""How fast the kit answers its users: a full grading, and ``learn watch`` from a save to its result.

``python -m benchmarks kit`` runs the grading benchmark (``grader.bench``: full gradings of
``solutions/`` with ``--build``, as ``./kit grade --submission solutions --build`` does) and the
learner loop's (``grader.learn.bench``: saves of an exercise under ``./kit learn watch``) for an
exercise without a live check and one with, and writes ``kit.md`` and ``kit.json`` with the
verdicts of issue 14's goals for them. The other two speed goals are measured elsewhere: a class of
40 by ``./kit cohort grade`` on the class ``tests/cohort/make_class.py`` makes, and ``./kit test``
by CI's own step timing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.report import verdict
from benchmarks.run import load_averages
from grader import bench as grading_bench
from grader.learn import bench as learn_bench

#: Issue 14's goals, in seconds (medians).
GRADING_GOAL = 6.0
WATCH_GOALS = {"train": 2.0, "service": 6.0}  # no live check / a live check


def measure(runs: int = 5, saves: int = 3, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """The gradings and the watch saves, one benchmark after the other; the load average around them."""
    load_before = load_averages()
    progress(f"grading solutions/ with --build, {runs} runs")
    grading = grading_bench.measure(runs, progress=progress)
    watch = {}
    for exercise in WATCH_GOALS:
        progress(f"learn watch, exercise {exercise}, {saves} saves")
        watch[exercise] = learn_bench.measure(exercise, saves, progress=progress)
    return {"grading": grading, "watch": watch,
            "load_average": {"before": load_before, "after": load_averages()}}


def verdicts(found: dict[str, Any]) -> dict[str, bool]:
    """Each goal's line and whether it holds."""
    lines = {f"grading `solutions/` end to end (--build), median <= {GRADING_GOAL:g} s":
             found["grading"]["median_s"] <= GRADING_GOAL}
    for exercise, goal in WATCH_GOALS.items():
        watched = found["watch"][exercise]
        what = "a live check" if watched["live"] else "no live check"
        lines[f"`learn watch`, save to result line, exercise {exercise} ({what}), median <= {goal:g} s"] = \
            watched["median_s"] <= goal
    return lines


def write(found: dict[str, Any], out_dir: Path, machine: str = "") -> Path:
    """``kit.json`` and ``kit.md`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "kit.json").write_text(json.dumps(found, indent=1) + "\n")
    grading, load = found["grading"], found["load_average"]
    lines = ["# How fast the kit answers: a grading, and `learn watch`", "",
             "`python -m benchmarks kit`. " + machine,
             f"Load average (1, 5, 15 min) before: {load['before']}, after: {load['after']}.", "",
             "## Goals (issue 14)", ""]
    lines += [f"- {goal}: **{verdict(ok)}**" for goal, ok in verdicts(found).items()]
    lines += ["", "A class of 40 at `-j 2` and `./kit test` are measured elsewhere (`benchmarks/README.md`).",
              "", "## Full gradings of `solutions/`", "",
              f"`python -m grader --submission solutions --build --confine {grading['confine']}`; the first "
              "run starts with an empty cache (it computes the held-out split).", "",
              "| run | wall s | CPU s | score |", "|---:|---:|---:|---|"]
    runs = zip(grading["seconds"], grading["cpu_seconds"], grading["scores"], strict=True)
    for n, (wall, cpu, score) in enumerate(runs, 1):
        lines.append(f"| {n} | {wall:.1f} | {cpu:.1f} | {score} |")
    lines.append(f"| median | {grading['median_s']:.1f} | {grading['median_cpu_s']:.1f} | |")
    lines += ["", "## `learn watch`: from saving the file to the result line", "",
              "| exercise | live check | saves, s | median s |", "|---|---|---|---:|"]
    for exercise, watched in found["watch"].items():
        saves = ", ".join(f"{s:.2f}" for s in watched["seconds"])
        live = "yes" if watched["live"] else "no"
        lines.append(f"| {exercise} | {live} | {saves} | {watched['median_s']:.2f} |")
    path = out_dir / "kit.md"
    path.write_text("\n".join(lines) + "\n")
    return path
