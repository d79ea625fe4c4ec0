"""The learner loop's commands (``python -m grader.learn``, ``./kit learn``): exercises one by one.

    python -m grader.learn list               the exercises, done or not, and the progress bar
    python -m grader.learn check [NAME|--all] grade the current exercise (or NAME, or all)
    python -m grader.learn hint [NAME]        the next hint: first a nudge, then the concrete fix
    python -m grader.learn watch              re-grade the current exercise each time you save it
    python -m grader.learn reset NAME [--yes] restore NAME's files (your version is backed up)

Options before the command: --submission DIR (default exercises), --results DIR (default
grader-results/learn). Grading runs your train.py into a fresh temporary model store, then the
grader's checks of the exercise (the live ones start your service on a free port).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from bentokit import procs
from grader import arguments
from grader.learn import grading as exercise_run
from grader.learn import manifest as exercises
from grader.learn import reset as resetting
from grader.learn import training
from grader.learn import watch as watching
from grader.learn.manifest import Exercise
from grader.learn.state import Progress

DEFAULT_RESULTS = Path("grader-results") / "learn"


class Learner:
    """The commands, sharing the exercise list, the submission folder and the saved progress."""

    def __init__(self, submission: Path, results: Path, say=print) -> None:
        self.submission, self.results, self.say = submission, results, say
        self.exercises = exercises.load()
        self.progress = Progress.load(results, self.exercises)

    def exercise(self, name: str | None) -> Exercise | None:
        return exercises.find(name, self.exercises) if name else self.progress.current(self.exercises)

    def files(self, exercise: Exercise) -> str:
        return ", ".join(str(self.submission / f) for f in exercise.files)

    # -- commands ----------------------------------------------------------------------------

    def list(self) -> int:
        for n, e in enumerate(self.exercises, 1):
            state = self.progress.exercises[e.name]
            status = "done" if state.done else ("to do" if state.graded else "not graded yet")
            points = f"{state.score:g} / {state.max_score:g}" if state.graded else ""
            self.say(f"{n:>2}. {e.name:<10} {status:<15} {points:<12} {self.files(e)}   ({e.notebook})")
        self.footer(show_hint=False)
        return 0

    def check(self, name: str | None, everything: bool = False) -> int:
        chosen = self.exercises if everything else [self.exercise(name)]
        if chosen == [None]:
            self.say("All exercises are done. Run `check --all` to grade them all again.")
            return 0
        if self.grade(chosen) is None:
            return 2
        self.footer(show_hint=True)
        return 0 if all(self.progress.exercises[e.name].done for e in chosen) else 1

    def grade(self, chosen: list[Exercise]) -> bool | None:
        """Grade, print per exercise, save the progress; True when all chosen are done (None: no grade)."""
        self.say(f"Grading {', '.join(e.name for e in chosen)} in {self.submission} ...")
        try:
            grading = exercise_run.grade(self.submission, chosen, self.results)
        except exercise_run.GradingError as err:
            self.say(f"Could not grade: {err}")
            return None
        for exercise in chosen:
            result = grading.results[exercise.name]
            self.progress.record(result)
            mark = "DONE" if result.done else "TODO"
            self.say(f"{mark}  {exercise.name:<10} {result.score:g} / {result.max_score:g} points")
            shown: set[str] = set()
            for check in result.failed:  # a reason shared by several checks is shown once
                output = check["output"] if check["output"] not in shown else "(the same reason as above)"
                shown.add(check["output"])
                self.say(f"      - {check['title']}: " + output.replace("\n", "\n        "))
        self.progress.save()
        self.say(f"(graded in {grading.seconds:.1f} s; reports in {self.results})")
        return all(grading.results[e.name].done for e in chosen)

    def footer(self, show_hint: bool) -> None:
        self.say(self.progress.bar())
        nxt = self.progress.current(self.exercises)
        if nxt is None:
            self.say("All exercises are done. Well done!")
            return
        self.say(f"Next: exercise {nxt.name!r}: open {self.files(nxt)} (taught in {nxt.notebook})")
        if show_hint and self.progress.exercises[nxt.name].graded:
            self.show_hint(nxt, *self.progress.shown_hint(nxt))
            self.progress.save()

    def hint(self, name: str | None) -> int:
        exercise = self.exercise(name)
        if exercise is None:
            self.say("All exercises are done: no hint needed.")
            return 0
        self.show_hint(exercise, *self.progress.next_hint(exercise))
        self.progress.save()
        return 0

    def show_hint(self, exercise: Exercise, level: int, text: str) -> None:
        more = (" (run `./kit learn hint` for the next one)"
                if level < len(exercise.hints) else "")
        self.say(f"Hint {level}/{len(exercise.hints)} for {exercise.name!r}{more}:\n{text}")

    def watch(self) -> int:
        def grade_one(exercise: Exercise) -> bool:
            done = bool(self.grade([exercise]))
            self.footer(show_hint=not done)
            if not done and "train.py" in exercise.files:
                # The next save runs train.py in a Python that has imported its libraries meanwhile.
                with contextlib.suppress(procs.ProcsError, procs.SandboxError, OSError):
                    training.warm_up()
            return done

        def current() -> Exercise | None:
            return self.progress.current(self.exercises)

        try:
            return watching.watch(self.submission, current, grade_one, self.say)
        finally:
            training.cool_down()

    def reset(self, name: str, yes: bool, ask=input) -> int:
        exercise = exercises.find(name, self.exercises)
        if not yes:
            try:
                answer = ask(f"Reset {self.files(exercise)} to the shipped version? "
                             f"Your version is kept in {self.results / 'backups'}. [y/N] ")
            except EOFError:  # no terminal to answer from (a script, a closed stdin)
                self.say(f"\nNo answer: nothing changed. Add --yes to reset without asking "
                         f"(./kit learn reset {name} --yes).")
                return 1
            if answer.strip().lower() not in ("y", "yes"):
                self.say("Nothing changed.")
                return 1
        for target, backup in resetting.reset(exercise, self.submission, self.results / "backups"):
            self.say(f"restored {target}" + (f" (your version: {backup})" if backup else ""))
        state = self.progress.exercises[exercise.name]
        state.done = state.graded = False
        state.hint_level = 0
        self.progress.save()
        return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m grader.learn",
                                description="Work through the exercises one by one, like rustlings.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--submission", type=arguments.submission_folder, default=Path("exercises"),
                   help="the folder of your exercises (default: exercises)")
    p.add_argument("--results", type=arguments.output_folder, default=DEFAULT_RESULTS,
                   help=f"where the gradings' reports go (default: {DEFAULT_RESULTS})")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list")
    check = sub.add_parser("check")
    check.add_argument("name", nargs="?")
    check.add_argument("--all", action="store_true")
    sub.add_parser("hint").add_argument("name", nargs="?")
    sub.add_parser("watch")
    rst = sub.add_parser("reset")
    rst.add_argument("name")
    rst.add_argument("--yes", "-y", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    args = parser().parse_args(argv)
    try:
        learner = Learner(args.submission, args.results, say=lambda s: print(s, flush=True))
        if args.command == "list":
            return learner.list()
        if args.command == "check":
            return learner.check(args.name, args.all)
        if args.command == "hint":
            return learner.hint(args.name)
        if args.command == "watch":
            return learner.watch()
        return learner.reset(args.name, args.yes)
    except (exercises.ExerciseError, resetting.ResetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130

