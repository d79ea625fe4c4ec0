"""Credit-risk prediction service: YOUR copy. Fill in the gaps marked TODO, then grade it:

    ./kit grade                          # from the repository root; grades exercises/

Each TODO names the notebook section that teaches it. solutions/service.py is the reference:
try on your own first.
"""

from __future__ import annotations

from typing import Annotated, Literal

import bentoml
import numpy as np
import xgboost as xgb
from pydantic import BaseModel, ConfigDict, Field

Home = Literal["rent", "owner", "private", "ignore", "parents", "other", "unk"]
Marital = Literal["single", "married", "widow", "separated", "divorced", "unk"]
Records = Literal["no", "yes", "unk"]
Job = Literal["fixed", "partime", "freelance", "others", "unk"]

Count = Annotated[int, Field(ge=0, le=1_000_000_000)]
Money = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]


class CreditApplication(BaseModel):
    """One applicant, with the 13 fields of the course's data set."""

    # The course's sample applicant as the schema's example: Swagger UI's "Try it out" starts from it.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "seniority": 3, "home": "owner", "time": 36, "age": 26, "marital": "single", "records": "no",
        "job": "freelance", "expenses": 35, "income": 0.0, "assets": 60000.0, "debt": 3000.0,
        "amount": 800, "price": 1000}})

    seniority: Annotated[int, Field(ge=0, le=100)]
    home: Home
    time: Annotated[int, Field(ge=0, le=600)]
    age: Annotated[int, Field(ge=18, le=120)]
    # TODO(1): add the other 9 fields with their types: marital, records, job, expenses (int),
    #          income, assets, debt (float, use Money), amount, price (int, use Count).
    #          notebooks/06_validate.ipynb, "The pydantic models, in this notebook".


class CreditDecision(BaseModel):
    """The probability of default and the decision."""

    probability: Annotated[float, Field(ge=0.0, le=1.0)]
    status: Literal["APPROVED", "MAYBE", "DECLINED"]


def decide(probability: float) -> CreditDecision:
    # TODO(2): the course's thresholds: > 0.5 DECLINED, > 0.25 MAYBE, else APPROVED.
    #          notebooks/03_serve.ipynb, "`service.py`".
    status = "APPROVED"
    return CreditDecision(probability=probability, status=status)


@bentoml.service(resources={"cpu": "1"}, traffic={"timeout": 10})
class CreditRiskClassifier:
    # TODO(3): reference the saved model as a class attribute, so that `bentoml build` packs it:
    #          model_ref = bentoml.models.BentoModel("credit_risk_model:latest")
    #          notebooks/03_serve.ipynb, "`service.py`"; why: 04_build.ipynb, "What is inside".

    def __init__(self) -> None:
        # TODO(4): load the booster with bentoml.xgboost.load_model(self.model_ref) and the
        #          DictVectorizer from self.model_ref.custom_objects (mind the key's spelling).
        #          notebooks/03_serve.ipynb, "`service.py`".
        raise NotImplementedError("TODO(4): load the model and the DictVectorizer")

    def _probabilities(self, applications: list[CreditApplication]) -> list[float]:
        features = self.dv.transform([a.model_dump() for a in applications])
        matrix = xgb.DMatrix(features, feature_names=self.booster.feature_names)
        return [float(p) for p in np.asarray(self.booster.predict(matrix)).reshape(-1)]

    @bentoml.api
    def classify(self, credit_application: CreditApplication) -> CreditDecision:
        """Classify one credit application."""
        return decide(self._probabilities([credit_application])[0])

    # TODO(5): add classify_batch(self, credit_applications: list[CreditApplication])
    #          -> list[CreditDecision], decorated with
    #          @bentoml.api(batchable=True, batch_dim=0, max_batch_size=64, max_latency_ms=50).
    #          notebooks/07_performance.ipynb, "Three ways to send applications".
