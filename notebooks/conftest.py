"""nbval runs of the course notebooks (``python -m pytest`` collects them with ``--nbval``).

Each notebook runs in a fresh kernel against its own empty, temporary BentoML home outside the
repository (``BENTOKIT_HOME``, which ``kitnb.setup()`` turns into ``BENTOML_HOME`` in the kernel),
so every notebook must create what it needs from the earlier steps by itself. Kernels inherit
this process's environment, including ``CREDIT_SCORING_CSV`` when it is set.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SERVERS = HERE / "work" / ".servers"
_homes: list[str] = []
_current: dict[str, object] = {"notebook": None}
_started = time.time()


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
    """Stop servers a failed notebook left running, then remove the temporary homes."""
    # Written by hand: the notebooks' servers are bentokit.server process groups that kitnb lists by
    # id in work/.servers; a notebook that died before its last cell leaves its group listed here.
    if SERVERS.is_dir():
        for marker in SERVERS.iterdir():
            if marker.stat().st_mtime < _started:
                continue  # not from this run: its process id may belong to someone else by now
            with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
                os.killpg(int(marker.name), signal.SIGKILL)
            marker.unlink(missing_ok=True)
    for home in _homes:
        shutil.rmtree(home, ignore_errors=True)
