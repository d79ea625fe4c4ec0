"""How a server's load is spread over its worker processes: connections held and CPU used per process.

Every BentoML (and gunicorn, uvicorn) worker accepts from one shared listening socket, so which worker
gets each of wrk's keep-alive connections is decided once, when it connects, by whichever worker the
kernel wakes first. A split of 32 connections as 28 + 4 leaves one core idle for the whole run: the
throughput of a round then depends on that draw. These figures, recorded beside every measurement, show
the split instead of leaving it to a median.
"""

from __future__ import annotations

from collections.abc import Iterable

import psutil

from benchmarks import procgroup


def connections(pgid: int, port: int) -> dict[int, int]:
    """Established TCP connections to ``port`` held by each process of the group, by pid (0s left out)."""
    held: dict[int, int] = {}
    for proc in procgroup.members(pgid):
        try:
            count = sum(1 for c in proc.net_connections(kind="tcp")
                        if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)
        except psutil.Error:
            continue
        if count:
            held[proc.pid] = count
    return held


def busiest_share(values: Iterable[float]) -> float | None:
    """The largest part of the total (1.0: one process has it all; 0.5: two processes share evenly)."""
    values = [v for v in values if v > 0]
    return max(values) / sum(values) if values else None


def cpu_split(before: dict[int, float], after: dict[int, float], floor: float = 0.05) -> list[float]:
    """CPU seconds each process used between two ``procgroup.cpu_seconds`` snapshots, largest first;
    processes under ``floor`` s (the supervisor, idle helpers) are left out."""
    used = [seconds - before.get(pid, 0.0) for pid, seconds in after.items()]
    return sorted((round(u, 2) for u in used if u >= floor), reverse=True)
