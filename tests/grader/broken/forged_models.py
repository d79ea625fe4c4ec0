"""What the learner scripts of the forged-model cases share (their ``store`` scripts import it: the
test puts this folder on their PYTHONPATH): the course model with every leaf scaled down, its ranking
kept; a tree of the script's own added; the result saved as a learner saves it.

A tree is a list of nodes ``[feature, split or leaf value, left, right]`` (a leaf: left = right = -1).
XGBoost reads a tree right only when each left child's index is below its sibling's.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import xgboost as xgb
from sklearn.metrics import roc_auc_score

from bentokit import data, training


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def squashed_course_model(half_logit: float, base_score: float) -> tuple[training.TrainedModel, dict]:
    """The course model, trained, and its JSON with every leaf scaled so that all trees together move a
    margin by ``half_logit`` at most, around ``base_score`` (a probability)."""
    trained = training.train(data.load())
    model = json.loads(trained.booster.save_raw("json"))
    trees = model["learner"]["gradient_booster"]["model"]["trees"]
    leaves = [[i for i, child in enumerate(t["left_children"]) if child == -1] for t in trees]
    bound = sum(max(abs(t["split_conditions"][i]) for i in ls) for t, ls in zip(trees, leaves, strict=True))
    for tree, ls in zip(trees, leaves, strict=True):
        for i in ls:
            tree["split_conditions"][i] *= half_logit / bound
            tree["base_weights"][i] *= half_logit / bound
    model["learner"]["learner_model_param"]["base_score"] = repr(base_score)
    return trained, model


def add_tree(model: dict[str, Any], nodes: list[list], num_feature: int) -> None:
    """Append the tree of ``nodes`` to ``model`` (its JSON)."""
    forest = model["learner"]["gradient_booster"]["model"]
    parents = [2147483647] * len(nodes)
    for i, (_, _, left, right) in enumerate(nodes):
        if left != -1:
            parents[left] = parents[right] = i
    count = len(nodes)
    forest["trees"].append({
        "base_weights": [n[1] if n[2] == -1 else 0.0 for n in nodes], "categories": [],
        "categories_nodes": [], "categories_segments": [], "categories_sizes": [],
        "default_left": [0] * count, "id": len(forest["trees"]), "left_children": [n[2] for n in nodes],
        "right_children": [n[3] for n in nodes], "loss_changes": [0.0] * count, "parents": parents,
        "split_conditions": [n[1] for n in nodes], "split_indices": [n[0] for n in nodes],
        "split_type": [0] * count, "sum_hessian": [1.0] * count,
        "tree_param": {"num_deleted": "0", "num_feature": str(num_feature), "num_nodes": str(count),
                       "size_leaf_vector": "1"}})
    forest["gbtree_model_param"]["num_trees"] = str(len(forest["trees"]))
    forest["tree_info"] = forest["tree_info"] + [0]
    forest["iteration_indptr"] = forest["iteration_indptr"] + [len(forest["trees"])]


def booster(model: dict[str, Any]) -> xgb.Booster:
    made = xgb.Booster()
    made.load_model(bytearray(json.dumps(model).encode()))
    return made


def held_out_auc(model: xgb.Booster, trained: training.TrainedModel) -> float:
    """The AUC of ``model`` on the course's held-out applicants."""
    applicants, labels = training.holdout(trained.data)
    return float(roc_auc_score(labels, training.predict_proba(model, trained.dv, applicants)))


def save(model: xgb.Booster, trained: training.TrainedModel, auc: float) -> Any:
    """Into the store as the course saves its model (its DictVectorizer, labels, metadata), with ``auc``;
    the BentoML model."""
    return training.save(dataclasses.replace(trained, booster=model, auc=auc), owner="learner")
