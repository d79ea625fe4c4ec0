"""CPU time and memory of a server's processes: its process group and every descendant.

Descendants count too because BentoML's supervisor (circus) starts each worker in a session, and
so a process group, of its own.
"""

from __future__ import annotations

import os

import psutil


def members(pgid: int) -> list[psutil.Process]:
    """The live processes of group ``pgid`` (a leader started in its own session) and its descendants."""
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid:
                found[proc.pid] = proc
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    for proc in list(found.values()):
        try:
            found.update((child.pid, child) for child in proc.children(recursive=True))
        except psutil.Error:
            continue
    return list(found.values())


def cpu_seconds(pgid: int) -> dict[int, float]:
    """User + system CPU seconds used so far by each live process of the group, by pid."""
    times = {}
    for proc in members(pgid):
        try:
            t = proc.cpu_times()
            times[proc.pid] = t.user + t.system
        except psutil.Error:
            continue
    return times


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds the group used between two ``cpu_seconds`` snapshots (new processes count in full)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def rss_bytes(pgid: int) -> int:
    """Resident memory of the whole group, in bytes."""
    total = 0
    for proc in members(pgid):
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


def running(processes: list[psutil.Process], grace: float = 0.0) -> list[int]:
    """The pids of ``processes`` that still run after up to ``grace`` s (zombies and reused pids do
    not count): a process killed a moment ago may take a little while to go."""
    if grace > 0:
        psutil.wait_procs(processes, timeout=grace)
    left = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(proc.pid)
        except psutil.Error:
            continue
    return left


def alive(pgid: int) -> bool:
    """Whether any process of the group (or a descendant of it) is still running."""
    return bool(running(members(pgid)))
