"""The servers under test: how to start each one, where to send the request, what body."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bentokit import contract, server

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = "solutions.service:CreditRiskClassifier"
BASELINE = "benchmarks.apps.bentoml_baseline:CreditRiskClassifier"
ASYNC_VARIANT = "benchmarks.apps.bentoml_async:CreditRiskClassifier"
FLASK_APP = "benchmarks.apps.flask_app"

SINGLE_BODY = json.dumps(contract.wrap(contract.SAMPLE_APPLICANT))
BATCH_BODY = json.dumps(contract.wrap_batch([contract.SAMPLE_APPLICANT]))
ONE_OMP_THREAD = {"OMP_NUM_THREADS": "1"}


@dataclass(frozen=True)
class Target:
    """One contender: a server command, the route it is loaded on and the body sent there."""

    name: str
    label: str
    command: Callable[[int], list[str]]
    path: str = contract.CLASSIFY_PATH
    body: str = SINGLE_BODY
    env: Mapping[str, str] = field(default_factory=dict)
    #: Which in-process measurement is this server's own prediction work (see ``inprocess.py``).
    predict_cost: str = "course_one_cpu_us"

    def launch(self, log_path: Path | None = None) -> server.RunningServer:
        """Start the server on a free loopback port in its own process group (not yet ready)."""
        port = server.free_port()
        return server.launch(self.command(port), port, ROOT, env=dict(self.env), log_path=log_path)


def _python(*args: str) -> Callable[[int], list[str]]:
    return lambda port: [sys.executable, *[a.format(port=port, host=server.HOST) for a in args]]


def _bentoml(target: str) -> Callable[[int], list[str]]:
    return _python("-m", "bentoml", "serve", target, "--host", "{host}", "--port", "{port}")


def _gunicorn(*extra: str) -> Callable[[int], list[str]]:
    return _python("-m", "gunicorn", "--workers", "2", *extra, "--bind", "{host}:{port}", f"{FLASK_APP}:app")


TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("flask-dev", "Flask dev server (week 5)", _python("-m", FLASK_APP, "--port", "{port}")),
    Target("gunicorn", "gunicorn + Flask, 2 workers (as shipped)", _gunicorn()),
    Target("gunicorn-tuned", "gunicorn + Flask, 2 workers, OMP_NUM_THREADS=1", _gunicorn(),
           env=ONE_OMP_THREAD),
    Target("fastapi", "FastAPI + uvicorn, 2 workers, OMP_NUM_THREADS=1",
           _python("-m", "uvicorn", "benchmarks.apps.fastapi_app:app", "--workers", "2",
                   "--host", "{host}", "--port", "{port}", "--no-access-log"), env=ONE_OMP_THREAD),
    Target("bentoml-defaults", "BentoML, decorator defaults, course predict path", _bentoml(BASELINE)),
    Target("bentoml-tuned", "BentoML reference service (tuned), /classify", _bentoml(REFERENCE),
           predict_cost="service_one_cpu_us"),
    Target("bentoml-async", "the reference's settings with `async def classify` (benchmark variant)",
           _bentoml(ASYNC_VARIANT), predict_cost="service_one_cpu_us"),
    Target("bentoml-batching", "BentoML reference service, /classify_batch (adaptive batching)",
           _bentoml(REFERENCE), path=contract.CLASSIFY_BATCH_PATH, body=BATCH_BODY,
           predict_cost="service_batch_row_cpu_us"),
]}

#: The contender the headline ratios are taken against.
BASELINE_TARGET = "gunicorn-tuned"
#: The reference service as tuned, the one the goal is about.
GOAL_TARGET = "bentoml-tuned"
