"""Gradescope, GitHub Classroom and PrairieLearn: the files and outputs each platform reads.

Each grades one submission with :func:`grader.cohort.runner.grade_one` (the same isolation as a
class run) and translates its record (:func:`grader.cohort.classrun.to_record`) into the
platform's format. Every text in a record is already free of machine paths.
"""

from __future__ import annotations

import base64
import json
import secrets
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from grader.cohort.runner import LOG_TAIL
from grader.report import HIDDEN_VISIBILITY, markdown_cell, markdown_code_block, markdown_inline, printable

KIT_ROOT = Path(__file__).resolve().parents[2]
#: What the bundle ships of the kit: enough to ``pip install`` it and run ``python -m grader``.
KIT_PARTS = ("pyproject.toml", "README.md", "bentokit", "grader")
TEMPLATES = Path(__file__).with_name("templates")
#: GitHub Classroom's reporter reads ``<RUNNER>_RESULTS`` for each runner id: letters and digits only
#: (the reporter's own input check). The points earned and the points missed are two runners, so that
#: its table (which scores a runner by the share of passed tests) and its recorded notice (the sum of
#: the tests' scores) give the same total.
CLASSROOM_RUNNERS = ("earned", "missed")

Record = dict[str, Any]


def _header(record: Record, possible: float) -> list[str]:
    lines = [f"**Score: {record['total']:g} / {possible:g}**"]
    late = record.get("late") or {}
    if late.get("label"):
        lines.append(f"Submitted {late['label']}" + (
            f"; late penalty {late['penalty_percent']:g}% (raw score {record['score']:g})."
            if late.get("penalty_percent") else "."))
    if record["error"]:
        lines.append(f"Grading could not finish: {markdown_inline(record['error'])}.")
    lines += [f"- {markdown_inline(note)}" for note in record["notes"]]
    hidden = sum(bool(c.get("hidden")) for c in record["checks"])
    if hidden:
        lines.append(f"{hidden} check(s) use hidden inputs: their inputs are not shown.")
    if record["error"] and record.get("log"):
        tail = "\n".join(record["log"].splitlines()[-LOG_TAIL:])
        lines += ["", "Last lines of the grading log:", "", *markdown_code_block(tail)]
    return lines


def gradescope_from_record(record: Record, possible: float | None = None) -> dict[str, Any]:
    """Gradescope's ``results.json``: a Markdown header, every check a test, the real maximum even on error.

    A check's output is plain text (Gradescope shows it in a ``<pre>``): it quotes learner code's
    errors and server log, whose headings, links and images were drawn as Markdown where learner and
    staff read it ("counted as passed", an image fetched from the learner's server: red-team round 34),
    and the hints' own ``10**400`` and ``**params`` were read as emphasis."""
    possible = possible or record["max_score"]
    tests = [{
        "name": f"{c['group']}: {c['title']}",
        "number": str(i + 1),
        "score": c["score"],
        "max_score": c["max_score"],
        "status": "passed" if c["passed"] else "failed",
        "output": printable(c["output"]) if not c["passed"] or c["output"] != "passed" else "",
        "output_format": "text",
        "visibility": HIDDEN_VISIBILITY if c.get("hidden") else "visible",
    } for i, c in enumerate(record["checks"])]
    data = {"score": record["total"], "output": "\n\n".join(_header(record, possible)), "output_format": "md",
            "test_output_format": "text", "visibility": "visible", "stdout_visibility": "visible",
            "execution_time": round(record["seconds"], 1), "tests": tests}
    if possible:
        data["max_score"] = possible
    return data


def gradescope_due(metadata_path: Path) -> tuple[datetime | None, str]:
    """Due date and submission time, from ``submission_metadata.json``. A learner's extension is their
    own ``assignment`` dates; a group's due date is its members' earliest: the last one listed was
    taken, so a late learner who grouped with a classmate holding an extension was graded on time
    (give each member of a group the extension)."""
    try:
        meta = json.loads(metadata_path.read_text())
    except (OSError, ValueError):
        return None, ""
    due = (meta.get("assignment") or {}).get("due_date")
    members = [(user.get("assignment") or {}).get("due_date") or due for user in meta.get("users") or []]
    dates = [datetime.fromisoformat(d) for d in (members or [due]) if d]
    return (min(dates) if dates else None), meta.get("created_at") or ""


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


# -- GitHub Classroom ---------------------------------------------------------------------------


def _classroom_test(name: str, status: str, score: float, message: str = "") -> dict[str, Any]:
    return {"name": name, "status": status, "message": message, "score": score, "test_code": "",
            "filename": "", "line_no": 0, "execution_time": ""}


def _exact_sum(tests: list[dict[str, Any]], total: float) -> None:
    """Make the reporter's left-to-right sum of the scores print as ``total`` (74.53, not 74.53000000000001).

    Python's floats are the same IEEE doubles as JavaScript's, so summing here in the reporter's order
    is what it will print. Checks are worth whole points and partial credit is rounded to 0.01, so the
    drift is a rounding error: the last test absorbs it, or, if that cannot, carries the remainder.
    """
    def js_sum() -> float:
        acc = 0.0
        for test in tests:
            acc += test["score"]
        return acc

    if not tests or js_sum() == total:
        return
    rest = 0.0
    for test in tests[:-1]:
        rest += test["score"]
    tests[-1]["score"] = total - rest
    if js_sum() != total:  # then the first test carries the total and the others none
        for test in tests:
            test["score"] = 0
        tests[0]["score"] = total


def classroom_results(record: Record, possible: float) -> dict[str, dict[str, Any]]:
    """The reporter's input for each runner of :data:`CLASSROOM_RUNNERS`.

    ``earned``: a passing test per check that earned points (its points as score), out of the points
    earned; ``missed``: a failing test per failed check, its hint after the name (the reporter prints
    names only), out of the points missed. The reporter's table then reads earned + missed = the
    learner's total out of ``possible``, as its notice (what Classroom records) does. A grading error
    is a failing test in ``missed`` worth the whole maximum: Classroom records 0 / ``possible``.
    """
    earned, missed = [], []
    for c in record["checks"]:
        name = f"{c['group']}: {c['title']}"
        if c["score"]:
            label = name + ("" if c["passed"] else " (partial credit)")
            earned.append(_classroom_test(label, "pass", c["score"]))
        if not c["passed"]:
            hint = "\n".join("     " + ln for ln in c["output"].strip().splitlines())
            missed.append(_classroom_test(f"{name}\n{hint}" if hint else name, "fail", 0, c["output"]))
    if record["error"]:
        why = f"grading could not finish: {record['error']}"
        missed.append(_classroom_test(why, "fail", 0, record["error"]))
    total = round(sum(t["score"] for t in earned), 2)
    _exact_sum(earned, total)
    # The reporter divides by the number of tests: a runner never has none.
    earned = earned or [_classroom_test("no check earned points", "fail", 0)]
    missed = missed or [_classroom_test("every check passed", "pass", 0)]
    return {
        "earned": {"version": 1, "status": "pass", "max_score": total, "tests": earned},
        "missed": {"version": 1, "status": "fail" if record["error"] or total < possible else "pass",
                   "max_score": round(possible - total, 2), "tests": missed},
    }


def classroom_output(record: Record, possible: float) -> str:
    """``$GITHUB_OUTPUT`` lines: one base64 JSON per runner, as the reporter reads them."""
    results = classroom_results(record, possible)
    return "".join(f"{runner}={base64.b64encode(json.dumps(results[runner]).encode()).decode()}\n"
                   for runner in CLASSROOM_RUNNERS)


def classroom_log(record: Record, possible: float) -> str:
    """The job log: the total, then each failed check with its full hint (GitHub groups fold them).

    The hints quote learner text, and the runner reads a line starting ``::`` as a workflow command
    (an annotation, a mask, a stop of command processing): they are printed between
    ``::stop-commands::TOKEN`` and ``::TOKEN::``, with a token learner code cannot know.
    """
    lines = [f"Score: {record['total']:g} / {possible:g} points"]
    if record["error"]:
        lines.append(f"::error title=Grading could not finish::{command_data(record['error'])}")
    token = secrets.token_hex(16)
    lines += [f"::stop-commands::{token}", *record["notes"]]
    for c in record["checks"]:
        mark = "PASS" if c["passed"] else ("PART" if c["score"] else "FAIL")
        lines.append(f"{mark} {c['group']}: {c['title']} ({c['score']:g} / {c['max_score']:g})")
        if not c["passed"]:
            lines += ["     " + ln for ln in c["output"].strip().splitlines()]
    lines.append(f"::{token}::")
    return "\n".join(lines) + "\n"


def command_data(text: str) -> str:
    """``text`` as a workflow command's message: GitHub's escapes, so it stays on its one line."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def classroom_step_summary(record: Record, possible: float) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY``: the total and a table of failed checks with their hints."""
    lines = ["## Autograding: BentoML production kit", "", *_header(record, possible), ""]
    failed = [c for c in record["checks"] if not c["passed"]]
    if failed:
        lines += ["| check | points | what to fix |", "|---|---|---|"]
        for c in failed:
            lines.append(f"| {c['group']}: {c['title']} | {c['score']:g} / {c['max_score']:g} | "
                         f"{markdown_cell(c['output'])} |")
    elif record["checks"]:
        lines.append("Every check passed.")
    return "\n".join(lines) + "\n"


def write_workflow(out: Path, kit_spec: str) -> Path:
    """The learner repository's ``.github/workflows/classroom.yml`` installing ``kit_spec``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text((TEMPLATES / "classroom.yml").read_text().replace("{{KIT_SPEC}}", kit_spec))
    return out


# -- PrairieLearn -------------------------------------------------------------------------------


def prairielearn_not_gradable(record: Record, why: str) -> dict[str, Any]:
    """PrairieLearn's ``results.json`` for a grading that is no verdict on the work: ``gradable`` false
    awards and takes no points, and costs the learner no attempt."""
    return {"gradable": False, "format_errors": [why], "message": why, "output": record.get("log", "")}


def prairielearn_results(record: Record, possible: float) -> dict[str, Any]:
    """PrairieLearn's external-grading ``results.json``: ``score`` is a fraction, ``tests`` use ``points``."""
    return {
        "gradable": True,  # a submission that cannot be graded scores 0 with the reason, as elsewhere
        "score": round(record["total"] / possible, 4) if possible else 0.0,
        "message": "\n".join(_header(record, possible)),
        "output": record.get("log", ""),
        "tests": [{"name": f"{c['group']}: {c['title']}", "points": c["score"], "max_points": c["max_score"],
                   "output": c["output"] if not c["passed"] else "", "message": "" if c["passed"] else
                   c["output"].strip().splitlines()[0] if c["output"].strip() else ""}
                  for c in record["checks"]],
    }
