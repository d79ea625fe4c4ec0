"""The class's outputs, rebuilt from every stored record: gradebook CSV, feedback, summary, plot.

Every function here takes records (the dicts of :mod:`grader.cohort.store`), so a run that
regraded one learner rebuilds the same class-wide outputs as a full run.
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from grader.cohort import platforms, runner, similarity
from grader.cohort.store import learner_dir, write_atomic
from grader.report import markdown_cell, markdown_code_block, markdown_inline

Record = dict[str, Any]

PASSED, FAILED, NOT_CHECKED = "passed", "failed", "not checked"


def check_status(check: dict[str, Any]) -> str:
    """passed, failed, or not checked (it could not run: another check failed, or the time limit passed)."""
    if check["passed"]:
        return PASSED
    lines = [ln.strip() for ln in check["output"].strip().splitlines() if ln.strip()]
    # "not checked: ...", or a pointer to the check that failed first ("not built: ... (see the ... checks)").
    unchecked = re.compile(r"^(- [^:]+: )?((not checked|not run|cannot be checked)\b"
                           r"|(not|no) [^(]*\(see the )")
    if check["score"] == 0 and lines and unchecked.match(lines[0]):
        return NOT_CHECKED
    return FAILED


def real_hint(output: str) -> str:
    """The first line of a failure's output with content: not a bare list label ("- 12 probes") nor a
    header ending with ':'; the first non-empty line when every line is such."""
    lines = [ln.strip() for ln in output.strip().splitlines() if ln.strip()]
    for line in lines:
        if line.endswith(":") or (line.startswith("- ") and ": " not in line):
            continue
        return line
    return lines[0] if lines else ""


def check_columns(records: list[Record]) -> list[tuple[str, str, float]]:
    """(id, title, max points) of every check any learner was graded on, in grading order."""
    seen: dict[str, tuple[str, str, float]] = {}
    for record in records:
        for check in record["checks"]:
            seen.setdefault(check["id"], (check["id"], f"{check['group']}: {check['title']}",
                                          check["max_score"]))
    return list(seen.values())


def class_max(records: list[Record]) -> float:
    """The most points there are: a learner whose grading failed is scored out of this too."""
    return round(sum(points for _, _, points in check_columns(records)), 2)


def sort_records(records: list[Record]) -> list[Record]:
    return sorted(records, key=lambda r: (r["learner"].lower(), r["id"]))


def gradebook_csv(records: list[Record]) -> str:
    """One row per learner: total (after any late penalty), maximum, late facts, per-check points, error."""
    columns = check_columns(records)
    possible = class_max(records)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["learner", "id", "total", "max_score", "percent", "raw_score", "submitted_at", "late",
                     "penalty_percent", *(c[0] for c in columns), "error", "graded_at", "digest"])
    for r in sort_records(records):
        points = {c["id"]: c["score"] for c in r["checks"]}
        percent = round(100 * r["total"] / possible, 1) if possible else 0.0
        late = r.get("late") or {}
        writer.writerow([_text(r["learner"]), _text(r["id"]), r["total"], possible, percent, r["score"],
                         _text(r.get("submitted_at", "")), _text(late.get("label", "")),
                         late.get("penalty_percent", 0), *(points.get(cid, 0) for cid, _, _ in columns),
                         _text(r["error"]), r["graded_at"], r["digest"][:12]])
    return buffer.getvalue()


#: What makes a spreadsheet read a cell as a formula (OWASP's "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    """A text cell that a spreadsheet shows as text: a name such as ``=HYPERLINK(...)`` (from a class
    list or a folder name) gets a leading apostrophe instead of running when the gradebook is opened.
    Written by hand: the csv module has no such option."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def feedback_markdown(record: Record, possible: float) -> str:
    """What a learner reads: their score, each check with points, and the hint of each failure."""
    lines = [f"# Feedback for {markdown_inline(record['learner'])}", "",
             f"**Score: {record['total']:g} / {possible:g}**", ""]
    late = record.get("late") or {}
    if late.get("label"):
        lines += [f"Submitted {late['label']}" + (f"; late penalty {late['penalty_percent']:g}% "
                                                   f"(raw score {record['score']:g})."
                                                   if late.get("penalty_percent") else "."), ""]
    if record["error"]:
        lines += [f"Grading could not finish: {markdown_inline(record['error'])}.", ""]
        tail = "\n".join(record.get("log", "").splitlines()[-runner.LOG_TAIL:])
        if tail:
            lines += ["Last lines of the grading log:", "", *markdown_code_block(tail), ""]
    lines += [f"- {markdown_inline(note)}" for note in record["notes"]] + ([""] if record["notes"] else [])
    group = None
    for check in record["checks"]:
        if check["group"] != group:
            group = check["group"]
            lines += [f"## {group}", "", "| check | points |", "|---|---|"]
        mark = {PASSED: "✅", FAILED: "❌", NOT_CHECKED: "➖"}[check_status(check)]
        hidden = " (hidden inputs)" if check.get("hidden") else ""
        lines.append(f"| {mark} {check['title']}{hidden} | {check['score']:g} / {check['max_score']:g} |")
        if not check["passed"] and check["output"]:
            lines.append(f"| ↳ {markdown_cell(check['output'])} | |")
    return "\n".join(lines) + "\n"


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(Q1, median, Q3), linear interpolation between order statistics (numpy's default)."""
    if not values:
        return 0.0, 0.0, 0.0
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def pass_rates(records: list[Record]) -> list[dict[str, Any]]:
    """Every check, in grading order: passed / failed / not checked counts and the commonest real hint."""
    graded = [r for r in records if r["checks"]]
    rows = []
    for cid, title, points in check_columns(records):
        counts: Counter[str] = Counter()
        hints: Counter[str] = Counter()
        for record in graded:
            check = next((c for c in record["checks"] if c["id"] == cid), None)
            if check is None:
                continue
            status = check_status(check)
            counts[status] += 1
            if status == FAILED:
                hints[real_hint(check["output"])] += 1
        seen = sum(counts.values())
        rows.append({"id": cid, "check": title, "points": points, "passed": counts[PASSED],
                     "failed": counts[FAILED], "not_checked": counts[NOT_CHECKED], "graded": seen,
                     "pass_rate": counts[PASSED] / seen if seen else 0.0,
                     "hint": hints.most_common(1)[0][0] if hints else ""})
    return rows


def pass_rate_table(records: list[Record]) -> list[str]:
    """The pass-rate table as markdown lines."""
    lines = ["| check | points | passed | failed | not checked | pass rate | commonest hint of a failure |",
             "|---|---|---|---|---|---|---|"]
    for row in pass_rates(records):
        lines.append(f"| {row['check']} | {row['points']:g} | {row['passed']} | {row['failed']} | "
                     f"{row['not_checked']} | {100 * row['pass_rate']:.0f}% | {markdown_cell(row['hint'])} |")
    return lines


def plot_distribution(records: list[Record], path: Path) -> Path:
    """A histogram of the class's percentages."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    possible = class_max(records) or 1
    percents = [100 * r["total"] / possible for r in records]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(percents, bins=[i * 10 for i in range(11)], color="#4c72b0", edgecolor="white")
    ax.set(xlabel="score (% of the points)", ylabel="learners", xlim=(0, 100),
           title=f"Score distribution ({len(records)} submissions)")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    plt.close(fig)
    return write_atomic(path, buffer.getvalue())


def summary_markdown(records: list[Record], run: dict[str, Any], sim: similarity.Report) -> str:
    """The instructor's page: statistics, pass rates, similarity, and who could not be graded."""
    possible = class_max(records)
    totals = sorted(r["total"] for r in records)
    q1, median, q3 = quartiles(totals)
    graded = [r for r in records if r["checks"]]
    late = [r for r in records if (r.get("late") or {}).get("late")]
    mean = statistics.fmean(totals) if totals else 0.0
    lines = ["# Class summary", "",
             f"{len(records)} learners ({len(graded)} graded to the end, {len(records) - len(graded)} not); "
             f"this run graded {run['graded']} and kept {run['kept']} stored results "
             f"({run['seconds']:.0f} s; peak memory of one grading {run['peak_rss_mb']:.0f} MiB).", "",
             "| statistic | points |", "|---|---|",
             f"| maximum possible | {possible:g} |", f"| mean | {mean:.2f} |",
             f"| median | {median:g} |", f"| lower quartile (Q1) | {q1:g} |",
             f"| upper quartile (Q3) | {q3:g} |",
             f"| lowest / highest | {(totals or [0])[0]:g} / {(totals or [0])[-1]:g} |",
             f"| full marks | {sum(t == possible for t in totals)} learners |",
             f"| late | {len(late)} learners |", "",
             *([f"**Check the deadline.** {run['warning']}", ""] if run.get("warning") else []),
             "![score distribution](score_distribution.png)", "",
             "## Pass rate of every check", "",
             "\"not checked\": the check could not run because an earlier one failed (or the time limit "
             "was reached); it is not counted as failed here.", "",
             *pass_rate_table(records), ""]
    lines += similarity.markdown(sim)
    broken = [r for r in sort_records(records) if r["error"]]
    if broken:
        lines += ["", "## Not graded to the end", ""]
        lines += [f"- {markdown_inline(r['learner'])} (`{r['id']}`): {markdown_inline(r['error'])}"
                  for r in broken]
    return "\n".join(lines) + "\n"


def rebuild(out: Path, records: dict[str, Record], run: dict[str, Any],
            threshold: float = similarity.THRESHOLD) -> dict[str, Path]:
    """Every class-wide output under ``out`` from all stored ``records``; returns the main paths."""
    rows = list(records.values())
    possible = class_max(rows)
    for record in rows:
        folder = learner_dir(out, record["id"])
        write_atomic(folder / "feedback.md", feedback_markdown(record, possible))
        write_atomic(folder / "results.json", json.dumps(platforms.gradescope_from_record(record, possible),
                                                         indent=2))
    sim = similarity.compare(out, rows, threshold)
    run = {**run, "peak_rss_mb": max((r["peak_rss_mb"] for r in rows), default=0.0)}
    paths = {
        "gradebook": write_atomic(out / "gradebook.csv", gradebook_csv(rows)),
        "plot": plot_distribution(rows, out / "score_distribution.png"),
        "summary": write_atomic(out / "summary.md", summary_markdown(rows, run, sim)),
        "similarity": write_atomic(out / "similarity.json", json.dumps(similarity.as_json(sim), indent=2)),
    }
    q1, median, q3 = quartiles(sorted(r["total"] for r in rows))
    paths["class"] = write_atomic(out / "class.json", json.dumps({
        "submissions": len(rows), "max_score": possible, "median": median, "q1": q1, "q3": q3,
        "run": run, "pass_rates": pass_rates(rows),
        "learners": [{"learner": r["learner"], "id": r["id"], "total": r["total"], "score": r["score"],
                      "error": r["error"], "seconds": round(r["seconds"], 1), "graded_at": r["graded_at"],
                      "peak_rss_mb": round(r["peak_rss_mb"], 1)} for r in sort_records(rows)]}, indent=2))
    return paths
