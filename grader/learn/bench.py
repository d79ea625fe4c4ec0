"""Benchmark: ``./kit learn watch``, from saving an exercise's file to its result line.

    python -m grader.learn.bench [--exercise service] [--saves 3]

Works on a temporary copy of exercises/ in which the exercises before the chosen one hold their
solutions (watch grades them first and moves on), starts the watch loop, then saves the chosen
exercise's file (its TODOs still open: the grading ends "TODO") ``--saves`` times, each
``--pause`` seconds after the loop said it watches again (a learner reads the result and edits
meanwhile: watch mode uses the time to start the next train.py's Python), timing each save to the
line that gives the exercise's score. Prints each save, the median and what a grading needs (a live
server, a build).
"""

from __future__ import annotations

import argparse
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bentokit import procs
from grader import KIT_ROOT
from grader.learn import manifest

#: The longest wait for any one line (the first grading of the loop trains the model).
LINE_TIMEOUT = 300.0
#: Seconds between the loop's "Watching" and the next save: a learner reading the result and editing.
PAUSE = 3.0


def default_sigint() -> None:
    """In the watcher's process, before Python starts: Ctrl-C's default action, whatever the parent had.

    A child inherits an ignored SIGINT (``nohup``, a background job of a script, a CI wrapper), and
    Python then never turns SIGINT into KeyboardInterrupt: a Ctrl-C sent to it would go unseen.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Watcher:
    """``python -m grader.learn watch`` in the background, its output read line by line in a thread
    (this benchmark's driver, and the kit's tests' of watch mode)."""

    def __init__(self, submission: Path, results: Path, env: dict[str, str] | None = None) -> None:
        self.process = procs.spawn(
            [sys.executable, "-m", "grader.learn", "--submission", str(submission), "--results", str(results),
             "watch"], cwd=KIT_ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=default_sigint,
            env={"PYTHONUNBUFFERED": "1", "BENTOML_DO_NOT_TRACK": "true", **(env or {})})
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = LINE_TIMEOUT) -> str:
        """The first line from now on that contains ``text`` (returned as soon as it is printed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None:
                    raise RuntimeError("watch exited early:\n" + "\n".join(self.seen)) from None
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise TimeoutError(f"no {text!r} within {timeout:.0f} s:\n" + "\n".join(self.seen))

    def stop(self) -> None:
        """Kill the watcher and every process it left (a grading it was running, say)."""
        procs.kill_tree(self.process, grace=5.0)


def measure(exercise: str = "service", saves: int = 3, progress: Callable[[str], None] = print,
            pause: float = PAUSE) -> dict[str, Any]:
    """Time ``saves`` saves of ``exercise``'s file under ``watch``, each to its result line, each
    ``pause`` seconds after the loop watches again."""
    listed = manifest.load()
    chosen = manifest.find(exercise, listed)
    work = Path(tempfile.mkdtemp(prefix="learn-bench-"))
    submission, results = work / "exercises", work / "results"
    shutil.copytree(KIT_ROOT / "exercises", submission, ignore=shutil.ignore_patterns("__pycache__"))
    for earlier in listed[:listed.index(chosen)]:
        for name in earlier.files:
            shutil.copy(KIT_ROOT / "solutions" / name, submission / name)
    target = submission / chosen.files[0]
    watcher = Watcher(submission, results)
    times = []
    try:
        watcher.wait_for(f"TODO  {chosen.name}")  # the loop's first grading of the chosen exercise
        watcher.wait_for("Watching")
        for n in range(saves):
            time.sleep(pause)  # the learner's editing: nothing to wait for
            with open(target, "a") as fh:  # a save that changes the file and leaves its TODOs open
                fh.write(f"\n# save {n + 1}\n")
            saved = time.monotonic()
            watcher.wait_for(f"TODO  {chosen.name}")
            times.append(time.monotonic() - saved)
            graded = watcher.wait_for("(graded in")
            # Watch's own figure, without its "reports in FOLDER": this benchmark's folder is gone once
            # it ends.
            took = re.search(r"graded in [0-9.]+ s", graded)
            progress(f"save {n + 1}: result line after {times[-1]:.2f} s  ({took[0] if took else graded})")
            watcher.wait_for("Watching")
    finally:
        watcher.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {"exercise": chosen.name, "live": chosen.serves, "builds": chosen.builds, "seconds": times,
            "median_s": statistics.median(times), "pause_s": pause}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.learn.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--exercise", default="service", help="the exercise whose file is saved")
    parser.add_argument("--saves", type=int, default=3)
    parser.add_argument("--pause", type=float, default=PAUSE,
                        help=f"seconds between watching again and the next save (default {PAUSE:g})")
    args = parser.parse_args(argv)
    found = measure(args.exercise, args.saves, progress=lambda line: print(line, flush=True),
                    pause=args.pause)
    times = found["seconds"]
    needs = ", ".join(["a live server" if found["live"] else "no live server",
                       "a bento build" if found["builds"] else "no build"])
    print(f"median from save to result line, exercise {found['exercise']} ({needs}): "
          f"{found['median_s']:.2f} s (min {min(times):.2f}, max {max(times):.2f}, {args.saves} saves, "
          f"each {args.pause:g} s after the result)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
