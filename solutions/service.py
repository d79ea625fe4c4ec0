"""Credit-risk prediction service: the reference solution of the kit.

Serve it with ``bentoml serve solutions.service:CreditRiskClassifier`` and call

    curl -X POST http://127.0.0.1:3000/classify -H 'Content-Type: application/json' \
         -d '{"credit_application": {"seniority": 3, "home": "owner", ...}}'

It is exactly what notebooks 3, 6 and 7 teach and ``exercises/service.py`` asks for. The
production-tuned service (workers, in-place prediction, tracing and access log off for the hot
routes, ...) is ``benchmarks/production/service.py``; notebook 7 shows each difference and its cost.
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

# Non-negative, finite amounts; the upper bounds keep any JSON number inside float32.
Count = Annotated[int, Field(ge=0, le=1_000_000_000)]
Money = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]


class CreditApplication(BaseModel):
    """One applicant, with the 13 fields of the course's data set."""

    # The course's sample applicant as the schema's example: Swagger UI's "Try it out" starts from it.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "seniority": 3, "home": "owner", "time": 36, "age": 26, "marital": "single", "records": "no",
        "job": "freelance", "expenses": 35, "income": 0.0, "assets": 60000.0, "debt": 3000.0,
        "amount": 800, "price": 1000}})

    seniority: Annotated[int, Field(ge=0, le=100, description="Years with the current employer")]
    home: Home
    time: Annotated[int, Field(ge=0, le=600, description="Requested term, in months")]
    age: Annotated[int, Field(ge=18, le=120)]
    marital: Marital
    records: Records
    job: Job
    expenses: Annotated[int, Field(ge=0, le=1_000_000)]
    income: Money
    assets: Money
    debt: Money
    amount: Count
    price: Count


class CreditDecision(BaseModel):
    """The probability of default and the decision the course's thresholds give."""

    probability: Annotated[float, Field(ge=0.0, le=1.0)]
    status: Literal["APPROVED", "MAYBE", "DECLINED"]


def decide(probability: float) -> CreditDecision:
    """The course's thresholds: > 0.5 DECLINED, > 0.25 MAYBE, else APPROVED."""
    if probability > 0.5:
        status = "DECLINED"
    elif probability > 0.25:
        status = "MAYBE"
    else:
        status = "APPROVED"
    return CreditDecision(probability=probability, status=status)


@bentoml.service(resources={"cpu": "1"}, traffic={"timeout": 10})
class CreditRiskClassifier:
    # A class attribute, so that `bentoml build` packs the model into the bento.
    model_ref = bentoml.models.BentoModel("credit_risk_model:latest")

    def __init__(self) -> None:
        model = bentoml.xgboost.load_model(self.model_ref)
        # A Booster (xgb.train) or an XGBClassifier: both hold a Booster that predicts P(default).
        self.booster: xgb.Booster = model if isinstance(model, xgb.Booster) else model.get_booster()
        self.dv = self.model_ref.custom_objects["dictVectorizer"]

    def _probabilities(self, applications: list[CreditApplication]) -> list[float]:
        if not applications:  # the DictVectorizer rejects an empty list; the answer is an empty list
            return []
        features = self.dv.transform([a.model_dump() for a in applications])
        matrix = xgb.DMatrix(features, feature_names=self.booster.feature_names)
        return [float(p) for p in np.asarray(self.booster.predict(matrix)).reshape(-1)]

    @bentoml.api
    def classify(self, credit_application: CreditApplication) -> CreditDecision:
        """Classify one credit application."""
        return decide(self._probabilities([credit_application])[0])

    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=64, max_latency_ms=50)
    def classify_batch(self, credit_applications: list[CreditApplication]) -> list[CreditDecision]:
        """Classify many applications; the server also merges concurrent calls into batches."""
        return [decide(p) for p in self._probabilities(credit_applications)]
