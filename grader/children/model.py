"""Child process: read the learner's model from the store and predict for the grader's applicants.

Run as ``python -m grader.children.model IN OUT``; IN holds ``{"tag": ..., "applicants": [...]}``.
Unpickling the custom objects happens here, never in the grader's process. Writes JSON to OUT.
"""

from __future__ import annotations

import json
import sys
from importlib import metadata as importlib_metadata
from typing import Any

from grader.children import write_output

FRAMEWORKS = ("xgboost", "scikit-learn", "bentoml")


def jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


def facts_for(tag: str, applicants: list[dict[str, Any]]) -> dict[str, Any]:
    import bentoml
    from bentoml.exceptions import NotFound

    from bentokit import contract, training

    facts: dict[str, Any] = {
        "versions": [str(m.tag) for m in bentoml.models.list(contract.MODEL_NAME)],
        "environment": {name: importlib_metadata.version(name) for name in FRAMEWORKS},
    }
    try:
        model = bentoml.models.get(tag)
    except (NotFound, ValueError) as err:
        facts["error"] = f"{type(err).__name__}: {err}"
        return facts
    info = model.info
    facts.update({
        "tag": str(model.tag),
        "module": info.module,
        "labels": dict(info.labels),
        "metadata": {k: jsonable(v) for k, v in info.metadata.items()},
        "framework_versions": dict(info.context.framework_versions),
        "python_version": info.context.python_version,
    })
    try:
        objects = model.custom_objects
    except Exception as err:
        facts["custom_objects_error"] = f"{type(err).__name__}: {err}"
        return facts
    facts["custom_objects"] = {k: f"{type(v).__module__}.{type(v).__qualname__}" for k, v in objects.items()}
    dv = objects.get(contract.CUSTOM_OBJECT_KEY)
    facts["dv_fitted"] = bool(getattr(dv, "feature_names_", None))
    if not facts["dv_fitted"] or info.module != "bentoml.xgboost":
        return facts
    try:
        booster = bentoml.xgboost.load_model(model)
        facts["predictions"] = [float(p) for p in training.predict_proba(booster, dv, applicants)]
    except Exception as err:
        facts["predict_error"] = f"{type(err).__name__}: {err}"
    return facts


def main(in_path: str, out_path: str) -> None:
    with open(in_path) as fh:
        request = json.load(fh)
    write_output(out_path, facts_for(request["tag"], request["applicants"]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
