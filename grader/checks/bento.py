"""The built bento: it exists, packs the model and exposes the APIs."""

from __future__ import annotations

from bentokit import bento as kit_bento
from bentokit import contract
from grader.declare import BENTO, MODEL, Checks
from grader.facts.run import Run

graded = Checks(group="built bento", exercise="bentofile", needs=(BENTO, MODEL))


def need_bento(run: Run, check) -> dict:
    facts = run.bento_facts
    if facts.manifest is None:
        check.fail(facts.error)
    return facts.manifest


def built_from_this(run: Run) -> bool:
    """Whether the bento packs the submission's own service.py, byte for byte."""
    packed = run.bento_facts.service_source
    return packed is not None and packed == run.source.raw


def need_own_bento(run: Run, check) -> dict:
    """The bento's manifest, once the bento is known to be built from this service.py: a bento built
    from other code (the demo's, the reference's) earns no point."""
    manifest = need_bento(run, check)
    if not built_from_this(run):
        check.fail(f"not checked: the bento {run.bento_facts.tag} was not built from {run.source.path} "
                   f"(see \"a bento of the service is built\").")
    return manifest


@graded(points=3)
def bento_built(run: Run, check) -> None:
    """a bento of the service is built"""
    manifest = need_bento(run, check)
    check.note(f"bento {run.bento_facts.tag}")
    if not built_from_this(run):  # another's bento (the demo's, the reference's) earns nothing
        check.fail(f"the latest bento {run.bento_facts.tag} was not built from this service.py: it packs a "
                   f"different one than {run.source.path}. Run `bentoml build` again in {run.submission} "
                   f"(or grade with --build).")
    check.part("bento name", manifest.get("name") == contract.SERVICE_NAME,
               f"the bento is named {manifest.get('name')!r}, expected {contract.SERVICE_NAME!r}.")


@graded(points=4)
def bento_packs_model(run: Run, check) -> None:
    """bento.yaml lists the model"""
    manifest = need_own_bento(run, check)
    packed = [t for t in kit_bento.packed_models(manifest) if t.split(":")[0] == contract.MODEL_NAME]
    check.part(f"{contract.MODEL_NAME} packed", bool(packed), weight=3,
               hint=f"the bento packs no {contract.MODEL_NAME} "
                    f"(models: {kit_bento.packed_models(manifest)}): "
                    f"the model is left out when it is loaded at module level or only inside __init__. "
                    f"Declare model_ref = bentoml.models.BentoModel(\"{contract.MODEL_NAME}:latest\") as a "
                    f"class attribute and rebuild.")
    wanted = run.model_facts.get("tag")
    if packed and wanted:
        check.part("the current model version", wanted in packed,
                   f"the bento packs {', '.join(packed)} but the store's model is now {wanted}: "
                   f"`latest` is resolved at build time, so rebuild after retraining.")


@graded(points=3)
def bento_apis(run: Run, check) -> None:
    """bento.yaml lists the /classify and /classify_batch APIs"""
    manifest = need_own_bento(run, check)
    routes = kit_bento.api_routes(manifest)
    for route in (contract.CLASSIFY_PATH, contract.CLASSIFY_BATCH_PATH):
        check.part(route, route in routes,
                   f"the bento has no {route} API (routes: {routes}): add it and rebuild.")
