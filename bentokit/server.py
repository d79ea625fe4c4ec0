"""Start ``bentoml serve`` on a free loopback port, wait for ``/readyz``, stop all its processes.

Written by hand on purpose: ``bentoml.serve()`` imports the service into the calling process
and runs its supervisor in a thread there, so a learner's import that hangs or crashes would
take the notebook, test or grader down with it. Here the server is a child process in its own
session (:func:`bentokit.procs.spawn`, optionally as a :class:`~bentokit.procs.Sandbox`'s user):
it can be waited for with a time limit and killed whole.

BentoML's supervisor (circus) starts each worker in a session of its own, so stopping the
supervisor's process group alone can orphan a worker that ignores SIGTERM (one stuck in a
learner's ``__init__``, say). ``stop`` therefore kills the whole tree with
:func:`bentokit.procs.kill_tree`, and a ready answer counts only while the supervisor runs
(:meth:`RunningServer.problem` also tells whether a stranger answers on the port).
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bentokit import bounded_http, lazy_bentoml, procs
from bentokit.procs import Sandbox, kit_env

__all__ = ["HOST", "MAX_SERVER_TMPDIR", "NOT_READY", "RunningServer", "ServerError", "free_port", "kit_env",
           "launch", "serving", "start", "wait_url_ready"]

HOST = "127.0.0.1"
#: What a readiness time limit's error says after the server's name (the grader tells a time limit by it).
NOT_READY = " was not ready after "


class ServerError(RuntimeError):
    """The server exited or did not become ready; the message ends with its last log lines."""


#: The longest TMPDIR a ``bentoml serve`` may get. Its supervisor makes the Unix sockets of a composed
#: service's dependencies at ``$TMPDIR/bentoml-uds-XXXXXXXX/<id of the service>.sock`` and asserts the
#: path is shorter than 103 characters: 22 + up to 20 characters follow TMPDIR.
MAX_SERVER_TMPDIR = 103 - 1 - len("/bentoml-uds-XXXXXXXX/") - len("140737488355327.sock")


def _server_tmpdir(sandbox: Sandbox | None) -> Path:
    """A short new folder of the server's own for its TMPDIR, which ``stop`` removes.

    BentoML makes its Unix sockets there: its supervisor's control ones (see
    :func:`bentokit.private.supervisor_control_kept_private`) and a composed service's. A supervisor
    killed outright cannot remove them itself, and the TMPDIR it would inherit (a cohort's work folder,
    an unconfined sandbox under it, macOS's or a cluster's) can be too long for them.
    """
    own = Path(tempfile.mkdtemp(prefix="bentokit-serve-", dir=procs.SHARED_TMP[0]))
    if sandbox is not None:
        sandbox.give(own)
    return own


#: Where free_port looks first: below the kernel's ephemeral range (see free_port).
_QUIET_PORTS = (15000, 32768)
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port(host: str = HOST) -> int:
    """A TCP port that nothing listens on right now, outside the kernel's ephemeral range if it can.

    The kernel hands out the ports of that range to every outgoing connection and to every program
    that asks for port 0 (Jupyter kernels take five at a time): a port from there can be taken again
    before the server binds it (`Address already in use`, seen in CI). As portpicker does, random
    ports below the range are tried first; written here rather than made a pinned dependency of
    every grading install for these lines.
    """
    low = _QUIET_PORTS[0]
    with contextlib.suppress(OSError, ValueError):
        high = min(_QUIET_PORTS[1], int(_EPHEMERAL_RANGE.read_text().split()[0]))
        for _ in range(20 if high - low > 1000 else 0):
            port = random.randrange(low, high)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, contextlib.suppress(OSError):
                sock.bind((host, port))
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


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
    it is asked again after the 200, so an answer from what a dead server left behind (orphaned
    workers still holding the port) does not count. ``log_tail()`` ends the error message. Shared
    by ``bentoml serve`` processes and containers.
    """
    started = time.monotonic() if started is None else started
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reason = exited()
        if reason:
            raise ServerError(f"{reason} before it was ready.\n{log_tail()}")
        if bounded_http.status(f"{url}{path}", timeout=2) == 200:  # the whole answer within 2 s
            reason = exited()
            if reason:
                raise ServerError(f"{reason}, yet {url}{path} answered 200: what answers is left over "
                                  f"from it (orphaned workers), not a running server.\n{log_tail()}")
            return time.monotonic() - started
        time.sleep(0.1)  # a poll interval, not a wait for readiness
    raise ServerError(f"{what}{NOT_READY}{timeout:.0f} s.\n{log_tail()}")


@dataclass
class _OwnLog:
    """A server's log that the kit made in the temporary folder: removed once its server's handle is
    gone, unless a failed start named it in its error (``keep``)."""

    path: Path
    keep: bool = False

    def remove(self) -> None:
        if not self.keep:
            self.path.unlink(missing_ok=True)


@dataclass
class RunningServer:
    """A server's process group (``bentoml serve`` or any ``launch``-ed command) and its address."""

    url: str
    process: subprocess.Popen
    log_path: Path
    started: float = field(default_factory=time.monotonic)
    #: Set when the log is a temporary file the kit made (no ``log_path`` was given).
    own_log: _OwnLog | None = None
    #: The server's own TMPDIR (see _server_tmpdir), removed by ``stop``.
    tmp_dir: Path | None = None

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

    def how_ended(self) -> str:
        """``exited with code N`` (once :meth:`alive` is False: a SIGKILL pending lands within moments)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        code = self.process.returncode
        return "was killed" if code is None else f"exited with code {code}"

    def alive(self) -> bool:
        """The supervisor runs (a SIGKILL already sent to it counts as its end: see procs.being_killed)."""
        return self.process.poll() is None and not procs.being_killed(self.process.pid)

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Poll ``/readyz`` until it answers 200; return the seconds it took since start."""

        def exited() -> str | None:
            return None if self.alive() else f"the server {self.how_ended()}"

        try:
            return wait_url_ready(self.url, timeout, exited, self.log_tail, self.started, what="the server")
        except ServerError as error:
            if self.own_log is None:
                raise
            self.own_log.keep = True  # the tail above may not say why: the whole log stays
            raise ServerError(f"{error}\nThe whole log: {self.log_path}") from None

    def problem(self) -> str | None:
        """Why an answer on this server's port would not be this server's own, or None.

        Either its supervisor exited (workers it left behind may still answer), or a process outside
        its tree (a stranger, or a process of another user) listens on its port.
        """
        if not self.alive():
            return (f"the server's supervisor {self.how_ended()}; what answers on "
                    f"port {self.port} is left over from it, not a running server")
        mine = {p.pid for p in procs.snapshot([self.process])}
        strangers = _listeners(self.port, {_uid(pid) for pid in mine} - {None}) - mine
        if strangers:
            who = ", ".join(_who(pid) for pid in strangers)
            return f"port {self.port} is also answered by processes that are not this server's: {who}"
        return None

    def processes(self) -> list[psutil.Process]:
        """The supervisor and every process of its tree (workers in their own sessions too)."""
        return procs.snapshot([self.process])

    def process_groups(self) -> set[int]:
        """The supervisor's process group and those of all its processes (the workers')."""
        groups = {self.process.pid}
        for proc in self.processes():
            with contextlib.suppress(ProcessLookupError):
                groups.add(os.getpgid(proc.pid))
        return groups

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every process of the server, SIGKILL whatever is left after ``grace`` s; returns
        once all have ended (:func:`bentokit.procs.kill_tree`). Its log can still be read."""
        procs.kill_tree(self.process, grace)
        if self.tmp_dir is not None:
            procs.remove_tree(self.tmp_dir)  # never follows a link (as root too), any depth


def _who(pid: int | None) -> str:
    if pid is None:
        return "a process of another user"
    try:
        return procs.describe(psutil.Process(pid))
    except psutil.Error:
        return f"process {pid}"


#: The addresses a listener can hold that take a connection to HOST: IPv4, and IPv6 dual-stack ones.
_TAKES_HOST = {socket.AF_INET: {HOST, "0.0.0.0"}, socket.AF_INET6: {"::", f"::ffff:{HOST}"}}


def _uid(pid: int | None) -> int | None:
    """The real user id of process ``pid`` (None when it cannot be seen, or has ended)."""
    if pid is None:  # psutil.Process(None) would be this process
        return None
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).uids().real
    return None


def _listeners(port: int, owners: set[int] = frozenset()) -> set[int | None]:
    """The pids listening on TCP ``port`` where a connection to HOST could reach them (None for a socket
    whose process this user cannot see).

    An IPv4 listener there counts whoever owns it. An IPv6 one on the wildcard counts only when one of
    ``owners`` (the server's users) holds it: another user's dual-stack socket cannot bind a port a live
    IPv4 listener holds, so one that did is IPv6-only and never takes the grader's connections (in a
    class run, a learner's code binding [::1] or [::] on a classmate's port changes nothing for them).
    """
    found: set[int | None] = set()
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if (conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port
                    or conn.laddr.ip not in _TAKES_HOST.get(conn.family, ())):
                continue
            if conn.family == socket.AF_INET6 and _uid(conn.pid) not in owners:
                continue
            found.add(conn.pid)
    return found


def start(
    target: str,
    working_dir: str | Path = ".",
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    log_path: str | Path | None = None,
    sandbox: Sandbox | None = None,
) -> RunningServer:
    """Launch ``bentoml serve TARGET`` in its own session (as ``sandbox``'s user when given; ``env``
    then adds to its allow-listed environment); does not wait for readiness.

    It runs as ``python -m bentokit.lazy_bentoml serve``: BentoML's command line, whose supervisor
    runs the model libraries' code only if it uses them (reading the service's configuration does not;
    the workers import them as usual), and takes commands only from its own user.
    """
    port = port or free_port()
    # The port goes in the environment, not the command line: any user reads /proc/PID/cmdline, and a
    # learner's code in a class run could bind a classmate's port before their server does.
    command = lazy_bentoml.command("serve", target, "--host", HOST, *args)
    env = {**(env or {}), "BENTOML_PORT": str(port)}
    tmp_dir = _server_tmpdir(sandbox)
    env = {**env, "TMPDIR": str(tmp_dir)}
    try:
        running = launch(command, port, working_dir, env=env, log_path=log_path, sandbox=sandbox)
    except BaseException:
        procs.remove_tree(tmp_dir)
        raise
    running.tmp_dir = tmp_dir
    return running


def launch(
    command: Sequence[str],
    port: int,
    working_dir: str | Path = ".",
    env: Mapping[str, str] | None = None,
    log_path: str | Path | None = None,
    sandbox: Sandbox | None = None,
) -> RunningServer:
    """Run any server ``command`` that will listen on ``HOST:port`` in its own session.

    ``start`` uses it for ``bentoml serve``; the benchmarks use it for Flask, gunicorn and
    uvicorn. The server must answer ``GET /readyz`` with 200 for ``wait_ready``.
    """
    own_log = None
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="bentoml-serve-", suffix=".log")
        os.close(fd)
        own_log = _OwnLog(Path(name))
        log_path = own_log.path
    log_path = Path(log_path)
    try:
        with open(log_path, "wb") as log:
            process = procs.spawn(command, cwd=working_dir, env=env, stdout=log, sandbox=sandbox)
    except BaseException:
        if own_log is not None:
            own_log.remove()
        raise
    running = RunningServer(url=f"http://{HOST}:{port}", process=process, log_path=log_path, own_log=own_log)
    if own_log is not None:  # when the handle goes (or this process ends), not at stop(): read after it
        weakref.finalize(running, own_log.remove)
    return running


@contextlib.contextmanager
def serving(
    target: str,
    working_dir: str | Path = ".",
    timeout: float = 60.0,
    **kwargs,
) -> Iterator[RunningServer]:
    """Serve ``target`` while the block runs; all its processes are stopped however the block ends."""
    server = start(target, working_dir, **kwargs)
    try:
        server.wait_ready(timeout)
    except BaseException:
        # Never ready: nothing to shut down gracefully, and a worker stuck in its start-up ignores
        # SIGTERM (it would cost the whole grace period).
        server.stop(grace=0)
        raise
    try:
        yield server
    finally:
        server.stop()
