"""Run the learner's ``train.py`` into a given model store, with a time limit, and record the outcome.

The learner loop grades in a fresh store filled by the learner's own ``train.py``: the grade then
depends on the files alone, and grading never adds versions to the learner's own store. A run that
saved the model is kept in the kit's cache (private to the user) and reused while ``train.py``, the
data and the kit's code are unchanged: once train.py is done, the later exercises' gradings do not
train again on every save.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bentokit import cache, contract, procs
from grader.children import kill_group

OUTCOME_FILE = "train-run.json"
TIMEOUT = 180.0


def run_key(script: Path, data: dict[str, str]) -> str:
    """What a run of ``script`` depends on: its bytes, the data it reads and the kit's code it imports."""
    source = data.get("CREDIT_SCORING_CSV", "generated")
    return cache.key(script.read_bytes(), cache.data_bytes(source) or source.encode(), cache.kit_code())


def _kept(key: str) -> Path:
    return cache.cache_dir() / "train-runs" / key


def _reuse(key: str, home: Path, log_path: Path) -> dict | None:
    """The kept outcome of a run with ``key``, its models copied into ``home`` (None when none is kept)."""
    kept = _kept(key)
    if not cache.trusted(kept):  # none, or not made by this user's kit: never trusted
        return None
    try:
        outcome = json.loads((kept / OUTCOME_FILE).read_text())
        shutil.copytree(kept / "models", home / "models", symlinks=True, dirs_exist_ok=True)
        shutil.copyfile(kept / log_path.name, log_path)
    except (OSError, ValueError):
        return None
    return {**outcome, "reused": True}


def _keep(key: str, outcome: dict, home: Path, log_path: Path) -> None:
    """Keep a run that saved the model (written aside, then renamed; a failure only costs a re-run)."""
    kept = _kept(key)
    try:
        staging = Path(tempfile.mkdtemp(dir=cache.folder(kept.parent.name), prefix=".staging-"))  # 0700
    except OSError:
        return
    try:
        shutil.copytree(home / "models", staging / "models", symlinks=True)
        shutil.copyfile(log_path, staging / log_path.name)
        (staging / OUTCOME_FILE).write_text(json.dumps(outcome))
        staging.rename(kept)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)


def run_train(submission: Path, home: Path, results: Path, timeout: float = TIMEOUT) -> dict:
    """``python train.py`` in ``submission`` with ``BENTOML_HOME=home``; writes and returns the outcome."""
    script = submission / "train.py"
    outcome = {"exists": script.is_file(), "returncode": None, "timed_out": False, "timeout": timeout,
               "seconds": 0.0, "log_tail": "", "saved": False, "reused": False}
    results.mkdir(parents=True, exist_ok=True)
    # The learner's own data choice goes with it; nothing else of the caller's environment does.
    data = {k: os.environ[k] for k in ("CREDIT_SCORING_CSV",) if k in os.environ}
    log_path = results / "train.log"
    key = run_key(script, data) if outcome["exists"] else ""
    reused = _reuse(key, home, log_path) if key else None
    if reused is not None:
        outcome = reused
    elif outcome["exists"]:
        started = time.monotonic()
        with procs.Sandbox.acquire() as sandbox, open(log_path, "wb") as log:
            # train.py saves into a store inside the sandbox's folder; the models are copied out before
            # the sandbox is released (which removes whatever its user left elsewhere in /tmp).
            work, box_home = sandbox.folder / "submission", sandbox.folder / "bentoml"
            shutil.copytree(submission, work, symlinks=True,
                            ignore=shutil.ignore_patterns(".git", "__pycache__", ".venv"))
            box_home.mkdir()
            sandbox.give(work, box_home)
            process = procs.spawn([sys.executable, "train.py"], cwd=work,
                                  env={"BENTOML_HOME": str(box_home), **data}, stdout=log, sandbox=sandbox)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                outcome["timed_out"] = True
            finally:
                kill_group(process)
            if (box_home / "models").is_dir():
                shutil.copytree(box_home / "models", home / "models", symlinks=True, dirs_exist_ok=True)
        outcome.update(returncode=process.returncode, seconds=round(time.monotonic() - started, 2),
                       log_tail="\n".join(log_path.read_text(errors="replace").splitlines()[-15:]),
                       saved=(home / "models" / contract.MODEL_NAME).is_dir())
        if outcome["saved"] and outcome["returncode"] == 0 and not outcome["timed_out"]:
            _keep(key, outcome, home, log_path)
    (results / OUTCOME_FILE).write_text(json.dumps(outcome, indent=2))
    return outcome
