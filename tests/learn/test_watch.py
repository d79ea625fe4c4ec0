"""Watch mode, driven from a test: it re-grades after each save and stops cleanly on SIGINT (Ctrl-C).

It also measures the save-to-result delay (the time from writing the file to the grade line),
written to ``watch-delay.json`` in the test's results folder and printed (``pytest -s``).
"""

from __future__ import annotations

import json
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import watchfiles

from bentokit import procs
from grader.learn import manifest as exercises
from grader.learn.watch import changed_files
from tests.grader.conftest import leftovers
from tests.learn.conftest import ROOT, SOLUTIONS, copy_exercises, learn_env

WAIT = 300.0


def default_sigint() -> None:
    """In the watcher's process, before Python starts: Ctrl-C's default action, whatever the parent had.

    A child inherits an ignored SIGINT (``nohup``, a background job of a script, a CI wrapper), and
    Python then never turns SIGINT into KeyboardInterrupt: the test's Ctrl-C would go unseen.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Watcher:
    """``python -m grader.learn watch`` in the background, its output read line by line."""

    def __init__(self, submission: Path, results: Path) -> None:
        self.marker = uuid.uuid4().hex
        self.process = procs.spawn(
            [sys.executable, "-m", "grader.learn", "--submission", str(submission), "--results", str(results),
             "watch"], cwd=ROOT, env=learn_env(self.marker), stdout=subprocess.PIPE, text=True,
            preexec_fn=default_sigint)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = WAIT) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                assert self.process.poll() is None, "watch exited early:\n" + "\n".join(self.seen)
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no {text!r} within {timeout} s:\n" + "\n".join(self.seen))

    def stop(self) -> None:
        """Kill the watcher and every process it left (a grading it was running, say)."""
        procs.kill_tree(self.process, grace=5.0)


def test_watch_regrades_on_save_and_stops_on_sigint(tmp_path) -> None:
    submission = copy_exercises(tmp_path / "exercises")
    results = tmp_path / "results"
    train = submission / "train.py"
    watcher = Watcher(submission, results)
    delays = []
    try:
        watcher.wait_for("TODO  train")
        watcher.wait_for(f"Watching {train}")
        for n in range(2):  # saves that leave the gap open: graded again, still to do
            train.write_text(train.read_text() + f"# save {n}\n")
            saved = time.monotonic()
            watcher.wait_for("TODO  train")
            delays.append(time.monotonic() - saved)
            watcher.wait_for(f"Watching {train}")
        shutil.copy(SOLUTIONS / "train.py", train)  # the solution: done, and the next exercise is graded
        saved = time.monotonic()
        watcher.wait_for("DONE  train")
        delays.append(time.monotonic() - saved)
        watcher.wait_for(f"1 / {len(exercises.load())} exercises done")
        watcher.wait_for(f"Watching {submission / 'service.py'}")

        before = len(watcher.seen)
        watcher.process.send_signal(signal.SIGINT)  # Ctrl-C
        watcher.wait_for("Stopped watching.", timeout=60)
        assert watcher.process.wait(timeout=60) == 0
        watcher.process.stdout.close()
        after = watcher.seen[before:] + list(watcher.lines.queue)
        assert not any("Traceback" in line or "Error" in line for line in after), after
        assert leftovers(watcher.marker) == []
    finally:
        watcher.stop()
    regrades = sum("Saved: re-grading train" in line for line in watcher.seen)
    assert regrades == 3, watcher.seen
    report = {"delays_s": [round(d, 2) for d in delays], "median_s": round(statistics.median(delays), 2)}
    (results / "watch-delay.json").write_text(json.dumps(report))
    print(f"\nwatch mode save-to-result delay: {report}")


def test_only_the_current_exercises_files_trigger_a_grading(tmp_path) -> None:
    train = exercises.find("train", exercises.load())
    accept = changed_files(tmp_path, train)
    assert accept(watchfiles.Change.modified, str(tmp_path / "train.py"))
    assert accept(watchfiles.Change.added, str(tmp_path / "train.py"))  # editors that save by renaming
    assert not accept(watchfiles.Change.modified, str(tmp_path / "client.py"))
    assert not accept(watchfiles.Change.deleted, str(tmp_path / "train.py"))
