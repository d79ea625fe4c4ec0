"""The production-tuned service: the solution's answers, its settings, its hardening, tracing on demand."""

from __future__ import annotations

import gc
import subprocess
import sys
import time

import pytest
import requests
import yaml

from benchmarks import inprocess, targets
from benchmarks.production import service as production
from bentokit import contract, server
from tests.conftest import ROOT, tracing_excluded_urls

PRODUCTION_TARGET = "benchmarks.production.service:CreditRiskClassifier"
#: Switches tracing back on for every route, through configuration only (what the docs tell operators).
TRACING_ON = "services.CreditRiskClassifier.tracing.excluded_urls=[]"


@pytest.fixture(autouse=True)
def unfrozen():
    """The production service's __init__ calls gc.freeze(): each test starts and ends unfrozen."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def post(url: str, body: object, path: str = contract.CLASSIFY_PATH, **kwargs) -> requests.Response:
    return requests.post(url + path, json=body, timeout=30, **kwargs)


def test_production_keeps_the_solution_contract_and_differs_in_settings():
    from solutions.service import CreditRiskClassifier as Solution

    svc = production.CreditRiskClassifier
    assert svc.name == Solution.name == contract.SERVICE_CLASS
    assert set(svc.apis) == set(Solution.apis)
    assert svc.config["tracing"] == {"excluded_urls": production.HOT_ROUTES}
    assert svc.config["logging"]["access"]["enabled"] is False
    assert svc.config["workers"] == "cpu_count"
    assert "workers" not in Solution.config and "tracing" not in Solution.config


def test_production_schema_and_decision_are_the_solutions_own():
    """The production service repeats the solution's schema (so as not to import XGBoost): the same
    JSON schemas, names and decisions, at and around each threshold."""
    import solutions.service as solution

    for name in ("CreditApplication", "CreditDecision"):
        ours, theirs = getattr(production, name), getattr(solution, name)
        assert ours.__name__ == theirs.__name__ and ours.__doc__ == theirs.__doc__
        assert ours.model_json_schema() == theirs.model_json_schema(), name
    for p in (0.0, 0.1, 0.25, 0.2500001, 0.4, 0.5, 0.5000001, 0.9, 1.0):
        assert production.decide(p).model_dump() == solution.decide(p).model_dump(), p


def test_importing_the_production_service_does_not_import_xgboost(saved_model):
    """``bentoml serve`` imports the module in its supervisor only to read the configuration."""
    probe = ("import sys, benchmarks.production.service; "
             "print(sorted(m for m in ('xgboost', 'sklearn', 'scipy', 'pandas') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_production_classify_equals_the_solution_in_process(saved_model, expected):
    from solutions.service import CreditRiskClassifier as Solution

    fast, plain = production.CreditRiskClassifier(), Solution()
    applicants = list(contract.GOLDEN_APPLICANTS.values())
    for applicant, want in zip(applicants, expected(applicants), strict=True):
        app = production.CreditApplication(**applicant)
        decision = inprocess.run_coroutine(fast.classify(app))
        assert decision.probability == pytest.approx(want, abs=1e-6)
        assert decision.model_dump() == plain.classify(app).model_dump()
    apps = [production.CreditApplication(**a) for a in applicants]
    batch = [d.model_dump() for d in fast.classify_batch(apps)]
    assert batch == [plain.classify(a).model_dump() for a in apps]


def test_run_coroutine_refuses_one_that_awaits():
    import asyncio

    async def waits():
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="awaited"):
        inprocess.run_coroutine(waits())


def test_the_root_bentofile_builds_the_production_service_with_the_fast_server_packages():
    bentofile = yaml.safe_load((ROOT / "bentofile.yaml").read_text())
    assert bentofile["service"] == PRODUCTION_TARGET
    assert bentofile["include"] == ["benchmarks/production/service.py"]
    packages = dict(p.split("==") for p in bentofile["python"]["packages"])
    from importlib.metadata import version
    for package in ("uvloop", "httptools"):
        assert packages[package] == version(package), package


def test_benchmark_targets_serve_the_built_bento_and_each_variant_differs_once():
    assert targets.GOAL_TARGET == "bentoml-production"
    assert targets.TARGETS["bentoml-production"].command.__closure__  # built lazily, not at import
    variants = [name for name in targets.TARGETS if name.startswith("prod-")]
    assert variants and not set(variants) & set(targets.DEFAULT_TARGETS)
    assert all(targets.TARGETS[name].settings.startswith("production, ") for name in variants)


@pytest.mark.server
def test_production_service_over_http(saved_model, expected):
    with server.serving(PRODUCTION_TARGET, ROOT, timeout=90) as running:
        ok = post(running.url, contract.wrap(contract.SAMPLE_APPLICANT))
        bad = post(running.url, contract.invalid_bodies()["unknown_category"])
        multipart = requests.post(running.url + contract.CLASSIFY_PATH, data=b"--x\r\n", timeout=30,
                                  headers={"Content-Type": "multipart/form-data"})
        metrics = requests.get(running.url + "/metrics", timeout=10)
        deadline = time.monotonic() + 10
        while "answered 400" not in running.log_path.read_text(errors="replace"):
            assert time.monotonic() < deadline, "no 'answered 400' line in the server log"
            time.sleep(0.1)  # the server writes its log line after the response has gone out
        log = running.log_path.read_text(errors="replace")
    assert ok.status_code == 200
    assert ok.json()["probability"] == pytest.approx(expected([contract.SAMPLE_APPLICANT])[0], abs=1e-6)
    assert bad.status_code == 400
    # A malformed multipart body is refused with a 415, not a 500 (the fuzz found it).
    assert multipart.status_code == 415 and multipart.json()["detail"]
    assert metrics.status_code == 200 and "bentoml_service_request" in metrics.text
    assert "/classify" not in [line for line in log.splitlines() if "(status=" in line]  # no access log
    # The 400 is one INFO line, not an ERROR with a traceback.
    assert "Invalid request on /classify [POST] answered 400" in log and "[INFO]" in log, log
    assert "Traceback" not in log and "[ERROR]" not in log, log


@pytest.mark.parametrize(("options", "excluded"), [
    ("", sorted(production.HOT_ROUTES)),
    (TRACING_ON, []),
])
def test_tracing_is_switched_back_on_by_configuration(saved_model, options, excluded):
    env = server.kit_env({"BENTOML_CONFIG_OPTIONS": options})
    assert tracing_excluded_urls("benchmarks.production.service", ROOT, env) == excluded


def test_week5_2025_peer_answers_like_the_model(saved_model, expected):
    import asyncio

    import httpx

    from benchmarks.apps import week5_2025

    async def post_flat_and_wrapped() -> list[httpx.Response]:
        # httpx's own ASGI transport (Starlette's TestClient warns that its httpx use is deprecated).
        transport = httpx.ASGITransport(app=week5_2025.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://peer") as client:
            return [await client.post(contract.CLASSIFY_PATH, json=body)
                    for body in (contract.SAMPLE_APPLICANT, contract.wrap(contract.SAMPLE_APPLICANT))]

    answer, wrapped = asyncio.run(post_flat_and_wrapped())
    assert answer.status_code == 200
    assert answer.json()["probability"] == pytest.approx(expected([contract.SAMPLE_APPLICANT])[0], abs=1e-6)
    assert answer.json()["status"] == contract.status_for(answer.json()["probability"])
    assert wrapped.status_code == 422  # the 2025 course's body is flat


def test_code_variants_differ_from_production_in_one_thing_only(saved_model):
    import inspect

    from benchmarks.apps import bentoml_variants as variants

    app = production.CreditApplication(**contract.SAMPLE_APPLICANT)
    want = inprocess.run_coroutine(production.CreditRiskClassifier().classify(app))
    assert gc.get_freeze_count() > 0  # production freezes what it loaded ...
    gc.unfreeze()
    assert inprocess.run_coroutine(variants.NoGcFreeze.inner().classify(app)) == want
    assert gc.get_freeze_count() == 0  # ... and that is NoGcFreeze's one difference
    sync = variants.SyncApi.inner()
    assert not inspect.iscoroutinefunction(variants.SyncApi.inner.classify.func)
    assert sync.classify(app) == want
    assert inprocess.run_coroutine(variants.DMatrixPredict.inner().classify(app)) == want
    for variant in (variants.SyncApi, variants.DMatrixPredict, variants.NoGcFreeze):
        assert variant.config == production.CreditRiskClassifier.config
