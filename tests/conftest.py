"""Shared fixtures: a throw-away BentoML home, the course model in it, the reference server.

``BENTOML_HOME`` is set before anything imports BentoML, to a temporary folder outside the
repository (and so outside the bento build context). Set ``CREDIT_SCORING_CSV`` to the
course's ``CreditScoring.csv`` to train on the real data; without it the generated data is used
and the tests that need the real file are skipped.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

#: This process's throw-away folder, removed when its session ends (each xdist worker has its own,
#: beside the controller's: paths stay short, as Unix sockets are made under TMPDIR). Every process
#: started from here (servers, notebook kernels, graders, the workers) makes its temporary files in
#: it: what one ends without removing (BentoML's model and socket folders, left by a killed server
#: or kernel) goes with the session, not to /tmp. As an instructor's TMPDIR may be, it is closed to
#: other users: the gradings' sandbox users must never need to enter it.
#: A process that a test started and that imports this module (a helper run with ``python -c``, a
#: nested pytest session: pytest's PYTEST_CURRENT_TEST is in the environment it inherited) makes no
#: folder of its own, which nothing would remove, and keeps the environment its test gave it.
_STARTED_BY_A_TEST = "PYTEST_CURRENT_TEST" in os.environ
_TMP: str | None = None
if _STARTED_BY_A_TEST:
    _HOME = os.environ.get("BENTOML_HOME", "")
else:
    _SYSTEM_TMP = os.environ.setdefault("BENTOKIT_TESTS_SYSTEM_TMP", tempfile.gettempdir())
    _TMP = tempfile.mkdtemp(prefix="bentokit-tests-", dir=_SYSTEM_TMP)
    os.environ["TMPDIR"] = _TMP
    _HOME = tempfile.mkdtemp(prefix="home-", dir=_TMP)
    os.environ["BENTOML_HOME"] = _HOME
    # `python -m bentokit demo` keeps its own store; never the user's ~/.cache/bentokit/demo-home in tests.
    os.environ["BENTOKIT_DEMO_HOME"] = tempfile.mkdtemp(prefix="demo-home-", dir=_TMP)
    # The kit's cache (the grader's held-out applicants, the learner loop's train.py runs) is shared by
    # the tests of one session, never taken from an earlier session or the user's ~/.cache/bentokit.
    os.environ["BENTOKIT_CACHE"] = tempfile.mkdtemp(prefix="cache-", dir=_TMP)
os.environ["BENTOML_DO_NOT_TRACK"] = "true"

import pytest  # noqa: E402

from bentokit import contract, data, server, training  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SERVICE_TARGET = "solutions.service:CreditRiskClassifier"


def tracing_excluded_urls(module: str, cwd: Path, env: Mapping[str, str]) -> list[str]:
    """The URLs BentoML's tracing skips for ``module``'s CreditRiskClassifier under ``env`` (its
    ``BENTOML_CONFIG_OPTIONS``), read in a child process: the configuration is process-wide."""
    code = (f"from {module} import {contract.SERVICE_CLASS}\nfrom bentokit import private\n"
            f"print(private.tracing_excluded_urls({contract.SERVICE_CLASS}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=dict(env), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remove this process's throw-away folder: store, demo store, cache, temporary files (session
    fixtures have ended)."""
    if _TMP:
        shutil.rmtree(_TMP, ignore_errors=True)


@pytest.fixture
def offline() -> dict[str, str]:
    """Variables that cut this machine off from the package index: a proxy nobody listens on, so that
    every connection to it is refused."""
    closed = f"http://127.0.0.1:{server.free_port()}"
    return {"HTTPS_PROXY": closed, "https_proxy": closed}


@pytest.fixture(scope="session")
def bentoml_home() -> Path:
    return Path(_HOME)


@pytest.fixture(scope="session")
def real_csv() -> Path:
    path = os.environ.get(data.DATA_ENV)
    if not path:
        pytest.skip(f"set {data.DATA_ENV} to the course's CreditScoring.csv to run this test")
    return Path(path)


@pytest.fixture(scope="session")
def credit_data() -> data.CreditData:
    """The real data when ``CREDIT_SCORING_CSV`` is set, else the generated data."""
    return data.load()


@pytest.fixture(scope="session")
def kept_holdout() -> None:
    """The grader's held-out applicants in the session's cache, as any grading after the first finds
    them (the service inspector then reads the model too, instead of a model reader of its own)."""
    from grader.children import holdout
    from grader.facts import quality

    source = data.default_source()
    if quality.cached_holdout(source) is None:
        holdout.split(source)


@pytest.fixture(scope="session")
def trained(credit_data) -> training.TrainedModel:
    return training.train(credit_data)


@pytest.fixture(scope="session")
def saved_model(trained, bentoml_home):
    """The course model, saved once in the test store as ``credit_risk_model``."""
    return training.save(trained, owner="kit-tests", stage="test")


@pytest.fixture(scope="session")
def reference_server(saved_model):
    """The reference service from ``solutions/``, served on a free loopback port for the session."""
    with server.serving(SERVICE_TARGET, ROOT, timeout=90) as running:
        yield running


@pytest.fixture(scope="session")
def reference_home(saved_model, bentoml_home) -> Path:
    """The test store holding the kit-trained course model."""
    return bentoml_home


@pytest.fixture(scope="session")
def solutions_graded(reference_home, tmp_path_factory):
    """``solutions/`` graded once with ``--build``, for the grader's and the containers' tests."""
    from tests.grader.conftest import grade

    return grade(ROOT / "solutions", reference_home, tmp_path_factory.mktemp("results"), "--build")


@pytest.fixture(scope="session")
def expected(saved_model):
    """P(default) computed in-process from the saved model, for any list of applicants."""
    import bentoml

    model = bentoml.xgboost.load_model(saved_model.tag)
    dv = saved_model.custom_objects[contract.CUSTOM_OBJECT_KEY]
    return lambda applicants: training.predict_proba(model, dv, applicants)
