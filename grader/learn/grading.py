"""Grade exercises: run the learner's train.py into a fresh store, and the grader on their checks.

One grading is: a temporary BentoML home, ``train.py`` run into it (when present), and one
``python -m grader --exercise NAMES`` child process, started beside train.py: it reads the store
once train.py has finished (``--store-ready-fd``), and builds the bento and starts the service only
when a chosen check needs them. The grader's own summary.json gives each check's result; an
exercise is done when all its checks passed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader import KIT_ROOT
from grader.learn.manifest import Exercise
from grader.learn.training import OUTCOME_FILE, run_train

ROOT = KIT_ROOT
#: The whole grader run's time limit (its own --time-limit is below it).
GRADE_TIMEOUT = 420.0


class GradingError(RuntimeError):
    """The grader itself could not produce results (not a failed check)."""


@dataclass
class ExerciseResult:
    name: str
    done: bool
    score: float
    max_score: float
    #: check id -> the check's entry in summary.json (id, title, passed, score, output, ...).
    checks: dict[str, dict] = field(default_factory=dict)

    @property
    def failed(self) -> list[dict]:
        return [c for c in self.checks.values() if not c["passed"]]


@dataclass
class Grading:
    results: dict[str, ExerciseResult]
    seconds: float
    stdout: str = ""


def grader_command(submission: Path, results: Path, exercises: list[Exercise]) -> list[str]:
    # --build: a bento check builds into the grader's temporary store, never the learner's.
    return [sys.executable, "-m", "grader", "--submission", str(submission), "--results", str(results),
            "--exercise", ",".join(e.name for e in exercises), "--build"]


def start_grader(command: list[str], env: dict[str, str], pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
    """The grader in its own process group, its output captured."""
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True, pass_fds=pass_fds)


def finish_grader(process: subprocess.Popen, timeout: float = GRADE_TIMEOUT) -> str:
    """The grader's output once it ends; on Ctrl-C or a timeout, it is stopped (:func:`stop_grader`)."""
    try:
        out, _ = process.communicate(timeout=timeout)
        return out
    except BaseException:  # KeyboardInterrupt or TimeoutExpired
        stop_grader(process)
        raise


def stop_grader(process: subprocess.Popen) -> None:
    """Interrupt the grader, which lets its fixtures stop its server; killed if it takes over 20 s."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def grade(submission: Path, exercises: list[Exercise], results: Path) -> Grading:
    """Grade ``exercises`` of ``submission``; reports go to ``results``."""
    started = time.monotonic()
    submission = submission.resolve()
    results = results.resolve()
    if not submission.is_dir():
        raise GradingError(f"the submission folder {submission} does not exist")
    summary_path = results / "summary.json"
    summary_path.unlink(missing_ok=True)
    home = Path(tempfile.mkdtemp(prefix="learn-home-"))
    (results / OUTCOME_FILE).unlink(missing_ok=True)
    try:
        # The grader starts while train.py runs (both take seconds to import their libraries), and
        # reads the store once the pipe it is given ends: when train.py has finished.
        store_ready, store_filled = os.pipe()
        env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
        command = [*grader_command(submission, results, exercises), "--store-ready-fd", str(store_ready)]
        try:
            process = start_grader(command, env, pass_fds=(store_ready,))
        finally:
            os.close(store_ready)
        try:
            try:
                run_train(submission, home, results)
            finally:
                os.close(store_filled)
        except BaseException:  # Ctrl-C while train.py runs: the grader started for it stops too
            stop_grader(process)
            raise
        stdout = finish_grader(process)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if not summary_path.is_file():
        raise GradingError(f"the grader wrote no results; its output:\n{stdout[-3000:]}")
    by_id = {c["id"]: c for c in json.loads(summary_path.read_text())["checks"]}
    graded = {}
    for exercise in exercises:
        mine = {c: by_id[c] for c in exercise.checks if c in by_id}
        missing = [c for c in exercise.checks if c not in by_id]
        if missing:
            raise GradingError(f"exercise {exercise.name}: no result for check(s) {missing} "
                               f"(the grader did not run them: see {results / 'grader.log'})")
        graded[exercise.name] = ExerciseResult(
            exercise.name, all(c["passed"] for c in mine.values()),
            round(sum(c["score"] for c in mine.values()), 2),
            round(sum(c["max_score"] for c in mine.values()), 2), mine)
    return Grading(graded, time.monotonic() - started, stdout)
