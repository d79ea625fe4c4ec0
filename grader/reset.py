"""Restore an exercise's files from the shipped pristine copies, keeping a backup of the learner's.

The pristine copies live in ``grader/pristine/`` (a test keeps them equal to the shipped
``exercises/``). They are shipped rather than read from git because learners commit their own
work: ``git show HEAD:exercises/...`` would then return the learner's version, not the original.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from grader.exercises import PRISTINE_DIR, Exercise


class ResetError(RuntimeError):
    """A pristine copy is missing."""


def reset(exercise: Exercise, submission: Path, backups: Path) -> list[tuple[Path, Path | None]]:
    """Copy the pristine files over the learner's; returns (restored file, backup or None) pairs."""
    missing = [f for f in exercise.files if not (PRISTINE_DIR / f).is_file()]
    if missing:
        raise ResetError(f"no pristine copy of {', '.join(missing)} in {PRISTINE_DIR}")
    folder = backups / f"{exercise.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    done = []
    for name in exercise.files:
        target = submission / name
        backup = None
        if target.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            backup = folder / name
            shutil.copy2(target, backup)
        submission.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PRISTINE_DIR / name, target)
        done.append((target, backup))
    return done
