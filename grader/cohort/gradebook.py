"""The class's outputs: gradebook CSV, per-learner feedback and results.json, class summary and plot."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

from grader.cohort.runner import Outcome, safe_name


def check_columns(outcomes: list[Outcome]) -> list[tuple[str, str, float]]:
    """(id, title, max points) of every check any learner was graded on, in grading order."""
    seen: dict[str, tuple[str, str, float]] = {}
    for outcome in outcomes:
        for check in outcome.checks:
            seen.setdefault(check["id"], (check["id"], f"{check['group']}: {check['title']}",
                                          check["max_score"]))
    return list(seen.values())


def class_max(outcomes: list[Outcome]) -> float:
    """The most points there are: a learner whose grading failed is scored out of this too."""
    return round(sum(points for _, _, points in check_columns(outcomes)), 2)


def write_gradebook(outcomes: list[Outcome], path: Path) -> Path:
    """One row per learner: total, maximum, per-check points, and the error if grading failed."""
    columns = check_columns(outcomes)
    possible = class_max(outcomes)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["learner", "total", "max_score", "percent", *(c[0] for c in columns), "error"])
        for o in outcomes:
            points = {c["id"]: c["score"] for c in o.checks}
            percent = round(100 * o.score / possible, 1) if possible else 0.0
            writer.writerow([o.learner, o.score, possible, percent,
                             *(points.get(cid, 0) for cid, _, _ in columns), o.error])
    return path


def feedback_markdown(outcome: Outcome, possible: float) -> str:
    """What a learner reads: their score, each check with points, and the hint of each failure."""
    lines = [f"# Feedback for {outcome.learner}", "",
             f"**Score: {outcome.score:g} / {possible:g}**", ""]
    if outcome.error:
        lines += [f"Grading could not finish: {outcome.error}.", ""]
        if outcome.log_tail:
            lines += ["Last lines of the grading log:", "", "```text", outcome.log_tail, "```", ""]
    lines += [f"- {note}" for note in outcome.notes] + ([""] if outcome.notes else [])
    group = None
    for check in outcome.checks:
        if check["group"] != group:
            group = check["group"]
            lines += [f"## {group}", "", "| check | points |", "|---|---|"]
        mark = "✅" if check["passed"] else "❌"
        hidden = " (hidden inputs)" if check.get("hidden") else ""
        lines.append(f"| {mark} {check['title']}{hidden} | {check['score']:g} / {check['max_score']:g} |")
        if not check["passed"] and check["output"]:
            hint = check["output"].strip().replace("\n", "<br>").replace("|", "\\|")
            lines.append(f"| ↳ {hint} | |")
    return "\n".join(lines) + "\n"


def most_failed(outcomes: list[Outcome], top: int = 10) -> list[dict]:
    """The checks most learners failed, with how many and the hint most of them got."""
    graded = [o for o in outcomes if o.checks]
    fails: Counter[str] = Counter()
    hints: dict[str, Counter[str]] = {}
    titles: dict[str, str] = {}
    for outcome in graded:
        for check in outcome.checks:
            titles[check["id"]] = f"{check['group']}: {check['title']}"
            if not check["passed"]:
                fails[check["id"]] += 1
                first = (check["output"].strip().splitlines() or [""])[0]
                # "not checked: ..." only follows another check's failure: it is no hint to re-teach.
                weight = 0.001 if first.startswith("not checked") else 1
                hints.setdefault(check["id"], Counter())[first] += weight
    return [{"id": cid, "check": titles[cid], "failed": n, "graded": len(graded),
             "hint": hints[cid].most_common(1)[0][0]} for cid, n in fails.most_common(top)]


def plot_distribution(outcomes: list[Outcome], path: Path) -> Path:
    """A histogram of the class's percentages."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    possible = class_max(outcomes) or 1
    percents = [100 * o.score / possible for o in outcomes]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(percents, bins=[i * 10 for i in range(11)], color="#4c72b0", edgecolor="white")
    ax.set(xlabel="score (% of the points)", ylabel="learners", xlim=(0, 100),
           title=f"Score distribution ({len(outcomes)} submissions)")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def summary_markdown(outcomes: list[Outcome], seconds: float, peak_rss_mb: float) -> str:
    """The instructor's page: distribution, failures to re-teach, and who could not be graded."""
    possible = class_max(outcomes)
    scores = sorted(o.score for o in outcomes)
    median = scores[len(scores) // 2] if scores else 0
    lines = ["# Class summary", "",
             f"{len(outcomes)} submissions graded in {seconds:.0f} s; peak memory of one grading "
             f"{peak_rss_mb:.0f} MiB. Median score {median:g} / {possible:g}; "
             f"{sum(o.score == possible for o in outcomes)} full marks.", "",
             "![score distribution](score_distribution.png)", "",
             "## What to re-teach: the most-failed checks", "",
             "| check | failed | hint most learners got |", "|---|---|---|"]
    for row in most_failed(outcomes):
        hint = row["hint"].replace("|", "\\|")
        lines.append(f"| {row['check']} | {row['failed']} / {row['graded']} | {hint} |")
    broken = [o for o in outcomes if o.error]
    if broken:
        lines += ["", "## Not graded to the end", ""]
        lines += [f"- {o.learner}: {o.error}" for o in broken]
    return "\n".join(lines) + "\n"


def write_all(outcomes: list[Outcome], out: Path, seconds: float) -> dict[str, Path]:
    """Every output of a class run under ``out``; returns the main paths."""
    out.mkdir(parents=True, exist_ok=True)
    learners = out / "learners"
    learners.mkdir(exist_ok=True)
    possible = class_max(outcomes)
    for outcome in outcomes:
        folder = learners / safe_name(outcome.learner)
        folder.mkdir(exist_ok=True)
        (folder / "feedback.md").write_text(feedback_markdown(outcome, possible))
        source = outcome.results_dir / "results.json" if outcome.results_dir else None
        if source and source.is_file() and not outcome.error:
            shutil.copyfile(source, folder / "results.json")
        else:
            (folder / "results.json").write_text(json.dumps({
                "score": 0, "max_score": possible, "output": f"Grading could not finish: {outcome.error}",
                "tests": []}, indent=2))
    peak = max((o.peak_rss_mb for o in outcomes), default=0.0)
    paths = {
        "gradebook": write_gradebook(outcomes, out / "gradebook.csv"),
        "plot": plot_distribution(outcomes, out / "score_distribution.png"),
        "summary": out / "summary.md",
    }
    paths["summary"].write_text(summary_markdown(outcomes, seconds, peak))
    (out / "class.json").write_text(json.dumps({
        "submissions": len(outcomes), "seconds": round(seconds, 1), "peak_rss_mb": round(peak, 1),
        "max_score": possible,
        "learners": [{"learner": o.learner, "score": o.score, "error": o.error,
                      "seconds": round(o.seconds, 1), "peak_rss_mb": round(o.peak_rss_mb, 1)}
                     for o in outcomes]}, indent=2))
    return paths
