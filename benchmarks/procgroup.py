"""CPU time and memory of a server's processes: every process of its tree (see :mod:`bentokit.procs`).

The whole tree counts because BentoML's supervisor (circus) starts each worker in a session, and so
a process group, of its own. ``pgid`` is the server's process id (it leads its own session).
"""

from __future__ import annotations

import contextlib

import psutil

from bentokit import procs


def members(pgid: int) -> list[psutil.Process]:
    """The running processes of the server's tree (:func:`bentokit.procs.snapshot`)."""
    return procs.snapshot([pgid])


def cpu_seconds(pgid: int) -> dict[int, float]:
    """User + system CPU seconds used so far by each running process of the tree, by pid."""
    times = {}
    for proc in members(pgid):
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            times[proc.pid] = t.user + t.system
    return times


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds the tree used between two ``cpu_seconds`` snapshots (new processes count in full)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def rss_bytes(pgid: int) -> int:
    """Resident memory of the whole tree, in bytes."""
    return round(procs.tree_rss_mb(pgid) * 2**20)
