"""Grade one submission in isolation, or many in parallel, with time and memory limits.

Each learner is graded by ``python -m grader`` in a child process (its own session) with a
BentoML home of its own; no learner code runs in this process. Every process of a learner's
run carries a random marker in its environment, so that whatever it left behind — even a
daemon that escaped its process group — is found and killed before its results are read.
Written by hand: no library runs graders under per-tree memory limits with this clean-up.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bentokit.server import kit_env
from grader.cohort.submissions import Submission, SubmissionError, prepare

MARKER = "KIT_COHORT_RUN"
#: Variables a learner's processes must not see (the instructor's own paths and secrets).
PRIVATE_ENV = ("CREDIT_SCORING_CSV", "GITHUB_TOKEN", "GRADESCOPE_TOKEN")


@dataclass(frozen=True)
class Limits:
    """Per-submission limits: wall time of the whole grading, and memory of its process tree."""

    seconds: float = 300.0
    memory_mb: float = 4096.0


@dataclass
class Outcome:
    """A learner's grade, or why there is none."""

    learner: str
    score: float = 0.0
    max_score: float = 0.0
    checks: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    error: str = ""
    notes: list[str] = field(default_factory=list)
    results_dir: Path | None = None
    log_tail: str = ""


def safe_name(learner: str) -> str:
    """A file-name-safe form of a learner's name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", learner).strip("._") or "learner"


def _marked(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.environ().get(MARKER) == marker:
                found.append(proc)
    return found


def _tree_rss(root: psutil.Process) -> float:
    total = 0
    with contextlib.suppress(psutil.Error):
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
    return total / 2**20


def _kill_marked(marker: str) -> int:
    procs = _marked(marker)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(procs, timeout=5)
    return len(procs)


#: Learners ship no bento, so a class run always has the grader build one.
GRADER_ARGS = ("--build",)


def grade_one(sub: Submission, workroot: Path, limits: Limits = Limits(),
              grader_args: Iterable[str] = GRADER_ARGS) -> Outcome:
    """Prepare ``sub`` under ``workroot`` and grade it in a child; a bad submission never raises."""
    outcome = Outcome(sub.learner)
    work = Path(tempfile.mkdtemp(prefix=f"{safe_name(sub.learner)}-", dir=workroot))
    started = time.monotonic()
    try:
        prepared = prepare(sub, work)
    except (SubmissionError, OSError, subprocess.SubprocessError) as err:
        outcome.error = f"could not prepare the submission: {err}"
        return outcome
    outcome.notes = prepared.notes
    results = Path(tempfile.mkdtemp(prefix="results-", dir=work))
    marker = uuid.uuid4().hex
    env = kit_env({"BENTOML_HOME": str(prepared.home), MARKER: marker, "TMPDIR": str(work)})
    for name in PRIVATE_ENV:
        env.pop(name, None)
    command = [sys.executable, "-m", "grader", "--submission", str(prepared.folder),
               "--results", str(results), *grader_args]
    log_path = work / "grader.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        root = psutil.Process(process.pid)
        while process.poll() is None:
            outcome.peak_rss_mb = max(outcome.peak_rss_mb, _tree_rss(root))
            if time.monotonic() - started > limits.seconds:
                outcome.error = f"grading took longer than the limit of {limits.seconds:.0f} s"
                break
            if outcome.peak_rss_mb > limits.memory_mb:
                outcome.error = (f"the submission used {outcome.peak_rss_mb:.0f} MiB, over the limit of "
                                 f"{limits.memory_mb:.0f} MiB")
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.5)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        _kill_marked(marker)  # anything of this run still alive, wherever it went
    outcome.seconds = time.monotonic() - started
    outcome.log_tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
    summary_path = results / "summary.json"
    if not outcome.error:
        try:
            summary = json.loads(summary_path.read_text())
        except (OSError, ValueError):
            outcome.error = f"the grader wrote no summary (exit code {process.returncode})"
        else:
            outcome.score, outcome.max_score = summary["score"], summary["max_score"]
            outcome.checks = summary["checks"]
    outcome.results_dir = results
    return outcome


def grade_all(subs: list[Submission], workroot: Path, jobs: int = 2, limits: Limits = Limits(),
              grader_args: Iterable[str] = GRADER_ARGS,
              on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Grade every submission, ``jobs`` at a time; results in the order of ``subs``."""
    workroot.mkdir(parents=True, exist_ok=True)
    args = list(grader_args)
    outcomes: dict[int, Outcome] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_one, sub, workroot, limits, args): i for i, sub in enumerate(subs)}
        for future in as_completed(futures):
            i = futures[future]
            try:
                outcomes[i] = future.result()
            except Exception as err:  # a bug here must not lose the rest of the class
                outcomes[i] = Outcome(subs[i].learner, error=f"internal error: {err!r}")
            if on_done:
                on_done(outcomes[i])
    return [outcomes[i] for i in range(len(subs))]


def cleanup(workroot: Path) -> None:
    """Remove the per-learner work folders (copies, stores, logs)."""
    shutil.rmtree(workroot, ignore_errors=True)
