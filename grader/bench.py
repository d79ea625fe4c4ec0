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
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


@contextlib.contextmanager
def trained_store(prefix: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """A temporary folder (removed afterwards) with the course model freshly trained into its BentoML
    home (``home/``) and an empty kit cache (``cache/``), and the environment that points at them."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    env = {**os.environ, "BENTOML_HOME": str(work / "home"), "BENTOML_DO_NOT_TRACK": "true",
           CACHE_ENV: str(work / "cache")}
    try:
        subprocess.run([sys.executable, "-m", "bentokit", "train"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        yield work, env
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(runs: int = 5, submission: Path = ROOT / "solutions", confine: str = "auto", build: bool = True,
            progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Time ``runs`` full gradings of ``submission`` (wall, CPU, score of each) in a store of their own.

    The model is trained first; the kit's cache starts empty, so the first run computes the held-out
    split that the others find kept.
    """
    with trained_store("grader-bench-") as (work, env):
        results = work / "results"
        if not build:
            subprocess.run([sys.executable, "-m", "bentoml", "build", str(submission)], env=env,
                           cwd=submission, check=True, stdout=subprocess.DEVNULL)
        times, cpus, scores = [], [], []
        for n in range(runs):
            command = [sys.executable, "-m", "grader", "--submission", str(submission),
                       "--results", str(results), "--confine", confine, *(["--build"] if build else [])]
            started, cpu = time.monotonic(), children_cpu()
            subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, check=False)
            times.append(time.monotonic() - started)
            cpus.append(children_cpu() - cpu)
            summary = json.loads((results / "summary.json").read_text())
            scores.append(f"{summary['score']:g}/{summary['max_score']:g}")
            cold = " (empty cache: the held-out split computed)" if n == 0 else ""
            progress(f"run {n + 1}: {times[-1]:.1f} s, CPU {cpus[-1]:.1f} s  score {scores[-1]}{cold}")
    return {"runs": runs, "confine": confine, "build": build, "seconds": times, "cpu_seconds": cpus,
            "scores": scores, "median_s": statistics.median(times), "median_cpu_s": statistics.median(cpus)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--submission", type=Path, default=ROOT / "solutions")
    parser.add_argument("--no-build", action="store_true", help="grade a bento already in the store")
    parser.add_argument("--confine", default="auto", choices=("auto", "require", "off"),
                        help="the grader's --confine (compare auto and off as root to see what it costs)")
    args = parser.parse_args(argv)

    print(machine_reference(), flush=True)
    found = measure(args.runs, args.submission, args.confine, not args.no_build,
                    progress=lambda line: print(line, flush=True))
    times, scores = found["seconds"], sorted(set(found["scores"]))
    print(f"median wall time of one full grading (--confine {args.confine}): {found['median_s']:.1f} s "
          f"(min {min(times):.1f}, max {max(times):.1f}, {args.runs} runs); scores {scores}")
    print(f"median CPU of one grading: {found['median_cpu_s']:.1f} s (user + system of the grader and "
          "the processes it and they waited for; a process killed after its parent ended is not counted)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
