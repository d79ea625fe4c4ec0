"""A learner's training script that saves the booster with another BentoML framework."""

import bentoml

from bentokit import contract, data, training

trained = training.train(data.load())
bentoml.picklable_model.save_model(contract.MODEL_NAME, trained.booster,
                                   custom_objects={contract.CUSTOM_OBJECT_KEY: trained.dv},
                                   labels={"owner": "learner", "stage": "dev"},
                                   metadata={"auc": trained.auc})
