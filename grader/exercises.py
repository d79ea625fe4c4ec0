"""The ordered exercise list (``grader/exercises.toml``): files, checks and graded hints per exercise."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from grader import PACKAGE_DIR

LIST_FILE = PACKAGE_DIR / "exercises.toml"
#: The shipped, untouched copies of the exercise files (``reset`` restores from here).
PRISTINE_DIR = PACKAGE_DIR / "pristine"
#: The pattern of the exercise-only check modules (``python -m grader`` alone does not collect them).
EXTRA_MODULES = "checks_*.py"
#: Checks that need the bento built (the learner loop grades with ``--build``).
BUILD_CHECKS = {"bento_built", "bento_packs_model", "bento_apis"}


class ExerciseError(ValueError):
    """The exercise list is malformed or names an unknown exercise."""


@dataclass(frozen=True)
class Exercise:
    name: str
    files: tuple[str, ...]
    notebook: str
    checks: tuple[str, ...]
    hints: tuple[str, ...]

    def pristine(self, file: str) -> Path:
        return PRISTINE_DIR / file


def load(path: Path = LIST_FILE) -> list[Exercise]:
    """The exercises in order; raises :class:`ExerciseError` on a malformed list."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ExerciseError(f"cannot read the exercise list {path}: {err}") from err
    out: list[Exercise] = []
    for entry in raw.get("exercise", []):
        try:
            out.append(Exercise(entry["name"], tuple(entry["files"]), entry["notebook"],
                                tuple(entry["checks"]), tuple(entry["hints"])))
        except KeyError as err:
            raise ExerciseError(f"{path}: exercise {entry.get('name', '?')} lacks {err}") from err
    names = [e.name for e in out]
    if not out or len(set(names)) != len(names):
        raise ExerciseError(f"{path}: exercise names must be present and unique ({names})")
    return out


def find(name: str, exercises: list[Exercise]) -> Exercise:
    for exercise in exercises:
        if exercise.name == name:
            return exercise
    names = ", ".join(e.name for e in exercises)
    raise ExerciseError(f"no exercise named {name!r}; the exercises are: {names}")
