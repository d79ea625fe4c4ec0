"""Train the credit-risk model and save it to the BentoML model store (reference solution).

Run from this folder: ``python train.py``. The data comes from ``bentokit.data.load()``: the course's
CreditScoring.csv when CREDIT_SCORING_CSV points to it, generated data of the same shape otherwise.
"""

from __future__ import annotations

import bentoml

from bentokit import data, training


def main() -> None:
    credit = data.load()
    trained = training.train(credit)  # DictVectorizer + XGBoost with the course's settings

    model = bentoml.xgboost.save_model(
        "credit_risk_model",
        trained.booster,
        custom_objects={"dictVectorizer": trained.dv},
        labels={"owner": "ml-zoomcamp-learner", "stage": "dev"},
        metadata={"auc": round(trained.auc, 4), "rows": len(credit.frame), "data_sha256": credit.sha256},
    )
    print(f"saved {model.tag} (held-out AUC {trained.auc:.4f})")


if __name__ == "__main__":
    main()
