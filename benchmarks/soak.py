"""Sustained load on the reference service: no failed request and flat memory.

wrk holds ``clients`` connections for ``seconds`` while the resident memory of the server's whole
process group is sampled every second. Memory is "flat" when the median of the last third of the
samples is at most ``MAX_GROWTH`` above the median of the first third.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from benchmarks import procgroup, serve, wrk
from benchmarks.targets import GOAL_TARGET, TARGETS

MAX_GROWTH = 0.10
MIB = 1024 * 1024


def growth(samples: list[float]) -> float:
    """Relative growth of the last third's median over the first third's median."""
    if len(samples) < 3:
        raise ValueError("need at least 3 memory samples to judge growth")
    third = len(samples) // 3
    first, last = statistics.median(samples[:third]), statistics.median(samples[-third:])
    return (last - first) / first


def plot(times: list[float], rss_mib: list[float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(times, rss_mib, marker=".")
    ax.set_xlabel("seconds under load")
    ax.set_ylabel("RSS of all server processes (MiB)")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(seconds: float = 60.0, clients: int = 32, out_dir: Path = Path("."),
         target: str = GOAL_TARGET, warmup: float = 10.0) -> int:
    """Run the soak; write ``soak.json``, ``soak.md`` and ``soak.png``; returns the exit code."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = TARGETS[target]
    times, rss = [], []
    with serve.serving(spec, out_dir / "soak-server.log") as (server, _):
        url = server.url + spec.path
        # Warm-up under the same load: every worker's imports, caches and pools settle before the
        # first memory sample, or a short soak mistakes warming up for growth.
        wrk.run(url, spec.body, clients, warmup)
        pgid = server.process.pid
        started = time.monotonic()
        load = wrk.start(url, spec.body, clients, seconds)
        while load.poll() is None and time.monotonic() - started < seconds + 30:
            times.append(round(time.monotonic() - started, 1))
            rss.append(procgroup.rss_bytes(pgid) / MIB)
            time.sleep(1.0)  # the sampling period
        result = wrk.finish(load, seconds)
        alive = server.alive()
    grew = growth(rss)
    ok = result.failed == 0 and grew <= MAX_GROWTH and alive
    summary = {"target": target, "clients": clients, "seconds": seconds, **result.to_dict(),
               "rss_mib_first": rss[0], "rss_mib_last": rss[-1], "rss_growth": grew,
               "rss_samples": list(zip(times, rss, strict=True)), "server_alive": alive, "passed": ok}
    (out_dir / "soak.json").write_text(json.dumps(summary, indent=1) + "\n")
    plot(times, rss, out_dir / "soak.png", f"{target}: {clients} clients for {seconds:g} s")
    verdict = "PASSED" if ok else "FAILED"
    text = (f"# Soak: `{target}`, {clients} clients, {seconds:g} s — {verdict}\n\n"
            f"- {result.requests} requests, {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, "
            f"p99 {result.p99_ms:.1f} ms\n"
            f"- failed requests: {result.failed} ({result.non_2xx} non-2xx, "
            f"{result.socket_errors} socket errors)\n"
            f"- RSS of the server's processes: {rss[0]:.0f} MiB at the start, {rss[-1]:.0f} MiB at the end; "
            f"last third vs first third {grew:+.1%} (flat means at most {MAX_GROWTH:+.0%})\n\n"
            "![soak](soak.png)\n")
    (out_dir / "soak.md").write_text(text)
    print(text)
    if not ok:
        print(f"SOAK FAILED: {result.failed} failed requests, memory growth {grew:+.1%}, "
              f"server {'alive' if alive else 'died'}", file=sys.stderr)
    return 0 if ok else 1
