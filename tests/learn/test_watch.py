"""Watch mode, driven from a test: it re-grades after each save and stops cleanly on SIGINT (Ctrl-C).

The driver is the benchmark's (``grader.learn.bench``), which also measures the save-to-result time.
"""

from __future__ import annotations

import shutil
import signal
import uuid

import watchfiles

from grader.learn import manifest as exercises
from grader.learn.bench import Watcher
from grader.learn.watch import changed_files
from tests.grader.conftest import MARKER, leftovers
from tests.learn.conftest import SOLUTIONS, copy_exercises


def test_watch_regrades_on_save_and_stops_on_sigint(tmp_path) -> None:
    submission = copy_exercises(tmp_path / "exercises")
    results = tmp_path / "results"
    train = submission / "train.py"
    marker = uuid.uuid4().hex
    watcher = Watcher(submission, results, env={MARKER: marker})
    try:
        watcher.wait_for("TODO  train")
        watcher.wait_for(f"Watching {train}")
        for n in range(2):  # saves that leave the gap open: graded again, still to do
            train.write_text(train.read_text() + f"# save {n}\n")
            watcher.wait_for("TODO  train")
            watcher.wait_for(f"Watching {train}")
        shutil.copy(SOLUTIONS / "train.py", train)  # the solution: done, and the next exercise is graded
        watcher.wait_for("DONE  train")
        watcher.wait_for(f"1 / {len(exercises.load())} exercises done")
        watcher.wait_for(f"Watching {submission / 'service.py'}")

        before = len(watcher.seen)
        watcher.process.send_signal(signal.SIGINT)  # Ctrl-C
        watcher.wait_for("Stopped watching.", timeout=60)
        assert watcher.process.wait(timeout=60) == 0
        watcher.process.stdout.close()
        after = watcher.seen[before:] + list(watcher.lines.queue)
        assert not any("Traceback" in line or "Error" in line for line in after), after
        assert leftovers(marker) == []
    finally:
        watcher.stop()
    regrades = sum("Saved: re-grading train" in line for line in watcher.seen)
    assert regrades == 3, watcher.seen


def test_only_the_current_exercises_files_trigger_a_grading(tmp_path) -> None:
    train = exercises.find("train", exercises.load())
    accept = changed_files(tmp_path, train)
    assert accept(watchfiles.Change.modified, str(tmp_path / "train.py"))
    assert accept(watchfiles.Change.added, str(tmp_path / "train.py"))  # editors that save by renaming
    assert not accept(watchfiles.Change.modified, str(tmp_path / "client.py"))
    assert not accept(watchfiles.Change.deleted, str(tmp_path / "train.py"))


def test_the_watch_benchmark_times_each_save_to_its_result_line() -> None:
    from grader.learn import bench

    lines: list[str] = []
    found = bench.measure("train", saves=1, progress=lines.append, pause=0.5)
    assert found["exercise"] == "train" and not found["live"]
    assert len(found["seconds"]) == 1 and 0 < found["median_s"] < 300
    assert lines[0].startswith("save 1: result line after") and "(graded in" in lines[0]
    assert "reports in" not in lines[0]  # the benchmark's folder is removed: the line does not name it
