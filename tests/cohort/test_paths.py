"""Relative paths an instructor types: the submissions folder and the learners' .bentomodel files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import bentoml

from bentokit import contract
from grader.cohort import submissions


def test_a_relative_submissions_folder_imports_each_model(saved_model, tmp_path, monkeypatch) -> None:
    learner = tmp_path / "class" / "alice"
    learner.mkdir(parents=True)
    bentoml.models.export_model(saved_model.tag, str(learner / f"{contract.MODEL_NAME}.bentomodel"))
    monkeypatch.chdir(tmp_path)
    [alice] = submissions.from_folder(Path("class"))  # as typed: `grade class/ ...`
    assert Path(alice.source).is_absolute()
    prepared = submissions.prepare(alice, tmp_path / "work")
    assert [m["tag"] for m in prepared.models] == [str(saved_model.tag)], prepared.notes
    assert (prepared.home / "models" / contract.MODEL_NAME).is_dir()


def learner_with_links(folder: Path, secret: Path) -> Path:
    """A learner's folder whose links lead out of it (to a file only root reads, to the grading
    process's own environment), with a link inside it and a FIFO."""
    folder.mkdir(parents=True)
    (folder / "service.py").write_text("print('hello')\n")
    (folder / "bentofile.yaml").symlink_to(secret)
    (folder / "env.txt").symlink_to("/proc/self/environ")
    (folder / "bentoml" / "models" / contract.MODEL_NAME).mkdir(parents=True)  # a shipped model store
    (folder / "bentoml" / "models" / contract.MODEL_NAME / "latest").symlink_to(secret)
    (folder / "same.py").symlink_to("service.py")  # inside: kept
    os.mkfifo(folder / "pipe")
    return folder


def test_a_learners_links_out_of_the_submission_are_left_out_of_the_copy(tmp_path, monkeypatch) -> None:
    """The copy runs as root: a link out, followed, would hand root's files (the grader's environment,
    with its tokens) to learner code and into the feedback; a FIFO would hang the copy."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET: hunter2\n")
    secret.chmod(0o600)
    monkeypatch.setenv("INSTRUCTOR_TOKEN", "ghp_not_for_learners")
    learner = learner_with_links(tmp_path / "class" / "alice", secret)
    prepared = submissions.prepare(submissions.Submission("alice", str(learner)), tmp_path / "work")
    copy = prepared.folder
    assert sorted(p.name for p in copy.iterdir()) == ["same.py", "service.py"], prepared.notes
    assert (copy / "same.py").read_text() == "print('hello')\n"
    left_out = "\n".join(prepared.notes)
    for name in ("bentofile.yaml", "env.txt", f"{contract.MODEL_NAME}/latest"):
        assert f"{name} is a link to" in left_out and "outside the submission" in left_out, left_out
    assert "pipe is not a file or a folder" in left_out
    everything = b"".join(p.read_bytes() for p in tmp_path.joinpath("work").rglob("*") if p.is_file())
    assert b"hunter2" not in everything and b"ghp_not_for_learners" not in everything


def test_a_cloned_learners_links_out_of_the_repository_are_removed(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET: hunter2\n")
    repo = tmp_path / "alice.git"
    repo.mkdir()
    (repo / "service.py").write_text("print('hello')\n")
    (repo / "bentofile.yaml").symlink_to(secret)
    (repo / "exercises").symlink_to("/etc")  # a folder link out: removed, not followed
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "links"]):
        subprocess.run([*git, *args], cwd=repo, check=True)
    fetched = submissions.fetch(submissions.Submission("alice", f"file://{repo}"), tmp_path / "clone")
    assert sorted(p.name for p in fetched.root.iterdir() if p.name != ".git") == ["service.py"], fetched.notes
    assert any("bentofile.yaml is a link to" in n for n in fetched.notes), fetched.notes
    assert fetched.folder == fetched.root
