"""The grader gives full marks to what the notebooks write (service.py of notebook 3, bentofile.yaml of 4)."""

from __future__ import annotations

import pytest

from tests.grader.conftest import grade, graded_specs, points
from tests.notebooks.test_notebook_cells import submission  # noqa: F401  (the fixture)

pytestmark = pytest.mark.server


def test_notebook_submission_gets_full_marks(submission, saved_model, bentoml_home, tmp_path):  # noqa: F811
    graded = grade(submission, bentoml_home, tmp_path / "results", "--build")
    summary = graded.summary
    failed = {c["id"]: c["output"] for c in summary["checks"] if not c["passed"]}
    assert summary["score"] == summary["max_score"] == points(graded_specs()), failed or graded.stdout
