"""Every command in README.md's fenced ``bash`` blocks works as written.

Each command is either run, as typed, from the root of a copy of this checkout (the README's set-up is
done: the copy uses this test run's venv through ``KIT_VENV``, and throw-away BentoML homes), or run in
its ``--help`` form when it needs what a learner makes first or takes minutes, or skipped with the
reason written in ``PLAN``. A README command missing from ``PLAN`` fails (so a new command gets a
decision), and so does any ``./kit`` command, in a block or in the prose, that names a subcommand
``./kit help`` does not list. Times of the commands run are printed (``pytest -s``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

from bentokit import server
from tests.conftest import ROOT

README = ROOT / "README.md"
VENV = Path(sys.prefix)


@dataclass(frozen=True)
class Plan:
    """What the test does with one README command."""

    how: str  # "run", "help" (run `help_form` instead) or "skip"
    expect: str = ""  # text the output must contain (for "run" and "help")
    code: int = 0  # the exit status the command must end with
    why: str = ""  # for "help" and "skip": why it is not run as written
    help_form: str = ""
    answer: str = ""  # what the learner types when the command asks


SERVE = "./kit serve --demo"
LAB = "./kit lab"
PORT_LINE = "PORT=41234"
CURL = "curl -s -X POST http://127.0.0.1:$PORT/classify"

#: Every README command (its words, comments dropped) and what the test does with it.
PLAN: dict[str, Plan] = {
    "./kit demo": Plan("run", "Demo finished: the service works."),
    "./kit test": Plan("skip", why="the kit's own test suite, which this test is part of (.ci/run runs it)"),
    "./kit help": Plan("run", "./kit serve"),
    SERVE: Plan("run", "Serving credit_risk_classifier:"),  # in the background, until the curl is done
    PORT_LINE: Plan("skip", why="the test sets PORT to the port `./kit serve --demo` printed"),
    CURL: Plan("run", '"status":'),
    "./kit python exercises/train.py": Plan(
        "skip", why="saves the learner's model once TODO(1) of exercises/train.py is done; untouched, it "
                    "stops at that TODO by design (the grader's train checks run it)"),
    "./kit bentoml build exercises/": Plan(
        "help", "--output", why="needs the learner's model in their store (the line above)",
        help_form="./kit bentoml build --help"),
    "./kit serve": Plan("help", "--demo", why="needs the learner's bento (the line above)",
                        help_form="./kit serve --help"),
    LAB: Plan("run", "/lab"),  # in the background, until its REST API answers
    "./kit learn check": Plan("run", "TODO  train", code=1),
    "./kit learn watch": Plan("skip", why="runs until Ctrl-C; tests/learn/test_watch.py drives it"),
    "./kit learn hint": Plan("run", "Hint"),
    "./kit learn list": Plan("run", "train"),
    "./kit learn check --all": Plan("run", "exercises done", code=1),
    "./kit learn reset train": Plan("run", "train", answer="y\n"),  # it asks before it overwrites
    "./kit grade": Plan("run", "TOTAL", code=1),
    "./kit grade --help": Plan("run", "--submission"),
    "./kit bentoml build": Plan(
        "help", "--output", why="builds the production bento into the learner's store and takes a minute "
                                "(tests/test_bento.py builds it)", help_form="./kit bentoml build --help"),
    "./kit bentoml containerize credit_risk_classifier:latest -t credit-risk:v1": Plan(
        "help", "--backend", why="needs the learner's bento and Docker or Podman, and takes minutes "
                                 "(tests/containers/ build the reference image)",
        help_form="./kit bentoml containerize --help"),
    "docker run --rm -p 3000:3000 credit-risk:v1": Plan(
        "skip", why="needs Docker and the image of the line above (tests/containers/ run it)"),
    "./kit cohort grade submissions/ --out cohort-results -j 2": Plan(
        "help", "--time-limit", why="needs a folder of learners' submissions (tests/cohort/ grades some)",
        help_form="./kit cohort grade --help"),
}


def readme_commands(text: str) -> list[tuple[str, str]]:
    """(key, command) for each command of each fenced ``bash`` block; a command may span lines."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        pending = ""
        for line in block.splitlines():
            pending = f"{pending}\n{line}" if pending else line
            try:
                words = shlex.split(pending, comments=True)
            except ValueError:  # an open quote: the command goes on on the next line
                continue
            if words:
                commands.append((" ".join(words), pending))
            pending = ""
        assert not pending, f"unterminated command in README.md: {pending!r}"
    return commands


def plan_key(key: str) -> str:
    return CURL if key.startswith(CURL) else key


def kit_subcommands() -> set[str]:
    listing = subprocess.run([str(ROOT / "kit"), "help"], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "KIT_VENV": str(VENV)})
    assert listing.returncode == 0, listing.stderr
    return set(re.findall(r"^\s+\./kit (\S+)", listing.stdout, flags=re.M))


def test_kit_help_exits_0_for_every_spelling_and_lists_setup():
    for spelling in ("help", "--help", "-h"):
        done = subprocess.run([str(ROOT / "kit"), spelling], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "./kit setup" in done.stdout, (spelling, done.stdout, done.stderr)
    wrong = subprocess.run([str(ROOT / "kit"), "no-such-command"], capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and "unknown command 'no-such-command'" in wrong.stderr


def test_every_readme_command_has_a_plan_and_every_plan_a_readme_command():
    keys = [plan_key(key) for key, _ in readme_commands(README.read_text())]
    assert len(keys) >= 15, keys
    assert [k for k in keys if k not in PLAN] == [], "README commands this test does not know"
    assert [k for k in PLAN if k not in keys] == [], "commands no longer in the README"
    for key, plan in PLAN.items():
        assert plan.how in ("run", "help", "skip") and (plan.how == "run" or plan.why), key
    leftovers = re.findall(r"\b[A-Z]+_TIME\b", README.read_text())
    assert leftovers == [], f"README still has time placeholders: {leftovers}"


def test_every_kit_command_in_the_readme_names_a_real_subcommand():
    known = kit_subcommands()
    assert {"setup", "demo", "test", "lab", "learn", "grade", "serve", "bentoml", "cohort", "bench"} <= known
    text = README.read_text()
    used = [key for key, _ in readme_commands(text)] + re.findall(r"`(\./kit [^`]*)`", text)
    named = {words[1] if len(words) > 1 else "help" for words in (u.split() for u in used)
             if words[0] == "./kit"}
    assert named - known == set(), f"README names ./kit subcommands that do not exist: {named - known}"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A copy of this checkout's files (tracked and new, as git sees them), like a fresh clone."""
    copy = tmp_path_factory.mktemp("readme") / "kit"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    # A git repository of its own, as a clone is: `./kit learn reset` reads the shipped exercises from it.
    git = ["git", "-c", "user.name=kit", "-c", "user.email=kit@example.org"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the kit as shipped"]):
        subprocess.run([*git, *args], cwd=copy, check=True, capture_output=True)
    return copy


def env_for(checkout: Path) -> dict[str, str]:
    homes = checkout.parent
    env = server.kit_env({"KIT_VENV": str(VENV), "BENTOML_HOME": str(homes / "learner-home"),
                          "BENTOKIT_DEMO_HOME": str(homes / "demo-home"), "BROWSER": "true",
                          "JUPYTER_RUNTIME_DIR": str(homes / "jupyter-runtime")})
    env.pop("CREDIT_SCORING_CSV", None)  # as on a learner's machine: the generated data
    return env


class Background:
    """A long-running README command (a server), its output read line by line."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        self.seen = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with self.seen:
                self.lines.append(line)
                self.seen.notify_all()
        with self.seen:
            self.seen.notify_all()

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        with self.seen:
            while True:
                if found := re.search(pattern, "".join(self.lines)):
                    return found
                assert self.process.poll() is None, "exited early:\n" + "".join(self.lines)
                assert time.monotonic() < deadline, f"no {pattern!r} in {timeout} s:\n" + "".join(self.lines)
                self.seen.wait(1)

    def stop(self) -> None:
        """Ctrl-C (SIGINT), as in a terminal; then SIGKILL to whatever of its process tree is left."""
        tree = [self.process.pid]
        with contextlib.suppress(psutil.Error):
            tree += [p.pid for p in psutil.Process(self.process.pid).children(recursive=True)]
        self.process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        procs = []
        for pid in tree:
            with contextlib.suppress(psutil.Error):
                procs.append(psutil.Process(pid))
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(procs, timeout=30)
        self.process.wait(timeout=30)


@pytest.mark.server
def test_readme_commands_run_as_written(checkout):
    env = env_for(checkout)
    times: dict[str, float] = {}
    commands = dict((plan_key(k), c) for k, c in readme_commands(README.read_text()))
    serving = None

    def run(key: str, command: str, plan: Plan) -> None:
        started = time.monotonic()
        done = subprocess.run(["bash", "-c", command], cwd=checkout, env=env, capture_output=True, text=True,
                              input=plan.answer, timeout=600)
        times[key] = round(time.monotonic() - started, 1)
        out = done.stdout + done.stderr
        assert done.returncode == plan.code, f"{command!r} exited {done.returncode}:\n{out[-4000:]}"
        assert plan.expect in out, f"{command!r}: no {plan.expect!r} in:\n{out[-4000:]}"
        for broken in ("command not found", "No module named", "Traceback (most recent call last)\n  File \""
                       + str(checkout / "kit")):
            assert broken not in out, f"{command!r}:\n{out[-4000:]}"

    try:
        for key, plan in PLAN.items():
            command = commands[key]
            if plan.how == "skip":
                continue
            if plan.how == "help":
                run(key, plan.help_form, plan)
            elif key == SERVE:
                started = time.monotonic()
                serving = Background(command, checkout, env)
                port = serving.wait_for(r"at http://127\.0\.0\.1:(\d+)", 120).group(1)
                times[key] = round(time.monotonic() - started, 1)
                env["PORT"] = port
            elif key == CURL:
                run(key, command, plan)
                serving.stop()
                assert "stopping the server" in "".join(serving.lines), "".join(serving.lines)
                serving = None
            elif key == LAB:
                started = time.monotonic()
                lab = Background(key + " --no-browser", checkout, env)  # words: the comment is gone
                try:
                    url = lab.wait_for(r"(http://127\.0\.0\.1:\d+)/lab\?token=(\w+)", 120)
                    times[key] = round(time.monotonic() - started, 1)
                    status = None
                    deadline = time.monotonic() + 60
                    while status is None:  # the URL is printed as the server starts listening
                        with contextlib.suppress(requests.ConnectionError):
                            status = requests.get(f"{url.group(1)}/api/status",
                                                  params={"token": url.group(2)}, timeout=30)
                        assert lab.process.poll() is None, "".join(lab.lines)
                        assert status is not None or time.monotonic() < deadline, "".join(lab.lines)
                        time.sleep(0 if status is not None else 0.2)  # a poll interval
                    assert status.status_code == 200, status.text
                    root = requests.get(f"{url.group(1)}/api/contents", params={"token": url.group(2)},
                                        timeout=30).json()
                    assert "01_why_bentoml.ipynb" in {item["name"] for item in root["content"]}
                finally:
                    lab.stop()
            else:
                run(key, command, plan)
    finally:
        if serving is not None:
            serving.stop()
        print("\nREADME command times (s): " + json.dumps(times))
