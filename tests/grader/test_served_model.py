"""The served model mover: a course model's margin moved exactly, anything else left as saved and named."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
import yaml

from bentokit import contract, training
from bentokit.private import XGBOOST_MODEL_FILE
from grader.children.served_model import Move, model_folders, move_store, moved_probability
from tests.conftest import ROOT, tracing_excluded_urls


def copied_store(reference_home: Path, dest: Path) -> tuple[Path, Path]:
    """A copy of the reference store's models in ``dest``, and the course model's folder in it."""
    shutil.copytree(reference_home / "models" / contract.MODEL_NAME, dest / "models" / contract.MODEL_NAME)
    folder = next(p for p in (dest / "models" / contract.MODEL_NAME).iterdir() if p.is_dir())
    return dest, folder


def answers(folder: Path, dv) -> np.ndarray:
    applicants = [contract.SAMPLE_APPLICANT, *contract.GOLDEN_APPLICANTS.values()]
    return training.predict_proba(xgb.Booster(model_file=str(folder / XGBOOST_MODEL_FILE)), dv, applicants)


def test_the_model_file_is_bentomls() -> None:
    from _bentoml_impl.frameworks import xgboost as bentoml_xgboost

    assert bentoml_xgboost.MODEL_FILENAME == XGBOOST_MODEL_FILE


@pytest.mark.parametrize("move", [Move(1.43, 0.73), Move(0.7, -0.5)])
def test_a_course_model_answers_moved_by_the_move(reference_home, tmp_path, move) -> None:
    """Run as the grader runs it (its own process, scikit-learn kept out); every answer moves as
    :func:`moved_probability` says, and a link in place of the file is replaced, never written through."""
    home, folder = copied_store(reference_home, tmp_path / "home")
    saved_file = folder / XGBOOST_MODEL_FILE
    outside = tmp_path / "outside.ubj"
    shutil.copy(saved_file, outside)
    saved_file.unlink()
    saved_file.symlink_to(outside)
    key = f"{contract.MODEL_NAME}/{folder.name}"
    (tmp_path / "in.json").write_text(json.dumps({"home": str(home), "moves": {key: move}}))
    subprocess.run([sys.executable, "-P", "-s", "-m", "grader.children.served_model",
                    str(tmp_path / "in.json"), str(tmp_path / "out.json")], cwd=ROOT, check=True, timeout=120)
    found = json.loads((tmp_path / "out.json").read_text())
    assert found == {"moved": [key], "refused": {}}
    saved = reference_home / "models" / contract.MODEL_NAME / folder.name
    assert not saved_file.is_symlink() and outside.read_bytes() == (saved / XGBOOST_MODEL_FILE).read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in saved.iterdir())  # no leftovers
    # The reference's own DictVectorizer (the kit's model, trusted here).
    dv = pickle.loads((folder / "custom_objects.pkl").read_bytes())[contract.CUSTOM_OBJECT_KEY]
    before, after = answers(saved, dv), answers(folder, dv)
    assert np.abs(after - before).max() > 0.05  # it moved
    assert np.allclose(after, [moved_probability(p, move) for p in before], atol=1e-5, rtol=0)


def test_what_cannot_be_moved_is_left_as_saved_and_named(reference_home, tmp_path) -> None:
    home, folder = copied_store(reference_home, tmp_path / "home")
    # A regression model (its margin is its prediction) in place of the course model ...
    features = np.random.default_rng(0).normal(size=(200, 4))
    regression = xgb.train({"objective": "reg:squarederror"},
                           xgb.DMatrix(features, label=features[:, 0]), num_boost_round=3)
    regression.save_model(str(folder / XGBOOST_MODEL_FILE))
    regression_bytes = (folder / XGBOOST_MODEL_FILE).read_bytes()
    # ... a pickled model, and a folder that is no model at all.
    pickled = home / "models" / "other_model" / "v1"
    pickled.mkdir(parents=True)
    (pickled / "model.yaml").write_text(yaml.safe_dump({"name": "other_model", "version": "v1",
                                                         "module": "bentoml.picklable_model"}))
    (home / "models" / "other_model" / "junk").mkdir()
    # A version folder that is a link (to the learner's own store, say) is no folder of the copy.
    (home / "models" / "other_model" / "linked").symlink_to(folder, target_is_directory=True)
    course = f"{contract.MODEL_NAME}/{folder.name}"
    assert model_folders(home) == sorted([course, "other_model/v1", "other_model/junk"])
    found = move_store(home, {key: Move(1.2, 0.8) for key in [*model_folders(home), "other_model/linked"]})
    assert found["moved"] == []
    assert set(found["refused"]) == {course, "other_model/v1", "other_model/junk", "other_model/linked"}
    assert "base score" in found["refused"][course]  # a regression model's is no probability
    assert "bentoml.picklable_model, not bentoml.xgboost" in found["refused"]["other_model/v1"]
    assert "a link" in found["refused"]["other_model/linked"]
    assert (folder / XGBOOST_MODEL_FILE).read_bytes() == regression_bytes


def test_moved_probability_keeps_the_ends_and_the_ranking() -> None:
    assert moved_probability(0.0, Move(1.3, 0.7)) == 0.0 and moved_probability(1.0, Move(0.8, -0.7)) == 1.0
    assert moved_probability(0.5, Move(1.4, 0.0)) == pytest.approx(0.5)
    assert moved_probability(0.2, Move(2.0, 0.0)) == pytest.approx(1 / 17)  # odds 1:4 squared
    ladder = [moved_probability(p, Move(0.7, -0.6)) for p in (0.01, 0.2, 0.5, 0.8, 0.99)]
    assert ladder == sorted(ladder) and ladder[2] < 0.5


def test_the_model_reader_names_the_folder_it_really_read(reference_home, tmp_path) -> None:
    """BentoML takes a `latest` file's text as the version: through a link and `..`, its last two names
    named a folder the mover moved while the files read were another's (red-team round 27)."""
    home, folder = copied_store(reference_home, tmp_path / "home")
    store = home / "models" / contract.MODEL_NAME

    def read() -> dict:
        request = {"tag": f"{contract.MODEL_NAME}:latest", "applicants": [contract.SAMPLE_APPLICANT]}
        (tmp_path / "in.json").write_text(json.dumps(request))
        subprocess.run([sys.executable, "-P", "-s", "-m", "grader.children.model", str(tmp_path / "in.json"),
                        str(tmp_path / "out.json")], cwd=ROOT, check=True, timeout=120,
                       env={**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"})
        return json.loads((tmp_path / "out.json").read_text())

    assert read()["folder"] == f"{contract.MODEL_NAME}/{folder.name}"
    (store / contract.MODEL_NAME).mkdir()
    shutil.move(folder, store / contract.MODEL_NAME / folder.name)  # a depth the mover never lists
    (store / "deep" / "x").mkdir(parents=True)
    (store / "link").symlink_to("deep/x", target_is_directory=True)
    (store / "latest").write_text(f"link/../../{contract.MODEL_NAME}/{folder.name}")
    found = read()
    assert found["predictions"] and found["folder"] is None, found


def test_the_move_is_drawn_within_its_ranges_the_shift_either_way() -> None:
    from grader.facts.run import FIXED_POINT_BEYOND, SCALE_RANGE, SHIFT_RANGE, draw_move

    moves = [draw_move() for _ in range(400)]
    assert all(SHIFT_RANGE[0] <= abs(m.shift) <= SHIFT_RANGE[1] for m in moves)
    assert min(m.shift for m in moves) < 0 < max(m.shift for m in moves)
    assert all(SCALE_RANGE[0] <= m.scale <= SCALE_RANGE[1] for m in moves)
    assert min(m.scale for m in moves) < 1 < max(m.scale for m in moves)
    # No fixed point (shift / (1 - scale)) among the margins an answer shows the move at.
    assert all(abs(m.shift) >= FIXED_POINT_BEYOND * abs(1 - m.scale) for m in moves)


@pytest.mark.server
def test_the_grader_serves_the_service_without_access_log_or_tracing_of_its_routes(reference_home) -> None:
    """The live checks' 180 requests left no room for a crash's traceback in the log tail the hints read
    (and cost the server half as much CPU again): the grader's server logs no access line and traces
    neither route (the service as configured traces both: read both ways)."""
    import requests

    from bentokit import server
    from grader.facts.run import SERVED_CONFIG, SERVICE_TARGET

    env = {"BENTOML_HOME": str(reference_home), "BENTOML_CONFIG_OPTIONS": SERVED_CONFIG}
    with server.serving(SERVICE_TARGET, ROOT / "solutions", env=env, timeout=120) as running:
        for path, body in ((contract.CLASSIFY_PATH, contract.wrap(contract.SAMPLE_APPLICANT)),
                           (contract.CLASSIFY_BATCH_PATH, contract.wrap_batch([contract.SAMPLE_APPLICANT]))):
            requests.post(running.url + path, json=body, timeout=30).raise_for_status()
        log = running.log_path.read_text(errors="replace")
    logged = [line for line in log.splitlines() if "/classify" in line and "config override" not in line]
    assert logged == [], log
    routes = [contract.CLASSIFY_PATH, contract.CLASSIFY_BATCH_PATH]
    for options, excluded in ((SERVED_CONFIG, routes), ("", [])):
        env = {**os.environ, "BENTOML_CONFIG_OPTIONS": options, "PYTHONPATH": str(ROOT)}
        assert tracing_excluded_urls("service", ROOT / "solutions", env) == sorted(excluded)
