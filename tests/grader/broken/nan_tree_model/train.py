"""A learner's training script (red-team round 33): the course model plus one tree that is 0 for every
valid applicant and NaN where income < -0.5, which no applicant reaches (income >= 0). The grader's mover
checked the moved copy on random features, found NaN margins there and served the model as saved, and the
sample and golden checks then expected the saved answers: a service predicting with a copy of the model
(written beside service.py here) kept those 7 points. The copy is moved now, and a model left unmoved
fails every answer check."""

import json

from forged_models import add_tree, booster, held_out_auc, save

from bentokit import data, training

trained = training.train(data.load())
model = json.loads(trained.booster.save_raw("json"))
names = list(trained.dv.feature_names_)
nodes = [[names.index("income"), -0.5, 1, 2], [0, float("nan"), -1, -1], [0, 0.0, -1, -1]]
add_tree(model, nodes, len(names))
forged = booster(model)
save(forged, trained, held_out_auc(forged, trained))
forged.save_model("copy_model.json")  # beside service.py: the copy the service predicts with
