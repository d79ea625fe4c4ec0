"""How fast the kit answers its users: a full grading, ``learn watch`` from a save to its result, a class.

``python -m benchmarks kit`` runs the grading benchmark (``grader.bench``: full gradings of
``solutions/`` with ``--build``, as ``./kit grade --submission solutions --build`` does), the
learner loop's (``grader.learn.bench``: saves of an exercise under ``./kit learn watch``) for an
exercise without a live check and one with, and a class run (``./kit cohort grade CLASS -j 2`` on
the class of 40 that ``tests/cohort/make_class.py`` makes), and writes ``kit.md`` and ``kit.json``
with the verdicts of issue 14's goals for them. ``./kit test``'s time is CI's own step timing.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.report import verdict
from benchmarks.run import load_averages
from grader import bench as grading_bench
from grader.learn import bench as learn_bench

ROOT = Path(__file__).resolve().parent.parent

#: Issue 14's goals, in seconds (medians; the class: one run's wall time).
GRADING_GOAL = 6.0
WATCH_GOALS = {"train": 2.0, "service": 6.0}  # no live check / a live check
CLASS_GOAL, CLASS_SIZE, CLASS_JOBS = 180.0, 40, 2


def measure(runs: int = 5, saves: int = 3, class_size: int = CLASS_SIZE,
            progress: Callable[[str], None] = print) -> dict[str, Any]:
    """The gradings, the watch saves and the class run (none when ``class_size`` is 0), one after the
    other; the load average around them."""
    load_before = load_averages()
    progress(f"grading solutions/ with --build, {runs} runs")
    grading = grading_bench.measure(runs, progress=progress)
    watch = {}
    for exercise in WATCH_GOALS:
        progress(f"learn watch, exercise {exercise}, {saves} saves")
        watch[exercise] = learn_bench.measure(exercise, saves, progress=progress)
    cohort = None
    if class_size:
        progress(f"a class of {class_size} at -j {CLASS_JOBS}")
        cohort = measure_class(class_size, CLASS_JOBS, progress=progress)
    return {"grading": grading, "watch": watch, "class": cohort,
            "load_average": {"before": load_before, "after": load_averages()}}


def measure_class(size: int = CLASS_SIZE, jobs: int = CLASS_JOBS,
                  progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Wall time of ``python -m grader.cohort grade CLASS -j JOBS`` on a fresh class of ``size``.

    As an instructor does it: the course model trained (``bentokit train``) and exported as learners
    ship it, the class made by ``tests/cohort/make_class.py`` (most hand in ``solutions/`` with small
    edits, every fifth a broken kind, two planted copies), an empty results folder and kit cache.
    A ``RuntimeError`` when the run fails or a grading ends in an error: such a time says nothing.
    """
    with grading_bench.trained_store("kit-bench-class-") as (work, env):
        model = work / "credit_risk_model.bentomodel"
        for command in (["bentoml", "models", "export", "credit_risk_model:latest", model],
                        ["tests.cohort.make_class", work / "class", model, str(size)]):
            subprocess.run([sys.executable, "-m", *map(str, command)], env=env, cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
        command = [sys.executable, "-m", "grader.cohort", "grade", str(work / "class"),
                   "--out", str(work / "out"), "-j", str(jobs)]
        started, output, done = time.monotonic(), [], 0
        with subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) as run:
            for line in run.stdout:  # one line per learner as their grading ends: the progress
                output.append(line)
                if line.startswith("  "):
                    done += 1
                    progress(f"{done}/{size} {line.strip()}")
        seconds = time.monotonic() - started
        if run.returncode != 0:
            raise RuntimeError(f"the class run failed (exit code {run.returncode}):\n{''.join(output[-30:])}")
        graded = json.loads((work / "out" / "class.json").read_text())
    learners = graded["learners"]
    errors = [f"{r['learner']}: {r['error']}" for r in learners if r["error"]]
    if errors or len(learners) != size:
        raise RuntimeError(f"{len(learners)} of {size} learners graded; errors: {errors}")
    per_learner = [r["seconds"] for r in learners]
    progress(f"{size} learners in {seconds:.0f} s (median {statistics.median(per_learner):.1f} s each)")
    return {"size": size, "jobs": jobs, "seconds": seconds, "learner_seconds": per_learner,
            "median_learner_s": statistics.median(per_learner),
            "full_marks": sum(r["total"] == graded["max_score"] for r in learners),
            "median_score": graded["median"], "max_score": graded["max_score"]}


def judged(cohort: dict[str, Any]) -> bool:
    """Whether a class run is the goal's: its size and ``-j``."""
    return (cohort["size"], cohort["jobs"]) == (CLASS_SIZE, CLASS_JOBS)


def verdicts(found: dict[str, Any]) -> dict[str, bool]:
    """Each goal's line and whether it holds."""
    lines = {f"grading `solutions/` end to end (--build), median <= {GRADING_GOAL:g} s":
             found["grading"]["median_s"] <= GRADING_GOAL}
    for exercise, goal in WATCH_GOALS.items():
        watched = found["watch"][exercise]
        what = "a live check" if watched["live"] else "no live check"
        lines[f"`learn watch`, save to result line, exercise {exercise} ({what}), median <= {goal:g} s"] = \
            watched["median_s"] <= goal
    cohort = found.get("class")
    if cohort and judged(cohort):
        lines[f"a class of {CLASS_SIZE} at `-j {CLASS_JOBS}` <= {CLASS_GOAL / 60:g} min"] = \
            cohort["seconds"] <= CLASS_GOAL
    return lines


def write(found: dict[str, Any], out_dir: Path, machine: str = "") -> Path:
    """``kit.json`` and ``kit.md`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "kit.json").write_text(json.dumps(found, indent=1) + "\n")
    grading, load = found["grading"], found["load_average"]
    lines = ["# How fast the kit answers: a grading, `learn watch` and a class", "",
             "`python -m benchmarks kit`. " + machine,
             f"Load average (1, 5, 15 min) before: {load['before']}, after: {load['after']}.", "",
             "## Goals (issue 14)", ""]
    lines += [f"- {goal}: **{verdict(ok)}**" for goal, ok in verdicts(found).items()]
    lines += ["", "`./kit test` is timed by CI's own step (`benchmarks/README.md`).",
              "", "## Full gradings of `solutions/`", "",
              f"`python -m grader --submission solutions --build --confine {grading['confine']}`; the first "
              "run starts with an empty cache (it computes the held-out split).", "",
              "| run | wall s | CPU s | score |", "|---:|---:|---:|---|"]
    runs = zip(grading["seconds"], grading["cpu_seconds"], grading["scores"], strict=True)
    for n, (wall, cpu, score) in enumerate(runs, 1):
        lines.append(f"| {n} | {wall:.1f} | {cpu:.1f} | {score} |")
    lines.append(f"| median | {grading['median_s']:.1f} | {grading['median_cpu_s']:.1f} | |")
    pause = next(iter(found["watch"].values()), {}).get("pause_s", 0)
    lines += ["", "## `learn watch`: from saving the file to the result line", "",
              f"Each save {pause:g} s after the loop watches again (a learner reads the result and edits; "
              "watch mode starts the next train.py's Python meanwhile).", "",
              "| exercise | live check | saves, s | median s |", "|---|---|---|---:|"]
    for exercise, watched in found["watch"].items():
        saves = ", ".join(f"{s:.2f}" for s in watched["seconds"])
        live = "yes" if watched["live"] else "no"
        lines.append(f"| {exercise} | {live} | {saves} | {watched['median_s']:.2f} |")
    cohort = found.get("class")
    if cohort:
        aside = "" if judged(cohort) else \
            f" The goal is for {CLASS_SIZE} at `-j {CLASS_JOBS}`: this run is not judged."
        lines += ["", f"## A class of {cohort['size']}", "",
                  f"`python -m grader.cohort grade CLASS --out OUT -j {cohort['jobs']}` on a fresh class "
                  "from `tests/cohort/make_class.py` (every fifth learner broken, two planted copies), "
                  f"with an empty results folder and cache.{aside}", "",
                  f"- the whole run: **{cohort['seconds']:.0f} s**",
                  f"- one learner's grading: median {cohort['median_learner_s']:.1f} s "
                  f"({min(cohort['learner_seconds']):.1f}-{max(cohort['learner_seconds']):.1f} s)",
                  f"- full marks: {cohort['full_marks']} of {cohort['size']}; median score "
                  f"{cohort['median_score']:g} / {cohort['max_score']:g}"]
    path = out_dir / "kit.md"
    path.write_text("\n".join(lines) + "\n")
    return path
