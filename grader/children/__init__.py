"""The child processes of a grading, each with a time limit, in a session of its own.

A child that runs learner code (import service.py, read the model, call client.py, read
homework.py) runs in the grading's :class:`bentokit.procs.Sandbox`: as a user of its own when the
grader runs as root, with an allow-listed environment either way. Its input and output files live
in the sandbox's folder; the grader reads the output, and never imports learner code itself.
Starting, killing and clean-up are :mod:`bentokit.procs`'.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from bentokit import procs

#: The interpreter of the grader's own children. ``-P``: the working folder is not on ``sys.path``
#: (a child works in the sandbox's folder, which learner code can write: a ``grader/`` package it
#: planted there would run as the inspector and forge its answer); ``-s``: no user site-packages (the
#: sandbox's folder is the learner user's HOME).
TRUSTED_PYTHON = (sys.executable, "-P", "-s")
#: The longest answer read from a child (the model reader's, with every held-out prediction, is ~100 KB).
ANSWER_LIMIT = 16 << 20


@dataclass
class ChildResult:
    """What a child wrote to its output file, or why there is nothing."""

    data: dict[str, Any] | None
    returncode: int | None
    timed_out: bool
    log_tail: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.data is not None and not self.timed_out


@dataclass
class Child:
    """``python -m MODULE IN OUT [args]`` started now; :meth:`result` waits for it with its time limit."""

    module: str
    payload: Any
    cwd: Path
    timeout: float
    env: Mapping[str, str] | None = None
    args: Sequence[str] = ()
    #: Where learner code runs (None: the grader's own code, with the grader's environment).
    sandbox: procs.Sandbox | None = None
    #: The child goes on working after it has answered (the service child then builds the bento):
    #: :meth:`result` returns as soon as the answer is written, and leaves the process running.
    answers_early: bool = False
    #: A first answer comes through a pipe (:meth:`piped_answer`), not a file: the child finds the
    #: pipe's write end as ``"answer_fd"`` in IN, writes, and closes it before it runs learner code,
    #: which then has no way to change that answer (a file in the sandbox's folder it could rewrite).
    pipe_answer: bool = False
    #: The child waits, once started, until :meth:`open_gate` (it finds the pipe's read end as
    #: ``"gate_fd"`` in IN): it can do its slow start-up (imports) before its input is ready.
    gate: bool = False
    process: subprocess.Popen | None = field(default=None, init=False)
    #: How many time limits learner code passed in this grading (see :meth:`count_over_time`; the
    #: plugin sets it to 0 as a grading starts). A class run grades such a learner again, alone: a
    #: classmate's code graded beside it may have kept the cores or the server busy (red-team round 34:
    #: 120 busy processes of one learner's import cut an honest classmate from 100 to 28, kept).
    timeouts: ClassVar[int] = 0

    @classmethod
    def count_over_time(cls) -> None:
        """Count a time limit learner code passed: a child's answer or result (this class's), the build,
        locust, the server's or the container's readiness, a request to the service."""
        cls.timeouts += 1

    def __post_init__(self) -> None:
        # In the sandbox's room: learner code can rename nothing there (see procs.Sandbox).
        base = self.sandbox.room if self.sandbox is not None else None
        self._dir = Path(tempfile.mkdtemp(prefix="grader-child-", dir=base))
        self._in, self._out, self._log = (self._dir / n for n in ("in.json", "out.json", "log.txt"))
        if self.sandbox is not None and self.sandbox.confined:
            # The request, where the child's user can read it but not change it: the room itself, the
            # file root's, in that user's group alone. In the child's folder, which is the learner's,
            # learner code already running (the server) could rewrite it before the child reads it,
            # and have the model reader predict other applicants than the live checks send; readable
            # by all, the hidden probes and held-out features were open to every other sandbox user
            # (its path is on the child's command line).
            fd, name = tempfile.mkstemp(prefix="in-", suffix=".json", dir=self.sandbox.room)
            os.fchown(fd, os.getuid(), self.sandbox.gid)
            os.fchmod(fd, 0o640)
            os.close(fd)
            self._in = Path(name)
        payload, keep = self.payload, ()
        self._pipe: int | None = None
        if self.pipe_answer:
            self._pipe, write_end = os.pipe()
            payload, keep = {**payload, "answer_fd": write_end}, (write_end,)
        self._gate: int | None = None
        if self.gate:
            read_end, self._gate = os.pipe()
            payload, keep = {**payload, "gate_fd": read_end}, (*keep, read_end)
        self._in.write_text(json.dumps(payload))
        # Opened before the folder is the learner's (then learner code could have swapped the log for
        # a link this process would follow); handed over with the rest: see read_file.
        with open(self._log, "xb") as log:
            if self.sandbox is not None:
                self.sandbox.give(self._dir)
            self._started = time.monotonic()
            self.process = procs.spawn([*TRUSTED_PYTHON, "-m", self.module, str(self._in), str(self._out),
                                        *self.args], cwd=self.cwd, env=self.env, stdout=log,
                                       sandbox=self.sandbox, pass_fds=keep)
        for fd in keep:  # the child's now; the pipe ends when the child closes it or ends
            os.close(fd)
        self._piped: dict[str, Any] | None = None
        #: Whether the pipe was still open when :meth:`piped_answer`'s time limit passed.
        self.pipe_timed_out = False
        self._result: ChildResult | None = None

    def open_gate(self) -> None:
        """Let a gated child go on (it reads the end of its gate pipe)."""
        if self._gate is not None:
            os.close(self._gate)
            self._gate = None

    def stop(self) -> None:
        """Kill the child (and all it started) unheard, and remove its files."""
        assert self.process is not None
        kill_group(self.process, grace=0)
        self.open_gate()
        procs.remove_tree(self._dir)
        self._in.unlink(missing_ok=True)

    def piped_answer(self, timeout: float) -> dict[str, Any] | None:
        """The answer sent through the pipe, read to its end; None when none came whole within
        ``timeout`` s (the child ended without it, or is still busy). The child goes on either way."""
        if self._piped is not None or self._pipe is None:
            return self._piped
        deadline, chunks = time.monotonic() + timeout, []
        while True:
            ready, _, _ = select.select([self._pipe], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self._pipe, 1 << 16) if ready else None
            if not chunk:  # the end of the pipe (b""), or the time limit (None)
                break
            chunks.append(chunk)
        os.close(self._pipe)
        self._pipe = None
        if chunk is None:
            self.pipe_timed_out = True
            self.count_over_time()
            return None
        with contextlib.suppress(ValueError, RecursionError):  # learner code's process wrote it
            found = json.loads(b"".join(chunks))
            self._piped = found if isinstance(found, dict) else None
        return self._piped

    def result(self, timeout: float | None = None) -> ChildResult:
        """Wait until the child ends or its time limit passes (then its tree is killed); ``timeout``
        counts the limit from now instead of from the child's start."""
        if self._result is not None:
            return self._result
        assert self.process is not None
        self.open_gate()  # a gated child waited for cannot be waiting for its gate
        deadline = (time.monotonic() + timeout) if timeout is not None else self._started + self.timeout
        if self.answers_early and self._answered(self._out, deadline):
            self._in.unlink(missing_ok=True)
            self._result = ChildResult(self._read(self._out), None, False, self._log_tail(),
                                       time.monotonic() - self._started)
            return self._result
        remaining = max(0.0, deadline - time.monotonic())
        timed_out = False
        try:
            self.process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            timed_out = True
            if timeout != 0:  # a wait of 0 s is the grader's way to stop a child: no limit passed
                self.count_over_time()
        kill_group(self.process)
        self._in.unlink(missing_ok=True)
        self._result = ChildResult(self._read(self._out), self.process.returncode, timed_out,
                                   self._log_tail(), time.monotonic() - self._started)
        if not self.answers_early:  # else its log is the build's, read later (the sandbox's room goes)
            procs.remove_tree(self._dir)
        return self._result

    @property
    def log_path(self) -> Path:
        """The child's output and errors."""
        return self._log

    def _answered(self, path: Path, deadline: float) -> bool:
        """Wait, until ``deadline``, for ``path`` to be written; whether it was (polled: an answer is
        one atomic rename, and the wait is a few seconds)."""
        while not path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                return path.exists()
            time.sleep(0.02)
        return True

    def read_file(self, path: Path, limit: int = 1 << 16) -> str:
        """A file of the child's (its answer, its log; at most the last ``limit`` bytes): learner code
        can swap it for a link, so it is read as the sandbox's user could (see
        :meth:`bentokit.procs.Sandbox.read_bytes`). Raises OSError."""
        if self.sandbox is not None:
            return self.sandbox.read_text(path, limit)
        return procs.read_tail(path, limit).decode(errors="replace")  # the grader's own child's

    def _read(self, path: Path) -> dict[str, Any] | None:
        data = None
        with contextlib.suppress(OSError, ValueError, RecursionError):  # learner code's process wrote it
            data = json.loads(self.read_file(path, ANSWER_LIMIT))
        return data if isinstance(data, dict) else None

    def _log_tail(self) -> str:
        try:
            log = self.read_file(self._log)
        except OSError:
            log = ""
        return "\n".join(log.splitlines()[-20:])


def kill_group(process: subprocess.Popen, grace: float = 5.0) -> None:
    """Kill the process and everything it started (see :func:`bentokit.procs.kill_tree`)."""
    with contextlib.suppress(procs.ProcsError):
        procs.kill_tree(process, grace=grace)


def read_to_end(fd: int) -> None:
    """Block until the pipe ``fd`` reaches its end (its writer closed it, or ended), then close it."""
    try:
        while os.read(fd, 4096):
            pass
    finally:
        os.close(fd)


def write_output(path: str, data: dict[str, Any]) -> None:
    """For the child side: write the JSON answer atomically."""
    tmp = Path(path + ".tmp")
    tmp.write_text(json.dumps(data, default=str))
    tmp.replace(path)


def import_learner_file(name: str) -> types.ModuleType:
    """For the child side: the learner's ``name`` (``client.py``) from the working folder, imported
    as ``python client.py`` would run it, with that folder on ``sys.path`` only from now on (the child
    starts with ``-P``: nothing of the learner's was importable before). Raises what the import raises."""
    sys.path.insert(0, str(Path.cwd()))
    spec = importlib.util.spec_from_file_location(f"learner_{Path(name).stem}", Path.cwd() / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
