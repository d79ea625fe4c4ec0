"""The learner loop's run of train.py: a run that saved the model is reused until train.py changes;
the grading started beside it reads the store once it has ended."""

from __future__ import annotations

import json
import re
import shutil

from grader.learn import grading, manifest, training
from tests.grader.conftest import MODEL_READER
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


def test_the_grader_started_beside_train_py_reads_the_store_only_once_train_py_has_saved(
        tmp_path, exercise_list) -> None:
    # The learner loop starts the grader while train.py runs; a train.py that saves its model only after
    # a few seconds must still find it graded, and its grading must have waited for it, not raced it.
    submission = tmp_path / "submission"
    submission.mkdir()
    solution = (SOLUTIONS / "train.py").read_text()
    start = "def main() -> None:\n"
    slow = solution.replace(start, start + "    __import__('time').sleep(4)\n", 1)
    assert slow != solution, "solutions/train.py changed: put the sleep elsewhere"
    (submission / "train.py").write_text(slow)
    train = [manifest.find("train", exercise_list)]

    graded = grading.grade(submission, train, tmp_path / "results")
    result = graded.results["train"]
    assert result.done, result.failed
    helpers = json.loads((tmp_path / "results" / "summary.json").read_text())["helpers"]
    assert helpers[-1] == MODEL_READER, helpers


def test_a_store_without_the_model_starts_no_model_reader(tmp_path, exercise_list) -> None:
    submission = tmp_path / "submission"
    submission.mkdir()
    shutil.copy(SHIPPED / "train.py", submission / "train.py")  # its TODO raises before the save
    train = [manifest.find("train", exercise_list)]

    graded = grading.grade(submission, train, tmp_path / "results")
    failed = {c["id"]: c["output"] for c in graded.results["train"].failed}
    assert "no model named credit_risk_model" in failed["model_saved"], failed
    assert "TODO is still open" in failed["train_script"], failed
    # started beside train.py, the model reader is stopped unread once the store is known to be empty
    helpers = json.loads((tmp_path / "results" / "summary.json").read_text())["helpers"]
    assert helpers[-1] == f"{MODEL_READER} (stopped unread: no model in the store)", helpers


def run_cold_and_warm(submission, tmp_path) -> tuple[dict, dict, str, str]:
    cold = training.run_train(submission, tmp_path / "cold-home", tmp_path / "cold")
    with open(submission / "train.py", "a") as fh:  # a save: a run that saved the model is not reused
        fh.write("\n# saved again\n")
    training.warm_up()
    assert training._warm is not None and training._warm.ready(timeout=120)
    warm_process = training._warm.process
    warm = training.run_train(submission, tmp_path / "warm-home", tmp_path / "warm")
    assert warm["warm"] and not cold["warm"]
    assert training._warm is None and warm_process.poll() is not None  # used once, then stopped
    logs = [(tmp_path / name / "train.log").read_text() for name in ("cold", "warm")]
    return cold, warm, *logs


def test_watch_modes_warm_python_runs_train_py_as_python_does(tmp_path, monkeypatch) -> None:
    """Watch mode runs the next train.py in a Python that imported its libraries meanwhile: the same
    model saved, the same output, and a failure reported the same way (exit status 1, the traceback
    from train.py's own frames)."""
    monkeypatch.setenv("BENTOKIT_CACHE", str(tmp_path / "cache"))
    submission = tmp_path / "submission"
    submission.mkdir()
    shutil.copy(SOLUTIONS / "train.py", submission / "train.py")
    cold, warm, cold_log, warm_log = run_cold_and_warm(submission, tmp_path / "saves")
    assert warm["saved"] and warm["returncode"] == 0 and not warm["reused"], warm["log_tail"]
    assert len(versions(tmp_path / "saves" / "warm-home")) == 1
    assert cold_log.splitlines()[-1].startswith("saved credit_risk_model:")
    assert warm_log.splitlines()[-1].startswith("saved credit_risk_model:")

    shutil.copy(SHIPPED / "train.py", submission / "train.py")  # its TODO raises NotImplementedError
    cold, warm, cold_log, warm_log = run_cold_and_warm(submission, tmp_path / "fails")
    assert cold["returncode"] == warm["returncode"] == 1 and not warm["saved"]
    assert warm_log.splitlines()[0] == "Traceback (most recent call last):"
    box = re.compile(r"bentokit-[\w-]+")  # each run's sandbox folder
    assert box.sub("<box>", warm_log) == box.sub("<box>", cold_log), (cold_log, warm_log)
    assert "runpy" not in warm_log and "grader/learn/warm.py" not in warm_log


def test_a_warm_python_is_used_only_once_ready_and_for_the_same_data(tmp_path, monkeypatch) -> None:
    """A save right after a grading finds the Python still importing: train.py runs cold (no slower),
    and the Python is stopped; so it is when the learner chose other data meanwhile."""
    monkeypatch.setenv("BENTOKIT_CACHE", str(tmp_path / "cache"))
    submission = tmp_path / "submission"
    submission.mkdir()
    shutil.copy(SHIPPED / "train.py", submission / "train.py")
    training.warm_up()
    waiting = training._warm.process
    assert training._started_warm(training.learner_data(), submission) is None and waiting.poll() is not None
    training.warm_up()
    waiting = training._warm.process
    assert training._warm.ready(timeout=120)
    monkeypatch.setenv("CREDIT_SCORING_CSV", str(tmp_path / "other.csv"))
    assert training._started_warm(training.learner_data(), submission) is None and waiting.poll() is not None
    training.cool_down()


def test_a_warm_python_ended_before_the_go_gives_way_to_a_cold_run(tmp_path, monkeypatch) -> None:
    """Ended from outside between the look and the go (as an ordinary user, by the learner's own
    processes): the pipe is broken, and train.py runs cold instead of the grading failing."""
    monkeypatch.setenv("BENTOKIT_CACHE", str(tmp_path / "cache"))
    submission = tmp_path / "submission"
    submission.mkdir()
    shutil.copy(SHIPPED / "train.py", submission / "train.py")
    training.warm_up()
    assert training._warm.ready(timeout=120)
    training._warm.process.kill()
    training._warm.process.wait()
    monkeypatch.setattr(training.Warm, "usable", lambda self, data: True)  # looked at just before
    outcome = training.run_train(submission, tmp_path / "home", tmp_path / "results")
    assert not outcome["warm"] and outcome["returncode"] == 1 and training._warm is None
    assert "NotImplementedError: TODO(1)" in outcome["log_tail"]
