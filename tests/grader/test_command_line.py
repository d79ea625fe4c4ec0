"""The grader's command lines (``python -m grader``, ``grader.learn``, ``grader.cohort``): a wrong
argument is an error that says what to type, never a grading of something else or a changed score."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.__main__ import main, parse
from grader.cohort.__main__ import parser as cohort_parser
from grader.declare import catalogue, groups
from grader.learn.commands import parser as learn_parser
from grader.plugin import OPTIONS
from tests.grader.conftest import ROOT


def test_help_lists_the_graders_options_not_pytests(capsys, monkeypatch) -> None:
    for name in ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "BENTOML_DO_NOT_TRACK"):  # main() sets them
        monkeypatch.setenv(name, os.environ.get(name, ""))
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    shown = capsys.readouterr().out
    assert done.value.code == 0
    assert all(flag in shown for flag, _ in OPTIONS)
    assert "--basetemp" not in shown and "--capture" not in shown  # pytest's own options


def test_the_options_parse_as_pytest_takes_them(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    options = parse(["--submission", "solutions", "--build", "--group", "service.py", "--confine", "off",
                     "--url", "http://127.0.0.1:3000", "--time-limit", "0", "--ready-timeout", "2.5"])
    assert options.submission == Path("solutions") and options.build and options.check_group == "service.py"
    assert options.confine == "off" and options.url == "http://127.0.0.1:3000"
    assert options.time_limit == 0 and options.ready_timeout == 2.5


def test_every_declared_name_selects(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    specs = catalogue()
    exercises = sorted({s.exercise for s in specs if s.exercise})
    options = parse(["--checks", ",".join(s.id for s in specs), "--group", ",".join(groups(specs)),
                     "--exercise", ",".join(exercises)])
    assert options.checks.split(",") == [s.id for s in specs] and options.exercise.split(",") == exercises


def test_a_folder_given_without_its_option_is_refused_not_graded(tmp_path) -> None:
    """`./kit grade solutions` once graded exercises/ (the folder went to pytest as a test path)."""
    results = tmp_path / "results"
    done = subprocess.run([sys.executable, "-m", "grader", "solutions", "--results", str(results)], cwd=ROOT,
                          env={**os.environ, "BENTOML_HOME": str(tmp_path / "home")},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "type --submission solutions" in done.stderr
    assert done.stdout == "" and not results.exists()  # nothing graded, nothing written


def test_class_and_learner_loop_command_lines_within_bounds_parse(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    args = cohort_parser().parse_args(["grade", "subs", "--late-penalty", "100", "-j", "1",
                                       "--time-limit", "0.5", "--similarity-threshold", "0"])
    assert (args.late_penalty, args.jobs, args.time_limit, args.similarity_threshold) == (100, 1, 0.5, 0)
    assert learn_parser().parse_args(["--submission", "solutions", "list"]).submission == Path("solutions")


#: Each command's parsing: python -m grader, python -m grader.cohort, python -m grader.learn.
PARSERS = {"grade": parse, "cohort": lambda args: cohort_parser().parse_args(args),
           "learn": lambda args: learn_parser().parse_args(args)}


@pytest.mark.parametrize(("command", "args", "said"), [
    ("grade", ["--submision", "solutions"], "did you mean --submission?"),
    ("grade", ["--biuld"], "did you mean --build?"),
    ("grade", ["-x"], "unrecognized arguments: -x"),
    ("grade", ["--submission", "no-such-folder"], "--submission no-such-folder: no such folder"),
    ("grade", ["--confine", "maybe"], "invalid choice: 'maybe'"),
    ("grade", ["--url", "127.0.0.1:3000"], "is not a service's address: give one like http://127.0.0.1:3000"),
    ("grade", ["--time-limit", "-1"], "give a number of seconds, 0 or more"),
    ("grade", ["--import-timeout", "0"], "give a number of seconds above 0"),
    ("grade", ["--ready-timeout", "soon"], "invalid number value: 'soon'"),
    ("grade", ["--results", "README.md"], "--results README.md: that is a file; give a folder"),
    ("grade", ["--exercise", "servce"], "--exercise 'servce': no such name: servce; the names are: "),
    ("grade", ["--checks", ","], "--checks ',': no names; the names are: "),
    ("cohort", ["grade", "subs", "--late-penalty", "-10"], "'-10': give a percent from 0 to 100"),  # a bonus
    ("cohort", ["grade", "subs", "--late-penalty", "250"], "'250': give a percent from 0 to 100"),
    ("cohort", ["grade", "subs", "-j", "0"], "'0': give 1 or more"),
    ("cohort", ["grade", "subs", "-j", "1.5"], "invalid number value: '1.5'"),
    ("cohort", ["grade", "subs", "--similarity-threshold", "1.5"], "give a number from 0 to 1"),
    ("cohort", ["grade", "subs", "--time-limit", "0"], "'0': give seconds above 0"),
    ("cohort", ["grade", "subs", "--memory-limit", "-1"], "'-1': give MiB above 0"),
    ("cohort", ["grade", "subs", "--out", "README.md"], "README.md: that is a file; give a folder"),
    ("cohort", ["gradescope", "--max-score", "0"], "'0': give a number above 0"),
    ("cohort", ["classroom", "--kit", "kit", "--out", "README.md"], "README.md: that is a file"),
    ("learn", ["--submission", "no-such-folder", "list"], "no-such-folder: no such folder"),
    ("learn", ["--results", "README.md", "check"], "README.md: that is a file; give a folder"),
])
def test_a_wrong_command_line_says_what_is_wrong(command, args, said, capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as done:
        PARSERS[command](args)
    assert done.value.code == 2
    assert said in capsys.readouterr().err


def test_a_terminal_sees_the_check_under_way_and_a_pipe_only_the_table(tmp_path) -> None:
    """The table comes at the end: meanwhile a terminal shows the check under way (here a --url that
    never answers, waited for 1.5 s), and a pipe or a log gets nothing but the table."""
    command = [sys.executable, "-m", "grader", "--submission", "solutions", "--url", "http://127.0.0.1:1",
               "--ready-timeout", "1.5", "--group", "live endpoint", "--results", str(tmp_path / "results")]
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    under_way = "Grading live endpoint: service starts; /readyz within the time limit"
    main_end, terminal_end = os.openpty()
    with subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=terminal_end,
                          stderr=terminal_end) as process:
        os.close(terminal_end)
        shown = b""
        with contextlib.suppress(OSError):  # EIO: the grader has ended and closed the terminal
            while chunk := os.read(main_end, 65536):
                shown += chunk
    os.close(main_end)
    text = shown.decode(errors="replace")
    assert process.returncode == 1 and under_way in text and "TOTAL  0 / " in text, text[-2000:]
    piped = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 1 and "TOTAL  0 / " in piped.stdout
    assert under_way not in piped.stdout + piped.stderr
