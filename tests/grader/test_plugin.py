"""The grader's pytest plugin on small declared checks, with ``pytester``: seconds, no server.

Each test writes a check module the way ``grader/checks/`` declares checks, and grades it with
``--grade``; the plugin is loaded through its ``pytest11`` entry point, as for any user.
"""

from __future__ import annotations

import json

import pytest

CHECKS = '''
from grader.declare import Checks

graded = Checks(group="toy artifact", exercise="toy")
other = Checks(group="other artifact", exercise="other", graded=False)


@graded(points=4)
def half_right(check):
    """two parts, the heavier one fails"""
    check.part("light", True, weight=1)
    check.part("heavy", False, "make the heavy part pass", weight=3)


@graded(points=2)
def failed_at_once(check):
    """fails with check.fail"""
    check.fail("the one fix")


@graded(points=3, hidden=True)
def hidden_inputs(check):
    """passes on hidden inputs"""
    check.note("12 probes answered")


@other(points=5)
def learner_loop_only(check):
    """graded only when its exercise or group is asked for"""


def helper_not_a_check():
    raise AssertionError("never collected")
'''


@pytest.fixture
def toy(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_toy=CHECKS)
    return pytester


def grade(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:
    # The folder is named: a bare `pytest --grade` grades with the kit's own checks (grader/checks/).
    result = pytester.runpytest(str(pytester.path), "--grade", "--results", "out", "-p", "no:cacheprovider",
                                *args)
    summary_path = pytester.path / "out" / "summary.json"
    return result, json.loads(summary_path.read_text()) if summary_path.is_file() else {}


def test_partial_credit_fail_and_hidden_checks(toy: pytest.Pytester) -> None:
    result, summary = grade(toy)
    checks = {c["id"]: c for c in summary["checks"]}
    assert list(checks) == ["half_right", "failed_at_once", "hidden_inputs"]  # the default grade
    assert checks["half_right"]["score"] == 1.0 and "- heavy: make the heavy part pass" in \
        checks["half_right"]["output"]
    assert checks["failed_at_once"]["score"] == 0 and checks["failed_at_once"]["output"] == "the one fix"
    assert checks["hidden_inputs"]["passed"] and checks["hidden_inputs"]["output"] == "12 probes answered"
    assert summary["score"] == 4.0 and summary["max_score"] == 9.0
    assert summary["groups"] == {"toy artifact": {"score": 4.0, "max_score": 9.0}}
    result.stdout.fnmatch_lines(["*toy artifact  (4 / 9)*", "*PART  two parts, the heavier one fails*",
                                 "*TOTAL  4 / 9*"])


def test_report_files(toy: pytest.Pytester) -> None:
    grade(toy)
    out = toy.path / "out"
    gradescope = json.loads((out / "results.json").read_text())
    assert gradescope["score"] == 4.0 and gradescope["max_score"] == 9.0
    visibility = {t["name"]: t["visibility"] for t in gradescope["tests"]}
    assert visibility["toy artifact: passes on hidden inputs"] == "after_due_date"
    assert visibility["toy artifact: fails with check.fail"] == "visible"
    junit = (out / "junit.xml").read_text()
    assert junit.count("<testcase") == 3 and 'failures="2"' in junit


def test_selection_by_exercise_group_and_id(toy: pytest.Pytester) -> None:
    _, summary = grade(toy, "--exercise", "other")
    assert [c["id"] for c in summary["checks"]] == ["learner_loop_only"]
    _, summary = grade(toy, "--group", "toy artifact")
    assert [c["id"] for c in summary["checks"]] == ["half_right", "failed_at_once", "hidden_inputs"]
    _, summary = grade(toy, "--checks", "hidden_inputs,learner_loop_only")
    assert [c["id"] for c in summary["checks"]] == ["hidden_inputs", "learner_loop_only"]


def test_the_time_limit_fails_checks_not_started(toy: pytest.Pytester) -> None:
    _, summary = grade(toy, "--time-limit", "0")
    assert summary["score"] == 0
    assert all("time limit" in c["output"] for c in summary["checks"])


def test_results_that_is_a_file_is_a_usage_error(toy: pytest.Pytester) -> None:
    (toy.path / "out").write_text("the learner's notes")
    result, _ = grade(toy)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--results out: that is a file; give a folder*"])
    assert (toy.path / "out").read_text() == "the learner's notes"


def test_inert_without_grade(toy: pytest.Pytester) -> None:
    result = toy.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert not (toy.path / "grader-results").exists()


def test_a_check_is_declared_in_one_place(toy: pytest.Pytester) -> None:
    """Adding a check is one decorated function: it is collected, titled, grouped and scored."""
    toy.makepyfile(test_added='''
        from grader.declare import Checks

        graded = Checks(group="toy artifact", exercise="toy")


        @graded(points=6)
        def added_check(check):
            """the check a newcomer added"""
            check.part("it works", True)
    ''')
    result, summary = grade(toy, "--exercise", "toy")
    added = next(c for c in summary["checks"] if c["id"] == "added_check")
    assert added == {**added, "group": "toy artifact", "title": "the check a newcomer added", "score": 6.0,
                     "max_score": 6.0, "passed": True}
    assert summary["max_score"] == 15.0
    result.stdout.fnmatch_lines(["*PASS  the check a newcomer added*6 / 6*"])


def test_checks_of_the_built_bento_run_last_and_report_in_place(toy: pytest.Pytester) -> None:
    """The build is the slowest helper: its checks run after the live ones, yet the report keeps the
    declarations' order."""
    toy.makepyfile(test_toy='''
        from grader.declare import Checks

        graded = Checks(group="pipeline", exercise="toy")


        @graded(points=1, needs=("import",))
        def imports(check):
            """imports"""


        @graded(points=1, needs=("bento", "model"))
        def built(check):
            """waits for the build"""


        @graded(points=1, needs=("import", "live", "model"))
        def serves(check):
            """waits for the server"""


        @graded(points=1, needs=("bento", "container", "live"))
        def image(check):
            """waits for the image, which waits for the build"""
    ''')
    result, summary = grade(toy, "--exercise", "toy", "-v")
    declared = ["imports", "built", "serves", "image"]
    assert [c["id"] for c in summary["checks"]] == declared
    ran = [line.split("::")[1].split()[0] for line in result.outlines if "::" in line and "PASSED" in line]
    assert ran == ["imports", "serves", "image", "built"]
    out = toy.path / "out"
    tests = json.loads((out / "results.json").read_text())["tests"]
    titles = ["imports", "waits for the build", "waits for the server",
              "waits for the image, which waits for the build"]
    assert [t["name"] for t in tests] == [f"pipeline: {title}" for title in titles]


def test_a_time_limit_passed_flags_its_grading_only(toy: pytest.Pytester) -> None:
    """A learner-code process over its time limit flags the grading (a class run grades that learner
    again, alone); the count starts again with each grading, so one pytest session's earlier grading
    does not flag the next (the counters are class attributes)."""
    toy.makepyfile(test_toy='''
        import os

        from grader.children import Child
        from grader.declare import Checks

        graded = Checks(group="toy artifact", exercise="toy")


        @graded(points=1)
        def over_time(run, check):
            """a learner-code process over its time limit, when asked to be"""
            if os.environ.get("TOY_OVER_TIME"):
                Child.count_over_time()
    ''')
    from grader.children import Child  # imported here, so pytester's module snapshot keeps its class

    (toy.path / "submission").mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TOY_OVER_TIME", "1")
        _, summary = grade(toy, "--submission", "submission")
    assert summary["timed_out"] is True
    assert Child.timeouts == 1
    _, summary = grade(toy, "--submission", "submission")  # the same process: pytester runs in-process
    assert summary["timed_out"] is False
