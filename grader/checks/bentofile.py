"""bentofile.yaml: valid for BentoML, points at the service, keeps data out, pins the packages."""

from __future__ import annotations

from bentokit import contract
from grader.declare import Checks
from grader.facts import bentofile
from grader.facts.run import Run

graded = Checks(group="bentofile.yaml", exercise="bentofile")

TARGET = f"service:{contract.SERVICE_CLASS}"
#: Paths that must stay out of the bento, by what they are, and one that must be in.
KEEP_OUT = {
    "model stores": ["bentoml_home/models/credit_risk_model/v1/saved_model.ubj",
                     "credit_risk_model.bentomodel"],
    "data": ["CreditScoring.csv", "data/CreditScoring.csv"],
    "notebooks": ["train.ipynb", "notebooks/02-train-and-save.ipynb"],
}


def need_valid(run: Run, check) -> bentofile.Bentofile:
    facts = run.bentofile
    if not facts.valid:
        check.fail(f"bentofile.yaml is not usable: {facts.error}")
    return facts


@graded(points=2)
def bentofile_valid(run: Run, check) -> None:
    """parses and passes BentoML's build-config schema"""
    facts = run.bentofile
    if not facts.exists:
        check.fail(f"bentofile.yaml not found in {run.submission}: create it (notebooks/04_build.ipynb).")
    if not facts.valid:
        check.fail(f"{facts.error}\nSee notebooks/04_build.ipynb for the fields BentoML accepts.")


@graded(points=2)
def bentofile_service(run: Run, check) -> None:
    """`service` resolves to the learner's service class"""
    facts = need_valid(run, check)
    target = facts.config.service
    module, _, cls = target.partition(":")
    check.part("service field", target == TARGET,
               f"service is {target!r}: write service: \"{TARGET}\" (module service.py, class "
               f"{contract.SERVICE_CLASS}; the bentofile sits beside service.py).")
    if module == "service" and cls:
        check.part(f"class {cls} in service.py", run.source.service(cls) is not None,
                   f"service.py has no @bentoml.service class {cls}.")


@graded(points=3)
def bentofile_include(run: Run, check) -> None:
    """include/exclude keep stores, data and notebooks out"""
    facts = need_valid(run, check)
    spec = bentofile.path_spec(facts, run.submission)
    check.part("service.py included", spec.includes("service.py"),
               'add "service.py" to include (the bento needs the service code).')
    for what, paths in KEEP_OUT.items():
        leaks = [p for p in paths if spec.includes(p)]
        check.part(f"{what} excluded", not leaks,
                   f"{', '.join(leaks)} would be packed (example paths the grader asks BentoML about; they "
                   f"need not exist in your folder): list only the code in include (include: "
                   f'["service.py"]) or exclude {what} (e.g. "*.csv", "*.ipynb", "*.bentomodel"); models '
                   f"reach the bento through the model store, not as files.")


@graded(points=3)
def bentofile_packages(run: Run, check) -> None:
    """xgboost, scikit-learn, pydantic pinned; no `sklearn`"""
    facts = need_valid(run, check)
    lines, where = bentofile.requirements(facts, run.submission)
    pins, sklearn = bentofile.check_packages(lines)
    for pin in pins:
        check.part(pin.name, not pin.problem, f"{pin.problem} in {where}.")
    check.part("no sklearn", not sklearn,
               f"{', '.join(sklearn)}: the `sklearn` package name no longer installs; write scikit-learn "
               f"(pinned) instead.")


@graded(points=2)
def bentofile_docker(run: Run, check) -> None:
    """docker.python_version is set"""
    facts = need_valid(run, check)
    version = facts.config.docker.python_version
    check.part("docker.python_version", bool(version),
               'set docker: {python_version: "3.11"} so the image runs the Python the model was saved with.')
