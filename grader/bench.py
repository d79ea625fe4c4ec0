"""Benchmark: wall time of full gradings of ``solutions/`` (all five groups, live server, ``--build``).

    python -m grader.bench [--runs 5] [--submission solutions]

Trains the course model once into a temporary BentoML home (on the data ``CREDIT_SCORING_CSV``
names, else the generated data), then times ``python -m grader`` end to end, process start to
exit, and prints each run, the median and the scores. The kit's cache starts empty: the first run
computes the held-out split that the others find kept (as on a fresh clone, then every grading after).

It first prints how fast this machine is at what a grading mostly does (run Python, import BentoML,
XGBoost and scikit-learn), so that gradings timed on different machines can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bentokit.cache import CACHE_ENV

ROOT = Path(__file__).resolve().parent.parent


#: CPU seconds of a fixed pure-Python loop and of importing the serving stack, in a fresh process
#: (the import is timed once the files are in the page cache: a grading imports them several times).
REFERENCE = """
import sys, time
t = time.process_time()
s = 0
for i in range(int(sys.argv[1])):
    s += i
loop = time.process_time() - t
t = time.process_time()
import bentoml, xgboost, sklearn.feature_extraction
print(f"{loop:.2f} {time.process_time() - t:.2f}")
"""


def machine_reference() -> str:
    """How fast this machine runs Python and imports the serving stack, as one line to print."""
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true"}
    runs = [subprocess.run([sys.executable, "-c", REFERENCE, str(count)], env=env, capture_output=True,
                           text=True, check=True).stdout.split() for count in (0, 10**7)]  # 0: warm-up
    loop, imports = runs[-1]
    return (f"this machine: {os.cpu_count()} cores; 10^7 Python additions take {loop} s of CPU, importing "
            f"BentoML + XGBoost + scikit-learn {imports} s (a grading does that import in 2 processes: "
            "the inspector and the server's worker; its supervisor imports service.py without XGBoost)")


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's children that have ended and been waited for."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--submission", type=Path, default=ROOT / "solutions")
    parser.add_argument("--no-build", action="store_true", help="grade a bento already in the store")
    parser.add_argument("--confine", default="auto", choices=("auto", "require", "off"),
                        help="the grader's --confine (compare auto and off as root to see what it costs)")
    args = parser.parse_args(argv)

    print(machine_reference(), flush=True)
    home = Path(tempfile.mkdtemp(prefix="grader-bench-home-"))
    results = Path(tempfile.mkdtemp(prefix="grader-bench-results-"))
    kept = Path(tempfile.mkdtemp(prefix="grader-bench-cache-"))
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true", CACHE_ENV: str(kept)}
    try:
        subprocess.run([sys.executable, "-m", "bentokit", "train"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        if args.no_build:
            subprocess.run([sys.executable, "-m", "bentoml", "build", str(args.submission)], env=env,
                           cwd=args.submission, check=True, stdout=subprocess.DEVNULL)
        times, cpus, scores = [], [], []
        for n in range(args.runs):
            command = [sys.executable, "-m", "grader", "--submission", str(args.submission),
                       "--results", str(results), "--confine", args.confine,
                       *([] if args.no_build else ["--build"])]
            started, cpu = time.monotonic(), children_cpu()
            subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, check=False)
            times.append(time.monotonic() - started)
            cpus.append(children_cpu() - cpu)
            summary = json.loads((results / "summary.json").read_text())
            scores.append(f"{summary['score']:g}/{summary['max_score']:g}")
            cold = " (empty cache: the held-out split computed)" if n == 0 else ""
            print(f"run {n + 1}: {times[-1]:.1f} s, CPU {cpus[-1]:.1f} s  score {scores[-1]}{cold}",
                  flush=True)
        print(f"median wall time of one full grading (--confine {args.confine}): "
              f"{statistics.median(times):.1f} s "
              f"(min {min(times):.1f}, max {max(times):.1f}, {args.runs} runs); scores {sorted(set(scores))}")
        print(f"median CPU of one grading: {statistics.median(cpus):.1f} s (user + system of the grader and "
              "the processes it and they waited for; a process killed after its parent ended is not counted)")
        return 0
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(results, ignore_errors=True)
        shutil.rmtree(kept, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
