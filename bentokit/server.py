"""Start ``bentoml serve`` on a free loopback port, wait for ``/readyz``, stop its process group.

Written by hand on purpose: ``bentoml.serve()`` imports the service into the calling process
and runs its supervisor in a thread there, so a learner's import that hangs or crashes would
take the notebook, test or grader down with it. Here the server is a child process in its own
session (process group): it can be waited for with a time limit and killed whole.

BentoML's supervisor (circus) starts each worker in a session of its own, so stopping the
supervisor's process group alone can orphan a worker that ignores SIGTERM (one stuck in a
learner's ``__init__``, say). ``stop`` therefore also signals every descendant's group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

HOST = "127.0.0.1"


class ServerError(RuntimeError):
    """The server exited or did not become ready; the message ends with its last log lines."""


def free_port(host: str = HOST) -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def kit_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the kit runs BentoML in: the caller's, with usage tracking off."""
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1"}
    env.update(extra or {})
    return env


def wait_url_ready(
    url: str,
    timeout: float = 60.0,
    exited: Callable[[], str | None] = lambda: None,
    log_tail: Callable[[], str] = lambda: "",
    started: float | None = None,
    what: str = "the server",
    path: str = "/readyz",
) -> float:
    """Poll ``URL + path`` (``/readyz``) until it answers 200; the seconds since ``started`` (or now).

    ``exited()`` returns why the server is gone (it is polled too, so a crash fails fast) or None;
    ``log_tail()`` ends the error message. Shared by ``bentoml serve`` processes and containers.
    """
    started = time.monotonic() if started is None else started
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reason = exited()
        if reason:
            raise ServerError(f"{reason} before it was ready.\n{log_tail()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}{path}", timeout=2).status_code == 200:
                return time.monotonic() - started
        time.sleep(0.1)  # a poll interval, not a wait for readiness
    raise ServerError(f"{what} was not ready after {timeout:.0f} s.\n{log_tail()}")


@dataclass
class RunningServer:
    """A server's process group (``bentoml serve`` or any ``launch``-ed command) and its address."""

    url: str
    process: subprocess.Popen
    log_path: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the server printed."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Poll ``/readyz`` until it answers 200; return the seconds it took since start."""

        def exited() -> str | None:
            return None if self.alive() else f"the server exited with code {self.process.returncode}"

        return wait_url_ready(self.url, timeout, exited, self.log_tail, self.started, what="the server")

    def _tree(self) -> list[psutil.Process]:
        """The supervisor and all its descendants that are alive now."""
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        return []

    def process_groups(self) -> set[int]:
        """The supervisor's process group and those of all its descendants (the workers')."""
        groups = {self.process.pid}
        for proc in self._tree():
            with contextlib.suppress(ProcessLookupError, psutil.Error):
                groups.add(os.getpgid(proc.pid))
        return groups

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every group of the server, then SIGKILL whatever is left after ``grace`` s.

        The tree is looked at twice (before the SIGTERM, and again before the SIGKILL, for a worker
        the supervisor started meanwhile) while the supervisor still holds its workers as children,
        and ``stop`` returns only once every process it saw is gone.
        """
        seen = {p.pid: p for p in self._tree()}
        groups = self.process_groups()
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        seen.update({p.pid: p for p in self._tree()})
        groups |= self.process_groups()
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        for proc in seen.values():  # also any that left its group
            with contextlib.suppress(psutil.Error):
                proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(p) for p in seen.values()):
            time.sleep(0.05)  # SIGKILL is asynchronous: poll until the kernel has ended them


def _alive(proc: psutil.Process) -> bool:
    """Running, as opposed to ended or a zombie waiting for its (re-)parent."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def start(
    target: str,
    working_dir: str | Path = ".",
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    log_path: str | Path | None = None,
) -> RunningServer:
    """Launch ``bentoml serve TARGET`` in its own process group; does not wait for readiness."""
    port = port or free_port()
    command = [sys.executable, "-m", "bentoml", "serve", target,
               "--host", HOST, "--port", str(port), *args]
    return launch(command, port, working_dir, env=env, log_path=log_path)


def launch(
    command: Sequence[str],
    port: int,
    working_dir: str | Path = ".",
    env: Mapping[str, str] | None = None,
    log_path: str | Path | None = None,
) -> RunningServer:
    """Run any server ``command`` that will listen on ``HOST:port`` in its own process group.

    ``start`` uses it for ``bentoml serve``; the benchmarks use it for Flask, gunicorn and
    uvicorn. The server must answer ``GET /readyz`` with 200 for ``wait_ready``.
    """
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="bentoml-serve-", suffix=".log")
        os.close(fd)
        log_path = name
    log_path = Path(log_path)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=str(working_dir), env=kit_env(env), stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    return RunningServer(url=f"http://{HOST}:{port}", process=process, log_path=log_path)


@contextlib.contextmanager
def serving(
    target: str,
    working_dir: str | Path = ".",
    timeout: float = 60.0,
    **kwargs,
) -> Iterator[RunningServer]:
    """Serve ``target`` while the block runs; the process group is stopped however the block ends."""
    server = start(target, working_dir, **kwargs)
    try:
        server.wait_ready(timeout)
        yield server
    finally:
        server.stop()
