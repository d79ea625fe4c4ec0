"""``python -m grader.cohort``: grade a class, or run the grader on Gradescope / GitHub Classroom.

  grade SUBMISSIONS [--csv] --out DIR [-j N]   grade every learner, write the gradebook and summary
  bundle --out autograder.zip                  write the Gradescope autograder bundle
  classroom --out DIR --kit SPEC               write the GitHub Classroom workflow
  gradescope --root /autograder                (inside Gradescope) grade the one submission
  classroom-run --submission DIR               (inside GitHub Actions) grade and print the reporter output
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from grader.cohort import gradebook, platforms, runner, submissions


def _limits(args: argparse.Namespace) -> runner.Limits:
    return runner.Limits(seconds=args.time_limit, memory_mb=args.memory_limit)


def cmd_grade(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    subs = submissions.from_csv(args.source) if args.csv else submissions.from_folder(args.source)
    if not subs:
        print(f"no submissions found in {args.source}", file=sys.stderr)
        return 1
    print(f"Grading {len(subs)} submissions, {args.jobs} at a time "
          f"(limits: {args.time_limit:.0f} s, {args.memory_limit:.0f} MiB each)")
    work = Path(tempfile.mkdtemp(prefix="cohort-work-"))
    started = time.monotonic()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task("graded", total=len(subs))

            def done(outcome: runner.Outcome) -> None:
                status = f"error: {outcome.error}" if outcome.error else f"{outcome.score:g} points"
                progress.console.print(f"  {outcome.learner}: {status} ({outcome.seconds:.0f} s)")
                progress.advance(task)

            outcomes = runner.grade_all(subs, work, args.jobs, _limits(args), on_done=done)
        paths = gradebook.write_all(outcomes, args.out, time.monotonic() - started)
    finally:
        if not args.keep_work:
            runner.cleanup(work)
    print(f"Gradebook: {paths['gradebook']}\nClass summary: {paths['summary']}\n"
          f"Per-learner feedback and results.json: {args.out / 'learners'}")
    return 0


def cmd_gradescope(args: argparse.Namespace) -> int:
    root = args.root
    sub = submissions.Submission(os.environ.get("KIT_LEARNER", "submission"), str(root / "submission"))
    with tempfile.TemporaryDirectory(prefix="gradescope-") as work:
        outcome = runner.grade_one(sub, Path(work), _limits(args))
        path = platforms.gradescope_results(outcome, outcome.max_score, root / "results")
    print(f"{outcome.score:g} / {outcome.max_score:g} points -> {path}")
    return 0


def cmd_classroom_run(args: argparse.Namespace) -> int:
    sub = submissions.Submission("learner", str(args.submission.resolve()))
    with tempfile.TemporaryDirectory(prefix="classroom-") as work:
        outcome = runner.grade_one(sub, Path(work), _limits(args))
    print(f"{outcome.score:g} / {outcome.max_score:g} points", file=sys.stderr)
    sys.stdout.write(platforms.classroom_output(outcome))
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    print(f"Gradescope autograder bundle: {platforms.write_bundle(args.out)}")
    return 0


def cmd_classroom(args: argparse.Namespace) -> int:
    path = platforms.write_workflow(args.out / ".github" / "workflows" / "classroom.yml", args.kit)
    print(f"GitHub Classroom workflow: {path}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m grader.cohort", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="command", required=True)
    grade = sub.add_parser("grade", help="grade a class")
    grade.add_argument("source", type=Path, help="a folder with one sub-folder per learner, or a CSV (--csv)")
    grade.add_argument("--csv", action="store_true",
                       help="SOURCE is a CSV: learner,source (path or git URL)")
    grade.add_argument("--out", type=Path, default=Path("cohort-results"), help="where the outputs go")
    grade.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="submissions at a time")
    grade.add_argument("--keep-work", action="store_true", help="keep the per-learner work folders")
    grade.set_defaults(func=cmd_grade)
    gradescope = sub.add_parser("gradescope", help="(on Gradescope) grade /autograder/submission")
    gradescope.add_argument("--root", type=Path, default=Path("/autograder"))
    gradescope.set_defaults(func=cmd_gradescope)
    run = sub.add_parser("classroom-run", help="(in GitHub Actions) grade and print the reporter output")
    run.add_argument("--submission", type=Path, default=Path("."))
    run.set_defaults(func=cmd_classroom_run)
    for command in (grade, gradescope, run):
        command.add_argument("--time-limit", type=float, default=300, help="seconds per submission")
        command.add_argument("--memory-limit", type=float, default=4096, help="MiB per submission")
    bundle = sub.add_parser("bundle", help="write the Gradescope autograder bundle")
    bundle.add_argument("--out", type=Path, default=Path("autograder.zip"))
    bundle.set_defaults(func=cmd_bundle)
    classroom = sub.add_parser("classroom", help="write the GitHub Classroom workflow")
    classroom.add_argument("--out", type=Path, default=Path("."), help="the template repository's folder")
    classroom.add_argument("--kit", required=True,
                           help="pip spec of the kit, e.g. 'bentoml-production-kit @ git+https://...'")
    classroom.set_defaults(func=cmd_classroom)
    return top


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except submissions.SubmissionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
