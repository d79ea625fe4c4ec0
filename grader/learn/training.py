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
import select
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


def learner_data() -> dict[str, str]:
    """The learner's own data choice: it goes with train.py; nothing else of the caller's environment does."""
    return {k: os.environ[k] for k in ("CREDIT_SCORING_CSV",) if k in os.environ}


class Warm:
    """A Python in a sandbox of its own that has imported what train.py imports and waits to run it
    (:mod:`grader.learn.warm`): watch mode starts one after grading the train exercise, and the next
    save runs train.py in it, 1.5 s sooner. Its output goes to a file of the grader's without a name
    (its stdout), so the last run's ``train.log`` stays until the next run ends, and nothing is left
    on disk when watch mode is killed."""

    def __init__(self, data: dict[str, str]) -> None:
        self.data = data
        self.sandbox = procs.Sandbox.acquire()
        try:
            self.work, self.home = _store_in(self.sandbox)
            self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close(); learner code has the fd only
            go, self._go = os.pipe()
            self._ready, ready = os.pipe()
            try:
                self.process = procs.spawn(
                    [sys.executable, "-P", "-m", "grader.learn.warm", str(go), str(ready)],
                    cwd=self.sandbox.folder, env={"BENTOML_HOME": str(self.home), **data}, stdout=self.log,
                    sandbox=self.sandbox, pass_fds=(go, ready))
            finally:
                os.close(go)
                os.close(ready)
        except BaseException:
            self.close()
            raise

    def usable(self, data: dict[str, str]) -> bool:
        return self.process.poll() is None and data == self.data

    def ready(self, timeout: float = 0) -> bool:
        """Whether it has imported its libraries, waiting up to ``timeout`` seconds (a save right after
        a grading finds it still at it: a cold run is then no slower)."""
        return bool(select.select([self._ready], [], [], timeout)[0])

    def start(self, submission: Path) -> None:
        """Copy ``submission`` into the sandbox and let the waiting Python run its train.py."""
        copy_submission(submission, self.work)
        self.sandbox.give(self.work)
        os.write(self._go, str(self.work).encode())
        os.close(self._go)
        self._go = -1

    def close(self) -> None:
        """Stop the process (if it still runs) and release the sandbox; idempotent."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        for name in ("_go", "_ready"):
            if getattr(self, name, -1) >= 0:
                os.close(getattr(self, name))
                setattr(self, name, -1)
        if getattr(self, "process", None) is not None:
            kill_group(self.process)
        self.sandbox.release()
        if hasattr(self, "log"):
            self.log.close()

    def copy_log(self, path: Path) -> None:
        self.log.seek(0)
        with open(path, "wb") as out:
            shutil.copyfileobj(self.log, out)


_warm: Warm | None = None


def warm_up() -> None:
    """Start a :class:`Warm` Python for the next run of train.py, unless one waits already."""
    global _warm
    if _warm is None or not _warm.usable(learner_data()):
        cool_down()
        _warm = Warm(learner_data())


def cool_down() -> None:
    """Stop the waiting Python, if any."""
    global _warm
    if _warm is not None:
        warm, _warm = _warm, None
        warm.close()


def _started_warm(data: dict[str, str], submission: Path) -> Warm | None:
    """The waiting Python, running ``submission``'s train.py; None (and it is stopped) when it has not
    finished importing, was started for other data, or ended meanwhile (killed from outside between the
    look and the go: its pipe is broken)."""
    global _warm
    warm, _warm = _warm, None
    if warm is None:
        return None
    try:
        if warm.usable(data) and warm.ready():
            warm.start(submission)
            return warm
    except OSError:
        pass
    warm.close()
    return None


def copy_submission(submission: Path, work: Path) -> None:
    shutil.copytree(submission, work, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", "__pycache__", ".venv"))


def _store_in(sandbox: procs.Sandbox) -> tuple[Path, Path]:
    """Where train.py runs in ``sandbox`` (its copy of the submission, made later) and the model store
    it saves into (made now, its user's): inside the sandbox's folder, so the models are copied out
    before the sandbox is released (which removes whatever its user left elsewhere in /tmp)."""
    home = sandbox.folder / "bentoml"
    home.mkdir()
    sandbox.give(home)
    return sandbox.folder / "submission", home


def run_train(submission: Path, home: Path, results: Path, timeout: float = TIMEOUT) -> dict:
    """``python train.py`` in ``submission`` with ``BENTOML_HOME=home``; writes and returns the outcome.
    It runs in the :class:`Warm` Python :func:`warm_up` started, when one waits."""
    script = submission / "train.py"
    outcome = {"exists": script.is_file(), "returncode": None, "timed_out": False, "timeout": timeout,
               "seconds": 0.0, "log_tail": "", "saved": False, "reused": False, "warm": False}
    results.mkdir(parents=True, exist_ok=True)
    data = learner_data()
    log_path = results / "train.log"
    key = run_key(script, data) if outcome["exists"] else ""
    reused = _reuse(key, home, log_path) if key else None
    if reused is not None:
        outcome = reused
    elif outcome["exists"]:
        started = time.monotonic()
        warm = _started_warm(data, submission)
        if warm is not None:
            outcome["warm"] = True
            process = warm.process
            try:
                _run(process, warm.home, home, timeout, outcome)
                warm.copy_log(log_path)
            finally:
                warm.close()
        else:
            with procs.Sandbox.acquire() as sandbox, open(log_path, "wb") as log:
                work, box_home = _store_in(sandbox)
                copy_submission(submission, work)
                sandbox.give(work)
                process = procs.spawn([sys.executable, "train.py"], cwd=work, stdout=log, sandbox=sandbox,
                                      env={"BENTOML_HOME": str(box_home), **data})
                _run(process, box_home, home, timeout, outcome)
        outcome.update(returncode=process.returncode, seconds=round(time.monotonic() - started, 2),
                       log_tail="\n".join(log_path.read_text(errors="replace").splitlines()[-15:]),
                       saved=(home / "models" / contract.MODEL_NAME).is_dir())
        if outcome["saved"] and outcome["returncode"] == 0 and not outcome["timed_out"]:
            _keep(key, outcome, home, log_path)
    (results / OUTCOME_FILE).write_text(json.dumps(outcome, indent=2))
    return outcome


def _run(process: subprocess.Popen, box_home: Path, home: Path, timeout: float, outcome: dict) -> None:
    """Wait for train.py (killed at ``timeout``), then copy the models it saved into ``home``."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        outcome["timed_out"] = True
    finally:
        kill_group(process)
    if (box_home / "models").is_dir():
        shutil.copytree(box_home / "models", home / "models", symlinks=True, dirs_exist_ok=True)
