"""The compose checks both ways: the reference gets full marks, a service that does not split fails."""

from __future__ import annotations

import shutil

import pytest

from grader.declare import catalogue
from tests.grader.conftest import ROOT, case_home, copy_solutions, grade, make_broken

pytestmark = pytest.mark.server
COMPOSE = [s for s in catalogue() if s.exercise == "compose"]


def test_compose_checks_are_outside_the_default_grade() -> None:
    assert COMPOSE and not any(s.graded for s in COMPOSE)


def test_composed_solution_gets_full_marks(reference_home, tmp_path) -> None:
    graded = grade(ROOT / "solutions", reference_home, tmp_path, "--exercise", "compose")
    total = sum(s.points for s in COMPOSE)
    assert graded.summary["score"] == graded.summary["max_score"] == total, graded.explain(graded.failed)
    assert [c["id"] for c in graded.summary["checks"]] == [s.id for s in COMPOSE]


def test_api_service_holding_the_model_fails_with_the_fix(reference_home, tmp_path) -> None:
    """The 1.0 habit: the model loaded in the API service, no dependency. Three checks name it."""
    submission = copy_solutions(tmp_path / "submission")
    text = (ROOT / "solutions" / "composed_service.py").read_text()
    old = "    scorer = bentoml.depends(CreditScorer)\n"
    assert old in text
    (submission / "composed_service.py").write_text(
        text.replace(old, '    model_ref = bentoml.models.BentoModel("credit_risk_model:latest")\n'))
    graded = grade(submission, reference_home, tmp_path / "results", "--exercise", "compose")
    # No decision was made, so no decision was counted either.
    expected = {"compose_depends", "compose_bento", "compose_live", "compose_metrics"}
    assert graded.failed == expected, graded.explain(graded.failed)
    assert "scorer = bentoml.depends(CreditScorer)" in graded.checks["compose_depends"]["output"]
    assert "the model belongs to the model service only" in graded.checks["compose_depends"]["output"]
    assert "not CreditScorer" in graded.checks["compose_bento"]["output"]
    assert "HTTP 500" in graded.checks["compose_live"]["output"]


def test_shipped_exercise_points_to_its_todo(reference_home, tmp_path) -> None:
    submission = tmp_path / "submission"
    shutil.copytree(ROOT / "exercises", submission)
    graded = grade(submission, reference_home, tmp_path / "results", "--exercise", "compose")
    assert {"compose_depends", "compose_resources", "compose_live"} <= graded.failed
    assert "TODO(3)" in graded.checks["compose_live"]["output"]


def test_a_composed_rule_beside_a_saturated_model_earns_no_live_points(tmp_path) -> None:
    """The composition's live check holds the answers to what the service's live checks do: a model
    answering only near 0 or 1, which the served copy's move hardly changes, and a composed service
    computing that rule (the broken case saturated_model's, never loading the model) passed it."""
    submission, case = make_broken("saturated_model", tmp_path / "submission")
    home = case_home(case, submission, tmp_path / "home", tmp_path / "unused")
    composed = submission / "composed_service.py"
    text = (ROOT / "solutions" / "composed_service.py").read_text()
    for old, new in [
        ("        return decide(probabilities[0])\n",
         "        return decide(probability(credit_application.records))  # never the model\n"),
        ("        return [decide(p) for p in probabilities]\n",
         "        return [decide(probability(a.records)) for a in credit_applications]\n"),
        ("import bentoml\n", "import bentoml\nfrom rule import probability\n"),
    ]:
        assert old in text, old
        text = text.replace(old, new, 1)
    composed.write_text(text)
    graded = grade(submission, home, tmp_path / "results", "--checks", "compose_live")
    output = graded.checks["compose_live"]["output"]
    assert graded.failed == {"compose_live"} and "Save the model the course trains" in output, output
