"""The ordered exercise list (``grader/learn/exercises.toml``): name, files, notebook and hints.

As in rustlings' ``info.toml``, the manifest says only what an exercise is; which checks grade it
comes from the checks' own declarations (``exercise=`` in ``grader/checks/``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from grader.declare import BENTO, LIVE, CheckSpec, catalogue

LIST_FILE = Path(__file__).resolve().parent / "exercises.toml"


class ExerciseError(ValueError):
    """The exercise list is malformed or names an unknown exercise."""


@dataclass(frozen=True)
class Exercise:
    name: str
    files: tuple[str, ...]
    notebook: str
    hints: tuple[str, ...]

    @property
    def specs(self) -> list[CheckSpec]:
        """The checks that grade this exercise, in report order."""
        return [s for s in catalogue() if s.exercise == self.name]

    @property
    def checks(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.specs)

    @property
    def builds(self) -> bool:
        """Whether grading it builds the bento."""
        return any(BENTO in s.needs for s in self.specs)

    @property
    def serves(self) -> bool:
        """Whether grading it starts the learner's service."""
        return any(LIVE in s.needs for s in self.specs)


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
                                tuple(entry["hints"])))
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
