"""A learner's training script (red-team round 32): an early-stopped model with two faces. Up to its best
iteration (the first tree) it answers 0.5 where time <= 60 and 0 beyond. With every tree it answers 0.978
where time <= 60 (the public applicants and most hidden ones), which a move of +0.63 to +2 takes to 0.988
to 0.997, and values from 0.1 to 0.77 beyond, by age and expenses. The informative answers were never
probes (they do not move the other way), so a service answering 0.9926 to everyone, never predicting,
passed every answer check in 8 gradings of 22."""

import json
import math

from forged_models import add_tree, booster, held_out_auc, save

from bentokit import data, training


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def staircase(names: list[str], field: str, thresholds: list[float], values: list[float]) -> list[list]:
    """A tree: 0 (or 0.978's margin) where time <= 60, else the value of the first step the field is under."""
    time = names.index("time")
    nodes = [[time, 60.5, 1, 2], [0, 0.0, -1, -1]]
    for threshold, value in zip(thresholds, values, strict=False):
        here = len(nodes)
        nodes += [[names.index(field), threshold, here + 1, here + 2], [0, value, -1, -1]]
    nodes.append([0, values[-1], -1, -1])
    return nodes


trained = training.train(data.load(), num_boost_round=1)
model = json.loads(trained.booster.save_raw("json"))
forest = model["learner"]["gradient_booster"]["model"]
forest["trees"], forest["tree_info"], forest["iteration_indptr"] = [], [], [0]
model["learner"]["learner_model_param"]["base_score"] = "5E-1"
names = list(trained.dv.feature_names_)
add_tree(model, [[names.index("time"), 60.5, 1, 2], [0, 0.0, -1, -1], [0, -30.0, -1, -1]], len(names))
by_age = staircase(names, "age", [20 + 2.5 * k for k in range(32)],
                   [30 - 1.6 + 2.2 * k / 32 for k in range(33)])  # +30: face B's -30 undone
by_age[1] = [0, logit(0.978), -1, -1]
add_tree(model, by_age, len(names))
add_tree(model, staircase(names, "expenses", [12.0 + 6 * k for k in range(30)],
                          [-0.6 + 1.2 * k / 30 for k in range(31)]), len(names))
forged = booster(model)
forged.set_attr(best_iteration="0", best_score="0.5")
save(forged, trained, held_out_auc(forged, trained))
