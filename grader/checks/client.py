"""client.py: its ``classify(url, applicant)`` returns the service's answers and raises on errors."""

from __future__ import annotations

from typing import Any

import pytest

from bentokit import contract
from grader.checks.live import Answer
from grader.children import Child
from grader.declare import LIVE, Checks
from grader.facts.run import Run

graded = Checks(group="client.py", exercise="client", needs=(LIVE,), graded=False)

TIMEOUT = 60.0
INVALID = "invalid_applicant"


@pytest.fixture(scope="module")
def client_calls(run: Run) -> dict[str, Any]:
    """The learner's client, run in a child against the live service, on known and invalid applicants."""
    if not (run.submission / "client.py").is_file():
        return {"error": f"client.py not found in {run.submission}: "
                         f"restore it with `./kit learn reset client`."}
    if not run.live.url:
        return {"error": "not checked: the service is not running (finish the service exercise first)."}
    invalid = {**contract.SAMPLE_APPLICANT, "home": "castle"}
    applicants = {"sample": contract.SAMPLE_APPLICANT, **contract.GOLDEN_APPLICANTS, INVALID: invalid}
    result = Child("grader.children.client", {"url": run.live.url, "applicants": applicants},
                   cwd=run.workdir, timeout=TIMEOUT, **run.learner()).result()
    if result.timed_out:
        return {"error": f"client.py did not finish within {TIMEOUT:.0f} s (a request without a timeout?)."}
    data = result.data or {"error": f"client.py could not be run:\n{result.log_tail}"}
    return {**data, "applicants": applicants, "url": run.live.url}


def need_answers(calls: dict[str, Any], check) -> dict[str, Any]:
    if "error" in calls:
        check.fail(calls["error"])
    return calls["answers"]


@graded(points=4)
def client_answers(client_calls: dict[str, Any], check) -> None:
    """classify(url, applicant) returns the service's answer"""
    answers = need_answers(client_calls, check)
    wrong = []
    for name, applicant in client_calls["applicants"].items():
        if name == INVALID:
            continue
        direct = Answer.post(f"{client_calls['url']}{contract.CLASSIFY_PATH}", contract.wrap(applicant)).body
        got = answers[name]
        why = got.get("raised") or ("" if got.get("answer") == direct else f"returned {got.get('answer')!r}")
        if why:
            wrong.append(f"{name}: {why}; the service answers {direct}")
    check.part(f"{len(client_calls['applicants']) - 1} applicants", not wrong,
               f"{len(wrong)} answer(s) differ from the service's, e.g. {wrong[0] if wrong else ''}. "
               f'POST the applicant wrapped as {{"{contract.CLASSIFY_ARG}": applicant}} and return '
               f'response.json() (notebook 03_serve.ipynb, "Calling `/classify` with `requests`").')


@graded(points=2)
def client_errors(client_calls: dict[str, Any], check) -> None:
    """an invalid applicant raises instead of returning the error"""
    answers = need_answers(client_calls, check)
    if any("raised" in a for n, a in answers.items() if n != INVALID):
        check.fail("classify raises for valid applicants too: make it answer them first "
                   "(see the check above).")
    got = answers[INVALID]
    check.part("raises on HTTP 400", "raised" in got,
               f"classify returned {got.get('answer')!r} for an applicant with home='castle': call "
               f"response.raise_for_status() so that a rejected request is an error, not an answer "
               f'(notebook 06_validate.ipynb, "Reading errors in a client").')
