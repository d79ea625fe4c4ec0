"""The build configuration: valid for BentoML, points at the service, keeps data out, pins the packages.

Either form BentoML accepts gets the same checks: ``bentofile.yaml``, or, when there is none, the
runtime declared in ``service.py`` with the image SDK (``@bentoml.service(image=bentoml.images.Image(...))``;
``bentoml build`` then finds the service itself and packs the folder minus ``.bentoignore``). The
image's packages and Python version come from the service inspector (BentoML's own Image object, so
chained calls and ``requirements_file`` count); whether the Python version was chosen at all comes
from the syntax tree (``facts/source.py``), since an Image left at its default reports the builder's.
"""

from __future__ import annotations

import sys

from bentokit import contract, private
from grader.declare import IMPORT, Checks
from grader.facts import bentofile
from grader.facts.run import Run

graded = Checks(group="bentofile.yaml", exercise="bentofile", needs=(IMPORT,))

TARGET = f"service:{contract.SERVICE_CLASS}"
#: Paths that must stay out of the bento, by what they are, and one that must be in.
KEEP_OUT = {
    "model stores": ["bentoml_home/models/credit_risk_model/v1/saved_model.ubj",
                     "credit_risk_model.bentomodel"],
    "data": ["CreditScoring.csv", "data/CreditScoring.csv"],
    "notebooks": ["train.ipynb", "notebooks/02-train-and-save.ipynb"],
}


def image_sdk(run: Run) -> bool:
    """No bentofile.yaml, and the service declares its runtime with ``image=``: the image SDK form."""
    svc = run.source.service()
    return not run.bentofile.exists and svc is not None and svc.image


def image_facts(run: Run, check) -> dict:
    """The image the imported service declares (image SDK form), or fail saying why it is unknown."""
    facts = run.service_facts
    if not facts.imported:
        check.fail(f"not checked: service.py declares image= but does not import, so its image is unknown "
                   f"(see the service.py checks). {facts.error.splitlines()[0] if facts.error else ''}")
    image = (facts.service() or {}).get("image")
    if not image:
        check.fail("not checked: the imported service has no image (image= must be a bentoml.images.Image).")
    return image


def need_valid(run: Run, check) -> bentofile.Bentofile:
    facts = run.bentofile
    if not facts.valid:
        check.fail(f"bentofile.yaml is not usable: {facts.error}")
    return facts


def default_config() -> object:
    """The build configuration ``bentoml build`` uses in a folder without bentofile.yaml."""
    return private.load_build_config({"service": TARGET})


@graded(points=2)
def bentofile_valid(run: Run, check) -> None:
    """bentofile.yaml passes BentoML's build-config schema, or service.py declares image="""
    facts = run.bentofile
    if image_sdk(run):
        image_facts(run, check)
        check.note("no bentofile.yaml: the build configuration is service.py's image= (the image SDK)")
        return
    if not facts.exists:
        check.fail(f"bentofile.yaml not found in {run.submission}: create it, or declare the runtime in "
                   f"service.py with @bentoml.service(image=bentoml.images.Image(...)) "
                   f"(notebooks/04_build.ipynb).")
    if not facts.valid:
        check.fail(f"{facts.error}\nSee notebooks/04_build.ipynb for the fields BentoML accepts.")


@graded(points=2)
def bentofile_service(run: Run, check) -> None:
    """`service` resolves to the learner's service class"""
    if image_sdk(run):
        check.note(f"no bentofile.yaml: `bentoml build` finds {contract.SERVICE_CLASS} in service.py itself")
        return
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
    if image_sdk(run):  # no bentofile: every file of the folder is packed but what .bentoignore lists
        spec = private.path_spec(default_config(), run.submission)
        fix = ('without bentofile.yaml, `bentoml build` packs the whole folder: list them in a .bentoignore '
               'beside service.py (e.g. "*.csv", "*.ipynb", "*.bentomodel", "bentoml_home/", "data/")')
    else:
        spec = bentofile.path_spec(need_valid(run, check), run.submission)
        fix = ('list only the code in include (include: ["service.py"]) or exclude them (e.g. "*.csv", '
               '"*.ipynb", "*.bentomodel")')
    check.part("service.py included", spec.includes("service.py"),
               'add "service.py" to include (the bento needs the service code).')
    for what, paths in KEEP_OUT.items():
        leaks = [p for p in paths if spec.includes(p)]
        check.part(f"{what} excluded", not leaks,
                   f"{', '.join(leaks)} would be packed (example paths the grader asks BentoML about; they "
                   f"need not exist in your folder): {fix}; models reach the bento through the model store, "
                   f"not as files.")


@graded(points=3)
def bentofile_packages(run: Run, check) -> None:
    """xgboost, scikit-learn, pydantic pinned; no `sklearn`"""
    if image_sdk(run):
        lines, where = image_facts(run, check)["requirements"], "the image's python_packages"
    else:
        lines, where = bentofile.requirements(need_valid(run, check), run.submission)
    pins, sklearn = bentofile.check_packages(lines)
    for pin in pins:
        check.part(pin.name, not pin.problem, f"{pin.problem} in {where}.")
    check.part("no sklearn", not sklearn,
               f"{', '.join(sklearn)}: the `sklearn` package name no longer installs; write scikit-learn "
               f"(pinned) instead.")


@graded(points=2)
def bentofile_docker(run: Run, check) -> None:
    """the image's Python version is set (docker.python_version or Image(python_version=...))"""
    if image_sdk(run):
        image = image_facts(run, check)
        calls = run.source.image_calls
        chosen = bool(calls) and all("python_version" in keywords for _, keywords in calls)
        check.part("Image(python_version=...)", chosen,
                   'write bentoml.images.Image(python_version="3.11"): left out, the image takes the Python '
                   'of whoever builds the bento, not the one the model was saved with.')
        running = f"{sys.version_info.major}.{sys.version_info.minor}"
        check.part(f"Python {running}", image["python_version"] == running,
                   f"the image runs Python {image['python_version']}, the model was saved with {running}: "
                   f'write python_version="{running}".')
        return
    facts = need_valid(run, check)
    version = facts.config.docker.python_version
    check.part("docker.python_version", bool(version),
               'set docker: {python_version: "3.11"} so the image runs the Python the model was saved with.')
