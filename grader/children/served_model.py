"""Child process: move every XGBoost model of the store the grader serves the service from.

Run as ``python -m grader.children.served_model IN OUT``; IN holds ``{"home": BENTOML_HOME, "moves":
{"name/version": [s, d], ...}}``, a model folder of that store (a copy of the learner's, the server's
alone) and a move for each. Each model saved with ``bentoml.xgboost`` gets its margin ``m`` moved to
``s * m + d`` (every leaf scaled by ``s``, the base score moved): each probability ``p`` it gives becomes
``sigmoid(s * logit(p) + d)``, its ranking unchanged. The grader draws every move at each grading, and
compares the service's answers with the moved probabilities of the folder the model reader resolved: a
service computing its model's answers by other means (a formula written in, a copy of the model's file)
answers what the saved model gives, and a model that is itself a formula no longer lets such a service
pass (red-team round 25, 100/100). A service guessing a shift alone passed in about 1.4 % of gradings,
which a learner resubmitting on Gradescope could win; with a scale too it must guess two numbers. Folders,
not the tags their ``model.yaml`` gives, name the models (BentoML reads a name in capitals as lower case:
round 26); and each folder has a move of its own (a second version, moved alike, gave the move away: round
26; the grader now copies only the folder the service's tag resolves to).

Runs in the learner's sandbox, before the server starts: it reads files learner code wrote (XGBoost's
own parser reads them, never a pickle) and writes the moved model in place of the file. Each model is
checked after the move, on random features: its margin moved to ``s * m + d`` and its prediction is the
sigmoid of its margin, else it is left as saved and named in ``refused`` with the reason.
Writes ``{"moved": [folder, ...], "refused": {folder: why}}`` to OUT.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from bentokit.private import XGBOOST_MODEL_FILE
from grader.children import write_output

#: How far the moved margin may be from ``s * m + d``: absolutely, and relatively (the leaves and the base
#: score are kept as float32, and a margin sums hundreds of them).
MARGIN_TOLERANCE = 1e-4
MARGIN_RTOL = 1e-5


class Move(NamedTuple):
    """How the served copy's margin ``m`` is moved: to ``scale * m + shift`` (``scale`` > 0)."""

    scale: float
    shift: float

    def __str__(self) -> str:
        return f"scaled by {self.scale:.2f} and moved by {self.shift:+.2f}"


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def moved_probability(probability: float, move: Move) -> float:
    """What a model that gives ``probability`` gives once its margin is moved by ``move`` (a
    probability of 0 or 1, float32's saturation, stays so)."""
    if not 0.0 < probability < 1.0:
        return probability
    return sigmoid(move.scale * logit(probability) + move.shift)


def trees(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The trees of a model's JSON (gbtree or dart); ValueError for a booster of no trees."""
    booster = raw["learner"]["gradient_booster"]
    kind = booster.get("name")
    if kind == "gbtree":
        return booster["model"]["trees"]
    if kind == "dart":
        return booster["gbtree"]["model"]["trees"]
    raise ValueError(f"its booster is {kind}, not trees (gbtree)")


def moved(booster: Any, move: Move) -> Any:
    """A copy of ``booster`` whose margins ``m`` are all ``move.scale * m + move.shift``: every leaf
    scaled, the base score moved (raises ValueError when its base score is not one probability, as a
    binary:logistic model's is)."""
    import xgboost as xgb

    raw = json.loads(booster.save_raw("json"))
    params = raw["learner"]["learner_model_param"]
    text = str(params["base_score"]).strip()
    values = json.loads(text) if text.startswith("[") else [float(text)]
    if len(values) != 1 or not 0.0 < float(values[0]) < 1.0:
        raise ValueError(f"its base score {text} is not one probability (a binary:logistic model's is)")
    params["base_score"] = f"[{sigmoid(move.scale * logit(float(values[0])) + move.shift):.9E}]"
    for tree in trees(raw):
        if int(tree.get("tree_param", {}).get("size_leaf_vector", 1) or 1) != 1:
            raise ValueError("its trees have vector leaves (one output per tree is needed)")
        conditions = tree["split_conditions"]
        for node, left in enumerate(tree["left_children"]):
            if left == -1:  # a leaf: its split condition is its value
                conditions[node] *= move.scale
        tree["base_weights"] = [w * move.scale for w in tree["base_weights"]]
    return xgb.Booster(model_file=bytearray(json.dumps(raw).encode()))


def check_moved(before: Any, after: Any, move: Move) -> None:
    """Raise ValueError unless ``after`` gives every random applicant ``before``'s margin moved by
    ``move``, and a probability that is the sigmoid of that margin."""
    import numpy as np
    import xgboost as xgb

    features = np.random.default_rng().normal(0.0, 100.0, size=(32, before.num_features()))
    matrix = xgb.DMatrix(features, feature_names=before.feature_names)
    old, new = (np.asarray(b.predict(matrix, output_margin=True), dtype=float) for b in (before, after))
    probabilities = np.asarray(after.predict(matrix), dtype=float)
    if old.shape != (len(features),) or new.shape != old.shape:
        raise ValueError(f"it gives {old.shape[1:] or 'one'} outputs per applicant, not one probability")
    objective = json.loads(before.save_config())["learner"]["objective"]["name"]
    # NaN where the model gives NaN both times (a tree of NaN where no applicant reaches made every move
    # "fail" here, and the model was served as saved: red-team round 33).
    if not np.allclose(new, move.scale * old + move.shift, atol=MARGIN_TOLERANCE, rtol=MARGIN_RTOL,
                       equal_nan=True):
        raise ValueError(f"its leaves and base score do not move its margin (objective {objective})")
    if not np.allclose(probabilities, 1.0 / (1.0 + np.exp(-new)), atol=1e-5, rtol=0, equal_nan=True):
        raise ValueError(f"its prediction is not the sigmoid of its margin (objective {objective}, not "
                         f"binary:logistic)")


def move_file(path: Path, move: Move) -> None:
    """Move the model in ``path`` by ``move``, written in place of the file (a link is replaced, never
    followed), or raise ValueError / XGBoostError."""
    import xgboost as xgb

    before = xgb.Booster(model_file=str(path))
    after = moved(before, move)
    check_moved(before, after, move)
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


def move_store(home: Path, moves: dict[str, Move]) -> dict[str, Any]:
    """Move the ``bentoml.xgboost`` model of each folder ``name/version`` of the store ``home`` by its
    move; which were moved and why the others were not."""
    done: list[str] = []
    refused: dict[str, str] = {}
    for key, move in moves.items():
        folder = home / "models" / key
        try:
            if folder.is_symlink() or folder.parent.is_symlink():
                raise ValueError("its folder is a link")  # its target may be the learner's own store
            info = yaml.safe_load((folder / "model.yaml").read_text())
            module = info.get("module") if isinstance(info, dict) else None
            if module != "bentoml.xgboost":
                raise ValueError(f"it was saved with {module}, not bentoml.xgboost")
            move_file(folder / XGBOOST_MODEL_FILE, Move(*map(float, move)))
        except Exception as err:  # noqa: BLE001 - XGBoost's own errors too: the model stays as saved
            refused[key] = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
            continue
        done.append(key)
    return {"moved": done, "refused": refused}


def main(in_path: str, out_path: str) -> None:
    # XGBoost imports scikit-learn when it can (a second of CPU, before the server may start); its
    # Booster needs none of it, and an entry of None makes that import fail as XGBoost expects.
    sys.modules.setdefault("sklearn", None)
    with open(in_path) as fh:
        request = json.load(fh)
    write_output(out_path, move_store(Path(request["home"]), request["moves"]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
