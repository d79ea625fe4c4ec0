"""Watch mode: grade the current exercise, then again each time one of its files is saved.

File events come from ``watchfiles`` (BentoML's own dependency). When the current exercise is
done, the next one becomes current and is graded at once. Ctrl-C stops the loop cleanly: a grading
in progress is interrupted and its server stopped (see ``exercise_run.run_grader``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import watchfiles

from grader.exercises import Exercise

#: Milliseconds without further events before a burst of saves is graded (editors write in steps).
STEP_MS = 100


def changed_files(submission: Path, exercise: Exercise) -> watchfiles.BaseFilter:
    wanted = {str((submission / f).resolve()) for f in exercise.files}

    class ExerciseFiles(watchfiles.BaseFilter):
        def __call__(self, change: watchfiles.Change, path: str) -> bool:
            return change != watchfiles.Change.deleted and str(Path(path).resolve()) in wanted

    return ExerciseFiles()


def watch(submission: Path, current: Callable[[], Exercise | None], grade: Callable[[Exercise], bool],
          say: Callable[[str], None] = print) -> int:
    """Grade ``current()`` until all are done; regrade on saves. Returns 0 (also after Ctrl-C)."""
    try:
        exercise = current()
        while exercise is not None:
            if grade(exercise):  # done: move on, and grade the next one now
                exercise = current()
                continue
            files = ", ".join(str(submission / f) for f in exercise.files)
            say(f"Watching {files} (save to re-grade, Ctrl-C to stop)")
            for _ in watchfiles.watch(submission, watch_filter=changed_files(submission, exercise),
                                      step=STEP_MS, debounce=1600, raise_interrupt=True):
                say(f"Saved: re-grading {exercise.name}")
                break
        say("All exercises are done.")
    except KeyboardInterrupt:
        say("\nStopped watching.")
    return 0
