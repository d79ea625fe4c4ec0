"""train.py: it runs, within a time limit, and saves the model (the learner loop runs it first).

The learner loop (``python -m grader.learn``) runs the learner's ``train.py`` into a fresh model
store before grading, then grades that store with the model checks; this check reports the run.
"""

from __future__ import annotations

import json

import pytest

from grader.declare import Checks
from grader.learn.training import OUTCOME_FILE

graded = Checks(group="train.py", exercise="train", graded=False)


@graded(points=4)
def train_script(request: pytest.FixtureRequest, run, check) -> None:
    """train.py runs and saves credit_risk_model"""
    # `run`: the learner loop runs train.py while the grading starts; the run waits for its end.
    path = request.config.getoption("--results") / OUTCOME_FILE
    if not path.is_file():
        check.fail("train.py was not run: grade it with `./kit learn check train`.")
    outcome = json.loads(path.read_text())
    if not outcome["exists"]:
        check.fail("train.py not found in the submission: restore it with `./kit learn reset train`.")
    if outcome["timed_out"]:
        check.fail(f"train.py did not finish within {outcome['timeout']:.0f} s.\n{outcome['log_tail']}")
    if outcome["returncode"] != 0:
        todo = " (a TODO is still open)" if "NotImplementedError" in outcome["log_tail"] else ""
        check.fail(f"`python train.py` failed with exit code {outcome['returncode']}{todo}:\n"
                   f"{outcome['log_tail']}")
    check.part("a model saved", bool(outcome["saved"]),
               'train.py ran but saved no credit_risk_model: call '
               'bentoml.xgboost.save_model("credit_risk_model", ...) '
               '(notebook 02_train_and_save.ipynb, "Saving to the model store").')
    again = " (reused while train.py, the data and the kit are unchanged)" if outcome.get("reused") else ""
    check.note(f"train.py ran in {outcome['seconds']:.1f} s{again}")
