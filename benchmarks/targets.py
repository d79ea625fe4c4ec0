"""The servers under test: how to start each one, where to send the request, what body."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bentokit import contract, server

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = "solutions.service:CreditRiskClassifier"
VARIANTS = "benchmarks.apps.bentoml_variants"
FLASK_APP = "benchmarks.apps.flask_app"
FASTAPI_APP = "benchmarks.apps.fastapi_app:app"

SINGLE_BODY = json.dumps(contract.wrap(contract.SAMPLE_APPLICANT))
FLAT_BODY = json.dumps(contract.SAMPLE_APPLICANT)
BATCH_BODY = json.dumps(contract.wrap_batch([contract.SAMPLE_APPLICANT]))
ONE_OMP_THREAD = {"OMP_NUM_THREADS": "1"}
#: ``PYTHONPATH`` entry whose ``sitecustomize`` makes uvloop and httptools unimportable, so uvicorn's
#: "auto" falls back to asyncio + h11 (as where they are not installed). BentoML has no option for it.
ASYNCIO_H11_ENV = {"PYTHONPATH": str(ROOT / "benchmarks" / "apps" / "without_uvloop")}


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
    #: The settings it runs with, for the report.
    settings: str = ""

    def launch(self, log_path: Path | None = None) -> server.RunningServer:
        """Start the server on a free loopback port in its own process group (not yet ready)."""
        port = server.free_port()
        return server.launch(self.command(port), port, ROOT, env=dict(self.env), log_path=log_path)


@functools.cache
def production_bento() -> str:
    """The production bento's tag, built once per process from the root ``bentofile.yaml`` into the
    current ``BENTOML_HOME``: the benchmarks serve what the image ships, not the source tree."""
    from bentokit import bento

    return str(bento.build(ROOT).tag)


def config_options(*options: str, service: str = "CreditRiskClassifier") -> dict[str, str]:
    """The environment that changes the production service's settings by BentoML's configuration
    (``BENTOML_CONFIG_OPTIONS``), as an operator would: ``tracing.excluded_urls=[]`` turns tracing back on."""
    return {"BENTOML_CONFIG_OPTIONS": " ".join(f"services.{service}.{option}" for option in options)}


def _python(*args: str) -> Callable[[int], list[str]]:
    return lambda port: [sys.executable, *[a.format(port=port, host=server.HOST) for a in args]]


def _bentoml(target: str | Callable[[], str]) -> Callable[[int], list[str]]:
    def command(port: int) -> list[str]:
        name = target() if callable(target) else target
        return _python("-m", "bentoml", "serve", name, "--host", "{host}", "--port", "{port}")(port)
    return command


def _gunicorn(*extra: str, app: str = f"{FLASK_APP}:app") -> Callable[[int], list[str]]:
    return _python("-m", "gunicorn", "--workers", "2", *extra, "--bind", "{host}:{port}", app)


def _uvicorn(app: str, *extra: str) -> Callable[[int], list[str]]:
    return _python("-m", "uvicorn", app, "--host", "{host}", "--port", "{port}", "--no-access-log", *extra)


PRODUCTION_SETTINGS = ("2 workers (cpu_count), async classify, uvloop + httptools, tracing off for "
                       "/classify*, access log off, 1 XGBoost thread, in-place predict, gc.freeze()")

TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("flask-dev", "Flask dev server (week 5, 2022)", _python("-m", FLASK_APP, "--port", "{port}"),
           settings="threaded dev server, no validation"),
    Target("gunicorn", "gunicorn + Flask (week 5 as shipped)", _gunicorn(),
           settings="2 sync workers, default OpenMP threads, no validation"),
    Target("gunicorn-tuned", "gunicorn + Flask, tuned", _gunicorn(), env=ONE_OMP_THREAD,
           settings="2 sync workers, OMP_NUM_THREADS=1, no validation"),
    Target("week5-2025", "week-5 2025: FastAPI + pydantic + sklearn pipeline, uvicorn as shipped",
           _uvicorn("benchmarks.apps.week5_2025:app", "--http", "h11", "--loop", "asyncio"),
           body=FLAT_BODY, settings="1 uvicorn worker, asyncio + h11 (plain `uvicorn`), flat body"),
    Target("fastapi", "FastAPI + uvicorn[standard]", _uvicorn(FASTAPI_APP, "--workers", "2"),
           env=ONE_OMP_THREAD, settings="2 uvicorn workers, uvloop + httptools, OMP_NUM_THREADS=1, "
                                        "sync endpoint, access log off"),
    Target("gunicorn-uvicorn", "FastAPI on gunicorn with uvicorn workers",
           _gunicorn("--worker-class", "uvicorn.workers.UvicornWorker", app=FASTAPI_APP),
           env=ONE_OMP_THREAD, settings="2 UvicornWorker, uvloop + httptools, OMP_NUM_THREADS=1"),
    Target("bentoml-solution", "BentoML, the solution as the notebooks teach it", _bentoml(SOLUTION),
           predict_cost="solution_one_cpu_us",
           settings="1 worker, sync classify, DMatrix predict, tracing and access log on (defaults)"),
    Target("bentoml-production", "BentoML production service, from its built bento, /classify",
           _bentoml(production_bento), predict_cost="service_one_cpu_us", settings=PRODUCTION_SETTINGS),
    Target("bentoml-batching", "BentoML production service, /classify_batch (adaptive batching)",
           _bentoml(production_bento), path=contract.CLASSIFY_BATCH_PATH, body=BATCH_BODY,
           predict_cost="service_batch_row_cpu_us", settings=PRODUCTION_SETTINGS + ", max_batch_size 64"),
    # The production service with one setting put back (what each setting saves):
    Target("prod-asyncio-h11", "production without uvloop/httptools (asyncio + h11)",
           _bentoml(production_bento), env=ASYNCIO_H11_ENV,
           predict_cost="service_one_cpu_us", settings="production, uvloop/httptools unimportable"),
    Target("prod-traced", "production with tracing on for /classify", _bentoml(production_bento),
           env=config_options("tracing.excluded_urls=[]"), predict_cost="service_one_cpu_us",
           settings="production, tracing.excluded_urls=[] (by BENTOML_CONFIG_OPTIONS)"),
    Target("prod-access-log", "production with the access log on", _bentoml(production_bento),
           env=config_options("logging.access.enabled=true"), predict_cost="service_one_cpu_us",
           settings="production, access log on (by BENTOML_CONFIG_OPTIONS)"),
    Target("prod-sync", "production with a sync `def classify`", _bentoml(f"{VARIANTS}:SyncApi"),
           predict_cost="service_one_cpu_us", settings="production, sync API (thread hand-off)"),
    Target("prod-dmatrix", "production predicting through a DMatrix", _bentoml(f"{VARIANTS}:DMatrixPredict"),
           predict_cost="solution_one_cpu_us", settings="production, DMatrix + predict"),
    Target("prod-gc", "production without gc.freeze()", _bentoml(f"{VARIANTS}:NoGcFreeze"),
           predict_cost="service_one_cpu_us", settings="production, no gc.freeze() after loading"),
    Target("prod-one-worker", "production with one worker", _bentoml(production_bento),
           env=config_options("workers=1"), predict_cost="service_one_cpu_us",
           settings="production, workers=1 (by BENTOML_CONFIG_OPTIONS)"),
]}

#: The contender the headline ratios are taken against.
BASELINE_TARGET = "gunicorn-tuned"
#: The production service, the one the goal is about.
GOAL_TARGET = "bentoml-production"
#: The targets `run` measures by default: the peers and the two BentoML services (the prod-* variants
#: are asked for with ``--targets`` or ``--variants``).
DEFAULT_TARGETS = [name for name in TARGETS if not name.startswith("prod-")]
