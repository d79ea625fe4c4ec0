"""Hint texts that name the fix, and recognisers for the traps learners hit with BentoML 1.4.

The traps come from the kit's notes (``What learners stumble on``): each recogniser looks at a
server log or an error text and returns the fix in a sentence.
"""

from __future__ import annotations

import re

from bentokit import contract, package_index

MIGRATION = f"""BentoML 1.0 code does not run on 1.4. The 1.4 form of this service:

    @bentoml.service(resources={{"cpu": "1"}})
    class {contract.SERVICE_CLASS}:
        model_ref = bentoml.models.BentoModel("{contract.MODEL_NAME}:latest")

        def __init__(self) -> None:
            self.model = bentoml.xgboost.load_model(self.model_ref)
            self.dv = self.model_ref.custom_objects["{contract.CUSTOM_OBJECT_KEY}"]

        @bentoml.api
        def classify(self, {contract.CLASSIFY_ARG}: CreditApplication) -> CreditDecision:
            ...

bentoml.Service(..., runners=[...]) -> a class decorated with @bentoml.service;
.to_runner() / runner.predict.run(...) -> load the model in __init__ and call it directly;
@svc.api(input=JSON(pydantic_model=X), output=JSON()) -> @bentoml.api with type hints (x: X) -> Y."""

MODEL_REF = (f'declare the model as a class attribute of the service: '
             f'model_ref = bentoml.models.BentoModel("{contract.MODEL_NAME}:latest"), and load it in '
             f'__init__ with bentoml.xgboost.load_model(self.model_ref); only then does `bentoml build` '
             f'pack it into the bento (notebooks/03_serve.ipynb, "`service.py`").')

WRAPPED = (f'the contract wraps the applicant: POST {contract.CLASSIFY_PATH} with body '
           f'{{"{contract.CLASSIFY_ARG}": {{...}}}}. Declare '
           f'def classify(self, {contract.CLASSIFY_ARG}: CreditApplication) -> CreditDecision '
           f'(not @bentoml.api(input_spec=...) with **params, which takes a flat body).')

#: What a process or thread that could not start for want of process slots says (EAGAIN).
NO_PROCESS_SLOTS = re.compile(r"Resource temporarily unavailable|can't start new thread")
#: (pattern in a log or error text, the fix).
TRAPS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"unexpected keyword argument 'runners'|to_runner|bentoml\.io"),
     "BentoML 1.0 API: rewrite the service as a @bentoml.service class (see the service.py checks)."),
    (re.compile(r"KeyError: '(?!dictVectorizer')(?i:[^']*vectori[sz]er|dv)'"),
     f'read the DictVectorizer with self.model_ref.custom_objects["{contract.CUSTOM_OBJECT_KEY}"]: the '
     f'key is "{contract.CUSTOM_OBJECT_KEY}" with a lower-case d, as the course notebook saves it.'),
    (re.compile(r"did not contain feature names|feature_names mismatch|following fields are expected"),
     "xgboost feature-name mismatch: build the DMatrix with feature_names=booster.feature_names "
     "(the model was trained with the DictVectorizer's feature names)."),
    (re.compile(rf"NotFound.*{contract.MODEL_NAME}|no Models with name '{contract.MODEL_NAME}'", re.S),
     f"the model is not in the store this server reads: train and save {contract.MODEL_NAME} "
     f"(./kit python -m bentokit train) with the same BENTOML_HOME."),
    (re.compile(r"Failed to lock PyPI packages"),
     "BentoML could not resolve the python packages: check their names and pins in bentofile.yaml "
     "(scikit-learn, not sklearn; versions that exist)."),
    (re.compile(r"Address already in use|address already in use"),
     "the port is taken: stop the other server, or let BentoML pick another port (--port)."),
    (re.compile(r"No module named 'sklearn'|No module named 'xgboost'|No module named 'pydantic'"),
     "a package is missing: install scikit-learn, xgboost and pydantic (pinned) in this environment."),
    (re.compile(r"Model module .* mismatch|is not a .* model|bentoml\.(sklearn|pickle)\b"),
     "the model was saved with bentoml.xgboost: load it with bentoml.xgboost.load_model(self.model_ref)."),
    (NO_PROCESS_SLOTS,
     "a process could not start: the machine had no process slots left (a service of yours that starts "
     "many threads or processes, or another container graded at the same time). Start only what the "
     "service needs, and grade again."),
]


def index_unreachable(cause: str) -> str:
    """The fix when ``bentoml build`` could not lock the packages because this machine cannot reach the
    package index (``cause``: uv's reason): no bentofile could be built here."""
    return (f"{package_index.described(cause)}, and `bentoml build` locks the bentofile's packages there: "
            f"no bento can be built here, whatever the bentofile says. Build and grade "
            f"{package_index.WHERE_REACHABLE}.")


def diagnose(text: str) -> list[str]:
    """The fixes for the traps recognised in ``text`` (a server log or an error), in order."""
    return [fix for pattern, fix in TRAPS if pattern.search(text or "")]


def with_log(message: str, log: str, lines: int = 15) -> str:
    """``message`` plus any recognised fix and the last ``lines`` lines of ``log``."""
    parts = [message]
    parts += [f"Likely fix: {fix}" for fix in diagnose(log)]
    tail = "\n".join((log or "").splitlines()[-lines:])
    if tail:
        parts.append("Last server log lines:\n" + tail)
    return "\n".join(parts)
