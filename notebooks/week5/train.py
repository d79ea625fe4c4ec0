"""Week 5 (2025 edition), step 1: train the course's credit-risk model and pickle it to model.bin.

    uv run python train.py

The data and the training are the kit's (``bentokit``), so that this model is the one the BentoML
notebooks serve; a week-5 project would have the same code inline.
"""

import pickle

from bentokit import data, training

trained = training.train(data.load())
with open("model.bin", "wb") as f_out:
    pickle.dump((trained.dv, trained.booster), f_out)
print(f"AUC: {trained.auc:.3f}; saved model.bin")
