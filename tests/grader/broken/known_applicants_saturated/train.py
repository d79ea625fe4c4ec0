"""A learner's training script (red-team round 31): the course model, plus a tree for each of the public
known applicants (the sample and the golden ones, in bentokit.contract) that gives exactly that applicant
a margin of -30: their answers are 0 whatever the grader's move, so a service answering 0 to them, never
predicting, got the sample and golden points."""

import json

import numpy as np
from forged_models import add_tree, booster, held_out_auc, save

from bentokit import contract, data, training

NUMERIC = [field for field in contract.FIELD_TYPES if field not in contract.CATEGORIES]


def window(field: str, value: float) -> tuple[float, float]:
    """The float32 bounds a tree tests the field against: only that value lies within."""
    half = 0.25 if contract.FIELD_TYPES[field] is int else 0.004
    return float(np.float32(value - half)), float(np.float32(value + half))


def only(applicant: dict, names: list[str]) -> list[list]:
    """A tree's nodes, breadth first (as XGBoost numbers them): -30 where every numeric field is the
    applicant's, 0 elsewhere."""
    tree: list = ["leaf", -30.0]  # lists, not tuples: equal constant tuples are one object, one id
    for field in reversed(NUMERIC):  # below the window: 0; within: the next test; above: 0
        low, high = window(field, applicant[field])
        tree = ["split", names.index(field), low, ["leaf", 0.0],
                ["split", names.index(field), high, tree, ["leaf", 0.0]]]
    order, queue, index = [], [tree], {id(tree): 0}
    while queue:
        node = queue.pop(0)
        order.append(node)
        if node[0] == "split":
            for child in node[3:]:
                index[id(child)] = len(index)
                queue.append(child)
    return [[n[1], n[2], index[id(n[3])], index[id(n[4])]] if n[0] == "split" else [0, n[1], -1, -1]
            for n in order]


trained = training.train(data.load())
model = json.loads(trained.booster.save_raw("json"))
names = list(trained.dv.feature_names_)
for applicant in {json.dumps(a, sort_keys=True): a for a in [contract.SAMPLE_APPLICANT,
                                                            *contract.GOLDEN_APPLICANTS.values()]}.values():
    add_tree(model, only(applicant, names), len(names))
forged = booster(model)
known = [contract.SAMPLE_APPLICANT, *contract.GOLDEN_APPLICANTS.values()]
assert (training.predict_proba(forged, trained.dv, known) < 1e-9).all()
save(forged, trained, held_out_auc(forged, trained))
