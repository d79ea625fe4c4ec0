"""Benchmark: ``./kit learn watch``, from saving an exercise's file to its result line.

    python -m grader.learn.bench [--exercise service] [--saves 3]

Works on a temporary copy of exercises/ in which the exercises before the chosen one hold their
solutions (watch grades them first and moves on), starts the watch loop, then saves the chosen
exercise's file (its TODOs still open: the grading ends "TODO") ``--saves`` times, timing each
save to the line that gives the exercise's score. Prints each save, the median and what a grading
needs (a live server, a build).
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from grader import KIT_ROOT
from grader.learn import manifest

#: The longest wait for any one line (the first grading of the loop trains the model).
LINE_TIMEOUT = 300.0


class Loop:
    """``python -m grader.learn watch`` with its output read line by line, in a thread."""

    def __init__(self, submission: Path, results: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grader.learn", "--submission", str(submission), "--results", str(results),
             "watch"], cwd=KIT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "BENTOML_DO_NOT_TRACK": "true"},
            start_new_session=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def until(self, wanted: str) -> tuple[str, float]:
        """The first line containing ``wanted``, and when it came (monotonic)."""
        deadline = time.monotonic() + LINE_TIMEOUT
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise SystemExit(f"no line with {wanted!r} within {LINE_TIMEOUT:.0f} s") from None
            if wanted in line:
                return line, time.monotonic()
            if time.monotonic() > deadline:
                raise SystemExit(f"no line with {wanted!r} within {LINE_TIMEOUT:.0f} s")

    def stop(self) -> None:
        """Ctrl-C, as the learner stops it (the loop stops its grading and server)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.learn.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--exercise", default="service", help="the exercise whose file is saved")
    parser.add_argument("--saves", type=int, default=3)
    args = parser.parse_args(argv)
    listed = manifest.load()
    chosen = manifest.find(args.exercise, listed)
    work = Path(tempfile.mkdtemp(prefix="learn-bench-"))
    submission, results = work / "exercises", work / "results"
    shutil.copytree(KIT_ROOT / "exercises", submission, ignore=shutil.ignore_patterns("__pycache__"))
    for exercise in listed[:listed.index(chosen)]:
        for name in exercise.files:
            shutil.copy(KIT_ROOT / "solutions" / name, submission / name)
    target = submission / chosen.files[0]
    live = chosen.serves
    loop = Loop(submission, results)
    times = []
    try:
        loop.until(f"TODO  {chosen.name}")  # the loop's first grading of the chosen exercise
        loop.until("Watching")
        for n in range(args.saves):
            with open(target, "a") as fh:  # a save that changes the file and leaves its TODOs open
                fh.write(f"\n# save {n + 1}\n")
            saved = time.monotonic()
            _, answered = loop.until(f"TODO  {chosen.name}")
            times.append(answered - saved)
            graded, _ = loop.until("(graded in")
            print(f"save {n + 1}: result line after {times[-1]:.2f} s  {graded.strip()}", flush=True)
            loop.until("Watching")
    finally:
        loop.stop()
        shutil.rmtree(work, ignore_errors=True)
    needs = ", ".join(["a live server" if live else "no live server",
                       "a bento build" if chosen.builds else "no build"])
    print(f"median from save to result line, exercise {chosen.name} ({needs}): "
          f"{statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}, "
          f"{args.saves} saves)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
