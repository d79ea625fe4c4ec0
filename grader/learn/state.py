"""The learner's progress between commands: which exercises are done, hint levels, last failures.

Kept as JSON in the results folder (``learn-state.json``), never in the submission folder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.learn.grading import ExerciseResult
from grader.learn.manifest import Exercise

STATE_FILE = "learn-state.json"
BAR_WIDTH = 30


@dataclass
class ExerciseState:
    done: bool = False
    graded: bool = False
    score: float = 0.0
    max_score: float = 0.0
    hint_level: int = 0
    #: "title: output" of each failed check at the last grading.
    failures: list[str] = field(default_factory=list)


@dataclass
class Progress:
    path: Path
    exercises: dict[str, ExerciseState]

    @classmethod
    def load(cls, results: Path, exercises: list[Exercise]) -> Progress:
        path = results / STATE_FILE
        raw = {}
        if path.is_file():
            try:
                raw = json.loads(path.read_text())
            except ValueError:
                raw = {}  # a damaged state file only loses the progress display; grading rebuilds it
        known = ExerciseState.__dataclass_fields__
        states = {e.name: ExerciseState(**{k: v for k, v in raw.get(e.name, {}).items() if k in known})
                  for e in exercises}
        return cls(path, states)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({n: asdict(s) for n, s in self.exercises.items()}, indent=2))

    def record(self, result: ExerciseResult) -> None:
        state = self.exercises[result.name]
        state.graded, state.done = True, result.done
        state.score, state.max_score = result.score, result.max_score
        state.failures = [f"{c['title']}: {c['output']}" for c in result.failed]

    @property
    def done(self) -> int:
        return sum(s.done for s in self.exercises.values())

    def current(self, exercises: list[Exercise]) -> Exercise | None:
        """The first exercise not done (None when all are)."""
        return next((e for e in exercises if not self.exercises[e.name].done), None)

    def bar(self) -> str:
        total = len(self.exercises)
        filled = round(BAR_WIDTH * self.done / total) if total else BAR_WIDTH
        return f"Progress: [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {self.done} / {total} exercises done"

    def next_hint(self, exercise: Exercise) -> tuple[int, str]:
        """The next hint of ``exercise`` (1-based level, text); asking past the last repeats it."""
        state = self.exercises[exercise.name]
        state.hint_level = min(state.hint_level + 1, len(exercise.hints))
        return self.shown_hint(exercise)

    def shown_hint(self, exercise: Exercise) -> tuple[int, str]:
        """The hint asked for last, or the nudge (now seen): shown after a grading, without advancing."""
        state = self.exercises[exercise.name]
        state.hint_level = max(1, state.hint_level)
        return state.hint_level, exercise.hints[state.hint_level - 1]
