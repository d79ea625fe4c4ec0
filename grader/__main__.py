"""``python -m grader [--submission DIR] [--url URL] [--build] [--results DIR]``: grade a submission.

The learner sees the grade table and the hints; pytest's own output goes to ``RESULTS/grader.log``.
Exit status: 0 when every check passed, 1 when some failed, 2 when the grader could not grade.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

import pytest

from grader import CHECKS_DIR, PACKAGE_DIR
from grader.plugin import DEFAULT_RESULTS, REPORT
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
    # loading took seconds).
    return [str(CHECKS_DIR), "-c", str(PACKAGE_DIR / "pytest.ini"), "--rootdir", str(PACKAGE_DIR.parent),
            "-p", "grader.plugin", "--grade", "-q", "--tb=short", "--no-header", "-p", "no:cacheprovider",
            *args]


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    args = list(sys.argv[1:] if argv is None else argv)
    if {"-h", "--help"} & set(args):
        return int(pytest.main(pytest_args(args)))
    wanted = argparse.ArgumentParser(add_help=False)  # only to find --results before pytest starts
    wanted.add_argument("--results", type=Path, default=Path(DEFAULT_RESULTS))
    results = wanted.parse_known_args(args)[0].results
    results_folder(results)
    log_path = results / LOG_FILE
    keep = _KeepReport()
    with open(log_path, "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        code = int(pytest.main(pytest_args(args), plugins=[keep]))
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
