"""The grader's pytest plugin: options, the ``points`` marker, partial credit, reports.

Each check is a pytest item marked ``@pytest.mark.points(n, hidden=False)``. A check records its
parts with the ``check`` fixture; a failed check earns the weighted share of its passed parts,
and its output is the hint of each failed part. Results go to the terminal (a table grouped by
artifact), to Gradescope's ``results.json``, to pytest's own JUnit XML and to ``summary.json``.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader.report import GROUPS, CheckResult, Report

DEFAULT_RESULTS = "grader-results"
TIME_LIMIT = 300.0
#: A cold image build (system packages, Python packages) takes minutes.
CONTAINER_TIME_LIMIT = 1200.0
#: The container image check: not a test_*.py module, so only ``--container`` collects it (the default
#: grade stays 31 checks and 100 points, and it belongs to no exercise of the learner loop).
CONTAINER_CHECKS = "container_checks.py"
_REPORT = pytest.StashKey[Report]()
_DEADLINE = pytest.StashKey[float]()


@dataclass
class Part:
    label: str
    ok: bool
    weight: float
    hint: str


@dataclass
class Check:
    """The parts of one check; :meth:`finish` fails the check listing each failed part's hint."""

    parts: list[Part] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    finished: bool = False

    def part(self, label: str, ok: bool, hint: str = "", weight: float = 1.0) -> bool:
        self.parts.append(Part(label, bool(ok), weight, hint))
        return bool(ok)

    def note(self, text: str) -> None:
        """Information shown with the check whether it passes or not."""
        self.notes.append(text)

    def fail(self, hint: str) -> None:
        """Fail the whole check now (no partial credit): ``hint`` names the fix."""
        pytest.fail(hint, pytrace=False)

    def finish(self) -> None:
        self.finished = True
        failed = [p for p in self.parts if not p.ok]
        if failed:
            pytest.fail("\n".join(f"- {p.label}: {p.hint}" if p.hint else f"- {p.label}" for p in failed),
                        pytrace=False)

    @property
    def share(self) -> float:
        total = sum(p.weight for p in self.parts)
        return sum(p.weight for p in self.parts if p.ok) / total if total and self.finished else 0.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader", "the BentoML kit's grader")
    group.addoption("--submission", default="exercises", type=Path,
                    help="the submission folder holding service.py and bentofile.yaml (default: exercises)")
    group.addoption("--url", default=None,
                    help="grade the service running at this URL (e.g. a container) instead of starting one")
    group.addoption("--build", action="store_true",
                    help="build the bento into a temporary store instead of looking for one in yours")
    group.addoption("--container", action="store_true",
                    help="build the bento's image with docker or podman, run it, and grade the live checks "
                         "against it (implies --build; adds the container image check)")
    group.addoption("--keep-image", action="store_true",
                    help="with --container: keep the image afterwards (the container is always removed)")
    group.addoption("--results", default=DEFAULT_RESULTS, type=Path,
                    help=f"where results.json, junit.xml and summary.json go (default: {DEFAULT_RESULTS})")
    group.addoption("--import-timeout", default=30.0, type=float,
                    help="seconds importing service.py may take (default: 30)")
    group.addoption("--ready-timeout", default=60.0, type=float,
                    help="seconds the service may take to become ready (default: 60)")
    group.addoption("--time-limit", default=None, type=float,
                    help="seconds for the whole run; checks not started by then fail "
                         f"(default: {TIME_LIMIT:.0f}, {CONTAINER_TIME_LIMIT:.0f} with --container)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "points(n, hidden=False): the points a grader check is worth")
    results = Path(config.getoption("--results"))
    config.stash[_REPORT] = Report(submission=str(config.getoption("--submission")))
    config.stash[_DEADLINE] = time.monotonic() + time_limit(config)
    if config.option.help:
        return
    if not getattr(config.option, "xmlpath", None):  # pytest's own JUnit XML writer, into --results
        results.mkdir(parents=True, exist_ok=True)
        config.option.xmlpath = str(results / "junit.xml")
    # A SIGTERM (a course platform's time limit) unwinds like Ctrl-C: fixtures stop the server.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def time_limit(config: pytest.Config) -> float:
    """``--time-limit``, or its default (longer with ``--container``)."""
    chosen = config.getoption("--time-limit")
    if chosen is not None:
        return float(chosen)
    return CONTAINER_TIME_LIMIT if config.getoption("--container") else TIME_LIMIT


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect the container image check with ``--container``."""
    if file_path.name == CONTAINER_CHECKS and parent.config.getoption("--container"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if time.monotonic() > item.config.stash[_DEADLINE]:
        pytest.fail("not run: the whole-run time limit (--time-limit) was reached", pytrace=False)


@pytest.fixture
def check(request: pytest.FixtureRequest) -> Check:
    """Record the parts of the current check."""
    recorder = Check()
    request.node.stash[_CHECK] = recorder
    return recorder


_CHECK = pytest.StashKey[Check]()


def _output(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo) -> str:
    recorder = item.stash.get(_CHECK, None)
    notes = recorder.notes if recorder else []
    if report.passed:
        return "\n".join(notes) or "passed"
    if call.excinfo is not None and call.excinfo.errisinstance(pytest.fail.Exception):
        return "\n".join([str(call.excinfo.value), *notes])
    if report.skipped:
        return f"skipped: {call.excinfo.value if call.excinfo else ''}"
    error = call.excinfo.exconly().splitlines()[-1] if call.excinfo else report.longreprtext[-300:]
    return f"the grader could not finish this check ({error}); please report it with your files."


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    marker = item.get_closest_marker("points")
    if marker is None or not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return
    points = float(marker.args[0])
    recorder = item.stash.get(_CHECK, None)
    score = points if report.passed else round(points * (recorder.share if recorder else 0.0), 2)
    module = item.module.__name__.rsplit(".", 1)[-1] if getattr(item, "module", None) else ""
    doc = (getattr(item, "function", None).__doc__ or item.name).strip().splitlines()[0]
    result = CheckResult(id=item.name.removeprefix("test_"), group=GROUPS.get(module, module), title=doc,
                         score=score, max_score=points, passed=report.passed,
                         output=_output(item, report, call), hidden=bool(marker.kwargs.get("hidden")))
    item.config.stash[_REPORT].checks.append(result)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    report = session.config.stash[_REPORT]
    report.seconds = time.time() - report.started
    if report.checks:
        report.write(Path(session.config.getoption("--results")))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    report = config.stash[_REPORT]
    if not report.checks:
        return
    terminalreporter.section("grade")
    for line in report.table():
        terminalreporter.write_line(line)
    results = config.getoption("--results")
    terminalreporter.write_line(f"Reports: {results}/results.json (Gradescope), {results}/junit.xml, "
                                f"{results}/summary.json")
