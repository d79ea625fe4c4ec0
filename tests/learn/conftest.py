"""Fixtures for the learner loop's tests: temporary copies of the exercises, the CLI, the homework key.

Nothing here writes into the real exercises/: every test works on a copy in a temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.checks.homework import KEY_FILE, cached_key
from grader.learn import manifest as exercises
from tests.grader.conftest import MARKER, leftovers

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "exercises"
SOLUTIONS = ROOT / "solutions"


@dataclass
class Learned:
    returncode: int
    stdout: str
    state: dict


def copy_exercises(dest: Path) -> Path:
    shutil.copytree(SHIPPED, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def learn_env(marker: str) -> dict[str, str]:
    return {**os.environ, MARKER: marker, "BENTOML_DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1"}


def learn(submission: Path, results: Path, *args: str, timeout: float = 900) -> Learned:
    """``python -m grader.learn`` on ``submission``; asserts no traceback and no process left behind."""
    marker = uuid.uuid4().hex
    proc = subprocess.run([sys.executable, "-m", "grader.learn", "--submission", str(submission),
                           "--results", str(results), *args], cwd=ROOT, env=learn_env(marker),
                          capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert leftovers(marker) == [], "processes left behind by the learner loop"
    state_file = results / "learn-state.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    return Learned(proc.returncode, proc.stdout + proc.stderr, state)


@pytest.fixture(scope="session")
def exercise_list() -> list[exercises.Exercise]:
    return exercises.load()


@pytest.fixture(scope="session")
def homework_key_dir(real_csv, tmp_path_factory) -> Path:
    """A results folder holding the homework key computed by the kit (once per test session)."""
    folder = tmp_path_factory.mktemp("homework-key")
    cached_key(folder)
    return folder


def results_with_key(folder: Path, key_dir: Path) -> Path:
    """A results folder that starts with the session's homework key (so it is not computed again)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(key_dir / KEY_FILE, folder / KEY_FILE)
    return folder
