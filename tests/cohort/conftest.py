"""One small class, built from solutions/ and broken copies of it, graded once for the whole session.

Learners (folder names are the learner names):

- ``ann``: solutions/ as it is;
- ``Jo Smith``: a planted copy of ann's service.py, identifiers renamed and comments reworded;
- ``Jo_Smith``: wrong thresholds (loses exactly one check); shares a slug with "Jo Smith";
- ``fay``: a repository layout (service in ``exercises/``, model at the root) and a near-copy of ann;
- ``cy``: crashes on start; ``dee``: no service.py; ``eve``: no model.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import bentoml
import pytest

from tests.grader.conftest import ROOT, copy_solutions, make_broken

KINDS = {"ann": "solution", "Jo Smith": "renamed_copy", "Jo_Smith": "wrong_thresholds", "fay": "repo_layout",
         "cy": "crash_on_start", "dee": "no_service", "eve": "no_model"}
#: (old, new) replacements that disguise a copy without changing its syntax tree's shape.
RENAMES = [(r"# A class attribute, so that `bentoml build` packs the model into the bento.",
            "# packed by build"),
           (r"\bfeatures\b", "feats"), (r"\bapplications\b", "apps"), (r"\bmodel\b", "loaded")]
#: A cheap class for the interrupted run: learners whose grading ends early.
QUICK = ("dee", "eve", "cy")


def make_submission(kind: str, dest: Path, model_file: Path) -> Path:
    """A learner's folder of ``kind`` (see the module docstring) with the model exported into it."""
    if kind in ("wrong_thresholds", "crash_on_start"):
        folder, _ = make_broken(kind, dest)
    elif kind == "repo_layout":
        dest.mkdir(parents=True)
        folder = copy_solutions(dest / "exercises")
        text = (folder / "service.py").read_text()
        assert "        if not applications:" in text, "solutions/service.py changed: pick another small edit"
        (folder / "service.py").write_text(text.replace(
            "        if not applications:", "        if len(applications) == 0:", 1))
        (dest / "README.md").write_text("my repository\n")
    else:
        folder = copy_solutions(dest)
    if kind == "renamed_copy":
        text = (folder / "service.py").read_text()
        for old, new in RENAMES:
            text, n = re.subn(old, new, text)
            assert n, old
        (folder / "service.py").write_text(text)
    if kind == "no_service":
        (folder / "service.py").unlink()
    if kind != "no_model":
        shutil.copy(model_file, dest / "credit_risk_model.bentomodel")
    return dest


@pytest.fixture(scope="session")
def model_file(saved_model, tmp_path_factory) -> Path:
    """The kit-trained course model, exported as a learner ships it."""
    path = tmp_path_factory.mktemp("export") / "credit_risk_model.bentomodel"
    bentoml.models.export_model(str(saved_model.tag), str(path))
    return path


@pytest.fixture(scope="session")
def class_folder(model_file, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("class")
    for learner, kind in KINDS.items():
        make_submission(kind, root / learner, model_file)
    return root


def cohort(*args: str | Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """``python -m grader.cohort ARGS`` from the repository root."""
    return subprocess.run([sys.executable, "-m", "grader.cohort", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ})


@pytest.fixture(scope="session")
def graded_class(class_folder, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The class graded once, at two at a time (tests that change results work on a copy)."""
    out = tmp_path_factory.mktemp("cohort-out")
    done = cohort("grade", class_folder, "--out", out, "-j", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    return out, done


def gradebook_rows(out: Path) -> dict[str, dict]:
    with open(out / "gradebook.csv", newline="") as fh:
        return {row["learner"]: row for row in csv.DictReader(fh)}


def records(out: Path) -> dict[str, dict]:
    """Every stored record, by learner name."""
    found = {}
    for path in (out / "learners").glob("*/record.json"):
        record = json.loads(path.read_text())
        found[record["learner"]] = record
    return found
