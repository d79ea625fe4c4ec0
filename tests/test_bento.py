"""The root bentofile builds the production bento: it packs the model, the APIs and the pins."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import requests
import yaml

from bentokit import bento, contract, server
from tests.conftest import ROOT

PINNED = ("xgboost", "scikit-learn", "pydantic")


def pyproject_pins() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return dict(dep.split("==") for dep in deps)


def bentofile_pins() -> dict[str, str]:
    packages = yaml.safe_load((ROOT / "bentofile.yaml").read_text())["python"]["packages"]
    return {name.removesuffix("-cpu"): pin for name, pin in (p.split("==") for p in packages)}


def test_bentofile_pins_equal_the_training_environment():
    pins, built_with = bentofile_pins(), pyproject_pins()
    assert "sklearn" not in pins
    for package in PINNED:
        assert pins[package] == built_with[package] == version(package), package


def test_pyproject_pins_every_dependency_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dep in [*project["dependencies"], *(d for extra in project["optional-dependencies"].values()
                                            for d in extra)]:
        assert "==" in dep, dep


@pytest.fixture(scope="session")
def built(saved_model):
    return bento.build(ROOT)


def test_bento_packs_the_model_and_the_apis(built, saved_model):
    manifest = bento.manifest(built)
    assert built.tag.name == contract.SERVICE_NAME
    assert bento.packed_models(manifest) == [str(saved_model.tag)]  # latest, resolved at build time
    assert set(bento.api_routes(manifest)) == {contract.CLASSIFY_PATH, contract.CLASSIFY_BATCH_PATH}
    assert manifest["labels"]["owner"]


def test_bento_holds_only_what_the_service_needs(built):
    src = Path(built.path_of("src"))
    packed = {p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()}
    # the production service (it imports nothing of solutions/) and the bentofile (BentoML keeps it)
    assert packed == {"benchmarks/production/service.py", "bentofile.yaml"}
    text = Path(built.path_of("env/python/requirements.txt")).read_text()
    for package in PINNED:
        # the bentofile may name xgboost's CPU-only package (same module and version, lean image)
        assert any(f"{name}=={version(package)}" in text for name in (package, f"{package}-cpu")), package
    assert "3.11" in Path(built.path_of("env/docker/Dockerfile")).read_text()


@pytest.mark.server
def test_built_bento_serves(built):
    with server.serving(str(built.tag), ROOT, timeout=90) as running:
        ok = requests.post(running.url + contract.CLASSIFY_PATH,
                           json=contract.wrap(contract.SAMPLE_APPLICANT), timeout=30)
        bad = requests.post(running.url + contract.CLASSIFY_PATH,
                            json=contract.invalid_bodies()["unknown_category"], timeout=30)
    assert ok.status_code == 200 and ok.json()["status"] in contract.STATUSES
    assert bad.status_code == 400
