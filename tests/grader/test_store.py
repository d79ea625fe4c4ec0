"""The model folder the grader serves: the one BentoML reads for the service's tag, and no other."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from bentokit import contract
from bentokit.private import model_store_folder
from grader.facts.store import served_folder

#: Versions of the model, oldest first (their model.yaml's creation times).
VERSIONS = ["aaa111", "bbb222", "bbb333x", "ccc444"]


@pytest.fixture()
def models(reference_home, tmp_path) -> Path:
    """A store of four versions of the course model, made from the saved one, ``aaa111`` its latest."""
    found = reference_home / "models" / contract.MODEL_NAME
    saved = next(v for v in found.iterdir() if v.is_dir() and not v.is_symlink())
    models = tmp_path / "models"
    for n, version in enumerate(VERSIONS):
        folder = models / contract.MODEL_NAME / version
        shutil.copytree(saved, folder)
        info = yaml.safe_load((folder / "model.yaml").read_text())
        info["version"] = version
        info["creation_time"] = f"2026-12-0{n + 1}T10:00:00.000000+00:00"
        (folder / "model.yaml").write_text(yaml.safe_dump(info))
    (models / contract.MODEL_NAME / "latest").write_text("aaa111")
    return models


@pytest.mark.parametrize(("tag", "change"), [
    ("credit_risk_model:latest", None),
    ("credit_risk_model", None),
    ("credit_risk_model:bbb222", None),
    ("CREDIT_RISK_MODEL:CCC444", None),  # BentoML reads a tag in capitals as lower case
    ("credit_risk_model:bbb3", None),  # the one version beginning so
    ("credit_risk_model:latest", "no latest file"),  # BentoML writes it anew: the newest version
    ("credit_risk_model:latest", "latest names no version"),
])
def test_the_folder_is_the_one_bentoml_reads(models, tag, change) -> None:
    latest = models / contract.MODEL_NAME / "latest"
    if change == "no latest file":
        latest.unlink()
    elif change == "latest names no version":
        latest.write_text("zzz999")
    expected = model_store_folder(models, tag).relative_to(models)  # before: BentoML may write latest
    assert served_folder(models, tag) == str(expected)


@pytest.mark.parametrize("tag", ["credit_risk_model:bbb", "credit_risk_model:ddd", "other_model:latest",
                                 "../models/credit_risk_model:latest", "credit_risk_model:../aaa111"])
def test_a_tag_bentoml_finds_no_single_folder_for_names_none(models, tag) -> None:
    assert served_folder(models, tag) is None


def test_links_and_odd_latest_files_name_no_folder_bentoml_would_read_through_them(models, tmp_path) -> None:
    """A link is never followed (BentoML follows them, and takes a latest file's text as a path: red-team
    round 27): the newest real version is served, and the model the reader read is then not served."""
    name = models / contract.MODEL_NAME
    (name / "latest").unlink()
    (name / "latest").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").write_text("aaa111")
    assert served_folder(models, "credit_risk_model:latest") == "credit_risk_model/ccc444"
    (name / "latest").unlink()
    (name / "latest").write_text("link/../../credit_risk_model/aaa111")
    (name / "link").symlink_to(name / "bbb222", target_is_directory=True)
    assert served_folder(models, "credit_risk_model:latest") == "credit_risk_model/ccc444"
    assert served_folder(models, "credit_risk_model:link") is None
    (name / "latest").unlink()
    os.mkfifo(name / "latest")
    assert served_folder(models, "credit_risk_model") == "credit_risk_model/ccc444"  # and never blocks


def test_a_version_folder_named_latest_is_no_version(models) -> None:
    """BentoML reads the ``latest`` file there (and fails on a folder); the grader once wrote that file
    onto the folder, and could not finish the grading (red-team round 29)."""
    name = models / contract.MODEL_NAME
    (name / "latest").unlink()
    (name / "aaa111").rename(name / "latest")
    assert served_folder(models, "credit_risk_model:latest") == "credit_risk_model/ccc444"
    for version in ("bbb222", "bbb333x", "ccc444"):
        shutil.rmtree(name / version)
    assert served_folder(models, "credit_risk_model") is None
