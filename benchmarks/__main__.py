"""``python -m benchmarks run|fuzz|soak|profile|layers|start|image|kit|report``: see the README."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import store
from grader.arguments import number

#: A count of runs, saves or rounds: a median of none would be an error after minutes of work.
count = number(1, integer=True, what="1 or more")


def class_size(text: str) -> int:
    """0 (no class run) or a class of 3 or more (make_class plants two copies of its first learner)."""
    value = int(text)
    if value != 0 and value < 3:
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 (no class run) or 3 or more")
    return value

RESULTS = Path(__file__).resolve().parent / "results"


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _names(text: str) -> list[str]:
    return [x for x in text.split(",") if x]


def _prepare(args: argparse.Namespace) -> Path:
    home = store.use_temporary_home(args.bentoml_home)
    tag, source = store.ensure_model(args.data)
    args.model, args.source = tag, source
    print(f"model {tag} (data: {source}) in BENTOML_HOME={home}", flush=True)
    return home


def cmd_run(args: argparse.Namespace) -> int:
    from benchmarks import run
    from benchmarks.targets import DEFAULT_TARGETS, TARGETS

    targets = args.targets or list(DEFAULT_TARGETS)
    if args.variants:
        targets += [name for name in TARGETS if name.startswith("prod-") and name not in targets]
    plan = run.Plan(targets=targets, clients=args.clients, seconds=args.seconds,
                    rounds=args.rounds, warmup=args.warmup)
    print(f"benchmark: {plan.describe()}", flush=True)
    results = run.run(plan, args.out, progress=lambda line: print(line, flush=True))
    results["meta"].update(model=args.model, data=args.source, note=args.note)
    print(f"report: {run.finish(results, args.out)}")
    problems = run.failures(results)
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


def cmd_layers(args: argparse.Namespace) -> int:
    from benchmarks import layers

    found = layers.measure(rounds=args.rounds, requests=args.requests,
                           progress=lambda line: print(line, flush=True))
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"layers: {layers.write(found, args.out, layers.production_server(args.out))}")
    return 0


def _measured(name: str, args: argparse.Namespace, measure: Callable[..., dict[str, Any]],
              write: Callable[..., Path], verdicts: Callable[[dict[str, Any]], dict[str, bool]] | None = None,
              **options: Any) -> int:
    """Print how fast this machine is, ``measure`` with progress lines, ``write`` the report (which
    states the machine's speed), and print each goal's verdict."""
    from benchmarks.report import verdict
    from grader.bench import machine_reference

    machine = machine_reference()
    print(machine, flush=True)
    found = measure(**options, progress=lambda line: print(line, flush=True))
    print(f"{name}: {write(found, args.out, machine=machine[0].upper() + machine[1:] + '.')}")
    for goal, ok in (verdicts(found) if verdicts else {}).items():
        print(f"{goal}: {verdict(ok)}")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    from benchmarks import start

    return _measured("start", args, start.measure, start.write, rounds=args.rounds)


def cmd_image(args: argparse.Namespace) -> int:
    from benchmarks import image
    from bentokit import containers

    try:
        engine = containers.require_engine()
    except containers.ContainerError as error:
        print(error, file=sys.stderr)
        return 2
    return _measured("image", args, image.measure, image.write, image.verdicts, rounds=args.rounds,
                     engine=engine)


def cmd_kit(args: argparse.Namespace) -> int:
    from benchmarks import kit

    return _measured("kit", args, kit.measure, kit.write, kit.verdicts, runs=args.runs, saves=args.saves,
                     class_size=args.class_size)


def cmd_report(args: argparse.Namespace) -> int:
    from benchmarks import report, run

    results = json.loads((args.out / (run.PARTIAL_JSON if args.partial else report.RESULTS_JSON)).read_text())
    if args.partial:
        results["meta"].setdefault("finished", "(cut short)")
        results["meta"].setdefault("load_after", run.load_averages())
        results["meta"]["note"] = args.note or results["meta"].get("note", "")
    print(f"report: {report.write(results, args.out)}")
    return 0


def cmd_fuzz(args: argparse.Namespace) -> int:
    from benchmarks import fuzz

    return fuzz.main(max_examples=args.max_examples, time_limit=args.time_limit, out_dir=args.out)


def cmd_soak(args: argparse.Namespace) -> int:
    from benchmarks import soak

    return soak.main(seconds=args.seconds, clients=args.clients, out_dir=args.out, warmup=args.warmup)


def cmd_profile(args: argparse.Namespace) -> int:
    from benchmarks import profile

    return profile.main(target=args.target, seconds=args.seconds, clients=args.clients, out_dir=args.out)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--out", type=Path, default=RESULTS, help="results folder (default: %(default)s)")
    common = argparse.ArgumentParser(add_help=False, parents=[out])
    common.add_argument("--bentoml-home", help="model store to use (default: a new temporary one)")
    common.add_argument("--data", help="training data: a CSV path, 'download' or 'generated' "
                        "(default: $CREDIT_SCORING_CSV, else generated)")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", parents=[common], help="serve each target in turn and load it with wrk")
    r.add_argument("--targets", type=_names, default=None,
                   help="comma-separated (default: the peers and the two BentoML services)")
    r.add_argument("--variants", action="store_true",
                   help="add the production service's one-setting variants (prod-*: what each setting saves)")
    r.add_argument("--clients", type=_ints, default=[1, 8, 32], help="default: 1,8,32")
    r.add_argument("--seconds", type=float, default=10.0, help="per wrk run (default: %(default)s)")
    r.add_argument("--rounds", type=count, default=3, help="interleaved rounds (default: %(default)s)")
    r.add_argument("--note", default="", help="a line printed at the top of the report, e.g. "
                   "'PRELIMINARY: measured while other work loaded the machine'")
    r.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up (default: %(default)s)")
    r.set_defaults(func=cmd_run)

    f = sub.add_parser("fuzz", parents=[common], help="schemathesis against /docs.json: no 5xx")
    f.add_argument("--max-examples", type=count, default=100, help="per operation (default: %(default)s)")
    f.add_argument("--time-limit", type=float, default=300.0, help="seconds (default: %(default)s)")
    f.set_defaults(func=cmd_fuzz)

    s = sub.add_parser("soak", parents=[common], help="sustained load: no failed request, flat memory")
    s.add_argument("--seconds", type=float, default=60.0, help="default: %(default)s")
    s.add_argument("--clients", type=count, default=32, help="default: %(default)s")
    s.add_argument("--warmup", type=float, default=10.0,
                   help="seconds of load before sampling (default: %(default)s)")
    s.set_defaults(func=cmd_soak)

    pr = sub.add_parser("profile", parents=[common], help="py-spy profile of a worker under wrk load")
    pr.add_argument("--target", default="bentoml-production", help="default: %(default)s")
    pr.add_argument("--seconds", type=float, default=15.0, help="default: %(default)s")
    pr.add_argument("--clients", type=count, default=32, help="default: %(default)s")
    pr.set_defaults(func=cmd_profile)

    la = sub.add_parser("layers", parents=[common],
                        help="BentoML's request path in-process, one middleware left out at a time")
    la.add_argument("--rounds", type=count, default=3, help="interleaved rounds (default: %(default)s)")
    la.add_argument("--requests", type=count, default=2000, help="per timed loop (default: %(default)s)")
    la.set_defaults(func=cmd_layers)

    st = sub.add_parser("start", parents=[common],
                        help="serve and build solutions/ with bentoml and with bentokit.lazy_bentoml")
    st.add_argument("--rounds", type=count, default=3, help="interleaved rounds (default: %(default)s)")
    st.set_defaults(func=cmd_start)

    im = sub.add_parser("image", parents=[common],
                        help="the kit's image: its size by layer, and its start to /readyz by phase")
    im.add_argument("--rounds", type=count, default=5, help="starts measured (default: %(default)s)")
    im.set_defaults(func=cmd_image)

    ki = sub.add_parser("kit", parents=[out],  # its gradings and learn loops make their own stores
                        help="the kit's own speed: full gradings of solutions/, learn watch's saves, a class")
    ki.add_argument("--runs", type=count, default=5, help="gradings (default: %(default)s)")
    ki.add_argument("--saves", type=count, default=3, help="saves per exercise (default: %(default)s)")
    ki.add_argument("--class-size", type=class_size, default=40,
                    help="learners of the class run at -j 2; 0 skips it (default: %(default)s)")
    ki.set_defaults(func=cmd_kit)

    rep = sub.add_parser("report", parents=[common], help="re-write the report from results.json")
    rep.add_argument("--partial", action="store_true",
                     help="from the measurements of a run cut short (results.partial.json)")
    rep.add_argument("--note", default="", help="a line printed at the top of the report")
    rep.set_defaults(func=cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command in ("report", "kit"):  # they need no model store of this run
        return args.func(args)
    home = _prepare(args)
    try:
        return args.func(args)
    finally:
        if not args.bentoml_home:  # the temporary store this run made
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
