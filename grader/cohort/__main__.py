"""``python -m grader.cohort``: grade a class, or grade on Gradescope, GitHub Classroom or PrairieLearn.

  grade SUBMISSIONS [--csv] --out DIR [-j N]   grade whoever needs it, store each result at once,
        [--only A,B] [--force]                 rebuild the gradebook and summary from every result
        [--deadline ISO] [--late-penalty P]
  bundle --out autograder.zip                  write the Gradescope autograder bundle
  classroom --out DIR --kit SPEC               write the GitHub Classroom workflow
  gradescope --root /autograder                (inside Gradescope) grade the one submission
  classroom-run --submission DIR               (inside GitHub Actions, with sudo) grade, log the hints, feed
                                               the reporter
  prairielearn --job /grade                    (inside PrairieLearn's external grader) grade /grade/student
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from grader import arguments
from grader.cohort import classrun, platforms, runner, similarity, submissions
from grader.report import one_line


def _limits(args: argparse.Namespace) -> runner.Limits:
    return runner.Limits(seconds=args.time_limit, memory_mb=args.memory_limit)


def _sigterm_interrupts() -> None:
    """SIGTERM (a ``kill``, a scheduler's stop) unwinds like Ctrl-C: the run stops and keeps its results."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


def cmd_grade(args: argparse.Namespace) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    subs = submissions.from_csv(args.source) if args.csv else submissions.from_folder(args.source)
    if not subs:
        print(f"no submissions found in {args.source}", file=sys.stderr)
        return 1
    _sigterm_interrupts()
    out = args.out.resolve()
    work = Path(tempfile.mkdtemp(prefix="cohort-work-"))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    try:
        with Progress(*columns, transient=False) as progress:
            done = classrun.run_class(
                subs, out, work, jobs=args.jobs, limits=_limits(args), only=args.only.split(",") if args.only
                else (), force=args.force, deadline=args.deadline, late_penalty=args.late_penalty,
                threshold=args.similarity_threshold,
                keep_work=args.keep_work, progress=progress,
                # A line quotes learner text (an error naming their folder "[/x]"): printed as it is,
                # never read as rich markup, which raised on it and ended the class run.
                say=lambda line: progress.console.print(line, markup=False, highlight=False))
    finally:
        if not args.keep_work:
            runner.cleanup(work)
    print(f"Graded {len(done.graded)}, kept {len(done.kept)} stored results ({done.seconds:.0f} s).\n"
          f"Gradebook: {done.paths['gradebook']}\nClass summary: {done.paths['summary']}\n"
          f"Per-learner feedback, results.json, grader.log: {out / 'learners'}")
    if done.warning:
        print(f"Warning: {done.warning}", file=sys.stderr)
    if done.stood:
        names = ", ".join(map(one_line, sorted(done.stood)))
        print(f"Warning: {len(done.stood)} learner(s) could not be graded, for a reason that says nothing of "
              f"their work (their lines above); their stored results stand: {names}. Run again when their "
              f"sources can be reached.", file=sys.stderr)
    if done.clashed:
        names = ", ".join(map(one_line, done.clashed))
        print(f"Warning: {len(done.clashed)} learner(s) not graded, their id being a stored learner's of "
              f"another name (their lines above): {names}. Rename them in the class list.", file=sys.stderr)
    if done.interrupted:
        print("Interrupted: every finished grading is stored; run the same command again to grade the rest.",
              file=sys.stderr)
        return 130
    return 0


def _grade_single(folder: Path, name: str, args: argparse.Namespace, submitted_at: str = "",
                  deadline: datetime | None = None,
                  grader_args: tuple[str, ...] = runner.GRADER_ARGS) -> tuple[dict, float, str]:
    """Grade one folder as a class run grades a learner; returns its record, the maximum, and why the
    grading is no verdict on the work ('' when it is one: ``runner.Outcome.no_verdict``)."""
    sub = submissions.Submission(name, str(folder.resolve()), submitted_at)
    with tempfile.TemporaryDirectory(prefix="kit-grading-") as work:
        outcome = runner.grade_one(sub, Path(work), _limits(args), grader_args)
    late = classrun.LatePolicy(deadline, getattr(args, "late_penalty", None) or 0.0)
    record = classrun.to_record(outcome, sub, late)
    error = outcome.error[:1].upper() + outcome.error[1:]
    no_verdict = (f"{error}. That says nothing of the submission, so no score is given: grade it again where "
                  f"that step can run.") if outcome.no_verdict else ""
    return record, outcome.max_score or args.max_score, no_verdict


def cmd_gradescope(args: argparse.Namespace) -> int:
    """Gradescope: the learner-safe grading log on stdout, ``results/results.json`` in markdown."""
    root = args.root
    due, created = platforms.gradescope_due(root / "submission_metadata.json")
    learner = os.environ.get("KIT_LEARNER", "submission")
    deadline = args.deadline or due
    record, possible, no_verdict = _grade_single(root / "submission", learner, args, created, deadline)
    sys.stdout.write(record_log(record))
    if no_verdict:  # no results.json: Gradescope shows the autograder failed, and the run can be regraded
        print(no_verdict, file=sys.stderr)
        return 1
    path = root / "results" / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(platforms.gradescope_from_record(record, possible), indent=2))
    print(f"{record['total']:g} / {possible:g} points")
    return 0


def record_log(record: dict) -> str:
    """The grading log a learner may read (already free of machine paths)."""
    return record["log"].rstrip() + "\n" if record["log"] else ""


def classroom_confinement(unconfined: bool) -> str:
    """Why a Classroom run cannot report a score learner code could not change ('' when it can).

    Classroom records whatever the job reports. Run as the runner's own user, learner code runs as
    that user too: a daemon its import left read ``$GITHUB_OUTPUT`` from the grader's environment and
    appended a full score after the grader's (reproduced: 93 reported as 100).
    """
    if os.geteuid() != 0:
        if unconfined:
            return ""
        return ("Not graded: GitHub Classroom records the score this job reports, and run as this user "
                "(not root) the learner's code runs as the same user and could change that score. Run it "
                "with sudo, as the workflow `./kit cohort classroom` writes does, or pass --unconfined to "
                "grade anyway (a self-hosted runner without sudo; the score is then not protected).")
    from bentokit import procs

    try:
        with procs.Sandbox.acquire(confine=True):
            pass
    except procs.SandboxError as err:
        return f"Not graded: the learner's code cannot run as a user of its own on this runner: {err}"
    return ""


def cmd_classroom_run(args: argparse.Namespace) -> int:
    """GitHub Actions: hints in the job log and step summary; the reporter's input in ``$GITHUB_OUTPUT``."""
    if problem := classroom_confinement(args.unconfined):  # the job fails: the reporter records nothing
        print(problem, file=sys.stderr)
        return 1
    confine = ("--confine", "require") if os.geteuid() == 0 else ()
    record, possible, no_verdict = _grade_single(args.submission, "learner", args,
                                                 grader_args=(*runner.GRADER_ARGS, *confine))
    if no_verdict:  # the job fails before the reporter step, which then records no points
        sys.stdout.write(record_log(record))
        print(no_verdict, file=sys.stderr)
        return 1
    sys.stdout.write(platforms.classroom_log(record, possible))
    outputs = os.environ.get("GITHUB_OUTPUT")
    if outputs:
        with open(outputs, "a") as fh:
            fh.write(platforms.classroom_output(record, possible))
    else:
        sys.stdout.write(platforms.classroom_output(record, possible))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as fh:
            fh.write(platforms.classroom_step_summary(record, possible))
    return 0


def cmd_prairielearn(args: argparse.Namespace) -> int:
    """PrairieLearn's external grader: ``JOB/student`` graded into ``JOB/results/results.json``."""
    record, possible, no_verdict = _grade_single(args.job / "student", "student", args)
    sys.stdout.write(record_log(record))
    path = args.job / "results" / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    results = (platforms.prairielearn_not_gradable(record, no_verdict) if no_verdict
               else platforms.prairielearn_results(record, possible))
    path.write_text(json.dumps(results, indent=2))
    if no_verdict:
        print(no_verdict, file=sys.stderr)
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    print(f"Gradescope autograder bundle: {platforms.write_bundle(args.out)}")
    return 0


def cmd_classroom(args: argparse.Namespace) -> int:
    path = platforms.write_workflow(args.out / ".github" / "workflows" / "classroom.yml", args.kit)
    print(f"GitHub Classroom workflow: {path}")
    return 0


def _time(text: str) -> datetime:
    try:
        return classrun.parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time: {text!r} (e.g. 2026-03-01T23:59:00+01:00)") from None


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m grader.cohort", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="command", required=True)
    grade = sub.add_parser("grade", help="grade a class (again: only who changed)")
    grade.add_argument("source", type=Path, help="a folder with one sub-folder per learner, or a CSV (--csv)")
    grade.add_argument("--csv", action="store_true",
                       help="SOURCE is a CSV: learner,source[,submitted_at] (source: a path or git URL)")
    grade.add_argument("--out", type=arguments.output_folder, default=Path("cohort-results"),
                       help="where the results go; a re-run into it grades only new or changed submissions")
    grade.add_argument("-j", "--jobs", type=arguments.number(1, integer=True, what="1 or more"),
                       default=os.cpu_count() or 1, help="submissions at a time")
    grade.add_argument("--only", default="", metavar="NAME[,NAME]",
                       help="grade these learners (names or ids) again, whether changed or not")
    grade.add_argument("--force", action="store_true", help="grade every learner again (with --only: those)")
    grade.add_argument("--similarity-threshold", type=arguments.number(0, 1, what="a number from 0 to 1"),
                       default=similarity.THRESHOLD,
                       help="token similarity from which two service.py are listed (default %(default)s)")
    grade.add_argument("--keep-work", action="store_true", help="keep the per-learner work folders")
    grade.set_defaults(func=cmd_grade)
    gradescope = sub.add_parser("gradescope", help="(on Gradescope) grade /autograder/submission")
    gradescope.add_argument("--root", type=Path, default=Path("/autograder"))
    gradescope.set_defaults(func=cmd_gradescope)
    run = sub.add_parser("classroom-run", help="(in GitHub Actions) grade, log the hints, feed the reporter")
    run.add_argument("--submission", type=Path, default=Path("."))
    run.add_argument("--unconfined", action="store_true",
                     help="grade although not root (learner code then runs as this user and could change "
                          "the score it reports)")
    run.set_defaults(func=cmd_classroom_run)
    prairie = sub.add_parser("prairielearn", help="(in PrairieLearn's external grader) grade JOB/student")
    prairie.add_argument("--job", type=Path, default=Path("/grade"))
    prairie.set_defaults(func=cmd_prairielearn)
    for command in (grade, gradescope, run, prairie):
        command.add_argument("--time-limit", type=arguments.number(0, above=True, what="seconds above 0"),
                             default=300, help="seconds per submission")
        command.add_argument("--memory-limit", type=arguments.number(0, above=True, what="MiB above 0"),
                             default=4096, help="MiB per submission")
    for command in (grade, gradescope):
        command.add_argument("--deadline", type=_time, default=None,
                             help="ISO 8601 due time (Gradescope: default from submission_metadata.json; "
                                  "grade: the class's, once given); git sources are graded at their last "
                                  "commit before it")
        command.add_argument("--late-penalty", type=arguments.number(0, 100, what="a percent from 0 to 100"),
                             default=None, metavar="PERCENT",
                             help="percent of the score lost per started day late (default 0: mark only; "
                                  "grade: the class's, once given)")
    for command in (gradescope, run, prairie):
        command.add_argument("--max-score", type=arguments.number(0, above=True, what="a number above 0"),
                             default=classrun.DEFAULT_MAX,
                             help="the maximum reported when grading cannot finish (default %(default)s)")
    bundle = sub.add_parser("bundle", help="write the Gradescope autograder bundle")
    bundle.add_argument("--out", type=Path, default=Path("autograder.zip"))
    bundle.set_defaults(func=cmd_bundle)
    classroom = sub.add_parser("classroom", help="write the GitHub Classroom workflow")
    classroom.add_argument("--out", type=arguments.output_folder, default=Path("."),
                           help="the template repository's folder")
    classroom.add_argument("--kit", required=True,
                           help="pip spec of the kit, e.g. 'bentoml-production-kit @ git+https://...'")
    classroom.set_defaults(func=cmd_classroom)
    return top


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (submissions.SubmissionError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second stop, while the first one's gradings were ending
        print("Interrupted: every finished grading is stored; run the same command again to grade the rest "
              "and rebuild the class outputs.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
