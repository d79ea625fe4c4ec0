"""Child process: import the learner's ``service.py`` and describe the BentoML services it defines.

Run as ``python -m grader.children.service IN OUT [--build [--unlocked]]``; IN holds
``{"folder": SUBMISSION}`` and, optionally, ``"model"``: the model reader's request
(:mod:`grader.children.model`). Never imported by the grader itself. In this order, in one process
(each step would otherwise import BentoML, XGBoost and scikit-learn in a process of its own):

1. with ``"model"``: the model reader's facts, written to the pipe ``"answer_fd"`` and closed before
   any learner module is importable (the working directory is not the submission yet);
2. service.py imported from SUBMISSION, and the JSON facts written to OUT;
3. with ``--build``: ``bentoml build`` of SUBMISSION (BentoML's own command line, its output on
   stdout), which finds service.py imported already; with ``--unlocked``, without its packages' lock,
   which the grader does itself (:func:`bentokit.private.build_without_package_lock`).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from typing import Any

from grader.children import write_output


def describe(svc: Any) -> dict[str, Any]:
    """Name, bento name, APIs (route, batchable, input schema) and model references of a Service."""
    from bentokit.private import to_snake_case

    apis = {}
    for name, api in svc.apis.items():
        entry: dict[str, Any] = {"route": api.route, "batchable": bool(api.batchable)}
        try:
            entry["params"] = list(api.input_spec.model_fields)
            entry["input_schema"] = api.input_spec.model_json_schema()
        except Exception as err:  # an input spec pydantic cannot describe
            entry["schema_error"] = f"{type(err).__name__}: {err}"
        apis[name] = entry
    models = []
    for ref in svc.models:
        entry = {"tag": str(getattr(ref, "tag", ref))}
        try:
            entry["resolved"] = str(ref.resolve().tag)
        except Exception as err:
            entry["error"] = f"{type(err).__name__}: {err}"
        models.append(entry)
    return {"name": svc.name, "bento_name": to_snake_case(svc.name), "apis": apis, "models": models,
            "image": describe_image(getattr(svc, "image", None))}


def describe_image(image: Any) -> dict[str, Any] | None:
    """The runtime a service declares with the image SDK (``image=bentoml.images.Image(...)``), or None.

    Read from BentoML's own Image object rather than the syntax tree: chained calls, variables and
    ``requirements_file(...)`` are then resolved exactly as ``bentoml build`` resolves them.
    """
    if image is None:
        return None
    return {
        "python_version": image.python_version,
        "base_image": image.base_image,
        "requirements": [line.strip() for line in image.python_requirements.splitlines() if line.strip()],
        "commands": list(image.commands),
        "lock_python_packages": bool(image.lock_python_packages),
    }


def inspect(out_path: str, folder: str) -> bool:
    """Import service.py from ``folder``, write the facts; whether it imported."""
    sys.path.insert(0, folder)
    facts: dict[str, Any] = {"imported": False}
    try:
        module = importlib.import_module("service")
    except BaseException as err:  # SystemExit and KeyboardInterrupt are the learner's too
        lines = traceback.format_exception(type(err), err, err.__traceback__)
        facts["error"] = f"{type(err).__name__}: {err}"
        facts["traceback"] = "".join(lines[-6:])
        write_output(out_path, facts)
        return False
    facts["imported"] = True
    import bentoml

    facts["services"] = {attr: describe(value) for attr, value in vars(module).items()
                         if isinstance(value, bentoml.Service)}
    write_output(out_path, facts)
    return True


def build(folder: str, unlocked: bool = False) -> int:
    """``bentoml build FOLDER --output tag`` through BentoML's own console entry point; its exit code."""
    from importlib.metadata import entry_points

    if unlocked:
        from bentokit.private import build_without_package_lock

        build_without_package_lock()
    (command,) = entry_points(group="console_scripts", name="bentoml")
    sys.stdout.flush()
    try:
        command.load().main(["build", folder, "--output", "tag"], prog_name="bentoml")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1
    return 0


def main(in_path: str, out_path: str, args: list[str]) -> int:
    with open(in_path) as fh:
        request = json.load(fh)
    model = request.get("model")
    if model is not None:  # the answer goes through the pipe, closed before service.py is imported
        from grader.children.model import facts_for

        answer = json.dumps(facts_for(model["tag"], model["applicants"], model.get("holdout")), default=str)
        with os.fdopen(request["answer_fd"], "wb") as pipe:
            pipe.write(answer.encode())
    folder = request["folder"]  # absolute: service.py may change the working directory at import
    os.chdir(folder)
    if not inspect(out_path, folder) or "--build" not in args:
        return 0
    return build(folder, unlocked="--unlocked" in args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
