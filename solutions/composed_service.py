"""The credit-risk service split in two: what BentoML 1.0 did with a runner, the 1.4 way.

- ``CreditScorer``, the model service: the DictVectorizer and the booster, behind one batchable API.
- ``CreditRiskApi``, the API service: validation, the decision, the metrics; it reaches the model
  service through ``bentoml.depends(CreditScorer)``, an HTTP client BentoML wires up for it.

Each service has its own workers and resources, and ``bentoml serve composed_service:CreditRiskApi``
starts both, each as its own processes. ``bentoml build`` packs both into one bento.
Taught in notebooks/04b_compose.ipynb; the measurements of when the split pays are there too.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any, Literal

import bentoml
import numpy as np
import xgboost as xgb
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger("bentoml.service")

# The runtime, with the image SDK (bentofile.yaml's python/docker fields, in Python): pinned to the
# versions the model was trained with. prometheus_client comes with bentoml itself.
IMAGE = bentoml.images.Image(python_version="3.11").python_packages(
    "xgboost==3.2.0", "scikit-learn==1.9.1", "pydantic==2.14.3")

Count = Annotated[int, Field(ge=0, le=1_000_000_000)]
Money = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]


class CreditApplication(BaseModel):
    """One applicant, with the 13 fields of the course's data set."""

    model_config = ConfigDict(extra="forbid")

    seniority: Annotated[int, Field(ge=0, le=100)]
    home: Literal["rent", "owner", "private", "ignore", "parents", "other", "unk"]
    time: Annotated[int, Field(ge=0, le=600)]
    age: Annotated[int, Field(ge=18, le=120)]
    marital: Literal["single", "married", "widow", "separated", "divorced", "unk"]
    records: Literal["no", "yes", "unk"]
    job: Literal["fixed", "partime", "freelance", "others", "unk"]
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


# Custom metrics with prometheus_client, as BentoML 1.4 recommends: BentoML serves them on the
# service's own /metrics next to its bentoml_* metrics.
DECISIONS = Counter("credit_decisions", "Credit decisions given, by status", ["status"])
PROBABILITIES = Histogram("credit_default_probability", "P(default) of the applicants classified",
                          buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0))


def decide(probability: float) -> CreditDecision:
    """The course's thresholds (> 0.5 DECLINED, > 0.25 MAYBE, else APPROVED), counted in the metrics."""
    status = "DECLINED" if probability > 0.5 else "MAYBE" if probability > 0.25 else "APPROVED"
    DECISIONS.labels(status=status).inc()
    PROBABILITIES.observe(probability)
    return CreditDecision(probability=probability, status=status)


# The model service: one worker with one core is the runner of BentoML 1.0. Its batchable API merges
# the calls of all the API service's workers into batches.
@bentoml.service(workers=1, resources={"cpu": "1"}, traffic={"timeout": 10},
                 logging={"access": {"enabled": False}})
class CreditScorer:
    model_ref = bentoml.models.BentoModel("credit_risk_model:latest")

    def __init__(self) -> None:
        model = bentoml.xgboost.load_model(self.model_ref)
        self.booster: xgb.Booster = model if isinstance(model, xgb.Booster) else model.get_booster()
        self.booster.set_param({"nthread": 1})
        self.dv = self.model_ref.custom_objects["dictVectorizer"]
        self.warmed_up = False

    def __is_ready__(self) -> bool:
        """/readyz answers 200 only once one prediction has run (the first one pays lazy set-ups)."""
        if not self.warmed_up:
            self.booster.inplace_predict(np.zeros((1, len(self.dv.feature_names_)), dtype=np.float32))
            self.warmed_up = True
        return self.warmed_up

    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=64, max_latency_ms=1000)
    def predict(self, applicants: list[dict[str, Any]]) -> list[float]:
        """P(default) of each applicant (already validated by the API service)."""
        if not applicants:
            return []
        features = self.dv.transform(applicants)
        return np.asarray(self.booster.inplace_predict(features), dtype=float).reshape(-1).tolist()


# The API service: validation, decisions and metrics, on two workers (one per core). It is the entry
# service, so its image is the bento's.
@bentoml.service(image=IMAGE, workers=2, resources={"cpu": "1"}, traffic={"timeout": 10},
                 logging={"access": {"enabled": False}})
class CreditRiskApi:
    scorer = bentoml.depends(CreditScorer)

    @bentoml.api
    async def classify(self, credit_application: CreditApplication) -> CreditDecision:
        """Classify one credit application; the model service computes the probability."""
        probabilities = await self.scorer.to_async.predict([credit_application.model_dump()])
        return decide(probabilities[0])

    @bentoml.api
    async def classify_batch(self, credit_applications: list[CreditApplication]) -> list[CreditDecision]:
        """Classify many applications with one call to the model service."""
        probabilities = await self.scorer.to_async.predict([a.model_dump() for a in credit_applications])
        return [decide(p) for p in probabilities]

    @bentoml.on_shutdown
    def log_totals(self) -> None:
        """Runs when the worker stops: a last log line with what it decided."""
        counts = {s.labels["status"]: s.value for m in DECISIONS.collect() for s in m.samples
                  if s.name.endswith("_total")}
        logger.info("CreditRiskApi worker stopping at %s; decisions: %s", time.strftime("%H:%M:%S"), counts)
