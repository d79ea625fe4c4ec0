"""Load the course model the way the week-5 apps would, but from the BentoML store (same model for all)."""

from __future__ import annotations

from typing import Any

import bentoml

from bentokit import contract


def load() -> tuple[Any, Any]:
    """(Booster or XGBClassifier, DictVectorizer) of ``credit_risk_model:latest``."""
    ref = bentoml.models.get(f"{contract.MODEL_NAME}:latest")
    return bentoml.xgboost.load_model(ref), ref.custom_objects[contract.CUSTOM_OBJECT_KEY]
