"""Run the learner's ``train.py`` into a given model store, with a time limit, and record the outcome.

The learner loop grades in a fresh store filled by the learner's own ``train.py``: the grade then
depends on the files alone, and grading never adds versions to the learner's own store.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bentokit import contract, procs
from grader.children import kill_group

OUTCOME_FILE = "train-run.json"
TIMEOUT = 180.0


def run_train(submission: Path, home: Path, results: Path, timeout: float = TIMEOUT) -> dict:
    """``python train.py`` in ``submission`` with ``BENTOML_HOME=home``; writes and returns the outcome."""
    script = submission / "train.py"
    outcome = {"exists": script.is_file(), "returncode": None, "timed_out": False, "timeout": timeout,
               "seconds": 0.0, "log_tail": "", "saved": False}
    results.mkdir(parents=True, exist_ok=True)
    if outcome["exists"]:
        log_path = results / "train.log"
        started = time.monotonic()
        # The learner's own data choice goes with it; nothing else of the caller's environment does.
        data = {k: os.environ[k] for k in ("CREDIT_SCORING_CSV",) if k in os.environ}
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
    (results / OUTCOME_FILE).write_text(json.dumps(outcome, indent=2))
    return outcome
