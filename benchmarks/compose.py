"""When does splitting the service in two (``solutions/composed_service.py``) pay? Single vs split.

    python -m benchmarks.compose [--seconds 8] [--clients 16]

For the course model (175 rounds) and a heavy one (the homework's 10000 rounds), in a throw-away
BentoML home, each of the two servers is started, warmed up and loaded with wrk (bounded in time):

- ``single``: ``solutions.service:CreditRiskClassifier``, one service, 2 workers each holding the model;
- ``split``: ``solutions.composed_service:CreditRiskApi``, 2 API workers + 1 model-service worker.

It records req/s, p50/p99, failures, the servers' CPU per request and memory, and the load average
before and after each run (the machine is shared), into ``benchmarks/results/compose.json``, which
notebook 04b reads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks import procgroup, serve, store, wrk
from benchmarks.targets import ROOT, SINGLE_BODY, Target, _bentoml

RESULTS = ROOT / "benchmarks" / "results" / "compose.json"
MODELS = {"course": 175, "heavy": 10000}
TARGETS = {
    "single": Target("single", "one service, 2 workers (solutions/service.py)",
                     _bentoml("solutions.service:CreditRiskClassifier")),
    "split": Target("split", "API service (2 workers) + model service (1 worker)",
                    _bentoml("solutions.composed_service:CreditRiskApi")),
}


def loadavg() -> list[float]:
    """``cat /proc/loadavg``'s three averages: the other tenants of the shared machine show here."""
    return [round(x, 2) for x in os.getloadavg()]


def save_model(rounds: int) -> str:
    """Train the course model with ``rounds`` boosting rounds and save it as the latest version."""
    from bentokit import data, training

    trained = training.train(data.load(), num_boost_round=rounds)
    return str(training.save(trained, owner="benchmarks", stage=f"bench-{rounds}").tag)


def measure(target: Target, clients: int, seconds: float, warmup: float, log_dir: Path) -> dict[str, Any]:
    """Serve ``target``, warm it up, then one bounded wrk run; the server's CPU and memory beside it."""
    with serve.serving(target, log_dir / f"{target.name}.log") as (server, cold):
        url = server.url + target.path
        wrk.run(url, SINGLE_BODY, clients, warmup)
        before, load_before = procgroup.cpu_seconds(server.process.pid), loadavg()
        result = wrk.run(url, SINGLE_BODY, clients, seconds)
        used = procgroup.cpu_used(before, procgroup.cpu_seconds(server.process.pid))
        return {"target": target.name, "label": target.label, "clients": clients,
                "cold_start_s": round(cold, 2),
                **{k: round(v, 3) if isinstance(v, float) else v for k, v in result.to_dict().items()},
                "cpu_us_per_req": round(used / result.requests * 1e6) if result.requests else None,
                "rss_mib": round(procgroup.rss_bytes(server.process.pid) / 2**20),
                "loadavg_before": load_before, "loadavg_after": loadavg()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each measured wrk run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    home = store.use_temporary_home()
    log_dir = home / "logs"
    log_dir.mkdir()
    runs = []
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for model, rounds in MODELS.items():
        tag = save_model(rounds)
        print(f"model {model}: {rounds} rounds, {tag}", flush=True)
        for target in TARGETS.values():
            record = {"model": model, "rounds": rounds,
                      **measure(target, args.clients, args.seconds, args.warmup, log_dir)}
            runs.append(record)
            print(f"  {target.name:6} {record['rps']:8.0f} req/s  p99 {record['p99_ms']:7.1f} ms  "
                  f"failed {record['failed']}  {record['cpu_us_per_req']} µs CPU/req  "
                  f"{record['rss_mib']} MiB  "
                  f"load {record['loadavg_before']} -> {record['loadavg_after']}", flush=True)
    results = {"started": started, "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
               "clients": args.clients, "seconds": args.seconds, "runs": runs}
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")
    shutil.rmtree(home, ignore_errors=True)  # on failure it stays, with the servers' logs under logs/
    return results


if __name__ == "__main__":
    main()
