"""The model store: the saved model, its framework, custom object, labels, metadata and versions."""

from __future__ import annotations

import sys

from bentokit import contract
from grader.declare import IMPORT, MODEL, Checks
from grader.facts.quality import AUC_FLOOR, AUC_TOLERANCE
from grader.facts.run import Run, bentoml_home

graded = Checks(group="model store", exercise="train", needs=(MODEL,))

TRAIN_HINT = ("train and save the model (notebooks/02_train_and_save.ipynb, or "
              "`./kit python -m bentokit train`) with the same BENTOML_HOME the grader uses")


def need_model(run: Run, check) -> dict:
    facts = run.model_facts
    if "module" not in facts:
        error = facts.get("error", "")
        if "versions" not in facts:  # the reader itself failed: the store is not known to be empty
            check.fail(f"the model store could not be read: {error}")
        if not facts["versions"]:
            check.fail(f"no model named {contract.MODEL_NAME} in the store {bentoml_home()}: {TRAIN_HINT}.")
        check.fail(f"the model the service asks for ({run.source.model_tag}) cannot be read: {error}")
    return facts


@graded(points=3)
def model_saved(run: Run, check) -> None:
    """credit_risk_model is in the model store"""
    facts = need_model(run, check)
    check.note(f"{len(facts['versions'])} version(s); the latest is {facts['tag']}")


@graded(points=2)
def model_framework(run: Run, check) -> None:
    """the model is saved with bentoml.xgboost"""
    facts = need_model(run, check)
    check.part("framework module", facts["module"] == "bentoml.xgboost",
               f"the model was saved with {facts['module']}: save it with "
               f"bentoml.xgboost.save_model(\"{contract.MODEL_NAME}\", model, custom_objects=...).")


@graded(points=3)
def model_custom_object(run: Run, check) -> None:
    """custom object "dictVectorizer" is a fitted DictVectorizer"""
    facts = need_model(run, check)
    if "custom_objects" not in facts:
        check.fail(f"the custom objects cannot be read: {facts.get('custom_objects_error', 'none saved')}.")
    objects = facts["custom_objects"]
    key = contract.CUSTOM_OBJECT_KEY
    saved = ", ".join(f"{k!r} ({v.rsplit('.', 1)[-1]})" for k, v in objects.items()) or "none"
    check.part(f'custom object "{key}"', key in objects, weight=2,
               hint=f'save the DictVectorizer with custom_objects={{"{key}": dv}} (saved: {saved}).')
    is_dv = objects.get(key, "").endswith("DictVectorizer")
    check.part("a fitted DictVectorizer", is_dv and facts.get("dv_fitted"),
               f'custom_objects["{key}"] must be the DictVectorizer fitted on the training data '
               f'(found {objects.get(key, "nothing")}, fitted: {bool(facts.get("dv_fitted"))}).')


@graded(points=2)
def model_labels_metadata(run: Run, check) -> None:
    """labels owner and stage, metadata auc"""
    facts = need_model(run, check)
    labels, metadata = facts.get("labels") or {}, facts.get("metadata") or {}
    for label in ("owner", "stage"):
        check.part(f"label {label}", bool(labels.get(label)),
                   f'save with labels={{"owner": ..., "stage": "dev"}} (labels found: {labels or "none"}).')
    auc = metadata.get("auc")
    check.part("metadata auc", isinstance(auc, int | float) and 0 <= auc <= 1,
               f'save the held-out AUC with metadata={{"auc": auc}} (metadata keys: {sorted(metadata)}).')


@graded(points=3)
def model_quality(run: Run, check) -> None:
    """held-out AUC, measured by the grader, beats the floor and matches the metadata"""
    need_model(run, check)
    quality = run.quality
    if quality.measured is None:
        check.fail(f"the grader could not measure the model's AUC ({quality.error}): save the "
                   f"DictVectorizer with the model (custom object \"{contract.CUSTOM_OBJECT_KEY}\") and a "
                   f"model that predicts probabilities (an xgboost Booster, or a classifier with "
                   f"predict_proba).")
    measured = quality.measured
    check.note(f"held-out AUC {measured:.3f}, measured on the course's 20 % held-out split of {quality.data}")
    check.part("better than the floor", measured >= AUC_FLOOR,
               f"the model's held-out AUC is {measured:.3f}, under the floor of {AUC_FLOOR}: it ranks "
               f"applicants barely better than a constant answer (0.5); the course's model reaches about "
               f"0.78-0.83. Train it as the course does (training.train: DictVectorizer + XGBoost) and save "
               f"that model.")
    if quality.recorded is not None:
        check.part("metadata auc as measured", abs(quality.recorded - measured) <= AUC_TOLERANCE,
                   f"the metadata says auc {quality.recorded:.3f}, the grader measures {measured:.3f}: save "
                   f"the AUC your training measured on the held-out data "
                   f"(metadata={{\"auc\": trained.auc}}), not a number written by hand.")


@graded(points=2, exercise="service", needs=(MODEL, IMPORT))
def service_model_tag(run: Run, check) -> None:
    """the tag the service resolves to exists"""
    facts = run.service_facts
    svc = facts.service() if facts.imported else None
    refs = (svc or {}).get("models") or []
    if refs:
        for ref in refs:
            check.part(ref["tag"], "resolved" in ref,
                       f"{ref['tag']} is not in the store {bentoml_home()} ({ref.get('error', '')}): "
                       f"{TRAIN_HINT}, or ask for {contract.MODEL_NAME}:latest.")
        return
    model = run.model_facts
    check.part(run.source.model_tag, "tag" in model,
               f"{run.source.model_tag} is not in the store {bentoml_home()}: {TRAIN_HINT}.")


@graded(points=2)
def model_versions(run: Run, check) -> None:
    """recorded framework and Python versions match"""
    facts = need_model(run, check)
    env = facts.get("environment", {})
    recorded = facts.get("framework_versions", {})
    for name, version in recorded.items():
        check.part(f"{name} version", env.get(name, version) == version,
                   f"the model was saved with {name} {version}, this environment has {env.get(name)}: "
                   f"retrain and save with the pinned versions (pip install -e . in the kit).")
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    python = ".".join(str(facts.get("python_version", "")).split(".")[:2])
    check.part("Python version", python == here,
               f"the model was saved with Python {python}, this environment runs {here}: "
               f"pickled custom objects may not load; retrain in this environment.")
