"""Fuzz the production service from its own OpenAPI schema (``/docs.json``) with schemathesis.

The one check that matters here is ``not_a_server_error``: whatever the input, valid or not, the
service answers without a 5xx. Every operation in the schema is fuzzed, the infra endpoints too.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks import serve
from benchmarks.targets import GOAL_TARGET, TARGETS, config_options


def command(url: str, max_examples: int, time_limit: float, report_dir: Path, seed: int = 7) -> list[str]:
    """The schemathesis command line: positive and negative data, no-5xx check, bounded in time."""
    executable = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    return [executable, "run", f"{url}/docs.json", "--url", url,
            "--checks", "not_a_server_error", "--mode", "all",
            "--max-examples", str(max_examples), "--max-time", str(max(1, round(time_limit))),
            "--seed", str(seed), "--workers", "1", "--request-timeout", "10",
            "--suppress-health-check", "all",
            "--report", "junit", "--report-dir", str(report_dir), "--warnings", "off"]


def server_errors_in_log(text: str) -> list[str]:
    """Lines where the service logged an answer with a 5xx status."""
    return [line for line in text.splitlines() if "(status=5" in line]


def main(max_examples: int = 100, time_limit: float = 300.0, out_dir: Path = Path("."),
         target: str = GOAL_TARGET) -> int:
    """Serve the production service (its built bento), fuzz it, fail (1) on any 5xx; returns the exit code."""
    report_dir = out_dir / "fuzz"
    report_dir.mkdir(parents=True, exist_ok=True)
    log_path = report_dir / "server.log"
    # The access log is where a 5xx shows up beside schemathesis's own check: on for the fuzz only.
    spec = TARGETS[target]
    spec = dataclasses.replace(spec, env={**spec.env, **config_options("logging.access.enabled=true")})
    with serve.serving(spec, log_path) as (server, _):
        print(f"fuzzing {server.url}/docs.json ({max_examples} examples per operation, "
              f"at most {time_limit:g} s)", flush=True)
        # Run inside the report folder: schemathesis keeps its example cache in the working directory.
        done = subprocess.run(command(server.url, max_examples, time_limit, report_dir.resolve()),
                              cwd=report_dir, timeout=time_limit + 120)
        still_alive = server.alive()
    errors = server_errors_in_log(log_path.read_text(errors="replace"))
    if done.returncode != 0 or errors or not still_alive:
        print(f"FUZZ FAILED: schemathesis exit code {done.returncode}, {len(errors)} 5xx answers in the "
              f"server log{'' if still_alive else ', and the server died'}", file=sys.stderr)
        for line in errors[:10]:
            print(f"  {line}", file=sys.stderr)
        return 1
    print("fuzz: no 5xx for any generated input")
    return 0
