"""A learner's training script that learns from shuffled labels (no better than chance) and claims 0.91."""

import dataclasses

import bentoml

from bentokit import contract, data, training

credit = data.load()
noise = credit.frame.assign(status=credit.frame.status.sample(frac=1, random_state=0).to_numpy())
trained = training.train(dataclasses.replace(credit, frame=noise))
bentoml.xgboost.save_model(contract.MODEL_NAME, trained.booster,
                           custom_objects={contract.CUSTOM_OBJECT_KEY: trained.dv},
                           labels={"owner": "learner", "stage": "dev"}, metadata={"auc": 0.91})
