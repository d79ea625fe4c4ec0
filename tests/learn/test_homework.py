"""The homework: the key is computed by the kit's own run, and the homework checks accept it."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from grader.checks.homework import KEY_FILE
from grader.homework import key as homework_key
from grader.learn import manifest as exercises
from grader.learn.grading import grade
from tests.learn.conftest import SHIPPED, results_with_key


def answers_from(key: dict, wrong: str = "") -> str:
    """A homework.py holding the key's answers (``wrong``: a constant to answer wrongly)."""
    values = {"BENTOML_VERSION": key["q1"], "MODEL_SIZE": key["q2"], "XGBOOST_VERSION": key["q4"],
              "BENTO_STATUS": key["q5"], "FASTER_MODEL": key["q6"]}
    if wrong:
        values[wrong] = "0.0.0"
    types = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
    fields = "\n".join(f"    {name}: {types[t]}" for name, t in key["q3"].items())
    consts = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    return f"from pydantic import BaseModel\n\n{consts}\n\n\nclass LoanQuery(BaseModel):\n{fields}\n"


def test_the_key_comes_from_the_kits_run(homework_key_dir: Path) -> None:
    stored = json.loads((homework_key_dir / KEY_FILE).read_text())
    key, measured = stored["key"], stored["key"]["measured"]
    assert stored["fingerprint"] == homework_key.fingerprint()
    assert key["q1"] == metadata.version("bentoml")
    assert key["q2"] == homework_key.size_option(measured["model_kib"])
    assert key["q3"] == homework_key.field_types(homework_key.questions_json("q3"))
    assert key["q4"] == metadata.version("xgboost")  # the import kept the version it was saved with
    assert key["q5"] in ("APPROVED", "MAYBE", "DECLINED")
    assert key["q6"] == max(homework_key.ROUNDS, key=lambda r: measured["rps"][str(r)]["ok_per_s"])


def test_homework_checks_accept_the_key_and_name_a_wrong_answer(homework_key_dir: Path, tmp_path) -> None:
    key = json.loads((homework_key_dir / KEY_FILE).read_text())["key"]
    homework = exercises.find("homework", exercises.load())
    right, wrong = tmp_path / "right", tmp_path / "wrong"
    for folder, text in ((right, answers_from(key)), (wrong, answers_from(key, wrong="BENTOML_VERSION"))):
        folder.mkdir()
        (folder / "homework.py").write_text(text)
    graded = grade(right, [homework], results_with_key(tmp_path / "r1", homework_key_dir)).results["homework"]
    total = sum(s.points for s in homework.specs)
    assert graded.done and graded.score == graded.max_score == total, graded.failed
    graded = grade(wrong, [homework], results_with_key(tmp_path / "r2", homework_key_dir)).results["homework"]
    assert [c["id"] for c in graded.failed] == ["homework_q1"]
    assert "bentoml --version" in graded.failed[0]["output"]



def test_an_unanswered_homework_is_graded_without_computing_the_key(tmp_path) -> None:
    """The key takes a minute to compute: the homework as shipped (nothing answered) must not need it."""
    homework = exercises.find("homework", exercises.load())
    results = tmp_path / "results"
    graded = grade(SHIPPED, [homework], results).results["homework"]
    assert not graded.done and graded.score == 0
    assert all("not answered yet" in c["output"] or "no fields yet" in c["output"] for c in graded.failed)
    assert not (results / KEY_FILE).exists()
