"""Benchmark: wall time of full gradings of ``solutions/`` (all five groups, live server, ``--build``).

    python -m grader.bench [--runs 5] [--submission solutions]

Trains the course model once into a temporary BentoML home (on the data ``CREDIT_SCORING_CSV``
names, else the generated data), then times ``python -m grader`` end to end, process start to
exit, and prints each run, the median and the scores. The kit's cache starts empty: the first run
computes the held-out split that the others find kept (as on a fresh clone, then every grading after).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bentokit.cache import CACHE_ENV

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--submission", type=Path, default=ROOT / "solutions")
    parser.add_argument("--no-build", action="store_true", help="grade a bento already in the store")
    parser.add_argument("--confine", default="auto", choices=("auto", "require", "off"),
                        help="the grader's --confine (compare auto and off as root to see what it costs)")
    args = parser.parse_args(argv)

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
        times, scores = [], []
        for n in range(args.runs):
            command = [sys.executable, "-m", "grader", "--submission", str(args.submission),
                       "--results", str(results), "--confine", args.confine,
                       *([] if args.no_build else ["--build"])]
            started = time.monotonic()
            subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, check=False)
            times.append(time.monotonic() - started)
            summary = json.loads((results / "summary.json").read_text())
            scores.append(f"{summary['score']:g}/{summary['max_score']:g}")
            cold = " (empty cache: the held-out split computed)" if n == 0 else ""
            print(f"run {n + 1}: {times[-1]:.1f} s  score {scores[-1]}{cold}", flush=True)
        print(f"median wall time of one full grading (--confine {args.confine}): "
              f"{statistics.median(times):.1f} s "
              f"(min {min(times):.1f}, max {max(times):.1f}, {args.runs} runs); scores {sorted(set(scores))}")
        return 0
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(results, ignore_errors=True)
        shutil.rmtree(kept, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
