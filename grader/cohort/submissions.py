"""Finding a class's submissions and preparing each one in a folder of its own."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bentokit.server import kit_env

#: Folders a learner may ship their model store in (besides ``.bentomodel`` exports).
STORE_DIRS = ("bentoml_home", "bentoml", ".bentoml", "model_store")
IGNORED = shutil.ignore_patterns(".git", "__pycache__", ".venv", "grader-results", *STORE_DIRS)


class SubmissionError(RuntimeError):
    """A submission could not be prepared (not found, clone failed, model import failed)."""


@dataclass(frozen=True)
class Submission:
    """One learner's work: a folder, or a git repository (URL or path) to clone."""

    learner: str
    source: str

    @property
    def is_git(self) -> bool:
        return bool(re.match(r"^(https?|git|ssh|file)://|^git@", self.source)) or self.source.endswith(".git")


@dataclass
class Prepared:
    """A submission copied into ``folder`` with its models imported into the BentoML ``home``."""

    folder: Path
    home: Path
    models: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def from_folder(root: Path) -> list[Submission]:
    """One submission per sub-folder of ``root`` (hidden folders skipped), by name."""
    if not root.is_dir():
        raise SubmissionError(f"no folder of submissions at {root}")
    root = root.resolve()  # every later step (copy, model import) runs elsewhere
    return [Submission(p.name, str(p)) for p in sorted(root.iterdir())
            if p.is_dir() and not p.name.startswith(".")]


def from_csv(path: Path) -> list[Submission]:
    """Rows of ``learner,source``: a git URL, or a path (relative to the CSV's folder)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"learner", "source"} <= set(rows[0]):
        raise SubmissionError(f"{path} needs a header with the columns 'learner' and 'source'")
    out = []
    for row in rows:
        source = row["source"].strip()
        sub = Submission(row["learner"].strip(), source)
        if not sub.is_git:
            sub = Submission(sub.learner, str((path.parent / source).resolve()))
        out.append(sub)
    return out


def _fetch(sub: Submission, target: Path, timeout: float) -> None:
    if sub.is_git:
        done = subprocess.run(["git", "clone", "--quiet", "--depth", "1", sub.source, str(target)],
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise SubmissionError(f"git clone {sub.source} failed: {done.stderr.strip()}")
        return
    source = Path(sub.source)
    if not source.is_dir():
        raise SubmissionError(f"no submission folder at {source}")
    shutil.copytree(source, target, ignore=IGNORED, symlinks=False)


def _import_models(source: Path, home: Path, timeout: float) -> tuple[list[str], list[str]]:
    """Import the learner's ``.bentomodel`` files and copy any model store they ship."""
    imported, notes = [], []
    for store in STORE_DIRS:
        models = source / store / "models"
        if models.is_dir():
            shutil.copytree(models, home / "models", dirs_exist_ok=True, symlinks=False)
            notes.append(f"model store copied from {store}/")
    for exported in sorted(source.resolve().rglob("*.bentomodel")):
        # An absolute path: BentoML resolves a relative one against / (its file system layer).
        done = subprocess.run([sys.executable, "-m", "bentoml", "models", "import", str(exported)],
                              env=kit_env({"BENTOML_HOME": str(home)}), capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode:
            notes.append(f"{exported.name} could not be imported: {done.stderr.strip()[-300:]}")
        else:
            imported.append(exported.name)
    if not imported and not notes:
        notes.append("no model found: ship the model as a .bentomodel file (bentoml models export)")
    return imported, notes


def prepare(sub: Submission, work: Path, timeout: float = 120) -> Prepared:
    """Copy or clone the submission into ``work/submission`` and fill ``work/home`` with its models."""
    folder, home = work / "submission", work / "home"
    home.mkdir(parents=True)
    _fetch(sub, folder, timeout)
    source = Path(sub.source) if not sub.is_git else folder
    models, notes = _import_models(source, home, timeout)
    for exported in folder.rglob("*.bentomodel"):  # the models live in the home now, not in the build context
        exported.unlink()
    return Prepared(folder, home, models, notes)
