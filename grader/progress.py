"""What ``python -m grader`` shows on a terminal while it grades: the check under way and the time.

The grade table comes at the end. Until then a grading that waits (a ``--url`` that does not answer
yet, a ``--container`` image being built) would show nothing for a minute or more.
"""

from __future__ import annotations

import os
from typing import TextIO

import pytest
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from grader.plugin import spec


def terminal() -> TextIO | None:
    """A stream to the terminal on stderr, or None when stderr is not one (a pipe, a CI log).

    A copy of the descriptor: pytest's capture redirects descriptor 2 itself while a check runs.
    """
    if not os.isatty(2):
        return None
    return os.fdopen(os.dup(2), "w", buffering=1)


class Status:
    """A pytest plugin: one transient line (rich) naming the check under way, its number and the time."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._progress = Progress(SpinnerColumn(), TimeElapsedColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.description}"), console=Console(file=stream),
                                  transient=True, redirect_stdout=False,
                                  redirect_stderr=False)  # pytest's output goes to the log, not here
        self._task = self._progress.add_task("Grading", total=None)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._progress.update(self._task, total=len(session.items))
        self._progress.start()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        declared = spec(item)
        if declared is not None:
            self._progress.update(self._task, description=f"Grading {declared.group}: {declared.title}")

    def pytest_runtest_logfinish(self) -> None:
        self._progress.advance(self._task)

    def close(self) -> None:
        """Take the line away (the table follows) and let go of the terminal."""
        self._progress.stop()
        self._stream.close()
