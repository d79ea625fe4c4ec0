"""service.py: the file, its import, the service class, its APIs, model reference and input schema."""

from __future__ import annotations

from typing import Any

from bentokit import contract
from grader import hints
from grader.declare import IMPORT, Checks
from grader.facts.run import Run

graded = Checks(group="service.py", exercise="service", needs=(IMPORT,))

JSON_TYPES = {int: "integer", float: "number", str: "string"}


def need_source(run: Run, check) -> None:
    if not run.source.exists:
        check.fail(f"service.py not found in {run.submission}: create it "
                   f"(exercises/service.py is the template).")
    error = run.source.syntax_error
    if error.startswith("it is not valid UTF-8"):
        check.fail(f"service.py cannot be read: {error}.")
    if error:
        check.fail(f"service.py does not parse ({error}): fix the syntax error.")


@graded(points=2)
def service_file(run: Run, check) -> None:
    """service.py exists and parses"""
    need_source(run, check)


@graded(points=2)
def bentoml_1_4_api(run: Run, check) -> None:
    """BentoML 1.4 API (no runners, bentoml.Service, bentoml.io)"""
    need_source(run, check)
    if run.source.legacy:
        found = "; ".join(f"line {line}: {what}" for line, what in run.source.legacy)
        check.fail(f"BentoML 1.0 code found ({found}).\n{hints.MIGRATION}")


@graded(points=3)
def service_imports(run: Run, check) -> None:
    """service.py imports cleanly within the time limit"""
    need_source(run, check)
    facts = run.service_facts
    if not facts.imported:
        extra = [f"Likely fix: {fix}" for fix in hints.diagnose(facts.error)]
        check.fail("\n".join([facts.error, *extra]))


@graded(points=3)
def service_class(run: Run, check) -> None:
    """@bentoml.service class CreditRiskClassifier (credit_risk_classifier)"""
    need_source(run, check)
    svc = run.source.service()
    others = ", ".join(run.source.services) or "none"
    if svc is None:
        hint = (f"decorate a class named {contract.SERVICE_CLASS} with @bentoml.service "
                f"(@bentoml.service classes found: {others}).")
        check.fail(hint + ("\n" + hints.MIGRATION if run.source.legacy else ""))
    check.part("bento name", svc.bento_name == contract.SERVICE_NAME,
               f"the service is named {svc.bento_name!r}; the contract's is {contract.SERVICE_NAME!r} "
               f"(drop name=... from @bentoml.service, or set it to {contract.SERVICE_NAME!r}).")


@graded(points=3)
def service_apis(run: Run, check) -> None:
    """exposes classify and a batchable classify_batch"""
    need_source(run, check)
    svc = run.source.service()
    # What BentoML itself found when the inspector imported service.py (APIs a base class declares
    # included); the syntax tree only when the import failed.
    served = run.service_facts.service() if run.service_facts.imported else None
    if served is not None:
        apis = {name: bool(api.get("batchable")) for name, api in served["apis"].items()}
    elif svc is not None:
        apis = {name: api.batchable for name, api in svc.apis.items()}
    else:
        check.fail(f"no @bentoml.service class {contract.SERVICE_CLASS}: see the check above.")
    check.part("classify", "classify" in apis, weight=2,
               hint="add a method `classify` decorated with @bentoml.api (it serves POST /classify).")
    check.part("classify_batch", "classify_batch" in apis,
               hint="add `classify_batch(self, credit_applications: list[CreditApplication])` decorated "
                    "with @bentoml.api(batchable=True) (notebooks/07_performance.ipynb).")
    check.part("classify_batch is batchable", apis.get("classify_batch", False),
               hint="decorate classify_batch with @bentoml.api(batchable=True, batch_dim=0) so that "
                    "BentoML merges concurrent requests into batches.")


@graded(points=4)
def model_reference(run: Run, check) -> None:
    """model referenced by a class-level BentoModel"""
    need_source(run, check)
    src = run.source
    svc = src.service()
    refs = svc.model_refs if svc else {}
    good = {attr: tag for attr, tag in refs.items() if not tag or tag.startswith(contract.MODEL_NAME)}
    check.part("class-level model reference", bool(good), hints.MODEL_REF, weight=2)
    loads = "; ".join(f"line {line}: {call}(...)" for line, call in src.import_time_loads)
    check.part("no model loaded at import time", not src.import_time_loads,
               f"{loads} runs when the module is imported: the model then is not packed into the bento "
               f"(models: []) and the container fails with NotFound. Load it in __init__ instead.")
    files = "; ".join(f"line {line}: {name}" for line, name in src.pickle_files)
    check.part("no pickle file", not src.pickle_files,
               f"{files}: the model comes from the BentoML model store, not from a pickle file "
               f"(week 5's approach). {hints.MODEL_REF}")


@graded(points=2)
def custom_object_key(run: Run, check) -> None:
    """DictVectorizer read as custom_objects["dictVectorizer"]"""
    need_source(run, check)
    keys = run.source.custom_object_keys
    key = contract.CUSTOM_OBJECT_KEY
    if not keys and run.source.computed_custom_object_keys:
        lines = ", ".join(map(str, run.source.computed_custom_object_keys))
        check.note(f"the key is computed (line {lines}): the live checks show whether it is the right one.")
        return
    if not keys:
        check.fail(f'read the DictVectorizer saved with the model: self.model_ref.custom_objects["{key}"].')
    wrong = [f"line {line}: {k!r}" for line, k in keys if k != key]
    check.part(f'key "{key}"', not wrong,
               f'{"; ".join(wrong)}: the course saves the DictVectorizer under "{key}" (lower-case d), '
               f'while its notes read "DictVectorizer"; use custom_objects["{key}"].')


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` (and a single-item ``allOf``/``anyOf``) inside a JSON schema."""
    for _ in range(5):
        if "$ref" in node:
            node = schema.get("$defs", {}).get(node["$ref"].rsplit("/", 1)[-1], {})
        elif len(node.get("allOf", [])) == 1:
            node = node["allOf"][0]
        else:
            break
    return node


def field_type(prop: dict[str, Any]) -> str:
    if "type" in prop:
        return prop["type"]
    if "enum" in prop and prop["enum"]:
        return {str: "string", int: "integer", float: "number"}.get(type(prop["enum"][0]), "?")
    return "any"


@graded(points=5)
def input_schema(run: Run, check) -> None:
    """classify input: pydantic model, 13 typed fields, wrapped"""
    need_source(run, check)
    facts = run.service_facts
    if not facts.imported:
        check.fail("cannot be checked: service.py does not import (see the import check).")
    svc = facts.service()
    api = (svc or {}).get("apis", {}).get("classify")
    if api is None:
        check.fail(f"no classify API on a service named {contract.SERVICE_CLASS} to check.")
    if "input_schema" not in api:
        check.fail(f"the input of classify cannot be described: {api.get('schema_error')}")
    schema = api["input_schema"]
    params = api.get("params", [])
    flat = set(contract.FIELD_TYPES) <= set(params)
    check.part(f"parameter {contract.CLASSIFY_ARG}", params == [contract.CLASSIFY_ARG], hints.WRAPPED)
    model = schema if flat else resolve(schema, schema.get("properties", {}).get(contract.CLASSIFY_ARG, {}))
    props = model.get("properties") or {}
    check.part("a pydantic model", bool(props),
               f"declare the parameter as a pydantic model ({contract.CLASSIFY_ARG}: CreditApplication, "
               f"a BaseModel), not dict or Any: BentoML then validates every request and answers HTTP 400 "
               f"with the field errors (notebooks/06_validate.ipynb).")
    missing = [f for f in contract.FIELD_TYPES if f not in props]
    extra = [f for f in props if f not in contract.FIELD_TYPES]
    check.part("the 13 fields", props and not missing and not extra,
               f"missing: {missing or 'none'}; unexpected: {extra or 'none'}. The fields are "
               f"{', '.join(contract.FIELD_TYPES)}.")
    wrong = [f"{name} is {field_type(resolve(schema, props[name]))}, should be {JSON_TYPES[kind]} "
             f"({kind.__name__})" for name, kind in contract.FIELD_TYPES.items()
             if name in props and field_type(resolve(schema, props[name])) != JSON_TYPES[kind]]
    check.part("field types", props and not wrong, "; ".join(wrong) or "declare the fields first.")
