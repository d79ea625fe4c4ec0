"""Facts about the composed-services exercise (``composed_service.py``): syntax tree, bento, server.

The dependency is read from the syntax tree (``scorer = bentoml.depends(CreditScorer)`` as a class
attribute), like the rest of ``facts/source.py``: it says where the learner wrote what, without running
learner code in the grader. The bento and the server are child processes, as for ``service.py``.
"""

from __future__ import annotations

import ast
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bentokit import procs, server
from grader.facts import source
from grader.facts.run import Build, Run

FILE = "composed_service.py"
#: The entry (API) service the exercise asks for, and its import target.
API_CLASS = "CreditRiskApi"
TARGET = f"composed_service:{API_CLASS}"
#: The build configuration the grader supplies: the learner's ``image=`` gives the packages.
BUILD_CONFIG = {"service": TARGET, "include": [FILE]}


@dataclass
class ComposedSource:
    """What ``composed_service.py`` declares: its services, their dependencies and settings."""

    source: source.ServiceSource
    #: service class -> {attribute: the class named in ``bentoml.depends(...)``}
    depends: dict[str, dict[str, str]] = field(default_factory=dict)
    #: service class -> the keyword names given to ``@bentoml.service(...)``
    settings: dict[str, set[str]] = field(default_factory=dict)

    def model_services(self) -> list[str]:
        return [name for name, svc in self.source.services.items() if svc.model_refs]

    def dependents(self) -> dict[str, str]:
        """Dependency edges between the file's own services: ``{api class: model class}``."""
        return {cls: target for cls, deps in self.depends.items() for target in deps.values()
                if target in self.source.services}


def read(path: Path) -> ComposedSource:
    """Parse ``composed_service.py`` (nothing runs); a missing file or syntax error is recorded."""
    facts = ComposedSource(source=source.read(path))
    if not facts.source.parsed:
        return facts
    tree = source.parse_python(facts.source.raw, filename=str(path))
    aliases = source.aliases_of(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef) or node.name not in facts.source.services:
            continue
        for deco in node.decorator_list:
            if isinstance(deco, ast.Call) and source.is_service_decorator(deco, aliases)[0]:
                facts.settings[node.name] = {k.arg for k in deco.keywords if k.arg}
        deps: dict[str, str] = {}
        for stmt in node.body:
            value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign) else None
            if isinstance(value, ast.Call) and value.args and \
                    source.canonical(source.dotted(value.func), aliases) in ("bentoml.depends", "depends"):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        deps[target.id] = source.dotted(value.args[0])
        facts.depends[node.name] = deps
    return facts


@dataclass
class ComposedBento:
    """The composed bento's manifest, or why it was not built."""

    tag: str = ""
    manifest: dict[str, Any] | None = None
    error: str = ""

    def service_names(self) -> list[str]:
        return [s.get("name", "") for s in (self.manifest or {}).get("services") or []]


@dataclass
class ComposedServer:
    """The composed service served by ``bentoml serve composed_service:CreditRiskApi``."""

    url: str = ""
    error: str = ""
    log: str = ""


class ComposedRun:
    """The build and the server of the composed exercise, started side by side as learner code (in the
    grading's sandbox, on its copies of the submission and the models); :meth:`close` stops both."""

    def __init__(self, run: Run, ready_timeout: float = 90.0, build_timeout: float = 240.0) -> None:
        self.run = run
        self.ready_timeout = ready_timeout
        self.build_timeout = build_timeout
        # The grader's own: logs, and the build config learner code reads. In /tmp, not the caller's
        # TMPDIR: root's may be a folder the sandbox user cannot enter (a cohort's work folder).
        self._tmp = Path(tempfile.mkdtemp(prefix="grader-compose-", dir=procs.SHARED_TMP[0]))
        self._server: server.RunningServer | None = None
        self._build: Build | None = None
        self._bento: ComposedBento | None = None
        self._live: ComposedServer | None = None
        self.started = time.monotonic()

    def start(self) -> None:
        # A BentoML home of its own, sharing the run's models: `bentoml serve` empties its home's
        # prometheus_multiproc_dir as it starts, which would break the /metrics of the service.py
        # server the same grading may run beside it.
        # Named at random, in the sandbox's room (in its folder, learner code running already could
        # take a fixed name first, or swap the new folder for a link before the models' link is made).
        home = Path(tempfile.mkdtemp(prefix="bentoml-composed-", dir=self.run.sandbox.room))
        (home / "models").symlink_to(self.run.served_home / "models", target_is_directory=True)
        self.run.sandbox.give(home)
        self._server = server.start(TARGET, self.run.workdir, log_path=self._tmp / "server.log",
                                    sandbox=self.run.sandbox, env={"BENTOML_HOME": str(home)})
        # The grader's build config, in the grader's own folder, which learner code can enter but not
        # write: in the sandbox's folder, learner code already running (the service.py server) could
        # plant a link there, and this process, as root, would write through it (to /etc/passwd, say).
        self._tmp.chmod(0o711)
        config = self._tmp / "compose-bentofile.yaml"
        config.write_text(yaml.safe_dump(BUILD_CONFIG))
        config.chmod(0o644)
        self._build = Build.start(self.run, [str(self.run.workdir), "-f", str(config)],
                                  self._tmp / "build.log")

    def bento(self) -> ComposedBento:
        if self._bento is not None:
            return self._bento
        if self._build is None:
            self._bento = ComposedBento(error="not built: composed_service.py is missing or does not parse")
            return self._bento
        tag, why, text = self._build.finish(self.build_timeout - (time.monotonic() - self.started))
        if not tag:
            tail = "\n".join(text.splitlines()[-12:])
            self._bento = ComposedBento(error=f"`bentoml build` of {TARGET} {why}:\n{tail}")
            return self._bento
        built = self._build.bento(tag, self.run.sandbox)
        self._bento = ComposedBento(tag=built.tag, manifest=built.manifest, error=built.error)
        return self._bento

    def live(self) -> ComposedServer:
        if self._live is not None:
            return self._live
        if self._server is None:
            self._live = ComposedServer(error="not started: composed_service.py is missing or does not parse")
            return self._live
        running = self._server
        remaining = max(1.0, self.ready_timeout - (time.monotonic() - running.started))
        try:
            running.wait_ready(remaining)
            self._live = ComposedServer(url=running.url)
        except server.ServerError as err:
            self._live = ComposedServer(error=f"`bentoml serve {TARGET}` did not become ready: "
                                              f"{str(err).splitlines()[0]}", log=running.log_tail(25))
        return self._live

    def server_log(self, lines: int = 40) -> str:
        return self._server.log_tail(lines) if self._server else ""

    def close(self) -> None:
        if self._server is not None:
            self._server.stop(grace=3.0)
            self._server = None
        if self._build is not None:
            self._build.close()
            self._build = None
        procs.remove_tree(self._tmp)
