"""Turn raw benchmark results into medians, headline ratios, a markdown report and PNG plots."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks.targets import BASELINE_TARGET, GOAL_TARGET, TARGETS

RESULTS_JSON = "results.json"
REPORT_MD = "report.md"
METRICS = ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "others_cores")
#: The goals of the production service (issue 14), at the largest client count of the run.
THROUGHPUT_GOAL = 1.2
CPU_GOAL = 2.5


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """Medians over rounds: per target, cold start and, per client count, each metric."""
    targets: dict[str, Any] = {}
    for record in results["runs"]:
        entry = targets.setdefault(record["target"], {"cold": [], "loads": {}})
        entry["cold"].append(record["cold_start_s"])
        for load in record["loads"]:
            bucket = entry["loads"].setdefault(load["clients"], {m: [] for m in (*METRICS, "failed")})
            for metric in (*METRICS, "failed"):
                bucket[metric].append(load.get(metric))
    summary = {}
    for name, entry in targets.items():
        summary[name] = {
            "rounds": len(entry["cold"]),
            "cold_start_s": _median(entry["cold"]),
            "loads": {clients: {**{m: _median(b[m]) for m in METRICS}, "failed": sum(b["failed"])}
                      for clients, b in sorted(entry["loads"].items())},
        }
    inprocess = {key: _median([r[key] for r in results["inprocess"]])
                 for key in (results["inprocess"][0] if results["inprocess"] else {})}
    return {"targets": summary, "inprocess": inprocess}


def headline(summary: dict[str, Any], clients: int) -> dict[str, dict[str, float | None]]:
    """Per target at ``clients``: throughput and p99 against tuned gunicorn-Flask, CPU/request
    against the in-process cost of one prediction (the limit)."""
    targets, limit = summary["targets"], summary["inprocess"].get("course_one_cpu_us")
    base = targets.get(BASELINE_TARGET, {}).get("loads", {}).get(clients)
    ratios = {}
    for name, entry in targets.items():
        load = entry["loads"].get(clients)
        if not load:
            continue
        own = summary["inprocess"].get(TARGETS[name].predict_cost) if name in TARGETS else None
        ratios[name] = {
            "cpu_vs_own": (load["cpu_us_per_req"] / own
                           if own and load["cpu_us_per_req"] is not None else None),
            "rps_vs_baseline": load["rps"] / base["rps"] if base and base["rps"] else None,
            "p99_vs_baseline": load["p99_ms"] / base["p99_ms"] if base and base["p99_ms"] else None,
            "cpu_vs_inprocess": (load["cpu_us_per_req"] / limit
                                 if limit and load["cpu_us_per_req"] is not None else None),
        }
    return ratios


def framework_cost(name: str, load: dict[str, Any], inprocess: dict[str, float]) -> float | None:
    """Server CPU per request minus the target's own prediction work measured in-process."""
    own = inprocess.get(TARGETS[name].predict_cost) if name in TARGETS else None
    if own is None or load.get("cpu_us_per_req") is None:
        return None
    return load["cpu_us_per_req"] - own


def goals(ratios: dict[str, dict[str, float | None]], name: str = GOAL_TARGET) -> dict[str, bool | None]:
    """The goals for the production service, each part true, false or unknown (not measured)."""
    r = ratios.get(name, {})

    def check(value, ok):
        return None if value is None else bool(ok(value))

    return {
        f"throughput >= {THROUGHPUT_GOAL}x tuned gunicorn-Flask":
            check(r.get("rps_vs_baseline"), lambda v: v >= THROUGHPUT_GOAL),
        "p99 <= tuned gunicorn-Flask's p99": check(r.get("p99_vs_baseline"), lambda v: v <= 1.0),
        f"CPU/request <= {CPU_GOAL}x the service's own in-process cost":
            check(r.get("cpu_vs_own"), lambda v: v <= CPU_GOAL),
    }


def _fmt(value: float | None, spec: str = ".0f", suffix: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{suffix}"


def verdict(value: bool | None) -> str:
    """A goal's verdict as every report words it."""
    return {True: "holds", False: "does not hold", None: "not measured"}[value]


def markdown(results: dict[str, Any], summary: dict[str, Any], plots: list[str]) -> str:
    """The report text."""
    meta, plan = results["meta"], results["meta"]["plan"]
    top = max(plan["clients"])
    ratios = headline(summary, top)
    others = [load.get("others_cores") for record in results["runs"] for load in record["loads"]]
    lines = [
        "# Benchmark: the production BentoML service against week-5 Flask, FastAPI and the in-process limit",
        "",
        *([f"**{meta['note']}**", ""] if meta.get("note") else []),
        f"Measured {meta['started']} – {meta.get('finished', '?')} on {meta['cpus']} CPUs "
        f"({meta['platform']}, Python {meta['python']}).",
        f"Load average (1, 5, 15 min) before: {meta['load_before']}, after: {meta.get('load_after')}; "
        f"other tenants used a median {_fmt(_median(others), '.2f')} of the {meta['cpus']} cores during the "
        "measurements (CPU neither the server nor wrk used; it lowers every number). Each measurement's "
        "own load average is in the per-round table.",
        f"Plan: {plan['rounds']} interleaved rounds; wrk at {plan['clients']} connections for "
        f"{plan['seconds']:g} s each after a {plan['warmup']:g} s warm-up; medians over rounds. "
        f"Model: {meta.get('model', '?')} trained on {meta.get('data', '?')}.",
        "",
        f"## Headline at {top} clients",
        "",
        f"Ratios against tuned gunicorn-Flask (`{BASELINE_TARGET}`), against the in-process cost of one "
        "course prediction (`dv.transform` + `DMatrix` + `predict`, one OpenMP thread, "
        f"{_fmt(summary['inprocess'].get('course_one_cpu_us'))} µs CPU) and against the target's own "
        "prediction code called in-process.",
        "",
        "The overhead column is the server's CPU per request minus its own prediction work measured "
        "in-process: what the HTTP server and the framework cost.",
        "",
        "| target | req/s | × gunicorn-tuned | p99 ms | × gunicorn-tuned p99 | CPU µs/req | × course "
        "in-process | × own in-process | overhead µs/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in summary["targets"].items():
        load, r = entry["loads"].get(top), ratios.get(name)
        if not load or not r:
            continue
        lines.append(f"| `{name}` | {_fmt(load['rps'])} | {_fmt(r['rps_vs_baseline'], '.2f')} | "
                     f"{_fmt(load['p99_ms'], '.1f')} | {_fmt(r['p99_vs_baseline'], '.2f')} | "
                     f"{_fmt(load['cpu_us_per_req'])} | {_fmt(r['cpu_vs_inprocess'], '.1f')} | "
                     f"{_fmt(r['cpu_vs_own'], '.1f')} | "
                     f"{_fmt(framework_cost(name, load, summary['inprocess']))} |")
    lines += ["", f"## Goals for the production service (`{GOAL_TARGET}`, at {top} clients)", ""]
    lines += [f"- {goal}: **{verdict(ok)}**" for goal, ok in goals(ratios).items()]
    lines += savings(summary, top)
    lines += rounds_table(results, top)
    lines += ["", "## All measurements (medians)", "",
              "| target | clients | req/s | p50 ms | p99 ms | CPU µs/req | failed | cold start s "
              "| others' cores |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, entry in summary["targets"].items():
        for clients, load in entry["loads"].items():
            lines.append(f"| `{name}` | {clients} | {_fmt(load['rps'])} | {_fmt(load['p50_ms'], '.2f')} | "
                         f"{_fmt(load['p99_ms'], '.1f')} | {_fmt(load['cpu_us_per_req'])} | "
                         f"{load['failed']} | {_fmt(entry['cold_start_s'], '.1f')} | "
                         f"{_fmt(load['others_cores'], '.2f')} |")
    inproc = summary["inprocess"]
    lines += ["", "## In-process costs (CPU µs, one OpenMP thread, medians)", "",
              f"- course path, one row: {_fmt(inproc.get('course_one_cpu_us'))} "
              f"(wall {_fmt(inproc.get('course_one_wall_us'))})",
              f"- course path, per row in a batch of {_fmt(inproc.get('batch'))}: "
              f"{_fmt(inproc.get('course_batch_row_cpu_us'), '.1f')}",
              f"- the solution's `classify` called in-process (DMatrix predict + decision): "
              f"{_fmt(inproc.get('solution_one_cpu_us'))}",
              f"- the production service's `classify` (in-place predict + decision): "
              f"{_fmt(inproc.get('service_one_cpu_us'))}",
              f"- the production service's `classify_batch`, per row: "
              f"{_fmt(inproc.get('service_batch_row_cpu_us'), '.1f')}",
              f"- pydantic: validating the request body from JSON "
              f"{_fmt(inproc.get('validate_cpu_us'), '.1f')}, serializing the answer "
              f"{_fmt(inproc.get('serialize_cpu_us'), '.1f')}",
              "", "## Targets and their settings", "",
              "| target | what | settings |", "|---|---|---|"]
    lines += [f"| `{name}` | {TARGETS[name].label} | {TARGETS[name].settings} |"
              for name in summary["targets"] if name in TARGETS]
    if results["errors"]:
        lines += ["", "## Errors", ""] + [f"- {e['target']} round {e['round']}: "
                                         f"{e['error'].splitlines()[0]}" for e in results["errors"]]
    lines += ["", "## Plots", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    return "\n".join(lines) + "\n"


def savings(summary: dict[str, Any], clients: int) -> list[str]:
    """What each production setting saves: the ``prod-*`` variant (that one setting put back as the
    solution has it) against the production service, in the same run."""
    targets = summary["targets"]
    prod = targets.get(GOAL_TARGET, {}).get("loads", {}).get(clients)
    variants = [name for name in targets if name.startswith("prod-")]
    if not prod or not variants:
        return []
    lines = ["", f"## What each production setting saves (at {clients} clients)", "",
             "Each `prod-*` target is the production service with one setting put back; the saving is "
             "its CPU per request minus the production service's, the throughput it gives up, and its "
             f"p99 beside the production service's ({_fmt(prod['p99_ms'], '.1f')} ms).", "",
             "| setting put back | CPU µs/req | saving µs/req | req/s | production req/s ÷ this | p99 ms |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in variants:
        load = targets[name]["loads"].get(clients)
        if not load:
            continue
        saving = (load["cpu_us_per_req"] - prod["cpu_us_per_req"]
                  if load["cpu_us_per_req"] is not None and prod["cpu_us_per_req"] is not None else None)
        lines.append(f"| `{name}`: {TARGETS[name].settings if name in TARGETS else ''} | "
                     f"{_fmt(load['cpu_us_per_req'])} | {_fmt(saving)} | {_fmt(load['rps'])} | "
                     f"{_fmt(prod['rps'] / load['rps'] if load['rps'] else None, '.2f')} | "
                     f"{_fmt(load['p99_ms'], '.1f')} |")
    return lines


def rounds_table(results: dict[str, Any], clients: int) -> list[str]:
    """Every round at ``clients``: throughput beside the machine's load and the split of the load over
    the server's processes (connections held, CPU used), which is what makes rounds differ."""
    lines = ["", f"## Every round at {clients} clients: throughput and how the load was spread", "",
             "Connections: wrk's keep-alive connections held by each server process; CPU: seconds each "
             "process used during the run. A worker holding most connections saturates one core while "
             "the other idles: compare the rounds of one target by these columns, not by a median.", "",
             "| target | round | req/s | p99 ms | CPU µs/req | connections per process | CPU s per process "
             "| load avg (1 min) | others' cores |",
             "|---|---:|---:|---:|---:|---|---|---:|---:|"]
    for record in sorted(results["runs"], key=lambda r: (r["target"], r["round"])):
        for load in record["loads"]:
            if load["clients"] != clients:
                continue
            conns = load.get("connections_per_process")
            split = load.get("cpu_s_per_process")
            lines.append(f"| `{record['target']}` | {record['round']} | {_fmt(load['rps'])} | "
                         f"{_fmt(load['p99_ms'], '.1f')} | {_fmt(load['cpu_us_per_req'])} | "
                         f"{' + '.join(map(str, conns)) if conns else '–'} | "
                         f"{' + '.join(f'{c:g}' for c in split) if split else '–'} | "
                         f"{_fmt((load.get('load_avg') or [None])[0], '.2f')} | "
                         f"{_fmt(load.get('others_cores'), '.2f')} |")
    return lines


def plot(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """Throughput, p99 latency, CPU per request and cold start, one PNG each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary["targets"])
    if not names:
        return []
    paths = []
    clients = sorted({c for e in summary["targets"].values() for c in e["loads"]})
    for metric, title, log in (("rps", "Throughput (req/s, higher is better)", False),
                               ("p99_ms", "p99 latency (ms, lower is better)", True)):
        fig, ax = plt.subplots(figsize=(9, 4.5))
        width = 0.8 / len(clients)
        for i, c in enumerate(clients):
            values = [summary["targets"][n]["loads"].get(c, {}).get(metric) or 0 for n in names]
            bars = ax.bar([x + i * width for x in range(len(names))], values, width, label=f"{c} clients")
            if c == max(clients):
                ax.bar_label(bars, fmt="%.0f", fontsize=7)
        ax.set_xticks([x + width * (len(clients) - 1) / 2 for x in range(len(names))], names,
                      rotation=25, ha="right")
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
        ax.legend()
        fig.tight_layout()
        paths.append(out_dir / f"{metric}.png")
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)

    top = max(clients)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    bars = ax.bar(names, [summary["targets"][n]["loads"].get(top, {}).get("cpu_us_per_req") or 0
                          for n in names])
    ax.bar_label(bars, fmt="%.0f")
    ax.set_yscale("log")  # the untuned servers cost tens of times more: a linear axis hides the rest
    limit = summary["inprocess"].get("course_one_cpu_us")
    if limit:
        ax.axhline(limit, color="green", label="in-process cost of one prediction")
        ax.axhline(CPU_GOAL * limit, color="orange", linestyle="--", label=f"{CPU_GOAL} × in-process")
        ax.legend()
    ax.set_title(f"Server CPU per request at {top} clients (µs, log scale, lower is better)")
    ax.tick_params(axis="x", rotation=25)
    fig.tight_layout()
    paths.append(out_dir / "cpu_per_request.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(names, [summary["targets"][n]["cold_start_s"] or 0 for n in names])
    ax.set_title("Cold start to first answer (s)")
    ax.tick_params(axis="x", rotation=25)
    fig.tight_layout()
    paths.append(out_dir / "cold_start.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def write(results: dict[str, Any], out_dir: Path) -> Path:
    """Write results.json, the PNG plots and report.md into ``out_dir``; returns the report's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarise(results)
    (out_dir / RESULTS_JSON).write_text(json.dumps({**results, "summary": summary}, indent=1) + "\n")
    plots = plot(summary, out_dir)
    report = out_dir / REPORT_MD
    report.write_text(markdown(results, summary, [str(p) for p in plots]))
    return report
