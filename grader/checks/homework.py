"""The homework: one check per question, against the key the kit computes (``grader.homework.key``).

The key is computed once per environment (package versions, Python, data checksum) in a child
process with a temporary model store, and cached in the results folder as ``homework-key.json``;
it is computed only once an answer is there to compare with it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bentokit import procs
from grader.children import Child
from grader.declare import Checks
from grader.facts.run import Run
from grader.homework import key as homework_key

graded = Checks(group="homework", exercise="homework", graded=False)

KEY_FILE = "homework-key.json"
KEY_TIMEOUT = 900.0


def cached_key(results: Path) -> dict[str, Any]:
    """The answer key for this environment: from the cache when its fingerprint matches, else computed."""
    fingerprint = homework_key.fingerprint()
    path = results / KEY_FILE
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored.get("fingerprint") == fingerprint:
            return stored["key"]
    # Root's own build and server, away from /tmp and any uv configuration: a learner's homework.py,
    # run before, put a /tmp/uv.toml whose index ran its code as root in this build (red-team round 35).
    with tempfile.TemporaryDirectory(prefix="homework-key-home-", dir=procs.private_tmp()) as home:
        result = Child("grader.homework.key", fingerprint, cwd=Path(home), timeout=KEY_TIMEOUT,
                       env={"BENTOML_HOME": home, "TMPDIR": home, "UV_NO_CONFIG": "1"}).result()
    if not result.ok:
        raise RuntimeError(f"computing the homework key failed:\n{result.log_tail}")
    results.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.data, indent=2))
    return result.data["key"]


class Key:
    """The answer key, computed (or read from the cache) when a check first compares an answer with
    it: a homework with nothing answered yet, as the kit ships it, costs no key (a minute's work)."""

    def __init__(self, results: Path) -> None:
        self._results = results
        self._key: dict[str, Any] | None = None

    def __getitem__(self, question: str) -> Any:
        if self._key is None:
            self._key = cached_key(self._results)
        return self._key[question]


@pytest.fixture(scope="module")
def key(request: pytest.FixtureRequest) -> Key:
    return Key(request.config.getoption("--results"))


@pytest.fixture(scope="module")
def homework(run: Run) -> dict[str, Any]:
    """The learner's answers, read in a child process."""
    if not (run.submission / "homework.py").is_file():
        return {"error": f"homework.py not found in {run.submission}: "
                         f"restore it with `./kit learn reset homework`."}
    result = Child("grader.children.homework", homework_key.questions_json("q3"), cwd=run.workdir,
                   timeout=60, **run.learner()).result()
    return result.data if result.ok else {"error": f"homework.py could not be read:\n{result.log_tail}"}


def answer(homework: dict[str, Any], name: str, check) -> Any:
    if "error" in homework:
        check.fail(homework["error"])
    value = homework[name]
    if value is None:
        check.fail(f"{name} is not answered yet (still None in homework.py).")
    return value


def same(given: Any, expected: Any) -> bool:
    return str(given).strip().upper() == str(expected).strip().upper()


def value(name: str, question: str, fix: str) -> Callable[..., None]:
    """A question answered by a value: homework.py's NAME must equal the key's QUESTION."""

    def check_value(homework: dict[str, Any], key: Key, check) -> None:
        given = answer(homework, name, check)
        check.part(name, same(given, key[question]), f"{given!r} {fix}")

    return check_value


def loan_query(homework: dict[str, Any], key: Key, check) -> None:
    """Q3: the learner's pydantic class validates the body, with one typed, required field per key."""
    if "error" in homework:
        check.fail(homework["error"])
    facts = homework["q3"]
    if "error" in facts:
        check.fail(facts["error"])
    if not facts["types"]:
        check.fail("LoanQuery has no fields yet: declare one annotated field per key of the JSON body.")
    wanted: dict[str, str] = key["q3"]
    check.part("validates the body", facts["validates"],
               f"LoanQuery rejects the body of homework.md: {facts.get('validation_error', '')}")
    wrong = [f"{k}: {facts['types'].get(k, 'missing')}, should be {t}" for k, t in wanted.items()
             if facts["types"].get(k) != t]
    extra = sorted(set(facts["types"]) - set(wanted))
    check.part("field types", not wrong and not extra,
               "; ".join(wrong + [f"unexpected field {e}" for e in extra])
               + ". One annotated field per key, with the type of the JSON value (str, int, float, bool).")
    check.part("all fields required", facts["required"] == sorted(wanted),
               "give no defaults: every key of the body is required.")




#: The homework's questions in order: check id, title, and how it is checked.
QUESTIONS = [
    ("homework_q1", "Q1: the installed BentoML version",
     value("BENTOML_VERSION", "q1", "is not the installed version: run `./kit bentoml --version`.")),
    ("homework_q2", "Q2: the size of the saved model",
     value("MODEL_SIZE", "q2", "is not it: look at the Size column of `./kit bentoml models list "
                               "credit_risk_model` (options A-D in homework.md).")),
    ("homework_q3", "Q3: a pydantic class for the JSON body", loan_query),
    ("homework_q4", "Q4: the framework version of an imported .bentomodel",
     value("XGBOOST_VERSION", "q4", "is not it: read context.framework_versions of the imported model "
                                    "(`./kit bentoml models get credit_risk_model:latest -o yaml`).")),
    ("homework_q5", "Q5: the status the built bento returns",
     value("BENTO_STATUS", "q5", "is not what the bento answers for the applicant of homework.md: build, "
                                 "serve the bento (credit_risk_classifier:latest) and POST it wrapped under "
                                 "\"credit_application\".")),
    ("homework_q6", "Q6: the faster of two models under load",
     value("FASTER_MODEL", "q6", "is not what the kit measured: run the bounded locust test of homework.md "
                                 "against each model and compare their successful requests per second "
                                 "(Aggregated line).")),
]


def declare(check_id: str, title: str, checker: Callable[..., None]) -> Callable[..., None]:
    """One declared check per question (a function of its own: pytest reads its fixtures and name)."""

    def question(homework: dict[str, Any], key: Key, check) -> None:
        checker(homework, key, check)

    question.__name__ = question.__qualname__ = check_id
    question.__doc__ = title
    return graded(points=2)(question)


for _id, _title, _checker in QUESTIONS:
    globals()[_id] = declare(_id, _title, _checker)
