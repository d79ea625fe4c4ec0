"""Child process: read the learner's model from the store and predict for the grader's applicants.

Run as ``python -m grader.children.model IN OUT``; IN holds ``{"tag": ..., "applicants": [...],
"holdout": [...]}``.
Unpickling the custom objects happens here, never in the grader's process. The model is loaded the
way BentoML would (with the framework module it was saved with), so the expected answers exist
whatever framework saved it. In the same call it predicts the held-out applicants' features, with
which the grader measures the model's AUC (their labels never reach this process). Writes JSON to OUT.

A pickle is code: one that names ``exec`` could rewrite this module's functions before the answer is
written, and forge every expected answer and the AUC. While :func:`facts_for` runs, an audit hook lets
a pickle name only what a model's pickles need (:func:`pickled_name_allowed`); anything else makes the
unpickling fail, and the model is reported as unreadable.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import pickle
import sys
from collections.abc import Iterator
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from grader.children import read_to_end, write_output

FRAMEWORKS = ("xgboost", "scikit-learn", "bentoml")
#: The functions a model's pickle may name: how copyreg rebuilds an object from its class and state.
#: Not numpy's array and dtype rebuilders: a dtype's pickled state can declare an object field to hold
#: raw bytes, a pointer the pickle chooses (a crash at best). A course model's pickles need no array.
PICKLED_FUNCTIONS = {("copyreg", "_reconstructor")}
PICKLED_BUILTINS = {"dict", "list", "set", "frozenset", "tuple", "bytes", "bytearray", "str", "int", "float",
                    "complex", "bool", "slice", "range", "object"}
_guarding = _hooked = False


def pickled_name_allowed(module: str, name: str) -> bool:
    """Whether a model's pickle may name ``module.name``: a container, copyreg's rebuilder, or a class
    of what a course model holds (:func:`model_class`)."""
    if (module, name) in PICKLED_FUNCTIONS:
        return True
    if module == "builtins":
        return name in PICKLED_BUILTINS
    if module.split(".")[0] not in ("numpy", "sklearn", "xgboost"):
        return False
    try:
        found: Any = importlib.import_module(module)
        for attr in name.split("."):
            found = getattr(found, attr)
    except (ImportError, AttributeError):
        return False
    return isinstance(found, type) and model_class(found)


def model_class(cls: type) -> bool:
    """A class a course model's pickles hold, whose objects a pickle builds from data alone: NumPy's
    scalar types (the DictVectorizer's ``dtype``, as a class), XGBoost's models, and scikit-learn's
    estimators that restore their state the way every estimator does (a class of a library whose own
    ``__setstate__`` runs code, such as SciPy's distributions, which exec a template from their state,
    is never one). No NumPy array or dtype object (see PICKLED_FUNCTIONS)."""
    import numpy as np
    import xgboost as xgb
    from sklearn.base import BaseEstimator

    if issubclass(cls, np.generic):
        return cls.__module__.split(".")[0] == "numpy"
    if cls.__new__ is not object.__new__:
        return False
    if cls is xgb.Booster or issubclass(cls, xgb.XGBModel):
        return True
    return (issubclass(cls, BaseEstimator) and cls.__module__.split(".")[0] == "sklearn"
            and cls.__setstate__ is BaseEstimator.__setstate__)


def _guard(event: str, args: tuple) -> None:
    if _guarding and event == "pickle.find_class" and not pickled_name_allowed(*args):
        raise pickle.UnpicklingError(f"the pickle names {args[0]}.{args[1]}, which is code, not a model's "
                                     "data: it was not run. Save only the model and the DictVectorizer "
                                     "(the grader reads XGBoost models, and estimators without arrays)")


def jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


def probabilities(model: Any, dv: Any, applicants: list[dict[str, Any]],
                  best: int | None = None) -> list[float]:
    """P(default) from a Booster, an XGBClassifier, or any classifier with ``predict_proba``; ``best``:
    from an XGBoost model's trees up to that iteration only."""
    import numpy as np
    import xgboost as xgb

    from bentokit import training

    if isinstance(model, xgb.Booster) or hasattr(model, "get_booster"):
        return [float(p) for p in training.predict_proba(model, dv, applicants, best)]
    if hasattr(model, "predict_proba"):
        features = dv.transform(applicants) if dv is not None else applicants  # a pipeline takes dicts
        return [float(p) for p in np.asarray(model.predict_proba(features))[:, 1]]
    raise TypeError(f"a {type(model).__name__} has no predict_proba")


def store_folder(path: str) -> str | None:
    """The ``name/version`` of the store's model folder that ``path`` really is, its links resolved, or
    None when it is no such folder of the store of ``$BENTOML_HOME``. BentoML takes a ``latest`` file's
    text as the version without checking it: ``link/../../other/version``, through a link, read a folder
    the mover never lists while its last two names named one it moved (red-team round 27)."""
    models = (Path(os.environ.get("BENTOML_HOME") or Path.home() / "bentoml") / "models").resolve()
    try:
        parts = Path(path).resolve().relative_to(models).parts
    except (OSError, ValueError, RuntimeError):  # outside the store, or a loop of links
        return None
    return "/".join(parts) if len(parts) == 2 else None


def best_iteration(model: Any) -> int | None:
    """An early-stopped XGBoost model's best iteration, when it stopped before its last tree."""
    booster = model if hasattr(model, "num_boosted_rounds") else getattr(model, "get_booster", lambda: None)()
    try:
        best = int(booster.best_iteration)
    except (AttributeError, TypeError, ValueError):  # no early stopping (XGBoost raises AttributeError)
        return None
    return best if 0 <= best < booster.num_boosted_rounds() - 1 else None


def facts_for(tag: str, applicants: list[dict[str, Any]],
              holdout: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The model's facts and predictions, its pickles :func:`guarded`."""
    with guarded():
        return _facts_for(tag, applicants, holdout)


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """Pickles unpickled meanwhile may name only what :func:`pickled_name_allowed` allows (an audit hook,
    added once per process: it cannot be removed; it lets everything through outside this block)."""
    global _guarding, _hooked
    if not _hooked:
        sys.addaudithook(_guard)
        _hooked = True
    _guarding = True
    try:
        yield
    finally:
        _guarding = False


def _facts_for(tag: str, applicants: list[dict[str, Any]],
               holdout: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    import bentoml
    from bentoml.exceptions import BentoMLException

    from bentokit import contract

    facts: dict[str, Any] = {"environment": {name: importlib_metadata.version(name) for name in FRAMEWORKS}}
    try:
        facts["versions"] = [str(m.tag) for m in bentoml.models.list(contract.MODEL_NAME)]
    except BentoMLException:  # no model of that name: an empty store
        facts["versions"] = []
    try:
        model = bentoml.models.get(tag)
    except (BentoMLException, ValueError) as err:
        facts["error"] = f"{type(err).__name__}: {err}"
        return facts
    info = model.info
    facts.update({
        "tag": str(model.tag),
        # The folder BentoML read it from (its tag comes from its model.yaml, which may name another):
        # the grader's mover names the models of the store it serves by folder.
        "folder": store_folder(model.path),
        "module": info.module,
        "labels": dict(info.labels),
        "metadata": {k: jsonable(v) for k, v in info.metadata.items()},
        "framework_versions": dict(info.context.framework_versions),
        "python_version": info.context.python_version,
    })
    try:
        objects = model.custom_objects
    except Exception as err:  # noqa: BLE001 - an unreadable pickle is the finding
        facts["custom_objects_error"] = f"{type(err).__name__}: {err}"
        objects = {}
    else:
        facts["custom_objects"] = {k: f"{type(v).__module__}.{type(v).__qualname__}"
                                   for k, v in objects.items()}
    dv = objects.get(contract.CUSTOM_OBJECT_KEY)
    facts["dv_fitted"] = bool(getattr(dv, "feature_names_", None))
    if "custom_objects_error" in facts:  # the service cannot read them either
        facts["predict_error"] = f"its custom objects cannot be read: {facts['custom_objects_error']}"
        return facts
    try:
        loaded = importlib.import_module(info.module).load_model(model)  # as the service would load it
        found = probabilities(loaded, dv if facts["dv_fitted"] else None, [*applicants, *(holdout or [])])
        facts["predictions"], facts["holdout_predictions"] = found[:len(applicants)], found[len(applicants):]
        # An early-stopped XGBoost model answers two ways, both its own: Booster.predict with every tree
        # (the course's service), predict_proba up to its best iteration (scikit-learn's way).
        if (best := best_iteration(loaded)) is not None and facts["dv_fitted"]:
            facts["predictions_best"] = probabilities(loaded, dv, applicants, best)
    except Exception as err:  # noqa: BLE001 - recorded for the checks, with the fix
        facts["predict_error"] = f"{type(err).__name__}: {err}".strip()
    return facts


def main(in_path: str, out_path: str) -> None:
    with open(in_path) as fh:
        request = json.load(fh)
    if "gate_fd" in request:  # started gated (Child(gate=True)), before the store is filled: import what
        import bentoml.xgboost  # noqa: F401 - reading it needs (xgboost, scikit-learn, SciPy) meanwhile

        read_to_end(request["gate_fd"])  # the grader lets it go on
    write_output(out_path, facts_for(request["tag"], request["applicants"], request.get("holdout")))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
