"""The child processes of a grading, each with a time limit, in a session of its own.

A child that runs learner code (import service.py, read the model, call client.py, read
homework.py) runs in the grading's :class:`bentokit.procs.Sandbox`: as a user of its own when the
grader runs as root, with an allow-listed environment either way. Its input and output files live
in the sandbox's folder; the grader reads the output, and never imports learner code itself.
Starting, killing and clean-up are :mod:`bentokit.procs`'.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bentokit import procs


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
    process: subprocess.Popen | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        base = self.sandbox.folder if self.sandbox is not None else None
        self._dir = Path(tempfile.mkdtemp(prefix="grader-child-", dir=base))
        self._in, self._out, self._log = (self._dir / n for n in ("in.json", "out.json", "log.txt"))
        self._in.write_text(json.dumps(self.payload))
        if self.sandbox is not None:
            self.sandbox.give(self._dir)
        self._started = time.monotonic()
        with open(self._log, "wb") as log:
            self.process = procs.spawn([sys.executable, "-m", self.module, str(self._in), str(self._out),
                                        *self.args], cwd=self.cwd, env=self.env, stdout=log,
                                       sandbox=self.sandbox)
        self._result: ChildResult | None = None

    def result(self, timeout: float | None = None) -> ChildResult:
        """Wait until the child ends or its time limit passes (then its tree is killed); ``timeout``
        counts the limit from now instead of from the child's start."""
        if self._result is not None:
            return self._result
        assert self.process is not None
        deadline = (time.monotonic() + timeout) if timeout is not None else self._started + self.timeout
        if self.answers_early and self._answered(self._out, deadline):
            self._result = ChildResult(self._read(self._out), None, False, self._log_tail(),
                                       time.monotonic() - self._started)
            return self._result
        remaining = max(0.0, deadline - time.monotonic())
        timed_out = False
        try:
            self.process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            timed_out = True
        kill_group(self.process)
        self._result = ChildResult(self._read(self._out), self.process.returncode, timed_out,
                                   self._log_tail(), time.monotonic() - self._started)
        if not self.answers_early:  # else its log is the build's, read later (the sandbox's folder goes)
            shutil.rmtree(self._dir, ignore_errors=True)
        return self._result

    @property
    def log_path(self) -> Path:
        """The child's output and errors."""
        return self._log

    def answer_path(self, name: str) -> Path:
        """Where the child writes a further answer ``name`` (besides OUT), in its own folder."""
        return self._dir / name

    def answer(self, name: str, timeout: float) -> dict[str, Any] | None:
        """A further answer: wait until the child has written it, has ended, or ``timeout`` s have
        passed; the answer, or None. The child goes on either way."""
        path = self.answer_path(name)
        return self._read(path) if self._answered(path, time.monotonic() + timeout) else None

    def _answered(self, path: Path, deadline: float) -> bool:
        """Wait, until ``deadline``, for ``path`` to be written; whether it was (polled: an answer is
        one atomic rename, and the wait is a few seconds)."""
        while not path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                return path.exists()
            time.sleep(0.02)
        return True

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        data = None
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(path.read_text())
        return data if isinstance(data, dict) else None

    def _log_tail(self) -> str:
        try:
            log = self._log.read_text(errors="replace")
        except OSError:
            log = ""
        return "\n".join(log.splitlines()[-20:])


def kill_group(process: subprocess.Popen, grace: float = 5.0) -> None:
    """Kill the process and everything it started (see :func:`bentokit.procs.kill_tree`)."""
    with contextlib.suppress(procs.ProcsError):
        procs.kill_tree(process, grace=grace)


def write_output(path: str, data: dict[str, Any]) -> None:
    """For the child side: write the JSON answer atomically."""
    tmp = Path(path + ".tmp")
    tmp.write_text(json.dumps(data, default=str))
    tmp.replace(path)
