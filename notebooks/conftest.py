"""nbval runs of the course notebooks (``python -m pytest`` collects them with ``--nbval``).

Each notebook runs in a fresh kernel against its own empty, temporary BentoML home outside the
repository (``BENTOKIT_HOME``, which ``kitnb.setup()`` turns into ``BENTOML_HOME`` in the kernel),
so every notebook must create what it needs from the earlier steps by itself. Kernels inherit
this process's environment, including ``CREDIT_SCORING_CSV`` when it is set, and a run marker
(``MARKER``) by which whatever a failed notebook left running is found and stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from bentokit import procs

HERE = Path(__file__).resolve().parent
_homes: list[str] = []
_current: dict[str, object] = {"notebook": None}
#: Every kernel, and so every server a notebook starts, carries this run's marker in its environment.
MARKER = "BENTOKIT_NOTEBOOK_RUN"
# A value of this session's own, never the inherited one: a pytest run started by a test (a nested
# session) must not stop, at its end, the servers of the session that started it.
_marker = os.environ[MARKER] = uuid.uuid4().hex


#: The scopes that take longest (a minute or more of one worker each): collected first, so that with
#: ``--no-loadscope-reorder`` they are handed out first and the short scopes fill the end of the run
#: (the hostile class's sockets test waits two minutes for the ports to be quiet: 186 s, most of it idle).
LONG_SCOPES = ("tests/learn/test_learn_flow.py", "tests/cohort/test_cohort.py",
               "tests/cohort/test_hostile_class.py", "notebooks", "tests/test_readme.py",
               "tests/containers/test_grader_container.py", "tests/grader/test_grading.py")
#: Tests whose parameters are independent gradings: each case is a scope of its own, so that the
#: cases spread over the workers instead of running one after the other on one.
CASE_SCOPES = ("tests/grader/test_grading.py::test_broken_submission[",)
#: Modules that share a costly session fixture run in the scope of the first, on one worker, so that
#: the fixture is made once (the graded class: 45 s; the homework key: 35 s).
SHARED_SCOPES = {"tests/cohort/test_platforms.py": "tests/cohort/test_cohort.py",
                 "tests/learn/test_homework.py": "tests/learn/test_learn_flow.py"}


def scope_of(nodeid: str) -> str:
    """The xdist scope of a test: its module (as loadscope), all notebooks as one, a module whose
    session fixture another shares (``SHARED_SCOPES``), or the case itself (``CASE_SCOPES``)."""
    path = nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        return "notebooks"
    if nodeid.startswith(CASE_SCOPES):
        return nodeid
    return SHARED_SCOPES.get(path, path)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long scopes first (in ``LONG_SCOPES`` order), the rest as collected."""
    rank = {scope: n for n, scope in enumerate(LONG_SCOPES)}
    items.sort(key=lambda item: rank.get(scope_of(item.nodeid).split("::", 1)[0], len(rank)))


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, which `./kit test` uses
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadscope`` with the scopes of ``scope_of``: all notebooks in one, since they share
    ``work/`` and ``work-projects/`` as a learner's session does (they run in order on one worker);
    a test module whole on one worker, as loadscope does, but for the independent cases."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class KitScopes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid)

    return KitScopes(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before the first cell of a notebook (when nbval starts its kernel), give it a new home."""
    notebook = item.parent
    if notebook is _current["notebook"] or item.path.suffix != ".ipynb":
        return
    _current["notebook"] = notebook
    home = tempfile.mkdtemp(prefix=f"bentokit-nb-{item.path.stem[:2]}-")
    _homes.append(home)
    os.environ["BENTOKIT_HOME"] = home
    os.environ["BENTOML_DO_NOT_TRACK"] = "true"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop whatever the notebooks left running (a server of a notebook that failed before its
    last cell, with its workers), then remove the temporary homes."""
    procs.kill_tree(procs.find(_marker, var=MARKER), grace=5.0)
    for home in _homes:
        shutil.rmtree(home, ignore_errors=True)
