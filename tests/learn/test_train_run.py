"""The learner loop's run of train.py: a run that saved the model is reused until train.py changes."""

from __future__ import annotations

import shutil

from grader.learn import training
from tests.learn.conftest import SHIPPED, SOLUTIONS


def versions(home) -> list[str]:
    return sorted(p.name for p in (home / "models" / "credit_risk_model").iterdir() if p.name != "latest")


def test_a_run_that_saved_the_model_is_reused_until_train_py_changes(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BENTOKIT_CACHE", str(tmp_path / "cache"))
    submission = tmp_path / "submission"
    submission.mkdir()
    shutil.copy(SOLUTIONS / "train.py", submission / "train.py")

    first = training.run_train(submission, tmp_path / "home1", tmp_path / "results1")
    assert first["saved"] and first["returncode"] == 0 and not first["reused"], first["log_tail"]
    second = training.run_train(submission, tmp_path / "home2", tmp_path / "results2")
    assert second["saved"] and second["reused"]
    assert versions(tmp_path / "home2") == versions(tmp_path / "home1") != []
    logs = [(tmp_path / f"results{n}" / "train.log").read_text() for n in (1, 2)]
    assert logs[0] == logs[1]

    (submission / "train.py").write_text((SOLUTIONS / "train.py").read_text() + "\n# edited\n")
    third = training.run_train(submission, tmp_path / "home3", tmp_path / "results3")
    assert third["saved"] and not third["reused"]
    assert versions(tmp_path / "home3") != versions(tmp_path / "home1")


def test_a_failed_run_is_never_kept(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BENTOKIT_CACHE", str(tmp_path / "cache"))
    submission = tmp_path / "submission"
    submission.mkdir()
    shutil.copy(SHIPPED / "train.py", submission / "train.py")  # its TODO raises NotImplementedError

    failed = training.run_train(submission, tmp_path / "home", tmp_path / "results")
    assert failed["returncode"] != 0 and not failed["saved"] and not failed["reused"]
    assert not list((tmp_path / "cache").glob("train-runs/*"))
