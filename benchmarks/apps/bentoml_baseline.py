"""The reference service as a learner first writes it: decorator defaults, the course predict path.

It reuses the reference's schema and decision; only the settings and the predict path differ, so
comparing it with ``solutions.service`` shows what the tuning bought.
"""

from __future__ import annotations

import bentoml

from bentokit import contract, training
from solutions.service import CreditApplication, CreditDecision, decide


@bentoml.service(resources={"cpu": "1"}, traffic={"timeout": 10})
class CreditRiskClassifier:
    model_ref = bentoml.models.BentoModel(f"{contract.MODEL_NAME}:latest")

    def __init__(self) -> None:
        self.model = bentoml.xgboost.load_model(self.model_ref)
        self.dv = self.model_ref.custom_objects[contract.CUSTOM_OBJECT_KEY]

    @bentoml.api
    def classify(self, credit_application: CreditApplication) -> CreditDecision:
        """Classify one credit application."""
        applicant = credit_application.model_dump()
        return decide(float(training.predict_proba(self.model, self.dv, [applicant])[0]))
