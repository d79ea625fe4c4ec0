"""The reference service with ``async def classify``: the same settings, model and predict path.

A benchmark variant, not the reference: a sync API runs in a worker thread, and handing each request
to that thread and back costs CPU on every request; an async API runs on the event loop. The reference
stays sync because its classify is also called in-process (tests, notebooks) and the course teaches
sync APIs; blocking inside an async API is only safe when, as here, the work is well under a millisecond.
"""

from __future__ import annotations

import bentoml

from solutions.service import CreditApplication, CreditDecision, JSONBodiesOnly, decide
from solutions.service import CreditRiskClassifier as Reference


@bentoml.service(**Reference.config)
class CreditRiskClassifier:
    model_ref = Reference.inner.model_ref
    __init__ = Reference.inner.__init__
    _probabilities = Reference.inner._probabilities

    @bentoml.api
    async def classify(self, credit_application: CreditApplication) -> CreditDecision:
        """Classify one credit application, on the event loop."""
        return decide(self._probabilities([credit_application])[0])


CreditRiskClassifier.add_asgi_middleware(JSONBodiesOnly)
