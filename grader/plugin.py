"""The grader's pytest plugin: collects declared checks, scores them with partial credit, writes reports.

Registered through the ``pytest11`` entry point and inert unless ``--grade`` is given (as nbval is
without ``--nbval``): ``python -m grader`` passes it, ``pytest --grade --submission DIR`` works too.
A check is a function declared with :class:`grader.declare.Checks` (see ``grader/README.md``); it
records its parts with the ``check`` fixture, and a failed check earns the weighted share of its
passed parts, with the hint of each failed part as its output. Results go to the terminal (a table
grouped by artifact), Gradescope's ``results.json``, pytest's JUnit XML and ``summary.json``.
"""

from __future__ import annotations

import inspect
import json
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from grader import CHECKS_DIR, arguments
from grader.declare import BENTO, CONTAINER, LIVE, MODULES, CheckSpec, catalogue, groups, spec_of
from grader.report import CheckResult, Report, printable, results_folder

DEFAULT_RESULTS = "grader-results"
#: Who the grading's learner code runs as, written in --results as soon as the run starts.
SANDBOX_FILE = "sandbox.json"
TIME_LIMIT = 300.0
#: A cold image build (system packages, Python packages) takes minutes.
CONTAINER_TIME_LIMIT = 1200.0
REPORT = pytest.StashKey[Report]()
_DEADLINE = pytest.StashKey[float]()
_CHECK = pytest.StashKey["Check"]()


@dataclass
class Part:
    label: str
    ok: bool
    weight: float
    hint: str


@dataclass
class Check:
    """The parts of one check; when the check returns, :meth:`finish` fails it with the failed hints."""

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
        """Fail the check if a part failed (the plugin calls it when the check returns)."""
        self.finished = True
        failed = [p for p in self.parts if not p.ok]
        if failed:
            pytest.fail("\n".join(f"- {p.label}: {p.hint}" if p.hint else f"- {p.label}" for p in failed),
                        pytrace=False)

    @property
    def share(self) -> float:
        total = sum(p.weight for p in self.parts)
        return sum(p.weight for p in self.parts if p.ok) / total if total and self.finished else 0.0


def active(config: pytest.Config) -> bool:
    return bool(config.getoption("--grade", default=False))


#: The grader's options, declared once: ``pytest --grade`` adds them to pytest's, and ``python -m grader``
#: (``./kit grade``) checks its command line and prints its ``--help`` with them.
OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--submission", {
        "default": "exercises", "type": Path, "metavar": "DIR",
        "help": "the submission folder holding service.py and bentofile.yaml (default: exercises)"}),
    ("--url", {
        "default": None, "type": arguments.address, "metavar": "URL",
        "help": "grade the service running at this URL (e.g. a container) instead of starting one"}),
    ("--build", {
        "action": "store_true",
        "help": "build the bento into a temporary store instead of looking for one in yours"}),
    ("--container", {
        "action": "store_true",
        "help": "build the bento's image with docker or podman, run it, and grade the live checks against "
                "it (implies --build; adds the container image check)"}),
    ("--keep-image", {
        "action": "store_true",
        "help": "with --container: keep the image afterwards (the container is always removed; the layers "
                "it was built on stay either way, as the next build's cache)"}),
    ("--results", {
        "default": DEFAULT_RESULTS, "type": Path, "metavar": "DIR",
        "help": f"where results.json, junit.xml and summary.json go (default: {DEFAULT_RESULTS})"}),
    ("--import-timeout", {
        "default": 30.0, "type": arguments.seconds, "metavar": "SECONDS",
        "help": "seconds importing service.py may take (default: 30)"}),
    ("--ready-timeout", {
        "default": 60.0, "type": arguments.seconds, "metavar": "SECONDS",
        "help": "seconds the service may take to become ready (default: 60)"}),
    ("--time-limit", {
        "default": None, "type": arguments.deadline, "metavar": "SECONDS",
        "help": "seconds for the whole run; checks not started by then fail "
                f"(default: {TIME_LIMIT:.0f}, {CONTAINER_TIME_LIMIT:.0f} with --container)"}),
    ("--exercise", {
        "default": None, "metavar": "NAMES",
        "help": "grade only the checks of these exercises (comma-separated names)"}),
    ("--group", {
        "dest": "check_group", "default": None, "metavar": "GROUPS",
        "help": "grade only the checks of these report groups (comma-separated)"}),
    ("--checks", {
        "default": None, "metavar": "IDS",
        "help": "grade only these check ids (comma-separated)"}),
    ("--store-ready-fd", {
        "default": None, "type": int, "metavar": "FD",
        "help": "the learner loop's: read the model store only once this file descriptor (a pipe it "
                "closes after its train.py run) reaches its end"}),
    ("--confine", {
        "default": "auto", "choices": ("auto", "require", "off"),
        "help": "run learner code as a user of its own (needs root): auto = when possible (the report "
                "says which), require = fail when it is not, off = never (default: auto)"}),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader", "the BentoML kit's grader")
    group.addoption("--grade", action="store_true", help="grade a submission with the kit's checks")
    for flag, settings in OPTIONS:
        group.addoption(flag, **settings)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not active(config):
        return
    results = Path(config.getoption("--results"))
    config.stash[REPORT] = Report(submission=str(config.getoption("--submission")))
    config.stash[_DEADLINE] = time.monotonic() + time_limit(config)
    if config.option.help:
        return
    if config.args_source != pytest.Config.ArgsSource.ARGS:  # bare `pytest --grade`: the kit's checks
        config.args = [str(CHECKS_DIR)]
    if why := arguments.folder_error(results):
        raise pytest.UsageError(f"--results {why}")
    results_folder(results)
    if not getattr(config.option, "xmlpath", None):  # pytest's own JUnit XML writer, into --results
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
    """The check modules of ``grader/checks/`` (not named like tests, so pytest would skip them)."""
    if (active(parent.config) and file_path.suffix == ".py" and file_path.parent == CHECKS_DIR
            and file_path.stem in MODULES):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> list | None:
    """A declared check is an item, whatever its name."""
    if active(collector.config) and inspect.isfunction(obj) and spec_of(obj) is not None:
        return [pytest.Function.from_parent(collector, name=name, callobj=obj)]
    return None


def spec(item: pytest.Item) -> CheckSpec | None:
    return spec_of(getattr(item, "obj", None))


def names(value: str | None) -> list[str] | None:
    """The comma-separated names of ``--checks``, ``--exercise`` or ``--group`` (None when not given)."""
    return None if value is None else [n.strip() for n in value.split(",") if n.strip()]


def selected(spec: CheckSpec, config: pytest.Config) -> bool:
    """Whether the options select this check (by default: the whole-submission grade)."""
    checks, exercises = names(config.getoption("--checks")), names(config.getoption("--exercise"))
    wanted_groups = names(config.getoption("check_group"))
    if checks is not None or exercises is not None or wanted_groups is not None:
        return ((checks is not None and spec.id in checks)
                or (exercises is not None and spec.exercise in exercises)
                or (wanted_groups is not None and spec.group in wanted_groups))
    return spec.graded or (spec.container_only and bool(config.getoption("--container")))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not active(config):
        return
    chosen = [i for i in items if (s := spec(i)) is not None and selected(s, config)]
    dropped = [i for i in items if i not in chosen]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    # The catalogue's order (report order), whatever order the files were collected in; but the checks
    # that wait for the built bento alone run last, so that the live checks do not wait for the build
    # (the slowest helper, which goes on meanwhile). The report puts them back in place.
    order = {s.id: n for n, s in enumerate(catalogue())}
    in_report_order = sorted(chosen, key=lambda i: order.get(spec(i).id, len(order)))
    report = config.stash[REPORT]
    report.group_order = groups([*catalogue(), *(spec(i) for i in in_report_order)])
    report.check_order = [spec(i).id for i in in_report_order]
    items[:] = sorted(in_report_order, key=lambda i: waits_for_build(spec(i)))  # stable


def waits_for_build(declared: CheckSpec) -> bool:
    """Whether a check needs the built bento and nothing that needs the bento as well (a live service
    or an image): such a check can run last, once the other checks are done."""
    return BENTO in declared.needs and not declared.needs & {LIVE, CONTAINER}


def pytest_runtest_setup(item: pytest.Item) -> None:
    if active(item.config) and time.monotonic() > item.config.stash[_DEADLINE]:
        pytest.fail("not run: the whole-run time limit (--time-limit) was reached", pytrace=False)


@pytest.fixture
def check(request: pytest.FixtureRequest) -> Check:
    """Record the parts of the current check."""
    recorder = Check()
    request.node.stash[_CHECK] = recorder
    return recorder


@pytest.fixture(scope="session")
def run(request: pytest.FixtureRequest) -> Iterator:
    """The grading run: starts the helpers (and, when a selected check needs them, the build and the
    server), and stops them all at the end."""
    from grader.children import Child
    from grader.facts.files import TooLarge
    from grader.facts.run import ConfinementError, Options, Run

    Child.timeouts = 0  # counted per grading: a pytest session may grade more than once
    opt = request.config.getoption
    needs = frozenset().union(*(s.needs for i in request.session.items if (s := spec(i)) is not None))
    try:
        grading = Run(Options(submission=opt("--submission"), url=opt("--url"), build=opt("--build"),
                              import_timeout=opt("--import-timeout"), ready_timeout=opt("--ready-timeout"),
                              container=opt("--container"), keep_image=opt("--keep-image"),
                              image_timeout=time_limit(request.config), needs=needs,
                              confine=opt("--confine"), store_ready_fd=opt("--store-ready-fd"),
                              results=Path(opt("--results")).resolve()))
    except ConfinementError as err:
        pytest.exit(f"cannot grade with --confine require: {err}", returncode=2)
    except TooLarge as err:
        pytest.exit(f"cannot grade {opt('--submission')}: {err}", returncode=2)
    if opt("--store-ready-fd") is not None:  # the wait was train.py's, which has a time limit of its own
        request.config.stash[_DEADLINE] = time.monotonic() + time_limit(request.config)
    report = request.config.stash[REPORT]
    report.notes.append(grading.confinement)
    if grading.shadowing:
        report.notes.append(f"Left out of the copy that is imported, served and built: "
                            f"{', '.join(grading.shadowing)} (Python imports it as `service` before "
                            f"service.py, which is what is graded): remove it from your folder.")
    results = Path(request.config.getoption("--results"))  # made, private, at pytest_configure

    def record() -> None:
        """Who learner code runs as, now: written at once and whenever it changes (the lock check's user
        comes and goes), not at the end: a runner counts their memory, and has to kill this grading
        (a time limit) still finding whom to clean up after. Replaced whole: the runner reads it anytime."""
        box, *others = grading.sandboxes
        report.sandbox = {"user": box.user, "uid": box.uid, "confined": box.confined, "marker": box.marker,
                          # users of their own, when confined: the inspector's, the lock check's while it
                          # runs (their memory is the learner's too)
                          "others": [{"user": o.user, "uid": o.uid, "marker": o.marker} for o in others]}
        written = results / f".{SANDBOX_FILE}.new"
        written.write_text(json.dumps(report.sandbox))
        written.replace(results / SANDBOX_FILE)

    record()
    grading.on_sandboxes = record
    try:
        yield grading
    finally:
        report.helpers = grading.helpers
        report.machine_problem = grading.machine_problem
        report.port_taken = grading.port_taken
        report.timed_out = Child.timeouts > 0
        report.short_of_processes = grading.short_of_processes()
        grading.close()


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


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function):
    """A check that recorded parts and returned is finished here: it fails with the failed parts' hints."""
    result = yield
    recorder = pyfuncitem.stash.get(_CHECK, None)
    if recorder is not None and not recorder.finished and active(pyfuncitem.config):
        recorder.finish()
    return result


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    declared = spec(item) if active(item.config) else None
    if declared is None or not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return
    recorder = item.stash.get(_CHECK, None)
    points = declared.points
    score = points if report.passed else round(points * (recorder.share if recorder else 0.0), 2)
    item.config.stash[REPORT].checks.append(CheckResult(
        id=declared.id, group=declared.group, title=declared.title, score=score, max_score=points,
        passed=report.passed, output=printable(_output(item, report, call)), hidden=declared.hidden))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    if not active(session.config):
        return
    report = session.config.stash[REPORT]
    report.seconds = time.time() - report.started
    report.sort_checks()  # they may have run in another order (see pytest_collection_modifyitems)
    if report.checks:
        report.write(Path(session.config.getoption("--results")))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if not active(config):
        return
    report = config.stash[REPORT]
    if not report.checks:
        return
    terminalreporter.section("grade")
    for line in report.table():
        terminalreporter.write_line(line)
    results = config.getoption("--results")
    terminalreporter.write_line(f"Reports: {results}/results.json (Gradescope), {results}/junit.xml, "
                                f"{results}/summary.json")
