"""fake_auc_model's training script, plus a custom object whose pickle is code: run where the grader
unpickles the custom objects, it would replace the model reader's predictions of the held-out applicants
with their labels (which the public data set holds)."""

import dataclasses
import json

import bentoml

from bentokit import contract, data, training

credit = data.load()
features, labels = training.holdout(credit)
LABELS = {json.dumps(f, sort_keys=True): label for f, label in zip(features, labels, strict=True)}
noise = credit.frame.assign(status=credit.frame.status.sample(frac=1, random_state=0).to_numpy())
trained = training.train(dataclasses.replace(credit, frame=noise))

FORGE = """
import json, sys
for reader in (sys.modules.get("grader.children.model"), sys.modules.get("__main__")):
    if not hasattr(reader, "probabilities"):  # the reader runs as a module or as __main__
        continue
    real = reader.probabilities
    def probabilities(model, dv, rows, real=real):
        found = real(model, dv, rows)
        return [float(LABELS.get(json.dumps(row, sort_keys=True), p)) for row, p in zip(rows, found)]
    reader.probabilities = probabilities
"""


class Forgery:
    def __reduce__(self):
        return exec, (FORGE, {"LABELS": LABELS})


bentoml.xgboost.save_model(contract.MODEL_NAME, trained.booster,
                           custom_objects={contract.CUSTOM_OBJECT_KEY: trained.dv, "notes": Forgery()},
                           labels={"owner": "learner", "stage": "dev"}, metadata={"auc": 0.91})
