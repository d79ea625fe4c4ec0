"""Credit-risk prediction service: the reference solution of the kit.

Serve it with ``bentoml serve solutions.service:CreditRiskClassifier`` and call

    curl -X POST http://127.0.0.1:3000/classify -H 'Content-Type: application/json' \
         -d '{"credit_application": {"seniority": 3, "home": "owner", ...}}'
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, Literal

import bentoml
import numpy as np
import xgboost as xgb
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


class InvalidRequestsAsInfo(logging.Filter):
    """Log a request answered 400 (a pydantic ValidationError) as one INFO line, not an ERROR traceback.

    BentoML 1.4 answers an invalid body with a 400 as it should, but logs it with
    ``logger.error("Exception on ...", exc_info=True)`` in ``bentoml._internal.server.http_app`` (a private
    module: the only place that logger is named), and no BentoML setting changes that level. An invalid
    request is the client's mistake, answered as designed; a real error (a 500) is still logged in full.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = "Invalid request on %s [%s] answered 400: %s"
            record.args = (*record.args, f"{error.error_count()} validation error(s) for {error.title}")
            record.exc_info, record.exc_text = None, None
        return True


logging.getLogger("bentoml._internal.server.http_app").addFilter(InvalidRequestsAsInfo())


class JSONBodiesOnly:
    """ASGI middleware: answer 415 to multipart bodies, which these JSON APIs never take.

    Written by hand because BentoML 1.4 turns a malformed multipart body (no boundary) into a
    500 instead of a 400; found by ``python -m benchmarks fuzz``.
    """

    BODY = json.dumps({
        "error": "send the request body as application/json",
        "detail": [{"loc": ["header", "content-type"], "msg": "multipart bodies are not accepted",
                    "type": "media_type"}],
    }).encode()

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("method") == "POST":
            for name, value in scope["headers"]:
                if name == b"content-type" and value.lstrip().lower().startswith(b"multipart/"):
                    await send({"type": "http.response.start", "status": 415,
                                "headers": [(b"content-type", b"application/json"),
                                            (b"content-length", str(len(self.BODY)).encode())]})
                    await send({"type": "http.response.body", "body": self.BODY})
                    return
        await self.app(scope, receive, send)


# The settings measured by `python -m benchmarks run` (see benchmarks/results/report.md):
# - workers="cpu_count": one worker process per core; a sync API runs in a worker's single thread.
# - the booster runs with one thread (set in __init__): with N workers on N cores, XGBoost's own
#   OpenMP threads only fight each other for the same cores.
# - access log off: one log line per request costs CPU on every request; /metrics stays on.
@bentoml.service(
    resources={"cpu": "1"},
    workers="cpu_count",
    traffic={"timeout": 10},
    logging={"access": {"enabled": False}},
)
class CreditRiskClassifier:
    # A class attribute, so that `bentoml build` packs the model into the bento.
    model_ref = bentoml.models.BentoModel("credit_risk_model:latest")

    def __init__(self) -> None:
        model = bentoml.xgboost.load_model(self.model_ref)
        # A Booster (xgb.train) or an XGBClassifier: both hold a Booster that predicts P(default).
        self.booster: xgb.Booster = model if isinstance(model, xgb.Booster) else model.get_booster()
        self.booster.set_param({"nthread": 1})
        self.dv = self.model_ref.custom_objects["dictVectorizer"]

    def _probabilities(self, applications: list[CreditApplication]) -> list[float]:
        if not applications:
            return []
        features = self.dv.transform([a.model_dump() for a in applications])
        # In-place prediction skips building a DMatrix: same numbers, about half the cost per call.
        return [float(p) for p in np.asarray(self.booster.inplace_predict(features)).reshape(-1)]

    @bentoml.api
    def classify(self, credit_application: CreditApplication) -> CreditDecision:
        """Classify one credit application."""
        return decide(self._probabilities([credit_application])[0])

    # max_latency_ms is a deadline: a request still queued after it gets a 503, so it is set to
    # the latency one would rather fail than exceed, not to the batching window (which adapts).
    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=64, max_latency_ms=1000)
    def classify_batch(self, credit_applications: list[CreditApplication]) -> list[CreditDecision]:
        """Classify many applications; the server also merges concurrent calls into batches."""
        return [decide(p) for p in self._probabilities(credit_applications)]


CreditRiskClassifier.add_asgi_middleware(JSONBodiesOnly)
