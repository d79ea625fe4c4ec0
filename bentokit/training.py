"""Train the course's credit-risk model and save it to the BentoML model store."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb
from sklearn.feature_extraction import DictVectorizer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from bentokit import contract
from bentokit.data import CreditData

#: The course's hyper-parameters (chapter 6, the tuned XGBoost model).
XGB_PARAMS: dict[str, Any] = {
    "eta": 0.1,
    "max_depth": 3,
    "min_child_weight": 1,
    "objective": "binary:logistic",
    "eval_metric": "auc",
    "nthread": 1,
    "seed": 1,
    "verbosity": 1,
}
NUM_BOOST_ROUND = 175
TEST_SIZE = 0.2
SPLIT_SEED = 11


@dataclass
class TrainedModel:
    """A fitted DictVectorizer and booster, with their held-out AUC."""

    booster: xgb.Booster
    dv: DictVectorizer
    auc: float
    data: CreditData

    @property
    def feature_names(self) -> list[str]:
        return list(self.dv.get_feature_names_out())


def records(frame) -> list[dict[str, Any]]:
    """Feature dicts for the DictVectorizer: the 13 fields, NaN filled with 0 (as the course does)."""
    return frame[list(contract.FIELD_TYPES)].fillna(0).to_dict(orient="records")


def split(data: CreditData) -> tuple[Any, Any]:
    """The course's split: 80 % to train, 20 % held out (random_state 11)."""
    return train_test_split(data.frame, test_size=TEST_SIZE, random_state=SPLIT_SEED)


def holdout(data: CreditData) -> tuple[list[dict[str, Any]], list[int]]:
    """The held-out applicants (feature dicts) and their labels (1 = default)."""
    _, test_df = split(data)
    return records(test_df), (test_df.status == "default").astype(int).tolist()


def train(data: CreditData, num_boost_round: int = NUM_BOOST_ROUND) -> TrainedModel:
    """Split 80/20 (random_state 11), fit DictVectorizer + XGBoost, score AUC on the held-out part."""
    train_df, test_df = split(data)
    y_train = (train_df.status == "default").astype(int).to_numpy()
    y_test = (test_df.status == "default").astype(int).to_numpy()

    dv = DictVectorizer(sparse=False)
    x_train = dv.fit_transform(records(train_df))
    x_test = dv.transform(records(test_df))
    names = list(dv.get_feature_names_out())

    dtrain = xgb.DMatrix(x_train, label=y_train, feature_names=names)
    dtest = xgb.DMatrix(x_test, feature_names=names)
    booster = xgb.train(XGB_PARAMS, dtrain, num_boost_round=num_boost_round)
    auc = float(roc_auc_score(y_test, booster.predict(dtest)))
    return TrainedModel(booster=booster, dv=dv, auc=auc, data=data)


def predict_proba(model: Any, dv: DictVectorizer, applicants: list[dict[str, Any]],
                  best: int | None = None) -> np.ndarray:
    """P(default) for applicants, from a Booster or an XGBClassifier and its DictVectorizer; from every
    tree, or from those up to iteration ``best`` (an early-stopped model's, as its predict_proba gives)."""
    booster = model if isinstance(model, xgb.Booster) else model.get_booster()
    matrix = xgb.DMatrix(dv.transform(applicants), feature_names=booster.feature_names)
    trees = (0, 0) if best is None else (0, best + 1)  # (0, 0): every tree
    return np.asarray(booster.predict(matrix, iteration_range=trees), dtype=float).reshape(-1)


def save(trained: TrainedModel, owner: str | None = None, stage: str = "dev") -> Any:
    """Save to the model store as ``credit_risk_model`` and return the BentoML model."""
    import bentoml

    return bentoml.xgboost.save_model(
        contract.MODEL_NAME,
        trained.booster,
        custom_objects={contract.CUSTOM_OBJECT_KEY: trained.dv},
        labels={"owner": owner or getpass.getuser(), "stage": stage},
        metadata={
            "auc": round(trained.auc, 6),
            "data_source": trained.data.source,
            "data_sha256": trained.data.sha256,
            "rows": len(trained.data.frame),
            "feature_names": trained.feature_names,
            "params": {**XGB_PARAMS, "num_boost_round": NUM_BOOST_ROUND,
                       "test_size": TEST_SIZE, "split_seed": SPLIT_SEED},
        },
    )
