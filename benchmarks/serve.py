"""Serve one target for the length of a block: start, wait for the first answer, stop the group."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from benchmarks.targets import Target
from bentokit import contract, procs
from bentokit.server import RunningServer, ServerError


def first_answer(server: RunningServer, target: Target, timeout: float = 120.0) -> float:
    """Poll the target's route until it answers 200 with decisions; seconds since the launch.

    This is both the readiness wait and the cold-start measure ("time to first answer").
    """
    deadline = time.monotonic() + timeout
    headers = {"Content-Type": "application/json"}
    while time.monotonic() < deadline:
        if not server.alive():
            # how_ended waits for the exit code: a process seen dying may not be reaped yet
            raise ServerError(f"{target.name} {server.how_ended()} before answering.\n{server.log_tail()}")
        with contextlib.suppress(requests.RequestException):
            response = requests.post(server.url + target.path, data=target.body, headers=headers, timeout=5)
            if response.status_code == 200:
                elapsed = time.monotonic() - server.started
                check_answer(target, response.text)
                return elapsed
        time.sleep(0.05)  # a poll interval, not a wait for readiness
    raise ServerError(f"{target.name} gave no answer within {timeout:.0f} s.\n{server.log_tail()}")


def check_answer(target: Target, text: str) -> None:
    """Every contender must answer the same decision shape; a wrong answer is not a fast one."""
    answer = json.loads(text)
    decisions = answer if isinstance(answer, list) else [answer]
    if not decisions or any(d.get("status") not in contract.STATUSES for d in decisions):
        raise ServerError(f"{target.name} answered something that is not a decision: {text[:200]}")


@contextlib.contextmanager
def serving(target: Target, log_path: Path | None = None, timeout: float = 120.0
            ) -> Iterator[tuple[RunningServer, float]]:
    """Yield (server, cold-start seconds); the server's processes are gone when the block ends."""
    server = target.launch(log_path)
    try:
        cold = first_answer(server, target, timeout)
        yield server, cold
    finally:
        try:
            server.stop()  # returns once every process of its tree has ended (or raises)
        except procs.ProcsError as err:
            raise ServerError(f"{target.name} left processes running after stop(): {err}") from err
