"""``--container``: the learner's bento image, built and run with the engine found.

Everything goes through :mod:`bentokit.containers`: ``bentoml containerize`` (in the child
grader.children.image, so that an interrupted grading kills the build with it), ``run`` on a free
127.0.0.1 port, removal. The readiness wait is :func:`bentokit.server.wait_url_ready`
with the grader's own crash test (BentoML keeps the container running when the service's
``__init__`` fails, so the container's log is read too, as for ``bentoml serve``). As root with podman,
the image is built, run and removed by the builder user, rootless (:mod:`bentokit.builder`).
"""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from bentokit import builder, containers, procs, server
from grader import hints
from grader.children import Child, kill_group
from grader.facts import files

IMAGE_REPOSITORY = "localhost/bentokit-grader"
#: What BentoML logs when a worker's lifespan (the service's __init__) raised.
STARTUP_FAILED = "Application startup failed"
#: How many of the container's last log lines are searched for a failed startup and its known causes.
DIAGNOSED_LINES = 400


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
    #: The grader refused to build the image (its Dockerfile): ``error`` says why and what to keep to.
    refused: bool = False


class ContainerRun:
    """One image and one container of a grading run; :meth:`close` removes them."""

    def __init__(self, engine: containers.Engine, keep_image: bool, log_dir: Path,
                 rootless: builder.Builder | None = None, kept_log: Path | None = None) -> None:
        #: The engine as root has it; with ``rootless``, its commands as the builder user (every image
        #: and container of the run is in that user's store).
        self.root_engine = engine
        self.engine = rootless.engine(engine) if rootless else engine
        self.rootless = rootless
        self.keep_image = keep_image
        self.log_dir = log_dir
        #: Where a failed build's log is kept for the learner (the results folder: ``log_dir`` goes).
        self.kept_log = kept_log
        #: Rootless: the build's sandbox, the builder user's, in a room (root's, mode 711) of its own.
        self._box: procs.Sandbox | None = None
        self.image: str | None = None
        self.container: containers.RunningContainer | None = None
        #: Named in advance: a grading interrupted while the engine starts it still removes it.
        self.name = f"bentokit-grader-{uuid.uuid4().hex[:10]}"
        self._build: Child | None = None
        #: The errors :meth:`start` gave (see :meth:`short_of_processes`).
        self._said: list[str] = []

    def start(self, bento_tag: str, home: Path, build_timeout: float, ready_timeout: float,
              served: Path | None = None, owners: Collection[int] | None = None) -> ContainerFacts:
        """Build the image of ``bento_tag`` from the store ``home``, its model folders replaced by those of
        ``served`` (the grader's moved copy, see Run.served_home), run it and wait for ``/readyz``.
        ``owners``: learner code's users, whose files alone are copied from those stores (as root)."""
        facts = self._start(bento_tag, home, build_timeout, ready_timeout, served, owners)
        if facts.error:
            self._said.append(facts.error)
        return facts

    def short_of_processes(self) -> bool:
        """Whether a process of the image's build or of the container could not start for want of
        process slots. Every learner's image is built and run by the builder user, in its one user
        namespace, and runs as BentoML's ``bentoml`` user there: their processes count against the same
        limit. A classmate's container that held them all (4094 threads) made an honest learner's image
        build and container fail, 110 -> 63, and the score was kept (red-team round 37): a class run
        grades such a learner again, alone."""
        said = (*self._said, self.log_tail(DIAGNOSED_LINES))
        return any(hints.NO_PROCESS_SLOTS.search(text) for text in said)

    def _start(self, bento_tag: str, home: Path, build_timeout: float, ready_timeout: float,
               served: Path | None, owners: Collection[int] | None) -> ContainerFacts:
        facts = ContainerFacts(engine=self.engine.describe())
        tag = f"{IMAGE_REPOSITORY}:{bento_tag.split(':')[-1]}"
        self.image = tag  # removed at close even when the build fails half-way
        engine = [self.engine.name, self.engine.binary, self.engine.version]
        box = self._builder_box() if self.rootless else None
        log = (box.folder if box else self.log_dir) / "containerize.log"
        try:
            staged = self._stage(bento_tag, home, box.room if box else self.log_dir, served, owners)
        except (OSError, shutil.Error) as err:  # a file learner code made unreadable, say
            facts.error = f"the bento {bento_tag} could not be copied for the image build: {err}"
            return facts
        if box is not None:
            box.give(staged)
            try:
                self.rootless.share_base_images(self.root_engine)
            except builder.BuilderError as err:
                facts.error = f"the image was not built: {err}"
                return facts
        self._build = Child("grader.children.image", {
            "bento": bento_tag, "image": tag, "engine": engine, "home": str(staged), "timeout": build_timeout,
            "log": str(log), "rootless": box is not None,
        }, cwd=box.folder if box else self.log_dir, timeout=build_timeout + 30, sandbox=box,
            env=self.rootless.env() if self.rootless else None)
        result = self._build.result()
        data = result.data or {}
        if box is not None:  # the grader's copy of the build's log, read as its user could (the room goes)
            with contextlib.suppress(OSError):
                (self.log_dir / "containerize.log").write_bytes(box.read_bytes(log, 8 << 20))
        if not result.ok or "error" in data:
            error = data.get("error") or (f"the build did not finish within {build_timeout:.0f} s"
                                          if result.timed_out else result.log_tail)
            if isinstance(error, str) and self.kept_log is not None:  # log_dir goes with the grading
                with contextlib.suppress(OSError):
                    shutil.copyfile(self.log_dir / "containerize.log", self.kept_log)
                    error = error.replace(str(log), str(self.kept_log))
            fixes = "".join(f"\nLikely fix: {fix}" for fix in hints.diagnose(error))
            facts.error = f"the image did not build: {error}{fixes}"
            facts.refused = data.get("refused") is True
            return facts
        facts.image, facts.build_seconds, facts.size = tag, data["seconds"], data["size"]
        try:
            self.container = containers.run(tag, self.engine, name=self.name)
        except containers.ContainerError as err:
            facts.error = f"the container did not start: {err}"
            return facts
        try:
            facts.ready_seconds = server.wait_url_ready(
                self.container.url, ready_timeout, self._exited(), self.log_tail, self.container.started,
                what=f"the container {self.container.name}")
        except server.ServerError as err:
            # The hints read a long tail: a second worker's output and the shutdown can follow the
            # traceback that names the fix (with_log shows only the last lines of it).
            first = str(err).splitlines()[0]
            facts.error = hints.with_log(f"the container did not become ready: {first}",
                                         self.log_tail(DIAGNOSED_LINES))
            if server.NOT_READY in first:  # a time limit passed, as for a served service
                Child.count_over_time()
            return facts
        facts.url = self.container.url
        return facts

    def _builder_box(self) -> procs.Sandbox:
        """The build's sandbox: the builder user, in a room of this run's (see procs.Sandbox), its folder
        there the build's TMPDIR (its HOME, with its podman's store, is the builder's: ``builder.env``)."""
        box = procs.Sandbox.in_shared_room(self.rootless.name, self.rootless.uid, self.rootless.gid)
        self._box = box  # left at close, never released: a classmate's build may be running
        return box

    def _stage(self, bento_tag: str, home: Path, into: Path, served: Path | None = None,
               owners: Collection[int] | None = None) -> Path:
        """A BentoML home in ``into`` holding a copy of the bento and the models, without the links that
        lead out of them. ``bentoml containerize`` copies the bento and models into its build context
        following links, as the grader's user (root) or the builder: learner code, which can write the
        sandbox's store, could otherwise link a file of theirs into the image, and print it from there.
        Each model folder ``name/version`` of ``served`` (a ``models`` folder) replaces the store's."""
        name, version = bento_tag.split(":", 1)
        source = home / "bentos" / name / version
        if files.escapes(source, home):  # its folder swapped for a link out of the store
            raise OSError(f"its folder is a link out of the store ({source.resolve()}): not copied")
        staged = into / "containerize-home"
        files.copy_tree(source, staged / "bentos" / name / version, owners=owners)
        if (home / "models").is_dir():
            files.copy_tree(home / "models", staged / "models", owners=owners)
        for model in sorted(served.glob("*/*")) if served is not None else []:
            if model.is_dir() and not model.is_symlink():
                target = staged / "models" / model.relative_to(served)
                if target.is_symlink():
                    target.unlink()
                elif target.is_dir():
                    shutil.rmtree(target)
                files.copy_tree(model, target, owners=owners)
        return staged

    def _exited(self):
        """Why the container cannot become ready (it exited, or its service's startup failed), or None."""
        checked = [0.0]

        def exited() -> str | None:
            if time.monotonic() - checked[0] < 1.0:  # each question is an engine subprocess
                return None
            checked[0] = time.monotonic()
            state = self.container.state() if self.container else {}
            failed = STARTUP_FAILED in self.log_tail(DIAGNOSED_LINES)
            if not state.get("Running"):  # a failed startup ends the container, often within a poll
                code = state.get("ExitCode", "?")
                return (f"the service's startup failed in the container (it exited with code {code})"
                        if failed else f"the container exited with code {code}")
            if failed:
                return "the service's startup failed in the container"
            return None

        return exited

    def log_tail(self, lines: int = 40) -> str:
        return self.container.log_tail(lines) if self.container else ""

    def close(self) -> None:
        """Stop the build, remove the container, and the image unless it is kept; safe to call twice."""
        if self._build is not None and self._build.process is not None:
            kill_group(self._build.process)  # before removing the image it would create
        if self.container is None and self.image is not None:  # `run` may have been interrupted
            self.container = containers.RunningContainer(self.name, self.image, self.engine, "")
        if self.container is not None:
            for _ in range(3):  # a busy engine (a build holding its lock) may time out: ask again
                self.container.stop()
                if not self.container.state():
                    break
            self.container = None
        if self.image is not None and not self.keep_image:
            for _ in range(3):
                containers.remove_image(self.image, self.engine, self.log_dir / "containerize.log")
                if not self._image_exists():
                    break
        self.image = None
        if self._box is not None:  # never the builder's processes: a classmate's build may be running
            self._box.leave_room()
            self._box = None

    def _image_exists(self) -> bool:
        try:
            containers.image_size(self.image or "", self.engine)
        except containers.ContainerError:
            return False
        return True
