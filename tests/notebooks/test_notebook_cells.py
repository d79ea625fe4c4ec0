"""The notebooks' ``service.py`` and ``bentofile.yaml`` cells meet the contract, and the stored notebooks
are fit to be compared by nbval (executed, no errors, no machine paths)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import tomllib
import typing
from pathlib import Path

import pytest
import yaml
from nbval.plugin import get_sanitize_patterns

from bentokit import contract
from tests.conftest import ROOT

NOTEBOOKS = ROOT / "notebooks"
#: 01 to 08, and 04b (composed services) between building and containerizing.
NOTEBOOK_FILES = sorted(NOTEBOOKS.glob("[0-9][0-9]*_*.ipynb"))


def kitnb():
    """The notebooks' helper module, loaded from its file (it is not part of an installed package)."""
    spec = importlib.util.spec_from_file_location("kitnb_under_test", NOTEBOOKS / "kitnb.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def submission(tmp_path_factory) -> Path:
    """A submission folder holding exactly what the notebooks' %%writefile cells write."""
    folder = tmp_path_factory.mktemp("notebook-submission")
    helper = kitnb()
    for name in ("service.py", "bentofile.yaml"):
        (folder / name).write_text(helper.cell_source(helper.SOURCES[name], f"work/{name}"))
    return folder


@pytest.fixture(scope="module")
def service_module(submission, saved_model):
    """The notebook's service.py, imported under a name of its own (the model must be in the store)."""
    spec = importlib.util.spec_from_file_location("notebook_service_under_test", submission / "service.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the postponed annotations through it
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_there_are_eight_notebooks_and_the_compose_extension():
    numbers = ["01", "02", "03", "04", "04b", "05", "06", "07", "08"]
    assert [p.name.split("_")[0] for p in NOTEBOOK_FILES] == numbers


def test_compose_cell_is_the_solution():
    """Notebook 04b writes solutions/composed_service.py as it is: one file, taught and graded."""
    cell = kitnb().cell_source("04b_compose.ipynb", "work-projects/composed/service.py")
    assert cell == (ROOT / "solutions" / "composed_service.py").read_text()


def test_bentofile_cell_matches_the_contract(submission):
    bentofile = yaml.safe_load((submission / "bentofile.yaml").read_text())
    assert bentofile["service"] == f"service:{contract.SERVICE_CLASS}"
    assert "service.py" in bentofile["include"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = dict(dep.split("==") for dep in project["dependencies"])
    packages = dict(p.split("==") for p in bentofile["python"]["packages"])
    for name in ("xgboost", "scikit-learn", "pydantic"):
        assert packages.get(name) == pins[name], f"{name} must be pinned to the training version {pins[name]}"
    assert "sklearn" not in packages
    assert str(bentofile["docker"]["python_version"]) == "3.11"


def test_service_cell_matches_the_contract(service_module):
    svc = getattr(service_module, contract.SERVICE_CLASS)
    assert svc.name == contract.SERVICE_CLASS  # the bento is named after it: credit_risk_classifier
    assert set(svc.apis) == {contract.CLASSIFY_PATH.strip("/"), contract.CLASSIFY_BATCH_PATH.strip("/")}
    assert svc.apis["classify_batch"].batchable and not svc.apis["classify"].batchable
    assert list(svc.apis["classify"].input_spec.model_fields) == [contract.CLASSIFY_ARG]
    assert list(svc.apis["classify_batch"].input_spec.model_fields) == [contract.CLASSIFY_BATCH_ARG]
    assert str(svc.inner.model_ref.tag).startswith(f"{contract.MODEL_NAME}:")
    source = Path(service_module.__file__).read_text()
    assert f'custom_objects["{contract.CUSTOM_OBJECT_KEY}"]' in source


def test_input_model_has_the_contract_fields_categories_and_bounds(service_module):
    model = service_module.CreditApplication
    assert model.model_config.get("extra") == "forbid"
    assert list(model.model_fields) == list(contract.FIELD_TYPES)
    schema = model.model_json_schema()["properties"]
    for field, kind in contract.FIELD_TYPES.items():
        if field in contract.CATEGORIES:
            assert tuple(typing.get_args(model.model_fields[field].annotation)) == contract.CATEGORIES[field]
        else:
            assert schema[field]["type"] == {int: "integer", float: "number"}[kind], field
            assert (schema[field]["minimum"], schema[field]["maximum"]) == contract.BOUNDS[field], field


def test_decision_rule_matches_the_contract(service_module):
    for p in (0.0, 0.1, 0.25, 0.2500001, 0.4, 0.5, 0.5000001, 0.9, 1.0):
        assert service_module.decide(p).status == contract.status_for(p), p


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_stored_notebook_is_executed_and_clean(path: Path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    markdown = [c for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert nb["cells"][0]["cell_type"] == "markdown", "a notebook starts with prose"
    assert len(markdown) >= 4
    counts = [c["execution_count"] for c in code]
    assert None not in counts and counts == sorted(counts), "store the notebook executed top to bottom"
    for cell in code:
        source = "".join(cell["source"])
        assert not re.search(r"(?<![\w.])/(work|home|root|Users)/", source), f"absolute path in:\n{source}"
        for output in cell["outputs"]:
            assert output["output_type"] != "error", f"stored error in:\n{source}"
            text = "".join(output.get("text", "")) + json.dumps(output.get("data", {}))
            assert str(ROOT) not in text, f"a path of this machine in the output of:\n{source}"


def test_sanitizer_file_parses():
    patterns = get_sanitize_patterns((NOTEBOOKS / "sanitize.cfg").read_text())
    assert len(patterns) >= 10
    for regex, _ in patterns:
        re.compile(regex)
