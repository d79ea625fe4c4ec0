"""Session fixtures the checks share: the grading run and the facts it gathers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from grader.plugin import time_limit
from grader.session import Options, Run


@pytest.fixture(scope="session")
def run(request: pytest.FixtureRequest) -> Iterator[Run]:
    """The grading run: starts the helpers and the server, and stops them all at the end."""
    opt = request.config.getoption
    grading = Run(Options(submission=opt("--submission"), url=opt("--url"), build=opt("--build"),
                          import_timeout=opt("--import-timeout"), ready_timeout=opt("--ready-timeout"),
                          container=opt("--container"), keep_image=opt("--keep-image"),
                          image_timeout=time_limit(request.config)))
    try:
        yield grading
    finally:
        grading.close()
