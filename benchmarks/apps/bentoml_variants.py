"""The production service with ONE code difference put back as the solution has it.

Each class here is ``benchmarks/production/service.py`` with a single difference in its code, served by
``bentoml serve benchmarks.apps.bentoml_variants:NAME``; comparing it with the production service in
the same run gives that setting's saving per request. The settings that configuration can change
(tracing, access log, workers) are put back on the built bento by ``BENTOML_CONFIG_OPTIONS`` instead,
and uvloop/httptools by the environment (``benchmarks.targets``).
"""

from __future__ import annotations

import bentoml
import numpy as np
import xgboost as xgb

from benchmarks.production.service import CreditApplication, CreditDecision, JSONBodiesOnly, decide
from benchmarks.production.service import CreditRiskClassifier as Production

_inner = Production.inner


@bentoml.service(**Production.config)
class SyncApi:
    """``def classify``: each request is handed to a worker thread and back."""

    model_ref = _inner.model_ref
    __init__, _load = _inner.__init__, _inner._load
    _probabilities = _inner._probabilities

    @bentoml.api
    def classify(self, credit_application: CreditApplication) -> CreditDecision:
        return decide(self._probabilities([credit_application])[0])


@bentoml.service(**Production.config)
class DMatrixPredict:
    """A ``DMatrix`` with feature names per call, as the solution predicts."""

    model_ref = _inner.model_ref
    __init__, _load = _inner.__init__, _inner._load

    def _probabilities(self, applications: list[CreditApplication]) -> list[float]:
        features = self.dv.transform([a.model_dump() for a in applications])
        matrix = xgb.DMatrix(features, feature_names=self.booster.feature_names)
        return [float(p) for p in np.asarray(self.booster.predict(matrix)).reshape(-1)]

    @bentoml.api
    async def classify(self, credit_application: CreditApplication) -> CreditDecision:
        return decide(self._probabilities([credit_application])[0])


@bentoml.service(**Production.config)
class NoGcFreeze:
    """Without ``gc.freeze()``: the collector's full passes walk every object the worker loaded."""

    model_ref = _inner.model_ref
    __init__ = _inner._load
    _probabilities = _inner._probabilities

    @bentoml.api
    async def classify(self, credit_application: CreditApplication) -> CreditDecision:
        return decide(self._probabilities([credit_application])[0])


for _variant in (SyncApi, DMatrixPredict, NoGcFreeze):
    _variant.add_asgi_middleware(JSONBodiesOnly)
