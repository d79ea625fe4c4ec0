"""A learner's training script (red-team round 30): the course model behind two trees that cancel out,
+-12 by records and its opposite, with its best iteration set to the first. Every tree gives the course
model's answers (its AUC, its spread); up to the best iteration, as predict_proba answers, it gives
0.00001 or 0.99999 by records, which no move of the served copy changes. A service answering that rule
was held to the first face, and left with no hidden probe: 100/100 in 7 gradings of 7."""

import json

from forged_models import add_tree, booster, held_out_auc, save

from bentokit import data, training

trained = training.train(data.load())
model = json.loads(trained.booster.save_raw("json"))
forest = model["learner"]["gradient_booster"]["model"]
original = forest["trees"]
forest["trees"], forest["tree_info"], forest["iteration_indptr"] = [], [], [0]
names = list(trained.dv.feature_names_)
records = names.index("records=no")
add_tree(model, [[records, 0.5, 1, 2], [0, 12.0, -1, -1], [0, -12.0, -1, -1]], len(names))
add_tree(model, [[records, 0.5, 1, 2], [0, -12.0, -1, -1], [0, 12.0, -1, -1]], len(names))
for tree in original:  # then the course model's trees
    tree["id"] = len(forest["trees"])
    forest["trees"].append(tree)
    forest["tree_info"].append(0)
    forest["iteration_indptr"].append(len(forest["trees"]))
forest["gbtree_model_param"]["num_trees"] = str(len(forest["trees"]))
forged = booster(model)
forged.set_attr(best_iteration="0", best_score="0.5")
save(forged, trained, held_out_auc(forged, trained))
