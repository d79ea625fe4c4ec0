"""Relative paths an instructor types: the submissions folder and the learners' .bentomodel files."""

from __future__ import annotations

import bentoml

from bentokit import contract
from grader.cohort import submissions


def test_a_relative_submissions_folder_imports_each_model(saved_model, tmp_path, monkeypatch) -> None:
    learner = tmp_path / "class" / "alice"
    learner.mkdir(parents=True)
    bentoml.models.export_model(saved_model.tag, str(learner / f"{contract.MODEL_NAME}.bentomodel"))
    monkeypatch.chdir(tmp_path)
    [alice] = submissions.from_folder(submissions.Path("class"))  # as typed: `grade class/ ...`
    assert submissions.Path(alice.source).is_absolute()
    prepared = submissions.prepare(alice, tmp_path / "work")
    assert [m["tag"] for m in prepared.models] == [str(saved_model.tag)], prepared.notes
    assert (prepared.home / "models" / contract.MODEL_NAME).is_dir()
