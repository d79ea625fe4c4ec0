"""The homework's answer key, computed by a run of the kit (never written down).

Run as a child, ``python -m grader.homework.key IN OUT`` with a temporary ``BENTOML_HOME``: it trains
and saves the course model with ``bentokit``, measures its size, exports it and imports it into a
second empty store with the ``bentoml`` CLI, builds the reference bento and calls it, and serves the
175- and 10000-round models in turn under a bounded locust run. :func:`questions_json` reads the JSON
bodies of Q3 and Q5 from the questions file itself, so the key and the questions cannot disagree.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from grader import KIT_ROOT
from grader.children import write_output

SOLUTIONS = KIT_ROOT / "solutions"
#: The questions as the kit ships them (the solution folder mirrors the exercises' homework.md).
QUESTIONS = SOLUTIONS / "homework.md"
#: Q2's options: letter -> size in KiB.
SIZE_OPTIONS = {"A": 20, "B": 200, "C": 2000, "D": 20000}
#: Q6: the two models' boosting rounds and the bounded load.
ROUNDS = (175, 10000)
LOAD = {"users": 3, "seconds": 8}
JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number"}


def questions_json(name: str, path: Path = QUESTIONS) -> dict[str, Any]:
    """The JSON block labelled ``name`` (```json NAME) in the questions file."""
    match = re.search(rf"```json {name}\n(.*?)```", path.read_text(), re.S)
    if not match:
        raise ValueError(f"{path} has no ```json {name} block")
    return json.loads(match.group(1))


def field_types(body: dict[str, Any]) -> dict[str, str]:
    """Q3's key: each key's JSON-schema type, from the type of its value."""
    return {k: JSON_TYPES[type(v)] for k, v in body.items()}


def size_option(kib: float) -> str:
    """The option nearest to ``kib`` on a log scale."""
    return min(SIZE_OPTIONS, key=lambda k: abs(math.log(kib / SIZE_OPTIONS[k])))


def fingerprint() -> dict[str, str]:
    """What the key depends on: package versions, Python and the data source's checksum."""
    from bentokit import data

    versions = {p: metadata.version(p) for p in ("bentoml", "xgboost", "scikit-learn", "pydantic")}
    return {**versions, "python": f"{sys.version_info.major}.{sys.version_info.minor}",
            "data_sha256": data.load().sha256}


def cli(args: list[str], home: Path) -> str:
    env = {**os.environ, "BENTOML_HOME": str(home)}
    out = subprocess.run([sys.executable, "-m", "bentoml", *args], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout


def load_test(url: str, workdir: Path) -> dict[str, float]:
    """Successful requests per second (and failures) of a bounded headless locust run of the BatchUser.

    A request still queued at the service's batching deadline gets a 503: the slower model may have
    some under load, so only successful requests count.
    """
    prefix = workdir / "locust"
    users = str(LOAD["users"])
    subprocess.run([sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name("locustfile.py")),
                    "--headless", "--host", url, "-u", users, "-r", users, "-t", f"{LOAD['seconds']}s",
                    "--stop-timeout", "2", "--only-summary", "--csv", str(prefix),
                    "--exit-code-on-error", "0"],
                   capture_output=True, timeout=LOAD["seconds"] + 60, check=True)
    with open(f"{prefix}_stats.csv", newline="") as fh:
        total = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    count, failures = int(total["Request Count"]), int(total["Failure Count"])
    if count == failures:
        raise RuntimeError(f"no request of the load test succeeded: {total}")
    ok_rate = float(total["Requests/s"]) * (count - failures) / count
    return {"ok_per_s": round(ok_rate, 2), "failures": failures}


def compute(workdir: Path) -> dict[str, Any]:
    """The key; expects ``BENTOML_HOME`` to be an empty temporary store."""
    import bentoml
    import requests

    from bentokit import bento, contract, data, server, training

    credit = data.load()
    trained = training.train(credit)
    model = training.save(trained, owner="homework-key", stage="dev")
    kib = bento.directory_size(model.path) / 1024

    export = workdir / "model.bentomodel"
    bentoml.models.export_model(model.tag, str(export))
    other = workdir / "other-home"
    cli(["models", "import", str(export)], other)
    record = json.loads(cli(["models", "get", f"{contract.MODEL_NAME}:latest", "-o", "json"], other))

    built = bento.build(SOLUTIONS)
    with server.serving(str(built.tag), workdir, timeout=120) as running:
        answer = requests.post(f"{running.url}{contract.CLASSIFY_PATH}",
                               json=contract.wrap(questions_json("q5")), timeout=30)
        answer.raise_for_status()

    rps = {}
    for rounds in ROUNDS:  # each save becomes latest, which the reference service serves
        training.save(training.train(credit, num_boost_round=rounds), owner="homework-key", stage="dev")
        with server.serving(f"service:{contract.SERVICE_CLASS}", SOLUTIONS, timeout=120) as running:
            rps[rounds] = load_test(running.url, workdir)
    return {
        "q1": metadata.version("bentoml"),
        "q2": size_option(kib),
        "q3": field_types(questions_json("q3")),
        "q4": record["context"]["framework_versions"]["xgboost"],
        "q5": answer.json()["status"],
        "q6": max(rps, key=lambda rounds: rps[rounds]["ok_per_s"]),
        "measured": {"model_kib": round(kib, 1), "bento": str(built.tag), "rps": rps,
                     "data_sha256": credit.sha256[:12]},
    }


def main(in_path: str, out_path: str) -> None:
    with tempfile.TemporaryDirectory(prefix="homework-key-") as tmp:
        fingerprint = json.loads(Path(in_path).read_text())
        write_output(out_path, {"key": compute(Path(tmp)), "fingerprint": fingerprint})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
