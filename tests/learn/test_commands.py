"""list, hint and reset, and the progress bar (no grading: fast)."""

from __future__ import annotations

import os
import subprocess
import sys

from grader.learn.commands import Learner
from grader.learn.grading import ExerciseResult
from tests.learn.conftest import ROOT, copy_exercises, learn


def shipped(name: str) -> bytes:
    """``exercises/NAME`` as committed in the kit's HEAD (a fresh clone's shipped version)."""
    return subprocess.run(["git", "-C", str(ROOT), "show", f"HEAD:exercises/{name}"], capture_output=True,
                          check=True).stdout


def learner(tmp_path, lines: list[str]) -> Learner:
    return Learner(copy_exercises(tmp_path / "exercises"), tmp_path / "results", say=lines.append)


def test_hints_go_from_nudge_to_fix_and_are_remembered(tmp_path, exercise_list) -> None:
    lines: list[str] = []
    first = exercise_list[0]
    learner(tmp_path, lines).hint(None)
    assert lines[-1].startswith(f"Hint 1/{len(first.hints)} for {first.name!r}")
    assert first.hints[0] in lines[-1]
    again = Learner(tmp_path / "exercises", tmp_path / "results", say=lines.append)  # a new command
    again.hint(None)
    assert lines[-1].startswith(f"Hint 2/{len(first.hints)}") and first.hints[1] in lines[-1]
    again.hint(None)
    assert first.hints[-1] in lines[-1]  # past the last one, the last one again


def test_reset_asks_restores_and_keeps_a_backup(tmp_path) -> None:
    lines: list[str] = []
    loop = learner(tmp_path, lines)
    train = loop.submission / "train.py"
    train.write_text("my work\n")
    assert loop.reset("train", yes=False, ask=lambda prompt: "n") == 1
    assert train.read_text() == "my work\n"

    def closed(prompt: str) -> str:
        raise EOFError

    assert loop.reset("train", yes=False, ask=closed) == 1 and "--yes" in lines[-1]
    assert train.read_text() == "my work\n"
    assert loop.reset("train", yes=False, ask=lambda prompt: "y") == 0
    assert train.read_bytes() == shipped("train.py")
    backups = list((tmp_path / "results" / "backups").glob("train-*/train.py"))
    assert len(backups) == 1 and backups[0].read_text() == "my work\n"
    assert f"your version: {backups[0]}" in lines[-1]


def test_progress_bar_and_next_exercise(tmp_path, exercise_list) -> None:
    lines: list[str] = []
    loop = learner(tmp_path, lines)
    loop.progress.record(ExerciseResult(exercise_list[0].name, True, 16, 16))
    loop.list()
    total = len(exercise_list)
    filled = "#" * round(30 / total)  # one exercise of `total` fills its share of the 30-character bar
    assert any(f"1 / {total} exercises done" in line and f"[{filled}-" in line for line in lines)
    assert any(line.startswith(f"Next: exercise {exercise_list[1].name!r}") for line in lines)


def test_cli_errors_are_clear(tmp_path) -> None:
    out = learn(tmp_path, tmp_path / "results", "check", "nonsense")
    assert out.returncode == 2 and "no exercise named 'nonsense'" in out.stdout
    out = learn(tmp_path, tmp_path / "results", "reset", "train", "--yes")
    assert out.returncode == 0 and (tmp_path / "train.py").is_file()


def test_a_grading_shows_the_hint_asked_for_without_advancing(tmp_path, exercise_list) -> None:
    lines: list[str] = []
    loop = learner(tmp_path, lines)
    first = exercise_list[0]
    loop.progress.record(ExerciseResult(first.name, False, 0, 16))
    for _ in range(2):  # two gradings in a row: still the nudge
        loop.footer(show_hint=True)
        assert lines[-1].startswith(f"Hint 1/{len(first.hints)}")
    loop.hint(None)  # asked: the concrete fix, shown again after the next grading
    loop.footer(show_hint=True)
    assert lines[-1].startswith(f"Hint 2/{len(first.hints)}")


def test_reset_restores_the_shipped_version_after_the_learner_committed(tmp_path) -> None:
    """In a clone where the learner committed their work, reset still restores the kit's version."""
    kit = tmp_path / "kit"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(kit)], check=True)
    train = kit / "exercises" / "train.py"
    train.write_text("my committed work\n")
    git = ["git", "-C", str(kit), "-c", "user.name=Learner", "-c", "user.email=learner@example.org"]
    subprocess.run([*git, "commit", "-q", "-am", "my work"], check=True)
    env = {**os.environ, "PYTHONPATH": str(kit), "BENTOML_DO_NOT_TRACK": "true"}
    done = subprocess.run([sys.executable, "-m", "grader.learn", "--results", str(tmp_path / "results"),
                           "reset", "train", "--yes"], cwd=kit, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert train.read_bytes() == shipped("train.py")
    backups = list((tmp_path / "results" / "backups").glob("train-*/train.py"))
    assert [b.read_text() for b in backups] == ["my committed work\n"]
