"""The benchmark: every target in turn, interleaved rounds, wrk at each client count, medians."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from benchmarks import balance, procgroup, serve, wrk
from benchmarks.targets import DEFAULT_TARGETS, ROOT, TARGETS, Target
from bentokit.bento import BuildError
from bentokit.server import ServerError


@dataclass
class Plan:
    """What to measure and for how long."""

    targets: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))
    clients: list[int] = field(default_factory=lambda: [1, 8, 32])
    seconds: float = 10.0
    rounds: int = 3
    warmup: float = 2.0

    def describe(self) -> str:
        per_target = len(self.clients) * (self.seconds + 1) + self.warmup + 8
        return (f"{len(self.targets)} targets × {self.rounds} rounds × clients {self.clients} × "
                f"{self.seconds:g} s (about {per_target * len(self.targets) * self.rounds / 60:.0f} min)")


def load_averages() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_busy() -> float:
    """CPU seconds all cores have spent not idle since boot."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def children_cpu() -> float:
    """CPU seconds used by this process's finished children (the wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_inprocess() -> dict[str, float]:
    """The in-process limit, measured in a child process with one OpenMP thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "benchmarks.inprocess"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"the in-process measurement failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_target(target: Target, plan: Plan, log_dir: Path, round_no: int) -> dict[str, Any]:
    """Serve ``target``, warm it up, then one wrk run per client count with the server's CPU time."""
    log_path = log_dir / f"{target.name}-round{round_no}.log"
    record: dict[str, Any] = {"target": target.name, "round": round_no, "loads": []}
    with serve.serving(target, log_path) as (server, cold):
        record["cold_start_s"] = cold
        url = server.url + target.path
        if plan.warmup > 0:
            wrk.run(url, target.body, max(plan.clients), plan.warmup)
        for clients in plan.clients:
            before = procgroup.cpu_seconds(server.process.pid)
            busy, wrk_before = machine_busy(), children_cpu()
            load_started = wrk.start(url, target.body, clients, plan.seconds)
            held = connections_once_open(server.process.pid, server.port, clients, plan.seconds / 2)
            result = wrk.finish(load_started, plan.seconds)
            after = procgroup.cpu_seconds(server.process.pid)
            used = procgroup.cpu_used(before, after)
            busy, wrk_used = machine_busy() - busy, children_cpu() - wrk_before
            split = balance.cpu_split(before, after)
            record["loads"].append({
                "clients": clients, **result.to_dict(),
                "load_avg": load_averages(),
                "connections_per_process": sorted(held.values(), reverse=True),
                "cpu_s_per_process": split,
                "busiest_connection_share": balance.busiest_share(held.values()),
                "busiest_cpu_share": balance.busiest_share(split),
                "cpu_s": used, "cpu_us_per_req": used / result.requests * 1e6 if result.requests else None,
                "wrk_cpu_s": wrk_used,
                # CPU that neither the server nor wrk used: the other tenants of the shared cores.
                "others_cores": max(0.0, busy - used - wrk_used) / result.seconds if result.seconds else None,
            })
    return record


def connections_once_open(pgid: int, port: int, clients: int, timeout: float) -> dict[int, int]:
    """Connections per server process, read once wrk's ``clients`` connections are all open (or after
    ``timeout`` s, with what is open then)."""
    deadline = time.monotonic() + timeout
    held = balance.connections(pgid, port)
    while sum(held.values()) < clients and time.monotonic() < deadline:
        time.sleep(0.1)  # a poll interval: wrk opens its connections within its first milliseconds
        held = balance.connections(pgid, port)
    return held


PARTIAL_JSON = "results.partial.json"


def run(plan: Plan, out_dir: Path, progress=print) -> dict[str, Any]:
    """Run the plan; returns the raw results (``report.write`` turns them into the report).

    The raw results so far are also written to ``out_dir/results.partial.json`` after every target, so
    that a run cut short still leaves its measurements (``python -m benchmarks report --partial``)."""
    unknown = [name for name in plan.targets if name not in TARGETS]
    if unknown:
        raise ValueError(f"unknown target(s) {unknown}; known: {', '.join(TARGETS)}")
    log_dir = out_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "meta": {
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "load_before": load_averages(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "plan": plan.__dict__,
        },
        "inprocess": [], "runs": [], "errors": [],
    }
    for round_no in range(plan.rounds):
        progress(f"round {round_no + 1}/{plan.rounds}: in-process limit")
        results["inprocess"].append(measure_inprocess())
        # Interleave: each round visits every target, starting one further along the list.
        order = plan.targets[round_no % len(plan.targets):] + plan.targets[:round_no % len(plan.targets)]
        for name in order:
            started = time.monotonic()
            try:
                record = measure_target(TARGETS[name], plan, log_dir, round_no)
            except (ServerError, wrk.WrkError, BuildError) as error:
                results["errors"].append({"target": name, "round": round_no, "error": str(error)[-1500:]})
                progress(f"  {name}: FAILED: {str(error).splitlines()[0]}")
                continue
            results["runs"].append(record)
            (out_dir / PARTIAL_JSON).write_text(json.dumps(results, indent=1) + "\n")
            summary = ", ".join(f"{load['clients']}c {load['rps']:.0f} req/s" for load in record["loads"])
            progress(f"  {name}: cold {record['cold_start_s']:.1f} s, {summary} "
                     f"({time.monotonic() - started:.0f} s)")
    results["meta"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    results["meta"]["load_after"] = load_averages()
    return results


def finish(results: dict[str, Any], out_dir: Path) -> Path:
    """Write the report of a finished run; its checkpoint goes (``results.json`` has everything)."""
    from benchmarks import report

    path = report.write(results, out_dir)
    (out_dir / PARTIAL_JSON).unlink(missing_ok=True)
    return path


def failures(results: dict[str, Any]) -> list[str]:
    """Why the run must count as failed: a server that did not serve, or a failed request."""
    found = [f"{e['target']} round {e['round']}: {e['error'].splitlines()[0]}" for e in results["errors"]]
    for record in results["runs"]:
        for load in record["loads"]:
            if load["failed"]:
                found.append(f"{record['target']} round {record['round']} at {load['clients']} clients: "
                             f"{load['non_2xx']} non-2xx answers, {load['socket_errors']} socket errors")
    return found
