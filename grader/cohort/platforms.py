"""Gradescope and GitHub Classroom: the bundle and workflow that run the kit's grader there.

Both grade one submission with :func:`grader.cohort.runner.grade_one` (the same isolation as a
class run) and translate its summary into the platform's format.
"""

from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path

from grader.cohort.runner import Outcome

KIT_ROOT = Path(__file__).resolve().parents[2]
#: What the bundle ships of the kit: enough to ``pip install`` it and run ``python -m grader``.
KIT_PARTS = ("pyproject.toml", "README.md", "bentokit", "grader")
TEMPLATES = Path(__file__).with_name("templates")


def gradescope_results(outcome: Outcome, possible: float, results_dir: Path) -> Path:
    """Write Gradescope's ``results.json`` for one graded submission into ``results_dir``."""
    results_dir.mkdir(parents=True, exist_ok=True)
    target = results_dir / "results.json"
    source = outcome.results_dir / "results.json" if outcome.results_dir else None
    if source and source.is_file() and not outcome.error:
        data = json.loads(source.read_text())
        if outcome.notes:
            data["output"] = "\n".join([data.get("output", ""), *outcome.notes]).strip()
    else:
        data = {"score": 0, "max_score": possible or None, "output": (
            f"Grading could not finish: {outcome.error}.\n" + "\n".join(outcome.notes)
            + (f"\n\nLast lines of the grading log:\n{outcome.log_tail}" if outcome.log_tail else "")),
            "tests": []}
        if data["max_score"] is None:
            del data["max_score"]
    target.write_text(json.dumps(data, indent=2))
    return target


def write_bundle(out: Path) -> Path:
    """A Gradescope autograder zip: ``setup.sh``, ``run_autograder`` and the kit beside them."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name in ("setup.sh", "run_autograder"):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16  # executable, as Gradescope runs them
            bundle.writestr(info, (TEMPLATES / name).read_text())
        for part in KIT_PARTS:
            path = KIT_ROOT / part
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for file in files:
                if "__pycache__" in file.parts or file.suffix == ".pyc":
                    continue
                bundle.write(file, f"kit/{file.relative_to(KIT_ROOT).as_posix()}")
    return out


def classroom_result(outcome: Outcome) -> dict:
    """The JSON GitHub Classroom's grading reporter reads: per-check pass/fail and points."""
    tests = [{
        "name": f"{c['group']}: {c['title']}",
        "status": "pass" if c["passed"] else "fail",
        "message": c["output"],
        "score": c["score"],
        "max_score": c["max_score"],
        "test_code": c["id"],
        "filename": "",
        "line_no": 0,
        "execution_time": "",
    } for c in outcome.checks]
    if outcome.error:
        tests.append({"name": "grading finished", "status": "error", "message": outcome.error,
                      "score": 0, "max_score": 0, "test_code": "", "filename": "", "line_no": 0,
                      "execution_time": ""})
    failed = outcome.error or any(t["status"] != "pass" for t in tests)
    return {"version": 1, "status": "fail" if failed else "pass",
            "max_score": outcome.max_score, "tests": tests}


def classroom_output(outcome: Outcome) -> str:
    """The reporter's input: the result JSON, base64-encoded, as one ``result=...`` output line."""
    encoded = base64.b64encode(json.dumps(classroom_result(outcome)).encode()).decode()
    return f"result={encoded}\n"


def write_workflow(out: Path, kit_spec: str) -> Path:
    """The learner repository's ``.github/workflows/classroom.yml`` installing ``kit_spec``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text((TEMPLATES / "classroom.yml").read_text().replace("{{KIT_SPEC}}", kit_spec))
    return out

