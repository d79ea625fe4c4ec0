"""``--container``: the learner's bento image, built and run with the engine found.

Everything goes through :mod:`bentokit.containers` (engine detection, ``bentoml containerize``,
``run`` on a free 127.0.0.1 port, removal). The readiness wait is :func:`bentokit.server.wait_url_ready`
with the grader's own crash test (BentoML keeps the container running when the service's
``__init__`` fails, so the container's log is read too, as for ``bentoml serve``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bentokit import containers, server
from grader import hints

IMAGE_REPOSITORY = "localhost/bentokit-grader"
#: What BentoML logs when a worker's lifespan (the service's __init__) raised.
STARTUP_FAILED = "Application startup failed"


@dataclass
class ContainerFacts:
    """How far the image got: built (``image``), then ready at ``url``; ``error`` says why not."""

    engine: str = ""
    image: str = ""
    build_seconds: float = 0.0
    size: int = 0
    url: str = ""
    ready_seconds: float = 0.0
    error: str = ""


class ContainerRun:
    """One image and one container of a grading run; :meth:`close` removes them."""

    def __init__(self, engine: containers.Engine, keep_image: bool, log_dir: Path) -> None:
        self.engine = engine
        self.keep_image = keep_image
        self.log_dir = log_dir
        self.image: str | None = None
        self.container: containers.RunningContainer | None = None

    def start(self, bento_tag: str, home: Path, build_timeout: float, ready_timeout: float) -> ContainerFacts:
        """Build the image of ``bento_tag`` from the store ``home``, run it and wait for ``/readyz``."""
        facts = ContainerFacts(engine=self.engine.describe())
        tag = f"{IMAGE_REPOSITORY}:{bento_tag.split(':')[-1]}"
        self.image = tag  # removed at close even when the build fails half-way
        try:
            built = containers.build_image(bento_tag, tag, self.engine, timeout=build_timeout,
                                           log_path=self.log_dir / "containerize.log",
                                           env={"BENTOML_HOME": str(home)})
        except containers.ContainerError as err:
            fixes = "".join(f"\nLikely fix: {fix}" for fix in hints.diagnose(str(err)))
            facts.error = f"the image did not build: {err}{fixes}"
            return facts
        facts.image, facts.build_seconds = tag, built.seconds
        try:
            facts.size = built.size()
        except containers.ContainerError:
            facts.size = 0
        try:
            self.container = containers.run(tag, self.engine)
        except containers.ContainerError as err:
            facts.error = f"the container did not start: {err}"
            return facts
        try:
            facts.ready_seconds = server.wait_url_ready(
                self.container.url, ready_timeout, self._exited(), self.log_tail, self.container.started,
                what=f"the container {self.container.name}")
        except server.ServerError as err:
            facts.error = hints.with_log(f"the container did not become ready: {str(err).splitlines()[0]}",
                                         self.log_tail(40))
            return facts
        facts.url = self.container.url
        return facts

    def _exited(self):
        """Why the container cannot become ready (it exited, or its service's startup failed), or None."""
        checked = [0.0]

        def exited() -> str | None:
            if time.monotonic() - checked[0] < 1.0:  # each question is an engine subprocess
                return None
            checked[0] = time.monotonic()
            state = self.container.state() if self.container else {}
            if not state.get("Running"):
                return f"the container exited with code {state.get('ExitCode', '?')}"
            if STARTUP_FAILED in self.log_tail(40):
                return "the service's startup failed in the container"
            return None

        return exited

    def log_tail(self, lines: int = 40) -> str:
        return self.container.log_tail(lines) if self.container else ""

    def close(self) -> None:
        """Remove the container, and the image unless it is kept; safe to call twice."""
        if self.container is not None:
            self.container.stop()
            self.container = None
        if self.image is not None and not self.keep_image:
            containers.remove_image(self.image, self.engine)
        self.image = None
