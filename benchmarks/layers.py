"""What BentoML's own request path costs, layer by layer, with no socket and no HTTP parser.

``python -m benchmarks layers`` calls the production service's ASGI app (what each worker of
``bentoml serve`` runs behind uvicorn) in-process, on a uvloop event loop, with the POST /classify of
the sample applicant, and measures its CPU per request: with all its middlewares, with one of them
left out at a time, and with BentoML's endpoint alone (only the request context it needs). Each
configuration is measured in a process of its own (an app's Prometheus metrics can be made once per
process), in interleaved rounds. With the service's own ``classify`` measured in-process and the
server's CPU per request under wrk (``results.json`` of ``python -m benchmarks run``), the server's
overhead splits into: the HTTP server (uvicorn, httptools, the event loop, the kernel's sockets),
BentoML's middlewares, and BentoML's endpoint (routing, reading and validating the body, calling the
API, serializing the answer). Writes ``layers.md`` and ``layers.json`` beside the report.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import run
from bentokit import contract

ROOT = Path(__file__).resolve().parent.parent
#: Configuration -> the middleware classes left out of the production service's app.
CONFIGURATIONS: dict[str, tuple[str, ...]] = {
    "all middlewares (as served)": (),
    "without the metrics middleware": ("RunnerTrafficMetricsMiddleware",),
    "without the tracing middleware": ("OpenTelemetryMiddleware",),
    "without the timeout middleware": ("TimeoutMiddleware",),
    "without the kit's JSONBodiesOnly": ("JSONBodiesOnly",),
    "BentoML's endpoint alone": ("RunnerTrafficMetricsMiddleware", "OpenTelemetryMiddleware",
                                 "TimeoutMiddleware", "JSONBodiesOnly"),
}
ALL, ENDPOINT = "all middlewares (as served)", "BentoML's endpoint alone"


def _scope(body: bytes) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": contract.CLASSIFY_PATH,
            "raw_path": contract.CLASSIFY_PATH.encode(), "query_string": b"", "root_path": "",
            "server": ("127.0.0.1", 3000), "client": ("127.0.0.1", 50000), "state": {},
            "headers": [(b"host", b"127.0.0.1:3000"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())]}


async def _drive(app: Any, requests: int, repeats: int = 5) -> float:
    """Start the app (its lifespan loads the model), check one answer, then the CPU µs per request:
    the least of ``repeats`` loops of ``requests`` calls (the least disturbed by the rest of the machine)."""
    startup: asyncio.Queue = asyncio.Queue()
    await startup.put({"type": "lifespan.startup"})
    started = asyncio.Event()

    async def lifespan_send(message: dict) -> None:
        if message["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"the service did not start: {message.get('message')}")
        if message["type"] == "lifespan.startup.complete":
            started.set()

    lifespan = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                         startup.get, lifespan_send))
    await started.wait()
    body = json.dumps(contract.wrap(contract.SAMPLE_APPLICANT)).encode()

    async def one() -> list[dict]:
        sent: list[dict] = []
        pending = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict:
            if pending:
                return pending.pop()
            await asyncio.Event().wait()  # the client never disconnects (never reached: no second read)
            raise AssertionError

        async def send(message: dict) -> None:
            sent.append(message)

        await app(_scope(body), receive, send)
        return sent

    answer = await one()
    status, text = answer[0]["status"], b"".join(m.get("body", b"") for m in answer[1:])
    if status != 200 or json.loads(text).get("status") not in contract.STATUSES:
        raise RuntimeError(f"the app answered {status}: {text[:200]!r}")
    for _ in range(requests // 4):  # warm-up
        await one()
    costs = []
    for _ in range(repeats):
        cpu = time.process_time()
        for _ in range(requests):
            await one()
        costs.append((time.process_time() - cpu) / requests * 1e6)
    lifespan.cancel()
    return min(costs)


def measure_one(configuration: str, requests: int = 2000) -> float:
    """In this process: the production app without the configuration's middlewares, CPU µs/request."""
    import uvloop

    from benchmarks.production.service import CreditRiskClassifier
    from bentokit import private

    app = private.asgi_app_without(CreditRiskClassifier, CONFIGURATIONS[configuration])
    return uvloop.run(_drive(app, requests))


def _child(configuration: str, requests: int) -> float:
    done = subprocess.run([sys.executable, "-m", "benchmarks.layers", configuration, str(requests)],
                          cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {configuration!r} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def measure(rounds: int = 3, requests: int = 2000, progress=print) -> dict[str, Any]:
    """Every configuration and the service's own classify, ``rounds`` interleaved times; medians."""
    found: dict[str, list[float]] = {name: [] for name in CONFIGURATIONS}
    own: list[float] = []
    for round_no in range(rounds):
        for name in CONFIGURATIONS:
            found[name].append(_child(name, requests))
        own.append(run.measure_inprocess()["service_one_cpu_us"])
        progress(f"round {round_no + 1}/{rounds}: " + ", ".join(f"{n} {v[-1]:.0f}" for n, v in found.items())
                 + f", own classify {own[-1]:.0f} µs")
    return {"rounds": rounds, "requests": requests, "own_classify_us": statistics.median(own),
            "configurations": {name: statistics.median(values) for name, values in found.items()},
            "all_rounds": found}


def split(layers: dict[str, Any], server_us: float | None) -> list[tuple[str, float]]:
    """The server's CPU per request as its parts (µs): the HTTP server (when ``server_us`` is known),
    the middlewares, BentoML's endpoint and the service's own classify."""
    app, endpoint = layers["configurations"][ALL], layers["configurations"][ENDPOINT]
    own = layers["own_classify_us"]
    parts = [("BentoML's middlewares (metrics, tracing, timeout) and the kit's JSONBodiesOnly",
              app - endpoint),
             ("BentoML's endpoint: routing, body, validation, the call, the answer, the context",
              endpoint - own),
             ("the service's own classify (features, in-place predict, decision)", own)]
    if server_us is not None:
        parts.insert(0, ("the HTTP server: uvicorn, httptools, the event loop, the kernel's sockets",
                         server_us - app))
    return parts


def write(layers: dict[str, Any], out_dir: Path, server: tuple[float, float] | None) -> Path:
    """``layers.json`` and ``layers.md`` in ``out_dir``; ``server``: the production server's CPU per
    request under wrk and its own classify, as ``python -m benchmarks run`` measured them."""
    server_us = server[0] if server else None
    (out_dir / "layers.json").write_text(json.dumps({**layers, "server_us": server_us}, indent=1) + "\n")
    configurations = layers["configurations"]
    own = layers["own_classify_us"]
    lines = ["# BentoML's request path, layer by layer (the production service, POST /classify)", "",
             f"The production service's ASGI app called in-process (no socket, no HTTP parser), CPU µs per "
             f"request, the least of 5 loops of {layers['requests']} requests, median of {layers['rounds']} "
             f"interleaved rounds; each configuration in a process of its own (`python -m benchmarks "
             f"layers`).", "",
             "| configuration | CPU µs/request | saved against all |", "|---|---:|---:|"]
    for name, value in configurations.items():
        lines.append(f"| {name} | {value:.0f} | {configurations[ALL] - value:.0f} |")
    lines += ["", f"The service's own `classify` in-process, in the same rounds: {own:.0f} µs.", "",
              "## The server's CPU per request, split", ""]
    if server is None:
        lines.append("No `results.json` with `bentoml-production` at 32 clients: run "
                     "`python -m benchmarks run` for the server's own figure.")
    else:
        lines.append(f"`bentoml-production` under wrk at 32 clients (`report.md`): {server[0]:.0f} µs per "
                     f"request, {server[0] / server[1]:.1f}× its own classify measured in that run "
                     f"({server[1]:.0f} µs; the goal: 2.5×). The HTTP server's part is that figure minus "
                     f"the app's in-process cost above, from two runs: read it as an estimate.")
    lines += ["", "| part | µs/request | × own classify |", "|---|---:|---:|"]
    for name, value in split(layers, server_us):
        lines.append(f"| {name} | {value:.0f} | {value / own:.2f} |")
    path = out_dir / "layers.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def production_server(out_dir: Path) -> tuple[float, float] | None:
    """``bentoml-production``'s CPU per request at 32 clients in ``out_dir/results.json`` and the
    service's own classify measured in the same run, if there."""
    try:
        summary = json.loads((out_dir / "results.json").read_text())["summary"]
        return (summary["targets"]["bentoml-production"]["loads"]["32"]["cpu_us_per_req"],
                summary["inprocess"]["service_one_cpu_us"])
    except (OSError, KeyError, ValueError):
        return None


if __name__ == "__main__":
    print(measure_one(sys.argv[1], int(sys.argv[2])))
