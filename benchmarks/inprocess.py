"""The in-process limit: what one prediction costs with no server at all.

Run as ``python -m benchmarks.inprocess`` (a child of the harness, with ``OMP_NUM_THREADS=1``, so
XGBoost's thread pool does not blur CPU time); it prints one JSON object, in microseconds.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from bentokit import contract

REPEATS = 5
T = TypeVar("T")


def cost(call: Callable[[], object], seconds: float = 0.4) -> tuple[float, float]:
    """(CPU µs, wall µs) per call: the median of ``REPEATS`` timed loops of about ``seconds`` each."""
    for _ in range(20):
        call()
    calls = 20
    started = time.perf_counter()
    while time.perf_counter() - started < seconds / 4:
        call()
        calls += 1
    cpu, wall = [], []
    for _ in range(REPEATS):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(calls):
            call()
        cpu.append((time.process_time() - c0) / calls * 1e6)
        wall.append((time.perf_counter() - w0) / calls * 1e6)
    return statistics.median(cpu), statistics.median(wall)


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never awaits, without an event loop (whose own cost would be counted)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("the coroutine awaited something: run it on an event loop")


def measure(batch: int = 64) -> dict[str, float]:
    """The course path (``dv.transform`` + DMatrix + predict), the solution's ``classify`` and the
    production service's own path (``classify`` and ``classify_batch``), all without validation."""
    import bentoml

    from benchmarks.production.service import CreditRiskClassifier
    from bentokit import training
    from solutions.service import CreditApplication
    from solutions.service import CreditRiskClassifier as Solution

    ref = bentoml.models.get(f"{contract.MODEL_NAME}:latest")
    model = bentoml.xgboost.load_model(ref)
    dv = ref.custom_objects[contract.CUSTOM_OBJECT_KEY]
    one = [contract.SAMPLE_APPLICANT]
    many = (list(contract.GOLDEN_APPLICANTS.values()) * batch)[:batch]
    service, solution = CreditRiskClassifier(), Solution()
    app_one = [CreditApplication(**a) for a in one]
    app_many = [CreditApplication(**a) for a in many]

    course_cpu, course_wall = cost(lambda: training.predict_proba(model, dv, one))
    batch_cpu, _ = cost(lambda: training.predict_proba(model, dv, many))
    solution_cpu, _ = cost(lambda: solution.classify(app_one[0]))
    service_cpu, _ = cost(lambda: run_coroutine(service.classify(app_one[0])))
    service_batch_cpu, _ = cost(lambda: service.classify_batch(app_many))
    # What pydantic costs per request: the body validated from JSON bytes, the answer serialized.
    body = json.dumps(contract.SAMPLE_APPLICANT).encode()
    decision = solution.classify(app_one[0])
    validate_cpu, _ = cost(lambda: CreditApplication.model_validate_json(body))
    serialize_cpu, _ = cost(lambda: decision.model_dump_json())
    return {
        "course_one_cpu_us": course_cpu,
        "course_one_wall_us": course_wall,
        "course_batch_row_cpu_us": batch_cpu / batch,
        "solution_one_cpu_us": solution_cpu,
        "service_one_cpu_us": service_cpu,
        "service_batch_row_cpu_us": service_batch_cpu / batch,
        "validate_cpu_us": validate_cpu,
        "serialize_cpu_us": serialize_cpu,
        "batch": batch,
    }


if __name__ == "__main__":
    print(json.dumps(measure()))
