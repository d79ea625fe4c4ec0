"""Fixtures for the grader's tests: grade a folder with ``python -m grader`` and read its reports.

Every grading runs in a child process with a marker in its environment; afterwards no process
carrying that marker may be left (children inherit the environment, re-parented orphans too).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
import yaml

from bentokit import procs
from grader.declare import CheckSpec, catalogue

ROOT = Path(__file__).resolve().parents[2]
BROKEN = Path(__file__).resolve().parent / "broken"
MARKER = "GRADER_TEST_RUN"
#: Generous limits: the machine is shared (a case that must time out sets its own, shorter one).
LIMITS = ["--import-timeout", "30", "--ready-timeout", "90"]
#: The model reader as a grading's helpers name it: as root (confined), it runs as a user of its own.
MODEL_READER = "model reader as a user of its own" if os.geteuid() == 0 else "model reader"
#: The service inspector as a grading's helpers name it: as root (confined), a user of its own too.
INSPECTOR = "service inspector as a user of its own" if os.geteuid() == 0 else "service inspector"


@dataclass
class Graded:
    returncode: int
    stdout: str
    summary: dict
    results: dict
    results_dir: Path
    seconds: float

    @property
    def checks(self) -> dict[str, dict]:
        return {c["id"]: c for c in self.summary["checks"]}

    @property
    def failed(self) -> set[str]:
        return {i for i, c in self.checks.items() if not c["passed"]}

    def explain(self, ids: set[str]) -> str:
        """The outputs of these checks, for an assertion message that pytest does not cut short."""
        return "\n".join(f"{i}: {self.checks[i]['output'][:400]}" for i in sorted(ids) if i in self.checks)


def graded_specs(container: bool = False) -> list[CheckSpec]:
    """The checks ``python -m grader`` runs (with ``--container``: plus the container-only ones)."""
    return [s for s in catalogue() if s.graded or (container and s.container_only)]


def points(specs: list[CheckSpec], group: str | None = None) -> float:
    """The points these checks are worth (of one report group only, if named)."""
    return sum(s.points for s in specs if group is None or s.group == group)


def leftovers(marker: str, sandbox: dict | None = None) -> list[str]:
    """Processes still carrying this grading's marker in their environment, or left by its sandbox
    (its own marker; and when confined, any process of its user started before this call that does
    not carry another sandbox's marker: once the grading has ended its user is free, and a grading
    running beside this test may take it, and start its own processes before this call)."""
    until = time.time()

    def ours(proc: psutil.Process) -> bool:
        try:
            other = proc.environ().get(procs.MARKER) not in (None, sandbox["marker"])
            return proc.create_time() <= until and not other
        except psutil.Error:  # ended meanwhile
            return False

    found = {p.pid: p for p in procs.find(marker, var=MARKER)}
    if sandbox:
        found.update((p.pid, p) for p in procs.find(sandbox["marker"]))
        if sandbox["confined"]:
            found.update((p.pid, p) for p in procs.find(uid=sandbox["uid"]) if ours(p))
    return [procs.describe(p) for p in found.values()]


def grade(submission: Path, home: Path, results: Path, *args: str,
          env: dict[str, str] | None = None) -> Graded:
    """``python -m grader`` on ``submission`` with ``home`` as the model store (and ``env`` added to the
    environment); asserts no orphans."""
    marker = uuid.uuid4().hex
    env = {**os.environ, **(env or {}), "BENTOML_HOME": str(home), MARKER: marker}
    made = not results.exists()
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "grader", "--submission", str(submission),
                           "--results", str(results), *LIMITS, *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - started
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    summary = json.loads((results / "summary.json").read_text())
    assert leftovers(marker, summary.get("sandbox")) == [], "processes left behind by the grader"
    if made:  # as root, a later learner's code must not read this report
        assert stat.S_IMODE(results.stat().st_mode) == 0o700, oct(results.stat().st_mode)
    gradescope = json.loads((results / "results.json").read_text())
    return Graded(proc.returncode, proc.stdout, summary, gradescope, results, seconds)


def copy_solutions(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in ("service.py", "bentofile.yaml"):
        shutil.copy(ROOT / "solutions" / name, dest / name)
    return dest


def make_broken(name: str, dest: Path) -> tuple[Path, dict]:
    """A copy of solutions/ with the case's files removed, added and edited; returns it and the case."""
    case_dir = BROKEN / name
    case = yaml.safe_load((case_dir / "case.yaml").read_text())
    submission = copy_solutions(dest)
    # A case may take another's files too (``also``), its own copied last.
    for folder in [*(BROKEN / other for other in case.get("also") or []), case_dir]:
        for extra in folder.iterdir():
            if extra.name != "case.yaml":
                shutil.copy(extra, submission / extra.name)
    for name_ in case.get("remove") or []:  # e.g. bentofile.yaml, for a build configured by image=
        (submission / name_).unlink()
    for edit in case.get("replace") or []:
        path = submission / edit["file"]
        text = path.read_text()
        assert edit["old"] in text, f"{name}: {edit['old']!r} not in {edit['file']} (solutions changed?)"
        path.write_text(text.replace(edit["old"], edit["new"], 1))
    return submission, case


def case_home(case: dict, submission: Path, home: Path, default: Path) -> Path:
    """The model store a broken case is graded with: ``default``, unless the case trains its own model
    (``store``: its script, run in the submission) into the fresh store ``home``."""
    if not case.get("store"):
        return default
    # The forged-model cases' scripts share tests/grader/broken/forged_models.py.
    env_home = {"BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true", "PYTHONPATH": str(BROKEN)}
    subprocess.run([sys.executable, case["store"]], cwd=submission, check=True,
                   env={**os.environ, **env_home})
    return home
