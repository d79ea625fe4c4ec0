"""Where a server's CPU goes under load: py-spy samples every worker while wrk loads the target.

Samples are attributed to the package of the innermost frame (self time), grouped into the layers
of a request (HTTP server, ASGI framework, BentoML, tracing, metrics, validation, features, model),
and scaled to microseconds per request with the CPU time the server used during the run.
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psutil

from benchmarks import procgroup, serve, wrk
from benchmarks.targets import TARGETS

#: First match wins: (layer, pattern searched in the innermost frame's file path).
LAYERS: list[tuple[str, str]] = [
    ("service code", r"solutions/service\.py|benchmarks/production/|benchmarks/apps/"),
    ("model: XGBoost predict", r"[(/]xgboost/"),
    ("features: DictVectorizer", r"[(/](sklearn|scipy)/"),
    ("numpy", r"[(/]numpy/"),
    ("validation: pydantic", r"[(/]pydantic(_core)?/"),
    ("tracing: OpenTelemetry", r"[(/]opentelemetry/"),
    ("metrics: prometheus_client", r"[(/]prometheus_client/"),
    ("logging (access log)", r"[(/]logging/|bentoml/_internal/server/http/access\.py"),
    ("BentoML request handling", r"[(/](_bentoml_impl|_bentoml_sdk|bentoml)/"),
    ("ASGI framework: starlette", r"[(/](starlette|fastapi)/"),
    ("HTTP server: uvicorn/h11", r"[(/](uvicorn|h11|httptools)/"),
    ("WSGI: gunicorn/werkzeug/flask", r"[(/](gunicorn|werkzeug|flask)/"),
    ("thread pool hop: anyio/threading", r"[(/]anyio/|[(/](threading|queue)\.py|[(/]concurrent/"),
    ("asyncio event loop and sockets", r"[(/]asyncio/|[(/](selectors|socket)\.py"),
]
#: Innermost frames that mean "waiting", not working: left out of the CPU breakdown.
IDLE = re.compile(r"^\s*(Condition\.wait|EpollSelector\.select|Queue\.get|_wait_for_tstate_lock|"
                  r"Event\.wait|BaseSelector\.select|select|sleep|accept|poll)\b")


def layer_of(frame: str) -> str:
    """The layer a py-spy frame (``function (path:line)``) belongs to."""
    for name, pattern in LAYERS:
        if re.search(pattern, frame):
            return name
    return "other Python / native"


def attribute(raw_lines: list[str]) -> tuple[collections.Counter, collections.Counter, int]:
    """(samples per layer, samples per innermost function, idle samples) from py-spy raw output."""
    layers: collections.Counter = collections.Counter()
    functions: collections.Counter = collections.Counter()
    idle = 0
    for line in raw_lines:
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        leaf = stack.split(";")[-1]
        if IDLE.match(leaf):
            idle += int(count)
            continue
        layers[layer_of(leaf)] += int(count)
        functions[leaf] += int(count)
    return layers, functions, idle


def record(pids: list[int], seconds: float, out_dir: Path) -> list[Path]:
    """py-spy record (raw collapsed stacks) of each pid for ``seconds``, in parallel."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    outputs, procs = [], []
    for pid in pids:
        outputs.append(out_dir / f"py-spy-{pid}.txt")
        command = [spy, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "250",
                   "-f", "raw", "--full-filenames", "-o", str(outputs[-1]), "--nonblocking"]
        procs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        _, err = proc.communicate(timeout=seconds + 60)
        if proc.returncode != 0:
            raise RuntimeError(f"py-spy failed (it needs ptrace permission: run as the same user, "
                               f"or with CAP_SYS_PTRACE):\n{err[-1000:]}")
    return outputs


def workers(pgid: int) -> list[int]:
    """The processes that answer requests: every Python process of the group but a pure supervisor."""
    procs = procgroup.members(pgid)
    with_children = {p.pid for p in procs if any(c.pid in {q.pid for q in procs} for c in _kids(p))}
    leaves = [p.pid for p in procs if p.pid not in with_children]
    return leaves or [p.pid for p in procs]


def _kids(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children()
    except psutil.Error:
        return []


def short(frame: str) -> str:
    """``function (/long/site-packages/pkg/mod.py:12)`` -> ``function (pkg/mod.py:12)``."""
    return re.sub(r"\(\S*(?:site-packages|python3\.\d+)/", "(", frame)


def markdown(target: str, layers: collections.Counter, functions: collections.Counter, idle: int,
             result: wrk.WrkResult, cpu_us: float) -> str:
    busy = sum(layers.values()) or 1
    lines = [f"# Where the CPU goes: `{target}` under wrk load", "",
             f"{result.rps:.0f} req/s at p99 {result.p99_ms:.1f} ms; the server used {cpu_us:.0f} µs of CPU "
             f"per request. py-spy self-time samples of every worker ({busy} busy, {idle} idle left out), "
             "by layer, scaled to µs per request:", "",
             "| layer | share | µs/request |", "|---|---:|---:|"]
    for name, count in layers.most_common():
        lines.append(f"| {name} | {count / busy:.1%} | {count / busy * cpu_us:.0f} |")
    lines += ["", "Top functions (self time):", "", "| function | share |", "|---|---:|"]
    lines += [f"| `{short(fn)}` | {count / busy:.1%} |" for fn, count in functions.most_common(15)]
    return "\n".join(lines) + "\n"


def main(target: str = "bentoml-production", seconds: float = 15.0, clients: int = 32,
         out_dir: Path = Path(".")) -> int:
    """Profile ``target``'s workers under load; write ``profile-<target>.md``; returns the exit code."""
    folder = out_dir / "profile"
    folder.mkdir(parents=True, exist_ok=True)
    spec = TARGETS[target]
    with serve.serving(spec, folder / f"{target}.log") as (server, _):
        url = server.url + spec.path
        wrk.run(url, spec.body, clients, 2)
        pids = workers(server.process.pid)
        before = procgroup.cpu_seconds(server.process.pid)
        load = wrk.start(url, spec.body, clients, seconds + 2)
        try:
            files = record(pids, seconds, folder)
        finally:
            result = wrk.finish(load, seconds + 2)
        used = procgroup.cpu_used(before, procgroup.cpu_seconds(server.process.pid))
    raw = [line for path in files for line in path.read_text().splitlines()]
    layers, functions, idle = attribute(raw)
    report = out_dir / f"profile-{target}.md"
    report.write_text(markdown(target, layers, functions, idle, result, used / max(result.requests, 1) * 1e6))
    print(report.read_text())
    return 0
