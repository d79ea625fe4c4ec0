"""BentoML's own command line (``python -m bentoml``), with the model libraries imported when first used.

``python -m bentokit.lazy_bentoml serve service.py:Svc ...`` is ``bentoml serve service.py:Svc ...``
(and ``... build DIR`` is ``bentoml build DIR``) except for two things. In this process, ``import
xgboost`` (and scikit-learn, SciPy, pandas) gives a module that runs its code only when one of its
names is first read (the standard library's ``importlib.util.LazyLoader``). And the supervisor of
``serve`` takes commands on Unix sockets in a folder of its own user, not on TCP ports that any local
user reaches (:func:`bentokit.private.supervisor_control_kept_private`).

``bentoml serve``'s supervisor and ``bentoml build`` import ``service.py`` only to read the service's
configuration; a service that imports XGBoost at its top (as notebook 3 teaches) made them import
XGBoost, scikit-learn, SciPy and pandas for nothing: about a third of a build, and of a server's start
(its CPU and, since the workers start only after the supervisor's import, its wall time). The workers
are processes of their own and import everything as usual; a module-level line that uses a library
loads it there and then, as a plain import would (a library that cannot load fails there, or in the
workers). The bento built is the same file for file. ``LazyLoader`` is not thread-safe before Python
3.12: it is used only in these command lines, which import the service in their main thread.

Written by hand around the standard library's loader: no package defers chosen imports of one process.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import runpy
import sys
from collections.abc import Sequence
from types import ModuleType

from bentokit import private

#: ``python -m`` this instead of ``bentoml``.
MODULE = "bentokit.lazy_bentoml"
#: Top-level packages that take long to import and that a service module needs only in its workers.
LAZY_PACKAGES = frozenset({"xgboost", "sklearn", "scipy", "pandas"})


class LazyFinder(importlib.abc.MetaPathFinder):
    """Finds these top-level packages as the other finders would, and loads them lazily."""

    def __init__(self, names: frozenset[str] = LAZY_PACKAGES) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        sys.meta_path.remove(self)  # the spec the other finders give
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def command(*args: str) -> list[str]:
    """``bentoml ARGS`` as a command line of this interpreter, with the lazy imports."""
    return [sys.executable, "-m", MODULE, *args]


def install() -> LazyFinder:
    """From now on, in this process, the first import of ``LAZY_PACKAGES`` is lazy."""
    finder = LazyFinder()
    sys.meta_path.insert(0, finder)
    return finder


if __name__ == "__main__":
    install()
    if sys.argv[1:2] == ["serve"]:  # circus, which it patches, is no import of a build's (47 ms)
        private.supervisor_control_kept_private()
    runpy.run_module("bentoml", run_name="__main__", alter_sys=True)
