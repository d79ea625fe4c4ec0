"""A submission that declares its runtime with the image SDK (no bentofile.yaml) gets full marks."""

from __future__ import annotations

import pytest

from tests.grader.conftest import ROOT, copy_solutions, grade, graded_specs, points

pytestmark = pytest.mark.server
IMAGE = ('IMAGE = bentoml.images.Image(python_version="3.11").python_packages(\n'
         '    "xgboost==3.2.0", "scikit-learn==1.9.1", "pydantic==2.14.3")\n')
IGNORE = "*.csv\n*.ipynb\n*.bentomodel\nbentoml_home/\ndata/\n"


def image_sdk_submission(folder, ignore: str = IGNORE):
    """solutions/ with the bentofile's packages and Python moved into service.py's image=."""
    submission = copy_solutions(folder)
    (submission / "bentofile.yaml").unlink()
    text = (ROOT / "solutions" / "service.py").read_text()
    assert "import bentoml\n" in text and "@bentoml.service(" in text
    text = text.replace("import bentoml\n", "import bentoml\n\n" + IMAGE, 1)
    text = text.replace("@bentoml.service(", "@bentoml.service(image=IMAGE, ", 1)
    (submission / "service.py").write_text(text)
    (submission / ".bentoignore").write_text(ignore)
    return submission


def test_image_sdk_submission_gets_full_marks(reference_home, tmp_path) -> None:
    submission = image_sdk_submission(tmp_path / "submission")
    graded = grade(submission, reference_home, tmp_path / "results", "--build")
    total = points(graded_specs())
    assert graded.summary["score"] == total, graded.explain(graded.failed)
    assert "image SDK" in graded.checks["bentofile_valid"]["output"]


def test_image_sdk_without_bentoignore_packs_data(reference_home, tmp_path) -> None:
    submission = image_sdk_submission(tmp_path / "submission", ignore="")
    graded = grade(submission, reference_home, tmp_path / "results", "--checks", "bentofile_include")
    assert graded.failed == {"bentofile_include"}
    assert ".bentoignore" in graded.checks["bentofile_include"]["output"]
