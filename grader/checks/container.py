"""The learner's image (``--container`` only): it builds, runs the bento's service, and answers."""

from __future__ import annotations

import json

import requests

from bentokit import bento, bounded_http, contract
from grader.checks.live import TIMEOUT, Answer, known_problem
from grader.declare import BENTO, CONTAINER, LIVE, Checks
from grader.facts.run import Run

graded = Checks(group="container image", exercise="", needs=(CONTAINER, BENTO, LIVE))

BUILD_HINT = ("`bentoml containerize` must build your bento: keep the bentofile's python packages "
              "installable on Linux (pinned, no local paths) and its docker options valid.")
READY_HINT = ("the container must become ready on its own: the model is packed in the bento (the image "
              "never sees your store), so load it in __init__ from the bento's model reference.")


def served_routes(url: str) -> set[str] | None:
    """The API routes the running service publishes in its OpenAPI document."""
    try:
        response, body = bounded_http.request("GET", url + "/docs.json", timeout=TIMEOUT)
        return set(json.loads(body).get("paths", {})) if response.status_code == 200 else None
    except (requests.RequestException, ValueError, AttributeError, RecursionError):
        return None


@graded(points=10)
def container_image(run: Run, check) -> None:
    """your bento's image builds, runs and answers like your model"""
    facts = run.container_facts
    if not facts.engine:
        check.fail(facts.error)
    check.note(f"engine: {facts.engine}")
    # A refused Dockerfile's error says itself what to keep to; the build hint would send elsewhere.
    built = check.part("image builds", bool(facts.image),
                       facts.error if facts.refused else f"{facts.error}\nFix: {BUILD_HINT}")
    if built:
        size = f", {facts.size / 1e9:.2f} GB" if facts.size else ""
        check.note(f"image {facts.image} built in {facts.build_seconds:.0f} s{size}")
    ready = check.part("container runs and becomes ready", bool(facts.url),
                       f"{facts.error}\nFix: {READY_HINT}" if built else "not run: no image")
    if not ready:  # the remaining parts cannot pass without a running container
        check.part("serves the bentofile's service", False, "not checked: the container is not ready")
        check.part("answers the sample applicant like your model", False, "not checked")
    else:
        check.note(f"ready at {facts.url} after {facts.ready_seconds:.1f} s")
        # The bento's own manifest says which APIs the bentofile's service declares.
        manifest = run.bento_facts.manifest or {}
        wanted = set(bento.api_routes(manifest)) or {contract.CLASSIFY_PATH, contract.CLASSIFY_BATCH_PATH}
        routes = served_routes(facts.url)
        missing = sorted(wanted - (routes or set()))
        check.part("serves the bentofile's service", routes is not None and not missing,
                   f"the container does not publish {', '.join(missing) or 'an OpenAPI document'}: the image "
                   f"must run the service your bentofile names (service: \"service:CreditRiskClassifier\").")
        answer = Answer.post(facts.url + contract.CLASSIFY_PATH, contract.wrap(contract.SAMPLE_APPLICANT))
        why = known_problem(run, answer, "sample")  # the moved answer: the image has the served copy
        if run.served_refusal:  # answered as saved: a copy of the model, or a rule, would do (round 33)
            why = (f"not checked: the image holds your model as saved, which the grader could not move: "
                   f"{run.served_refusal}.")
        check.part("answers the sample applicant like your model", not why, why)
