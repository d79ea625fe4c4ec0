"""``python -m bentokit``: the kit's main job and its parts, with progress and plain errors."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import requests

from bentokit import contract
from bentokit.data import DATA_ENV, DataError


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

    print()
    print(f"Model tag : {model.tag}")
    print(f"Bento tag : {built.tag}")
    print(f"Sample applicant  -> HTTP {valid.status_code} {json.dumps(valid.json())}")
    print(f"Invalid request   -> HTTP {invalid.status_code} {json.dumps(invalid.json())}")
    ok = valid.status_code == 200 and invalid.status_code == 400
    print("Demo finished: the service works." if ok else "Demo finished with unexpected answers.")
    return 0 if ok else 1


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
    train.set_defaults(func=cmd_train)
    demo.set_defaults(func=cmd_demo)
    return top


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    args = parser().parse_args(argv)
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
