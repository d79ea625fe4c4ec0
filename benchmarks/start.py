"""What ``bentokit.lazy_bentoml`` saves: ``bentoml serve`` and ``bentoml build`` of the course's service.

``python -m benchmarks start`` serves ``solutions/service.py`` (XGBoost imported at its top, as notebook
3 teaches) with BentoML's own command line and with ``python -m bentokit.lazy_bentoml``, in interleaved
rounds: the wall time from the command to ``/readyz`` answering 200, and the CPU its supervisor and its
workers used by then; then ``bentoml build`` of the same folder both ways (wall and CPU). Writes
``start.md`` and ``start.json`` beside the report.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from bentokit import lazy_bentoml, server

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
TARGET = "service:CreditRiskClassifier"
#: How each variant runs BentoML's command line.
COMMANDS = {"bentoml": [sys.executable, "-m", "bentoml"], "lazy_bentoml": lazy_bentoml.command()}


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def measure_serve(variant: str, timeout: float = 180) -> dict[str, float]:
    """One start of the solution's service: seconds to ready, CPU of the supervisor and of its workers."""
    port = server.free_port()
    command = [*COMMANDS[variant], "serve", TARGET, "--host", server.HOST, "--port", str(port)]
    started = time.monotonic()
    running = server.launch(command, port, SOLUTIONS)
    try:
        running.wait_ready(timeout)
        ready = time.monotonic() - started
        supervisor = psutil.Process(running.process.pid)
        workers = sum(_cpu(p) for p in supervisor.children(recursive=True))
        return {"ready_s": ready, "supervisor_cpu_s": _cpu(supervisor), "workers_cpu_s": workers}
    finally:
        running.stop()


def measure_build(variant: str, timeout: float = 300) -> dict[str, float]:
    """One ``bentoml build`` of the solution's folder: its wall time and CPU."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run([*COMMANDS[variant], "build", str(SOLUTIONS), "--output", "tag"], cwd=SOLUTIONS,
                   env=server.kit_env(), capture_output=True, check=True, timeout=timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"build_s": time.monotonic() - started, "build_cpu_s": cpu}


def measure(rounds: int = 3, progress=print) -> dict[str, Any]:
    """Every variant ``rounds`` interleaved times; the medians and every round."""
    found: dict[str, list[dict[str, float]]] = {variant: [] for variant in COMMANDS}
    for round_no in range(rounds):
        for variant in COMMANDS:
            found[variant].append({**measure_serve(variant), **measure_build(variant)})
            progress(f"round {round_no + 1}/{rounds} {variant}: "
                     + ", ".join(f"{k} {v:.2f}" for k, v in found[variant][-1].items()))
    medians = {variant: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
               for variant, runs in found.items()}
    return {"rounds": rounds, "medians": medians, "all_rounds": found}


LABELS = {"ready_s": "start to /readyz, s", "supervisor_cpu_s": "supervisor CPU, s",
          "workers_cpu_s": "workers' CPU, s", "build_s": "`bentoml build`, s", "build_cpu_s": "build CPU, s"}


def write(found: dict[str, Any], out_dir: Path, machine: str = "") -> Path:
    """``start.json`` and ``start.md`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "start.json").write_text(json.dumps(found, indent=1) + "\n")
    plain, lazy = found["medians"]["bentoml"], found["medians"]["lazy_bentoml"]
    lines = ["# Starting and building the course's service: `bentoml` and `bentokit.lazy_bentoml`", "",
             f"`solutions/service.py` served and built {found['rounds']} times each way, interleaved; "
             "medians (`python -m benchmarks start`). " + machine, "",
             "| measure | `python -m bentoml` | `python -m bentokit.lazy_bentoml` | saved |",
             "|---|---:|---:|---:|"]
    for key, label in LABELS.items():
        lines.append(f"| {label} | {plain[key]:.2f} | {lazy[key]:.2f} | {plain[key] - lazy[key]:.2f} |")
    path = out_dir / "start.md"
    path.write_text("\n".join(lines) + "\n")
    return path
