"""Grading a class: every learner's score equals the single-submission grader's, and the outputs."""

from __future__ import annotations

import base64
import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import bentoml
import psutil
import pytest

from grader.cohort import platforms, runner, submissions
from tests.grader.conftest import ROOT, copy_solutions, grade, make_broken

#: Kinds of submission in the generated class; several learners share each kind.
KINDS = ("solution", "wrong_thresholds", "crash_on_start", "no_service", "no_model")
CLASS = [f"{KINDS[i % len(KINDS)]}-{i:02d}" for i in range(10)]
#: The grader's default time limits, which a class run uses (the grader tests' own are tighter).
COHORT_LIMITS = ("--import-timeout", "30", "--ready-timeout", "60")


def make_submission(kind: str, dest: Path, model_file: Path) -> Path:
    if kind in ("wrong_thresholds", "crash_on_start"):
        folder, _ = make_broken(kind, dest)
    else:
        folder = copy_solutions(dest)
    if kind == "no_service":
        (folder / "service.py").unlink()
    if kind != "no_model":
        shutil.copy(model_file, folder / "credit_risk_model.bentomodel")
    return folder


@pytest.fixture(scope="session")
def model_file(saved_model, tmp_path_factory) -> Path:
    """The kit-trained course model, exported as a learner ships it."""
    path = tmp_path_factory.mktemp("export") / "credit_risk_model.bentomodel"
    bentoml.models.export_model(str(saved_model.tag), str(path))
    return path


@pytest.fixture(scope="session")
def class_folder(model_file, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("class")
    for learner in CLASS:
        make_submission(learner.split("-")[0], root / learner, model_file)
    return root


@pytest.fixture(scope="session")
def graded_class(class_folder, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("cohort-out")
    done = subprocess.run([sys.executable, "-m", "grader.cohort", "grade", str(class_folder),
                           "--out", str(out), "-j", "2"], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return out, done


@pytest.fixture(scope="session")
def single_scores(model_file, tmp_path_factory) -> dict[str, float]:
    """Each kind graded alone by ``python -m grader``, with the model imported into a fresh home."""
    scores = {}
    for kind in KINDS:
        base = tmp_path_factory.mktemp(f"single-{kind}")
        folder = make_submission(kind, base / "submission", model_file)
        home = base / "home"
        for exported in folder.glob("*.bentomodel"):
            subprocess.run([sys.executable, "-m", "bentoml", "models", "import", str(exported)],
                           env={**os.environ, "BENTOML_HOME": str(home)}, check=True,
                           capture_output=True)
            exported.unlink()
        home.mkdir(exist_ok=True)
        scores[kind] = grade(folder, home, base / "results", "--build", *COHORT_LIMITS).summary["score"]
    return scores


def gradebook_rows(out: Path) -> dict[str, dict]:
    with open(out / "gradebook.csv", newline="") as fh:
        return {row["learner"]: row for row in csv.DictReader(fh)}


def test_every_learner_scores_as_when_graded_alone(graded_class, single_scores):
    out, _ = graded_class
    rows = gradebook_rows(out)
    assert sorted(rows) == sorted(CLASS)
    for learner in CLASS:
        assert float(rows[learner]["total"]) == single_scores[learner.split("-")[0]], learner
    assert single_scores["solution"] == float(rows[CLASS[0]]["max_score"])  # full marks
    assert len({single_scores[k] for k in KINDS}) == len(KINDS)  # each kind loses something else


def test_class_outputs(graded_class):
    out, done = graded_class
    assert "10/10" in done.stdout
    rows = gradebook_rows(out)
    some_check = next(k for k in rows[CLASS[0]] if k not in ("learner", "total", "max_score", "percent",
                                                                "error"))
    assert all(some_check in row for row in rows.values())  # per-check points columns
    for learner in CLASS:
        folder = out / "learners" / learner
        results = json.loads((folder / "results.json").read_text())
        assert results["score"] == float(rows[learner]["total"])
        assert {"name", "score", "max_score", "output", "visibility"} <= set(results["tests"][0])
        assert f"# Feedback for {learner}" in (folder / "feedback.md").read_text()
    summary = (out / "summary.md").read_text()
    assert "most-failed checks" in summary and "live endpoint: status thresholds" in summary
    assert (out / "score_distribution.png").stat().st_size > 5000
    facts = json.loads((out / "class.json").read_text())
    assert facts["submissions"] == 10 and facts["peak_rss_mb"] > 0


def test_a_submission_over_its_limits_is_stopped_and_reported(class_folder, tmp_path):
    sub = submissions.Submission("slow", str(class_folder / CLASS[0]))
    outcome = runner.grade_one(sub, tmp_path, runner.Limits(seconds=5))
    assert "longer than the limit of 5 s" in outcome.error and outcome.score == 0
    left = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if Path(proc.cwd()).is_relative_to(tmp_path):
                left.append(proc.cmdline())
    assert left == []  # the grader, its children and the learner's server are all gone


def test_submissions_from_a_csv_of_paths_and_git_repositories(class_folder, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(class_folder / CLASS[0], repo)
    for command in (["init", "-q"], ["add", "."], ["-c", "user.name=l", "-c", "user.email=l@x",
                                                    "commit", "-qm", "work"]):
        subprocess.run(["git", *command], cwd=repo, check=True)
    listing = tmp_path / "class.csv"
    listing.write_text(f"learner,source\nann,{class_folder / CLASS[1]}\nben,file://{repo}\n")
    subs = submissions.from_csv(listing)
    assert [s.is_git for s in subs] == [False, True]
    prepared = submissions.prepare(subs[1], tmp_path / "work")
    assert (prepared.folder / "service.py").is_file()
    assert prepared.models == ["credit_risk_model.bentomodel"]
    assert not list(prepared.folder.glob("*.bentomodel"))  # models live in the home, not the context
    with pytest.raises(submissions.SubmissionError, match="learner"):
        bad = tmp_path / "bad.csv"
        bad.write_text("name,path\nx,y\n")
        submissions.from_csv(bad)


def test_gradescope_bundle_runs_on_a_submission_laid_out_as_gradescope_does(model_file, tmp_path):
    bundle = platforms.write_bundle(tmp_path / "autograder.zip")
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
        assert zf.getinfo("run_autograder").external_attr >> 16 & 0o111
        assert "kit/grader/__main__.py" in zf.namelist() and "kit/pyproject.toml" in zf.namelist()
        assert not [n for n in zf.namelist() if n.startswith("kit/solutions")]
    assert subprocess.run(["bash", "-n", str(root / "source" / "setup.sh")]).returncode == 0
    make_submission("solution", root / "submission", model_file)
    (root / "results").mkdir()
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "KIT_PYTHON": sys.executable}
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == results["max_score"] > 0
    for test in results["tests"]:
        assert {"name", "score", "max_score", "output", "visibility"} <= set(test)
    assert {t["visibility"] for t in results["tests"]} <= {"visible", "hidden", "after_due_date",
                                                          "after_published"}


def test_classroom_workflow_and_reporter_output(tmp_path):
    path = platforms.write_workflow(tmp_path / "classroom.yml", "bentoml-production-kit @ git+https://x/kit")
    text = path.read_text()
    assert "python -m grader.cohort classroom-run" in text and "git+https://x/kit" in text
    check = {"group": "g", "title": "t", "output": ""}
    outcome = runner.Outcome("l", score=3, max_score=5, checks=[
        {**check, "id": "a", "score": 3, "max_score": 3, "passed": True},
        {**check, "id": "b", "score": 0, "max_score": 2, "passed": False, "output": "fix"}])
    line = platforms.classroom_output(outcome)
    assert line.startswith("result=")
    decoded = json.loads(base64.b64decode(line.split("=", 1)[1]))
    assert decoded["max_score"] == 5 and sum(t["score"] for t in decoded["tests"]) == 3
    assert decoded["status"] == "fail" and decoded["tests"][1]["message"] == "fix"
