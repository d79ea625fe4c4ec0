"""The README's main job, ``python -m bentokit demo``, end to end in a throw-away BentoML home."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bentokit import server
from tests.conftest import ROOT


def run(args: list[str], home) -> subprocess.CompletedProcess:
    env = server.kit_env({"BENTOML_HOME": str(home)})
    env.pop("CREDIT_SCORING_CSV", None)  # the README's job runs on the embedded default data
    return subprocess.run([sys.executable, "-m", "bentokit", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.server
def test_demo_goes_the_whole_way_and_can_run_twice(tmp_path):
    for _ in range(2):
        done = run(["demo"], tmp_path / "home")
        assert done.returncode == 0, done.stdout + done.stderr
        out = done.stdout
        assert "data: generated" in out
        assert "Model tag : credit_risk_model:" in out and "Bento tag : credit_risk_classifier:" in out
        assert "Sample applicant  -> HTTP 200" in out and "Invalid request   -> HTTP 400" in out
        assert "server stopped" in out


def test_bad_data_path_is_a_clear_error(tmp_path):
    done = run(["train", "--data", str(tmp_path / "missing.csv")], tmp_path / "home")
    assert done.returncode == 1
    assert "error: no data file" in done.stderr and "Traceback" not in done.stderr
