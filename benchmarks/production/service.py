"""The production-tuned credit-risk service: the reference solution plus what the benchmarks measured.

The schema and the decision rule are the solution's (``solutions/service.py``), repeated here and kept
equal to it by ``tests/benchmarks/test_production.py``; the service class differs. The root
``bentofile.yaml`` builds this file alone into the kit's bento and its image; ``python -m benchmarks run``
serves that built bento. Each setting below and what it saves is in ``benchmarks/results/report.md``
and taught in ``notebooks/07_performance.ipynb``:

- XGBoost is imported in ``__init__``, not at the top: ``bentoml serve`` itself (the supervisor) imports
  this module only to read the service's configuration before it starts the workers, and importing
  XGBoost (which imports scikit-learn, SciPy and pandas) took it 2.3 s of a 6.1 s start. That is also why
  the schema is repeated instead of imported: ``solutions/service.py`` imports XGBoost at its top, as
  notebook 3 teaches.

- ``uvloop`` + ``httptools`` installed (the bentofile's packages): uvicorn's "auto" picks them up.
- ``tracing.excluded_urls``: the OpenTelemetry ASGI middleware returns early for the hot routes.
  Switch tracing back on without editing code through BentoML's configuration, e.g.
  ``BENTOML_CONFIG_OPTIONS='services.CreditRiskClassifier.tracing.excluded_urls=[]' bentoml serve ...``
  (``/metrics`` is a separate middleware and stays on either way).
- access log off; ``/metrics`` and ``/readyz`` stay on.
- ``workers="cpu_count"`` and one XGBoost thread per worker: N workers on N cores, no OpenMP contention.
- ``async def classify``: the prediction takes well under a millisecond, so it runs on the event loop
  instead of paying the hand-off to a worker thread and back on every request.
- in-place prediction: no ``DMatrix`` per call (same numbers).
- ``gc.freeze()`` once the worker has loaded: the garbage collector's full passes skip the long-lived
  objects, which were most of its pauses (the tail latency under load).
- an image without a compiler: ``IMAGE`` below (0.57 GB instead of 0.92 GB).
- a 415 for multipart bodies (``JSONBodiesOnly``), found by ``python -m benchmarks fuzz``.
- an invalid request (answered 400) is logged as one INFO line, not an ERROR traceback
  (``InvalidRequestsAsInfo``); notebook 6 shows what the log of the learner's own service says.
"""

from __future__ import annotations

import gc
import json
import logging
from typing import TYPE_CHECKING, Annotated, Any, Literal

import bentoml
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    import xgboost as xgb

# The solution's schema and decision rule, as solutions/service.py has them (a test keeps them equal).
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


#: The routes whose requests are not traced (regular expressions matched against the URL).
HOT_ROUTES = ["/classify", "/classify_batch"]


class InvalidRequestsAsInfo(logging.Filter):
    """Log a request answered 400 (a pydantic ValidationError) as one INFO line, not an ERROR traceback.

    BentoML 1.4 answers an invalid body with a 400 as it should, but logs it with
    ``logger.error("Exception on ...", exc_info=True)`` in ``bentoml._internal.server.http_app`` (the
    only place that logger is named), and no BentoML setting changes that level. An invalid request
    is the client's mistake, answered as designed; a real error (a 500) is still logged in full.
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


#: The image's base as it is: BentoML's default ("debian") recipe apt-installs build-essential and git
#: first (354 MB) for packages that compile, and every package of this bento is a wheel. The
#: bentofile's packages and envs are added to this image when `bentoml build` runs.
IMAGE = bentoml.images.Image(base_image="python:3.11-slim", distro="none", python_version="3.11")


@bentoml.service(
    image=IMAGE,
    resources={"cpu": "1"},
    workers="cpu_count",
    traffic={"timeout": 10},
    logging={"access": {"enabled": False}},
    tracing={"excluded_urls": HOT_ROUTES},
)
class CreditRiskClassifier:
    # A class attribute, so that `bentoml build` packs the model into the bento.
    model_ref = bentoml.models.BentoModel("credit_risk_model:latest")

    def __init__(self) -> None:
        self._load()
        # Everything made so far (modules, BentoML's app, the model) lives as long as the worker:
        # gc.freeze() moves it out of the collector's reach, so that a full collection under load no
        # longer walks all of it while requests wait (p99 at 32 clients 134 -> 29 ms, `prod-gc`).
        gc.collect()  # what is garbage now is not frozen with the rest
        gc.freeze()

    def _load(self) -> None:
        import xgboost as xgb  # in the worker only: the supervisor never needs it (see above)

        model = bentoml.xgboost.load_model(self.model_ref)
        # A Booster (xgb.train) or an XGBClassifier: both hold a Booster that predicts P(default).
        self.booster: xgb.Booster = model if isinstance(model, xgb.Booster) else model.get_booster()
        self.booster.set_param({"nthread": 1})
        self.dv = self.model_ref.custom_objects["dictVectorizer"]

    def _probabilities(self, applications: list[CreditApplication]) -> list[float]:
        if not applications:  # the DictVectorizer rejects an empty list; the answer is an empty list
            return []
        features = self.dv.transform([a.model_dump() for a in applications])
        # In-place prediction skips building a DMatrix: same numbers, about half the cost per call.
        return [float(p) for p in np.asarray(self.booster.inplace_predict(features)).reshape(-1)]

    @bentoml.api
    async def classify(self, credit_application: CreditApplication) -> CreditDecision:
        """Classify one credit application (on the event loop: the work is well under a millisecond)."""
        return decide(self._probabilities([credit_application])[0])

    # max_latency_ms is a deadline: a request still queued after it gets a 503, so production sets it
    # to the latency one would rather fail than exceed, not to the batching window (which adapts).
    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=64, max_latency_ms=1000)
    def classify_batch(self, credit_applications: list[CreditApplication]) -> list[CreditDecision]:
        """Classify many applications; the server also merges concurrent calls into batches."""
        return [decide(p) for p in self._probabilities(credit_applications)]


CreditRiskClassifier.add_asgi_middleware(JSONBodiesOnly)
