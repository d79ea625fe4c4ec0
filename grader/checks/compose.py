"""composed_service.py: an API service and a model service composed with ``bentoml.depends`` (the 1.4 runner).

Not part of the default 100-point grade (``graded=False``): ``./kit learn`` and
``python -m grader --exercise compose`` run these checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from bentokit import bento as kit_bento
from bentokit import bounded_http, contract
from grader.checks.live import Answer, need_expected, need_moved, need_telling, problem
from grader.declare import MODEL, Checks
from grader.facts import compose
from grader.facts.run import Run

graded = Checks(group="composed services", exercise="compose", needs=(MODEL,), graded=False)
#: The last line of a Python traceback in the server's log: the exception and its message.
ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Unavailable)\b.*: ")


@pytest.fixture(scope="module")
def composed_source(run: Run) -> compose.ComposedSource:
    return compose.read(run.submission / compose.FILE)


@pytest.fixture(scope="module")
def composed(run: Run, composed_source: compose.ComposedSource) -> Iterator[compose.ComposedRun]:
    """The composed bento's build and server, started once for this module, stopped at its end."""
    started = compose.ComposedRun(run, ready_timeout=run.options.ready_timeout,
                                  build_timeout=run.options.build_timeout + 60)
    try:
        if composed_source.source.parsed:
            started.start()
        yield started
    finally:
        started.close()


def need_source(facts: compose.ComposedSource, check) -> compose.ComposedSource:
    src = facts.source
    if not src.exists:
        check.fail(f"{compose.FILE} not found: copy it from the exercises folder "
                   f"(notebooks/04b_compose.ipynb teaches it).")
    if src.syntax_error:
        check.fail(f"{compose.FILE} does not parse: {src.syntax_error}")
    return facts


@graded(points=3)
def compose_depends(run: Run, check, composed_source) -> None:
    """a model service, and an API service that uses it through bentoml.depends"""
    facts = need_source(composed_source, check)
    models = facts.model_services()
    check.part("a model service", len(models) == 1,
               f"exactly one @bentoml.service class should hold the model reference "
               f"(model_ref = bentoml.models.BentoModel(\"{contract.MODEL_NAME}:latest\")); found "
               f"{models or 'none'}.")
    api = facts.source.service(compose.API_CLASS)
    check.part(f"API service {compose.API_CLASS}", api is not None,
               f"no @bentoml.service class {compose.API_CLASS} in {compose.FILE}: the grader serves "
               f"{compose.TARGET}.")
    edges = facts.dependents()
    wanted = models[0] if models else "the model service"
    found = facts.depends.get(compose.API_CLASS) or "none"
    own = ", ".join(api.model_refs) if api else ""
    check.part(f"{compose.API_CLASS} depends on {wanted}", edges.get(compose.API_CLASS) in models,
               f"declare the dependency as a class attribute of {compose.API_CLASS}: "
               f"scorer = bentoml.depends({wanted}) (found: {found}).")
    check.part("the API service loads no model", not (api and api.model_refs),
               f"{compose.API_CLASS} holds a model reference itself ({own}):"
               f" the model belongs to the model service only, or each API worker loads its own copy.")


@graded(points=2)
def compose_resources(run: Run, check, composed_source) -> None:
    """each service sets its own workers and resources"""
    facts = need_source(composed_source, check)
    if not facts.source.services:
        check.fail(f"{compose.FILE} defines no @bentoml.service class.")
    for name in facts.source.services:
        given = facts.settings.get(name, set())
        missing = [k for k in ("workers", "resources") if k not in given]
        check.part(name, not missing,
                   f"@bentoml.service on {name} sets no {' or '.join(missing)}: each service of a "
                   f"composition scales on its own, e.g. workers=1, resources={{\"cpu\": \"1\"}}.")


@graded(points=3)
def compose_bento(run: Run, check, composed_source, composed) -> None:
    """both services and the model are in the built bento"""
    need_source(composed_source, check)
    built = composed.bento()
    if built.manifest is None:
        check.fail(built.error)
    check.note(f"bento {built.tag}")
    names = built.service_names()
    for name in composed_source.source.services:
        check.part(f"service {name}", name in names,
                   f"bento.yaml lists the services {names}, not {name}: every service the API service "
                   f"depends on must be importable from {compose.FILE}.")
    packed = [t for t in kit_bento.packed_models(built.manifest) if t.split(":")[0] == contract.MODEL_NAME]
    check.part(f"{contract.MODEL_NAME} packed", bool(packed),
               f"the bento packs no {contract.MODEL_NAME}: reference it as a class attribute of the model "
               f"service (model_ref = bentoml.models.BentoModel(...)).")
    packages = " ".join(str(p) for p in (built.manifest.get("python") or {}).get("packages") or [])
    image = (built.manifest.get("image") or {})
    check.note(f"python {image.get('python_version', '?')}; packages: {packages or 'from the image'}")


@graded(points=4)
def compose_live(run: Run, check, composed_source, composed) -> None:
    """the composed service answers with your model's decisions"""
    need_source(composed_source, check)
    live = composed.live()
    if not live.url:
        check.fail(f"{live.error}\n{live.log}")
    # Held to what the live checks hold the learner's service.py to: answers the saved model does not
    # tell apart, or that the served copy's move hardly changes, prove nothing (a rule gives them too).
    need_expected(run, check)
    need_moved(run, check)
    need_telling(run, check, list(run.known))
    url = live.url + contract.CLASSIFY_PATH
    crashed = False
    for index, (name, applicant) in enumerate(run.known.items()):
        answer = Answer.post(url, contract.wrap(applicant))
        why = problem(answer, run.expected(index), run, run.saved(index))
        crashed = crashed or answer.code >= 500
        check.part(name, not why, why.split(" The service crashed")[0] if answer.code >= 500 else why,
                   weight=1.0 if run.tells(run.saved(index)) else 0.0)  # as the golden check weighs them
    batch = Answer.post(live.url + contract.CLASSIFY_BATCH_PATH,
                        contract.wrap_batch(list(run.known.values())))
    answered = 200 <= batch.code < 400
    decided = batch.body if answered else None
    same = isinstance(decided, list) and len(decided) == len(run.known) and all(
        not problem(Answer(200, d, str(d)), run.expected(i), run)
        for i, d in enumerate(decided))
    check.part("classify_batch", same,
               f"/classify_batch gave HTTP {batch.code}: {batch.text[:160]}; it should answer a list "
               f"of decisions, one per application, in order.")
    if crashed or not answered:
        errors = [line.strip() for line in composed.server_log(200).splitlines() if ERROR_LINE.match(line)]
        distinct = list(dict.fromkeys(errors))[:3] or ["see its log"]
        check.note("The service crashed on a valid request: " + "; ".join(distinct))


@graded(points=1)
def compose_metrics(run: Run, check, composed_source, composed) -> None:
    """your decision metrics are on /metrics (prometheus_client)"""
    need_source(composed_source, check)
    live = composed.live()
    if not live.url:
        check.fail("not checked: the composed service is not running (see the live check).")
    try:
        text = bounded_http.request("GET", live.url + "/metrics", timeout=10)[1].decode(errors="replace")
        families = {f.name: f for f in text_string_to_metric_families(text)}
    except (requests.RequestException, ValueError) as err:
        check.fail(f"/metrics could not be read: {type(err).__name__}: {err}")
    counted = [s for f in families.values() if f.type == "counter" for s in f.samples
               if s.name.endswith("_total") and "status" in s.labels and not s.name.startswith("bentoml_")]
    check.part("a counter of decisions by status", bool(counted),
               "no counter with a `status` label on /metrics after the live check's requests: count each "
               "decision with prometheus_client, e.g. DECISIONS = Counter(\"credit_decisions\", \"...\", "
               "[\"status\"]) and DECISIONS.labels(status=status).inc() (notebooks/04b_compose.ipynb).")
    histograms = [f.name for f in families.values()
                  if f.type == "histogram" and not f.name.startswith("bentoml_")]
    check.part("a histogram of probabilities", bool(histograms),
               "no histogram of your own on /metrics: observe each probability, e.g. PROBABILITIES = "
               "Histogram(\"credit_default_probability\", \"...\") and PROBABILITIES.observe(probability).")
