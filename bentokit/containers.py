"""Build a bento's image and run it: the kit's one entry point to a container engine.

Docker is used when its daemon answers, else podman; ``detect()`` says which, and
``require_engine()`` says exactly what to install when there is none. Images are built with
``bentoml containerize --backend ENGINE`` (a subprocess, so the learner's code and a failing build
cannot take the caller down, and the exit code is honest: the Python API only logs build errors).
Containers publish port 3000 on a free ``127.0.0.1`` port, get ``BENTOML_DO_NOT_TRACK=true``, are
waited for by ``/readyz`` and are removed however the caller's block ends.

Set ``KIT_CONTAINER_ENGINE=docker|podman`` to choose the engine yourself.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bentokit import bento
from bentokit.server import HOST, ServerError, kit_env, wait_url_ready

ENGINES = ("docker", "podman")
ENGINE_ENV = "KIT_CONTAINER_ENGINE"
SERVICE_PORT = 3000  # where the bento image's entrypoint serves
_PROBE_TIMEOUT = 20.0


class ContainerError(RuntimeError):
    """No engine, a failed build, or a container that did not start; the message says what to do."""


@dataclass(frozen=True)
class Engine:
    """A container engine that answers: its command and server version."""

    name: str
    binary: str
    version: str
    #: What runs the engine as another user (``bentokit.builder``: rootless podman); empty: as this one.
    run_as: tuple[str, ...] = ()
    #: That user's name.
    user: str = ""

    def describe(self) -> str:
        why = "its daemon answers" if self.name == "docker" else "no Docker daemon answered"
        rootless = f", rootless as the user {self.user}" if self.user else ""
        return f"{self.name} {self.version} ({why}; set {ENGINE_ENV} to choose{rootless})"

    def command(self, *args: str) -> list[str]:
        return [*self.run_as, self.binary, *args]


def _answers(command: list[str]) -> str | None:
    """The stripped output of ``command`` when it exits 0 in time, else None."""
    try:
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=_PROBE_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _probe(name: str) -> Engine | None:
    binary = shutil.which(name)
    if binary is None:
        return None
    # `docker info` needs the daemon (the CLI alone is only a client); `podman info` needs the
    # podman machine on macOS/Windows and nothing else on Linux.
    template = "{{.ServerVersion}}" if name == "docker" else "{{.Version.Version}}"
    version = _answers([binary, "info", "--format", template])
    return Engine(name, binary, version) if version else None


def detect(preferred: str | None = None) -> Engine | None:
    """The engine to use: ``preferred`` or ``$KIT_CONTAINER_ENGINE`` if set, else docker, else podman."""
    choice = preferred or os.environ.get(ENGINE_ENV) or None
    if choice is not None and choice not in ENGINES:
        raise ContainerError(f"unknown container engine {choice!r}: use one of {', '.join(ENGINES)}")
    for name in [choice] if choice else ENGINES:
        engine = _probe(name)
        if engine is not None:
            return engine
    return None


def install_hint(preferred: str | None = None) -> str:
    """What to install or start so that an engine answers, for this machine."""
    lines = ["No container engine answers."]
    if shutil.which("docker") and preferred in (None, "docker"):
        lines.append("The docker command is installed but its daemon does not answer: start Docker "
                     "Desktop, or `sudo systemctl start docker` on Linux (check with `docker info`).")
    if shutil.which("podman") and preferred in (None, "podman"):
        lines.append("podman is installed but `podman info` fails: on macOS/Windows run "
                     "`podman machine init && podman machine start`; on Linux read its error.")
    system = platform.system()
    if system == "Linux":
        lines.append("Install one: `sudo apt-get install podman runc` (Debian/Ubuntu; no daemon needed), "
                     "or Docker Engine: https://docs.docker.com/engine/install/")
    else:
        lines.append("Install Docker Desktop (https://docs.docker.com/get-docker/) or Podman Desktop "
                     "(https://podman-desktop.io/), start it, then run this again.")
    return "\n".join(lines)


def require_engine(preferred: str | None = None) -> Engine:
    """``detect()``, or a ContainerError that says exactly what to install."""
    engine = detect(preferred)
    if engine is None:
        raise ContainerError(install_hint(preferred or os.environ.get(ENGINE_ENV)))
    return engine


def _tail(path: Path, lines: int = 40) -> str:
    """The log's last ``lines`` lines, a Python traceback's frames left out (BentoML's own, under a
    failed build: the error line after them says it, and the build's lines before them say why)."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    kept: list[str] = []
    in_frames = False
    for line in text:
        if line.startswith("Traceback (most recent call last):"):
            in_frames = True
            continue
        if in_frames and line[:1].isspace():
            continue
        in_frames = False
        kept.append(line)
    return "\n".join(kept[-lines:])


def _log_file(prefix: str, log_path: str | Path | None) -> Path:
    if log_path is not None:
        return Path(log_path)
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".log")
    os.close(fd)
    return Path(name)


def _run_logged(command: list[str], log: Path, timeout: float, cwd: str | Path | None = None,
                env: Mapping[str, str] | None = None) -> int:
    """Run ``command`` with its output appended to ``log``; its exit code (124 on timeout)."""
    with open(log, "ab") as out:
        try:
            return subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  cwd=cwd, env=kit_env(env), timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return 124


@dataclass(frozen=True)
class BuiltImage:
    """An image built from a bento."""

    tag: str
    bento: str
    engine: Engine
    seconds: float
    log_path: Path
    #: The build log is a temporary file the kit made (no ``log_path`` was given).
    own_log: bool = False

    def drop_own_log(self) -> None:
        """Remove the build log if the kit made it (once nothing needs it: remove_image reads it)."""
        if self.own_log:
            self.log_path.unlink(missing_ok=True)

    def size(self) -> int:
        """Bytes, as the engine reports the image (uncompressed)."""
        return image_size(self.tag, self.engine)


def image_size(image: str, engine: Engine | None = None) -> int:
    """The image's size in bytes, as ``ENGINE image inspect`` reports it."""
    engine = engine or require_engine()
    out = _answers(engine.command("image", "inspect", "--format", "{{.Size}}", image))
    if not out:
        raise ContainerError(f"{engine.name} has no image {image}")
    return int(out.split()[0])


def image_names(engine: Engine) -> list[str]:
    """The names (``repository:tag``) of the engine's images."""
    out = _answers(engine.command("images", "--format", "{{.Repository}}:{{.Tag}}"))
    return [name for name in (out or "").splitlines() if not name.startswith("<none>")]


def image_user(image: str, engine: Engine | None = None) -> str:
    """The user the image runs as (``USER`` in its Dockerfile); empty means root."""
    engine = engine or require_engine()
    out = _answers(engine.command("image", "inspect", "--format", "{{json .Config.User}}", image))
    if out is None:
        raise ContainerError(f"{engine.name} has no image {image}")
    return json.loads(out) or ""


def build_image(
    bento_tag: str,
    image_tag: str | None = None,
    engine: Engine | None = None,
    timeout: float = 1800.0,
    log_path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
) -> BuiltImage:
    """``bentoml containerize BENTO --backend ENGINE -t IMAGE`` from the current ``BENTOML_HOME``.

    The bento's models are copied into the image: the container never needs the host's store.
    ``extra_args`` go to ``bentoml containerize``, e.g. ``("--opt", "no-cache")`` for a cold build.
    """
    engine = engine or require_engine()
    image_tag = image_tag or bento_tag
    log = _log_file("bentoml-containerize-", log_path)  # kept when the build fails: the error names it
    # -P: the current folder (a learner's repository, when a grader builds there) is not on sys.path.
    command = [sys.executable, "-P", "-m", "bentoml", "containerize", bento_tag,
               "--backend", engine.name, "-t", image_tag, *extra_args]
    started = time.monotonic()
    code = _run_logged(command, log, timeout, env=env)
    seconds = time.monotonic() - started
    if code != 0:
        what = f"did not finish in {timeout:.0f} s" if code == 124 else f"failed (exit code {code})"
        raise ContainerError(f"building the image of {bento_tag} with {engine.name} {what}. Log: {log}\n"
                             f"{_tail(log)}{_pull_hint(log)}")
    return BuiltImage(image_tag, bento_tag, engine, seconds, log, own_log=log_path is None)


def _pull_hint(log: Path) -> str:
    """Advice when the base image could not be pulled (no registry, or a TLS-intercepting proxy)."""
    text = _tail(log, 80).lower()
    words = ("pull", "manifest", "registry", "x509", "resolve", "short-name")
    if "python:3.11-slim" in text and any(word in text for word in words):
        return ("\nThe base image python:3.11-slim could not be pulled. Without registry access, build "
                "it locally: sudo containers/base-image.sh --alias-python-slim [--extra-ca PROXY.crt]")
    return ""


@dataclass
class RunningContainer:
    """A detached container publishing the bento's port on ``127.0.0.1``."""

    name: str
    image: str
    engine: Engine
    url: str
    started: float = field(default_factory=time.monotonic)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def state(self) -> dict:
        """The engine's ``State`` of the container (empty when it is gone)."""
        out = _answers(self.engine.command("inspect", "--format", "{{json .State}}", self.name))
        return json.loads(out) if out else {}

    def alive(self) -> bool:
        return bool(self.state().get("Running"))

    def log_tail(self, lines: int = 40) -> str:
        """The container's last output lines."""
        try:
            result = subprocess.run(self.engine.command("logs", "--tail", str(lines), self.name),
                                    capture_output=True, text=True, timeout=_PROBE_TIMEOUT,
                                    stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"(no logs: {error})"
        return (result.stdout + result.stderr).strip()

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Poll ``/readyz`` until 200; the seconds since ``run`` started the container."""
        checked = [0.0]

        def exited() -> str | None:
            # Ask the engine about once a second (each question is a subprocess).
            if time.monotonic() - checked[0] < 1.0:
                return None
            checked[0] = time.monotonic()
            state = self.state()
            if state.get("Running"):
                return None
            return f"the container {self.name} exited with code {state.get('ExitCode', '?')}"

        try:
            return wait_url_ready(self.url, timeout, exited, self.log_tail, self.started,
                                  what=f"the container {self.name}")
        except ServerError as error:
            raise ContainerError(str(error)) from None

    def stop(self) -> None:
        """Remove the container at once (killed, not stopped gracefully); safe to call twice.

        docker's ``rm -f`` kills; podman's stops with a 10 s grace first unless ``--time 0``, and a
        service still busy with requests (a grading interrupted mid-checks) used all of it. ``-v``: the
        anonymous volumes its image asked for (``VOLUME``) go with it; they stayed in the store.
        """
        now = ["--time", "0"] if self.engine.name == "podman" else []
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(self.engine.command("rm", "-f", "-v", *now, self.name), capture_output=True,
                           timeout=60, stdin=subprocess.DEVNULL)


def run(
    image: str,
    engine: Engine | None = None,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    name: str | None = None,
    container_port: int = SERVICE_PORT,
) -> RunningContainer:
    """Start the local ``image`` detached on ``127.0.0.1:port``; no readiness wait.

    Without ``port`` the engine picks a free one as it binds it (``-p 127.0.0.1::3000``, then
    ``ENGINE port``): no other process can take it between a pick and the bind, and the port is on no
    command line, which every local user can read (a learner's code beside a grading could have bound
    it first).
    """
    engine = engine or require_engine()
    name = name or f"bentokit-{uuid.uuid4().hex[:10]}"
    environment = {"BENTOML_DO_NOT_TRACK": "true", **(env or {})}
    command = engine.command("run", "-d", "--pull=never", "--name", name,
                             "-p", f"{HOST}:{port or ''}:{container_port}")
    for key, value in environment.items():
        command += ["-e", f"{key}={value}"]
    started = time.monotonic()
    container = RunningContainer(name, image, engine, f"http://{HOST}:{port or 0}", started)
    try:
        result = subprocess.run([*command, image], capture_output=True, text=True, timeout=120,
                                stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        container.stop()
        raise ContainerError(f"`{engine.name} run {image}` did not return within 120 s") from None
    if result.returncode != 0:
        container.stop()  # `run` may have created it before failing to start it
        raise ContainerError(f"{engine.name} could not start {image}:\n{result.stderr.strip()}")
    if not port:
        published = re.search(rf"{re.escape(HOST)}:(\d+)",
                              _answers(engine.command("port", name, f"{container_port}/tcp")) or "")
        if published is None:
            container.stop()
            raise ContainerError(f"{engine.name} published no port of {image} (`{engine.name} port {name}`)")
        container.url = f"http://{HOST}:{published[1]}"
    return container


@contextlib.contextmanager
def running(image: str, timeout: float = 120.0, **kwargs) -> Iterator[RunningContainer]:
    """Run ``image`` while the block runs, ready; the container is removed however the block ends."""
    container = run(image, **kwargs)
    try:
        container.wait_ready(timeout)
        yield container
    finally:
        container.stop()


def remove_image(image: str, engine: Engine | None = None, build_log: str | Path | None = None) -> None:
    """Delete an image (no error when it is already gone), keeping its reusable build cache.

    ``--no-prune`` (docker and podman alike) keeps the untagged layers the image was built on: the
    next image with the same base and packages (the next learner of a class) reuses the layer that
    installed them instead of installing them again, which is most of a build. With podman and the
    image's ``build_log``, the layers made from the bento's own files on are removed too: every bento
    differs (its ``bento.yaml`` records when it was built), so no later build can reuse them, and each
    one left behind is an image that every later ``podman images`` and build lists (hundreds made
    both take seconds).
    """
    engine = engine or require_engine()
    own = _bento_layers(image, engine, Path(build_log)) if build_log and engine.name == "podman" else []
    for name in [image, *own]:  # the child before its parent: podman keeps a parent with children
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(engine.command("rmi", "-f", "--no-prune", name), capture_output=True,
                           timeout=120, stdin=subprocess.DEVNULL)


#: buildah's step line, as ``podman build`` prints it: ``STEP 28/33: COPY --chown=bentoml:bentoml . ./``.
_BENTO_COPY_STEP = re.compile(r"STEP (\d+)/(\d+): COPY (?:--\S+ )*\.\s+\./?\s*$")


def _bento_layers(image: str, engine: Engine, build_log: Path) -> list[str]:
    """The untagged images under ``image`` that its build made from the bento's files on (BentoML's
    Dockerfile copies the bento with ``COPY . ./`` after the shared steps), the nearest first.

    Written by hand: neither engine names the layers of one build. The log says how many steps
    followed the copy; the images are then taken from the image's own parent chain, so a line forged
    into the log (a learner's ``RUN`` output) can never name another image. The last copy step in the
    log is the real one: BentoML's steps after it print nothing.
    """
    try:
        text = build_log.read_text(errors="replace")
    except OSError:
        return []
    steps = [m for m in map(_BENTO_COPY_STEP.search, text.splitlines()) if m]
    if not steps:
        return []
    copy_step, total = int(steps[-1].group(1)), int(steps[-1].group(2))
    layers: list[str] = []
    parent = _answers(engine.command("image", "inspect", "--format", "{{.Parent}}", image))
    while parent and len(layers) < total - copy_step:  # the image is the last step's; down to the copy
        tags, _, grandparent = (_answers(engine.command("image", "inspect", "--format",
                                                        "{{len .RepoTags}} {{.Parent}}", parent))
                                or "").partition(" ")
        if tags != "0":  # never a tagged image (a base, or someone's own), nor one gone meanwhile
            break
        layers.append(parent)
        parent = grandparent
    return layers


@dataclass
class ContainerService:
    """What the grader gets: the URL to grade and the handle that stops it all."""

    url: str
    container: RunningContainer
    image: BuiltImage
    ready_seconds: float
    keep_image: bool = True

    def stop(self) -> None:
        """Remove the container, and the image unless ``keep_image``; safe to call twice. A build log
        the kit made goes too (a kept image is then removed later without its bento's own layers)."""
        self.container.stop()
        if not self.keep_image:
            remove_image(self.image.tag, self.image.engine, self.image.log_path)
        self.image.drop_own_log()

    def __enter__(self) -> ContainerService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_in_container(
    source: str | Path,
    engine: Engine | None = None,
    image_tag: str | None = None,
    build_timeout: float = 1800.0,
    ready_timeout: float = 120.0,
    keep_image: bool = True,
    log_dir: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> ContainerService:
    """Build a learner's image, run it and return the URL to grade plus a ``stop()`` handle.

    ``source`` is a submission folder (with ``bentofile.yaml``: ``bentoml build`` runs there first,
    in a child process) or a bento tag already in the store. The store is the environment's
    ``BENTOML_HOME`` and must hold the models the service references; ``env`` goes to containerize.
    Steps: ``bentoml containerize --backend ENGINE``, ``ENGINE run`` on a free 127.0.0.1 port, wait
    for ``/readyz``. Raises ContainerError with the build's or the container's last lines on any
    failure; the container is removed before raising. Use as ``with serve_in_container(folder) as
    live: ... live.url``, or call ``live.stop()`` yourself. Logs go to ``log_dir`` (default: temp files).
    """
    engine = engine or require_engine()
    logs = Path(log_dir) if log_dir is not None else None
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
    path = Path(source)
    if path.is_dir():
        try:  # `bentoml build` in a child process: the learner's code does not run in the caller
            bento_tag = str(bento.build(path).tag)
        except bento.BuildError as error:
            raise ContainerError(str(error)) from None
    else:
        bento_tag = str(source)
    image = build_image(bento_tag, image_tag or f"bentokit-submission:{bento_tag.split(':')[-1]}",
                        engine, timeout=build_timeout,
                        log_path=logs / "containerize.log" if logs else None, env=env)
    container = run(image.tag, engine)
    try:
        ready = container.wait_ready(ready_timeout)
    except BaseException:
        if logs is not None:
            with contextlib.suppress(Exception):
                (logs / "container.log").write_text(container.log_tail(200))
        container.stop()
        if not keep_image:
            remove_image(image.tag, engine, image.log_path)
        image.drop_own_log()  # the container's tail is in the error; the build went well
        raise
    return ContainerService(container.url, container, image, ready, keep_image)
