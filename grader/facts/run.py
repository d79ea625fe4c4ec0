"""One grading run: the submission, the facts gathered about it, and the processes it starts.

Slow work starts as soon as the run begins, in child processes that run side by side: the live
server, and the service inspector, which reads the model first (scoring the probe candidates and the
held-out applicants), then imports service.py, and builds the bento after (``--build``). Confined,
the inspector runs as a user of its own, on its own copies of the submission and the store: the
server's learner code cannot reach the model's answer. Only what the selected checks declare they
need is started; checks then wait for the facts they need.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import math
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO, Any

import yaml

from bentokit import builder, containers, contract, lazy_bentoml, package_index, procs, server
from bentokit.data import default_source
from grader import hints
from grader.children import Child, ChildResult, kill_group, read_to_end
from grader.children.served_model import Move, logit, moved_probability
from grader.declare import BENTO, CONTAINER, IMPORT, LIVE, MODEL
from grader.facts import bentofile, files, probes, source, store
from grader.facts.container import STARTUP_FAILED, ContainerFacts, ContainerRun
from grader.facts.quality import Quality, auc, cached_holdout

SERVICE_TARGET = f"service:{contract.SERVICE_CLASS}"
#: BentoML's configuration of the server the grader starts for the learner's service (it reads
#: ``BENTOML_CONFIG_OPTIONS`` over the service's own): no access log and no tracing of the contract's
#: routes. The live checks send some 180 requests: their access-log lines pushed the traceback of a
#: crash on a request out of the log tail the hints read, and the two cost the server about 1.2 ms of CPU a
#: request on a slow machine (0.2 s for the 160 hidden applicants). Nothing graded reads either; a service
#: named otherwise than the contract's class is served as configured.
SERVED_CONFIG = " ".join(f"services.{contract.SERVICE_CLASS}.{option}" for option in (
    "logging.access.enabled=false",
    f'tracing.excluded_urls=["{contract.CLASSIFY_PATH}","{contract.CLASSIFY_BATCH_PATH}"]'))
#: A bento's tag as BentoML writes it: ``name:version``, with no path in either.
TAG = re.compile(r"[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9_-]+)*:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
#: How many ports the server is started on when another process takes its port before it binds it.
PORT_ATTEMPTS = 3
PORT_TAKEN = "Address already in use"
#: Seconds the model reader has to read the store and predict.
MODEL_TIMEOUT = 120.0
#: How far the grader moves the margin m of the model it serves the service with, to scale * m + shift
#: (drawn at each grading: see grader.children.served_model): the shift either way, the scale log-uniform;
#: and the seconds the move may take. A service guessing a shift alone passed when its guess fell within
#: the tolerance over the slope of the answers it was held to: 2.6 % of gradings at best, for a model
#: whose answers that change fast with the move share one margin. It must now guess two numbers, held
#: by two probes apart in margin (grader.checks.live.MIN_PAIR_STRENGTH): about 0.9 % at best. A wider
#: scale range gains little (0.5 to 1.33 against 0.6 to 1.33: the same with one pair of margins 1 apart)
#: and leaves an honest model trained for 10000 rounds fewer answers that show the move.
SHIFT_RANGE = (0.5, 2.0)
SCALE_RANGE = (0.6, 1.33)
#: The least margin of the move's fixed point, shift / (1 - scale), where an answer stays as saved: an
#: honest service's sample answer there could not show the move, and its sample check failed as not
#: checked (red-team round 34: 0.1 % of gradings). Answers beyond it (0.018 from 0 or 1) hardly move
#: anyway; the draws left out (a quarter) raise the guessing lottery from 0.7 % to 0.9 %.
FIXED_POINT_BEYOND = 4.0
SERVED_MODEL_TIMEOUT = 60.0
#: The least slope p(1 - p) of a moved answer that changes fast with the move (from 0.15 to 0.85).
SENSITIVE_SLOPE = 0.1275


def draw_move() -> Move:
    """The move of the served model's margin, drawn at each grading: a scale in SCALE_RANGE (log-uniform)
    and a shift in SHIFT_RANGE, either way, whose fixed point lies FIXED_POINT_BEYOND or further out."""
    draw = secrets.SystemRandom()
    while True:
        scale = math.exp(draw.uniform(*map(math.log, SCALE_RANGE)))
        shift = draw.uniform(*SHIFT_RANGE) * draw.choice((-1, 1))
        if abs(shift) >= FIXED_POINT_BEYOND * abs(1 - scale):
            return Move(scale, shift)


#: What the copy of the submission learner code runs on leaves out (models reach it through the store).
COPY_IGNORED = shutil.ignore_patterns(".git", "__pycache__", ".venv", "grader-results", "*.bentomodel")


@dataclass
class ServedModels:
    """The model folders (``name/version``) of the store the grader's own servers serve (and a
    ``--container`` image is built with): each moved by its move, or refused (why); ``moving``: the
    grader serves such a store (not with ``--url``)."""

    moving: bool = False
    moves: dict[str, Move] = field(default_factory=dict)
    moved: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)


@dataclass
class Options:
    submission: Path
    url: str | None = None
    build: bool = False
    import_timeout: float = 30.0
    ready_timeout: float = 60.0
    build_timeout: float = 180.0
    #: Build and run the bento's image with the engine found, and grade the live checks against it.
    container: bool = False
    keep_image: bool = False
    image_timeout: float = 900.0
    #: What the selected checks need (``grader.declare``): service.py is imported, the model store
    #: read, the bento built and the server started only for checks that need them.
    needs: frozenset[str] = frozenset({IMPORT, MODEL, BENTO, LIVE})
    #: Run learner code as a user of its own: "auto" (when root and possible), "require", "off".
    confine: str = "auto"
    #: A file descriptor that reaches its end once the model store is filled (the learner loop's
    #: train.py run): the run reads the store only then, and meanwhile starts what does not need it.
    store_ready_fd: int | None = None
    #: The results folder, where a log a failed step's error names is kept (the run's own folder goes).
    results: Path | None = None


@dataclass
class ServiceFacts:
    """What importing ``service.py`` in a child showed."""

    imported: bool
    error: str = ""
    services: dict[str, dict[str, Any]] = field(default_factory=dict)

    def service(self) -> dict[str, Any] | None:
        """The service whose class is the contract's, whatever module attribute holds it."""
        return self.services.get(contract.SERVICE_CLASS) or next(
            (s for s in self.services.values() if s["name"] == contract.SERVICE_CLASS), None)


@dataclass
class BentoFacts:
    """A built bento's manifest, or why there is none."""

    tag: str = ""
    manifest: dict[str, Any] | None = None
    error: str = ""
    #: The service.py packed in the bento, as bytes (None when it has none).
    service_source: bytes | None = None


@dataclass
class LiveTarget:
    """The address of a ready service, or why there is none (with the server's last log lines)."""

    url: str = ""
    error: str = ""
    ready_seconds: float = 0.0


def bento_facts(tag: str, manifest: str, service_source: bytes | None) -> BentoFacts:
    """A bento's facts from the text of its bento.yaml (and its packed service.py, if any)."""
    try:
        found = files.load_yaml(manifest)
    except (yaml.YAMLError, RecursionError) as err:  # written by learner code: nested past PyYAML's depth
        return BentoFacts(error=f"the bento {tag} has a bento.yaml that is not valid YAML: {err}")
    if not isinstance(found, dict):
        return BentoFacts(error=f"the bento {tag} has a bento.yaml that is not a mapping")
    return BentoFacts(tag=tag, manifest=found, service_source=service_source)


class Build:
    """``bentoml build`` running as learner code (in the sandbox, on the copied submission and store)."""

    def __init__(self, home: Path, process: subprocess.Popen, log_path: Path,
                 read_log: Callable[[Path], str] = lambda path: path.read_text(errors="replace")) -> None:
        self.home = home
        self.process = process
        self.log_path = log_path
        #: How the log is read: a log in the sandbox's folder, as the learner could (learner code can
        #: swap it for a link); the default suits a log in a folder of the grader's.
        self.read_log = read_log
        self._log: IO[bytes] | None = None

    @classmethod
    def start(cls, run: Run, args: list[str], log_path: Path) -> Build:
        """A build process of its own: ``bentoml build ARGS``, its output to ``log_path``."""
        log = open(log_path, "wb")  # noqa: SIM115 - closed in close()
        process = procs.spawn(lazy_bentoml.command("build", *args, "--output", "tag"),
                              cwd=run.workdir, stdout=log, **run.learner())
        build = cls(run.home, process, log_path)
        build._log = log
        return build

    def finish(self, timeout: float) -> tuple[str, str, str]:
        """Wait (at most ``timeout`` s): the bento's tag (``''`` if none), why not, and the build log."""
        with contextlib.suppress(Exception):
            self.process.wait(timeout=max(1.0, timeout))
        timed_out = self.process.poll() is None
        if timed_out:
            Child.count_over_time()
        self.close()
        try:
            text = self.read_log(self.log_path)
        except OSError as err:
            text = f"the build's log could not be read: {err}"
        # The log is learner code's to write: a tag is used only when it is one (no `..` that would
        # lead the grader, reading or copying the bento as root, out of the store).
        match = re.search(r"__tag__:(\S+)", text)
        if match and not TAG.fullmatch(match.group(1)):
            match = None
        if timed_out or not match:
            code = self.process.returncode
            why = ("did not finish in time" if timed_out else f"failed (exit code {code})" if code
                   else "ended without printing a bento tag")
            return "", why, text
        return match.group(1), "", text

    def path(self, tag: str) -> Path:
        """Where the bento ``tag`` was built."""
        name, version = tag.split(":", 1)
        return self.home / "bentos" / name / version

    def bento(self, tag: str, sandbox: procs.Sandbox, source: bytes | None = None) -> BentoFacts:
        """The bento ``tag`` as built, in the sandbox's store (learner code can write it: read as the
        learner could). With ``source``, the submission's service.py, the packed service.py is read to
        be compared with it: up to a byte past its size, however long (read up to 1 MiB, a service.py
        over that, packed unchanged, once compared unequal to itself)."""
        path = self.path(tag)
        try:
            manifest = sandbox.read_text(path / "bento.yaml")
        except OSError as err:
            return BentoFacts(error=f"`bentoml build` printed the tag {tag}, but its bento.yaml could not be "
                                    f"read: {err.strerror}.")
        packed = None
        if source is not None:
            with contextlib.suppress(OSError):
                packed = sandbox.read_bytes(path / "src" / "service.py", len(source) + 1)
        return bento_facts(tag, manifest, packed)

    def close(self) -> None:
        kill_group(self.process)
        if self._log is not None:
            self._log.close()


@dataclass
class Place:
    """Where a helper runs learner code: a sandbox, its copy of the submission, its model store."""

    sandbox: procs.Sandbox
    workdir: Path
    home: Path

    def learner(self) -> dict[str, Any]:
        """The keyword arguments that run a process here (``procs.spawn``, :class:`Child`)."""
        return {"sandbox": self.sandbox, "env": {"BENTOML_HOME": str(self.home)}}


class ConfinementError(RuntimeError):
    """``--confine require`` and learner code cannot run as a user of its own (the message says why)."""


def open_sandbox(mode: str) -> tuple[procs.Sandbox, str]:
    """The sandbox for learner code, and the sentence the report shows about it."""
    if mode == "off":
        sandbox = procs.Sandbox.acquire(confine=False)
    else:
        try:
            sandbox = procs.Sandbox.acquire(confine=True if mode == "require" else None)
        except procs.SandboxError as err:
            if mode == "require":
                raise ConfinementError(str(err)) from err
            sandbox = procs.Sandbox.acquire(confine=False)
            return sandbox, f"Confinement is off: {err}"
    if sandbox.confined:
        return sandbox, confined_note([sandbox])
    return sandbox, sandbox.note.split(" (")[0] + (" (not running as root)." if os.geteuid() else
                                                   " (--confine off).")


def confined_note(sandboxes: list[procs.Sandbox]) -> str:
    """The report's sentence about learner code run as the users of ``sandboxes``."""
    users = " and ".join(box.user for box in sandboxes)
    one = len(sandboxes) == 1
    return (f"Confined: learner code ran as the {'user' if one else 'users'} {users}, with an allow-listed "
            f"environment; every process of {'that user' if one else 'those users'} was killed afterwards.")


def bentoml_home() -> Path:
    """The learner's BentoML home: ``$BENTOML_HOME`` or BentoML's default ``~/bentoml``."""
    return Path(os.environ.get("BENTOML_HOME") or Path.home() / "bentoml")


class Run:
    """Everything one grading run knows and owns; :meth:`close` stops all it started."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self._mark = procs.mark()  # what this run starts from now on is its own to stop
        self.submission = options.submission.resolve()
        self.started = time.monotonic()
        self._tmp = Path(tempfile.mkdtemp(prefix="grader-run-"))  # the grader's own: logs, build output
        self.sandbox, self.confinement = open_sandbox(options.confine)
        # Learner code runs on copies in the sandbox's folder: the submission, and the models of the
        # learner's store (the store itself may be unreadable to the sandbox's user, and is never
        # written to); the facts about the files come from the originals.
        self.workdir = self.sandbox.folder / "submission"
        self.home = self.sandbox.folder / "bentoml"
        self.source = source.read(self.submission / "service.py")
        #: What the copies leave out, as Python would import it as ``service`` before service.py.
        self.shadowing = source.shadowing(self.submission) if self.source.exists else []
        if self.submission.is_dir():
            files.check_size(self.submission, COPY_IGNORED)
        self._copy_submission(Place(self.sandbox, self.workdir, self.home))
        # Known applicants first, then the hidden candidates; the model reader scores them all.
        self.known = {"sample": contract.SAMPLE_APPLICANT, **contract.GOLDEN_APPLICANTS}
        self.candidates = probes.candidates()
        self._server: server.RunningServer | None = None
        self._container: ContainerRun | None = None
        self._build: Build | None = None
        self._lock: package_index.Lock | None = None
        #: The bento build skips its packages' lock: the grader's own lock asks the same (_start_inspector).
        self._build_unlocked = False
        self.engine_error = ""
        #: Why this grading is no verdict on the work: a step failed for the machine's sake (it cannot
        #: reach the package index), not the submission's; '' when none did.
        self.machine_problem = ""
        #: The service's port was taken on its last start: in a class run, code of another learner
        #: graded meanwhile may have held it (the run then grades this learner again, alone).
        self.port_taken = False
        self._server_error = ""
        #: What the model mover did to the copy of the store the grader serves (:attr:`served_home`).
        self.served = ServedModels()
        self._mover: tuple[Path, dict[str, Move], Child] | None = None
        #: Which of the model facts' answers the service is held to (:meth:`follow`).
        self.answered_with = "predictions"
        #: The helpers this run started, in order (the summary lists them).
        self.helpers: list[str] = []
        atexit.register(self.close)  # also when the run is interrupted
        self.data_source = default_source()  # what the grader measures the model with
        self.holdout_error = ""
        self._holdout = cached_holdout(self.data_source) if MODEL in options.needs else None
        self._service_child: Child | None = None
        self._model_child: Child | None = None
        self._model_in_inspector = False
        #: When confined, the model reader's own sandbox (another user than the server's), for a model
        #: reader that is not the inspector. A process of the server's learner code (a daemon its
        #: import left) could otherwise stop the reader, take its answer pipe (pidfd_getfd needs only
        #: the same user) or rewrite its answer file, and forge the model's predictions the live checks
        #: are compared with (reproduced: 82 -> 100).
        self._model_box: procs.Sandbox | None = None
        #: The lock check's sandbox while it runs learner code (a user of its own when confined).
        self._lock_box: procs.Sandbox | None = None
        #: Called whenever :attr:`sandboxes` changes (the plugin records them for the class run's runner,
        #: which counts the memory of every user listed, and cleans up after each).
        self.on_sandboxes: Callable[[], None] | None = None
        #: Where the service inspector (and the build after it) runs: when confined, a user of its own
        #: with its own copies of the submission and the store, for the same reason (it reads the model
        #: first, before anything of the learner's is importable in it); else the learner's sandbox.
        self.inspecting = Place(self.sandbox, self.workdir, self.home)
        if options.store_ready_fd is not None:
            # Only a model reader of its own can start before the store is filled: it imports its
            # libraries meanwhile and reads the store once let through (the other helpers read the
            # store as they start, and a run that inspects service.py reads the model there).
            if MODEL in options.needs and not options.needs & {IMPORT, LIVE, BENTO, CONTAINER}:
                self._start_model_reader(gated=True)
            read_to_end(options.store_ready_fd)
        #: No model the grading asks for is in the store: there is nothing for a model reader to read.
        self.store_empty = not self._copy_models(self.home, self.sandbox)
        if self._model_box is not None:  # a gated reader's, started before the store was filled
            self._copy_models(self._model_box.folder / "bentoml", self._model_box)
        if options.container and options.needs & {CONTAINER, LIVE}:
            self._container = self._container_run()
        # With an engine the container serves the live checks; without one, `bentoml serve` does, on a
        # copy of the store whose model the mover moves first (half a second, beside the inspector's
        # start); then the server (its start imports service.py twice, one after the other).
        serving = LIVE in options.needs and not options.url and self._container is None and self.source.parsed
        if serving or (self._container is not None and LIVE in options.needs and self.source.parsed):
            self._start_mover()  # a container's image is built with the moved model too
        # The service inspector; when the run builds, it goes on to build the bento in the same
        # process once it has answered (a build of its own would import service.py once more). When
        # the model store is to be read too and the held-out applicants are at hand, the inspector
        # reads it first, in the same process (a model reader of its own would import the same
        # libraries again).
        self.building = BENTO in options.needs and (options.build or self._container is not None)
        if self.building or options.needs & {IMPORT, LIVE}:  # the live checks ask if it imports
            self._start_inspector(with_model=MODEL in options.needs and self._holdout is not None
                                  and not self.store_empty)
        if serving:
            self._start_server()
        if self._model_child is not None and self.store_empty:
            self._model_child.stop()
            self._model_child = None
            self.helpers[self._model_helper] += " (stopped unread: no model in the store)"
        elif self._model_child is not None:
            self._model_child.open_gate()
        elif MODEL in options.needs and not self._model_in_inspector and not self.store_empty:
            self._start_model_reader()

    @cached_property
    def bentofile(self) -> bentofile.Bentofile:
        """The submission's bentofile, validated when a check first asks: the validation imports
        BentoML's build configuration (1 s of CPU), which at the run's start would slow the helpers."""
        return bentofile.read(self.submission / "bentofile.yaml")

    def _model_request(self) -> dict[str, Any]:
        """What the model reader predicts: the known applicants, the candidates, the held-out features."""
        return {"tag": self.source.model_tag, "applicants": [*self.known.values(), *self.candidates],
                "holdout": self._holdout["features"] if self._holdout else []}

    def _start_inspector(self, with_model: bool = False) -> None:
        builds_here = self.building and self.source.parsed
        # The build runs in learner code's process, which can fake its end: the grader locks the
        # bentofile's packages itself, meanwhile, as the build does first (see _built_bento). When that
        # lock asks what the build's would, the build skips its own (not for an image: it installs them).
        locked = bentofile.lock_input(self.submission / "bentofile.yaml") if builds_here else None
        self._build_unlocked = bool(locked and locked.complete and self._container is None)
        if self.source.parsed:
            place = self._inspector_place()
            request: dict[str, Any] = {"folder": str(place.workdir)}
            if with_model:
                request["model"] = self._model_request()
            # Started in the sandbox's folder: nothing of the learner's is importable until it
            # turns to the submission (after reading the model).
            self._service_child = Child("grader.children.service", request, cwd=place.sandbox.folder,
                                        timeout=self.options.import_timeout,
                                        args=(["--build"] if builds_here else [])
                                        + (["--unlocked"] if self._build_unlocked else []),
                                        answers_early=builds_here or with_model, pipe_answer=with_model,
                                        **place.learner())
            self._model_in_inspector = with_model
            self.helpers.append("service inspector as a user of its own" if place.sandbox is not self.sandbox
                                else "service inspector")
            if with_model:
                self.helpers.append("model reader (in the service inspector)")
        if builds_here:
            place = self.inspecting
            self._build = Build(place.home, self._service_child.process, self._service_child.log_path,
                                place.sandbox.read_text)
            self.helpers.append("bento build (its packages' lock: the grader's)" if self._build_unlocked
                                else "bento build")
            if locked:
                # A pass of the same lines and indexes in the last hour stands (a class shares one bentofile).
                self._lock = package_index.Lock(locked.requirements, locked.index_args, keep=True)
                self.helpers.append("lock check (passed earlier: kept)" if self._lock.kept else "lock check")

    def _start_server(self) -> None:
        try:
            self._server = server.start(SERVICE_TARGET, self.workdir, log_path=self._tmp / "server.log",
                                        sandbox=self.sandbox, env={"BENTOML_HOME": str(self.served_home),
                                                                 "BENTOML_CONFIG_OPTIONS": SERVED_CONFIG})
        except OSError as err:  # no port to give it: every one tried was taken (EADDRINUSE)
            if err.errno != errno.EADDRINUSE:
                raise
            self.port_taken = True
            self._server_error = (f"not started: every port the grader tried for the service was taken "
                                  f"({err.strerror}); that says nothing of your work: grade again.")
            return
        self.helpers.append("server")

    @cached_property
    def served_home(self) -> Path:
        """The store the services the grader starts are served from: a copy of the learner's models
        whose margin :attr:`served` says was moved (grader.children.served_model), so that only a
        service that computes its answers with the model in the store answers what the grader expects
        (the model reader reads the learner's copy, as saved); a ``--container`` image is built with it
        too. The learner's own copy when the grader serves no service of its own (``--url``), or has no
        model to serve."""
        if self.options.url or self.store_empty:
            return self.home
        if self._mover is None:
            self._start_mover()
        home, moves, child = self._mover
        found = child.result()
        data = found.data if found.ok else None
        if data is None:  # perhaps half done: served as saved, every model named
            why = f"the grader could not move it ({(found.log_tail or 'no answer').splitlines()[-1]})"
            procs.remove_tree(home / "models")
            (home / "models").mkdir()
            self._copy_served(home)
            self.served = ServedModels(True, moves, refused={key: why for key in moves})
        else:
            done = set(data.get("moved") or ()) & set(moves)
            self.served = ServedModels(True, moves, done, dict(data.get("refused") or {}))
        return home

    def _start_mover(self) -> None:
        """Copy the store the grader's servers serve from and start moving its models (see
        :attr:`served_home`, which waits for the move)."""
        if self.store_empty:
            return
        # Named at random, in the sandbox's room: in its folder, learner code already running (a
        # server, a train run's leftovers) could take a fixed name first, as a link the copy would follow.
        home = Path(tempfile.mkdtemp(prefix="bentoml-served-", dir=self.sandbox.room))
        (home / "models").mkdir()
        folder = self._copy_served(home)  # the one folder the service's tag resolves to (round 26 on)
        moves = {folder: draw_move()} if folder else {}
        child = Child("grader.children.served_model", {"home": str(home), "moves": moves},
                      cwd=self.sandbox.folder, timeout=SERVED_MODEL_TIMEOUT, **self.learner())
        self._mover = (home, moves, child)
        self.helpers.append("served model mover")

    def _start_model_reader(self, gated: bool = False) -> None:
        """A model reader of its own. The held-out applicants come from the grader's cache, or from a
        child of the grader's own (waited for here: the other helpers have started by then).
        ``gated``: it reads the store only once :meth:`Child.open_gate` lets it."""
        if self._holdout is None:
            self._holdout = cached_holdout(self.data_source)
        if self._holdout is None:
            self.helpers.append("held-out split")
            found = Child("grader.children.holdout", {"data": self.data_source}, cwd=self._tmp,
                          timeout=120).result()
            self._holdout = found.data
            if found.data is None:
                why = found.log_tail.splitlines() or ["the held-out data could not be read"]
                self.holdout_error = why[-1]
        where = self.learner()
        if self.sandbox.confined:
            self._model_box = procs.Sandbox.acquire(confine=True)
            self._sandboxes_changed()
            home = self._model_box.folder / "bentoml"
            (home / "models").mkdir(parents=True)
            if not gated:  # a gated reader's store is filled once the grading's is (see __init__)
                self._copy_models(home, self._model_box)
            where = {"sandbox": self._model_box, "env": {"BENTOML_HOME": str(home)}}
        self._model_child = Child("grader.children.model", self._model_request(),
                                  cwd=where["sandbox"].folder, timeout=MODEL_TIMEOUT, gate=gated, **where)
        self._model_helper = len(self.helpers)  # its entry, which says more once it is known
        self.helpers.append("model reader as a user of its own" if self._model_box else "model reader")

    def _inspector_place(self) -> Place:
        """Where the inspector runs: confined, a sandbox of its own (made on first use) holding its own
        copies of the submission and the store; else the learner's sandbox."""
        if not self.sandbox.confined or self.inspecting.sandbox is not self.sandbox:
            return self.inspecting
        # The same kind of user as the learner's sandbox, whose check has shown the kit runs for it.
        box = procs.Sandbox.acquire(confine=True, check=False)
        place = Place(box, box.folder / "submission", box.folder / "bentoml")
        self.inspecting = place  # released in close() even if the copies below fail
        self._sandboxes_changed()
        self.confinement = confined_note(self.sandboxes)
        self._copy_submission(place)
        self._copy_models(place.home, box)
        return place

    @property
    def sandboxes(self) -> list[procs.Sandbox]:
        """Every sandbox this run holds learner code in: the learner's first."""
        found = [self.sandbox, self.inspecting.sandbox, self._model_box, self._lock_box]
        return [box for i, box in enumerate(found) if box is not None and box not in found[:i]]

    def learner(self) -> dict[str, Any]:
        """The keyword arguments that run a process as learner code: in the sandbox, on the copied store."""
        return Place(self.sandbox, self.workdir, self.home).learner()

    def _copy_submission(self, place: Place) -> None:
        """Copy the submission (its size checked already) to ``place``, handed to its user, and make
        its empty store (:meth:`_copy_models` fills it). What would be imported as ``service`` instead of
        service.py is left out (:attr:`shadowing`): the service that runs is the service.py graded."""
        def ignored(folder: str, names: list[str]) -> set[str]:
            top = set(self.shadowing) if Path(folder) == self.submission else set()
            return set(COPY_IGNORED(folder, names)) | top

        if self.submission.is_dir():
            shutil.copytree(self.submission, place.workdir, symlinks=True, ignore=ignored)
        else:
            place.workdir.mkdir()
        (place.home / "models").mkdir(parents=True)
        place.sandbox.give(place.workdir)

    def _copy_models(self, home: Path, sandbox: procs.Sandbox) -> bool:
        """Copy the models the grading asks for into the store ``home`` of ``sandbox``, handed to its
        user; whether there was any."""
        # As root, from the grader's store: the name in service.py is the learner's word, and becomes a
        # path only if it is a model name (a tag "../../<classmate>/submission" copied that folder where
        # the learner's code could read it).
        names = {contract.MODEL_NAME, source.store_name(self.source.model_tag)} - {None}
        copied = False
        for name in names:
            found = bentoml_home() / "models" / name
            if found.is_dir():
                shutil.copytree(found, home / "models" / name, symlinks=True)
                copied = True
        sandbox.give(home)
        return copied

    def _copy_served(self, home: Path) -> str | None:
        """Copy into the store ``home``, handed to the sandbox's user, only the model folder the service's
        tag resolves to (with a ``latest`` file naming it); that folder, or None when there is none.
        Every other version of the learner's store was served too, each moved by a move of its own: a
        service predicting once with each of dozens of sentinel versions it saved beside its model could
        hope one was moved by nearly the graded model's move, and answer with a formula moved alike."""
        models = bentoml_home() / "models"
        folder = store.served_folder(models, self.source.model_tag)
        if folder is not None:
            name, version = folder.split("/")
            shutil.copytree(models / folder, home / "models" / folder, symlinks=True)
            (home / "models" / name / "latest").write_text(version)
        self.sandbox.give(home)
        return folder

    def _container_run(self) -> ContainerRun | None:
        try:
            engine = containers.detect()
        except containers.ContainerError as err:  # an unknown KIT_CONTAINER_ENGINE
            self.engine_error = f"no container engine was found.\n{err}"
            return None
        if engine is None:
            self.engine_error = f"no container engine was found.\n{containers.install_hint()}"
            return None
        rootless = None
        if self.sandbox.confined and engine.name == "podman":  # root's podman never builds learner code
            try:
                rootless = builder.ensure(engine)
            except builder.BuilderError as err:
                self.engine_error = f"{engine.describe()} cannot build as a user of its own: {err}"
                return None
        kept = self.options.results / "containerize.log" if self.options.results else None
        return ContainerRun(engine, self.options.keep_image, self._tmp, rootless, kept_log=kept)

    # -- service.py ---------------------------------------------------------------------------

    @cached_property
    def service_facts(self) -> ServiceFacts:
        facts = self._service_facts()
        if not facts.imported and self._build is not None:
            self._build.close()
        return facts

    def _service_facts(self) -> ServiceFacts:
        if self._service_child is None and self.source.parsed:  # no selected check declared it
            self._start_inspector()
        limit = None
        if self._model_in_inspector:  # the model comes first: the import's time limit starts after it
            _ = self.model_result
            limit = self.options.import_timeout
        if self._service_child is None:
            why = (f"syntax error {self.source.syntax_error}" if self.source.exists
                   else "service.py is missing")
            return ServiceFacts(False, f"not imported: {why}")
        result = self._service_child.result(timeout=limit)
        if result.timed_out:
            return ServiceFacts(False, (
                f"importing service.py did not finish within {self.options.import_timeout:.0f} s. "
                "Code at module level runs at import: move loops, input(), training or requests "
                "into functions, and keep module level to imports, classes and constants."))
        data = result.data or {}
        if not data.get("imported"):
            error = data.get("traceback") or result.log_tail or f"exit code {result.returncode}"
            return ServiceFacts(False, f"importing service.py failed:\n{error}")
        return ServiceFacts(True, services=data.get("services") or {})

    # -- model store --------------------------------------------------------------------------

    @cached_property
    def model_result(self) -> ChildResult:
        if self.store_empty:  # what a model reader finds in a store without the model
            empty = {"versions": [], "error": f"no model named {contract.MODEL_NAME} in the store"}
            return ChildResult(empty, 0, False, "", 0.0)
        if self._model_in_inspector:
            return self._model_from_inspector()
        if self._model_child is None:  # no selected check declared it
            self._start_model_reader()
        return self._model_child.result()

    def _model_from_inspector(self) -> ChildResult:
        """The model facts the inspector wrote first; when it did not (a model whose loading hangs or
        ends the process), that inspector is stopped and a new one, without the model, takes over."""
        child = self._service_child
        started = time.monotonic()
        data = child.piped_answer(timeout=MODEL_TIMEOUT)
        if data is not None:
            return ChildResult(data, None, False, "", time.monotonic() - started)
        # Timed out only when the pipe stayed open: a pipe that reached its end means the process
        # ended (or closed it), even if the process is not yet reaped when we look.
        timed_out = child.pipe_timed_out
        if self._build is not None:
            self._build.close()
            self._build = None
        result = child.result(timeout=0)  # kills what is left of it, and reads its log
        self._model_in_inspector = False
        self._service_child = None
        self._start_inspector()
        return ChildResult(None, result.returncode, timed_out, result.log_tail, result.seconds)

    @cached_property
    def model_facts(self) -> dict[str, Any]:
        """The model child's facts; ``error`` says why they are missing."""
        result = self.model_result
        if result.timed_out:
            return {"error": "reading the model store did not finish within its time limit"}
        if result.data is None:
            detail = result.log_tail or f"the process reading it ended (exit code {result.returncode})"
            return {"error": f"reading the model store failed:\n{detail}"}
        return result.data

    @cached_property
    def quality(self) -> Quality:
        """The model's held-out AUC as the grader measures it, and as its metadata records it.

        The held-out applicants' features go to the model child (learner code) with the others;
        their labels stay in the grader's process.
        """
        recorded = (self.model_facts.get("metadata") or {}).get("auc")
        found = Quality(recorded=recorded if isinstance(recorded, int | float) else None)
        if self._holdout is None:
            found.error = self.holdout_error
            return found
        found.data = self._holdout["data"]
        predictions = self.model_facts.get("holdout_predictions")
        if not predictions or len(predictions) != len(self._holdout["labels"]):
            found.error = (self.model_facts.get("predict_error") or self.model_facts.get("error")
                           or "the model could not predict the held-out applicants")
            return found
        try:
            found.measured = auc(self._holdout["labels"], predictions)
        except ValueError as err:
            found.error = str(err)
        return found

    def saved(self, index: int) -> float | None:
        """The learner's own model's P(default) for applicant ``index`` (known ones, then candidates),
        as the model is saved (the way :meth:`follow` chose)."""
        predictions = self.model_facts.get(self.answered_with) or self.model_facts.get("predictions")
        return predictions[index] if predictions else None

    def follow(self, given: list[tuple[int, float | None]], tolerance: float) -> None:
        """Expect an early-stopped model's answers up to its best iteration when the service's answers
        (``given``: applicant index and answer, the known applicants and the hidden probes) match those
        more often than every tree's: both are the model's (predict_proba stops there, Booster.predict does
        not; an honest service may do either). On the known applicants alone the two tied for a model
        whose faces differ only on some applicants, and a service using predict_proba lost the probes
        (red-team round 31: 92/100 in 3 gradings of 3)."""
        if not self.model_facts.get("predictions_best"):
            return

        def matches(key: str) -> int:
            self.answered_with = key
            return sum(1 for i, p in given
                       if p is not None and (e := self.expected(i)) is not None and abs(p - e) <= tolerance)

        if matches("predictions_best") <= matches("predictions"):
            self.answered_with = "predictions"
        else:
            self.answered_with = "predictions_best"

    @property
    def served_move(self) -> Move | None:
        """How the grader moved the margin of the model the service asks for (the folder the model reader
        resolved its tag to), in the copy it serves (None: served as saved)."""
        folder = self.model_facts.get("folder")
        return self.served.moves[folder] if folder in self.served.moved else None

    @property
    def served_refusal(self) -> str:
        """Why the model the service asks for is served as saved although the grader serves the service
        itself (``''`` when it was moved, or the grader serves none)."""
        folder = self.model_facts.get("folder")
        if not self.served.moving or folder in self.served.moved:
            return ""
        return self.served.refused.get(folder) or (
            "it is not the model folder the grader serves: only the one your model reference's tag "
            "resolves to in your store, without following links")

    def expected(self, index: int) -> float | None:
        """The P(default) the service should answer applicant ``index``: the learner's own model's, moved
        as the copy the grader serves it with (:attr:`served_move`)."""
        found = self.saved(index)
        move = self.served_move
        return moved_probability(found, move) if move and isinstance(found, int | float) else found

    def tells(self, saved: Any) -> bool:
        """Whether the saved model's answer ``saved`` shows the move of the copy the grader serves: it moves
        by more than twice the live checks' tolerance (always, when nothing is moved). Answers near 0 or 1
        hardly move: a service answering them without the model is right whatever the move (red-team
        round 29: a model saturated at +-8 but for a rare region, 100/100 in 5 gradings of 6)."""
        if not isinstance(saved, int | float) or not math.isfinite(saved):
            return False
        move = self.served_move
        return not move or abs(moved_probability(saved, move) - saved) > 2 * probes.TOLERANCE

    def sensitive(self, saved: Any, slope: float | None = None) -> bool:
        """Whether the moved answer for the saved model's ``saved`` changes fast with the move (from 0.15
        to 0.85): a service guessing the move must guess it within 0.04 there, and within 0.11 where the
        moved answers lie beyond 0.9 (red-team round 31: a model telling applicants apart only there, and a
        fixed guess, passed the probes in 6 gradings of 30)."""
        if not self.tells(saved) or not self.served_move:
            return False
        moved = moved_probability(saved, self.served_move)
        return moved * (1 - moved) >= (SENSITIVE_SLOPE if slope is None else slope)

    def _faces(self, index: int, test: Callable[[Any], bool]) -> bool:
        """Whether ``test`` holds for applicant ``index``'s answer in each way the service may be held to
        (every tree, and up to an early-stopped model's best iteration: :meth:`follow`)."""
        faces = [key for key in ("predictions", "predictions_best") if self.model_facts.get(key)]
        return all(test(self.model_facts[key][index]) for key in faces)

    def probe_ready(self, index: int) -> bool:
        """Whether applicant ``index`` may be a hidden probe: its answers show the move both ways."""
        return self._faces(index, self.tells)

    def probe_sensitive(self, index: int) -> bool:
        """Whether applicant ``index`` is a probe of the first choice: its moved answers lie from 0.15 to
        0.85 both ways (a two-faced model kept its informative answers out of the probes, and a constant
        answer passed every probe of the other face in 8 gradings of 22: red-team round 32)."""
        return self.probe_ready(index) and self._faces(index, self.sensitive)

    @cached_property
    def probe_pair(self) -> tuple[float, tuple[int, int] | None]:
        """The two hidden applicants whose answers pin the move down best, and how well: the least, over
        the ways the service may be held to (:meth:`_faces`), of ``|m_i - m_j| * q_i * q_j``, their saved
        margins ``m`` and the slopes ``q = p(1 - p)`` of their moved answers ``p``. A guess of the move
        answers both within the tolerance only in a region of about ``4 * TOLERANCE**2 / strength`` of
        the (scale, shift) plane: two answers far apart in margin, and changing fast with the move, leave
        a guess little room. (0.0, None) when nothing is moved, or no two answers show the move."""
        move = self.served_move
        faces = [self.model_facts[key] for key in ("predictions", "predictions_best")
                 if self.model_facts.get(key)]
        if not move or not faces:
            return 0.0, None
        start = len(self.known)
        ready = [i for i in range(start, min(map(len, faces))) if self.probe_ready(i)]

        def point(p: float) -> tuple[float, float]:
            moved = moved_probability(p, move)
            return logit(p), moved * (1 - moved)

        points = [[point(face[i]) for i in ready] for face in faces]
        best: tuple[float, tuple[int, int] | None] = (0.0, None)
        for a in range(len(ready)):
            for b in range(a + 1, len(ready)):
                strength = min(abs(f[a][0] - f[b][0]) * f[a][1] * f[b][1] for f in points)
                if strength > best[0]:
                    best = (strength, (ready[a], ready[b]))
        return best

    @cached_property
    def probe_indexes(self) -> list[int]:
        """Indexes (into the candidates) of the hidden probes, chosen around the thresholds among the
        answers that show the move either way (:meth:`tells`), the pair that pins the move down best
        always (:attr:`probe_pair`), those that change fast with it first (:meth:`sensitive`)."""
        if not self.model_facts.get("predictions"):
            return list(range(probes.COUNT))
        known = range(len(self.known), len(self.known) + len(self.candidates))
        pair = [i - len(self.known) for i in self.probe_pair[1] or ()]
        return probes.select([self.expected(i) if self.probe_ready(i) else None for i in known],
                             prefer={n for n, i in enumerate(known) if self.probe_sensitive(i)}, pair=pair)

    # -- bento --------------------------------------------------------------------------------

    @cached_property
    def bento_facts(self) -> BentoFacts:
        if not self.building:
            return self._stored_bento()
        if not self.service_facts.imported:
            return BentoFacts(error="not built: service.py does not import (see the service.py checks)")
        return self._built_bento()

    def _built_bento(self) -> BentoFacts:
        tag, why, text = self._build.finish(self.options.build_timeout - (time.monotonic() - self.started))
        if not tag:
            tail = "\n".join(text.splitlines()[-15:])
            found = hints.diagnose(text)
            if package_index.LOCK_FAILED in text and (cause := package_index.unreachable()):
                found = [hints.index_unreachable(cause)]  # the machine's network, not the bentofile
                self.machine_problem = package_index.described(cause)
            fixes = "".join(f"\nLikely fix: {fix}" for fix in found)
            return BentoFacts(error=f"`bentoml build` {why}:{fixes}\n{tail}")
        place = self.inspecting
        build_env = place.sandbox.env(place.learner()["env"])  # what the build expands names with
        if missing := bentofile.missing_build_files(self.submission / "bentofile.yaml", build_env):
            return BentoFacts(error=(
                f"`bentoml build` printed the bento tag {tag}, yet the bentofile names files that every "
                f"build reads before it writes a bento, and a build of this submission cannot: "
                + "; ".join(missing)))
        lock = self._lock
        if lock is not None and not lock.failure() and lock.undecided:
            lock = self._lock_as_learner_code(lock)
        if lock is not None and lock.failure():
            if lock.timed_out:  # a classmate's code may have kept the cores: a class run grades again
                Child.count_over_time()
            unreachable = package_index.unreachable()
            if unreachable:  # the machine's network, not the bentofile: no verdict on the work
                self.machine_problem = package_index.described(unreachable)
            said = f"{package_index.LOCK_FAILED}\n{lock.said()}"  # what a build whose lock failed prints
            found = [hints.index_unreachable(unreachable)] if unreachable else hints.diagnose(said)
            fixes = "".join(f"\nLikely fix: {fix}" for fix in found)
            if self._build_unlocked:  # the grader's lock stood in for the build's
                return BentoFacts(error=(
                    f"`bentoml build` cannot lock the bentofile's packages, which every build does "
                    f"before it writes a bento ({package_index.LOCK_FAILED}):{fixes}\n{lock.said()}"))
            if not unreachable:  # (the build's own lock passed, reaching the index: no verdict then)
                return BentoFacts(error=(
                    f"`bentoml build` printed the bento tag {tag}, yet the bentofile's packages cannot be "
                    f"locked, which every build does before it writes a bento:{fixes}\n{lock.said()}"))
        return self._build.bento(tag, place.sandbox, self.source.raw)

    def _lock_as_learner_code(self, undecided: package_index.Lock) -> package_index.Lock | None:
        """The lock a package that comes only as source left undecided, done again building it, as the
        build's own lock does: code of the learner's choosing may run, so only a failure counts (None
        when no sandbox can be had). In a sandbox of its own, a user of its own when confined: this
        grading's learner code, still running (a daemon outside its server), could otherwise empty
        the lock's requirements before uv reads them (reproduced)."""
        self.helpers.append("lock check as learner code")
        try:
            with procs.Sandbox.acquire(confine=self.sandbox.confined) as box:
                self._lock_box = box
                self._sandboxes_changed()
                try:
                    lock = package_index.Lock(undecided.requirements, undecided.index_args, sandbox=box)
                    lock.failure()
                    return lock
                finally:  # unlisted before its user is freed (another grading may take it then)
                    self._lock_box = None
                    self._sandboxes_changed()
        except procs.SandboxError:
            return None

    def _sandboxes_changed(self) -> None:
        if self.on_sandboxes is not None:
            self.on_sandboxes()

    def _stored_bento(self) -> BentoFacts:
        import bentoml
        from bentoml.exceptions import BentoMLException

        try:
            found = bentoml.bentos.get(f"{contract.SERVICE_NAME}:latest")
        except BentoMLException as err:
            return BentoFacts(error=(
                f"no bento named {contract.SERVICE_NAME} in the store {bentoml_home()} ({err}). "
                f"Run `bentoml build` in {self.submission}, or grade with --build."))
        path = Path(found.path)  # a store of the grader's, no learner code's
        packed = path / "src" / "service.py"
        return bento_facts(str(found.tag), (path / "bento.yaml").read_text(),
                           packed.read_bytes() if packed.is_file() else None)

    # -- live service -------------------------------------------------------------------------

    @cached_property
    def container_facts(self) -> ContainerFacts:
        """The learner's image built and running (``--container``), or why not."""
        if self._container is None:
            return ContainerFacts(error=f"not checked: {self.engine_error}")
        facts = self.bento_facts
        if not facts.tag:
            return ContainerFacts(engine=self._container.engine.describe(),
                                  error=f"no image: the bento was not built (see the built bento checks). "
                                        f"{facts.error.splitlines()[0] if facts.error else ''}")
        remaining = max(1.0, self.options.image_timeout - (time.monotonic() - self.started))
        served = self.served_home / "models"  # once the mover is done
        # Root copies the bento and the models out of stores learner code can write: nothing of it may
        # run meanwhile (red-team round 37: a daemon of service.py's import, which had dropped the
        # run's marker, swapped files for links while they were copied), and only its users' files
        # are copied (files.copy_file).
        boxes = [box for box in (self.sandbox, self.inspecting.sandbox) if box.confined]
        for box in boxes:
            procs.kill_user(box.uid)
        return self._container.start(facts.tag, self.inspecting.home, remaining, self.options.ready_timeout,
                                     served=served, owners={box.uid for box in boxes} if boxes else None)

    @cached_property
    def live(self) -> LiveTarget:
        if self._container is not None:
            facts = self.container_facts
            return LiveTarget(url=facts.url, ready_seconds=facts.ready_seconds,
                              error=facts.error and f"the container (--container): {facts.error}")
        if self.options.url:
            return self._wait_url(self.options.url.rstrip("/"))
        if self._server is None:
            return LiveTarget(error=self._server_error
                              or "not started: service.py is missing or does not parse")
        facts = self.service_facts  # a service that cannot be imported cannot serve: do not wait for it
        if not facts.imported and "did not finish" in facts.error:
            return LiveTarget(error=hints.with_log(
                f"not started: importing service.py did not finish within "
                f"{self.options.import_timeout:.0f} s (see the service.py import check).",
                self._server.log_tail()))
        first_started = self._server.started  # one time limit for every attempt
        for attempt in range(1, PORT_ATTEMPTS + 1):
            running = self._server
            remaining = max(1.0, self.options.ready_timeout - (time.monotonic() - first_started))

            def exited(running: server.RunningServer = running) -> str | None:
                if not running.alive():  # BentoML keeps the supervisor alive when a worker fails to start
                    return f"the server {running.how_ended()}"
                if STARTUP_FAILED in running.log_tail(40):
                    return "the service's startup failed"
                return None

            try:
                seconds = server.wait_url_ready(running.url, remaining, exited, running.log_tail,
                                                running.started)
                break
            except server.ServerError as err:
                log = running.log_tail(40)
                if attempt < PORT_ATTEMPTS and PORT_TAKEN in log and not running.alive():
                    # Its port was taken between the pick and the bind (another program, or another
                    # learner's code in a class run): not this learner's doing; a new port.
                    running.stop(grace=0)
                    self._start_server()
                    if self._server is None:  # no port left to try
                        return LiveTarget(error=self._server_error)
                    continue
                first = str(err).splitlines()[0]
                self.port_taken = PORT_TAKEN in log
                if server.NOT_READY in first:
                    Child.count_over_time()
                return LiveTarget(error=hints.with_log(f"the service did not start: {first}", log))
        problem = self.serving_problem()
        if problem:
            return LiveTarget(error=problem)
        return LiveTarget(url=self._server.url, ready_seconds=seconds)

    def serving_problem(self) -> str:
        """Why the service answering on the port is not the one this run started (``''`` when it is).

        An orphaned worker (its ``bentoml serve`` supervisor gone) or a stranger on the port may still
        answer ``/readyz``: a live check counts only while the supervisor lives and owns the port.
        """
        problem = self._server.problem() if self._server is not None else None
        if not problem:
            return ""
        return (f"not checked: {problem}. Only the server the grader started counts: a service must not "
                f"stop or signal its own server (os.kill, os._exit or sys.exit in __init__).")

    def _wait_url(self, url: str) -> LiveTarget:
        try:
            seconds = server.wait_url_ready(url, self.options.ready_timeout, what=url)
        except server.ServerError as err:
            return LiveTarget(error=(f"{str(err).strip()} Is the service (or container) running, and its "
                                     f"port published (e.g. docker run -p 3000:3000 ...)?"))
        return LiveTarget(url=url, ready_seconds=seconds)

    def server_log(self, lines: int = 20) -> str:
        if self._container is not None:
            return self._container.log_tail(lines)
        return self._server.log_tail(lines) if self._server else ""

    # -- end ----------------------------------------------------------------------------------

    def short_of_processes(self) -> bool:
        """A process of the image's build or of the container could not start for want of process slots
        (:meth:`ContainerRun.short_of_processes`; asked before :meth:`close`): a class run grades the
        learner again, alone."""
        return self._container is not None and self._container.short_of_processes()

    def close(self) -> None:
        """Stop the server (all its workers' groups) and every child; remove temporary files."""
        if self._server is not None:
            self._server.stop(grace=0)  # the grade is known: nothing of the server is needed any more
            self._server = None
        if self._container is not None:
            self._container.close()  # the container, and the image unless it is kept
            self._container = None
        if self._build is not None:
            self._build.close()
        if self._lock is not None:
            self._lock.close()
        for box in self.sandboxes[1:]:
            box.release()
        self.sandbox.release()  # every process of the learner's, by user or marker
        procs.kill_registered(self._mark)  # whatever the run started, and every sandbox it still holds
        procs.remove_tree(self._tmp)
