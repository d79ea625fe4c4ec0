"""Child process: move every XGBoost model of the store the grader serves the service from.

Run as ``python -m grader.children.served_model IN OUT``; IN holds ``{"home": BENTOML_HOME, "shifts":
{"name/version": d, ...}}``, a model folder of that store (a copy of the learner's, the server's alone)
and a shift for each. Each model saved with ``bentoml.xgboost`` gets its ``d`` added to its margin, by its
base score: each probability ``p`` it gives becomes ``sigmoid(logit(p) + d)``, its ranking unchanged. The
grader draws every ``d`` at each grading, and compares the service's answers with the moved probabilities
of the folder the model reader resolved: a service computing its model's answers by other means (a
formula written in, a copy of the model's file) answers what the saved model gives, and a model that is
itself a formula no longer lets such a service pass (red-team round 25, 100/100). Folders, not the tags
their ``model.yaml`` gives, name the models (BentoML reads a name in capitals as lower case: round 26);
and each folder has a shift of its own (a second version, moved alike, gave the shift away: round 26;
the grader now copies only the folder the service's tag resolves to).

Runs in the learner's sandbox, before the server starts: it reads files learner code wrote (XGBoost's
own parser reads them, never a pickle) and writes the moved model in place of the file. Each model is
checked after the move, on random features: its margin moved by ``d`` and its prediction is the
sigmoid of its margin, else it is left as saved and named in ``refused`` with the reason.
Writes ``{"shifted": [folder, ...], "refused": {folder: why}}`` to OUT.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from bentokit.private import XGBOOST_MODEL_FILE
from grader.children import write_output

#: How far the moved margin may be from ``d`` (the base score is kept as float32).
MARGIN_TOLERANCE = 1e-4


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def moved_probability(probability: float, shift: float) -> float:
    """What a model that gives ``probability`` gives once its margin is moved by ``shift`` (a
    probability of 0 or 1, float32's saturation, stays so)."""
    if not 0.0 < probability < 1.0:
        return probability
    return sigmoid(logit(probability) + shift)


def moved(booster: Any, shift: float) -> Any:
    """A copy of ``booster`` whose margins are all ``shift`` larger (raises ValueError when its base
    score is not one probability, as a binary:logistic model's is)."""
    import xgboost as xgb

    raw = json.loads(booster.save_raw("json"))
    params = raw["learner"]["learner_model_param"]
    text = str(params["base_score"]).strip()
    values = json.loads(text) if text.startswith("[") else [float(text)]
    if len(values) != 1 or not 0.0 < float(values[0]) < 1.0:
        raise ValueError(f"its base score {text} is not one probability (a binary:logistic model's is)")
    params["base_score"] = f"[{sigmoid(logit(float(values[0])) + shift):.9E}]"
    return xgb.Booster(model_file=bytearray(json.dumps(raw).encode()))


def check_moved(before: Any, after: Any, shift: float) -> None:
    """Raise ValueError unless ``after`` gives every random applicant ``before``'s margin plus ``shift``,
    and a probability that is the sigmoid of that margin."""
    import numpy as np
    import xgboost as xgb

    features = np.random.default_rng().normal(0.0, 100.0, size=(32, before.num_features()))
    matrix = xgb.DMatrix(features, feature_names=before.feature_names)
    old, new = (np.asarray(b.predict(matrix, output_margin=True), dtype=float) for b in (before, after))
    probabilities = np.asarray(after.predict(matrix), dtype=float)
    if old.shape != (len(features),) or new.shape != old.shape:
        raise ValueError(f"it gives {old.shape[1:] or 'one'} outputs per applicant, not one probability")
    objective = json.loads(before.save_config())["learner"]["objective"]["name"]
    if not np.allclose(new - old, shift, atol=MARGIN_TOLERANCE, rtol=0):
        raise ValueError(f"its base score does not move its margin (objective {objective})")
    if not np.allclose(probabilities, 1.0 / (1.0 + np.exp(-new)), atol=1e-5, rtol=0):
        raise ValueError(f"its prediction is not the sigmoid of its margin (objective {objective}, not "
                         f"binary:logistic)")


def move_file(path: Path, shift: float) -> None:
    """Move the model in ``path`` by ``shift``, written in place of the file (a link is replaced, never
    followed), or raise ValueError / XGBoostError."""
    import xgboost as xgb

    before = xgb.Booster(model_file=str(path))
    after = moved(before, shift)
    check_moved(before, after, shift)
    # A new file of its own (a name the store's copy could hold already, as a link, would be written
    # through); XGBoost picks the format by the extension.
    fd, tmp = tempfile.mkstemp(prefix=".moved-", suffix=".ubj", dir=path.parent)
    os.close(fd)
    try:
        after.save_model(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def model_folders(home: Path) -> list[str]:
    """The ``name/version`` of every model folder of the store ``home`` (a link is none)."""
    found = []
    for name in os.scandir(home / "models"):
        if name.is_dir(follow_symlinks=False):
            versions = os.scandir(name.path)
            found += [f"{name.name}/{v.name}" for v in versions if v.is_dir(follow_symlinks=False)]
    return sorted(found)


def move_store(home: Path, shifts: dict[str, float]) -> dict[str, Any]:
    """Move the ``bentoml.xgboost`` model of each folder ``name/version`` of the store ``home`` by its
    shift; which were moved and why the others were not."""
    shifted: list[str] = []
    refused: dict[str, str] = {}
    for key, shift in shifts.items():
        folder = home / "models" / key
        try:
            if folder.is_symlink() or folder.parent.is_symlink():
                raise ValueError("its folder is a link")  # its target may be the learner's own store
            info = yaml.safe_load((folder / "model.yaml").read_text())
            module = info.get("module") if isinstance(info, dict) else None
            if module != "bentoml.xgboost":
                raise ValueError(f"it was saved with {module}, not bentoml.xgboost")
            move_file(folder / XGBOOST_MODEL_FILE, float(shift))
        except Exception as err:  # noqa: BLE001 - XGBoost's own errors too: the model stays as saved
            refused[key] = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
            continue
        shifted.append(key)
    return {"shifted": shifted, "refused": refused}


def main(in_path: str, out_path: str) -> None:
    # XGBoost imports scikit-learn when it can (a second of CPU, before the server may start); its
    # Booster needs none of it, and an entry of None makes that import fail as XGBoost expects.
    sys.modules.setdefault("sklearn", None)
    with open(in_path) as fh:
        request = json.load(fh)
    write_output(out_path, move_store(Path(request["home"]), request["shifts"]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
