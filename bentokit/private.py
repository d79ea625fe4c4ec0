"""The one place the kit uses BentoML's private APIs (pinned: bentoml 1.4.39).

Each function says why no public API does the job. Keep every ``bentoml._internal`` import here, so a
BentoML upgrade has one module to check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The file ``bentoml.xgboost`` saves a model to, inside its folder in the store. Private (BentoML's
#: ``MODEL_FILENAME``) because the grader moves a served copy's model in a child that does not import
#: BentoML (a second of CPU); tests/grader/test_served_model.py checks it against BentoML's own.
XGBOOST_MODEL_FILE = "saved_model.ubj"


def model_store_folder(models: Path, tag: str) -> Path:
    """The folder BentoML's own model store kept in ``models`` reads for ``tag`` (``Store.get``): what
    :mod:`grader.facts.store`, which does not import BentoML, is tested against. No public API reads a
    store other than ``$BENTOML_HOME``'s, which BentoML fixes when it is imported."""
    from bentoml._internal.models.model import ModelStore

    return Path(ModelStore(str(models)).get(tag).path)


def to_snake_case(name: str) -> str:
    """BentoML's class name -> bento name rule (``CreditRiskClassifier`` -> ``credit_risk_classifier``).

    Private because BentoML exposes the rule only through a built service's ``name``; the grader
    needs it for a class it only parsed (no import of learner code).
    """
    from bentoml._internal.tag import to_snake_case as rule

    return rule(name)


def load_build_config(raw: dict[str, Any]) -> Any:
    """Structure a bentofile's mapping into ``BentoBuildConfig`` exactly as ``bentoml build`` does.

    Private because the public path (``bentoml.bentos.build_bentofile``) builds a bento; the grader
    validates a bentofile without building it, and wants BentoML's own errors.
    """
    from bentoml._internal.bento.build_config import BentoBuildConfig

    return BentoBuildConfig.load(raw)


def path_spec(config: Any, ctx_dir: Path) -> Any:
    """BentoML's own include/exclude matcher for a build config (``.includes(path)``).

    Private because no public API answers "would this file be packed?" without building.
    """
    from bentoml._internal.bento.build_config import BentoPathSpec

    filled = config.with_defaults()
    return BentoPathSpec(filled.include, filled.exclude, str(ctx_dir))


def tracing_excluded_urls(service: Any) -> list[str]:
    """The URLs tracing skips for ``service`` once BentoML's configuration (``BENTOML_CONFIG_OPTIONS``
    included) is resolved, in this process.

    Private because no public API says which URLs tracing skips, no response header shows a span, and
    the exporters that could show one (OTLP) are not installed.
    """
    from bentoml._internal.configuration.containers import BentoMLContainer

    service.inject_config()
    excluded = BentoMLContainer.tracing_excluded_urls.get()
    return sorted(excluded._excluded_urls) if excluded else []


def asgi_app_without(service: Any, left_out: tuple[str, ...]) -> Any:
    """``service.to_asgi()`` with the middlewares of these class names left out of its stack.

    Private because BentoML assembles the stack in ``ServiceAppFactory.middlewares`` and has no option
    to leave one out; ``python -m benchmarks layers`` uses it, in a measuring process of its own, to
    weigh each middleware. The stack is BentoML's own again once the app is made.
    """
    from _bentoml_impl.server.app import ServiceAppFactory

    stack = ServiceAppFactory.middlewares
    seen: set[str] = set()

    def without(factory: Any) -> list[Any]:
        built = stack.fget(factory)
        seen.update(getattr(m.cls, "__name__", "") for m in built)
        return [m for m in built if getattr(m.cls, "__name__", "") not in left_out]

    ServiceAppFactory.middlewares = property(without)
    try:
        app = service.to_asgi()
    finally:
        ServiceAppFactory.middlewares = stack
    missing = set(left_out) - seen
    if missing:  # a renamed middleware would be "left out" silently, and weigh nothing
        raise ValueError(f"no middleware named {sorted(missing)} in the stack: {sorted(seen)}")
    return app


def supervisor_control_kept_private() -> None:
    """From now on, in this process, BentoML's supervisor takes commands only on Unix sockets in a
    folder that no other user can enter, not on TCP ports of 127.0.0.1.

    Private because ``bentoml serve`` makes its circus arbiter in ``create_standalone_arbiter``, which
    hard-codes the arbiter's control and event endpoints as two free TCP ports, with no option to
    change them. circus authenticates no one there: any local user could send ``quit`` or ``stop``
    (ending the server) or ``add`` a watcher (running any command as the server's user), for
    instance learner code in a class run against a classmate's server. The arbiter made here is the
    one BentoML makes, with ``ipc://`` endpoints in a new folder of mode 700 under ``TMPDIR``; the
    folder goes when the arbiter stops, as BentoML's own socket folder does.
    """
    import shutil
    import tempfile

    from bentoml._internal.utils import circus as bentoml_circus

    def create_standalone_arbiter(watchers: list[Any], *, threaded: bool = False, **kwargs: Any) -> Any:
        folder = tempfile.mkdtemp(prefix="bentoml-control-")
        arbiter_class = bentoml_circus.ThreadedArbiter if threaded else bentoml_circus.Arbiter
        arbiter = arbiter_class(watchers, endpoint=f"ipc://{folder}/control",
                                pubsub_endpoint=f"ipc://{folder}/events",
                                check_delay=kwargs.pop("check_delay", 10), **kwargs)
        arbiter.exit_stack.callback(shutil.rmtree, folder, ignore_errors=True)
        return arbiter

    bentoml_circus.create_standalone_arbiter = create_standalone_arbiter


def build_without_package_lock() -> None:
    """From now on, in this process, ``bentoml build`` of a service that declares no image writes the
    bentofile's packages into the bento as listed, without locking them (``uv pip compile``).

    For the grader's builds only: it locks the same lines itself, beside the build, and only when its
    lock asks what the build's would (``grader.facts.bentofile.LockInput.complete``); a build that
    goes into an image keeps its lock, which the image installs. Private because the lock is a
    bentofile option (``python.lock_packages``) with no command-line switch, and the grader builds the
    learner's bentofile as written: BentoML turns the bentofile into an image in
    ``populate_image_from_build_config``, which the build looks up when it runs. A service's own
    ``image=`` keeps its lock (the grader's does not read it).
    """
    import attrs
    from _bentoml_sdk import images

    populate = images.populate_image_from_build_config

    def unlocked(image: Any, build_config: Any, build_ctx: str) -> Any:
        declared = image is not None
        found = populate(image, build_config, build_ctx)
        return found if found is None or declared else attrs.evolve(found, lock_python_packages=False)

    images.populate_image_from_build_config = unlocked


def containerfile(bento_tag: str, backend: str) -> str:
    """The Dockerfile ``bentoml containerize BENTO_TAG --backend BACKEND`` builds, as BentoML writes it
    (from the store of ``BENTOML_HOME``).

    Private because the public command builds the image at once: the grader reads the file first
    (``bentokit.dockerfile``), since learner strings reach it unescaped.
    """
    import bentoml
    from bentoml._internal.container import construct_containerfile, enable_buildkit

    bento = bentoml.bentos.get(bento_tag)
    if getattr(getattr(bento.info, "docker", None), "dockerfile_template", None):
        # Rendered anew by every containerize, and its text is the bento's (learner code's) own.
        raise ValueError("the bento names a Dockerfile template of its own (docker.dockerfile_template)")
    with construct_containerfile(bento, enable_buildkit=enable_buildkit(backend=backend)) as (_, path):
        return Path(path).read_text()
