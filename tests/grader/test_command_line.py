"""``python -m grader``'s command line: its own options and help, and a wrong argument is an error
that says what to type instead of a grading of something else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.__main__ import main, parse
from grader.plugin import OPTIONS
from tests.grader.conftest import ROOT


def test_help_lists_the_graders_options_not_pytests(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    shown = capsys.readouterr().out
    assert done.value.code == 0
    assert all(flag in shown for flag, _ in OPTIONS)
    assert "--basetemp" not in shown and "--capture" not in shown  # pytest's own options


def test_the_options_parse_as_pytest_takes_them() -> None:
    options = parse(["--submission", "solutions", "--build", "--group", "service.py", "--confine", "off"])
    assert options.submission == Path("solutions") and options.build and options.check_group == "service.py"
    assert options.confine == "off" and options.url is None


@pytest.mark.parametrize(("args", "said"), [
    (["--submision", "solutions"], "did you mean --submission?"),
    (["--biuld"], "did you mean --build?"),
    (["-x"], "unrecognized arguments: -x"),
    (["--submission", "no-such-folder"], "--submission no-such-folder: no such folder"),
    (["--confine", "maybe"], "invalid choice: 'maybe'"),
])
def test_a_wrong_command_line_says_what_is_wrong(args, said, capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as done:
        parse(args)
    assert done.value.code == 2
    assert said in capsys.readouterr().err


def test_a_folder_given_without_its_option_is_refused_not_graded(tmp_path) -> None:
    """`./kit grade solutions` once graded exercises/ (the folder went to pytest as a test path)."""
    results = tmp_path / "results"
    done = subprocess.run([sys.executable, "-m", "grader", "solutions", "--results", str(results)], cwd=ROOT,
                          env={**os.environ, "BENTOML_HOME": str(tmp_path / "home")},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "type --submission solutions" in done.stderr
    assert done.stdout == "" and not results.exists()  # nothing graded, nothing written
