"""The README's main job, ``python -m bentokit demo``, end to end in its own throw-away BentoML home, and
``python -m bentokit serve`` on the bento it built."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
import requests

from bentokit import contract, server
from tests.conftest import ROOT


def kit_env(learner_home: Path, demo_home: Path) -> dict[str, str]:
    env = server.kit_env({"BENTOML_HOME": str(learner_home), "BENTOKIT_DEMO_HOME": str(demo_home)})
    env.pop("CREDIT_SCORING_CSV", None)  # the README's job runs on the embedded default data
    return env


def run(args: list[str], learner_home: Path, demo_home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bentokit", *args], cwd=ROOT,
                          env=kit_env(learner_home, demo_home), capture_output=True, text=True, timeout=300)


def versions(home: Path) -> dict[str, list[str]]:
    """The model and bento versions in a BentoML home, read from its folders (no BentoML import)."""
    found = {}
    for kind, name in (("models", contract.MODEL_NAME), ("bentos", contract.SERVICE_NAME)):
        folder = home / kind / name
        found[kind] = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    return found


@pytest.fixture(scope="module")
def demo_homes(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """An empty learner home, and a demo home the demo has run in once (its output too)."""
    root = tmp_path_factory.mktemp("cli")
    learner, demo = root / "learner-home", root / "demo-home"
    learner.mkdir()
    return learner, demo, run(["demo"], learner, demo)


@pytest.mark.server
def test_demo_goes_the_whole_way_in_its_own_store_and_does_not_grow_it(demo_homes):
    learner, demo, first = demo_homes
    seen = []
    for again in (False, True):  # the second run finds the first one's store
        done = run(["demo"], learner, demo) if again else first
        assert done.returncode == 0, done.stdout + done.stderr
        out = done.stdout
        assert "data: generated" in out
        assert "Model tag : credit_risk_model:" in out and "Bento tag : credit_risk_classifier:" in out
        assert "Sample applicant  -> HTTP 200" in out and "Invalid request   -> HTTP 400" in out
        assert "server stopped" in out
        assert f"BentoML home (the demo's own store): {demo.resolve()}" in out
        model = re.search(r"Model tag : credit_risk_model:(\w+)", out).group(1)
        bento = re.search(r"Bento tag : credit_risk_classifier:(\w+)", out).group(1)
        # One model and one bento, the ones just made, however often the demo runs.
        assert versions(demo) == {"models": [model], "bentos": [bento]}
        seen.append((model, bento))
        assert list(learner.iterdir()) == [], "the demo wrote into the learner's BentoML home"
    assert seen[0] != seen[1]


@pytest.mark.server
def test_serve_says_its_url_answers_there_and_stops_on_ctrl_c(demo_homes):
    learner, demo, done = demo_homes
    assert done.returncode == 0, done.stdout + done.stderr
    # Started with SIGINT ignored, as a background job of a script would be: Ctrl-C must still stop it.
    process = subprocess.Popen(
        [sys.executable, "-m", "bentokit", "serve", "--demo"], cwd=ROOT, env=kit_env(learner, demo),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    lines: list[str] = []
    url: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            if found := re.match(r"Serving credit_risk_classifier:\w+ at (http://127\.0\.0\.1:\d+)", line):
                url.append(found.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(120) and url, "".join(lines)
        children = psutil.Process(process.pid).children(recursive=True)
        answer = requests.post(url[0] + contract.CLASSIFY_PATH, json=contract.wrap(contract.SAMPLE_APPLICANT),
                               timeout=30)
        assert answer.status_code == 200 and answer.json()["status"] in contract.STATUSES
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, "".join(lines)
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert alive == [], f"server processes left behind: {alive}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_without_a_bento_is_a_clear_error(tmp_path):
    done = run(["serve"], tmp_path / "learner-home", tmp_path / "demo-home")
    assert done.returncode == 1
    assert "error: no bento credit_risk_classifier:latest in your BentoML store" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_data_path_is_a_clear_error(tmp_path):
    done = run(["train", "--data", str(tmp_path / "missing.csv")], tmp_path / "learner", tmp_path / "demo")
    assert done.returncode == 1
    assert "error: no data file" in done.stderr and "Traceback" not in done.stderr
