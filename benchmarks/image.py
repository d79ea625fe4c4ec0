"""The kit's image: how big it is, and how long it takes from ``ENGINE run`` to ``/readyz``.

``python -m benchmarks image`` builds the root ``bentofile.yaml`` (the production service) into the
run's temporary store, containerizes it with the engine ``bentokit.containers`` finds, and then starts
it ``--rounds`` times on a free ``127.0.0.1`` port. Each start is split into phases read from the
container's own timestamped log, so a slow start says where it was slow:

- ``engine``: until ``ENGINE run`` returned (the container exists and runs its entrypoint);
- ``supervisor``: until ``bentoml serve`` had loaded the bento and started its workers;
- ``workers_loaded``: until the first worker had imported ``service.py``;
- ``workers_initialized``: until the first worker's ``__init__`` (XGBoost, the model) had finished;
- ``ready``: until ``/readyz`` answered 200.

The image's size goes by layer (``ENGINE history``), named by the Dockerfile step that made it.
Writes ``image.md`` and ``image.json`` with the verdicts of issue 14's image goals.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.report import verdict
from benchmarks.run import load_averages
from bentokit import bento, containers

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "localhost/bentokit-credit-risk:bench"
MAX_IMAGE_BYTES = 600_000_000  # issue 14: the reference bento image <= 0.6 GB
MAX_READY_SECONDS = 3.0  # issue 14: start to /readyz <= 3 s

#: A phase ends at the first log line that matches its pattern (BentoML 1.4's own log lines).
PHASES = {
    "supervisor": re.compile(r"\[cli\] Starting production HTTP BentoServer"),
    "workers_loaded": re.compile(r"\[[^\]]*:\d+\] Service loaded"),
    "workers_initialized": re.compile(r"Service \w+ initialized"),
}
LABELS = {
    "engine": "`run` returned (container started)",
    "supervisor": "`bentoml serve` loaded the bento and started its workers",
    "workers_loaded": "first worker imported `service.py`",
    "workers_initialized": "first worker's `__init__` done (XGBoost, the model)",
    "ready_s": "`/readyz` answered 200",
}
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)\s")


def _stamp(line: str) -> float | None:
    """The epoch seconds of a line of ``ENGINE logs -t`` (RFC 3339, nanoseconds allowed)."""
    found = _STAMP.match(line)
    if not found:
        return None
    whole, fraction, zone = found.groups()
    zone = "+00:00" if zone == "Z" else zone
    seconds = datetime.fromisoformat(whole + zone).timestamp()
    return seconds + (float("0." + fraction) if fraction else 0.0)


def phases(log: str, started: float) -> dict[str, float]:
    """Seconds from ``started`` (epoch) to the first log line of each phase; absent phases are left out."""
    found: dict[str, float] = {}
    for line in log.splitlines():
        at = _stamp(line)
        if at is None:
            continue
        for phase, pattern in PHASES.items():
            if phase not in found and pattern.search(line):
                found[phase] = round(at - started, 3)
    return found


def _timestamped_log(container: containers.RunningContainer) -> str:
    result = subprocess.run(container.engine.command("logs", "-t", container.name), capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    return result.stdout + result.stderr


def measure_start(image: str, engine: containers.Engine, timeout: float = 180.0,
                  name: str | None = None) -> dict[str, float]:
    """One start of ``image``: the seconds of each phase since ``run`` was called; removed after."""
    started_epoch = time.time()
    container = containers.run(image, engine, name=name)
    engine_s = time.monotonic() - container.started
    try:
        ready = container.wait_ready(timeout)
        return {"engine": round(engine_s, 3), **phases(_timestamped_log(container), started_epoch),
                "ready_s": round(ready, 3)}
    finally:
        container.stop()


def layers(image: str, engine: containers.Engine) -> list[dict[str, Any]]:
    """The image's layers that hold bytes, oldest first: size and the step that made it."""
    out = subprocess.run(engine.command("history", "--no-trunc", "--human=false", "--format", "{{json .}}",
                                        image), capture_output=True, text=True, check=True, timeout=60).stdout
    try:  # podman prints one JSON array, docker one object per line
        entries = json.loads(out)
    except json.JSONDecodeError:
        entries = [json.loads(line) for line in out.splitlines() if line.strip()]
    rows = []
    for layer in reversed(entries):
        size = str(layer.get("size", layer.get("Size", 0)))
        if size.isdigit() and int(size):
            rows.append({"bytes": int(size), "step": _step_name(layer.get("CreatedBy", ""))})
    return rows


def _step_name(step: str) -> str:
    """A short name for a Dockerfile step of BentoML's recipe."""
    names = [("ADD file:", "base image"), ("groupadd", "the non-root user"), ("pip install uv", "uv"),
             ("uv venv", "the virtual environment"), ("pip install -r", "Python packages"),
             ("mkdir", "the bento folder"), ("in ./env", "the bento's env files"),
             ("COPY dir:", "the bento's files"), ("chmod +x", "entrypoint")]
    for needle, name in names:
        if needle in step:
            return name
    return step.split("/bin/sh -c")[-1].strip()[:60] or "?"


def measure(rounds: int = 3, engine: containers.Engine | None = None,
            progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Build the root bento's image, measure ``rounds`` starts, remove the image (its layers stay cached)."""
    engine = engine or containers.require_engine()
    load_before = load_averages()
    tag = str(bento.build(ROOT).tag)
    progress(f"bento {tag}; building its image with {engine.describe()}")
    built = containers.build_image(tag, IMAGE, engine)
    try:
        size = built.size()
        found: dict[str, Any] = {"engine": engine.describe(), "bento": tag, "image_bytes": size,
                                 "user": containers.image_user(IMAGE, engine),
                                 "build_s": round(built.seconds, 1), "layers": layers(IMAGE, engine),
                                 "rounds": []}
        progress(f"image {size / 1e9:.2f} GB, built in {built.seconds:.1f} s")
        for round_no in range(rounds):
            found["rounds"].append(measure_start(IMAGE, engine))
            progress(f"start {round_no + 1}/{rounds}: "
                     + ", ".join(f"{key} {value:.2f}" for key, value in found["rounds"][-1].items()))
    finally:
        containers.remove_image(IMAGE, engine, built.log_path)
        built.drop_own_log()
    found["load_average"] = {"before": load_before, "after": load_averages()}
    keys = [key for key in ["engine", *PHASES, "ready_s"] if all(key in r for r in found["rounds"])]
    found["medians"] = {key: statistics.median(r[key] for r in found["rounds"]) for key in keys}
    return found


def verdicts(found: dict[str, Any]) -> dict[str, bool]:
    """Issue 14's image goals: at most 0.6 GB, and start to ``/readyz`` in at most 3 s (median)."""
    return {f"image <= {MAX_IMAGE_BYTES / 1e9:.1f} GB": found["image_bytes"] <= MAX_IMAGE_BYTES,
            f"start to /readyz <= {MAX_READY_SECONDS:.0f} s (median)":
                found["medians"]["ready_s"] <= MAX_READY_SECONDS}


def write(found: dict[str, Any], out_dir: Path, machine: str = "") -> Path:
    """``image.json`` and ``image.md`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "image.json").write_text(json.dumps(found, indent=1) + "\n")
    medians = found["medians"]
    lines = ["# The kit's image: its size and its start", "",
             f"The root `bentofile.yaml` (the production service) built and containerized with "
             f"{found['engine']}, then started {len(found['rounds'])} times (`python -m benchmarks image`). "
             + machine]
    if "load_average" in found:
        load = found["load_average"]
        lines.append(f"Load average (1, 5, 15 min) before: {load['before']}, after: {load['after']}.")
    lines += ["", "## Goals (issue 14)", ""]
    lines += [f"- {goal}: **{verdict(ok)}**" for goal, ok in verdicts(found).items()]
    user = found["user"] or "root"
    lines += ["", f"The image: {found['image_bytes'] / 1e9:.2f} GB, runs as user `{user}`.",
              "", "## Where the start goes (seconds since `run` was called; medians)", "",
              "| phase ends when | s | of the start |", "|---|---:|---:|"]
    previous = 0.0
    for key, value in medians.items():
        lines.append(f"| {LABELS[key]} | {value:.2f} | +{value - previous:.2f} |")
        previous = value
    lines += ["", "Every start:", "", "| round | " + " | ".join(medians) + " |",
              "|---:|" + "---:|" * len(medians)]
    for number, row in enumerate(found["rounds"], 1):
        cells = " | ".join(f"{row.get(key, float('nan')):.2f}" for key in medians)
        lines.append(f"| {number} | {cells} |")
    lines += ["", "## Where the bytes go (by layer, oldest first)", "", "| layer | MB |", "|---|---:|"]
    small = [layer for layer in found["layers"] if layer["bytes"] < 1e6]
    lines += [f"| {layer['step']} | {layer['bytes'] / 1e6:.1f} |" for layer in found["layers"]
              if layer not in small]
    if small:
        steps = ", ".join(sorted({layer["step"] for layer in small}))
        megabytes = sum(layer["bytes"] for layer in small) / 1e6
        lines.append(f"| {len(small)} smaller layers ({steps}) | {megabytes:.1f} |")
    path = out_dir / "image.md"
    path.write_text("\n".join(lines) + "\n")
    return path
