"""A graded check is declared in one place: the decorator on its function.

    graded = Checks(group="service.py", exercise="service")

    @graded(points=3)
    def service_file(run: Run, check: Check) -> None:
        \"\"\"service.py exists and parses\"\"\"

The declaration holds the check's points, hidden flag, title (the docstring's first line), report
group, exercise, and what it needs (service.py imported, the model store read, a built bento, a
live service, a container image). Everything else is derived from it: the report's groups and their
order, ``--exercise``, which helpers the run starts (the service inspector, the model reader, the
build, the server), the container-only checks and the learner loop's lists (:func:`catalogue`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

#: What a check may need besides the submission's files: service.py imported (the inspector's
#: facts), the model store read (the model reader's facts), a built bento, a live service, an image.
#: A run starts only what its checks need (a fact asked for without its need is still found, later).
IMPORT, MODEL, BENTO, LIVE, CONTAINER = "import", "model", "bento", "live", "container"
NEEDS = frozenset({IMPORT, MODEL, BENTO, LIVE, CONTAINER})
#: The check modules, in report order (one module per artifact, under ``grader/checks/``).
MODULES = ("train", "service", "model", "bentofile", "bento", "live", "container",
           "client", "loadtest", "homework", "compose")
ATTRIBUTE = "__grader_check__"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class CheckSpec:
    """One check's declaration."""

    id: str
    points: float
    title: str
    group: str
    exercise: str
    hidden: bool = False
    needs: frozenset[str] = frozenset()
    #: Part of ``python -m grader``'s whole-submission grade (else only the learner loop runs it).
    graded: bool = True

    @property
    def container_only(self) -> bool:
        return CONTAINER in self.needs


@dataclass
class Checks:
    """The defaults a module's checks share; calling it declares one check."""

    group: str
    exercise: str
    needs: tuple[str, ...] = ()
    graded: bool = True

    def __call__(self, points: float, *, hidden: bool = False, exercise: str | None = None,
                 needs: tuple[str, ...] | None = None) -> Callable[[F], F]:
        wanted = frozenset(self.needs if needs is None else needs)
        if not wanted <= NEEDS:
            raise ValueError(f"unknown needs {sorted(wanted - NEEDS)}; known: {sorted(NEEDS)}")

        def declare(function: F) -> F:
            doc = (function.__doc__ or "").strip()
            if not doc:
                raise ValueError(f"check {function.__name__} needs a docstring: its first line is the title")
            spec = CheckSpec(id=function.__name__, points=float(points), title=doc.splitlines()[0],
                             group=self.group, exercise=exercise or self.exercise, hidden=hidden,
                             needs=wanted, graded=self.graded and CONTAINER not in wanted)
            setattr(function, ATTRIBUTE, spec)
            return function

        return declare


def spec_of(obj: object) -> CheckSpec | None:
    """The declaration carried by a check function, or None."""
    return getattr(obj, ATTRIBUTE, None)


def catalogue() -> list[CheckSpec]:
    """Every check of ``grader/checks/``, in report order."""
    specs: list[CheckSpec] = []
    for name in MODULES:
        module = importlib.import_module(f"grader.checks.{name}")
        specs += [s for value in vars(module).values() if (s := spec_of(value)) is not None]
    ids = [s.id for s in specs]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ValueError(f"check ids must be unique: {duplicated}")
    return specs


def groups(specs: list[CheckSpec]) -> list[str]:
    """The report groups in the order their first check is declared."""
    return list(dict.fromkeys(s.group for s in specs))
