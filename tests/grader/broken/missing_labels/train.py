"""A learner's training script that forgets the labels."""

import bentoml

from bentokit import contract, data, training

trained = training.train(data.load())
bentoml.xgboost.save_model(contract.MODEL_NAME, trained.booster,
                           custom_objects={contract.CUSTOM_OBJECT_KEY: trained.dv},
                           metadata={"auc": trained.auc})
