"""Watch mode: grade the current exercise, then again each time one of its files is saved.

File events come from ``watchfiles`` (BentoML's own dependency). When the current exercise is
done, the next one becomes current and is graded at once. A save made while a grading runs, or
before the watcher is ready, is noticed by comparing the files' modification stamps. Ctrl-C stops
the loop cleanly: a grading in progress is interrupted and its server stopped
(see ``grading.finish_grader``).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import watchfiles

from grader.learn.manifest import Exercise

#: Milliseconds without further events before a burst of saves is graded (editors write in steps).
STEP_MS = 50
#: Milliseconds after which the watcher reports that it is ready (an empty change set).
READY_MS = 200

Stamps = dict[str, tuple[int, int] | None]


def changed_files(submission: Path, exercise: Exercise) -> watchfiles.BaseFilter:
    wanted = {str((submission / f).resolve()) for f in exercise.files}

    class ExerciseFiles(watchfiles.BaseFilter):
        def __call__(self, change: watchfiles.Change, path: str) -> bool:
            return change != watchfiles.Change.deleted and str(Path(path).resolve()) in wanted

    return ExerciseFiles()


def stamps(submission: Path, exercise: Exercise) -> Stamps:
    out: Stamps = {}
    for name in exercise.files:
        try:
            stat = (submission / name).stat()
            out[name] = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            out[name] = None
    return out


def wait_for_save(submission: Path, exercise: Exercise, graded: Stamps, say: Callable[[str], None]) -> None:
    """Return when a file of ``exercise`` differs from its state at the last grading."""
    ready = False
    only = changed_files(submission, exercise)
    for changes in watchfiles.watch(submission, watch_filter=only, step=STEP_MS, rust_timeout=READY_MS,
                                    yield_on_timeout=True, raise_interrupt=True):
        if changes or stamps(submission, exercise) != graded:
            return
        if not ready:
            ready = True
            files = ", ".join(str(submission / f) for f in exercise.files)
            say(f"Watching {files} (save to re-grade, Ctrl-C to stop)")


def watch(submission: Path, current: Callable[[], Exercise | None], grade: Callable[[Exercise], bool],
          say: Callable[[str], None] = print) -> int:
    """Grade ``current()`` until all are done; regrade on saves. Returns 0 (also after Ctrl-C)."""
    # Ctrl-C must stop the loop even when started with SIGINT ignored (nohup, some CI wrappers); a
    # SIGTERM too, so that what the loop started (a grading's server, the warm Python) is stopped.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        exercise = current()
        while exercise is not None:
            graded = stamps(submission, exercise)
            if grade(exercise):  # done: move on, and grade the next one now
                exercise = current()
                continue
            wait_for_save(submission, exercise, graded, say)
            say(f"Saved: re-grading {exercise.name}")
        say("All exercises are done.")
    except KeyboardInterrupt:
        say("\nStopped watching.")
    return 0
