"""``python -m grader [--submission DIR] [--url URL] [--build] [--results DIR]``: grade a submission.

The learner sees the grade table and the hints (meanwhile, on a terminal, a line naming the check under
way: :mod:`grader.progress`); pytest's own output goes to ``RESULTS/grader.log``.
The command line takes the grader's options only (:data:`grader.plugin.OPTIONS`), so that a mistyped
or misplaced argument (``./kit grade solutions``) is an error that says what to type, not a grading
of another folder. Exit status: 0 when every check passed, 1 when some failed, 2 when the grader
could not grade (or the command line was wrong).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import sys
from pathlib import Path

import pytest

from grader import CHECKS_DIR, PACKAGE_DIR, arguments, plugin, progress
from grader.declare import catalogue, groups
from grader.plugin import OPTIONS, REPORT, names
from grader.report import Report, results_folder

LOG_FILE = "grader.log"


class _KeepReport:
    """Keeps the run's report for the table printed after pytest has finished."""

    report: Report | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        self.report = config.stash.get(REPORT, None)


def pytest_args(args: list[str]) -> list[str]:
    # The grader's own pytest.ini, not the kit's test settings, and no third-party plugins (their
    # loading took seconds). The grader's plugin is handed to pytest.main as the module imported here:
    # `-p grader.plugin` would ask pytest to import it again and warn, in grader.log, that it cannot
    # rewrite its asserts.
    return [str(CHECKS_DIR), "-c", str(PACKAGE_DIR / "pytest.ini"), "--rootdir", str(PACKAGE_DIR.parent),
            "--grade", "-q", "--tb=short", "--no-header", "-p", "no:cacheprovider",
            *args]


def parser() -> argparse.ArgumentParser:
    """The grader's command line: the plugin's options, and its help (pytest's own is not shown)."""
    found = argparse.ArgumentParser(
        prog="python -m grader", allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Grade a submission: service.py, the model store, bentofile.yaml, the built bento and "
                    "the live endpoint.\n./kit grade is this command.",
        epilog="exit status: 0 when every check passed, 1 when some failed, 2 when the grader could not "
               "grade.\n`pytest --grade` takes the same options.")
    for flag, settings in OPTIONS:
        found.add_argument(flag, **settings)
    return found


def parse(args: list[str]) -> argparse.Namespace:
    """The options of ``args``; anything else ends the program with usage, the error, and the fix."""
    command_line = parser()
    options, unknown = command_line.parse_known_args(args)
    if unknown:
        command_line.error(f"unrecognized arguments: {' '.join(unknown)}{_fix(unknown)}")
    for flag, why in (("--submission", arguments.submission_error(options.submission)),
                      ("--results", arguments.folder_error(options.results))):
        if why:
            command_line.error(f"{flag} {why}")
    if why := _selection_error(options):
        command_line.error(why)
    return options


def _selection_error(options: argparse.Namespace) -> str:
    """Why ``--checks``, ``--exercise`` or ``--group`` names something the kit's checks do not have."""
    chosen = {"--checks": options.checks, "--exercise": options.exercise, "--group": options.check_group}
    if all(value is None for value in chosen.values()):
        return ""
    specs = catalogue()
    known = {"--checks": [s.id for s in specs], "--group": groups(specs),
             "--exercise": list(dict.fromkeys(s.exercise for s in specs if s.exercise))}
    for flag, value in chosen.items():
        if value is None:
            continue
        given = names(value) or []
        unknown = [n for n in given if n not in known[flag]]
        if unknown or not given:
            return (f"{flag} {value!r}: " + (f"no such name: {', '.join(unknown)}" if unknown else "no names")
                    + f"; the names are: {', '.join(known[flag])}")
    return ""


def _fix(unknown: list[str]) -> str:
    """What the learner probably meant: a folder to grade, or a grader option spelled nearly so."""
    for arg in unknown:
        if not arg.startswith("-") and Path(arg).is_dir():
            return f" (to grade the folder {arg}, type --submission {arg})"
        close = difflib.get_close_matches(arg.split("=")[0], [flag for flag, _ in OPTIONS], n=1)
        if arg.startswith("--") and close:
            return f" (did you mean {close[0]}?)"
    return ""


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    args = list(sys.argv[1:] if argv is None else argv)
    results = parse(args).results  # --help and a wrong command line end here
    results_folder(results)
    log_path = results / LOG_FILE
    plugins: list[object] = [plugin, keep := _KeepReport()]
    if (stream := progress.terminal()) is not None:  # a line saying what is under way, on a terminal
        plugins.append(status := progress.Status(stream))
    try:
        with open(log_path, "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            code = int(pytest.main(pytest_args(args), plugins=plugins))
    finally:
        if stream is not None:
            status.close()
    report = keep.report
    if report is None or not report.checks:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
        print(f"The grader could not grade (pytest exit code {code}):\n{tail}\nFull log: {log_path}",
              file=sys.stderr)
        return 2
    print("\n".join(report.table()))
    print(f"Reports: {results}/results.json (Gradescope), {results}/junit.xml, {results}/summary.json; "
          f"the grader's log: {log_path}")
    return 0 if report.score == report.max_score else 1


if __name__ == "__main__":
    raise SystemExit(main())
