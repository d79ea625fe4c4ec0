"""Helpers that run in child processes with a time limit, each in its own process group.

Every child and server the grader starts is registered here, so that one call at the end of a
run (or at interpreter exit) kills whatever is left, process group by process group.
Written by hand: ``subprocess.run(timeout=...)`` kills only the direct child, not its group.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bentokit.server import kit_env

_LIVE: list[subprocess.Popen] = []


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
    process: subprocess.Popen | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="grader-child-"))
        self._in, self._out, self._log = (self._dir / n for n in ("in.json", "out.json", "log.txt"))
        self._in.write_text(json.dumps(self.payload))
        self._started = time.monotonic()
        with open(self._log, "wb") as log:
            self.process = spawn([sys.executable, "-m", self.module, str(self._in), str(self._out),
                                  *self.args], cwd=self.cwd, env=self.env, stdout=log)
        self._result: ChildResult | None = None

    def result(self) -> ChildResult:
        """Wait until the child ends or its time limit passes (then its group is killed)."""
        if self._result is not None:
            return self._result
        assert self.process is not None
        remaining = max(0.0, self.timeout - (time.monotonic() - self._started))
        timed_out = False
        try:
            self.process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            timed_out = True
        kill_group(self.process)
        data = None
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(self._out.read_text())
        tail = "\n".join(self._log.read_text(errors="replace").splitlines()[-20:])
        self._result = ChildResult(data, self.process.returncode, timed_out, tail,
                                   time.monotonic() - self._started)
        for path in (self._in, self._out, self._log):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self._dir.rmdir()
        return self._result


def spawn(command: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None,
          stdout: Any = subprocess.DEVNULL) -> subprocess.Popen:
    """Start ``command`` in a new session (its own process group) and register it for cleanup."""
    process = subprocess.Popen(list(command), cwd=str(cwd), env=kit_env(env), stdin=subprocess.DEVNULL,
                               stdout=stdout, stderr=subprocess.STDOUT, start_new_session=True)
    register(process)
    return process


def register(process: subprocess.Popen) -> None:
    """Have :func:`kill_all` kill ``process``'s group (it must lead its own session)."""
    _LIVE.append(process)


def kill_group(process: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the child's process group, then SIGKILL whatever is left after ``grace`` s."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)


def kill_all() -> None:
    """Kill every registered process group (idempotent)."""
    while _LIVE:
        kill_group(_LIVE.pop())


atexit.register(kill_all)


def write_output(path: str, data: dict[str, Any]) -> None:
    """For the child side: write the JSON answer atomically."""
    tmp = Path(path + ".tmp")
    tmp.write_text(json.dumps(data, default=str))
    tmp.replace(path)
