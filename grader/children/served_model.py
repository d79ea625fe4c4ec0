"""Child process: move every XGBoost model of the store the grader serves the service from.

Run as ``python -m grader.children.served_model IN OUT``; IN holds ``{"home": BENTOML_HOME, "shift": d}``.
Every model saved with ``bentoml.xgboost`` in that store (a copy of the learner's, the server's alone)
gets ``d`` added to its margin, by its base score: each probability ``p`` it gives becomes
``sigmoid(logit(p) + d)``, its ranking unchanged. The grader draws ``d`` at each grading and compares
the service's answers with the moved probabilities: a service computing its model's answers by other
means (a formula written in, a copy of the model's file) answers what the saved model gives, and a
model that is itself a formula no longer lets such a service pass (red-team round 25, 100/100).

Runs in the learner's sandbox, before the server starts: it reads files learner code wrote (XGBoost's
own parser reads them, never a pickle) and writes the moved model in place of the file. Each model is
checked after the move, on random features: its margin moved by ``d`` and its prediction is the
sigmoid of its margin, else it is left as saved and named in ``refused`` with the reason.
Writes ``{"shifted": [tag, ...], "refused": {tag: why}}`` to OUT.
"""

from __future__ import annotations

import json
import math
import os
import sys
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
    if not np.allclose(new - old, shift, atol=MARGIN_TOLERANCE, rtol=0):
        raise ValueError(f"its base score does not move its margin (objective "
                         f"{json.loads(before.save_config())['learner']['objective']['name']})")
    if not np.allclose(probabilities, 1.0 / (1.0 + np.exp(-new)), atol=1e-5, rtol=0):
        raise ValueError(f"its prediction is not the sigmoid of its margin (objective "
                         f"{json.loads(before.save_config())['learner']['objective']['name']}, not "
                         f"binary:logistic)")


def move_file(path: Path, shift: float) -> None:
    """Move the model in ``path`` by ``shift``, written in place of the file (a link is replaced, never
    followed), or raise ValueError / XGBoostError."""
    import xgboost as xgb

    before = xgb.Booster(model_file=str(path))
    after = moved(before, shift)
    check_moved(before, after, shift)
    tmp = path.with_name(path.name + ".moved")
    tmp.unlink(missing_ok=True)
    after.save_model(str(tmp) + ".ubj")  # XGBoost picks the format by the extension
    os.replace(str(tmp) + ".ubj", path)


def move_store(home: Path, shift: float) -> dict[str, Any]:
    """Move every ``bentoml.xgboost`` model of the store ``home``; what was moved and what was not."""
    shifted: list[str] = []
    refused: dict[str, str] = {}
    for folder in sorted((home / "models").glob("*/*/")):
        try:
            info = yaml.safe_load((folder / "model.yaml").read_text())
            tag = f"{info['name']}:{info['version']}"
        except (OSError, yaml.YAMLError, TypeError, KeyError):
            continue  # not a model BentoML can read either
        if info.get("module") != "bentoml.xgboost":
            refused[tag] = f"it was saved with {info.get('module')}, not bentoml.xgboost"
            continue
        try:
            move_file(folder / XGBOOST_MODEL_FILE, shift)
        except Exception as err:  # noqa: BLE001 - XGBoost's own errors too: the model stays as saved
            refused[tag] = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
            continue
        shifted.append(tag)
    return {"shifted": shifted, "refused": refused}


def main(in_path: str, out_path: str) -> None:
    # XGBoost imports scikit-learn when it can (a second of CPU, before the server may start); its
    # Booster needs none of it, and an entry of None makes that import fail as XGBoost expects.
    sys.modules.setdefault("sklearn", None)
    with open(in_path) as fh:
        request = json.load(fh)
    write_output(out_path, move_store(Path(request["home"]), float(request["shift"])))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
