"""``python -m bentokit``: the kit's main job and its parts, with progress and plain errors."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from bentokit import contract
from bentokit.cache import cache_dir
from bentokit.data import DATA_ENV, DataError

if TYPE_CHECKING:  # imported lazily below: BentoML takes a while to import
    from bentokit.server import RunningServer

#: Overrides where ``demo`` keeps its own BentoML store (default: ``~/.cache/bentokit/demo-home``).
DEMO_HOME_ENV = "BENTOKIT_DEMO_HOME"


def demo_home() -> Path:
    """The demo's own BentoML home, apart from the learner's store: ``$BENTOKIT_DEMO_HOME`` or
    ``demo-home`` in the kit's cache folder (``~/.cache/bentokit``)."""
    return Path(os.environ.get(DEMO_HOME_ENV) or cache_dir() / "demo-home").expanduser().resolve()


def use_demo_home() -> Path:
    """Point BentoML (here and in the processes this one starts) at the demo's home, before it is imported."""
    if "bentoml" in sys.modules:
        raise RuntimeError("use_demo_home() must run before bentoml is imported")
    home = demo_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["BENTOML_HOME"] = str(home)
    return home


def keep_only(model_tag, bento_tag) -> int:
    """Delete every other version of the demo's model and bento from the (demo's) store; how many went.

    The demo runs in its own home, so this never touches the learner's store; it keeps that home at
    one model and one bento however often the demo runs.
    """
    import bentoml

    gone = 0
    for item in bentoml.bentos.list(contract.SERVICE_NAME):
        if item.tag != bento_tag:
            bentoml.bentos.delete(item.tag)
            gone += 1
    for item in bentoml.models.list(contract.MODEL_NAME):
        if item.tag != model_tag:
            bentoml.models.delete(item.tag)
            gone += 1
    return gone


class Steps:
    """Numbered progress lines: ``[2/6] Training …  done in 1.2 s``."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0

    def start(self, what: str) -> float:
        self.done += 1
        print(f"[{self.done}/{self.total}] {what} …", flush=True)
        return time.monotonic()

    @staticmethod
    def report(started: float, result: str = "") -> None:
        print(f"      {result}{'  ' if result else ''}({time.monotonic() - started:.1f} s)", flush=True)


def train_and_save(source: str | None, stage: str, steps: Steps):
    """Load data, train, save to the model store; returns the BentoML model."""
    from bentokit import data, training

    t = steps.start("Loading the credit data")
    credit = data.load(source)
    steps.report(t, f"data: {credit.description}")
    t = steps.start("Training DictVectorizer + XGBoost (course hyper-parameters)")
    trained = training.train(credit)
    steps.report(t, f"held-out AUC {trained.auc:.4f}")
    t = steps.start("Saving to the BentoML model store")
    model = training.save(trained, stage=stage)
    steps.report(t, f"model {model.tag}")
    return model


def cmd_train(args: argparse.Namespace) -> int:
    import bentoml

    model = train_and_save(args.data, args.stage, Steps(3))
    print(f"Stored at {bentoml.models.get(model.tag).path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bentokit import bento, server

    steps = Steps(6)
    print(f"      BentoML home (the demo's own store): {os.environ['BENTOML_HOME']}", flush=True)
    model = train_and_save(args.data, args.stage, steps)

    t = steps.start(f"Building the bento from {args.project_dir / 'bentofile.yaml'}")
    built = bento.build(args.project_dir)
    packed = bento.packed_models(bento.manifest(built))
    steps.report(t, f"bento {built.tag} packs {', '.join(packed) or 'NO MODEL'}")

    t = steps.start(f"Serving {built.tag} on a free loopback port")
    with server.serving(str(built.tag), args.project_dir, timeout=args.timeout) as running:
        steps.report(t, f"ready at {running.url}")
        t = steps.start("Sending the sample applicant and an invalid request")
        url = running.url + contract.CLASSIFY_PATH
        valid = requests.post(url, json=contract.wrap(contract.SAMPLE_APPLICANT), timeout=30)
        invalid = requests.post(url, json=contract.invalid_bodies()["unknown_category"], timeout=30)
        steps.report(t)
    print("      server stopped")
    keep_only(model.tag, built.tag)

    print()
    print(f"Model tag : {model.tag}")
    print(f"Bento tag : {built.tag}")
    print(f"Store     : {os.environ['BENTOML_HOME']} (the demo's own; serve it with ./kit serve --demo)")
    print(f"Sample applicant  -> HTTP {valid.status_code} {json.dumps(valid.json())}")
    print(f"Invalid request   -> HTTP {invalid.status_code} {json.dumps(invalid.json())}")
    ok = valid.status_code == 200 and invalid.status_code == 400
    print("Demo finished: the service works." if ok else "Demo finished with unexpected answers.")
    return 0 if ok else 1


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve a built bento on a free loopback port until Ctrl-C, echoing its log."""
    import bentoml

    from bentokit import server

    try:
        bento = bentoml.bentos.get(args.tag)
    except bentoml.exceptions.NotFound:
        where = "the demo's store" if args.demo else "your BentoML store"
        print(f"error: no bento {args.tag} in {where} ({os.environ.get('BENTOML_HOME') or '~/bentoml'}).\n"
              f"Build one first: ./kit bentoml build exercises/ (yours) or ./kit demo (the demo's), "
              f"and see ./kit bentoml list", file=sys.stderr)
        return 1
    # Ctrl-C stops the server even when this process was started with SIGINT ignored (a background job of
    # a script, nohup), and so does a plain `kill` (SIGTERM): both end in the `finally` below.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with server.serving(str(bento.tag), timeout=args.timeout, port=args.port) as running:
            return _echo_until_stopped(running, bento.tag)
    except KeyboardInterrupt:  # while it was starting: stopped the same way
        print("\nstopping the server …", flush=True)
        return 0


def _echo_until_stopped(running: RunningServer, tag: object) -> int:
    """Say where the server is, then echo its log until Ctrl-C (0) or until it exits (1)."""
    print(f"Serving {tag} at {running.url}  (Swagger UI: {running.url}/ ; Ctrl-C stops)", flush=True)
    body = json.dumps(contract.wrap(contract.SAMPLE_APPLICANT))
    print(f"Try: curl -s -X POST {running.url}{contract.CLASSIFY_PATH} "
          f"-H 'Content-Type: application/json' -d '{body}'", flush=True)
    # Written by hand: echo the server's log file as it grows (the log must stay a file for
    # bentokit.server's error messages); the process's own wait paces the loop.
    try:
        with open(running.log_path, errors="replace") as log:
            while True:
                sys.stdout.write(log.read())
                sys.stdout.flush()
                try:
                    code = running.process.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    continue
                sys.stdout.write(log.read())
                print(f"error: the server exited with code {code}", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        print("\nstopping the server …", flush=True)  # before serving() stops it
        return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m bentokit", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    data_help = (f"a path to CreditScoring.csv, 'download' or 'generated' "
                 f"(default: ${DATA_ENV} if set, else generated)")

    train = sub.add_parser("train", help="train the course model and save it to the model store")
    demo = sub.add_parser("demo", help="train, save, build, serve, call and stop: the whole module")
    for command in (train, demo):
        command.add_argument("--data", help=data_help)
        command.add_argument("--stage", default="dev", help="the model's 'stage' label")
    demo.add_argument("--project-dir", type=Path, default=Path("."),
                      help="the folder holding bentofile.yaml (default: .)")
    demo.add_argument("--timeout", type=float, default=90, help="seconds to wait for the server")
    serve = sub.add_parser("serve", help="serve a built bento on a free loopback port (Ctrl-C stops)")
    serve.add_argument("tag", nargs="?", default=f"{contract.SERVICE_NAME}:latest",
                       help=f"the bento to serve (default: {contract.SERVICE_NAME}:latest)")
    serve.add_argument("--demo", action="store_true", help="serve from the demo's store instead of yours")
    serve.add_argument("--port", type=int, help="the port (default: a free one, printed)")
    serve.add_argument("--timeout", type=float, default=90, help="seconds to wait for the server")
    train.set_defaults(func=cmd_train)
    serve.set_defaults(func=cmd_serve)
    demo.set_defaults(func=cmd_demo)
    return top


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    args = parser().parse_args(argv)
    if args.command == "demo" or getattr(args, "demo", False):
        use_demo_home()
    from bentoml.exceptions import BentoMLException

    from bentokit.bento import BuildError
    from bentokit.server import ServerError

    try:
        return args.func(args)
    except (DataError, ServerError, BuildError, BentoMLException, requests.RequestException) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
